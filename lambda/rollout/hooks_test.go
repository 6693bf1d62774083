package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// pinAt starts the first push's Latest deployment, d-1: CodeDeploy
// invokes pin at its BeforeInstall. Both pinned tenants of tenants-2 (t0,
// t1) and everyone else are served v0.
func pinAt(t *testing.T, stack string, s protocol.Scenario) (*model, protocol.Invoke) {
	t.Helper()
	m := newModel(t, stack, s)
	m.do("PUSH v1", "exec-1 (v1) enters Latest")
	pin := m.next("CodeDeploy starts d-1")
	m.ResetCalls()
	return m, pin
}

// deploy runs deployment dep from its replacement to its end, with every
// function the model invokes.
func (m *model) deploy(dep string) {
	m.t.Helper()
	m.do(dep+" creates the replacement", dep+" shifts the canary", dep+" shifts all traffic", dep+": termination wait ends")
}

// approved takes the first push through Latest and its approval: v1's
// Stable deployment d-2 is created, not started.
func approved(t *testing.T, stack string, s protocol.Scenario) *model {
	t.Helper()
	m, pin := pinAt(t, stack, s)
	require.NoError(t, m.run(pin))
	m.deploy("d-1")
	m.do("exec-1 (v1) enters Approve", "APPROVE exec-1", "exec-1 (v1) enters Stable")
	return m
}

// unpinAt takes the first push to its Stable deployment's AfterAllowTraffic:
// stable's replacement (v1) serves the pinned tenants, and CodeDeploy
// invokes unpin.
func unpinAt(t *testing.T, stack string, s protocol.Scenario) (*model, protocol.Invoke) {
	t.Helper()
	m := approved(t, stack, s)
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary")
	unpin := m.next("d-2 shifts all traffic")
	m.ResetCalls()
	return m, unpin
}

// claimSequence checks what the sequence is the point of: pin looks for a
// running unpin first, then for a claim, before it reads the listener, and
// moves the catch-all in one SetRulePriorities, its last change before the
// report.
func claimSequence(t *testing.T, m *model) {
	t.Helper()
	ops := m.Ops()
	require.NotEmpty(t, ops)
	assert.Equal(t, opLD, ops[0], "first: is an earlier rollout's unpin running?")
	assert.Less(t, slices.Index(ops, opTags), slices.Index(ops, opRules), "the claims are read before the listener")
	assert.Equal(t, []string{m.catchAllName() + "=" + m.env(contract.EnvCatchAllPriorityPinned) + " "}, m.details(opSet), "one SetRulePriorities: the catch-all only")
	assert.Equal(t, []string{opSet, opPut}, ops[len(ops)-2:], "moving the catch-all is the last change")
}

func TestPinScalesStableWaitsForHealthThenMovesCatchAllOnce(t *testing.T) {
	for _, onGreen := range []bool{false, true} {
		t.Run(map[bool]string{false: "stable on blue", true: "stable on green"}[onGreen], func(t *testing.T) {
			m, pin := pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: onGreen})
			m.HealthByEvent()
			stableTG := m.primaryTG(m.env(contract.EnvStableServiceName))
			require.Equal(t, m.stableTGs()[map[bool]int{false: 0, true: 1}[onGreen]], stableTG)
			m.Before(opHealth, 3, func() { require.NoError(t, m.Do("turns healthy")) })

			require.NoError(t, m.run(pin))

			claimSequence(t, m)
			assert.Equal(t, []string{stableTG, stableTG, stableTG}, m.details(opHealth), "waits on the target group of stable's primary task set until its tasks are healthy")
			assert.Empty(t, m.details(opModify), "the rules already forward to stable's group")
			assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
			assert.Equal(t, m.env(contract.EnvStableDesiredCount), itoa(m.stableDesired()))
			assert.Equal(t, []protocol.Report{{DeploymentID: "d-1", ExecutionID: "d-1-BeforeInstall", Status: "Succeeded"}}, m.Reports())
			for _, tenant := range []string{"t0", "t1"} {
				assert.Equal(t, []int{0}, m.served(tenant), "pinned tenant %s stays on the approved version", tenant)
			}
		})
	}
}

