package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func TestPinScalesStableWaitsForHealthThenMovesCatchAllOnce(t *testing.T) {
	for _, active := range []string{fakeaws.StableBlueTG, fakeaws.StableGreenTG} {
		t.Run(active[strings.Index(active, "/")+1:], func(t *testing.T) {
			w := fakeaws.NewWorld(3, active)
			w.PollsUntilHealthy = 2
			h, _ := newHooks(t, w, rollout.HookPin)

			require.NoError(t, h.Pin(context.Background(), hookEvent))

			assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opHealth, opHealth, opRules, opSet, opPut}, w.Ops(),
				"rules already on the active group: no ModifyRule")
			assert.Equal(t, listed(fakeaws.StableGroup), w.Calls()[0].Detail, "first: is an earlier rollout's unpin running?")
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
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG) // CodeDeploy shifted it
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opModify, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{fakeaws.StableGreenTG, fakeaws.StableBlueTG}, details(w, opHealth),
		"waits on the primary task set's group, then finds no healthy target on the other before repairing")
	for i, d := range details(w, opModify) {
		assert.Equal(t, w.Tenants()[i].ARN+" forward="+fakeaws.StableGreenTG, d, "a plain forward to the active group")
	}
	for _, r := range w.Tenants() {
		got := w.Rule(r.ARN)
		assert.Equal(t, fakeaws.StableGreenTG, got.Target, r.ARN)
		assert.Empty(t, got.Forward, r.ARN)
	}
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
	assert.Equal(t, 3, strings.Count(logs.String(), `"msg":"rule repaired"`), "each repair is logged")

	w.Reset()
	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opHealth, opRules, opPut}, w.Ops(), "a repeated run repairs nothing")
}

// The anchor is stable's permanent rule: pin repairs it like a tenant rule
// (it must forward where stable serves) but never counts it as a tenant.
func TestPinRepairsTheAnchorWithTheTenantRulesButNeverCountsIt(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableGreenTG)
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableBlueTG)
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{fakeaws.AnchorRuleARN + " forward=" + fakeaws.StableGreenTG}, details(w, opModify))
	assert.Equal(t, fakeaws.StableGreenTG, w.Rule(fakeaws.AnchorRuleARN).Target)
	assert.Equal(t, []string{fakeaws.AnchorHost}, w.Rule(fakeaws.AnchorRuleARN).Hosts, "its condition is kept")
	assert.Contains(t, logs.String(), `"tenant_rules":2,`)

	// The anchor alone is no pinned tenant, and pin still pins (a tenant
	// added during the rollout is then pinned at once).
	w = fakeaws.NewWorld(0, fakeaws.StableGreenTG)
	h, logs = newHooks(t, w, rollout.HookPin)
	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Contains(t, logs.String(), `"tenant_rules":0,`)
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinRereadsListenerAfterHealthWait(t *testing.T) {
	// A tenant is added while stable's tasks start: the program creates its
	// rule on the pair's first group, blue, while stable serves from green.
	w := fakeaws.NewWorld(2, fakeaws.StableGreenTG)
	w.PollsUntilHealthy = 1
	added := fakeaws.DefaultRuleARN + "add"
	w.On(opHealth, 1, func(w *fakeaws.World) {
		w.Rules = append(w.Rules, &fakeaws.Rule{ARN: added, Priority: "20", Forward: fakeaws.StableForward(fakeaws.StableBlueTG)})
	})
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opHealth, opRules, opHealth, opModify, opSet, opPut}, w.Ops(),
		"the listener is read again after the wait, and the new rule repaired before the catch-all moves")
	assert.Equal(t, []string{added + " forward=" + fakeaws.StableGreenTG}, details(w, opModify))
	assert.Equal(t, fakeaws.StableGreenTG, w.Rule(added).Target)
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinWaitsWhileAnEarlierUnpinRuns(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
	var priorityWhileRunning string
	w.On(opGDT, 2, func(w *fakeaws.World) { // the unpin ends during pin's second poll
		priorityWhileRunning = w.Rules[1].Priority
		w.Deployments[0].Events["AfterAllowTraffic"] = "Succeeded"
	})
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opGDT, opLD, opGDT, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{"d-STABLE01 " + fakeaws.Cluster + ":" + fakeaws.StableService, "d-STABLE01 tc-dev:stable"}, details(w, opGDT),
		"the ECS target is <cluster>:<service>")
	assert.Equal(t, "1", priorityWhileRunning, "nothing moves while the unpin runs")
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Contains(t, logs.String(), "an earlier rollout's unpin is running: waiting for it to end")
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestPinDoesNotWaitForAStableDeploymentWhoseUnpinIsNotRunning(t *testing.T) {
	succeeded := fakeaws.UnpinRunning()
	succeeded["AfterAllowTraffic"] = "Succeeded"
	for _, tt := range []struct {
		name   string
		events map[string]cdtypes.LifecycleEventStatus
	}{
		{"not started: no deployment target yet", nil},
		{"shifting traffic: AfterAllowTraffic pending", map[string]cdtypes.LifecycleEventStatus{"BeforeInstall": "Succeeded", "AllowTraffic": "InProgress"}},
		{"in the termination wait: AfterAllowTraffic succeeded", succeeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
			w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", tt.events)
			h, _ := newHooks(t, w, rollout.HookPin)

			require.NoError(t, h.Pin(context.Background(), hookEvent))

			assert.Equal(t, []string{opLD, opGDT, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops())
			assert.Equal(t, "50000", w.CatchAllPriority())
		})
	}
}

