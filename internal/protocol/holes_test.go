package protocol

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// script drives one world through named events, checking every invariant
// after every step, so a regression test reads as the story it tells.
type script struct {
	t *testing.T
	s Scenario
	w *World
	// expect, when set, is a violation the story is known to reach (a
	// finding the hooks have yet to fix): the first violation must be
	// this one, and the story stops there.
	expect string
	found  *Violation
}

func newScript(t *testing.T, s Scenario) *script {
	t.Helper()
	if s.Depth == 0 {
		s.Depth = 1000
	}
	w := newWorld(s)
	t.Cleanup(w.abort)
	return &script{t: t, s: s, w: w}
}

// do takes the first enabled event whose label contains what.
func (sc *script) do(what string) {
	sc.t.Helper()
	if sc.found != nil {
		return
	}
	for _, a := range sc.w.actions(sc.s) {
		if strings.Contains(a.Label, what) {
			sc.apply(a)
			return
		}
	}
	sc.t.Fatalf("no enabled event matches %q; enabled:\n  %s\ntrace:\n  %s", what, strings.Join(sc.labels(), "\n  "), strings.Join(sc.w.log, "\n  "))
}

func (sc *script) apply(a Action) {
	sc.t.Helper()
	sc.w.log = append(sc.w.log, a.Label)
	a.Do()
	v := sc.w.check()
	if v == nil && quiescent(sc.s, sc.w, sc.w.actions(sc.s)) {
		v = sc.w.checkRest()
	}
	if v != nil && sc.expect != "" && v.Invariant == sc.expect {
		sc.t.Logf("known finding, reached: %v", v)
		sc.found = v
		return
	}
	if v != nil {
		sc.t.Fatalf("%v\ntrace:\n  %s", v, strings.Join(traceOf(sc.w), "\n  "))
	}
}

// reachesKnownFinding asserts that the story reached the expected
// violation.
func (sc *script) reachesKnownFinding() {
	sc.t.Helper()
	require.NotNil(sc.t, sc.found, "the story no longer reaches %s: the hooks fixed it; make the test assert the fixed outcome", sc.expect)
}

func (sc *script) labels() []string {
	var out []string
	for _, a := range sc.w.actions(sc.s) {
		out = append(out, a.Label)
	}
	return out
}

// settle lets the system run on its own — hooks' calls, CodeDeploy's
// progress, tasks turning healthy, events delivered, executions entering
// free stages — until only a person's decision (or nothing) is left, or
// until stop appears among the enabled events.
func (sc *script) settle(stop ...string) {
	sc.t.Helper()
	// Fair: the automatic event applied least recently goes first, so a
	// hook polling for health does not starve the tasks turning healthy.
	last := map[string]int{}
	for step := range 500 {
		if sc.found != nil {
			return
		}
		var next *Action
		for _, a := range sc.w.actions(sc.s) {
			for _, st := range stop {
				if strings.Contains(a.Label, st) {
					return
				}
			}
			if !automatic(a.Label) {
				continue
			}
			if l, ok := last[a.Label]; next == nil || !ok || l < last[next.Label] {
				if _, seen := last[a.Label]; !seen {
					last[a.Label] = -1
				}
				a := a
				if next == nil || last[a.Label] < last[next.Label] {
					next = &a
				}
			}
		}
		if next == nil {
			return
		}
		last[next.Label] = step
		sc.apply(*next)
	}
	sc.t.Fatalf("the system did not settle; trace:\n  %s", strings.Join(sc.w.log, "\n  "))
}

// settleWithout is settle that never takes an event whose label contains
// without: that event waits, as EventBridge or CodePipeline may make it.
func (sc *script) settleWithout(without string, stop ...string) {
	sc.t.Helper()
	last := map[string]int{}
	for step := range 500 {
		if sc.found != nil {
			return
		}
		var next *Action
		for _, a := range sc.w.actions(sc.s) {
			for _, st := range stop {
				if strings.Contains(a.Label, st) {
					return
				}
			}
			if !automatic(a.Label) || strings.Contains(a.Label, without) {
				continue
			}
			a := a
			if next == nil || last[a.Label] < last[next.Label] {
				next = &a
			}
		}
		if next == nil {
			return
		}
		last[next.Label] = step + 1
		sc.apply(*next)
	}
	sc.t.Fatalf("the system did not settle; trace:\n  %s", strings.Join(sc.w.log, "\n  "))
}

