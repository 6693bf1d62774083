package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
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
	// imageTags are the tags pushed versions were given (TagImage).
	imageTags map[int]string
	// faults injected and calls recorded (faults.go, direct_faults.go).
	faults faults
	// tl is the wall clock and when each fact happened (timeline.go).
	tl timeline
	// healthByEvent: tasks turn healthy only by the model's event, as in
	// the explorer (HealthByEvent).
	healthByEvent bool
}

// lock takes the Direct's lock and answers how to release it: every method
// that reads or changes the world starts with defer d.lock()().
func (d *Direct) lock() (unlock func()) {
	d.mu.Lock()
	return d.mu.Unlock
}

// Invoke is a function the model invoked: run Hook with Payload (a
// rollout.LifecycleEvent, an events.CodeDeployEvent or a
// rollout.RollbackRequest).
type Invoke struct {
	Hook    contract.Hook
	Payload any
}

// NewDirectFromStack starts a world of the declared stack (what `go run .
// declare` writes; LoadStack reads it) with the budgets of s (its Stack is
// replaced): its rules, services, desired counts and each function's
// environment are the stack's.
func NewDirectFromStack(stack *declared.Stack, s Scenario) *Direct {
	s.Stack = stack
	d := &Direct{s: s, w: newWorld(s), tl: newTimeline()}
	d.w.direct = d
	d.observe()
	return d
}

// Clone is an independent copy of the world as it is now, with no fault
// queued and nothing recorded: a benchmark's fresh start from a state
// that took many events to reach.
func (d *Direct) Clone() *Direct {
	defer d.lock()()
	c := &Direct{s: d.s, w: d.w.clone(), healthByEvent: d.healthByEvent, tl: d.tl.clone()}
	c.w.direct = c
	return c
}

// HealthByEvent makes new tasks start unhealthy, as they do in the
// explorer, until the event "<service>'s task set <id> turns healthy"
// (Do("turns healthy")); by default a Direct's new tasks pass their health
// checks at once, since no event but the caller's could make them.
func (d *Direct) HealthByEvent() {
	defer d.lock()()
	d.healthByEvent = true
}

// Versions are the versions requests of tenant ("" for a request of no
// pinned tenant) are served: those of the running task sets in each
// target group the routing rule forwards a positive weight to.
func (d *Direct) Versions(tenant string) []int {
	defer d.lock()()
	return d.w.versions(tenant)
}

// versions are the versions requests of tenant are served, in order.
func (w *World) versions(tenant string) []int {
	var out []int
	for _, g := range w.served(w.route(tenant)) {
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
	defer d.lock()()
	var labels []string
	for _, a := range d.w.actions(d.s) {
		if strings.Contains(a.Label, what) {
			d.w.log = append(d.w.log, a.Label)
			a.Do()
			d.observe()
			return d.w.violation()
		}
		labels = append(labels, a.Label)
	}
	return fmt.Errorf("no enabled event matches %q; enabled: %s", what, strings.Join(labels, "; "))
}

// Check evaluates the invariants now (after a function ran, say).
func (d *Direct) Check() error {
	defer d.lock()()
	return d.w.violation()
}

// violation is the first invariant the world violates, as an error (nil:
// none).
func (w *World) violation() error {
	if v := w.check(); v != nil {
		return v
	}
	return nil
}

// Invocations returns the functions invoked since the last call.
func (d *Direct) Invocations() []Invoke {
	defer d.lock()()
	q := d.queue
	d.queue = nil
	return q
}

// Inspect runs fn on the world under the lock (for assertions).
func (d *Direct) Inspect(fn func(w *World)) {
	defer d.lock()()
	fn(d.w)
}

// --- Running a Direct: its clock, the functions it runs, scripted steps ---

// Function is a function's code as Lambda Invoke runs it: the payload in,
// the function's answer or its error out.
type Function func(ctx context.Context, payload any) (any, error)

// Now is the Direct's clock.
func (d *Direct) Now() time.Time {
	defer d.lock()()
	return d.tl.now
}

// Advance moves the clock on by dur; what happened before happened at the
// old time.
func (d *Direct) Advance(dur time.Duration) {
	d.moveClock(func(now time.Time) time.Time { return now.Add(dur) })
}

// SetNow moves the clock to t (not before the clock's time).
func (d *Direct) SetNow(t time.Time) {
	d.moveClock(func(time.Time) time.Time { return t })
}

// moveClock moves the clock to to(its time), stamping what happened until
// then with the old time; the clock does not go back.
func (d *Direct) moveClock(to func(now time.Time) time.Time) {
	defer d.lock()()
	t := to(d.tl.now)
	if t.Before(d.tl.now) {
		panic(fmt.Sprintf("protocol: the clock does not go back from %s to %s", d.tl.now, t))
	}
	d.observe()
	d.tl.now = t
}

// Caller is the identity the Direct's callers act as (PutApprovalResult's
// lastUpdatedBy): a role of the stack's account.
func (d *Direct) Caller() string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/release-manager/console", d.w.st.account)
}

