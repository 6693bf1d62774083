package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// Invocation is one run of a hook function: the real lambda/rollout code in
// its own goroutine, blocked at each AWS call until the explorer runs it.
type Invocation struct {
	N          int
	Hook       contract.Hook
	Deployment string
	Event      *Event

	ctx     *invocationContext
	toWorld chan message
	toHook  chan result
	pending *pendingCall
	// trace: each request and its answer, as a hash (entryHash).
	trace []uint64
	// traceHash is a running hash of trace; answers, of the invocation's
	// identity and every answer it got, folded or not (parking.go).
	traceHash, answers uint64
	// calls are the requests made so far (op and detail): a request made
	// again is a poll, one tick of the invocation's clock (clock.go).
	calls []string
	// accepted counts the status reports CodeDeploy accepted.
	accepted int
	ended    bool
	err      error
	// timedOut: the deadline has passed; sinceDeadline counts the calls
	// made after it; killed: Lambda stopped the function at its timeout.
	timedOut      bool
	sinceDeadline int
	killed        bool
	aborting      bool
	logs          []string
	// live: the hook's goroutine runs in this world (a copy's invocation
	// gets it back when next answered, see thaw).
	live bool
	// client is the live goroutine's view of the world (rebound when a
	// parked goroutine is adopted); parked, on a record, is a goroutine
	// left blocked at this record's pending call (parking.go).
	client *client
	parked *parked

	// What a copy of the world needs to bring the invocation back: its
	// payload, the answers it got and when its deadline passed.
	execID    string
	execution string
	results   []result
	cancelAt  int
	replaying bool
}

type pendingCall struct {
	ctx            context.Context
	op, detail     string
	run            func() (any, error)
	injectedFailed bool
	// waiting: a poll past deadlinePolls (clock.go).
	waiting bool
}

type message struct {
	call *pendingCall
	done bool
	err  error
}

type result struct {
	out any
	err error
}

var errAborted = errors.New("protocol: exploration path ended")

// call is where a hook's AWS call becomes an explorer step.
func (inv *Invocation) call(ctx context.Context, op, detail string, run func() (any, error)) (any, error) {
	if inv.aborting {
		return nil, errAborted
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the SDK fails a call whose context has ended
	}
	inv.toWorld <- message{call: &pendingCall{ctx: ctx, op: op, detail: detail, run: run}}
	r := <-inv.toHook
	return r.out, r.err
}

func (inv *Invocation) await() {
	m := <-inv.toWorld
	if m.done {
		inv.ended, inv.err, inv.pending = true, m.err, nil
		return
	}
	inv.pending = m.call
}

// invoke starts a function with its payload and runs it to its first AWS
// call. Lifecycle hooks are invoked by CodeDeploy; cleanup and rollback by
// EventBridge rules.
func (w *World) invoke(s Scenario, hook contract.Hook, d *Deployment, l *Lifecycle, ev *Event) {
	inv := &Invocation{N: len(w.invocations) + 1, Hook: hook, Event: ev, cancelAt: -1}
	if d != nil {
		inv.Deployment, inv.execID = d.ID, l.ExecID
	}
	if ev != nil && (ev.Kind == EventApprovalFailed || ev.Kind == EventExecutionFailed) {
		inv.execution = w.Executions[ev.Exec].ID
	}
	if w.direct != nil {
		w.direct.queue = append(w.direct.queue, Invoke{Hook: hook, Payload: inv.payload(w.st)})
		return
	}
	w.invocations = append(w.invocations, inv)
	inv.answers = identity(w.st, inv)
	if first := w.parking.after(inv.answers); first != nil {
		first.apply(inv) // its first step is known (parking.go)
	} else {
		w.launch(inv)
		inv.await()
		w.parking.remember(inv, 0)
	}
	w.tick(inv)
	w.afterStep(s, inv)
}

// identity is what an invocation's steps depend on besides its answers:
// the function, its request id (the hooks name their claim by it) and its
// payload.
func identity(st *stack, inv *Invocation) uint64 {
	var h stateHash
	h.h.SetSeed(hashSeed)
	h.str(string(inv.Hook))
	h.num(inv.N)
	if err := json.NewEncoder(&h.h).Encode(inv.payload(st)); err != nil {
		panic(fmt.Sprintf("protocol: %s#%d's payload: %v", inv.Hook, inv.N, err))
	}
	return h.h.Sum64()
}

// tick advances the invocation's clock on the call it just made: a repeated
// request is a poll, and a request made more than deadlinePolls times
// before one that waits; once
// the deadline has passed, graceCalls calls later Lambda stops the
// function.
func (w *World) tick(inv *Invocation) {
	pc := inv.pending
	if pc == nil {
		return
	}
	key := pc.op + " " + pc.detail
	pc.waiting = countOf(inv.calls, key) > deadlinePolls
	inv.calls = append(inv.calls, key)
	if !inv.timedOut {
		return
	}
	inv.sinceDeadline++
	if inv.sinceDeadline > graceCalls {
		w.logf("  %s#%d is stopped by Lambda at its timeout, before its call %s", inv.Hook, inv.N, pc.op)
		inv.kill()
	}
}

