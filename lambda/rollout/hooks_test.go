package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

const (
	opRules  = fakeaws.OpDescribeRules
	opDesc   = fakeaws.OpDescribeServices
	opUpdate = fakeaws.OpUpdateService
	opHealth = fakeaws.OpDescribeTargetHealth
	opSet    = fakeaws.OpSetRulePriorities
	opPut    = fakeaws.OpPutHookStatus
	opModify = fakeaws.OpModifyRule
	opTD     = fakeaws.OpDescribeTaskDef
	opGetDG  = fakeaws.OpGetDeploymentGroup
)

var hookEvent = rollout.LifecycleEvent{DeploymentID: "d-TESTDEPLOY", LifecycleEventHookExecutionID: "eyJleGVjdXRpb24iOiJ0ZXN0In0="}

// reportSpy checks the context the report is sent with: it must not be
// expired, or the report would never leave the function.
type reportSpy struct {
	rollout.CodeDeploy
	ctxErrs []error
}

func (s *reportSpy) PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, opts ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	s.ctxErrs = append(s.ctxErrs, ctx.Err())
	return s.CodeDeploy.PutLifecycleEventHookExecutionStatus(ctx, in, opts...)
}

func newHooks(t testing.TB, w *fakeaws.World, hook rollout.Hook) (*rollout.Hooks, *bytes.Buffer) {
	t.Helper()
	cfg, err := rollout.ConfigFromEnv(lookupIn(fakeaws.Env()), hook)
	require.NoError(t, err)
	var logs bytes.Buffer
	return &rollout.Hooks{
		Config: cfg, ECS: w, ELB: w, CodeDeploy: w,
		Logger:       rollout.NewLogger(&logs),
		PollInterval: time.Millisecond,
	}, &logs
}

func pinnedWorld(tenants int, active string) *fakeaws.World {
	w := fakeaws.NewWorld(tenants, active)
	w.Rules[1].Priority = "50000"
	w.DesiredCount = fakeaws.DesiredCount
	return w
}

func statuses(w *fakeaws.World) []string {
	var out []string
	for _, r := range w.Reports() {
		out = append(out, r.Status)
	}
	return out
}

func TestPinScalesStableWaitsForHealthThenMovesCatchAllOnce(t *testing.T) {
	for _, active := range []string{fakeaws.StableBlueTG, fakeaws.StableGreenTG} {
		t.Run(active[strings.Index(active, "/")+1:], func(t *testing.T) {
			w := fakeaws.NewWorld(3, active)
			w.PollsUntilHealthy = 2
			h, _ := newHooks(t, w, rollout.HookPin)

			require.NoError(t, h.Pin(context.Background(), hookEvent))

			assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opHealth, opHealth, opSet, opPut}, w.Ops(),
				"rules already on the active group: no ModifyRule")
			for _, c := range w.Calls() {
				if c.Op == opHealth {
					assert.Equal(t, active, c.Detail, "must wait on the target group of stable's primary task set")
				}
			}
			assert.Equal(t, "50000", w.CatchAllPriority())
			assert.EqualValues(t, 2, w.Desired())
			assert.Equal(t, []fakeaws.Report{{DeploymentID: hookEvent.DeploymentID, ExecutionID: hookEvent.LifecycleEventHookExecutionID, Status: "Succeeded"}}, w.Reports())
		})
	}
}

// After an odd number of Stable deployments stable's primary task set is in
// the green group, while a tenant rule created by the program forwards to
// blue, the pair's first group.
func TestPinFollowsThePrimaryTaskSetAndRepairsRulesOnTheOtherGroup(t *testing.T) {
	w := fakeaws.NewWorld(3, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opModify, opModify, opSet, opPut}, w.Ops())
	calls := w.Calls()
	assert.Equal(t, fakeaws.StableGreenTG, calls[3].Detail, "waits on the primary task set's group")
	for i, c := range calls[4:7] {
		assert.Equal(t, w.Rules[2+i].ARN+" forward="+fakeaws.StableGreenTG, c.Detail, "a plain forward to the active group")
	}
	for _, r := range w.Rules[2:] {
		got := w.Rule(r.ARN)
		assert.Equal(t, fakeaws.StableGreenTG, got.Target, r.ARN)
		assert.Empty(t, got.Forward, r.ARN)
	}
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
	assert.Equal(t, 3, strings.Count(logs.String(), `"msg":"tenant rule repaired"`), "each repair is logged")

	w.Reset()
	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Equal(t, []string{opRules, opDesc, opHealth, opPut}, w.Ops(), "a repeated run repairs nothing")
}