func automatic(label string) bool {
	for _, p := range []string{"PUSH", "APPROVE", "REJECT", "times out", "ALARM", "FAULT", "pulumi up", "OPERATOR", "again (duplicate)", "expires"} {
		if strings.Contains(label, p) {
			return false
		}
	}
	return true
}

func (sc *script) deployment(group string, n int) *Deployment {
	var ds []*Deployment
	for _, d := range sc.w.Deployments {
		if d.Group == group {
			ds = append(ds, d)
		}
	}
	require.Greater(sc.t, len(ds), n, "deployments of %s", group)
	return ds[n]
}

func (sc *script) servedTo(tenant string) []int {
	var vs []int
	for _, g := range sc.w.served(sc.w.route(tenant)) {
		vs = append(vs, g.versions...)
	}
	slices.Sort(vs)
	return slices.Compact(vs)
}

func (sc *script) atRestOnOneVersion(version int) {
	sc.t.Helper()
	require.True(sc.t, sc.w.atRest(), "at rest; trace:\n  %s", strings.Join(sc.w.log, "\n  "))
	assert.False(sc.t, sc.w.catchAllPinned(), "catch-all above the tenant rules")
	assert.Equal(sc.t, 0, sc.w.Services[sc.w.st.stableService].Desired, "stable at zero tasks")
	for _, t := range append([]string{""}, sc.w.tenants()...) {
		assert.Equal(sc.t, []int{version}, sc.servedTo(t), "version served to %q", t)
	}
}

// Hole 1: execution A waits at Approve while B runs Latest. Approving A
// used to deploy A to stable and unpin everyone onto latest — B's image,
// which nobody approved.
func TestHolePushWhileApprovalPendingNeverUnpinsOntoUnapprovedImage(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("PUSH v2")
	sc.settle("shifts the canary step")
	sc.do("CodeDeploy d-2 shifts the canary step") // B's canary is live
	sc.do("APPROVE exec-1")                        // A approved during B's canary
	sc.settle("APPROVE exec-2")
	// A's unpin held: the pinned tenant got A (approved), never B.
	assert.Equal(t, []int{1}, sc.servedTo("t0"))
	assert.True(t, sc.w.catchAllPinned(), "pinned until B is decided")
	sc.do("APPROVE exec-2")
	sc.settle()
	sc.atRestOnOneVersion(2)
}

// Hole 1, newest push wins: B's canary succeeds while A's approval is still
// pending; A's approval no longer describes latest and is rejected, naming
// B's image, and that rejection rolls nothing back.
func TestHoleNewestPushWinsRejectsTheSupersededApproval(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("PUSH v2")
	sc.settle("APPROVE exec-2")
	assert.Equal(t, "Failed", sc.w.Executions[0].Status, "A's approval rejected")
	assert.Contains(t, strings.Join(sc.w.log, "\n"), "superseded by a newer push: latest now serves "+sc.w.st.image(2))
	assert.Len(t, sc.w.Deployments, 2, "no rollback deployment")
	assert.Equal(t, []int{0}, sc.servedTo("t0"), "the pinned tenant stays on v0")
	sc.do("APPROVE exec-2")
	sc.settle()
	sc.atRestOnOneVersion(2)
}

// Hole 2: with no pinned tenant nothing on the production listener used to
// forward to stable's pair, so the Stable deployment had no route to shift.
func TestHoleNoPinnedTenantsStableStageStillHasARoute(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-0"), Pushes: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle()
	assert.Equal(t, DepSucceeded, sc.deployment(sc.w.st.stableGroup, 0).Status)
	assert.Equal(t, "Succeeded", sc.w.Executions[0].Status)
	sc.atRestOnOneVersion(1)
}

// Hole 3: a rolled-back deployment may get a deployment id of its own;
// cleanup used to call every event after it stale and leave the tenants
// pinned. Under every reading it now brings everyone back.
func TestHoleCleanupActsAfterARollbackWhateverItsDeploymentID(t *testing.T) {
	for _, r := range Readings {
		t.Run(r.String(), func(t *testing.T) {
			sc := newScript(t, Scenario{Stack: fixture("tenants-2"), Pushes: 1, Alarms: 1, Reading: r})
			sc.do("PUSH v1")
			sc.settle("shifts all traffic")
			sc.do("ALARM during d-1")
			sc.settle()
			sc.atRestOnOneVersion(0)
		})
	}
}