// A tenant rule `pulumi up` planned before the last Stable deployment moved
// stable to green is created on blue, the group stable left: pin forwards
// it to the group stable's primary task set serves, and a second run of
// the same event after the first one's report was lost repairs nothing
// (Lambda may deliver an asynchronous event more than once, "even if your
// function doesn't return an error",
// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
func TestPinFollowsThePrimaryTaskSetAndRepairsRulesOnTheOtherGroup(t *testing.T) {
	m, pin := pinAt(t, "tenants-1", protocol.Scenario{StableOnGreen: true, StalePlan: true})
	blue, green := m.stableTGs()[0], m.stableTGs()[1]
	require.NoError(t, m.Do("pulumi up creates tenant late's rule"))
	late := m.tenantRule("late")
	require.Equal(t, blue, late.Forward[0].TG)
	m.FailNext(opPut, fakeaws.ServerError())

	require.Error(t, m.run(pin), "the report was lost")

	assert.Equal(t, []string{green, blue}, m.details(opHealth), "waits on the primary task set's group, then finds no healthy target on the other before repairing")
	assert.Equal(t, []protocol.Weighted{{TG: green, Weight: 100}}, m.rule(late.ARN).Forward, "a plain forward to the group stable serves")
	assert.Equal(t, []int{0}, m.served("late"))
	assert.Equal(t, []int{0}, m.served("t0"))
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, 1, strings.Count(m.logs.String(), `"msg":"rule repaired"`), "the repair is logged")

	m.ResetCalls()
	require.NoError(t, m.run(pin))
	assert.NotContains(t, m.Ops(), opModify, "a repeated run repairs nothing")
	assert.NotContains(t, m.Ops(), opSet)
	assert.NotContains(t, m.Ops(), opUpdate)
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

// The anchor is stable's permanent rule: pin repairs it like a tenant rule
// (it must forward where stable serves) but never counts it as a tenant.
func TestPinRepairsTheAnchorWithTheTenantRulesButNeverCountsIt(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	blue, green := m.stableTGs()[0], m.stableTGs()[1]
	anchor := m.env(contract.EnvAnchorRuleARN)
	m.setForward(anchor, green, blue)
	m.ResetCalls()

	require.NoError(t, m.run(pin))

	assert.Equal(t, []protocol.Weighted{{TG: blue, Weight: 100}}, m.rule(anchor).Forward)
	assert.Len(t, m.details(opModify), 1, "the anchor only: the tenant rules forward to blue already")
	assert.Contains(t, m.logs.String(), `"tenant_rules":2,`)
	assert.Equal(t, []string{"Succeeded"}, m.statuses())

	// The anchor alone is no pinned tenant, and pin still pins (a tenant
	// added during the rollout is then pinned at once).
	m, pin = pinAt(t, "tenants-0", protocol.Scenario{})
	require.NoError(t, m.run(pin))
	assert.Contains(t, m.logs.String(), `"tenant_rules":0,`)
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

// A tenant added while stable's tasks start: `pulumi up` creates its rule
// on the pair's first group, blue, while stable serves from green. Pin
// reads the listener again after the wait and repairs the rule before the
// catch-all moves.
func TestPinRereadsListenerAfterHealthWait(t *testing.T) {
	m, pin := pinAt(t, "tenants-1", protocol.Scenario{StableOnGreen: true, StalePlan: true})
	m.HealthByEvent()
	green := m.stableTGs()[1]
	var priorityWhenAdded int
	m.Before(opHealth, 1, func() {
		priorityWhenAdded = m.catchAllPriority()
		require.NoError(t, m.Do("pulumi up creates tenant late's rule"))
		require.NoError(t, m.Do("turns healthy"))
	})

	require.NoError(t, m.run(pin))

	require.Equal(t, m.unpinnedPriority(), priorityWhenAdded, "the rule came after pin's first read")
	late := m.tenantRule("late")
	assert.Equal(t, []protocol.Weighted{{TG: green, Weight: 100}}, late.Forward)
	assert.Equal(t, []int{0}, m.served("late"))
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Less(t, slices.Index(m.Ops(), opModify), slices.Index(m.Ops(), opSet), "repaired before the catch-all moves")
	require.NoError(t, m.Check())
}

// pinDuringUnpin is a second push's pin while the first push's unpin runs:
// v1's Stable deployment d-2 is at AfterAllowTraffic (its unpin invoked,
// returned), v2's Latest deployment d-3 starts.
func pinDuringUnpin(t *testing.T, s protocol.Scenario) (m *model, unpin, pin protocol.Invoke) {
	t.Helper()
	m = approved(t, "tenants-2", s)
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "PUSH v2", "exec-2 (v2) enters Latest")
	unpin = m.next("d-2 shifts all traffic")
	pin = m.next("CodeDeploy starts d-3")
	m.ResetCalls()
	return m, unpin, pin
}

func TestPinWaitsWhileAnEarlierUnpinRuns(t *testing.T) {
	m, unpin, pin := pinDuringUnpin(t, protocol.Scenario{})
	readBeforeUnpinEnded := true
	m.Before(opGDT, 2, func() { // the unpin runs and ends during pin's second poll
		readBeforeUnpinEnded = slices.Contains(m.Ops(), opRules) || slices.Contains(m.Ops(), opTags)
		assert.NoError(t, m.run(unpin))
	})

	require.NoError(t, m.run(pin))

	assert.False(t, readBeforeUnpinEnded, "nothing read or changed while the unpin runs")
	// (the model answers a target id other than <cluster>:<service> with
	// DeploymentTargetDoesNotExistException, which pin reads as "not
	// started": it would not have waited)
	assert.Contains(t, m.logs.String(), "an earlier rollout's unpin is running: waiting for it to end")
	assert.Equal(t, []protocol.Report{
		{DeploymentID: "d-2", ExecutionID: "d-2-AfterAllowTraffic", Status: "Succeeded"},
		{DeploymentID: "d-3", ExecutionID: "d-3-BeforeInstall", Status: "Succeeded"}}, m.Reports())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []int{1}, m.served("t0"), "the pinned tenants stay on the approved v1")
}