func TestPinRepairsOnlyTheRulesThatDisagree(t *testing.T) {
	w := fakeaws.NewWorld(4, fakeaws.StableGreenTG)
	// A tenant added after the flip: plain forward to blue.
	w.Rules[3].Forward, w.Rules[3].Target = nil, fakeaws.StableBlueTG
	// A rule CodeDeploy is shifting (a Stable deployment in progress).
	w.Rules[4].Forward = []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(fakeaws.StableGreenTG), Weight: aws.Int32(90)},
		{TargetGroupArn: aws.String(fakeaws.StableBlueTG), Weight: aws.Int32(10)},
	}
	split := *w.Rule(w.Rules[4].ARN)
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, w.Rules[3].ARN+" forward="+fakeaws.StableGreenTG, w.Calls()[4].Detail)
	assert.Equal(t, fakeaws.StableGreenTG, w.Rule(w.Rules[3].ARN).Target)
	assert.Equal(t, split, *w.Rule(split.ARN), "split weights are CodeDeploy's")
	assert.Contains(t, logs.String(), "left to CodeDeploy")
	assert.Contains(t, logs.String(), `"repaired":1`)
}

func TestPinWithoutTaskSetsUsesTheServicesLoadBalancer(t *testing.T) {
	// Before stable's first deployment there are no task sets; its tasks
	// register in the group the service was created with (the first).
	w := fakeaws.NewWorld(2, fakeaws.StableGreenTG)
	w.StablePrimaryTG = ""
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, fakeaws.StableBlueTG, w.Calls()[3].Detail)
	assert.Equal(t, fakeaws.StableBlueTG, w.Rule(w.Rules[2].ARN).Target)
}

func TestPinRuleRepairFailureReportsFailedAndLeavesTheCatchAll(t *testing.T) {
	w := fakeaws.NewWorld(3, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	w.FailNext(opModify, nil, fakeaws.ValidationError("bad action"))
	h, _ := newHooks(t, w, rollout.HookPin)

	err := h.Pin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "repair tenant rule "+w.Rules[3].ARN+" (forward to "+fakeaws.StableGreenTG+" instead of "+fakeaws.StableBlueTG+")")
	assert.Equal(t, []string{opRules, opDesc, opUpdate, opHealth, opModify, opModify, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority(), "catch-all not moved while a tenant rule points at the empty group")
	assert.Equal(t, []string{"Failed"}, statuses(w))
}

func TestPinWithoutPinnedTenantsScalesNothingAndOnlyReports(t *testing.T) {
	w := fakeaws.NewWorld(0, fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestPinIgnoresRulesThatDoNotForwardToStable(t *testing.T) {
	w := fakeaws.NewWorld(0, fakeaws.StableBlueTG)
	// A rule of someone else's, and one whose stable weight is zero.
	w.Rules = append(w.Rules,
		&fakeaws.Rule{ARN: fakeaws.DefaultRuleARN + "0", Priority: "5", Target: fakeaws.LatestGreenTG},
		&fakeaws.Rule{ARN: fakeaws.DefaultRuleARN + "1", Priority: "6", Forward: fakeaws.NewWorld(1, fakeaws.StableGreenTG).Rules[2].Forward[1:]},
	)
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Equal(t, []string{opRules, opPut}, w.Ops())
}

func TestPinFindsTenantRulesWithAPlainTargetGroupAction(t *testing.T) {
	w := fakeaws.NewWorld(1, fakeaws.StableGreenTG)
	w.Rules[2].Forward, w.Rules[2].Target = nil, fakeaws.StableGreenTG
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinNeverLowersAHigherDesiredCount(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.DesiredCount = 5
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.NotContains(t, w.Ops(), opUpdate)
	assert.EqualValues(t, 5, w.Desired())
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinInvokedTwiceReachesTheSameStateAndReportsTheSame(t *testing.T) {
	w := fakeaws.NewWorld(4, fakeaws.StableGreenTG)
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))
	first := w.Reports()
	w.Reset()
	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opHealth, opPut}, w.Ops(), "the second run changes nothing")
	assert.Equal(t, first, w.Reports())
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, 2, w.Desired())
}