func TestPinFollowsListDeploymentsPages(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.DeploymentsPageSize = 1
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE02", nil)
	w.On(opGDT, 4, func(w *fakeaws.World) { w.Deployments[0].Events["AfterAllowTraffic"] = "Succeeded" })
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opLD, opGDT, opGDT, opLD, opLD, opGDT, opGDT, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops(),
		"the running unpin is on the second page")
	assert.Equal(t, "d-STABLE02 tc-dev:stable", details(w, opGDT)[0], "newest first; not started, so skipped")
}

func TestPinGivesUpWaitingForAnUnpinAndReportsFailedInTime(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
	h, _ := newHooks(t, w, rollout.HookPin)
	h.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()

	err := h.Pin(ctx, hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up waiting for the unpin hook of Stable deployment d-STABLE01")
	assert.NotContains(t, w.Ops(), opRules, "nothing read or changed while the unpin runs")
	assert.Equal(t, []string{"Failed"}, statuses(w))
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())
}

// A cleanup or rollback tags the catch-all rule before it reads anything;
// pin, whose unfinished Latest deployment the other side would see, waits
// while such a claim is unexpired, so the two never act on the catch-all
// at once.
func TestPinWaitsWhileACleanupHoldsItsClaim(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	key := contract.ReleaseTagPrefix + "c0ffee00-0000-4000-8000-000000000001"
	w.SetTag(fakeaws.CatchAllRuleARN, key, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	w.SetTag(fakeaws.CatchAllRuleARN, "team", "payments") // not a claim
	var priorityWhileHeld string
	var desiredWhileHeld int32
	w.On(opTags, 2, func(w *fakeaws.World) { // the cleanup releases its claim during pin's second poll
		priorityWhileHeld, desiredWhileHeld = w.Rules[1].Priority, w.DesiredCount
		delete(w.Tags[fakeaws.CatchAllRuleARN], key)
	})
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops(),
		"waits after the unpin guard and before it reads the listener")
	assert.Equal(t, []string{fakeaws.CatchAllRuleARN, fakeaws.CatchAllRuleARN}, details(w, opTags), "the catch-all rule's tags")
	assert.Equal(t, "1", priorityWhileHeld, "nothing moves while the claim is held")
	assert.EqualValues(t, 0, desiredWhileHeld, "nothing scales while the claim is held")
	assert.Contains(t, logs.String(), "a cleanup or rollback holds the catch-all rule: waiting")
	assert.Contains(t, logs.String(), `"tag":"`+key+`"`)
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

// A claim's value is when it expires: a cleanup that died holding it
// delays pin, never blocks it.
func TestPinIgnoresAnExpiredClaim(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.SetTag(fakeaws.CatchAllRuleARN, contract.ReleaseTagPrefix+"dead", time.Now().Add(-time.Second).UTC().Format(time.RFC3339))
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut}, w.Ops(), "one look, no wait")
	assert.NotContains(t, logs.String(), "holds the catch-all rule: waiting")
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestPinGivesUpWaitingForAClaimAndReportsFailedInTime(t *testing.T) {
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.SetTag(fakeaws.CatchAllRuleARN, claimKey, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	h, _ := newHooks(t, w, rollout.HookPin)
	h.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()

	err := h.Pin(ctx, hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up waiting for claim "+claimKey+" on the catch-all rule")
	assert.NotContains(t, w.Ops(), opRules, "nothing read or changed while the claim is held")
	assert.Equal(t, []string{"Failed"}, statuses(w))
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())

	// DescribeTags failing fails pin the same way.
	w = fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.FailNext(opTags, fakeaws.AccessDenied(opTags))
	h, _ = newHooks(t, w, rollout.HookPin)
	assert.ErrorContains(t, h.Pin(context.Background(), hookEvent), "describe tags of the catch-all rule")
	assert.Equal(t, []string{opLD, opTags, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
}

func TestPinRepairsOnlyTheRulesThatDisagree(t *testing.T) {
	w := fakeaws.NewWorld(4, fakeaws.StableGreenTG)
	tenants := w.Tenants()
	// A tenant added after the flip: plain forward to blue.
	tenants[1].Forward, tenants[1].Target = nil, fakeaws.StableBlueTG
	// A rule CodeDeploy is shifting (a Stable deployment in progress).
	tenants[2].Forward = []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(fakeaws.StableGreenTG), Weight: aws.Int32(90)},
		{TargetGroupArn: aws.String(fakeaws.StableBlueTG), Weight: aws.Int32(10)},
	}
	split := *w.Rule(tenants[2].ARN)
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{tenants[1].ARN + " forward=" + fakeaws.StableGreenTG}, details(w, opModify))
	assert.Equal(t, fakeaws.StableGreenTG, w.Rule(tenants[1].ARN).Target)
	assert.Equal(t, split, *w.Rule(split.ARN), "split weights are CodeDeploy's")
	assert.Contains(t, logs.String(), "left to CodeDeploy")
	assert.Contains(t, logs.String(), `"repaired":1`)
}