// A Stable deployment not yet at its AfterAllowTraffic has no unpin
// running: pin goes on (the model's d-2 before it starts, while it shifts,
// and in its termination wait).
func TestPinDoesNotWaitForAStableDeploymentWhoseUnpinIsNotRunning(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps []string
	}{
		{"not started: no deployment target yet", nil},
		{"shifting traffic: AfterAllowTraffic pending", []string{"CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary"}},
		{"in the termination wait: AfterAllowTraffic succeeded", []string{"CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "d-2 shifts all traffic"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := approved(t, "tenants-2", protocol.Scenario{})
			m.do(tt.steps...)
			m.do("PUSH v2", "exec-2 (v2) enters Latest")
			pin := m.next("CodeDeploy starts d-3")
			m.ResetCalls()

			require.NoError(t, m.run(pin))

			assert.Equal(t, 1, strings.Count(strings.Join(m.Ops(), " "), opLD), "one look at the Stable deployments")
			assert.NotContains(t, m.logs.String(), "waiting for it to end")
			assert.Equal(t, []string{"Succeeded"}, m.statuses())
			assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
		})
	}
}

func TestPinFollowsListDeploymentsPages(t *testing.T) {
	m, unpin, pin := pinDuringUnpin(t, protocol.Scenario{PageSize: 1})
	m.Before(opGDT, 2, func() { assert.NoError(t, m.run(unpin)) })

	require.NoError(t, m.run(pin))

	assert.Contains(t, m.logs.String(), "an earlier rollout's unpin is running", "the running unpin is found with one deployment a page")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded", "Succeeded"}, m.statuses())
}

func TestPinGivesUpWaitingForAnUnpinAndReportsFailedInTime(t *testing.T) {
	m, _, pin := pinDuringUnpin(t, protocol.Scenario{})
	h := m.hooks(contract.HookPin)
	h.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()

	err := m.runWith(ctx, h, pin)

	require.Error(t, err)
	// The deadline ends the wait during a sleep or during a poll's call
	// (the SDK fails a call whose context has ended): either way the error
	// says what it waited on.
	assert.Regexp(t, `gave up waiting for the unpin hook of Stable deployment d-2 after \d+ polls`, err.Error())
	assert.NotContains(t, m.Ops(), opRules, "nothing read or changed while the unpin runs")
	assert.NotContains(t, m.Ops(), opUpdate)
	assert.Equal(t, []string{"Failed"}, m.statuses())
	m.Inspect(func(w *protocol.World) { assert.Equal(t, "Failed", w.Deployments[2].Status, "CodeDeploy fails d-3") })
}

// claim tags the catch-all rule through the model's API, as a cleanup or
// rollback does before it reads anything.
func (m *model) claim(key, value string) {
	m.t.Helper()
	_, err := m.API().AddTags(context.Background(), &elbv2.AddTagsInput{ResourceArns: []string{m.env(contract.EnvCatchAllRuleARN)},
		Tags: []elbtypes.Tag{{Key: aws.String(key), Value: aws.String(value)}}})
	require.NoError(m.t, err)
}

func (m *model) release(key string) {
	m.t.Helper()
	_, err := m.API().RemoveTags(context.Background(), &elbv2.RemoveTagsInput{ResourceArns: []string{m.env(contract.EnvCatchAllRuleARN)}, TagKeys: []string{key}})
	require.NoError(m.t, err)
}