func TestPinAfterAPartialRunFinishesTheJob(t *testing.T) {
	w := fakeaws.NewWorld(4, fakeaws.StableBlueTG)
	w.DesiredCount = 2 // scaled by an earlier run that then timed out
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opDesc, opHealth, opSet, opPut}, w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinReportsFailedAndKeepsTenantsUnpinnedWhenAStepFails(t *testing.T) {
	boom := errors.New("injected failure")
	tests := []struct {
		name    string
		arrange func(w *fakeaws.World)
		want    string
	}{
		{"describe rules", func(w *fakeaws.World) { w.FailNext(opRules, boom) }, "describe rules"},
		{"describe service", func(w *fakeaws.World) { w.FailNext(opDesc, boom) }, "describe service stable"},
		{"service missing", func(w *fakeaws.World) { w.ServiceMissing = true }, "MISSING"},
		{"scale up", func(w *fakeaws.World) { w.FailNext(opUpdate, fakeaws.AccessDenied(opUpdate)) }, "set desired count of stable to 2"},
		{"first poll", func(w *fakeaws.World) { w.FailNext(opHealth, boom) }, "poll 1"},
		{"third poll", func(w *fakeaws.World) { w.PollsUntilHealthy = 5; w.FailNext(opHealth, nil, nil, boom) }, "poll 3"},
		{"set rule priorities", func(w *fakeaws.World) { w.FailNext(opSet, fakeaws.ValidationError("bad priority")) }, "move catch-all rule from priority 1 to 50000"},
		{"catch-all rule gone", func(w *fakeaws.World) { w.Rules = append(w.Rules[:1], w.Rules[2:]...) }, "catch-all rule"},
		{"primary task set outside the stable pair", func(w *fakeaws.World) { w.StablePrimaryTG = fakeaws.LatestGreenTG },
			"serves target group " + fakeaws.LatestGreenTG + ", which is not one of STABLE_TARGET_GROUP_ARNS"},
		{"repair of a tenant rule", func(w *fakeaws.World) {
			w.StablePrimaryTG = fakeaws.StableGreenTG
			w.FailNext(opModify, fakeaws.AccessDenied(opModify))
		}, "repair tenant rule"},
		{"task sets but none primary", func(w *fakeaws.World) { w.StableTaskSetStatus = "ACTIVE" }, "has 1 task sets but none is PRIMARY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fakeaws.NewWorld(3, fakeaws.StableBlueTG)
			tt.arrange(w)
			h, logs := newHooks(t, w, rollout.HookPin)

			err := h.Pin(context.Background(), hookEvent)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, []string{"Failed"}, statuses(w))
			assert.Equal(t, opPut, w.Ops()[len(w.Ops())-1], "the report is the last call")
			if w.Rules[1].ARN == fakeaws.CatchAllRuleARN {
				assert.Equal(t, "1", w.CatchAllPriority(), "tenants must not be pinned to an unverified target group")
			}
			assert.Contains(t, logs.String(), tt.want, "the reason is logged")
		})
	}
}