// Hole 4: unpin used to scale stable to zero at AfterAllowTraffic, before
// CodeDeploy's termination wait, so no instant rollback of Stable was
// possible. Now stable keeps both task sets through the wait, an alarm
// then rolls the pinned tenants back at once, and cleanup scales down only
// after the deployment ended.
func TestHoleStableKeepsItsOriginalTaskSetThroughTheTerminationWait(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Alarms: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("termination wait ends")
	d := sc.deployment(sc.w.st.stableGroup, 0)
	require.Equal(t, phaseWait, d.Phase)
	stable := sc.w.Services[sc.w.st.stableService]
	assert.Equal(t, int(sc.w.st.configs[contract.HookUnpin].StableDesiredCount), stable.Desired, "unpin left stable running")
	require.Len(t, stable.TaskSets, 2)
	for _, ts := range stable.TaskSets {
		assert.True(t, ts.Running > 0 && ts.Healthy, "task set %s still serving-ready", ts.ID)
	}
	// The instant rollback put stable back on v0, and the alarm stopped v1:
	// everyone ends on v0, the last approved version that completed.
	sc.do("ALARM during " + d.ID)
	sc.settle()
	sc.atRestOnOneVersion(0)
}

// Hole 5: a tenant rule that `pulumi up` creates while pin waits for
// stable's health, pointing at the idle stable group (a rule made before
// the anchor existed), used to be missed: pin repaired from its first read.
func TestHoleTenantRuleAddedDuringPinHealthWaitIsRepaired(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1})
	sc.do("PUSH v1")
	sc.settle("turns healthy")
	// pin has read the listener and is in its health wait (each poll
	// reads stable's active group, then its health).
	require.Contains(t, sc.w.log, "pin#1 calls DescribeRules ")
	require.Regexp(t, `pin#1 calls (DescribeServices|DescribeTargetHealth)`, strings.Join(sc.labels(), "\n"))
	sc.w.pulumiUp("late", func() { sc.w.addTenantRule("late", []Weighted{{sc.w.st.stableTG[1], 100}, {sc.w.st.stableTG[0], 0}}) }) // the idle group
	sc.do("turns healthy")
	sc.settle("APPROVE")
	assert.Equal(t, []int{0}, sc.servedTo("late"), "served by stable's healthy group")
	assert.Equal(t, sc.w.st.stableTG[0], sc.w.route("late").Forward[0].TG)
}

// A rejection (or an expired approval) rolls everyone back to the last
// approved version through a Latest deployment, then unpins.
func TestRejectRollsEveryoneBackToTheApprovedVersion(t *testing.T) {
	for _, decision := range []string{"REJECT exec-1", "approval of exec-1 (v1) times out"} {
		t.Run(decision, func(t *testing.T) {
			sc := newScript(t, Scenario{Stack: fixture("tenants-2"), Pushes: 1, Rejects: 1})
			sc.do("PUSH v1")
			sc.settle("APPROVE")
			sc.do(decision)
			sc.settle()
			rb := sc.deployment(sc.w.st.latestGroup, 1)
			assert.Equal(t, -1, rb.Exec, "the rollback function's deployment")
			assert.Equal(t, DepSucceeded, rb.Status)
			sc.atRestOnOneVersion(0)
		})
	}
}

// approval.onReject: hold keeps the split and says so.
func TestRejectWithHoldKeepsTheSplitAndSaysSo(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("hold"), Pushes: 1, Rejects: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("REJECT exec-1")
	sc.settle()
	require.True(t, sc.w.atRest())
	assert.True(t, sc.w.catchAllPinned())
	assert.Equal(t, []int{0}, sc.servedTo("t0"))
	assert.Equal(t, []int{1}, sc.servedTo(""))
}

// `tenant-canary rollback` during the approval wait puts everyone back.
func TestOperatorRollbackFromTheApprovalWait(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Rejects: 1, Operator: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("REJECT exec-1") // the CLI rejects the pending approval first
	sc.do("OPERATOR")      // then invokes the function
	sc.settle()
	sc.atRestOnOneVersion(0)
}

// Found by the explorer: when a failed Stable deployment's FAILURE comes
// before its traffic is back on the original task set, stable still has
// two task sets when cleanup reads it. cleanup used to fail until Lambda's
// retries ran out, leaving the tenants pinned and nobody told; it now waits
// for the rollback to finish within its invocation.
func TestCleanupWaitsForAStableRollbackToFinish(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Alarms: 1, Reading: Reading{EventBeforeRollback: true}})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("shifts all traffic")
	// stable is back on v0 and the stopped Stable stage ended v1: everyone
	// ends on v0.
	sc.do("ALARM during d-2")
	sc.do("deliver CodeDeploy STOP d-2")
	sc.settle()
	sc.atRestOnOneVersion(0)
}

