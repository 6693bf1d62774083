package main

import (
	"fmt"
	"strings"
	"time"
)

// render is the status screen.
func render(st *Status) string {
	var b strings.Builder
	line := func(label, format string, a ...any) {
		fmt.Fprintf(&b, "%-15s%s\n", label, fmt.Sprintf(format, a...))
	}
	fmt.Fprintf(&b, "tenant-canary %s at %s\n\n", stackLabel(st.Stack, st.Source), st.Time.Format("2006-01-02 15:04:05 MST"))

	// The verdict: the state in one line, and what to type next.
	v := st.Verdict
	line("status", "%s: %s", strings.ToUpper(strings.ReplaceAll(v.State, "-", " ")), v.Reason)
	if v.Next != "" {
		line("next", "%s", v.Next)
	} else {
		line("next", "nothing to do")
	}
	b.WriteString("\n")

	// Pipeline.
	p := st.Pipeline
	switch ex := p.Execution; {
	case ex == nil:
		line("pipeline", "%s: no execution yet", p.Name)
	case ex.InFlight:
		line("pipeline", "%s: execution %s in progress at %s, started %s ago", p.Name, ex.ID, ex.Stage, ago(st.Time, ex.Started))
	default:
		line("pipeline", "%s: nothing in flight; last execution %s %s at %s, started %s ago", p.Name, ex.ID, ex.Status, ex.Stage, ago(st.Time, ex.Started))
	}
	var stages []string
	for _, s := range p.Stages {
		stages = append(stages, fmt.Sprintf("%s %s", s.Name, stageMark(s, p.Execution)))
	}
	line("", "%s", strings.Join(stages, "  "))
	if ex := p.Execution; ex != nil && ex.Revision != "" {
		line("", "revision %s", short(ex.Revision))
	}

	// Approval.
	switch a := st.Approval; {
	case a == nil:
		line("approval", "none")
	case a.State == "pending":
		line("approval", "PENDING for %s, expires in %s (at %s); run: tenant-canary approve | reject", dur(time.Duration(a.AgeSeconds)*time.Second),
			dur(a.Expires.Sub(st.Time)), a.Expires.Format("2006-01-02 15:04 MST"))
	default:
		summary := ""
		if a.Summary != "" {
			summary = fmt.Sprintf(": %q", a.Summary)
		}
		by := ""
		if a.By != "" {
			by = " by " + who(a.By)
		}
		line("approval", "none pending; last %s%s %s ago%s", a.State, by, dur(time.Duration(a.AgeSeconds)*time.Second), summary)
	}
	b.WriteString("\n")

	// Deployments.
	for _, d := range st.Deployments {
		label := "deploy " + d.Group
		if !d.InProgress {
			if l := d.Last; l != nil && l.Status != "Succeeded" {
				line(label, "none in progress; last %s %s %s ago: %s", l.ID, strings.ToLower(l.Status), ago(st.Time, l.Created), l.why())
			} else {
				line(label, "none in progress")
			}
			continue
		}
		var what string
		switch d.Phase {
		case "shifting":
			what = fmt.Sprintf("shifting traffic: %s on the replacement", pct(d.TrafficPercent))
			if d.NextStepAt != nil {
				what += fmt.Sprintf(", next step in %s", dur(time.Duration(d.NextStepInSeconds)*time.Second))
			}
		case "termination-wait":
			what = fmt.Sprintf("%s on the replacement; original task set kept for %s more", pct(d.TrafficPercent), dur(time.Duration(d.TerminationWaitLeftSeconds)*time.Second))
		case "after-traffic":
			what = fmt.Sprintf("%s on the replacement; AfterAllowTraffic hook running", pct(d.TrafficPercent))
		default:
			what = "installing the replacement task set"
			if d.LifecycleEvent != "" {
				what += " (" + d.LifecycleEvent + ")"
			}
		}
		line(label, "%s %s, %s", d.ID, d.Config, what)
	}
	b.WriteString("\n")

	// Services.
	for _, s := range st.Services {
		text := fmt.Sprintf("%-7s %s  tasks %d/%d running, %d healthy", s.Name, imageText(s.Image), s.Running, s.Desired, s.Healthy)
		if s.Active != nil {
			text += fmt.Sprintf("  + ACTIVE task set %s, %d healthy", imageText(s.Active), s.ActiveHealthy)
		}
		line("service", "%s", text)
	}

	// Routing.
	r := st.Routing
	tenants := "none"
	if len(r.PinnedTenants) > 0 {
		tenants = strings.Join(r.PinnedTenants, ", ")
	}
	rules := "no tenant rules"
	if n := len(r.TenantRulePriorities); n > 0 {
		rules = "tenant rules at " + r.TenantRulePriorities[0]
		if n > 1 {
			rules += "-" + r.TenantRulePriorities[n-1]
		}
	}
	if r.Pinned {
		line("tenants", "PINNED to stable: %s (catch-all at %s, below %s)", tenants, r.CatchAllPriority, rules)
	} else {
		line("tenants", "not pinned, everyone on latest (catch-all at %s, above %s); allow-list: %s", r.CatchAllPriority, rules, tenants)
	}
	b.WriteString("\n")

	// Alarms.
	if len(st.Alarms) == 0 {
		line("alarms", "none configured")
	}
	for i, a := range st.Alarms {
		label := ""
		if i == 0 {
			label = "alarms"
		}
		since := ""
		if a.Since != nil {
			since = fmt.Sprintf(" for %s", dur(st.Time.Sub(*a.Since)))
		}
		line(label, "%-17s %-7s %s%s", a.State, a.Group, a.Name, since)
	}
	return b.String()
}

func stageMark(s StageStatus, ex *ExecutionStatus) string {
	if ex != nil && s.ExecutionID != ex.ID {
		return "-" // an earlier execution's
	}
	switch s.Status {
	case "Succeeded":
		return "ok"
	case "InProgress":
		return "RUNNING"
	case "":
		return "-"
	}
	return strings.ToUpper(s.Status)
}

func imageText(img *Image) string {
	if img == nil {
		return "(no image)"
	}
	tags := "untagged"
	if len(img.Tags) > 0 {
		tags = strings.Join(img.Tags, ",")
	}
	if img.Digest != "" {
		return fmt.Sprintf("%s (%s)", tags, short(img.Digest))
	}
	return tags
}

// short is a digest's first 12 hex digits.
func short(digest string) string {
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= 12 {
		return digest
	}
	return algo + ":" + hex[:12]
}

func pct(f float64) string {
	if f == float64(int(f)) {
		return fmt.Sprintf("%d%%", int(f))
	}
	return fmt.Sprintf("%.1f%%", f)
}

func ago(now time.Time, t *time.Time) string {
	if t == nil {
		return "?"
	}
	return dur(now.Sub(*t))
}

// dur is a duration in its two largest units: 6d23h, 1h40m, 3m0s, 45s.
func dur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// stackLabel names the stack a screen is about: its name, "(selected
// stack)", or where its outputs came from.
func stackLabel(stack, source string) string {
	switch {
	case stack != "":
		return stack
	case source == "" || source == "the selected stack":
		return "(selected stack)"
	}
	return "(" + source + ")"
}
