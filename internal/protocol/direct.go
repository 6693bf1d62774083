package protocol

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// API is every AWS operation the functions use: what the model answers.
type API interface {
	rollout.ECS
	rollout.ELB
	rollout.CodeDeploy
	rollout.CodePipeline
}

// Direct is the same model outside the explorer, for clients that are not
// goroutines of it: the real aws-sdk-go-v2 clients over internal/fakeaws's
// wire protocols, and the real `bootstrap` under the Lambda emulator. Calls
// run at once under one lock; when the model would invoke a function
// (CodeDeploy running a hook, EventBridge delivering an event), the
// invocation is queued for the test to run, with its payload.
type Direct struct {
	mu    sync.Mutex
	s     Scenario
	w     *World
	queue []Invoke
	// faults injected and calls recorded (faults.go).
	faults faults
	// tl is the wall clock and when each fact happened (timeline.go).
	tl timeline
	// healthByEvent: tasks turn healthy only by the model's event, as in
	// the explorer (HealthByEvent).
	healthByEvent bool
}

// Invoke is a function the model invoked: run Hook with Payload (a
// rollout.LifecycleEvent, an events.CodeDeployEvent or a
// rollout.RollbackRequest).
type Invoke struct {
	Hook    contract.Hook
	Payload any
}

// NewDirect starts the scenario's world.
func NewDirect(s Scenario) *Direct {
	d := &Direct{s: s, w: newWorld(s)}
	d.w.direct = d
	d.tl = newTimeline(d.w.st)
	d.observe()
	return d
}

// Clone is an independent copy of the world as it is now, with no fault
// queued and nothing recorded: a benchmark's fresh start from a state
// that took many events to reach.
func (d *Direct) Clone() *Direct {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := &Direct{s: d.s, w: d.w.clone(), healthByEvent: d.healthByEvent, tl: d.tl.clone()}
	c.w.direct = c
	return c
}

// NewDirectFromStack starts a world of the declared stack (what `go run .
// declare` writes; LoadStack reads it) with the budgets of s (its Stack is
// replaced): its rules, services, desired counts and each function's
// environment are the stack's.
func NewDirectFromStack(stack *declared.Stack, s Scenario) *Direct {
	s.Stack = stack
	return NewDirect(s)
}

// HealthByEvent makes new tasks start unhealthy, as they do in the
// explorer, until the event "<service>'s task set <id> turns healthy"
// (Do("turns healthy")); by default a Direct's new tasks pass their health
// checks at once, since no event but the caller's could make them.
func (d *Direct) HealthByEvent() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.healthByEvent = true
}

// Versions are the versions requests of tenant ("" for a request of no
// pinned tenant) are served: those of the running task sets in each
// target group the routing rule forwards a positive weight to.
func (d *Direct) Versions(tenant string) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for _, g := range d.w.served(d.w.route(tenant)) {
		out = append(out, g.versions...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// API answers the functions' calls.
func (d *Direct) API() API { return &client{w: d.w, direct: d} }

// Env is function hook's environment for this world: as the program
// declares it, but for RELEASE_DELAY_SECONDS (0: see modelledReleaseDelay).
func (d *Direct) Env(hook contract.Hook) map[string]string { return maps.Clone(d.w.st.env[hook]) }

// Do takes the first enabled event whose label contains what (as
// Explore's traces name them) and checks the invariants after it.
func (d *Direct) Do(what string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.w.actions(d.s) {
		if strings.Contains(a.Label, what) {
			d.w.log = append(d.w.log, a.Label)
			a.Do()
			d.observe()
			if v := d.w.check(); v != nil {
				return v
			}
			return nil
		}
	}
	return fmt.Errorf("no enabled event matches %q; enabled: %s", what, strings.Join(d.labels(), "; "))
}

// Check evaluates the invariants now (after a function ran, say).
func (d *Direct) Check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v := d.w.check(); v != nil {
		return v
	}
	return nil
}

func (d *Direct) labels() []string {
	var out []string
	for _, a := range d.w.actions(d.s) {
		out = append(out, a.Label)
	}
	return out
}

// Invocations returns the functions invoked since the last call.
func (d *Direct) Invocations() []Invoke {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queue
	d.queue = nil
	return q
}

// Inspect runs fn on the world under the lock (for assertions).
func (d *Direct) Inspect(fn func(w *World)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.w)
}
