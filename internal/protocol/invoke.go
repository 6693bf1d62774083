package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tenant-canary/tenant-canary/appspec"
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

	ctx      context.Context
	cancel   context.CancelFunc
	toWorld  chan message
	toHook   chan result
	pending  *pendingCall
	trace    []string
	reports  int
	ended    bool
	err      error
	timedOut bool
	aborting bool
	logs     []string

	// What a copy of the world needs to bring the invocation back: its
	// payload, the answers it got and when its deadline passed.
	onReject  string
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

// hookEnv is the environment components/pipeline sets on every function,
// for the modelled stack; rollout.ConfigFromEnv parses it as in Lambda.
func hookEnv(onReject string) map[string]string {
	spec, err := appspec.Render(appspec.Values{Family: "tc", Cpu: 256, Memory: 512, ExecutionRoleArn: "arn:aws:iam::123456789012:role/exec",
		TaskRoleArn: "arn:aws:iam::123456789012:role/task", LogGroup: "/tc", Region: Region, StreamPrefix: "app",
		ContainerName: Container, ContainerPort: Port, PinFunctionName: "tc-pin", UnpinFunctionName: "tc-unpin"})
	if err != nil {
		panic(err)
	}
	return map[string]string{
		contract.EnvClusterName:               Cluster,
		contract.EnvStableServiceName:         StableService,
		contract.EnvLatestServiceName:         LatestService,
		contract.EnvStableDesiredCount:        strconv.Itoa(StableCount),
		contract.EnvListenerARN:               listenerARN,
		contract.EnvStableTargetGroupARNs:     StableBlue + "," + StableGreen,
		contract.EnvCatchAllRuleARN:           catchAllARN,
		contract.EnvAnchorRuleARN:             anchorARN,
		contract.EnvCatchAllPriorityUnpinned:  strconv.Itoa(priorityUnpinned),
		contract.EnvCatchAllPriorityPinned:    strconv.Itoa(priorityPinned),
		contract.EnvCodeDeployApplicationName: App,
		contract.EnvLatestDeploymentGroupName: LatestGroup,
		contract.EnvStableDeploymentGroupName: StableGroup,
		contract.EnvPipelineName:              Pipeline,
		contract.EnvOnReject:                  onReject,
		contract.EnvAppSpecLatest:             appspec.WithoutComments(spec[appspec.FileAppSpecLatest]),
		// The model has no propagation time for rule changes: release
		// scales stable down right after the catch-all moves.
		contract.EnvReleaseDelaySeconds: "0",
	}
}

type configKey struct {
	onReject string
	hook     contract.Hook
}

var configs sync.Map // configKey → rollout.Config

// hookConfig is the function's configuration as rollout.ConfigFromEnv
// parses it from hookEnv, once per kind of function.
func hookConfig(onReject string, hook contract.Hook) rollout.Config {
	key := configKey{onReject, hook}
	if c, ok := configs.Load(key); ok {
		return c.(rollout.Config)
	}
	env := hookEnv(onReject)
	cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
	if err != nil {
		panic(fmt.Sprintf("protocol: the modelled environment is invalid: %v", err))
	}
	configs.Store(key, cfg)
	return cfg
}

// invoke starts a function with its payload and runs it to its first AWS
// call. Lifecycle hooks are invoked by CodeDeploy; cleanup and rollback by
// EventBridge rules.
func (w *World) invoke(s Scenario, hook contract.Hook, d *Deployment, l *Lifecycle, ev *Event) {
	inv := &Invocation{N: len(w.invocations) + 1, Hook: hook, Event: ev, onReject: s.onReject(), cancelAt: -1}
	if d != nil {
		inv.Deployment, inv.execID = d.ID, l.ExecID
	}
	if ev != nil && ev.Kind == EventApprovalFailed {
		inv.execution = w.Executions[ev.Exec].ID
	}
	if w.direct != nil {
		w.direct.queue = append(w.direct.queue, Invoke{Hook: hook, Payload: inv.payload()})
		return
	}
	w.invocations = append(w.invocations, inv)
	w.launch(inv)
	inv.await()
	w.afterStep(s, inv)
}

