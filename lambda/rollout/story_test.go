package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// A story is the package's model harness (model_test.go: a Direct from a
// declared stack) driven to a state by the model's own events — pushes,
// CodeDeploy's steps, approvals, alarms, EventBridge deliveries — running
// each function the model invokes on the way, with the invariants checked
// after every event and function, and holding the invocations a test
// wants to run itself. A test then runs the hook under test against that
// state and asserts the outcome: who is served what, desired counts, the
// catch-all, the reports and approval results AWS accepted, what the user
// reads.
type story struct {
	t *testing.T
	m *model
	d *protocol.Direct
	// logs collects every function's output, in order.
	mu   sync.Mutex
	logs bytes.Buffer
	// held are invocations the model asked for that the story left for the
	// test (hold).
	held    []protocol.Invoke
	holding map[contract.Hook]bool
	// smoke: the smoke hook's checks (as the stack declares them) when
	// its AppSpecs name it.
	smoke *contract.SmokeChecks
}

// newStory starts the model of testdata/stacks/<fixture>.json with the
// scenario's budgets (pushes, rejections, alarms, a Reading).
func newStory(t *testing.T, fixture string, sc protocol.Scenario) *story {
	t.Helper()
	m := newModel(t, fixture, sc)
	s := &story{t: t, m: m, d: m.Direct, holding: map[contract.Hook]bool{}}
	if v, ok := s.d.Env(contract.HookSmoke)[contract.EnvSmokeChecks]; ok {
		var c contract.SmokeChecks
		require.NoError(t, json.Unmarshal([]byte(v), &c), "the smoke function's declared %s", contract.EnvSmokeChecks)
		s.smoke = &c
	}
	return s
}

// env is function hook's environment as the program declares it.
func (s *story) env(hook contract.Hook) map[string]string { return s.d.Env(hook) }

// group is the declared deployment group of a service role ("latest" or
// "stable").
func (s *story) group(role string) string {
	env := s.env(contract.HookPin)
	if role == "latest" {
		return env[contract.EnvLatestDeploymentGroupName]
	}
	return env[contract.EnvStableDeploymentGroupName]
}

func (s *story) app() string { return s.env(contract.HookPin)[contract.EnvCodeDeployApplicationName] }

func (s *story) pipeline() string { return s.env(contract.HookPin)[contract.EnvPipelineName] }

// writer is where a function's log lines go: the story's log, whole lines
// at a time.
func (s *story) writer() *lockedWriter { return &lockedWriter{s: s} }

type lockedWriter struct{ s *story }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

// log is every function's output so far.
func (s *story) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// hooks is function hook as Lambda runs it with its declared environment,
// talking to the model; its own output also goes to the returned buffer.
func (s *story) hooks(hook contract.Hook) (*rollout.Hooks, *bytes.Buffer) {
	return s.hooksWith(hook, s.env(hook))
}

func (s *story) hooksWith(hook contract.Hook, env map[string]string) (*rollout.Hooks, *bytes.Buffer) {
	return s.hooksOn(hook, env, s.d.API())
}

// hooksOn is function hook with env, its AWS calls going to api (the
// model's, or a wrapper that lets an event of the model happen first).
func (s *story) hooksOn(hook contract.Hook, env map[string]string, api protocol.API) (*rollout.Hooks, *bytes.Buffer) {
	cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
	var own bytes.Buffer
	return &rollout.Hooks{Config: cfg, ConfigErr: err, ECS: api, ELB: api, CodeDeploy: api, CodePipeline: api,
		Logger: rollout.NewLogger(teeWriter{&own, s.writer()}), PollInterval: time.Millisecond}, &own
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w teeWriter) Write(p []byte) (int, error) {
	if _, err := w.a.Write(p); err != nil {
		return 0, err
	}
	return w.b.Write(p)
}

// smokeHook is the smoke hook with the model as its CodeDeploy and, unless
// targets says otherwise, the model's test listeners.
func (s *story) smokeHook(targets map[string]string, checks contract.SmokeChecks) (*rollout.Smoke, *bytes.Buffer) {
	h, own := s.hooks(contract.HookPin)
	h.Config, h.ConfigErr = rollout.Config{}, nil
	sm := &rollout.Smoke{Hooks: h, Config: rollout.SmokeConfig{Targets: targets, Checks: checks}, Deployments: s.d.API().(rollout.DeploymentReader)}
	if targets == nil {
		sm.Config.Targets = s.d.SmokeTargets()
		sm.HTTP = &http.Client{Transport: s.d.TestListeners(time.Duration(checks.TimeoutSeconds) * time.Second)}
	}
	return sm, own
}