func TestPinWithoutTaskSetsUsesTheServicesLoadBalancer(t *testing.T) {
	// Before stable's first deployment there are no task sets; its tasks
	// register in the group the service was created with (the first).
	w := fakeaws.NewWorld(2, fakeaws.StableGreenTG)
	w.StablePrimaryTG = ""
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opModify, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{fakeaws.StableBlueTG, fakeaws.StableGreenTG}, details(w, opHealth))
	assert.Equal(t, fakeaws.StableBlueTG, w.Rule(w.Tenants()[0].ARN).Target)
}

func TestPinRuleRepairFailureReportsFailedAndLeavesTheCatchAll(t *testing.T) {
	w := fakeaws.NewWorld(3, fakeaws.StableBlueTG)
	w.StablePrimaryTG = fakeaws.StableGreenTG
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	w.FailNext(opModify, nil, fakeaws.ValidationError("bad action"))
	h, _ := newHooks(t, w, rollout.HookPin)

	err := h.Pin(context.Background(), hookEvent)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "repair rule "+w.Tenants()[1].ARN+" (forward to "+fakeaws.StableGreenTG+" instead of "+fakeaws.StableBlueTG+")")
	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opModify, opPut}, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority(), "catch-all not moved while a tenant rule points at the empty group")
	assert.Equal(t, []string{"Failed"}, statuses(w))
}

// With an empty allow-list pin still scales stable up, waits for its
// health and moves the catch-all below the tenant rules: a tenant rule that
// `pulumi up` creates during the rollout is then pinned the moment it
// exists, never served the canary through the catch-all.
func TestPinWithoutPinnedTenantsStillPinsSoATenantAddedMidRolloutIsPinned(t *testing.T) {
	w := fakeaws.NewWorld(0, fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestPinIgnoresRulesThatDoNotForwardToStable(t *testing.T) {
	w := fakeaws.NewWorld(0, fakeaws.StableBlueTG)
	// A rule of someone else's, and one whose stable weight is zero.
	w.Rules = append(w.Rules,
		&fakeaws.Rule{ARN: fakeaws.DefaultRuleARN + "0", Priority: "5", Target: fakeaws.LatestGreenTG},
		&fakeaws.Rule{ARN: fakeaws.DefaultRuleARN + "1", Priority: "6", Forward: fakeaws.StableForward(fakeaws.StableGreenTG)[1:]},
	)
	h, logs := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))
	assert.Contains(t, logs.String(), `"tenant_rules":0,`, "neither counts as a tenant rule")
	assert.Empty(t, details(w, opModify), "neither is rewritten")
	assert.Equal(t, fakeaws.LatestGreenTG, w.Rule(fakeaws.DefaultRuleARN+"0").Target)
}