// Image is the image reference a task definition of version runs: the
// declared repository's, by digest (stack.image).
func (d *Direct) Image(version int) string { return d.w.st.image(version) }

// RunFunction replaces the code Lambda Invoke runs for hook (nil: the
// real handler again), e.g. a function that fails or answers busy.
func (d *Direct) RunFunction(hook contract.Hook, fn Function) {
	defer d.lock()()
	d.tl.functions[hook] = fn
}

// Operator is every AWS operation the operator CLI (cmd/tenant-canary)
// and the scenario driver call, with the SDK clients' signatures
// (internal/fakeaws's interfaces): the model answers all of them.
type Operator interface {
	fakeaws.ECSReader
	fakeaws.ELBReader
	fakeaws.CodeDeployAPI
	fakeaws.CodePipelineAPI
	fakeaws.CloudWatchAPI
	fakeaws.LambdaAPI
	fakeaws.ECRReader
}

// Operator answers the operator's calls in process.
func (d *Direct) Operator() Operator { return &client{w: d.w, direct: d} }

// Handler serves the model over AWS's wire protocols (fakeaws's stateless
// server): every operation of API and Operator, to the real SDK clients.
func (d *Direct) Handler() http.Handler { return fakeaws.NewServer(&client{w: d.w, direct: d}, nil) }