// Found by the explorer: a newer rollout's pin read stable's active target
// group, then an approved Stable deployment shifted the rules to its
// replacement, and pin "repaired" them back onto the original task set,
// which the termination wait then removed. pin now leaves a rule whose
// group has healthy targets to CodeDeploy.
func TestPinNeverMovesRulesBackOntoTheTaskSetAStableDeploymentReplaced(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.do("PUSH v2")
	sc.do("exec-2 (v2) enters Latest")
	sc.do("CodeDeploy starts d-2")
	for _, call := range []string{"ListDeployments", "DescribeTags", "DescribeRules", "DescribeServices", "DescribeServices", "DescribeTargetHealth"} {
		sc.do("pin#2 calls " + call)
	}
	sc.do("exec-1 (v1) enters Stable")
	sc.do("CodeDeploy starts d-3")
	sc.do("CodeDeploy d-3 creates the replacement task set")
	sc.do("turns healthy")
	sc.do("CodeDeploy d-3 shifts the canary step")
	sc.do("CodeDeploy d-3 shifts all traffic")
	sc.settle("APPROVE")
	assert.Equal(t, []int{1}, sc.servedTo("t0"), "the pinned tenant is on the approved v1")
	sc.do("APPROVE exec-2")
	sc.settle()
	sc.atRestOnOneVersion(2)
}

// Finding "no tenant at pin time" (I1): with an empty allow-list pin used
// to change nothing, so a tenant `pulumi up` added during the canary was
// served the unapproved canary through the catch-all. pin now pins with no
// tenant too, so the new tenant's rule is above the catch-all the moment it
// exists, and stable serves it.
func TestFindingNoTenantAtPinTimeTenantAddedMidRolloutIsPinned(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-0"), Pushes: 1, Edits: 1})
	sc.do("PUSH v1")
	sc.settle("shifts the canary step")
	assert.True(t, sc.w.catchAllPinned(), "pinned with an empty allow-list")
	sc.do("CodeDeploy d-1 shifts the canary step") // the canary is live
	sc.do("pulumi up: pin new tenant t0")
	sc.do("pulumi up creates tenant t0's rule")
	assert.Equal(t, []int{0}, sc.servedTo("t0"), "the new tenant stays on the version it had")
	sc.settle("APPROVE")
	assert.Equal(t, []int{0}, sc.servedTo("t0"))
	sc.do("APPROVE exec-1")
	sc.settle()
	sc.atRestOnOneVersion(1)
}

// Finding "a failed or stopped Stable stage" (I3): after an alarm stopped
// the Stable deployment, cleanup used to hold the split (the others on the
// version whose Stable stage failed, stable's tasks running). It now rolls
// latest back to stable's version through a Latest deployment and releases
// when that succeeds: everyone on v0, the last version that completed every
// stage, stable at zero.
func TestFindingFailedStableStageRollsEveryoneBack(t *testing.T) {
	for _, r := range Readings {
		t.Run(r.String(), func(t *testing.T) {
			sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Alarms: 1, Reading: r})
			sc.do("PUSH v1")
			sc.settle("APPROVE")
			sc.do("APPROVE exec-1")
			sc.settle("ALARM during d-2")
			sc.do("ALARM during d-2")
			sc.settle()
			rb := sc.deployment(sc.w.st.latestGroup, 1)
			assert.Equal(t, DepSucceeded, rb.Status, "the rollback of latest")
			sc.atRestOnOneVersion(0)
		})
	}
}

// The same under approval.onReject: hold: hold is about a person's
// rejection, and nobody rejected anything here.
func TestFindingFailedStableStageRollsBackUnderOnRejectHold(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("hold"), Pushes: 1, Alarms: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("ALARM during d-2")
	sc.do("ALARM during d-2")
	sc.settle()
	sc.atRestOnOneVersion(0)
}