// A cleanup or rollback tags the catch-all rule before it reads anything;
// pin, whose unfinished Latest deployment the other side would see, waits
// while such a claim is unexpired, so the two never act on the catch-all
// at once.
func TestPinWaitsWhileACleanupHoldsItsClaim(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	key := contract.ReleaseTagPrefix + "c0ffee00-0000-4000-8000-000000000001"
	m.claim(key, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	m.claim("team", "payments") // not a claim
	m.ResetCalls()
	var priorityWhileHeld, desiredWhileHeld int
	m.Before(opTags, 2, func() { // the cleanup releases its claim during pin's second poll
		priorityWhileHeld, desiredWhileHeld = m.catchAllPriority(), m.stableDesired()
		m.release(key)
	})

	require.NoError(t, m.run(pin))

	ops := slices.DeleteFunc(m.Ops(), func(op string) bool { return op == opRemove }) // the cleanup's
	assert.Equal(t, []string{opLD, opTags, opTags, opRules}, ops[:4], "waits after the unpin guard and before it reads the listener")
	assert.Equal(t, m.unpinnedPriority(), priorityWhileHeld, "nothing moves while the claim is held")
	assert.Zero(t, desiredWhileHeld, "nothing scales while the claim is held")
	assert.Contains(t, m.logs.String(), "a cleanup, rollback or unpin holds the catch-all rule: waiting")
	assert.Contains(t, m.logs.String(), `"tag":"`+key+`"`)
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

// A claim's value is when it expires: a cleanup that died holding it
// delays pin, never blocks it.
func TestPinIgnoresAnExpiredClaim(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.claim(contract.ReleaseTagPrefix+"dead", time.Now().Add(-time.Second).UTC().Format(time.RFC3339))
	m.ResetCalls()

	require.NoError(t, m.run(pin))

	assert.Equal(t, 1, count(m.Ops(), opTags), "one look, no wait")
	assert.NotContains(t, m.logs.String(), "holds the catch-all rule: waiting")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

func TestPinGivesUpWaitingForAClaimAndReportsFailedInTime(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.claim(claimKey, time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	h := m.hooks(contract.HookPin)
	h.PollInterval = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()

	err := m.runWith(ctx, h, pin)

	require.Error(t, err)
	assert.Regexp(t, `gave up waiting for claim `+claimKey+` on the catch-all rule after \d+ polls`, err.Error(),
		"the wait says what it gave up on, whether the deadline came during a sleep or a poll")
	assert.NotContains(t, m.Ops(), opRules, "nothing read or changed while the claim is held")
	assert.Equal(t, []string{"Failed"}, m.statuses())
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
	assert.Zero(t, m.stableDesired())

	// DescribeTags failing fails pin the same way.
	m, pin = pinAt(t, "tenants-2", protocol.Scenario{})
	m.FailNext(opTags, fakeaws.AccessDenied(opTags))
	assert.ErrorContains(t, m.run(pin), "describe tags of the catch-all rule")
	assert.Equal(t, []string{opLD, opTags, opPut}, m.Ops())
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
}

// While v1's Stable deployment shifts its canary step, the tenant rules
// split between stable's groups belong to CodeDeploy: a second push's pin
// leaves them as they are.
func TestPinLeavesRulesCodeDeployIsShifting(t *testing.T) {
	m := approved(t, "tenants-2", protocol.Scenario{})
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "PUSH v2", "exec-2 (v2) enters Latest")
	split := m.rules(protocol.KindTenant)
	require.Len(t, split[0].Forward, 2)
	require.NotZero(t, split[0].Forward[1].Weight, "the canary step splits the tenant rules")
	pin := m.next("CodeDeploy starts d-3")
	m.ResetCalls()

	require.NoError(t, m.run(pin))

	assert.Empty(t, m.details(opModify))
	assert.Equal(t, split, m.rules(protocol.KindTenant), "split weights are CodeDeploy's")
	assert.Contains(t, m.logs.String(), "left to CodeDeploy")
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

// Pin reads stable's primary task set (blue, v0) while v1's Stable
// deployment is mid-canary; during pin's health wait CodeDeploy shifts all
// of it to the replacement (green, healthy). Pin re-reads the listener and
// finds the rules on green, the group it did not read as active: they are
// CodeDeploy's, and moving them back would put the pinned tenants on the
// original task set the termination wait then removes.
func TestPinLeavesRulesAStableDeploymentMovedDuringItsWait(t *testing.T) {
	m := approved(t, "tenants-2", protocol.Scenario{})
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "PUSH v2", "exec-2 (v2) enters Latest")
	blue, green := m.stableTGs()[0], m.stableTGs()[1]
	pin := m.next("CodeDeploy starts d-3")
	m.ResetCalls()
	m.Before(opHealth, 1, func() { require.NoError(t, m.Do("d-2 shifts all traffic")) })

	require.NoError(t, m.run(pin))

	require.Equal(t, []string{blue}, m.details(opHealth)[:1], "pin read blue as stable's active group")
	for _, r := range m.rules(protocol.KindTenant) {
		assert.Equal(t, []string{green}, weighted(r), "rule %s stays where CodeDeploy put it", r.ARN)
	}
	assert.Empty(t, m.details(opModify))
	assert.Contains(t, m.logs.String(), "left to CodeDeploy")
	for _, inv := range m.Invocations() { // d-2's unpin: holds for d-3
		require.NoError(t, m.run(inv))
	}
	m.do("d-2: termination wait ends")
	assert.Equal(t, []int{1}, m.served("t0"), "the pinned tenants are served the approved v1 after the original task set is gone")
	require.NoError(t, m.Check())
}

// The report leaves the function even when its invocation's context has
// ended (Lambda's deadline, a cancellation): CodeDeploy would otherwise
// wait out the hook's whole timeout.
func TestPinReportsEvenWhenItsInvocationContextHasEnded(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	err := m.runWith(ctx, m.hooks(contract.HookPin), pin)

	require.Error(t, err)
	assert.Equal(t, []string{"Failed"}, m.statuses(), "CodeDeploy got the report")
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
}

func TestPinRuleRepairFailureReportsFailedAndLeavesTheCatchAll(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: true})
	blue, green := m.stableTGs()[0], m.stableTGs()[1]
	rules := m.rules(protocol.KindTenant)
	for _, r := range rules {
		m.setForward(r.ARN, blue, green)
	}
	m.FailNext(opModify, nil, fakeaws.ValidationError("bad action"))

	err := m.run(pin)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad action")
	assert.Contains(t, err.Error(), "repair rule ")
	assert.Contains(t, err.Error(), "(forward to "+green+" instead of "+blue+")")
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority(), "catch-all not moved while a tenant rule points at the empty group")
	assert.Equal(t, []string{"Failed"}, m.statuses())
}

