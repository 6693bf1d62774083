package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// A Direct's wall clock and what it saw happen when. The explorer's world
// has no wall clock (its time is the order of events); a caller outside it
// — the operator CLI showing "started 25m ago", "next step in 3m" — reads
// timestamps, so a Direct keeps a clock the caller moves (SetNow, Advance)
// and stamps every fact of the world (an execution started, a stage
// entered, a deployment reached a phase, a hook ended) with the clock's
// time when it first saw it. It looks after every event (Do), every call
// it answers and every move of the clock, so a fact is stamped with the
// time it happened at. Nothing of this enters the world the explorer
// hashes.
type timeline struct {
	now  time.Time
	seen map[string]time.Time
	// caller is the identity the Direct's callers act as
	// (PutApprovalResult's lastUpdatedBy).
	caller string
	// decisions are the approvals decided through PutApprovalResult, by
	// pipeline execution id: who, and the summary they gave.
	decisions map[string]decision
	// userStops are deployments StopDeployment stopped; stopAlarms the
	// group's alarms in ALARM when another deployment stopped.
	userStops  map[string]bool
	stopAlarms map[string][]string
	// functions replace the real handler of a function a caller invokes
	// through Lambda Invoke (RunFunction).
	functions map[contract.Hook]Function
}

type decision struct{ by, summary string }

// Function is a function's code as Lambda Invoke runs it: the payload in,
// the function's answer or its error out.
type Function func(ctx context.Context, payload any) (any, error)

// directEpoch is where a Direct's clock starts: when the stack was
// created, as far as its answers tell (an alarm's state is as old as
// this when nothing changed it since). Callers move the clock on from here.
var directEpoch = time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)

func newTimeline(st *stack) timeline {
	return timeline{now: directEpoch, seen: map[string]time.Time{},
		caller:    fmt.Sprintf("arn:aws:sts::%s:assumed-role/release-manager/console", st.account),
		decisions: map[string]decision{}, userStops: map[string]bool{}, stopAlarms: map[string][]string{},
		functions: map[contract.Hook]Function{}}
}

// clone copies the timeline: the same clock and facts, the same functions.
func (tl timeline) clone() timeline {
	c := tl
	c.seen, c.decisions, c.userStops = maps.Clone(tl.seen), maps.Clone(tl.decisions), maps.Clone(tl.userStops)
	c.stopAlarms, c.functions = maps.Clone(tl.stopAlarms), maps.Clone(tl.functions)
	return c
}

// Now is the Direct's clock.
func (d *Direct) Now() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tl.now
}

// Advance moves the clock on by dur; what happened before happened at the
// old time.
func (d *Direct) Advance(dur time.Duration) {
	if dur < 0 {
		panic("protocol: the clock does not go back")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe()
	d.tl.now = d.tl.now.Add(dur)
}

// SetNow moves the clock to t (not before the clock's time).
func (d *Direct) SetNow(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.Before(d.tl.now) {
		panic(fmt.Sprintf("protocol: the clock does not go back from %s to %s", d.tl.now, t))
	}
	d.observe()
	d.tl.now = t
}

// Caller is the identity the Direct's callers act as.
func (d *Direct) Caller() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tl.caller
}

// Image is the image reference a task definition of version runs: the
// declared repository's, by digest (stack.image).
func (d *Direct) Image(version int) string { return d.w.st.image(version) }

// RunFunction replaces the code Lambda Invoke runs for hook (nil: the
// real handler again), e.g. a function that fails or answers busy.
func (d *Direct) RunFunction(hook contract.Hook, fn Function) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fn == nil {
		delete(d.tl.functions, hook)
		return
	}
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

var _ Operator = (*client)(nil)

// Operator answers the operator's calls in process.
func (d *Direct) Operator() Operator { return &client{w: d.w, direct: d} }

// Handler serves the model over AWS's wire protocols (fakeaws's stateless
// server): every operation of API and Operator, to the real SDK clients.
func (d *Direct) Handler() http.Handler { return fakeaws.NewServer(&client{w: d.w, direct: d}, nil) }

// Hooks are function hook's handlers over this world, configured from its
// declared environment, as the function's main builds them.
func (d *Direct) Hooks(hook contract.Hook) (*rollout.Hooks, error) {
	env := d.Env(hook)
	cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
	if err != nil {
		return nil, err
	}
	api := d.API()
	return &rollout.Hooks{Config: cfg, ECS: api, ELB: api, CodeDeploy: api, CodePipeline: api, PollInterval: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, nil
}

// Run runs one invocation the model queued with the real handler of its
// function, in process: the rollback function's answer, or nil.
func (d *Direct) Run(ctx context.Context, inv Invoke) (any, error) {
	d.mu.Lock()
	fn := d.tl.functions[inv.Hook]
	d.mu.Unlock()
	if fn != nil {
		return fn(ctx, inv.Payload)
	}
	h, err := d.Hooks(inv.Hook)
	if err != nil {
		return nil, err
	}
	switch p := inv.Payload.(type) {
	case rollout.LifecycleEvent:
		if inv.Hook == contract.HookPin {
			return nil, h.Pin(ctx, p)
		}
		return nil, h.Unpin(ctx, p)
	case events.CodeDeployEvent:
		return nil, h.Cleanup(ctx, p)
	case rollout.PipelineExecutionEvent:
		return nil, h.CleanupPipelineExecution(ctx, p)
	case rollout.RollbackRequest:
		return h.Rollback(ctx, p)
	}
	return nil, fmt.Errorf("protocol: %s invoked with %T", inv.Hook, inv.Payload)
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
	d.mu.Lock()
	label := ""
	for _, a := range d.w.actions(d.s) {
		if !a.External && !a.Waiting {
			label = a.Label
			break
		}
	}
	d.mu.Unlock()
	if label == "" {
		return "", false, nil
	}
	return label, true, d.Steps(ctx, label)
}

// DeliverAll lets EventBridge deliver every event waiting, running the
// functions they invoke.
func (d *Direct) DeliverAll(ctx context.Context) error {
	for d.Do("deliver") == nil {
		if err := d.RunQueued(ctx); err != nil {
			return err
		}
	}
	return nil
}

// at is when the Direct first saw fact key (nil: never, or not a Direct).
func (w *World) at(key string) *time.Time {
	if w.direct == nil {
		return nil
	}
	t, ok := w.direct.tl.seen[key]
	if !ok {
		return nil
	}
	return &t
}

// wallClock is the Direct's time (nil: not a Direct).
func (w *World) wallClock() *time.Time {
	if w.direct == nil {
		return nil
	}
	t := w.direct.tl.now
	return &t
}

// observe stamps what a call of a Direct changed (under its lock).
func (c *client) observe() {
	if c.direct != nil {
		c.direct.observe()
	}
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

// invokePayload decodes a Lambda Invoke payload for hook: the rollback
// function takes a rollout.RollbackRequest (the operator's request).
func invokePayload(hook contract.Hook, payload []byte) (any, error) {
	if hook != contract.HookRollback {
		return nil, fmt.Errorf("the model runs only the rollback function on request, not %s", hook)
	}
	var req rollout.RollbackRequest
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	return req, nil
}