func countOf(calls []string, key string) int {
	n := 0
	for _, c := range calls {
		if c == key {
			n++
		}
	}
	return n
}

// expire makes the invocation's deadline pass before its pending call runs.
func (w *World) expire(inv *Invocation) {
	inv.timedOut = true
	inv.cancelAt = len(inv.results)
	if inv.live {
		inv.ctx.expire()
	} // else the replay expires it at cancelAt
}

// kill ends the invocation where it is: its pending call never runs.
func (inv *Invocation) kill() {
	inv.abort()
	inv.killed, inv.err = true, errors.New("stopped by Lambda at the function's timeout")
}

// abort ends the invocation's goroutine, answering every further call with
// errAborted.
func (inv *Invocation) abort() {
	inv.aborting = true
	inv.ctx.expire()
	for !inv.ended {
		if inv.pending != nil {
			inv.pending = nil
			inv.toHook <- result{err: errAborted}
		}
		inv.await()
	}
}

// launch runs the function's real code in a goroutine of its own, talking
// to w through a client; it blocks at its first call.
func (w *World) launch(inv *Invocation) {
	inv.toWorld, inv.toHook = make(chan message), make(chan result)
	inv.live = true
	// A Lambda invocation's deadline, on the model's clock (clock.go).
	inv.ctx = newInvocationContext(lambdacontext.NewContext(context.Background(),
		&lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("req-%d", inv.N)}))
	c := &client{w: w, inv: inv}
	inv.client = c
	h := &rollout.Hooks{ECS: c, ELB: c, CodeDeploy: c, CodePipeline: c,
		Logger: slog.New(&capture{c: c}), PollInterval: time.Nanosecond, SafetyMargin: time.Second}
	if inv.Hook != contract.HookSmoke {
		h.Config = w.st.configs[inv.Hook]
	}
	payload := inv.payload(w.st)
	var smoke *rollout.Smoke
	if inv.Hook == contract.HookSmoke {
		smoke = smokeHook(c, h, *w.st.smoke)
	}
	go func() {
		var err error
		if p, ok := payload.(rollout.LifecycleEvent); ok && smoke != nil {
			err = smoke.Run(inv.ctx, p)
		} else {
			_, err = runHook(inv.ctx, h, inv.Hook, payload)
		}
		inv.toWorld <- message{done: true, err: err}
	}()
}

// payload is what the function is invoked with: CodeDeploy's lifecycle
// event for pin and unpin, the EventBridge event of a deployment's end for
// cleanup, and for rollback the failed Approve action's event or an
// operator's request.
func (inv *Invocation) payload(st *stack) any {
	switch {
	case inv.Deployment != "":
		return rollout.LifecycleEvent{DeploymentID: inv.Deployment, LifecycleEventHookExecutionID: inv.execID}
	case inv.Event != nil && inv.Event.Kind == EventDeployment:
		return st.codeDeployEvent(*inv.Event)
	case inv.Event != nil && inv.Event.Kind == EventExecutionFailed:
		return rollout.PipelineExecutionEvent{DetailType: rollout.PipelineExecutionEventDetailType, Source: "aws.codepipeline",
			Detail: &rollout.PipelineExecutionDetail{Pipeline: st.pipeline, ExecutionID: inv.execution, State: inv.Event.State}}
	case inv.execution != "":
		return rollout.RollbackRequest{DetailType: rollout.ApprovalEventDetailType, Source: "aws.codepipeline",
			Detail: &rollout.ApprovalEventDetail{Pipeline: st.pipeline, ExecutionID: inv.execution,
				Stage: StageApprove, Action: StageApprove, State: "FAILED"}}
	default:
		return rollout.RollbackRequest{Reason: "operator"}
	}
}

// respawn brings a copied invocation back to life in w: its code runs again
// from the start and gets the answers it got before, so it reaches the same
// point (a hook is a function of the answers to its calls), without
// touching the world.
func (w *World) respawn(inv *Invocation) {
	inv.replaying = true
	w.launch(inv)
	inv.await()
	for k := 0; ; k++ {
		if inv.cancelAt == k && inv.pending != nil {
			inv.ctx.expire()
		}
		if k == len(inv.results) {
			break
		}
		if inv.pending == nil {
			panic(fmt.Sprintf("protocol: %s#%d ended after %d of %d answers on replay", inv.Hook, inv.N, k, len(inv.results)))
		}
		inv.pending = nil
		inv.toHook <- inv.results[k]
		inv.await()
	}
	inv.replaying = false
}

// codeDeployEvent is the EventBridge "CodeDeploy Deployment State-change
// Notification" (https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-cloudwatch-events.html).
func (st *stack) codeDeployEvent(ev Event) events.CodeDeployEvent {
	return events.CodeDeployEvent{DetailType: events.CodeDeployDeploymentEventDetailType, Source: "aws.codedeploy",
		Detail: events.CodeDeployEventDetail{Application: st.app, DeploymentGroup: ev.Group, DeploymentID: ev.DeploymentID,
			State: events.CodeDeployDeploymentState(ev.State)}}
}

