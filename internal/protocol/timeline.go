package protocol

import (
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// A Direct's wall clock and what it saw happen when. The explorer's world
// has no wall clock (its time is the order of events); a caller outside it
// — the operator CLI showing "started 25m ago", "next step in 3m" — reads
// timestamps, so a Direct keeps a clock the caller moves (SetNow, Advance)
// and stamps every fact of the world (an execution started, a stage
// entered, a deployment reached a phase, a hook ended) with the clock's
// time when it first saw it. It looks after every event (Do), every call
// it answers (`direct`, faults.go) and every move of the clock, so a fact
// is stamped with the time it happened at. Nothing of this enters the
// world the explorer hashes.
type timeline struct {
	now  time.Time
	seen map[string]time.Time
	// decisions are the summaries of the approvals decided through
	// PutApprovalResult, by pipeline execution id (who decided: Caller).
	decisions map[string]string
	// userStops are deployments StopDeployment stopped; stopAlarms the
	// group's alarms in ALARM when another deployment stopped.
	userStops  map[string]bool
	stopAlarms map[string][]string
	// functions replace the real handler of a function a caller invokes
	// through Lambda Invoke (RunFunction).
	functions map[contract.Hook]Function
}

// directEpoch is where a Direct's clock starts: when the stack was
// created, as far as its answers tell (an alarm's state is as old as
// this when nothing changed it since). Callers move the clock on from here.
var directEpoch = time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)

func newTimeline() timeline {
	return timeline{now: directEpoch, seen: map[string]time.Time{},
		decisions: map[string]string{}, userStops: map[string]bool{}, stopAlarms: map[string][]string{},
		functions: map[contract.Hook]Function{}}
}

// clone copies the timeline: the same clock and facts, the same functions.
func (tl timeline) clone() timeline {
	c := tl
	c.seen, c.decisions, c.userStops = maps.Clone(tl.seen), maps.Clone(tl.decisions), maps.Clone(tl.userStops)
	c.stopAlarms, c.functions = maps.Clone(tl.stopAlarms), maps.Clone(tl.functions)
	return c
}

// at is when the Direct first saw fact key (nil: never, or not a Direct).
func (w *World) at(key string) *time.Time {
	if w.direct == nil {
		return nil
	}
	if t, ok := w.direct.tl.seen[key]; ok {
		return &t
	}
	return nil
}

// wallClock is the Direct's time (nil: not a Direct).
func (w *World) wallClock() *time.Time {
	if w.direct == nil {
		return nil
	}
	t := w.direct.tl.now
	return &t
}

// observe stamps every fact of the world not seen before with the
// clock's time. Called with the Direct's lock held.
func (d *Direct) observe() {
	w, tl := d.w, &d.tl
	mark := func(parts ...string) {
		k := strings.Join(parts, " ")
		if _, ok := tl.seen[k]; !ok {
			tl.seen[k] = tl.now
		}
	}
	for _, e := range w.Executions {
		mark("exec", e.ID)
		mark("exec", e.ID, e.Status)
		for _, s := range pipelineStages {
			if status := stageStatusOf(e, s); status != "" {
				mark("stage", s, e.ID)
				mark("stage", s, e.ID, status)
			}
		}
		if e.Token != "" {
			mark("approval", e.ID)
		}
	}
	for _, dep := range w.Deployments {
		mark("dep", dep.ID)
		mark("dep", dep.ID, dep.Status)
		mark("dep", dep.ID, "phase", dep.Phase)
		for _, l := range dep.Hooks {
			mark("dep", dep.ID, l.Name, l.Status)
		}
		if dep.Status == DepStopped && !tl.userStops[dep.ID] && tl.stopAlarms[dep.ID] == nil {
			tl.stopAlarms[dep.ID] = w.firing(dep.Group)
		}
	}
	for _, a := range w.metricAlarms() {
		mark("alarm", aws.ToString(a.AlarmName), string(a.StateValue))
	}
}