// launch runs the function's real code in a goroutine of its own, talking
// to w through a client; it blocks at its first call.
func (w *World) launch(inv *Invocation) {
	inv.toWorld, inv.toHook = make(chan message), make(chan result)
	// A Lambda invocation's deadline; the model ends the work early with
	// the "deadline" fault, which cancels it.
	inv.ctx, inv.cancel = context.WithTimeout(lambdacontext.NewContext(context.Background(),
		&lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("req-%d", inv.N)}), time.Hour)
	c := &client{w: w, inv: inv}
	h := &rollout.Hooks{Config: hookConfig(inv.onReject, inv.Hook), ECS: c, ELB: c, CodeDeploy: c, CodePipeline: c,
		Logger: slog.New(&capture{w: w, inv: inv}), PollInterval: time.Nanosecond, SafetyMargin: time.Second}
	payload := inv.payload()
	go func() {
		var err error
		switch p := payload.(type) {
		case rollout.LifecycleEvent:
			if inv.Hook == contract.HookPin {
				err = h.Pin(inv.ctx, p)
			} else {
				err = h.Unpin(inv.ctx, p)
			}
		case events.CodeDeployEvent:
			err = h.Cleanup(inv.ctx, p)
		case rollout.RollbackRequest:
			_, err = h.Rollback(inv.ctx, p)
		}
		inv.toWorld <- message{done: true, err: err}
	}()
}

// payload is what the function is invoked with: CodeDeploy's lifecycle
// event for pin and unpin, the EventBridge event of a deployment's end for
// cleanup, and for rollback the failed Approve action's event or an
// operator's request.
func (inv *Invocation) payload() any {
	switch {
	case inv.Deployment != "":
		return rollout.LifecycleEvent{DeploymentID: inv.Deployment, LifecycleEventHookExecutionID: inv.execID}
	case inv.Event != nil && inv.Event.Kind == EventDeployment:
		return codeDeployEvent(*inv.Event)
	case inv.execution != "":
		return rollout.RollbackRequest{DetailType: rollout.ApprovalEventDetailType, Source: "aws.codepipeline",
			Detail: &rollout.ApprovalEventDetail{Pipeline: Pipeline, ExecutionID: inv.execution,
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
			inv.cancel()
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
func codeDeployEvent(ev Event) events.CodeDeployEvent {
	return events.CodeDeployEvent{DetailType: events.CodeDeployDeploymentEventDetailType, Source: "aws.codedeploy",
		Detail: events.CodeDeployEventDetail{Application: App, DeploymentGroup: ev.Group, DeploymentID: ev.DeploymentID,
			State: events.CodeDeployDeploymentState(ev.State)}}
}

// step runs the hook's pending call against the world (or fails it, for a
// fault) and lets the hook run to its next call.
func (w *World) step(s Scenario, inv *Invocation, fault bool) {
	pc := inv.pending
	inv.pending = nil
	var r result
	switch {
	case fault:
		r.err = apiErr("InternalFailure", "injected: the call failed after the SDK's retries")
	case pc.ctx.Err() != nil:
		r.err = pc.ctx.Err()
	default:
		if pc.op == "PutLifecycleEventHookExecutionStatus" {
			inv.reports++
		}
		r.out, r.err = pc.run()
	}
	inv.trace = collapse(append(inv.trace, pc.op+" "+pc.detail+" → "+summarize(r)))
	inv.results = append(inv.results, r)
	inv.toHook <- r
	inv.await()
	w.afterStep(s, inv)
}

func summarize(r result) string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	b, err := json.Marshal(r.out)
	if err != nil {
		return fmt.Sprintf("%T", r.out)
	}
	return string(b)
}

// collapse folds a repeated tail (a poll loop that saw the same answers)
// so a hook that waits is one state, not one per poll.
func collapse(trace []string) []string {
	for k := 1; k <= 3; k++ {
		n := len(trace)
		if n < 2*k {
			continue
		}
		same := true
		for i := 0; i < k; i++ {
			if trace[n-k+i] != trace[n-2*k+i] {
				same = false
				break
			}
		}
		if same {
			return trace[:n-k]
		}
	}
	return trace
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
		if inv.ended {
			continue
		}
		inv.aborting = true
		inv.cancel()
		for !inv.ended {
			if inv.pending != nil {
				inv.pending = nil
				inv.toHook <- result{err: errAborted}
			}
			inv.await()
		}
	}
}

// capture records the functions' log lines: the trace shows them, and a
// WARN line at step "held" is the operator being told (I3).
type capture struct {
	w     *World
	inv   *Invocation
	attrs []slog.Attr
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	if c.inv.replaying || c.inv.aborting {
		return nil // said before, or never said (the path ends)
	}
	step := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" {
			step = a.Value.String()
		}
		return true
	})
	if r.Level >= slog.LevelWarn && step == "held" {
		c.w.told = true
	}
	if step == "held" || step == "reject-superseded" || step == "redeploy-latest" || r.Level >= slog.LevelWarn {
		c.inv.logs = append(c.inv.logs, fmt.Sprintf("%s %s: %s", r.Level, step, r.Message))
	}
	return nil
}

func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &capture{w: c.w, inv: c.inv, attrs: append(c.attrs, as...)}
}

func (c *capture) WithGroup(string) slog.Handler { return c }