func TestPinFindsTenantRulesWithAPlainTargetGroupAction(t *testing.T) {
	w := fakeaws.NewWorld(1, fakeaws.StableGreenTG)
	w.Tenants()[0].Forward, w.Tenants()[0].Target = nil, fakeaws.StableGreenTG
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

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opHealth, opRules, opPut}, w.Ops(), "the second run changes nothing")
	assert.Equal(t, first, w.Reports())
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, 2, w.Desired())
}

func TestPinAfterAPartialRunFinishesTheJob(t *testing.T) {
	w := fakeaws.NewWorld(4, fakeaws.StableBlueTG)
	w.DesiredCount = 2 // scaled by an earlier run that then timed out
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opDesc, opHealth, opRules, opSet, opPut}, w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestPinReportsFailedAndKeepsTenantsUnpinnedWhenAStepFails(t *testing.T) {
	boom := errors.New("injected failure")
	tests := []struct {
		name    string
		arrange func(w *fakeaws.World)
		want    string
	}{
		{"list stable deployments", func(w *fakeaws.World) { w.FailNext(opLD, boom) }, "list unfinished deployments of tc-dev/stable"},
		{"read a stable deployment's target", func(w *fakeaws.World) {
			w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
			w.FailNext(opGDT, fakeaws.AccessDenied(opGDT))
		}, "get target tc-dev:stable of deployment d-STABLE01"},
		{"describe rules", func(w *fakeaws.World) { w.FailNext(opRules, boom) }, "describe rules"},
		{"describe rules after the wait", func(w *fakeaws.World) { w.FailNext(opRules, nil, boom) }, "describe rules"},
		{"describe service", func(w *fakeaws.World) { w.FailNext(opDesc, boom) }, "describe service stable"},
		{"service missing", func(w *fakeaws.World) { w.ServiceMissing = true }, "MISSING"},
		{"scale up", func(w *fakeaws.World) { w.FailNext(opUpdate, fakeaws.AccessDenied(opUpdate)) }, "set desired count of stable to 2"},
		{"first poll", func(w *fakeaws.World) { w.FailNext(opHealth, boom) }, "poll 1"},
		{"third poll", func(w *fakeaws.World) { w.PollsUntilHealthy = 5; w.FailNext(opHealth, nil, nil, boom) }, "poll 3"},
		{"set rule priorities", func(w *fakeaws.World) { w.FailNext(opSet, fakeaws.ValidationError("bad priority")) }, "move catch-all rule from priority 1 to 50000"},
		{"catch-all rule gone", func(w *fakeaws.World) { w.Rules = append(w.Rules[:1], w.Rules[2:]...) }, "catch-all rule"},
		{"anchor rule gone", func(w *fakeaws.World) { w.Rules = append(w.Rules[:2], w.Rules[3:]...) },
			"anchor rule " + fakeaws.AnchorRuleARN + " not found on listener"},
		{"primary task set outside the stable pair", func(w *fakeaws.World) { w.StablePrimaryTG = fakeaws.LatestGreenTG },
			"serves target group " + fakeaws.LatestGreenTG + ", which is not one of STABLE_TARGET_GROUP_ARNS"},
		{"repair of a tenant rule", func(w *fakeaws.World) {
			w.StablePrimaryTG = fakeaws.StableGreenTG
			w.FailNext(opModify, fakeaws.AccessDenied(opModify))
		}, "repair rule"},
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

func TestUnpinMovesCatchAllAboveTenantsWhenLatestServesStablesImage(t *testing.T) {
	w := pinnedWorld(3, fakeaws.StableGreenTG)
	h, _ := newHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opRules, opDesc, opTD, opTD, opSet, opPut}, w.Ops(), "moving the catch-all is the last change")
	assert.Equal(t, listed(fakeaws.LatestGroup), w.Calls()[0].Detail, "first: is a newer rollout's canary unfinished?")
	assert.Equal(t, fakeaws.LatestService+","+fakeaws.StableService, w.Calls()[2].Detail, "both services in one call")
	assert.Equal(t, []string{fakeaws.TaskDefLatestV0, fakeaws.TaskDefStableV0}, details(w, opTD))
	assert.Equal(t, fakeaws.CatchAllRuleARN+"=1", w.Calls()[5].Detail, "one priority change: the catch-all only")
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))

	w.Reset()
	require.NoError(t, h.Unpin(context.Background(), hookEvent))
	assert.Equal(t, []string{opLD, opRules, opDesc, opTD, opTD, opPut}, w.Ops(), "a repeated invocation changes nothing")
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