// Run runs one invocation the model queued with the real handler of its
// function, in process, configured as its main configures it from the
// function's declared environment (the stack's rollout.ConfigFromEnv):
// the rollback function's answer, or nil.
func (d *Direct) Run(ctx context.Context, inv Invoke) (any, error) {
	d.mu.Lock()
	fn := d.tl.functions[inv.Hook]
	d.mu.Unlock()
	if fn != nil {
		return fn(ctx, inv.Payload)
	}
	api := d.API()
	return runHook(ctx, &rollout.Hooks{Config: d.w.st.configs[inv.Hook], ECS: api, ELB: api, CodeDeploy: api, CodePipeline: api,
		PollInterval: time.Millisecond, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, inv.Hook, inv.Payload)
}

// runHook runs function hook's handler in h on payload, as Lambda invokes
// it (a Direct's Run, the explorer's launch): the rollback function's
// answer, or nil.
func runHook(ctx context.Context, h *rollout.Hooks, hook contract.Hook, payload any) (any, error) {
	switch p := payload.(type) {
	case rollout.LifecycleEvent:
		switch hook {
		case contract.HookPin:
			return nil, h.Pin(ctx, p)
		case contract.HookUnpin:
			return nil, h.Unpin(ctx, p)
		}
	case events.CodeDeployEvent:
		return nil, h.Cleanup(ctx, p)
	case rollout.PipelineExecutionEvent:
		return nil, h.CleanupPipelineExecution(ctx, p)
	case rollout.RollbackRequest:
		return h.Rollback(ctx, p)
	}
	return nil, fmt.Errorf("protocol: %s invoked with %T", hook, payload)
}

// RunQueued runs every invocation the model queued (and those they queue)
// with the real handlers, checking the invariants after each; it returns
// the functions' errors and the first violation.
func (d *Direct) RunQueued(ctx context.Context) error {
	var errs []error
	for {
		q := d.Invocations()
		if len(q) == 0 {
			return errors.Join(errs...)
		}
		for _, inv := range q {
			if _, err := d.Run(ctx, inv); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", inv.Hook, err))
			}
			if err := d.Check(); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
	}
}

// Steps takes each event (Do: the first enabled one whose label contains
// it) and runs what the model invoked meanwhile (RunQueued): a scripted
// rollout.
func (d *Direct) Steps(ctx context.Context, events ...string) error {
	for _, e := range events {
		if err := d.Do(e); err != nil {
			return err
		}
		if err := d.RunQueued(ctx); err != nil {
			return fmt.Errorf("after %s: %w", e, err)
		}
	}
	return nil
}

// Next takes the first enabled event that happens by itself — a step of
// CodeDeploy or of the pipeline, an EventBridge delivery — and none a
// person or a scenario's disturbance decides (a push, an approval, an
// alarm, a fault), and runs what it invoked. It answers the event's label,
// or false when nothing happens by itself.
func (d *Direct) Next(ctx context.Context) (string, bool, error) {
	for _, a := range d.Enabled() {
		if !a.External && !a.Waiting {
			return a.Label, true, d.Steps(ctx, a.Label)
		}
	}
	return "", false, nil
}

// DeliverAll lets EventBridge deliver every event waiting, running the
// functions they invoke, and stops at the first invariant a delivery or
// a function breaks.
func (d *Direct) DeliverAll(ctx context.Context) error {
	for {
		var v *Violation
		if err := d.Do("deliver"); errors.As(err, &v) {
			return err
		} else if err != nil {
			return nil // nothing left to deliver
		}
		if err := d.RunQueued(ctx); err != nil {
			return err
		}
	}
}

// --- What a test outside the package reads off a world (through
// Direct.Inspect) to assert outcomes rather than the calls that got there,
// and the smoke hook's test listeners served outside the explorer ---

// Tenants is the allow-list as the listener's tenant rules hold it now.
func (w *World) Tenants() []string { return w.tenants() }

// VersionOf is the image version a task definition of this world holds
// (-1 for one it never registered).
func (w *World) VersionOf(taskDef string) int {
	if v, ok := w.TaskDefs[taskDef]; ok {
		return v
	}
	return -1
}

// SmokeTargets is the smoke hook's SMOKE_TARGETS for this world: each
// deployment group's test listener by base URL (components/pipeline
// creates one per group). Requests to them are answered by TestListeners.
func (d *Direct) SmokeTargets() map[string]string { return d.w.smokeTargets() }

// TestListeners answers HTTP requests to SmokeTargets as the model's test
// listeners do (smokeTransport): by the version behind the listener's
// target group, 503 when no target is registered. timeout is the smoke
// request's own (SmokeChecks.TimeoutSeconds), against which a slow
// version's answer is late.
func (d *Direct) TestListeners(timeout time.Duration) http.RoundTripper {
	return smokeTransport{c: &client{w: d.w, direct: d}, timeout: timeout}
}

// Route is the rule that serves a request of tenant ("" for one of no
// pinned tenant): the first rule by priority whose condition matches, else
// the default rule
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html).
// A data plane over the model routes by it.
func (w *World) Route(tenant string) *Rule { return w.route(tenant) }

// ImageRepository is the repository the model's images come from (for a
// test that registers a task definition by tag).
func (d *Direct) ImageRepository() string { return d.w.st.repositoryURL() }