// With an empty allow-list pin still scales stable up, waits for its
// health and moves the catch-all below the tenant rules: a tenant rule that
// `pulumi up` creates during the rollout is then pinned the moment it
// exists, never served the canary through the catch-all.
func TestPinWithoutPinnedTenantsStillPinsSoATenantAddedMidRolloutIsPinned(t *testing.T) {
	m, pin := pinAt(t, "tenants-0", protocol.Scenario{Edits: 1})

	require.NoError(t, m.run(pin))

	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, m.env(contract.EnvStableDesiredCount), itoa(m.stableDesired()))
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
	m.do("pulumi up: pin new tenant t0", "pulumi up creates tenant t0's rule", "d-1 creates the replacement", "d-1 shifts the canary", "d-1 shifts all traffic")
	assert.Equal(t, []int{0}, m.served("t0"), "the tenant added mid-rollout never sees v1")
	assert.Equal(t, []int{1}, m.served(""))
}

func TestPinNeverLowersAHigherDesiredCount(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	_, err := m.API().UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String(m.env(contract.EnvClusterName)),
		Service: aws.String(m.env(contract.EnvStableServiceName)), DesiredCount: aws.Int32(5)})
	require.NoError(t, err)
	m.ResetCalls()

	require.NoError(t, m.run(pin))

	assert.NotContains(t, m.Ops(), opUpdate)
	assert.Equal(t, 5, m.stableDesired())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

// An invocation that did part of the work (scaled stable, then failed
// without a report reaching CodeDeploy) is run again for the same event
// (see above); the second run finishes the job without scaling again.
func TestPinAfterAPartialRunFinishesTheJob(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.FailNext(opSet, fakeaws.ServerError())
	m.FailNext(opPut, fakeaws.ServerError())
	require.Error(t, m.run(pin))
	require.Equal(t, 2, m.stableDesired())
	require.Empty(t, m.Reports())
	m.ResetCalls()

	require.NoError(t, m.run(pin))

	assert.NotContains(t, m.Ops(), opUpdate)
	assert.Len(t, m.details(opSet), 1)
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

func TestPinReportsFailedAndKeepsTenantsUnpinnedWhenAStepFails(t *testing.T) {
	boom := errors.New("injected failure")
	type arrange func(m *model) []string // returns env changes
	tests := []struct {
		name    string
		arrange arrange
		want    string
	}{
		{"list stable deployments", func(m *model) []string { m.FailNext(opLD, boom); return nil }, "list unfinished deployments of " + "%app/%stable"},
		{"describe rules", func(m *model) []string { m.FailNext(opRules, boom); return nil }, "describe rules"},
		{"describe rules after the wait", func(m *model) []string { m.FailNext(opRules, nil, boom); return nil }, "describe rules"},
		{"describe service", func(m *model) []string { m.FailNext(opDesc, boom); return nil }, "describe service %stablesvc"},
		{"service missing", func(m *model) []string { return []string{contract.EnvStableServiceName, "gone"} }, "MISSING"},
		{"scale up", func(m *model) []string { m.FailNext(opUpdate, fakeaws.AccessDenied(opUpdate)); return nil }, "set desired count of %stablesvc to 2"},
		{"first poll", func(m *model) []string { m.FailNext(opHealth, boom); return nil }, "poll 1"},
		{"third poll", func(m *model) []string { m.HealthByEvent(); m.FailNext(opHealth, nil, nil, boom); return nil }, "poll 3"},
		{"set rule priorities", func(m *model) []string { m.FailNext(opSet, fakeaws.ValidationError("bad priority")); return nil },
			"move catch-all rule from priority 1 to 50000"},
		{"catch-all rule gone", func(m *model) []string {
			return []string{contract.EnvCatchAllRuleARN, m.env(contract.EnvCatchAllRuleARN) + "-gone"}
		}, "catch-all rule"},
		{"anchor rule gone", func(m *model) []string {
			return []string{contract.EnvAnchorRuleARN, m.env(contract.EnvAnchorRuleARN) + "-gone"}
		}, "anchor rule %anchor-gone not found on listener"},
		{"primary task set outside the stable pair", func(m *model) []string {
			latest := m.rule(m.env(contract.EnvCatchAllRuleARN)).Forward // latest's pair
			return []string{contract.EnvStableTargetGroupARNs, latest[0].TG + "," + latest[1].TG}
		}, "serves target group %blue, which is not one of STABLE_TARGET_GROUP_ARNS"},
		{"repair of a tenant rule", func(m *model) []string {
			m.setForward(m.rules(protocol.KindTenant)[0].ARN, m.stableTGs()[1], m.stableTGs()[0])
			m.FailNext(opModify, fakeaws.AccessDenied(opModify))
			return nil
		}, "repair rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
			set := tt.arrange(m)
			m.ResetCalls()
			want := strings.NewReplacer("%app", m.env(contract.EnvCodeDeployApplicationName), "%stablesvc", m.env(contract.EnvStableServiceName),
				"%stable", m.env(contract.EnvStableDeploymentGroupName), "%anchor", m.env(contract.EnvAnchorRuleARN),
				"%blue", m.stableTGs()[0]).Replace(tt.want)

			err := m.runWith(context.Background(), m.hooks(contract.HookPin, set...), pin)

			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			assert.Equal(t, []string{"Failed"}, m.statuses())
			assert.Equal(t, opPut, m.Ops()[len(m.Ops())-1], "the report is the last call")
			assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority(), "tenants must not be pinned to an unverified target group")
			assert.Contains(t, m.logs.String(), want, "the reason is logged")
		})
	}
}

