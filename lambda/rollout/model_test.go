package rollout_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The AWS operations, as the model records them (Direct.Calls).
const (
	opRules  = "DescribeRules"
	opDesc   = "DescribeServices"
	opUpdate = "UpdateService"
	opHealth = "DescribeTargetHealth"
	opSet    = "SetRulePriorities"
	opPut    = "PutLifecycleEventHookExecutionStatus"
	opModify = "ModifyRule"
	opTD     = "DescribeTaskDefinition"
	opLD     = "ListDeployments"
	opGDT    = "GetDeploymentTarget"
	opGD     = "GetDeployment"
	opCreate = "CreateDeployment"
	opGPS    = "GetPipelineState"
	opGPE    = "GetPipelineExecution"
	opPAR    = "PutApprovalResult"
	opAdd    = "AddTags"
	opRemove = "RemoveTags"
	opTags   = "DescribeTags"
)

// model is the one model of AWS (internal/protocol) a hook test runs
// against: a protocol.Direct started from a declared stack
// (internal/protocol/testdata/stacks, what the program declares). Its
// names are the stack's, read from each function's declared environment;
// states are reached by the model's own events (the labels the explorer's
// traces use) with the functions it invokes run as Lambda would run them.
type model struct {
	*protocol.Direct
	t    testing.TB
	logs bytes.Buffer
}

// newModel starts the model of the declared stack testdata/stacks/NAME.json
// with the budgets of s.
func newModel(t testing.TB, stack string, s protocol.Scenario) *model {
	t.Helper()
	st, err := protocol.LoadStack(filepath.Join("..", "..", "internal", "protocol", "testdata", "stacks", stack+".json"))
	require.NoError(t, err)
	if s.Pushes == 0 {
		s.Pushes = 3
	}
	return &model{Direct: protocol.NewDirectFromStack(st, s), t: t}
}

// env is the declared value of key in hook's environment.
func (m *model) env(key string) string {
	v, ok := m.Env(contract.HookPin)[key]
	if !ok {
		v = m.Env(contract.HookCleanup)[key]
	}
	return v
}

// hooks are function hook's handlers over the model, configured from the
// function's declared environment (with the changes in set, a
// misconfiguration under test), logging to m.logs.
func (m *model) hooks(hook contract.Hook, set ...string) *rollout.Hooks {
	m.t.Helper()
	env := m.Env(hook)
	for i := 0; i+1 < len(set); i += 2 {
		env[set[i]] = set[i+1]
	}
	cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
	require.NoError(m.t, err)
	api := m.API()
	return &rollout.Hooks{Config: cfg, ECS: api, ELB: api, CodeDeploy: api, CodePipeline: api,
		Logger: rollout.NewLogger(&m.logs), PollInterval: time.Millisecond}
}

// do takes each event (the first enabled one whose label contains it)
// and runs every function the model invokes meanwhile, to its end.
func (m *model) do(events ...string) {
	m.t.Helper()
	for _, ev := range events {
		require.NoError(m.t, m.Do(ev), ev)
		for _, inv := range m.Invocations() {
			m.run(inv)
		}
	}
}

// next takes one event and returns the one function invocation it caused,
// not run yet.
func (m *model) next(event string) protocol.Invoke {
	m.t.Helper()
	require.NoError(m.t, m.Do(event), event)
	invs := m.Invocations()
	require.Len(m.t, invs, 1, "%s invokes one function", event)
	return invs[0]
}

// run runs one invocation to its end, as Lambda would, within a deadline
// (so a wait that is never satisfied ends as Lambda would end it), and
// returns its error.
func (m *model) run(inv protocol.Invoke) error {
	m.t.Helper()
	return m.runWith(context.Background(), m.hooks(inv.Hook), inv)
}

// invocationTimeout is the functions' timeout in these tests: far beyond
// what any of them takes, short enough that a wait never satisfied fails
// its test quickly.
const invocationTimeout = 5 * time.Second

// runWith runs inv with h; a ctx without a deadline gets Lambda's
// (invocationTimeout).
func (m *model) runWith(ctx context.Context, h *rollout.Hooks, inv protocol.Invoke) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, invocationTimeout)
		defer cancel()
	}
	switch p := inv.Payload.(type) {
	case rollout.LifecycleEvent:
		if inv.Hook == contract.HookPin {
			return h.Pin(ctx, p)
		}
		return h.Unpin(ctx, p)
	case events.CodeDeployEvent:
		return h.Cleanup(ctx, p)
	case rollout.PipelineExecutionEvent:
		return h.CleanupPipelineExecution(ctx, p)
	case rollout.RollbackRequest:
		_, err := h.Rollback(ctx, p)
		return err
	}
	m.t.Fatalf("unknown invocation %T", inv.Payload)
	return nil
}

