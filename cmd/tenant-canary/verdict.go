package main

import (
	"fmt"
	"strings"
	"time"
)

// Verdict is the rollout's state in one line, and what to type next.
type Verdict struct {
	// State is one of the verdict* constants.
	State string `json:"state"`
	// Reason says what is happening and why, in one line.
	Reason string `json:"reason"`
	// Next is the command to type next; "" when there is nothing to do.
	Next string `json:"next"`
}

// The states of a Verdict.
const (
	verdictProgressing = "progressing"          // a deployment or a pipeline execution is moving
	verdictApproval    = "waiting-for-approval" // stage 1 done; the pinned tenants wait for a person
	verdictHeld        = "held"                 // nothing moves, yet tenants are split across two versions
	verdictRolledBack  = "rolled-back"          // the last rollout was stopped (alarm, failure) or rejected; everyone on one version
	verdictFailed      = "failed"               // the last execution failed before any deployment rolled back
	verdictHealthy     = "healthy"              // one version everywhere, nothing in flight
)

const (
	nextWatch    = "tenant-canary status --watch"
	nextApprove  = `tenant-canary approve --summary "…"   or: tenant-canary reject --summary "…"`
	nextRollback = "tenant-canary rollback   (everyone back on the version stable serves)"
	nextHistory  = "tenant-canary history"
)

// verdictOf reads the verdict off a status; it is a pure function of it.
func verdictOf(st *Status) Verdict {
	latest, stable := st.service("latest"), st.service("stable")
	ex := st.Pipeline.Execution

	// 1. A deployment in progress: the rollout (or a rollback) is moving.
	for _, d := range st.Deployments {
		if !d.InProgress {
			continue
		}
		what := map[string]string{
			"shifting":         fmt.Sprintf("shifting traffic, %s on the replacement", pct(d.TrafficPercent)),
			"after-traffic":    fmt.Sprintf("%s on the replacement, AfterAllowTraffic hook running", pct(d.TrafficPercent)),
			"termination-wait": fmt.Sprintf("traffic shifted, original task set kept %s more", dur(time.Duration(d.TerminationWaitLeftSeconds)*time.Second)),
		}[d.Phase]
		if what == "" {
			what = "installing the replacement task set"
		}
		if d.Phase == "shifting" && d.NextStepAt != nil {
			what += fmt.Sprintf(", next step in %s", dur(time.Duration(d.NextStepInSeconds)*time.Second))
		}
		who := "everyone but the pinned tenants"
		if d.Group == "stable" {
			who = "the pinned tenants"
		}
		return Verdict{verdictProgressing, fmt.Sprintf("deployment %s moving %s to %s: %s", d.ID, who, imageName(activeImage(st, d.Group)), what),
			nextWatch + "   (to stop it: tenant-canary rollback)"}
	}

	// 2. An approval waits.
	if a := st.Approval; a != nil && a.State == "pending" {
		reason := fmt.Sprintf("%s on everyone but the %s for %s", imageName(latest.image()), tenantsText(st.Routing.PinnedTenants), dur(time.Duration(a.AgeSeconds)*time.Second))
		if a.Expires != nil {
			reason += fmt.Sprintf("; the approval expires in %s", dur(a.Expires.Sub(st.Time)))
		}
		return Verdict{verdictApproval, reason, nextApprove}
	}

	// 3. An execution in flight between deployments (Source, a transition).
	if ex != nil && ex.InFlight {
		return Verdict{verdictProgressing, fmt.Sprintf("execution %s at stage %s", ex.ID, ex.Stage), nextWatch}
	}

	// 4. Nothing moves. Tenants still pinned: a split nobody is moving.
	rejected := st.Approval != nil && st.Approval.State == "rejected" && ex != nil && ex.Stage == "Approve"
	if st.Routing.Pinned {
		why := "nothing in flight, yet the catch-all rule is below the tenant rules"
		if ex != nil {
			why += fmt.Sprintf(" (last execution %s %s at %s)", ex.ID, ex.Status, ex.Stage)
		}
		if rejected {
			why = "approval " + decisionText(st.Approval) + "; approval.onReject is hold"
		}
		return Verdict{verdictHeld, fmt.Sprintf("the %s stay on %s, everyone else on %s: %s", tenantsText(st.Routing.PinnedTenants),
			imageName(stable.image()), imageName(latest.image()), why), nextRollback + ", or push a fixed image"}
	}

	// 5. The last rollout ended badly.
	if ex != nil && ex.Status != "Succeeded" {
		// The stage's deployment group is named after it (Latest → latest).
		if d := st.deployment(strings.ToLower(ex.Stage)).Last; d != nil && (d.Status == "Stopped" || d.Status == "Failed") {
			return Verdict{verdictRolledBack, fmt.Sprintf("deployment %s %s: %s; everyone on %s", d.ID, strings.ToLower(d.Status), d.why(), imageName(latest.image())), nextHistory}
		}
		if rejected {
			return Verdict{verdictRolledBack, fmt.Sprintf("approval %s; everyone back on %s", decisionText(st.Approval), imageName(latest.image())), nextHistory}
		}
		return Verdict{verdictFailed, fmt.Sprintf("execution %s %s at stage %s", ex.ID, ex.Status, ex.Stage), nextHistory}
	}

	// 6. One version everywhere.
	reason := "everyone on " + imageName(latest.image())
	if ex != nil {
		reason += fmt.Sprintf("; last rollout %s succeeded %s ago", ex.ID, ago(st.Time, ex.Started))
	}
	for _, a := range st.Alarms {
		if a.State == "ALARM" {
			reason += "; alarm " + a.Name + " is in ALARM"
			break
		}
	}
	return Verdict{verdictHealthy, reason, ""}
}

func (st *Status) service(role string) *ServiceStatus {
	for i := range st.Services {
		if st.Services[i].Role == role {
			return &st.Services[i]
		}
	}
	return &ServiceStatus{}
}

func (st *Status) deployment(group string) *DeploymentStatus {
	for i := range st.Deployments {
		if st.Deployments[i].Group == group {
			return &st.Deployments[i]
		}
	}
	return &DeploymentStatus{}
}

func (s *ServiceStatus) image() *Image { return s.Image }

// activeImage is what a deployment moves to: the replacement task set,
// which is ACTIVE until traffic shifts and PRIMARY after.
func activeImage(st *Status, role string) *Image {
	s := st.service(role)
	d := st.deployment(role)
	if s.Active != nil && d.Phase != "termination-wait" {
		return s.Active
	}
	return s.Image
}

// imageName is an image's first tag, else its short digest.
func imageName(img *Image) string {
	switch {
	case img == nil:
		return "(no image)"
	case len(img.Tags) > 0:
		return img.Tags[0]
	case img.Digest != "":
		return short(img.Digest)
	}
	return img.URI
}

func tenantsText(tenants []string) string {
	if len(tenants) == 1 {
		return "pinned tenant " + tenants[0]
	}
	return fmt.Sprintf("%d pinned tenants", len(tenants))
}

// decisionText: `rejected by release-manager/console 10m0s ago: "why"`.
func decisionText(a *ApprovalStatus) string {
	text := a.State
	if a.By != "" {
		text += " by " + who(a.By)
	}
	text += fmt.Sprintf(" %s ago", dur(time.Duration(a.AgeSeconds)*time.Second))
	if a.Summary != "" {
		text += fmt.Sprintf(": %q", a.Summary)
	}
	return text
}

// who shortens an IAM or STS ARN to its resource part
// (assumed-role/oncall/session); anything else is shown as it is.
func who(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		return parts[5]
	}
	return arn
}