func TestPinReportsFailedInTimeWhenTargetsNeverBecomeHealthy(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.NeverHealthy = true
	h, _ := newHooks(t, w, rollout.HookPin)
	h.PollInterval = 10 * time.Millisecond
	spy := &reportSpy{CodeDeploy: w}
	h.CodeDeploy = spy
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()

	start := time.Now()
	err := h.Pin(ctx, hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up waiting for 2 healthy targets")
	assert.Less(t, time.Since(start), 800*time.Millisecond, "the wait must end before the invocation's deadline")
	assert.Equal(t, []string{"Failed"}, statuses(w))
	assert.Equal(t, []error{nil}, spy.ctxErrs, "the report is sent with a live context")
	assert.Equal(t, "1", w.CatchAllPriority())
}

func TestPinRecoversFromAPanicAndReportsFailed(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.PanicOn(opHealth)
	h, logs := newHooks(t, w, rollout.HookPin)

	var err error
	require.NotPanics(t, func() { err = h.Pin(context.Background(), hookEvent) })

	require.Error(t, err)
	assert.Contains(t, err.Error(), "panic: fakeaws: injected panic in DescribeTargetHealth")
	assert.Equal(t, []string{"Failed"}, statuses(w))
	assert.Contains(t, logs.String(), `"step":"panic"`)
}

func TestHookReturnsAnErrorWhenTheReportItselfFails(t *testing.T) {
	w := fakeaws.NewWorld(1, fakeaws.StableBlueTG)
	w.FailNext(opPut, fakeaws.AccessDenied(opPut))
	h, _ := newHooks(t, w, rollout.HookPin)

	err := h.Pin(context.Background(), hookEvent)

	require.Error(t, err, "Lambda must see the failure so the invocation can be retried")
	assert.Contains(t, err.Error(), "report Succeeded to CodeDeploy")
	assert.Equal(t, 1, strings.Count(strings.Join(w.Ops(), " "), opPut), "reported exactly once")
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestHookReportsBothTheStepAndTheReportFailure(t *testing.T) {
	w := fakeaws.NewWorld(1, fakeaws.StableBlueTG)
	w.FailNext(opRules, errors.New("rules down"))
	w.FailNext(opPut, errors.New("codedeploy down"))
	h, _ := newHooks(t, w, rollout.HookPin)

	err := h.Pin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules down")
	assert.Contains(t, err.Error(), "report Failed to CodeDeploy: codedeploy down")
}

func TestMalformedLifecycleEventFailsClearly(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		wantErr string
		wantOps []string
	}{
		{"no execution id", `{"DeploymentId":"d-1"}`, "LifecycleEventHookExecutionId missing; cannot report", nil},
		{"empty event", `{}`, "DeploymentId and LifecycleEventHookExecutionId missing", nil},
		// With the execution id, a Failed report is still attempted.
		{"no deployment id", `{"LifecycleEventHookExecutionId":"x"}`, "DeploymentId missing", []string{opPut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fakeaws.NewWorld(1, fakeaws.StableBlueTG)
			h, _ := newHooks(t, w, rollout.HookPin)
			var ev rollout.LifecycleEvent
			require.NoError(t, json.Unmarshal([]byte(tt.event), &ev))

			err := h.Pin(context.Background(), ev)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.wantOps, w.Ops(), "no work on a malformed event")
		})
	}
}

func TestMisconfiguredHookReportsFailedWithTheConfigError(t *testing.T) {
	w := fakeaws.NewWorld(1, fakeaws.StableBlueTG)
	_, cfgErr := rollout.ConfigFromEnv(lookupIn(map[string]string{}), rollout.HookUnpin)
	require.Error(t, cfgErr)
	h := &rollout.Hooks{ConfigErr: cfgErr, ECS: w, ELB: w, CodeDeploy: w, Logger: rollout.NewLogger(&bytes.Buffer{})}

	err := h.Unpin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "LISTENER_ARN is not set")
	assert.Equal(t, []string{opPut}, w.Ops())
	assert.Equal(t, []string{"Failed"}, statuses(w))
}

func TestUnpinMovesCatchAllAboveTenantsThenScalesStableToZero(t *testing.T) {
	w := pinnedWorld(3, fakeaws.StableGreenTG)
	h, _ := newHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opSet, opDesc, opUpdate, opPut}, w.Ops(), "route away from stable before stopping it")
	assert.Equal(t, fakeaws.CatchAllRuleARN+"=1", w.Calls()[1].Detail, "one priority change: the catch-all only")
	assert.Equal(t, "stable desiredCount=0", w.Calls()[3].Detail)
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))

	w.Reset()
	require.NoError(t, h.Unpin(context.Background(), hookEvent))
	assert.Equal(t, []string{opRules, opDesc, opPut}, w.Ops(), "a repeated invocation changes nothing")
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestUnpinReportsFailedWhenAStepFails(t *testing.T) {
	for _, op := range []string{opRules, opSet, opDesc, opUpdate} {
		t.Run(op, func(t *testing.T) {
			w := pinnedWorld(3, fakeaws.StableBlueTG)
			w.FailNext(op, fakeaws.Throttling(op))
			h, _ := newHooks(t, w, rollout.HookUnpin)

			err := h.Unpin(context.Background(), hookEvent)

			require.Error(t, err)
			assert.Contains(t, err.Error(), "Rate exceeded")
			assert.Equal(t, []string{"Failed"}, statuses(w))
		})
	}
}