// unpin runs in the Stable deployment's AfterAllowTraffic: stable's
// replacement task set (the approved image) serves through the anchor, the
// original waits out the termination wait for an instant rollback.
func stableInTerminationWait(w *fakeaws.World) *fakeaws.World {
	w.StablePrimaryTG, w.StableTaskDef = fakeaws.StableGreenTG, fakeaws.TaskDefStableV1
	w.ExtraTaskSets = map[string][]fakeaws.TaskSet{fakeaws.StableService: {{TaskDef: fakeaws.TaskDefStableV0, TargetGroup: fakeaws.StableBlueTG}}}
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	for _, r := range w.Tenants() {
		r.Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	}
	w.LatestTaskDef = fakeaws.TaskDefV1
	return w
}

func TestUnpinNeverScalesStableDown(t *testing.T) {
	w := stableInTerminationWait(pinnedWorld(3, fakeaws.StableBlueTG))
	h, _ := newHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opRules, opDesc, opTD, opTD, opSet, opPut}, w.Ops())
	assert.Equal(t, []string{fakeaws.TaskDefV1, fakeaws.TaskDefStableV1}, details(w, opTD),
		"compared with the task set the anchor forwards to, not the original")
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.NotContains(t, w.Ops(), opUpdate)
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired(), "the original task set outlives the termination wait; cleanup scales down")
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
}

func TestUnpinHoldsWhileALatestDeploymentIsUnfinished(t *testing.T) {
	w := stableInTerminationWait(pinnedWorld(3, fakeaws.StableBlueTG))
	w.StartDeployment(fakeaws.LatestGroup, "d-LATEST02", nil) // a newer push's canary
	h, logs := newHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opPut}, w.Ops(), "held before reading anything else")
	assert.Equal(t, []string{"Succeeded"}, statuses(w), "holding is not a failure: the Stable deployment goes on")
	assert.Equal(t, "50000", w.CatchAllPriority(), "pinned tenants stay on stable, which serves what was approved")
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
	assert.Contains(t, logs.String(), `"step":"held"`)
	assert.Contains(t, logs.String(), `"latest_deployment":"d-LATEST02"`)
}

func TestUnpinHoldsWhenLatestServesAnotherImage(t *testing.T) {
	w := stableInTerminationWait(pinnedWorld(3, fakeaws.StableBlueTG))
	w.LatestTaskDef = fakeaws.TaskDefV2 // push B's canary succeeded; B waits at Approve
	h, logs := newHooks(t, w, rollout.HookUnpin)

	require.NoError(t, h.Unpin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opRules, opDesc, opTD, opTD, opPut}, w.Ops())
	assert.Equal(t, []string{"Succeeded"}, statuses(w))
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Contains(t, logs.String(), `"step":"held"`)
	assert.Contains(t, logs.String(), "latest serves "+fakeaws.ImageV2+", stable serves "+fakeaws.ImageV1)
}

func TestUnpinReportsFailedWhenAStepFails(t *testing.T) {
	for _, op := range []string{opLD, opRules, opDesc, opTD, opSet} {
		t.Run(op, func(t *testing.T) {
			w := pinnedWorld(3, fakeaws.StableBlueTG)
			w.FailNext(op, fakeaws.Throttling(op))
			h, _ := newHooks(t, w, rollout.HookUnpin)

			err := h.Unpin(context.Background(), hookEvent)

			require.Error(t, err)
			assert.Contains(t, err.Error(), "Rate exceeded")
			assert.Equal(t, []string{"Failed"}, statuses(w))
			assert.Equal(t, "50000", w.CatchAllPriority())
		})
	}
}

func TestDescribeRulesPagesAreFollowed(t *testing.T) {
	w := fakeaws.NewWorld(5, fakeaws.StableGreenTG) // 8 rules
	w.RulesPageSize = 2
	h, _ := newHooks(t, w, rollout.HookPin)

	require.NoError(t, h.Pin(context.Background(), hookEvent))

	assert.Equal(t, []string{opLD, opTags, opRules, opRules, opRules, opRules, opDesc, opUpdate, opHealth, opRules, opRules, opRules, opRules, opSet, opPut}, w.Ops())
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
	for _, step := range []string{"start", "check-deployments", "wait-unpin", "wait-claims", "read-listener", "scale-up", "wait-healthy", "repair-rules", "move-catch-all", "report"} {
		assert.True(t, steps[step], "no log line for step %s", step)
	}
}