// The model's state, as a test asserts it.

func (m *model) rule(arn string) (out protocol.Rule) {
	m.t.Helper()
	found := false
	m.Inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			if r.ARN == arn {
				out, found = *r, true
				out.Forward, out.Tenants = slices.Clone(r.Forward), slices.Clone(r.Tenants)
			}
		}
	})
	require.True(m.t, found, "no rule %s", arn)
	return out
}

// rules are the listener's rules of kind.
func (m *model) rules(kind string) (out []protocol.Rule) {
	m.Inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			if r.Kind == kind {
				out = append(out, *r)
			}
		}
	})
	return out
}

func (m *model) catchAllPriority() int {
	return m.rule(m.env(contract.EnvCatchAllRuleARN)).Priority
}

func (m *model) pinnedPriority() int   { return m.envInt(contract.EnvCatchAllPriorityPinned) }
func (m *model) unpinnedPriority() int { return m.envInt(contract.EnvCatchAllPriorityUnpinned) }

func (m *model) envInt(key string) int {
	m.t.Helper()
	n, err := strconv.Atoi(m.env(key))
	require.NoError(m.t, err, key)
	return n
}

func (m *model) desired(service string) (n int) {
	m.Inspect(func(w *protocol.World) { n = w.Services[service].Desired })
	return n
}

func (m *model) stableDesired() int { return m.desired(m.env(contract.EnvStableServiceName)) }

// stableTGs is stable's pair, the group its task set starts in first.
func (m *model) stableTGs() [2]string {
	tgs := strings.Split(m.env(contract.EnvStableTargetGroupARNs), ",")
	return [2]string{tgs[0], tgs[1]}
}

// primaryTG is the target group of service's PRIMARY task set.
func (m *model) primaryTG(service string) (tg string) {
	m.Inspect(func(w *protocol.World) {
		for _, ts := range w.Services[service].TaskSets {
			if ts.Status == "PRIMARY" {
				tg = ts.TG
			}
		}
	})
	return tg
}

// served is the versions tenant's requests are served ("" for a request of
// no pinned tenant), by the model's routing.
func (m *model) served(tenant string) []int { return m.Versions(tenant) }

// statuses are the lifecycle reports the model accepted.
func (m *model) statuses() []string {
	var out []string
	for _, r := range m.Reports() {
		out = append(out, r.Status)
	}
	return out
}

// details are the recorded details of op's calls.
func (m *model) details(op string) []string {
	var out []string
	for _, c := range m.Calls() {
		if c.Op == op {
			out = append(out, c.Detail)
		}
	}
	return out
}

// forward is a rule's forward action as ModifyRule sends it.
func forwardTo(tgs ...string) []elbtypes.Action {
	var tuples []elbtypes.TargetGroupTuple
	for i, tg := range tgs {
		w := int32(0)
		if i == 0 {
			w = 100
		}
		tuples = append(tuples, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(tg), Weight: aws.Int32(w)})
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: tuples}}}
}

// setForward is a test's setup through the model's own API: someone
// changed rule's action (the model accepts what the ALB accepts).
func (m *model) setForward(arn string, tgs ...string) {
	m.t.Helper()
	_, err := m.API().ModifyRule(context.Background(), &elbv2.ModifyRuleInput{RuleArn: aws.String(arn), Actions: forwardTo(tgs...)})
	require.NoError(m.t, err)
}

// catchAllName is the catch-all rule as the model's call details name it.
func (m *model) catchAllName() string {
	arn := m.env(contract.EnvCatchAllRuleARN)
	return arn[strings.LastIndex(arn, "/")+1:]
}

// tenantRule is the tenant rule that carries tenant.
func (m *model) tenantRule(tenant string) protocol.Rule {
	m.t.Helper()
	for _, r := range m.rules(protocol.KindTenant) {
		if slices.Contains(r.Tenants, tenant) {
			return r
		}
	}
	m.t.Fatalf("no tenant rule carries %s", tenant)
	return protocol.Rule{}
}

func itoa(n int) string { return strconv.Itoa(n) }

// weighted are the target groups a rule forwards a positive weight to.
func weighted(r protocol.Rule) []string {
	var out []string
	for _, f := range r.Forward {
		if f.Weight > 0 {
			out = append(out, f.TG)
		}
	}
	return out
}

// claimed is the call sequence of a cleanup or rollback that holds the
// release claim around ops: it tags the catch-all rule before it reads
// anything and removes the tag when done, whatever the outcome.
func claimed(ops ...string) []string {
	return append(append([]string{opAdd}, ops...), opRemove)
}

// claimKey is the tag key of the release claim outside Lambda (no request
// id in the context).
const claimKey = contract.ReleaseTagPrefix + "local"