func codeDeployEvent(group, state string) events.CodeDeployEvent {
	return events.CodeDeployEvent{
		Source: events.CodeDeployEventSource, DetailType: events.CodeDeployDeploymentEventDetailType,
		Detail: events.CodeDeployEventDetail{
			Application: fakeaws.CodeDeployApp, DeploymentGroup: group, DeploymentID: "d-LATEST",
			State: events.CodeDeployDeploymentState(state),
		},
	}
}

func TestCleanupUnpinsAndScalesDownOnlyWhenTheLatestDeploymentFailsOrStops(t *testing.T) {
	released := []string{opGetDG, opDesc, opTD, opTD, opRules, opSet, opUpdate}
	tests := []struct {
		name    string
		event   events.CodeDeployEvent
		wantOps []string
	}{
		{"latest failed", codeDeployEvent(fakeaws.LatestGroup, "FAILURE"), released},
		{"latest stopped", codeDeployEvent(fakeaws.LatestGroup, "STOP"), released},
		{"latest succeeded", codeDeployEvent(fakeaws.LatestGroup, "SUCCESS"), nil},
		{"latest started", codeDeployEvent(fakeaws.LatestGroup, "START"), nil},
		{"stable failed", codeDeployEvent(fakeaws.StableGroup, "FAILURE"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			h, _ := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), tt.event))

			assert.Equal(t, tt.wantOps, w.Ops(), "cleanup never reports to CodeDeploy")
			if tt.wantOps != nil {
				assert.Equal(t, fakeaws.CodeDeployApp+"/"+fakeaws.LatestGroup, w.Calls()[0].Detail)
				assert.Equal(t, fakeaws.LatestService+","+fakeaws.StableService, w.Calls()[1].Detail, "both services in one call")
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			} else {
				assert.Equal(t, "50000", w.CatchAllPriority())
			}
		})
	}
}

// The situations of lambda/README.md's cleanup table.
func TestCleanupReleasesTenantsOnlyWhenTheEventIsCurrentAndLatestServesStablesImage(t *testing.T) {
	tests := []struct {
		name         string
		arrange      func(w *fakeaws.World)
		wantOps      []string
		wantReleased bool
		wantLog      string
	}{
		{
			name:         "rollout failed on latest after the previous one completed: same image, released",
			arrange:      func(w *fakeaws.World) {},
			wantOps:      []string{opGetDG, opDesc, opTD, opTD, opRules, opSet, opUpdate},
			wantReleased: true,
			wantLog:      "latest and stable serve the same image",
		},
		{
			name:         "same task definition: no DescribeTaskDefinition",
			arrange:      func(w *fakeaws.World) { w.LatestTaskDef = fakeaws.TaskDefStableV0 },
			wantOps:      []string{opGetDG, opDesc, opRules, opSet, opUpdate},
			wantReleased: true,
			wantLog:      "latest and stable run the same task definition",
		},
		{
			name: "an execution waits at Approve, a newer push failed on latest: tenants stay on stable",
			arrange: func(w *fakeaws.World) {
				w.LatestTaskDef = fakeaws.TaskDefV1 // rolled back to the image awaiting approval
			},
			wantOps: []string{opGetDG, opDesc, opTD, opTD},
			wantLog: "latest rolled back to " + fakeaws.ImageV1 + ", stable serves " + fakeaws.ImageV0 +
				": the pinned tenants stay on stable until the waiting approval is decided",
		},
		{
			name:    "stale event: a newer Latest deployment exists",
			arrange: func(w *fakeaws.World) { w.LastAttemptedDeployment = "d-NEWER" },
			wantOps: []string{opGetDG},
			wantLog: "ignored: a newer deployment of the Latest group exists",
		},
		{
			name:         "stable before its first deployment (no task sets): the service's task definition",
			arrange:      func(w *fakeaws.World) { w.StablePrimaryTG = "" },
			wantOps:      []string{opGetDG, opDesc, opTD, opTD, opRules, opSet, opUpdate},
			wantReleased: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			tt.arrange(w)
			h, logs := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

			assert.Equal(t, tt.wantOps, w.Ops())
			if tt.wantReleased {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			} else {
				assert.Equal(t, "50000", w.CatchAllPriority(), "tenants stay pinned")
				assert.EqualValues(t, fakeaws.DesiredCount, w.Desired(), "stable keeps its tasks")
			}
			assert.Contains(t, logs.String(), tt.wantLog)
		})
	}
}