// hold leaves the invocations of hook the model asks for to the test
// (taken with take) instead of running them.
func (s *story) hold(hook contract.Hook) { s.holding[hook] = true }

// do takes each event (a part of its label, as Explore's traces name
// them) and runs every function the model invokes meanwhile.
func (s *story) do(events ...string) {
	s.t.Helper()
	for _, what := range events {
		require.NoError(s.t, s.d.Do(what), "event %q", what)
		s.run()
	}
}

// deliverAll delivers every EventBridge event waiting, in order.
func (s *story) deliverAll() {
	s.t.Helper()
	for s.d.Do("deliver ") == nil {
		s.run()
	}
}

// run runs the functions the model invoked: each with its payload, as
// Lambda would; those the test holds are kept for take.
func (s *story) run() {
	s.t.Helper()
	for _, inv := range s.d.Invocations() {
		if s.holding[inv.Hook] {
			s.held = append(s.held, inv)
			continue
		}
		err := s.invoke(inv)
		require.NoError(s.t, err, "%s %+v", inv.Hook, inv.Payload)
		require.NoError(s.t, s.d.Check(), "the model's invariants after %s", inv.Hook)
	}
}

// invoke runs one invocation the model asked for, as Lambda would.
func (s *story) invoke(inv protocol.Invoke) error {
	if inv.Hook == contract.HookSmoke {
		require.NotNil(s.t, s.smoke, "the model ran the smoke hook without checks")
		sm, _ := s.smokeHook(nil, *s.smoke)
		return sm.Run(context.Background(), inv.Payload.(rollout.LifecycleEvent))
	}
	h, _ := s.hooks(inv.Hook)
	return s.invokeWith(h, inv)
}

// unhold runs the held invocations of hook and those the model asks for
// from now on.
func (s *story) unhold(hook contract.Hook) {
	s.t.Helper()
	delete(s.holding, hook)
	var keep []protocol.Invoke
	for _, inv := range s.held {
		if inv.Hook != hook {
			keep = append(keep, inv)
			continue
		}
		require.NoError(s.t, s.invoke(inv), "%s %+v", inv.Hook, inv.Payload)
		require.NoError(s.t, s.d.Check(), "the model's invariants after %s", inv.Hook)
	}
	s.held = keep
}

// invokeWith runs an invocation the model asked for with h (a hook the
// test configured).
func (s *story) invokeWith(h *rollout.Hooks, inv protocol.Invoke) error {
	return s.m.runWith(context.Background(), h, inv)
}

// take is the first held invocation of hook (failing if none).
func (s *story) take(hook contract.Hook) protocol.Invoke {
	s.t.Helper()
	for i, inv := range s.held {
		if inv.Hook == hook {
			s.held = append(s.held[:i], s.held[i+1:]...)
			return inv
		}
	}
	require.FailNow(s.t, "no invocation held", "of %s; held: %v", hook, s.held)
	return protocol.Invoke{}
}

// inspect runs fn on the world (for assertions).
func (s *story) inspect(fn func(w *protocol.World)) { s.d.Inspect(fn) }

// The labels of deployment id's steps, as the model names them.
func canary(id string) []string {
	return []string{"CodeDeploy starts " + id, "CodeDeploy " + id + " creates the replacement", "CodeDeploy " + id + " shifts the canary"}
}

func toEnd(id string) []string {
	return []string{"CodeDeploy " + id + " shifts all traffic", "CodeDeploy " + id + ": termination wait ends"}
}

// stage runs deployment id to its end, the smoke hook included when the
// AppSpecs name it (pin runs at BeforeInstall of a Latest deployment,
// unpin at AfterAllowTraffic of a Stable one).
func (s *story) stage(id string) {
	s.t.Helper()
	s.do("CodeDeploy starts "+id, "CodeDeploy "+id+" creates the replacement")
	if s.smoke != nil {
		s.do("CodeDeploy " + id + " allows test traffic")
	}
	s.do("CodeDeploy " + id + " shifts the canary")
	s.do(toEnd(id)...)
}

// toApproval: push v1, its Latest deployment succeeds, it waits at Approve.
func (s *story) toApproval() {
	s.t.Helper()
	s.do("PUSH v1", "exec-1 (v1) enters Latest")
	s.stage("d-1")
	s.do("exec-1 (v1) enters Approve")
}