func TestPinReportsFailedInTimeWhenTargetsNeverBecomeHealthy(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.HealthByEvent() // and the event never comes
	h := m.hooks(contract.HookPin)
	h.PollInterval = 10 * time.Millisecond
	spy := &reportSpy{CodeDeploy: h.CodeDeploy}
	h.CodeDeploy = spy
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()

	start := time.Now()
	err := m.runWith(ctx, h, pin)

	require.Error(t, err)
	// The deadline ends the wait during a sleep or during a poll's call
	// (the SDK fails a call whose context has ended): either way the error
	// says what it waited on.
	assert.Regexp(t, `gave up waiting for 2 healthy targets in `+m.stableTGs()[0]+` after \d+ polls`, err.Error())
	assert.Less(t, time.Since(start), 800*time.Millisecond, "the wait must end before the invocation's deadline")
	assert.Equal(t, []string{"Failed"}, m.statuses())
	assert.Equal(t, []error{nil}, spy.ctxErrs, "the report is sent with a live context")
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
}

func TestPinRecoversFromAPanicAndReportsFailed(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	m.PanicOn(opHealth)

	var err error
	require.NotPanics(t, func() { err = m.run(pin) })

	require.Error(t, err)
	assert.Contains(t, err.Error(), "panic: protocol: injected panic in DescribeTargetHealth")
	assert.Equal(t, []string{"Failed"}, m.statuses())
	assert.Contains(t, m.logs.String(), `"step":"panic"`)
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
}

func TestHookReturnsAnErrorWhenTheReportItselfFails(t *testing.T) {
	m, pin := pinAt(t, "tenants-1", protocol.Scenario{})
	m.FailNext(opPut, fakeaws.AccessDenied(opPut))

	err := m.run(pin)

	require.Error(t, err, "Lambda must see the failure so the invocation can be retried")
	assert.Contains(t, err.Error(), "report Succeeded to CodeDeploy")
	assert.Equal(t, 1, strings.Count(strings.Join(m.Ops(), " "), opPut), "reported exactly once")
	assert.Empty(t, m.Reports())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
}

func TestHookReportsBothTheStepAndTheReportFailure(t *testing.T) {
	m, pin := pinAt(t, "tenants-1", protocol.Scenario{})
	m.FailNext(opRules, errors.New("rules down"))
	m.FailNext(opPut, errors.New("codedeploy down"))

	err := m.run(pin)

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
		{"no deployment id", `{"LifecycleEventHookExecutionId":"d-1-BeforeInstall"}`, "DeploymentId missing", []string{opPut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := pinAt(t, "tenants-1", protocol.Scenario{})
			var ev rollout.LifecycleEvent
			require.NoError(t, json.Unmarshal([]byte(tt.event), &ev))

			err := m.hooks(contract.HookPin).Pin(context.Background(), ev)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.wantOps, m.Ops(), "no work on a malformed event")
			assert.Empty(t, m.Reports(), "CodeDeploy accepts no report without its deployment id")
		})
	}
}

func TestMisconfiguredHookReportsFailedWithTheConfigError(t *testing.T) {
	m, unpin := unpinAt(t, "tenants-1", protocol.Scenario{})
	m.ResetCalls()
	_, cfgErr := rollout.ConfigFromEnv(lookupIn(map[string]string{}), rollout.HookUnpin)
	require.Error(t, cfgErr)
	api := m.API()
	h := &rollout.Hooks{ConfigErr: cfgErr, ECS: api, ELB: api, CodeDeploy: api, Logger: rollout.NewLogger(&bytes.Buffer{})}

	err := m.runWith(context.Background(), h, unpin)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "LISTENER_ARN is not set")
	assert.Equal(t, []string{opPut}, m.Ops())
	assert.Equal(t, []string{"Failed"}, m.statuses())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority(), "the tenants stay pinned")
}