func TestCleanupAfterPinFailedBeforeAnyTrafficShift(t *testing.T) {
	// pin scaled stable up, then gave up waiting: the catch-all never moved
	// and latest's primary task set is the previous, completed rollout's.
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.DesiredCount = fakeaws.DesiredCount
	h, _ := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

	assert.Equal(t, []string{opGetDG, opDesc, opTD, opTD, opRules, opUpdate}, w.Ops(), "catch-all already in place")
	assert.EqualValues(t, 0, w.Desired())

	// The same while another execution waits at Approve: latest serves the
	// image awaiting approval, the tenants stay pinned where they are.
	w = pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	h, _ = newHooks(t, w, rollout.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
}

func TestCleanupFailsClearlyAndChangesNothingWhenItCannotDecide(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(w *fakeaws.World)
		want    string
	}{
		{"get deployment group", func(w *fakeaws.World) { w.FailNext(opGetDG, fakeaws.AccessDenied(opGetDG)) }, "get deployment group tc-dev/latest"},
		{"no last attempted deployment", func(w *fakeaws.World) { w.LastAttemptedDeployment = "" }, "reports no last attempted deployment"},
		{"describe services", func(w *fakeaws.World) { w.FailNext(opDesc, fakeaws.Throttling(opDesc)) }, "describe service latest, stable"},
		{"stable missing", func(w *fakeaws.World) { w.ServiceMissing = true }, "MISSING"},
		{"describe task definition", func(w *fakeaws.World) { w.FailNext(opTD, nil, fakeaws.AccessDenied(opTD)) }, "describe task definition " + fakeaws.TaskDefStableV0},
		{"unknown task definition", func(w *fakeaws.World) { w.LatestTaskDef = fakeaws.TaskDefV1 + "9" }, "Unable to describe task definition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			tt.arrange(w)
			h, logs := newHooks(t, w, rollout.HookCleanup)

			err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))

			require.Error(t, err, "an error makes Lambda retry the event")
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, w.Ops(), opSet)
			assert.NotContains(t, w.Ops(), opUpdate)
			assert.Contains(t, logs.String(), tt.want)
		})
	}
}

func TestCleanupRejectsMalformedEventsAndReturnsStepErrors(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookCleanup)

	wrongType := codeDeployEvent(fakeaws.LatestGroup, "FAILURE")
	wrongType.DetailType = "CodeDeploy Instance State-change Notification"
	assert.ErrorContains(t, h.Cleanup(context.Background(), wrongType), "detail-type")
	assert.ErrorContains(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "")), "detail.state")
	noID := codeDeployEvent(fakeaws.LatestGroup, "FAILURE")
	noID.Detail.DeploymentID = ""
	assert.ErrorContains(t, h.Cleanup(context.Background(), noID), "detail.deploymentId")
	assert.Empty(t, w.Ops())

	w.FailNext(opSet, fakeaws.ValidationError("nope"))
	assert.ErrorContains(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")), "nope")
	assert.NotContains(t, w.Ops(), opUpdate, "stable keeps running while tenants are still pinned to it")
	w.PanicOn(opRules)
	assert.ErrorContains(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")), "panic")
}

func TestDescribeRulesPagesAreFollowed(t *testing.T) {
	w := fakeaws.NewWorld(5, fakeaws.StableGreenTG) // 7 rules
	w.RulesPageSize = 2
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opRules, opRules, opRules, opRules, opDesc, opUpdate, opHealth, opSet, opPut}, w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestEveryLogLineCarriesDeploymentHookStepAndDuration(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	h, logs := newHooks(t, w, rollout.HookPin)
	require.NoError(t, h.Pin(context.Background(), hookEvent))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	steps := map[string]bool{}
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		assert.Equal(t, hookEvent.DeploymentID, rec["deployment_id"], line)
		assert.Equal(t, "pin", rec["hook"], line)
		assert.Contains(t, rec, "duration_ms", line)
		steps[rec["step"].(string)] = true
	}
	for _, step := range []string{"start", "read-listener", "scale-up", "wait-healthy", "move-catch-all", "report"} {
		assert.True(t, steps[step], "no log line for step %s", step)
	}
}