// step runs the hook's pending call against the world (or fails it, for a
// fault) and lets the hook run to its next call.
func (w *World) step(s Scenario, inv *Invocation, fault bool) {
	waiting := inv.pending.waiting
	// The call to run: the live goroutine's; else, where the hook's next
	// step is known (parking.go), the known call, run with its client
	// bound to this world; else the goroutine, adopted or respawned.
	pc, known := inv.pending, (*continuation)(nil)
	if !inv.live {
		if known = w.parking.known(inv); known != nil {
			pc = known.pending
		} else {
			if !w.adopt(inv) {
				w.respawn(inv)
			}
			pc = inv.pending
		}
	}
	inv.pending = nil
	var r result
	switch {
	case known != nil:
		// Its deadline has not passed (known needs that): the model's
		// contexts end only by expire.
		r = known.run(w, inv, func() (any, error) { return w.answer(inv, pc, fault) })
	case !fault && pc.ctx.Err() != nil:
		r.err = pc.ctx.Err()
	default:
		r.out, r.err = w.answer(inv, pc, fault)
	}
	entry := entryHash(pc.op, pc.detail, r)
	if !waiting || !slices.Contains(inv.trace, entry) {
		inv.trace = append(inv.trace, entry) // else folded: an answer it had
		inv.traceHash = combine(inv.traceHash, entry)
	}
	inv.answers = combine(inv.answers, entry)
	if known != nil {
		if next := w.parking.after(inv.answers); next != nil {
			inv.results = append(inv.results, r)
			next.apply(inv)
			w.tick(inv)
			w.afterStep(s, inv)
			return
		}
		// The hook's step after this answer is not known yet: bring its
		// goroutine to the call just answered, and answer it.
		if !w.adopt(inv) {
			w.respawn(inv)
		}
		inv.pending = nil
	}
	inv.results = append(inv.results, r)
	logged := len(inv.logs)
	inv.toHook <- r
	inv.await()
	w.parking.remember(inv, logged)
	w.tick(inv)
	w.afterStep(s, inv)
}

// answer runs the hook's call against the world, or fails it (a fault).
func (w *World) answer(inv *Invocation, pc *pendingCall, fault bool) (any, error) {
	if fault {
		return explorerFault.apply(pc.ctx, pc.op, pc.run)
	}
	out, err := pc.run()
	if pc.op == "SetRulePriorities" && err == nil {
		d := w.deployment(inv.Deployment)
		w.catchAllByEndedUnpin = inv.Hook == contract.HookUnpin && d != nil && !d.unfinished()
	}
	return out, err
}

// combine is a running hash: h followed by v.
func combine(h, v uint64) uint64 {
	var sh stateHash
	sh.h.SetSeed(hashSeed)
	sh.num(int(h))
	sh.num(int(v))
	return sh.h.Sum64()
}

// entryHash identifies a request and its answer: the answer's JSON (or
// error text), written straight into the hash.
func entryHash(op, detail string, r result) uint64 {
	var h stateHash
	h.h.SetSeed(hashSeed)
	h.str(op, detail)
	switch {
	case r.err != nil:
		h.str("error", r.err.Error())
	default:
		h.str("ok")
		if err := json.NewEncoder(&h.h).Encode(r.out); err != nil {
			h.str(fmt.Sprintf("%T", r.out))
		}
	}
	return h.h.Sum64()
}

// afterStep handles an invocation that has just ended: cleanup and
// rollback are asynchronous invocations Lambda retries twice on error
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
// lifecycle hooks are never retried (the pipeline sets 0 retries).
func (w *World) afterStep(s Scenario, inv *Invocation) {
	if !inv.ended {
		return
	}
	if inv.err != nil {
		w.logf("  %s #%d returned error: %v", inv.Hook, inv.N, firstLine(inv.err.Error()))
	}
	if inv.Event != nil && inv.err != nil && inv.Event.Attempt < 2 {
		retry := *inv.Event
		retry.Attempt++
		w.events = append(w.events, retry)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// abort ends every live invocation's goroutine (end of an exploration path).
func (w *World) abort() {
	for _, inv := range w.invocations {
		if !inv.ended && inv.live {
			inv.abort()
		}
	}
}

// capture records the functions' log lines for the trace (a log line is
// no licence for any invariant), on the invocation its client is bound
// to now (a parked goroutine changes worlds).
type capture struct {
	c     *client
	attrs []slog.Attr
}

// Enabled skips building records nobody keeps: a replay's, or an aborted
// path's.
func (c *capture) Enabled(context.Context, slog.Level) bool {
	return !c.c.inv.replaying && !c.c.inv.aborting
}

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	inv := c.c.inv
	if inv.replaying || inv.aborting {
		return nil // said before, or never said (the path ends)
	}
	step := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" {
			step = a.Value.String()
		}
		return true
	})
	if step == "held" || step == "reject-superseded" || step == "redeploy-latest" || r.Level >= slog.LevelWarn {
		inv.logs = append(inv.logs, fmt.Sprintf("%s %s: %s", r.Level, step, r.Message))
	}
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &capture{c: c.c, attrs: append(c.attrs, as...)}
}

func (c *capture) WithGroup(string) slog.Handler { return c }