// unpin runs in the Stable deployment's AfterAllowTraffic: stable's
// replacement task set (the approved v1) serves through the anchor and the
// tenant rules, the original waits out the termination wait for an
// instant rollback; latest serves v1 too.
func TestUnpinMovesCatchAllAboveTenantsWhenLatestServesStablesImage(t *testing.T) {
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
	m.ResetCalls()

	require.NoError(t, m.run(unpin))

	assert.Equal(t, []string{opAdd, opGD, opGDT, opLD}, m.Ops()[:4], "first the claim on the catch-all, then: has its own Stable deployment ended? is a newer rollout's canary unfinished?")
	assert.Equal(t, []string{"[" + m.env(contract.EnvLatestServiceName) + " " + m.env(contract.EnvStableServiceName) + "]"}, m.details(opDesc), "both services in one call")
	assert.Equal(t, []string{m.catchAllName() + "=" + m.env(contract.EnvCatchAllPriorityUnpinned) + " "}, m.details(opSet), "one priority change: the catch-all only")
	assert.Equal(t, []string{opSet, opRemove, opPut}, m.Ops()[len(m.Ops())-3:], "moving the catch-all is the last change; then the claim goes")
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority())
	assert.NotContains(t, m.Ops(), opUpdate)
	m.Inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			assert.Empty(t, r.Tags, "the claim is removed")
		}
	})
	assert.Equal(t, 2, m.stableDesired(), "the original task set outlives the termination wait; cleanup scales down")
	for _, tenant := range []string{"t0", "t1", ""} {
		assert.Equal(t, []int{1}, m.served(tenant), "everyone on the approved v1")
	}
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
	require.NoError(t, m.Check())
}

// A newer push's canary, d-3, is created (listed Created, or Queued under
// the reading that shows CodeDeploy's extra statuses) when the approved
// push's unpin runs: unpin holds, or the pinned tenants would be served
// v2 the moment d-3 shifts.
func TestUnpinHoldsWhileALatestDeploymentIsUnfinished(t *testing.T) {
	for _, reading := range []protocol.Reading{{}, {QueuedAndBaking: true}} {
		t.Run(reading.String(), func(t *testing.T) {
			m := approved(t, "tenants-2", protocol.Scenario{Reading: reading})
			m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary",
				"PUSH v2", "exec-2 (v2) enters Latest") // a newer push's canary, d-3
			unpin := m.next("d-2 shifts all traffic")
			m.ResetCalls()

			require.NoError(t, m.run(unpin))

			assert.Equal(t, []string{opAdd, opGD, opGDT, opLD, opRemove, opPut}, m.Ops(), "held before reading anything else but its own deployment")
			assert.Equal(t, []string{"Succeeded"}, m.statuses(), "holding is not a failure: the Stable deployment goes on")
			assert.Equal(t, m.pinnedPriority(), m.catchAllPriority(), "pinned tenants stay on stable, which serves what was approved")
			assert.Contains(t, m.logs.String(), `"step":"held"`)
			assert.Contains(t, m.logs.String(), `"latest_deployment":"d-3"`)
			m.do("CodeDeploy starts d-3")
			m.deploy("d-3")
			assert.Equal(t, []int{1}, m.served("t0"), "the pinned tenant never sees v2")
			assert.Equal(t, []int{2}, m.served(""))
		})
	}
}

func TestUnpinHoldsWhenLatestServesAnotherImage(t *testing.T) {
	m := approved(t, "tenants-2", protocol.Scenario{})
	m.do("CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary", "PUSH v2", "exec-2 (v2) enters Latest", "CodeDeploy starts d-3")
	m.deploy("d-3")
	m.do("exec-2 (v2) enters Approve") // v2's canary succeeded; v2 waits at Approve
	unpin := m.next("d-2 shifts all traffic")
	m.ResetCalls()

	require.NoError(t, m.run(unpin))

	assert.Equal(t, []string{"Succeeded"}, m.statuses())
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []int{1}, m.served("t0"), "pinned tenants stay on the approved v1, never v2")
	assert.Equal(t, []int{2}, m.served(""))
	assert.Contains(t, m.logs.String(), `"step":"held"`)
	assert.Contains(t, m.logs.String(), "latest serves "+m.Image(2)+", stable serves "+m.Image(1))
}

func TestUnpinReportsFailedWhenAStepFails(t *testing.T) {
	for _, op := range []string{opLD, opRules, opDesc, opTD, opSet} {
		t.Run(op, func(t *testing.T) {
			m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{})
			m.FailNext(op, fakeaws.Throttling(op))

			err := m.run(unpin)

			require.Error(t, err)
			assert.Contains(t, err.Error(), "Rate exceeded")
			assert.Equal(t, []string{"Failed"}, m.statuses())
			assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
		})
	}
}

// The model serves one rule a page (DescribeRules promises at most the
// page size asked): pin finds the catch-all, the anchor and every tenant
// rule only by following NextMarker.
func TestDescribeRulesPagesAreFollowed(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{PageSize: 1})
	m.setForward(m.rules(protocol.KindTenant)[1].ARN, m.stableTGs()[1], m.stableTGs()[0]) // the last rule by priority

	require.NoError(t, m.run(pin))

	assert.Len(t, m.details(opRules), 2*5, "two reads of five rules, a page each")
	assert.Equal(t, []protocol.Weighted{{TG: m.stableTGs()[0], Weight: 100}}, m.rules(protocol.KindTenant)[1].Forward, "the last page's rule is repaired")
	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority())
	assert.Equal(t, []string{"Succeeded"}, m.statuses())
}

