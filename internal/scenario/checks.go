package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The checks: pure functions of a Report. Each quantifies over the stack's
// specification (the allow-list from its outputs, the tenants the driver
// was told to sample), not over what happened to be observed, so a tenant
// that was never answered fails a check instead of passing it vacuously.

// approvedAt is when an approval of version was given, if it was.
func approvedAt(r *Report, version string) (time.Time, bool) {
	for _, e := range r.Events {
		if e.Kind == KindApproval && e.Status == ApprovalApproved && e.Version == version {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// PinnedNeverUnapproved: a pinned tenant is served only the version it had
// when the run began, or a version an approval covered before the answer
// (invariant I1).
func PinnedNeverUnapproved() Check {
	return Check{Name: "pinned-never-unapproved", Judge: func(r *Report) Result {
		if len(r.PinnedTenants) == 0 {
			return Result{Passed: false, Detail: "the stack has no pinned tenants: nothing shows the allow-list holds (pin a tenant for this scenario)"}
		}
		for _, tenant := range r.PinnedTenants {
			answered := 0
			for _, resp := range r.Responses {
				if resp.Tenant != tenant || resp.Version == "" {
					continue
				}
				answered++
				if resp.Version == r.InitialVersion {
					continue
				}
				if at, ok := approvedAt(r, resp.Version); ok && !resp.Time.Before(at) {
					continue
				}
				return Result{Detail: fmt.Sprintf("pinned tenant %s was served %s at %s, which no approval covered then", tenant, resp.Version, stamp(resp.Time))}
			}
			if answered == 0 {
				return Result{Detail: fmt.Sprintf("pinned tenant %s got no answer carrying a version: nothing shows what it was served", tenant)}
			}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d pinned tenants were served only %s or an approved version", len(r.PinnedTenants), orNone(r.InitialVersion))}
	}}
}

// UnpinnedServedDuringCanary: before version's approval was decided (or,
// without a decision, after its push), an unpinned request was served it.
func UnpinnedServedDuringCanary(version string) Check {
	return Check{Name: "unpinned-served-new-during-canary", Judge: func(r *Report) Result {
		pushed, ok := pushedAt(r, version)
		if !ok {
			return Result{Detail: version + " was never pushed"}
		}
		end, decided := decidedAt(r, version)
		seen := map[string]int{}
		for _, resp := range r.Responses {
			if resp.Pinned || resp.Time.Before(pushed) || (decided && !resp.Time.Before(end)) {
				continue
			}
			if resp.Version == version {
				return Result{Passed: true, Detail: fmt.Sprintf("unpinned %s was served %s at %s, before its approval was decided", label(resp.Tenant), version, stamp(resp.Time))}
			}
			seen[answerLabel(resp)]++
		}
		return Result{Detail: fmt.Sprintf("no unpinned request was served %s between its push and its approval; they got %s", version, counts(seen))}
	}}
}

// PinnedStayedOnInitial: between version's push and its approval decision,
// every pinned tenant was answered, and every answer was a 2xx from the
// version the run began with — the pinned tenants were kept on it, and
// kept served (invariant I2, healthy routes).
func PinnedStayedOnInitial(version string) Check {
	return Check{Name: "pinned-stayed-on-the-initial-version-during-the-canary", Judge: func(r *Report) Result {
		pushed, ok := pushedAt(r, version)
		if !ok {
			return Result{Detail: version + " was never pushed"}
		}
		end, decided := decidedAt(r, version)
		if !decided {
			return Result{Detail: "the approval of " + version + " was never decided, so the canary never ended"}
		}
		if len(r.PinnedTenants) == 0 {
			return Result{Detail: "the stack has no pinned tenants"}
		}
		for _, tenant := range r.PinnedTenants {
			got := map[string]int{}
			for _, resp := range r.Responses {
				if resp.Tenant == tenant && !resp.Time.Before(pushed) && resp.Time.Before(end) {
					got[answerLabel(resp)]++
				}
			}
			if len(got) != 1 || got[r.InitialVersion] == 0 || r.InitialVersion == "" {
				return Result{Detail: fmt.Sprintf("pinned tenant %s got %s between the push of %s and its approval, want %s only", tenant, counts(got), version, orNone(r.InitialVersion))}
			}
		}
		return Result{Passed: true, Detail: fmt.Sprintf("%d pinned tenants were served %s only during the canary of %s", len(r.PinnedTenants), r.InitialVersion, version)}
	}}
}

// EndsOn: after the run settled, every target (each pinned tenant, each
// sample tenant, untenanted traffic) was answered, 2xx, by version only.
func EndsOn(version string) Check {
	return Check{Name: "everyone-on-" + version + "-at-end", Judge: func(r *Report) Result { return endsOn(r, version) }}
}

// EndsOnInitial is EndsOn the version the run began with.
func EndsOnInitial() Check {
	return Check{Name: "everyone-on-the-initial-version-at-end", Judge: func(r *Report) Result {
		if r.InitialVersion == "" {
			return Result{Detail: "the run began without one version everywhere, so there is none to end on"}
		}
		return endsOn(r, r.InitialVersion)
	}}
}

func endsOn(r *Report, version string) Result {
	settled, ok := r.settledAt()
	if !ok {
		return Result{Detail: "the rollout never settled (nothing in flight), so there is no end state"}
	}
	targets := append(append(append([]string{}, r.PinnedTenants...), r.SampleTenants...), "")
	got := map[string]map[string]int{}
	for _, resp := range r.Responses {
		if resp.Time.Before(settled) {
			continue
		}
		if got[resp.Tenant] == nil {
			got[resp.Tenant] = map[string]int{}
		}
		got[resp.Tenant][answerLabel(resp)]++
	}
	var wrong []string
	versions := map[string]bool{}
	for _, t := range targets {
		if len(got[t]) == 0 {
			wrong = append(wrong, label(t)+": no answer")
			continue
		}
		for a := range got[t] {
			versions[a] = true
		}
		if len(got[t]) != 1 || got[t][version] == 0 {
			wrong = append(wrong, label(t)+": "+counts(got[t]))
		}
	}
	if len(wrong) > 0 {
		one := "not one version"
		if len(versions) == 1 {
			one = "one answer, but not " + version
		}
		return Result{Detail: fmt.Sprintf("at the end (%s), want everyone on %s: %s", one, version, strings.Join(wrong, "; "))}
	}
	return Result{Passed: true, Detail: fmt.Sprintf("after %s every one of %d targets was served %s only", stamp(settled), len(targets), version)}
}

// alarmActive is CodeDeploy's error code for a deployment stopped by one of
// its group's CloudWatch alarms
// (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ErrorInformation.html).
const alarmActive = "ALARM_ACTIVE"

// StoppedByAlarm: a deployment created after the first push ended Failed or
// Stopped with ALARM_ACTIVE, and the report carries its message.
func StoppedByAlarm() Check {
	return Check{Name: "stopped-by-alarm", Judge: func(r *Report) Result {
		var other []string
		for _, e := range r.Events {
			if e.Kind != KindDeployment || (e.Status != "Failed" && e.Status != "Stopped") {
				continue
			}
			if e.ErrorCode == alarmActive {
				return Result{Passed: true, Detail: fmt.Sprintf("deployment %s (%s) %s at %s: %s", e.DeploymentID, e.Group, e.Status, stamp(e.Time), orNone(e.Message))}
			}
			other = append(other, fmt.Sprintf("%s %s (%s)", e.DeploymentID, e.Status, orNone(e.ErrorCode)))
		}
		if len(other) == 0 {
			return Result{Detail: "no deployment was stopped: the bad version was not caught"}
		}
		return Result{Detail: "deployments ended without an alarm as the reason: " + strings.Join(other, ", ")}
	}}
}

// SupersededApprovalRejected: the approval of version was pending, and was
// then rejected by someone other than the driver (newest push wins).
func SupersededApprovalRejected(version string) Check {
	return Check{Name: "superseded-approval-of-" + version + "-rejected-automatically", Judge: func(r *Report) Result {
		pending := false
		for _, e := range r.Events {
			if e.Kind != KindApproval || e.Version != version {
				continue
			}
			switch {
			case e.Status == ApprovalPending:
				pending = true
			case !pending:
			case e.Status == ApprovalRejected && e.By == ByOther:
				return Result{Passed: true, Detail: fmt.Sprintf("the approval of %s was rejected at %s: %s", version, stamp(e.Time), orNone(e.Summary))}
			default:
				return Result{Detail: fmt.Sprintf("the approval of %s was %s by %s, not rejected automatically", version, e.Status, e.By)}
			}
		}
		if !pending {
			return Result{Detail: "the approval of " + version + " was never seen pending"}
		}
		return Result{Detail: "the approval of " + version + " stayed pending: nothing rejected it"}
	}}
}

func pushedAt(r *Report, version string) (time.Time, bool) {
	for _, p := range r.Pushes {
		if p.Version == version {
			return p.Time, true
		}
	}
	return time.Time{}, false
}

func decidedAt(r *Report, version string) (time.Time, bool) {
	for _, e := range r.Events {
		if e.Kind == KindApproval && e.Version == version && (e.Status == ApprovalApproved || e.Status == ApprovalRejected) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// answerLabel names an answer for a detail: its version, or what went wrong.
func answerLabel(resp Response) string {
	switch {
	case resp.Status == 0:
		return "no answer"
	case resp.Status < 200 || resp.Status > 299:
		return fmt.Sprintf("HTTP %d", resp.Status)
	case resp.Version == "":
		return "no version"
	}
	return resp.Version
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func label(tenant string) string {
	if tenant == "" {
		return "(untenanted)"
	}
	return "tenant " + tenant
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05") }