// Finding "stable on no tasks" (I2, fixed): exec-1 is approved and waits
// to enter Stable while exec-2's canary runs; exec-2 is rejected. The
// rollback function used to roll latest back to the version stable serves
// — v0, not the approved v1 — and cleanup released, scaling stable to zero;
// then exec-1 entered Stable with no task in its replacement and, through
// the termination wait, none in its original task set either, so an
// instant rollback would have routed the pinned tenant nowhere (I2), and
// once exec-1 succeeded nobody was on v1. The rollback function (and
// cleanup) now leave a rejected image in place while an older, approved
// execution has not finished its Stable stage; that stage's end runs
// cleanup, which rolls latest back to the v1 stable then serves.
func TestFindingRejectingANewerPushWhileTheApprovedOneWaitsToEnterStable(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2, Rejects: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.do("PUSH v2")
	sc.settleWithout("enters Stable", "APPROVE exec-2")
	sc.do("REJECT exec-2")
	sc.settleWithout("enters Stable")
	require.Equal(t, 2, sc.w.Services[sc.w.st.stableService].Desired, "stable keeps its tasks for exec-1's Stable stage")
	assert.Equal(t, []int{0}, sc.servedTo("t0"), "the pinned tenant stays on stable until exec-1's Stable stage")
	sc.do("exec-1 (v1) enters Stable")
	sc.settle()
	sc.atRestOnOneVersion(1)
}

// Regression (found by the deep run's walks; an I1 violation): an alarm
// stops the Stable deployment while its unpin runs, after unpin's checks
// and before it moves the catch-all. The next push's pin did not wait for
// that unpin — it waits only for the unpins of unfinished Stable
// deployments — and pinned; then the stale unpin moved the catch-all above
// the tenant rules, and the pinned tenant was served the new, unapproved
// canary. unpin now holds the release claim from before its checks until
// after its move, so the newer pin waits for it and moves the catch-all
// last.
func TestAnUnpinStillRunningAfterAnAlarmCannotReleaseOntoTheNextCanary(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2, Alarms: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("unpin#2 calls SetRulePriorities") // past every check of unpin's
	sc.do("ALARM during d-2")
	sc.do("PUSH v2")
	sc.settleWithout("unpin#2", "pin#3 calls DescribeTags")
	sc.do("pin#3 calls DescribeTags") // sees the unpin's claim
	// Everything but the stale unpin runs as far as it can: pin polls the
	// claim again and goes no further (it used to pin, and exec-2's canary
	// to start shifting).
	sc.settleWithout("unpin#2", "pin#3 calls DescribeTags", "shifts all traffic")
	require.Nil(t, sc.found, "while the stale unpin waits to move the catch-all")
	assert.Contains(t, sc.labels(), "pin#3 calls DescribeTags ", "pin polls the claim again")
	latest := sc.deployment(sc.w.st.latestGroup, 1)
	assert.Equal(t, "d-3", latest.ID)
	assert.Equal(t, phaseBefore, latest.Phase, "exec-2's pin (its BeforeInstall) waits for the unpin's claim: its canary does not start")
	sc.do("unpin#2 calls SetRulePriorities")
	sc.settle("shifts all traffic")
	require.Nil(t, sc.found, "the newer pin moved the catch-all after the stale unpin: %v", sc.found)
	assert.True(t, sc.w.catchAllPinned(), "the tenant is pinned while exec-2's canary runs")
	assert.Equal(t, []int{0}, sc.servedTo("t0"), "the pinned tenant is served v0, which stable serves again after the alarm")
}

// Finding "pin waits on an emptied group" (I3, fixed): a newer rollout's
// pin starts while the approved rollout's Stable deployment is about to
// shift. pin used to read stable's active target group once, before its
// health wait; the Stable deployment then moved stable onto its other
// group and its termination wait deleted the task set pin was polling, so
// pin polled a group that never turned healthy until its deadline failed
// the newer rollout. pin now re-reads stable's active group at every poll
// and follows it: the newer rollout goes on, and once approved everyone is
// on it.
func TestFindingPinFollowsStableWhenAStableDeploymentMovesIt(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settleWithout("CodeDeploy d-2 shifts")
	sc.do("PUSH v2")
	sc.settleWithout("CodeDeploy d-2 shifts", "calls DescribeTargetHealth")
	blue := sc.w.st.stableTG[0]
	require.Contains(t, sc.labels(), "pin#3 calls DescribeTargetHealth "+blue, "the newer rollout's pin polls stable's original group")
	// The Stable deployment runs to its end (its unpin keeps the tenants
	// pinned: the newer Latest deployment is unfinished) while pin waits.
	sc.settleWithout("pin#3", "d-2: termination wait ends")
	sc.do("CodeDeploy d-2: termination wait ends")
	sc.settle("APPROVE exec-2")
	require.Nil(t, sc.found)
	assert.Equal(t, DepSucceeded, sc.deployment(sc.w.st.latestGroup, 1).Status, "the newer rollout's Latest deployment")
	sc.do("APPROVE exec-2")
	sc.settle()
	sc.atRestOnOneVersion(2)
}

