package protocol

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/declared"
)

// A rehearsal (internal/rehearsal) serves this model to real processes: the
// hooks over the wire, a local load balancer that routes by the model's
// listener rules, and the sample app's tasks. What the model decides by
// itself in the explorer — a task set passing its health checks, the
// traffic of a minute — the rehearsal observes instead, through the seams
// below: health from the load balancer's checks of the real tasks
// (SetHealth), each target group's minute from what the load balancer
// measured (Signal.Observed), and a minute passing when the rehearsal's
// clock says so (PassMinute).

// NewRehearsal starts a world of the declared stack whose tasks are run
// and observed outside the model: new task sets start unhealthy and pass
// their health checks by SetHealth, and time passes by PassMinute under
// sig (its Observed set: the alarms read what the data plane measured).
// Pushes are unbounded; every other disturbance of the explorer (faults,
// free alarms, duplicates, edits) is off.
// Its wall clock (timeline.go) starts at now, so the facts of the
// starting state are stamped with the rehearsal's time.
func NewRehearsal(stack *declared.Stack, sig *Signal, now time.Time) *Direct {
	d := NewDirectFromStack(stack, Scenario{Name: "rehearsal", Pushes: math.MaxInt32, Signal: sig})
	d.healthByEvent = true // and the event is SetHealth's
	d.tl.now = now
	clear(d.tl.seen) // NewDirect saw the starting state at its own epoch
	d.observe()
	d.imageTags = map[int]string{}
	return d
}

// TagImage names pushed version v's image by tag, as the image was pushed
// (ECR DescribeImages answers it in place of the model's v<v>).
func (d *Direct) TagImage(v int, tag string) {
	defer d.lock()()
	d.imageTags[v] = tag
}

// Enabled is one event the model could take now, as Explore's traces name
// it; External is a person's decision or a disturbance, not something AWS
// does by itself; Waiting is a hook polling past its deadline's polls.
type Enabled struct {
	Label             string
	External, Waiting bool
}

// Enabled lists the events enabled now, in the model's order.
func (d *Direct) Enabled() []Enabled {
	defer d.lock()()
	var out []Enabled
	for _, a := range d.w.actions(d.s) {
		out = append(out, Enabled{Label: a.Label, External: a.External, Waiting: a.Waiting})
	}
	return out
}

// PassMinute ends the model's current minute: the signal path's "a minute
// passes", taken when the rehearsal's clock has left that minute (so the
// data plane's sample of it is complete) whether or not a deployment waits
// for it — CloudWatch evaluates alarms every period either way. The
// invariants are checked after it.
func (d *Direct) PassMinute() error {
	defer d.lock()()
	if d.w.signal == nil {
		return fmt.Errorf("protocol: PassMinute needs a world with a Signal")
	}
	d.w.logf("a minute passes (minute %d)", d.w.clock)
	d.w.passMinute()
	return d.w.violation()
}

// Minute is the model's clock: the minutes passed.
func (d *Direct) Minute() int {
	defer d.lock()()
	return d.w.clock
}

// TaskSetView is one ECS task set as the model holds it.
type TaskSetView struct {
	Service, ID, TargetGroup string
	// Version is the pushed version its task definition runs (0: the
	// image the stack started with).
	Version int
	Running int
	Healthy bool
}

// TaskSets lists every task set of both services.
func (d *Direct) TaskSets() []TaskSetView {
	defer d.lock()()
	var out []TaskSetView
	for _, name := range []string{d.w.st.latestService, d.w.st.stableService} {
		for _, ts := range d.w.Services[name].TaskSets {
			out = append(out, TaskSetView{Service: name, ID: ts.ID, TargetGroup: ts.TG, Version: d.w.TaskDefs[ts.TaskDef],
				Running: ts.Running, Healthy: ts.Healthy})
		}
	}
	return out
}

// SetHealth sets whether each running task set's tasks have passed their
// target group's health checks, as healthy says (service, task set id,
// running count): what the load balancer's checks of the real tasks found.
func (d *Direct) SetHealth(healthy func(service, id string, running int) bool) {
	defer d.lock()()
	for _, name := range []string{d.w.st.latestService, d.w.st.stableService} {
		for _, ts := range d.w.Services[name].TaskSets {
			h := ts.Running > 0 && healthy(name, ts.ID, ts.Running)
			if h != ts.Healthy {
				ts.Healthy = h
				state := "unhealthy"
				if h {
					state = "healthy"
				}
				d.w.logf("%s's task set %s turns %s (the load balancer's health checks)", name, ts.ID, state)
			}
		}
	}
}

// ListenerRules are the production listener's rules as DescribeRules
// answers them, the default rule last, with each rule's conditions as the
// program declares them (the model holds priorities and actions; the
// conditions never change): what a load balancer routes by.
func (d *Direct) ListenerRules() []elbtypes.Rule {
	defer d.lock()()
	conds := map[string][]elbtypes.RuleCondition{}
	for _, r := range d.w.st.decl.Production().Rules { // a stack without one does not load
		conds[aws.ToString(r.Rule.RuleArn)] = r.Rule.Conditions
	}
	var out []elbtypes.Rule
	for _, r := range inOrder(d.w.Rules) {
		sr := r.sdk()
		sr.Conditions = conds[r.ARN]
		out = append(out, sr)
	}
	return out
}

// MarkBad records that pushed version v is bad (fault describes how), for
// I6: a bad version never serves a pinned tenant, never completes a stage
// and never takes all unpinned traffic.
func (d *Direct) MarkBad(v int, fault string) {
	defer d.lock()()
	if d.w.signal == nil {
		return
	}
	if d.w.signal.Bad == nil {
		d.w.signal.Bad = map[int]string{}
	}
	d.w.signal.Bad[v] = fault
}

// NextVersion is the version the next push is.
func (d *Direct) NextVersion() int {
	defer d.lock()()
	return len(d.w.Executions) + 1
}

// Trace returns the model's trace from entry from on, and where it ends.
func (d *Direct) Trace(from int) ([]string, int) {
	defer d.lock()()
	from = min(max(from, 0), len(d.w.log))
	return slices.Clone(d.w.log[from:]), len(d.w.log)
}

// AtRest: no rollout in flight, everyone on one version (I3's target).
func (d *Direct) AtRest() bool {
	defer d.lock()()
	return d.w.atRest()
}

// Describe is a one-line summary of the model's state for a log: what is
// in flight, as I3 names it when it finds a rollout stuck, or "at rest".
func (d *Direct) Describe() string {
	defer d.lock()()
	if s := d.w.inFlight(); s != "" {
		return s
	}
	return "at rest"
}