func TestEveryLogLineCarriesDeploymentHookStepAndDuration(t *testing.T) {
	m, pin := pinAt(t, "tenants-2", protocol.Scenario{})
	require.NoError(t, m.run(pin))

	lines := strings.Split(strings.TrimSpace(m.logs.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	steps := map[string]bool{}
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		assert.Equal(t, "d-1", rec["deployment_id"], line)
		assert.Equal(t, "pin", rec["hook"], line)
		assert.Contains(t, rec, "duration_ms", line)
		steps[rec["step"].(string)] = true
	}
	for _, step := range []string{"start", "check-deployments", "wait-unpin", "wait-claims", "read-listener", "scale-up", "wait-healthy", "repair-rules", "move-catch-all", "report"} {
		assert.True(t, steps[step], "no log line for step %s", step)
	}
}

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

// An alarm stops the Stable deployment d-2 while CodeDeploy's invocation of
// its unpin is on its way (CodeDeploy's documentation does not say that a
// stopped deployment's running hook is stopped, and Lambda cannot stop it):
// traffic is still on the replacement (v1, approved), latest serves v1 and
// no Latest deployment is unfinished, so every other check would release.
// An ended deployment's unpin releases nothing: that deployment's cleanup
// decides, and a newer rollout's pin must not find its tenants released
// behind its back.
func TestUnpinOfAStoppedStableDeploymentReleasesNothing(t *testing.T) {
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{Alarms: 1})
	require.NoError(t, m.Do("ALARM during d-2")) // its cleanup is not run: unpin comes first
	m.ResetCalls()

	err := m.run(unpin)

	// The stopped deployment refuses the report (the model's answer); the
	// work before it is what counts.
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LifecycleEventAlreadyCompletedException")

	assert.Equal(t, m.pinnedPriority(), m.catchAllPriority(), "the pinned tenants stay on stable")
	assert.NotContains(t, m.Ops(), opSet)
	assert.Equal(t, []string{opAdd, opGD, opGDT, opRemove}, m.Ops()[:4], "held on its own deployment, read under the claim")
	assert.Contains(t, m.logs.String(), `"step":"held"`)
	assert.Contains(t, m.logs.String(), "AfterAllowTraffic event of its Stable deployment d-2 is no longer in progress")
	m.Inspect(func(w *protocol.World) {
		for _, r := range w.Rules {
			assert.Empty(t, r.Tags, "the claim is removed")
		}
	})
}

// unpin holds its claim on the catch-all rule from before its first check
// until after it moved the catch-all, so a newer rollout's pin that looks
// at the tags meanwhile waits for it (and here, where the unpin is held at
// its move for the whole of pin's deadline, gives up having changed
// nothing) instead of pinning a moment before the unpin releases.
func TestPinWaitsForTheClaimOfAnUnpinAboutToRelease(t *testing.T) {
	m, unpin := unpinAt(t, "tenants-2", protocol.Scenario{Pushes: 2, Alarms: 1})
	var pinErr error
	m.Before(opSet, 1, func() {
		var claims []string
		m.Inspect(func(w *protocol.World) {
			for _, r := range w.Rules {
				for key := range r.Tags {
					claims = append(claims, key)
				}
			}
		})
		assert.Len(t, claims, 1, "unpin's claim is on the catch-all rule when it moves it")
		// The story the explorer found: an alarm stops d-2 after unpin's
		// checks, and the next push's pin runs before unpin moves.
		require.NoError(t, m.Do("ALARM during d-2"))
		m.do("PUSH v2", "exec-2 (v2) enters Latest")
		pin := m.next("CodeDeploy starts d-3")
		h := m.hooks(contract.HookPin)
		h.PollInterval = 10 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		before := len(m.Ops())
		pinErr = m.runWith(ctx, h, pin)
		assert.NotContains(t, m.Ops()[before:], opRules, "pin reads nothing while the claim is held")
		assert.NotContains(t, m.Ops()[before:], opUpdate)
	})

	err := m.run(unpin)

	require.Error(t, err, "the stopped deployment refuses unpin's report")
	assert.Contains(t, err.Error(), "LifecycleEventAlreadyCompletedException")
	require.Error(t, pinErr)
	assert.Contains(t, pinErr.Error(), "gave up waiting for claim "+contract.ReleaseTagPrefix)
	assert.Equal(t, m.unpinnedPriority(), m.catchAllPriority(), "the unpin moved the catch-all (onto latest, still v1: d-3 has not shifted)")
	for _, tenant := range []string{"t0", "t1", ""} {
		assert.Equal(t, []int{1}, m.served(tenant), "everyone on the approved v1")
	}
}