// Finding "a held split nobody decides" (I3, fixed): exec-1 is approved and
// its Stable deployment runs when exec-2, canaried on latest, is rejected.
// The rollback function finds that deployment unfinished and leaves it;
// when it ends, cleanup used to find nothing in flight, no approval
// pending, latest on the rejected v2 and stable on v1, and hold the split
// with a WARN: every tenant but the pinned one stayed on the version a
// person had just rejected. cleanup now reads that the Approve stage's
// latest execution failed and delivered the image latest serves, and rolls
// latest back to stable's version: everyone ends on v1, the last approved.
func TestFindingARejectionLeftByTheRollbackFunctionIsRolledBackByCleanup(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2, Rejects: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.do("PUSH v2")
	sc.do("exec-1 (v1) enters Stable")
	sc.do("on service-stable")
	stableDep := sc.deployment(sc.w.st.stableGroup, 0)
	sc.settleWithout(stableDep.ID+" shifts all traffic", "APPROVE exec-2")
	require.Equal(t, DepInProgress, stableDep.Status, "exec-1's Stable deployment runs")
	sc.do("REJECT exec-2")
	sc.settleWithout(stableDep.ID + " shifts all traffic")
	require.Contains(t, sc.w.log, "rollback#6 calls ListDeployments "+sc.w.st.stableGroup+" ", "the rollback function ran and found the Stable deployment unfinished")
	latestDeps := 0
	for _, d := range sc.w.Deployments {
		if d.Group == sc.w.st.latestGroup {
			latestDeps++
		}
	}
	require.Equal(t, 2, latestDeps, "the rollback function started nothing")
	sc.settle()
	sc.atRestOnOneVersion(1)
}

// Finding "an operator's rollback racing an approval" (I3, fixed): the
// operator runs `tenant-canary rollback` just after exec-1 is approved; the
// function finds no deployment unfinished and redeploys latest with
// stable's v0, while exec-1 enters Stable and deploys v1 to stable. Both
// succeed: latest on v0, stable on v1, and cleanup used to hold that split
// with a WARN nobody could act on (a second rollback puts everyone on
// stable's v1 anyway). cleanup now reads that latest serves a version no
// execution of the Latest stage delivered (a rollback deployment's) while
// stable went on to an approved one, and moves latest to stable's version:
// everyone ends on v1, the last approved.
func TestFindingAnOperatorRollbackRacingAnApprovalEndsOnTheApprovedVersion(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Rejects: 1, Operator: 1})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.do("OPERATOR")
	sc.settleWithout("enters Stable", "calls CreateDeployment")
	require.Regexp(t, `rollback#\d+ calls CreateDeployment`, strings.Join(sc.labels(), "\n"), "the function found nothing unfinished and is about to redeploy latest")
	sc.do("exec-1 (v1) enters Stable")
	sc.do("on service-stable")
	sc.settle()
	require.Len(t, sc.w.Deployments, 4, "d-1 (v1 on latest), the Stable deployment of v1, the operator's rollback of latest to v0, and cleanup's move of latest to v1")
	sc.atRestOnOneVersion(1)
}

// Finding "a stop deferred to a rollback with its own id" (I3, fixed):
// under the reading where CodeDeploy's rollback of a stopped deployment is
// a deployment of its own, the cleanup run by the stopped Stable
// deployment's STOP finds that rollback unfinished and leaves the decision
// to its end; that end is a SUCCESS of the Stable group, which does not say
// the Stable stage failed, so latest used to keep v1 — a version that never
// completed every stage — and stable its tasks. cleanup now reads from the
// pipeline's state that the Stable stage's latest execution failed and
// delivered latest's image, and rolls latest back: everyone ends on v0.
func TestFindingAStopDeferredToARollbackWithItsOwnIDRollsLatestBack(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Alarms: 1, Reading: Reading{RollbackOwnID: true}})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("ALARM during d-2")
	sc.do("ALARM during d-2")
	sc.do("deliver CodeDeploy STOP d-2")
	sc.settleWithout("traffic back on the original task set")
	require.True(t, sc.w.catchAllPinned(), "the STOP's cleanup left the decision to the rollback's end")
	sc.settle()
	sc.atRestOnOneVersion(0)
}