// outcome is what a user sees of the world: who is served what, the
// catch-all's place, stable's desired count.
type outcome struct {
	// serves: each requester ("" a request of no pinned tenant) and the
	// versions it can be served.
	serves   map[string][]int
	pinned   bool
	stable   int
	atRest   bool
	statuses map[string]string // deployment id → status
}

func (s *story) outcome() outcome {
	var o outcome
	var tenants []string
	s.inspect(func(w *protocol.World) { tenants = w.Tenants() })
	o.serves = map[string][]int{"": s.d.Versions("")}
	for _, t := range tenants {
		o.serves[t] = s.d.Versions(t)
	}
	s.inspect(func(w *protocol.World) {
		o.pinned = w.CatchAllPinned()
		o.stable = w.StableService().Desired
		o.atRest = w.AtRest()
		o.statuses = map[string]string{}
		for _, d := range w.Deployments {
			o.statuses[d.ID] = d.Status
		}
	})
	return o
}

// everyoneOn: every requester is served version v alone, the catch-all is
// above the tenant rules and stable runs no task.
func (s *story) everyoneOn(v int) {
	s.t.Helper()
	o := s.outcome()
	for who, vs := range o.serves {
		assert.Equal(s.t, []int{v}, vs, "served to %q", who)
	}
	assert.False(s.t, o.pinned, "the catch-all is above the tenant rules")
	assert.Zero(s.t, o.stable, "stable runs no task")
}

// split: the pinned tenants are served pinnedV, everyone else latestV,
// stable keeps its declared desired count.
func (s *story) split(pinnedV, latestV int) {
	s.t.Helper()
	o := s.outcome()
	require.Greater(s.t, len(o.serves), 1, "the stack has pinned tenants")
	for who, vs := range o.serves {
		want := pinnedV
		if who == "" {
			want = latestV
		}
		assert.Equal(s.t, []int{want}, vs, "served to %q", who)
	}
	assert.True(s.t, o.pinned, "the catch-all is below the tenant rules")
	assert.Equal(s.t, s.stableCount(), o.stable, "stable keeps serving")
}

func (s *story) stableCount() int { return s.m.envInt(contract.EnvStableDesiredCount) }

// claims are the tag keys on the catch-all rule: release claims of
// functions that have not removed theirs.
func (s *story) claims() []string {
	var keys []string
	s.inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			if r.Kind == protocol.KindCatchAll {
				for k := range r.Tags {
					keys = append(keys, k)
				}
			}
		}
	})
	return keys
}

// deployments is how many deployments CodeDeploy has had.
func (s *story) deployments() int {
	var n int
	s.inspect(func(w *protocol.World) { n = len(w.Deployments) })
	return n
}

// deployment is the world's deployment id (nil if none).
func (s *story) deployment(id string) *protocol.Deployment {
	var out *protocol.Deployment
	s.inspect(func(w *protocol.World) {
		for _, d := range w.Deployments {
			if d.ID == id {
				c := *d
				out = &c
			}
		}
	})
	return out
}

// lifecycle is the status CodeDeploy holds for deployment id's lifecycle
// event name (the report it accepted, or Pending/InProgress).
func (s *story) lifecycle(id, name string) string {
	s.t.Helper()
	var st string
	s.inspect(func(w *protocol.World) {
		for _, d := range w.Deployments {
			if d.ID != id {
				continue
			}
			for _, l := range d.Hooks {
				if l.Name == name {
					st = l.Status
				}
			}
		}
	})
	return st
}

// execution is execution id's status.
func (s *story) execution(id string) string {
	var st string
	s.inspect(func(w *protocol.World) {
		for _, e := range w.Executions {
			if e.ID == id {
				st = e.Status
			}
		}
	})
	return st
}

// approvals are the approval results CodePipeline accepted from the
// functions.
func (s *story) approvals() []protocol.Approval { return s.d.Approvals() }

// codeDeployEvent is the EventBridge "CodeDeploy Deployment State-change
// Notification" of a deployment of this stack's group role.
func (s *story) codeDeployEvent(role, state, id string) events.CodeDeployEvent {
	return events.CodeDeployEvent{
		Source: events.CodeDeployEventSource, DetailType: events.CodeDeployDeploymentEventDetailType,
		Detail: events.CodeDeployEventDetail{Application: s.app(), DeploymentGroup: s.group(role), DeploymentID: id,
			State: events.CodeDeployDeploymentState(state)},
	}
}

// jsonLines: every line of logs is a JSON object.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}
