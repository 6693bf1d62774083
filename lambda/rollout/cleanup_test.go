package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func codeDeployEvent(group, state string) events.CodeDeployEvent {
	return codeDeployEventOf(group, state, "d-LATEST")
}

func codeDeployEventOf(group, state, deploymentID string) events.CodeDeployEvent {
	return events.CodeDeployEvent{
		Source: events.CodeDeployEventSource, DetailType: events.CodeDeployDeploymentEventDetailType,
		Detail: events.CodeDeployEventDetail{
			Application: fakeaws.CodeDeployApp, DeploymentGroup: group, DeploymentID: deploymentID,
			State: events.CodeDeployDeploymentState(state),
		},
	}
}

// released is cleanup's call sequence when it puts everyone back on latest
// and scales stable to zero: nothing in flight, no approval pending, the
// same image in two task definition revisions.
var released = claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opSet, opUpdate)

func TestCleanupActsOnTheEndOfAnyDeploymentOfEitherGroup(t *testing.T) {
	otherApp := codeDeployEvent(fakeaws.LatestGroup, "FAILURE")
	otherApp.Detail.Application = "someone-else"
	tests := []struct {
		name    string
		event   events.CodeDeployEvent
		wantOps []string
	}{
		{"latest failed", codeDeployEvent(fakeaws.LatestGroup, "FAILURE"), released},
		{"latest stopped", codeDeployEvent(fakeaws.LatestGroup, "STOP"), released},
		{"latest succeeded", codeDeployEvent(fakeaws.LatestGroup, "SUCCESS"), released},
		{"stable succeeded", codeDeployEvent(fakeaws.StableGroup, "SUCCESS"), released},
		{"stable failed", codeDeployEvent(fakeaws.StableGroup, "FAILURE"), released},
		{"stable stopped", codeDeployEvent(fakeaws.StableGroup, "STOP"), released},
		{"latest started", codeDeployEvent(fakeaws.LatestGroup, "START"), nil},
		{"stable ready", codeDeployEvent(fakeaws.StableGroup, "READY"), nil},
		{"another deployment group", codeDeployEvent("other", "FAILURE"), nil},
		{"another application", otherApp, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			h, _ := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), tt.event))

			assert.Equal(t, tt.wantOps, w.Ops(), "cleanup never reports to CodeDeploy")
			if tt.wantOps != nil {
				assert.Equal(t, []string{listed(fakeaws.LatestGroup), listed(fakeaws.StableGroup)}, details(w, opLD))
				assert.Equal(t, []string{fakeaws.LatestService + "," + fakeaws.StableService}, details(w, opDesc), "both services in one call")
				assert.Equal(t, []string{fakeaws.PipelineName}, details(w, opGPS))
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			} else {
				assert.Equal(t, "50000", w.CatchAllPriority())
			}
		})
	}
}

// A rollback's events may carry a deployment id of its own, come in either
// order, or come late: cleanup decides from the state it reads.
func TestCleanupActsWhateverTheRollbacksDeploymentId(t *testing.T) {
	for _, id := range []string{"d-LATEST", "d-CREATED01", "d-OLDER0001"} {
		t.Run(id, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			w.LastAttemptedDeployment = "d-LATEST"
			h, _ := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), codeDeployEventOf(fakeaws.LatestGroup, "SUCCESS", id)))

			assert.Equal(t, released, w.Ops())
			assert.NotContains(t, w.Ops(), fakeaws.OpGetDeploymentGroup, "the group's last attempted deployment is not asked for")
			assert.Equal(t, "1", w.CatchAllPriority())
			assert.EqualValues(t, 0, w.Desired())
		})
	}
}

func TestCleanupDoesNothingWhileADeploymentIsUnfinished(t *testing.T) {
	for _, tt := range []struct {
		group   string
		wantOps []string
	}{
		{fakeaws.LatestGroup, claimed(opLD)},
		{fakeaws.StableGroup, claimed(opLD, opLD)},
	} {
		t.Run(tt.group, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			w.StartDeployment(tt.group, "d-RUNNING01", nil)
			h, logs := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

			assert.Equal(t, tt.wantOps, w.Ops())
			assert.Contains(t, logs.String(), "nothing to do yet: deployment d-RUNNING01 of group "+tt.group+" has not ended; its end event decides")
			assert.Equal(t, "50000", w.CatchAllPriority())
			assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
		})
	}
}

func TestCleanupRejectsASupersededApproval(t *testing.T) {
	// Execution A waits at Approve about v1; push B's canary succeeded and
	// latest serves v2: newest push wins.
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV2
	w.AwaitApproval("exec-A", fakeaws.DigestV1)
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE, opPAR), w.Ops())
	assert.Equal(t, []string{"exec-A"}, details(w, opGPE))
	assert.Equal(t, []string{"Rejected token-exec-A"}, details(w, opPAR))
	results := w.ApprovalResults()
	require.Len(t, results, 1)
	assert.Equal(t, "exec-A", results[0].ExecutionID)
	assert.Equal(t, "Rejected", results[0].Status)
	assert.Contains(t, results[0].Summary, "superseded by a newer push: latest now serves "+fakeaws.ImageV2)
	assert.Contains(t, results[0].Summary, fakeaws.DigestV1)
	assert.Equal(t, "50000", w.CatchAllPriority(), "B's own approval releases the tenants")
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
	assert.Contains(t, logs.String(), "rejected an approval a newer push superseded")
}

func TestCleanupLeavesAnApprovalDecidedMeanwhile(t *testing.T) {
	for _, tt := range []struct {
		code    string
		wantErr bool
	}{
		{"ApprovalAlreadyCompletedException", false},
		{"InvalidApprovalTokenException", false},
		{"AccessDeniedException", true},
	} {
		t.Run(tt.code, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			w.LatestTaskDef = fakeaws.TaskDefV2
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
			w.FailNext(opPAR, &fakeaws.APIError{Code: tt.code, Message: "injected"})
			h, logs := newHooks(t, w, rollout.HookCleanup)

			err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS"))

			assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE, opPAR), w.Ops())
			if tt.wantErr {
				assert.ErrorContains(t, err, "reject superseded approval of execution exec-A")
			} else {
				require.NoError(t, err)
				assert.Contains(t, logs.String(), "the approval was decided meanwhile; left as decided")
			}
			assert.Equal(t, "50000", w.CatchAllPriority())
		})
	}
}

func TestCleanupAwaitsAnApprovalAboutLatestsImage(t *testing.T) {
	// Execution A's canary of v1 succeeded and waits at Approve.
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	w.AwaitApproval("exec-A", fakeaws.DigestV1)
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE), w.Ops())
	assert.Empty(t, w.ApprovalResults())
	assert.Equal(t, "50000", w.CatchAllPriority(), "the pinned tenants wait for the approval")
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
	assert.Contains(t, logs.String(), `"step":"await-approval"`)
}

func TestCleanupReleasesAndScalesDownAfterStableSucceeded(t *testing.T) {
	// The Stable deployment of v1 ended after its termination wait: stable
	// serves v1 from green alone, unpin already moved the catch-all up and
	// left stable's tasks running.
	w := stableInTerminationWait(pinnedWorld(2, fakeaws.StableBlueTG))
	w.ExtraTaskSets = nil
	w.Rules[1].Priority = "1"
	h, _ := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.StableGroup, "SUCCESS")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opUpdate), w.Ops(), "catch-all already in place")
	assert.Equal(t, []string{fakeaws.TaskDefV1, fakeaws.TaskDefStableV1}, details(w, opTD))
	assert.Equal(t, []string{"stable desiredCount=0"}, details(w, opUpdate))
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())
}

func TestCleanupSaysHeldAtWarn(t *testing.T) {
	// A's approval of v2 was rejected under approval.onReject=hold: latest
	// serves v2, stable v1, nothing in flight.
	w := stableInTerminationWait(pinnedWorld(2, fakeaws.StableBlueTG))
	w.ExtraTaskSets = nil
	w.LatestTaskDef = fakeaws.TaskDefV2
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD), w.Ops())
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
	var held map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["step"] == "held" {
			held = rec
		}
	}
	require.NotNil(t, held, "a held line")
	assert.Equal(t, "WARN", held["level"])
	assert.Contains(t, held["msg"], "tenant-canary rollback", "says what to do")
	assert.Equal(t, "50000", held["catch_all_priority"])
}

// A failed Latest deployment's replacement task set may outlive its
// FAILURE event: cleanup polls until latest is down to one task set, and
// past its work deadline fails (holding nothing) so that Lambda retries.
func TestCleanupRetriesWhileARollbackIsFinishing(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.ExtraTaskSets = map[string][]fakeaws.TaskSet{fakeaws.LatestService: {{TaskDef: fakeaws.TaskDefV2, TargetGroup: fakeaws.LatestGreenTG}}}
	h, logs := newHooks(t, w, rollout.HookCleanup)
	h.Budget = 100 * time.Millisecond
	h.PollInterval = 10 * time.Millisecond

	start := time.Now()
	err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))

	assert.Less(t, time.Since(start), 5*time.Second, "gives up at the work deadline")
	require.Error(t, err, "an error makes Lambda retry the event")
	assert.ErrorContains(t, err, "service latest still has 2 task sets after")
	assert.ErrorContains(t, err, "(a rollback is finishing)")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	ops := w.Ops()
	require.GreaterOrEqual(t, len(ops), 7)
	assert.Equal(t, []string{opAdd, opLD, opLD, opRules}, ops[:4])
	assert.Equal(t, opRemove, ops[len(ops)-1], "the claim is released on the error path too")
	polls := ops[4 : len(ops)-1]
	assert.GreaterOrEqual(t, len(polls), 2, "polled more than once")
	for _, op := range polls {
		assert.Equal(t, opDesc, op, "nothing but DescribeServices while it waits")
	}
	assert.Contains(t, logs.String(), "a service still has two task sets: a rollback is finishing")
	assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN))
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
}

// A failed Stable deployment rolls stable back to its original task set;
// cleanup waits until the replacement is gone before it compares images.
func TestCleanupWaitsForAStableRollbackToFinish(t *testing.T) {
	// Stable's Stable deployment of v1 failed: the anchor and the tenants
	// are back on blue (v0), green (v1) is being torn down; latest serves
	// v1, which never completed every stage, so once stable is at rest
	// latest is rolled back to stable's version.
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	w.ExtraTaskSets = map[string][]fakeaws.TaskSet{fakeaws.StableService: {{TaskDef: fakeaws.TaskDefStableV1, TargetGroup: fakeaws.StableGreenTG}}}
	w.On(opDesc, 2, func(w *fakeaws.World) { w.ExtraTaskSets = nil })
	h, logs := newHooks(t, w, rollout.HookCleanup)
	h.Budget = 5 * time.Second

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.StableGroup, "FAILURE")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opDesc, opGPS, opTD, opTD, opCreate), w.Ops())
	assert.Equal(t, []string{fakeaws.TaskDefV1, fakeaws.TaskDefStableV0}, details(w, opTD), "compared once stable is back on its original task set")
	assert.Contains(t, logs.String(), `"service":"stable"`)
	assert.Contains(t, logs.String(), "a service still has two task sets: a rollback is finishing")
	assertRolledBackToStable(t, w)
	assert.NotContains(t, logs.String(), `"step":"held"`)
}

// assertRolledBackToStable: one Latest deployment with the Latest stage's
// AppSpec and stable's task definition; the tenants stay pinned until it
// succeeds (its cleanup releases them).
func assertRolledBackToStable(t *testing.T, w *fakeaws.World) {
	t.Helper()
	created := w.CreatedDeployments()
	require.Len(t, created, 1)
	assert.Equal(t, fakeaws.LatestGroup, created[0].Group)
	assert.Equal(t, strings.Replace(fakeaws.AppSpecLatest, appspec.TaskDefinitionPlaceholder, fakeaws.TaskDefStableV0, 1), created[0].AppSpec)
	assert.Equal(t, "50000", w.CatchAllPriority(), "pinned until the rollback of latest succeeds")
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
}

// A Stable deployment stopped by an alarm is a failed Stable stage too, and
// hold is about a person's rejection: latest is rolled back under
// approval.onReject=hold as well (cleanup does not read onReject).
func TestCleanupRollsLatestBackAfterAStoppedStableStage(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	h, _ := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.StableGroup, "STOP")))

	assertRolledBackToStable(t, w)
}

// The same split after a Latest deployment's end (the rollback of latest
// itself failed, or a rejection the rollback function handles) is held and
// said so: cleanup never redeploys on it, so a failing rollback cannot loop.
func TestCleanupHoldsASplitAfterALatestFailure(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

	assert.Empty(t, w.CreatedDeployments())
	assert.Contains(t, logs.String(), `"step":"held"`)
	assert.Equal(t, "50000", w.CatchAllPriority())
}

func TestCleanupAfterPinFailedBeforeAnyTrafficShift(t *testing.T) {
	// pin scaled stable up, then gave up waiting: the catch-all never moved
	// and latest's primary task set is the previous, completed rollout's.
	w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
	w.DesiredCount = fakeaws.DesiredCount
	h, _ := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opUpdate), w.Ops(), "catch-all already in place")
	assert.EqualValues(t, 0, w.Desired())

	// The same while another execution waits at Approve: latest serves the
	// image awaiting approval, the tenants stay pinned where they are.
	w = pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	w.AwaitApproval("exec-A", fakeaws.DigestV1)
	h, _ = newHooks(t, w, rollout.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
}

// cleanup makes itself visible to pin before it reads anything (a tag on
// the catch-all rule) and removes the tag whatever the outcome, so a pin
// that started meanwhile waits for it and none is blocked by it after.
func TestCleanupClaimsTheCatchAllBeforeItReadsAndReleasesItOnEveryPath(t *testing.T) {
	for _, tt := range []struct {
		name    string
		arrange func(w *fakeaws.World)
		wantErr string
	}{
		{"released", func(*fakeaws.World) {}, ""},
		{"busy", func(w *fakeaws.World) { w.StartDeployment(fakeaws.StableGroup, "d-RUNNING01", nil) }, ""},
		{"held", func(w *fakeaws.World) { w.LatestTaskDef = fakeaws.TaskDefV1 }, ""},
		{"approval awaited", func(w *fakeaws.World) {
			w.LatestTaskDef = fakeaws.TaskDefV1
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
		}, ""},
		{"superseded approval rejected", func(w *fakeaws.World) {
			w.LatestTaskDef = fakeaws.TaskDefV2
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
		}, ""},
		{"error", func(w *fakeaws.World) { w.FailNext(opRules, fakeaws.Throttling(opRules)) }, "describe rules of listener"},
		{"error while releasing", func(w *fakeaws.World) { w.FailNext(opSet, fakeaws.ValidationError("nope")) }, "nope"},
		{"panic", func(w *fakeaws.World) { w.PanicOn(opGPS) }, "panic: fakeaws: injected panic in GetPipelineState"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			tt.arrange(w)
			var tagsAtFirstRead map[string]string
			w.On(opLD, 1, func(w *fakeaws.World) { tagsAtFirstRead = maps.Clone(w.Tags[fakeaws.CatchAllRuleARN]) })
			h, _ := newHooks(t, w, rollout.HookCleanup)

			start := time.Now()
			err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			ops := w.Ops()
			require.GreaterOrEqual(t, len(ops), 3)
			assert.Equal(t, opAdd, ops[0], "claimed before anything is read")
			assert.Equal(t, opRemove, ops[len(ops)-1], "released last")
			assert.Equal(t, []string{claimKey}, details(w, opAdd))
			assert.Equal(t, []string{claimKey}, details(w, opRemove))
			require.Contains(t, tagsAtFirstRead, claimKey, "the claim is visible while cleanup reads")
			until, perr := time.Parse(time.RFC3339, tagsAtFirstRead[claimKey])
			require.NoError(t, perr, "the claim's value is its expiry, RFC 3339")
			assert.WithinRange(t, until, start.Add(rollout.DefaultBudget+time.Minute-2*time.Second), time.Now().Add(rollout.DefaultBudget+time.Minute),
				"the work deadline (no deadline in the context: the default budget) plus a minute")
			assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN), "no claim left behind")
		})
	}
}

func TestCleanupClaimIsNamedAfterTheInvocationAndExpiresAfterItsDeadline(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	var tags map[string]string
	w.On(opLD, 1, func(w *fakeaws.World) { tags = maps.Clone(w.Tags[fakeaws.CatchAllRuleARN]) })
	h, _ := newHooks(t, w, rollout.HookCleanup)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f5e2c1a-0000-4000-8000-000000000001"})
	deadline := time.Now().Add(10 * time.Minute)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	require.NoError(t, h.Cleanup(ctx, codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))

	key := contract.ReleaseTagPrefix + "8f5e2c1a-0000-4000-8000-000000000001"
	assert.Equal(t, []string{key}, details(w, opAdd))
	assert.Equal(t, []string{key}, details(w, opRemove))
	require.Contains(t, tags, key)
	until, err := time.Parse(time.RFC3339, tags[key])
	require.NoError(t, err)
	// The work ends SafetyMargin (20 s) before the invocation's deadline.
	want := deadline.Add(-rollout.DefaultSafetyMargin + time.Minute)
	assert.WithinDuration(t, want, until, 2*time.Second)
	assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN))
}

func TestCleanupThatCannotClaimReadsNothingAndOneThatCannotReleaseStillSucceeds(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.FailNext(opAdd, fakeaws.AccessDenied(opAdd))
	h, logs := newHooks(t, w, rollout.HookCleanup)

	err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))

	assert.ErrorContains(t, err, "claim the catch-all rule (tag "+claimKey+")")
	assert.Equal(t, []string{opAdd}, w.Ops(), "no claim, no decision: Lambda retries the event")
	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Contains(t, logs.String(), "claim the catch-all rule")

	// The tag's removal is best effort: the claim expires by itself.
	w = pinnedWorld(2, fakeaws.StableBlueTG)
	w.FailNext(opRemove, fakeaws.Throttling(opRemove))
	h, logs = newHooks(t, w, rollout.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")))
	assert.Equal(t, released, w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.Contains(t, logs.String(), "could not remove the claim; it expires by itself")
	assert.Contains(t, w.TagsOf(fakeaws.CatchAllRuleARN), claimKey)
}

func TestCleanupFailsClearlyAndChangesNothingWhenItCannotDecide(t *testing.T) {
	tests := []struct {
		name    string
		arrange func(w *fakeaws.World)
		want    string
	}{
		{"list latest deployments", func(w *fakeaws.World) { w.FailNext(opLD, fakeaws.AccessDenied(opLD)) }, "list unfinished deployments of tc-dev/latest"},
		{"list stable deployments", func(w *fakeaws.World) { w.FailNext(opLD, nil, fakeaws.AccessDenied(opLD)) }, "list unfinished deployments of tc-dev/stable"},
		{"describe rules", func(w *fakeaws.World) { w.FailNext(opRules, fakeaws.Throttling(opRules)) }, "describe rules of listener"},
		{"anchor rule gone", func(w *fakeaws.World) { w.Rules = append(w.Rules[:2], w.Rules[3:]...) }, "anchor rule " + fakeaws.AnchorRuleARN + " not found"},
		{"describe services", func(w *fakeaws.World) { w.FailNext(opDesc, fakeaws.Throttling(opDesc)) }, "describe service latest, stable"},
		{"stable missing", func(w *fakeaws.World) { w.ServiceMissing = true }, "MISSING"},
		{"pipeline state", func(w *fakeaws.World) { w.FailNext(opGPS, fakeaws.AccessDenied(opGPS)) }, "get state of pipeline tc-dev"},
		{"pending execution", func(w *fakeaws.World) {
			w.LatestTaskDef = fakeaws.TaskDefV2
			w.AwaitApproval("exec-A", fakeaws.DigestV1)
			w.FailNext(opGPE, fakeaws.AccessDenied(opGPE))
		}, "get pipeline execution exec-A"},
		{"pending execution without an image digest", func(w *fakeaws.World) {
			w.AwaitApproval("exec-A", "not-a-digest")
		}, "pipeline execution exec-A has no image digest among its artifact revisions"},
		{"describe task definition", func(w *fakeaws.World) { w.FailNext(opTD, nil, fakeaws.AccessDenied(opTD)) }, "describe task definition " + fakeaws.TaskDefStableV0},
		{"unknown task definition", func(w *fakeaws.World) { w.LatestTaskDef = fakeaws.TaskDefV1 + "9" }, "Unable to describe task definition"},
		{"the anchor forwards where stable has no task set", func(w *fakeaws.World) {
			w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
		}, "service stable has no task set in target groups [" + fakeaws.StableGreenTG + "]"},
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
			assert.NotContains(t, w.Ops(), opPAR)
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

func TestMisconfiguredCleanupFailsWithTheConfigErrorAndCallsNothing(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	_, cfgErr := rollout.ConfigFromEnv(lookupIn(envWith(map[string]string{"PIPELINE_NAME": "<unset>"})), rollout.HookCleanup)
	require.Error(t, cfgErr)
	h := &rollout.Hooks{ConfigErr: cfgErr, ECS: w, ELB: w, CodeDeploy: w, CodePipeline: w, Logger: rollout.NewLogger(&strings.Builder{})}

	assert.ErrorContains(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "FAILURE")), "PIPELINE_NAME is not set")
	assert.Empty(t, w.Ops())
}

func pipelineEvent(pipeline, state string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "source": "aws.codepipeline", "detail-type": rollout.PipelineExecutionEventDetailType,
		"detail": map[string]any{"pipeline": pipeline, "execution-id": "exec-A", "state": state, "version": 3},
	})
	return b
}

// A `pulumi up` that changes the pipeline's definition while the Approve
// action waits cancels the execution: no deployment ends after it, so
// before this event was routed nobody brought the system to rest or said
// that it did not. cleanup now acts on the pipeline execution's FAILED,
// CANCELED and STOPPED ends from the state it reads, as after a
// deployment's end, and ignores the others.
func TestCleanupActsOnAFailedCanceledOrStoppedPipelineExecution(t *testing.T) {
	for _, tt := range []struct {
		name, pipeline, state string
		wantOps               []string
	}{
		{"canceled by a pipeline edit", fakeaws.PipelineName, "CANCELED", released},
		{"failed", fakeaws.PipelineName, "FAILED", released},
		{"stopped by an operator", fakeaws.PipelineName, "STOPPED", released},
		{"succeeded: a deployment's end already acted", fakeaws.PipelineName, "SUCCEEDED", nil},
		{"superseded: the newer execution goes on", fakeaws.PipelineName, "SUPERSEDED", nil},
		{"another pipeline", "someone-elses", "CANCELED", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			h, _ := newHooks(t, w, rollout.HookCleanup)

			require.NoError(t, h.CleanupEvent(context.Background(), pipelineEvent(tt.pipeline, tt.state)))

			assert.Equal(t, tt.wantOps, w.Ops())
			if tt.wantOps != nil {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			} else {
				assert.Equal(t, "50000", w.CatchAllPriority())
			}
		})
	}
}

// The canceled execution left latest on v2 and the tenants on v1 with no
// approval pending: cleanup says at WARN that the split is held.
func TestCleanupSaysHeldAfterAPipelineEditCanceledTheApproval(t *testing.T) {
	w := stableInTerminationWait(pinnedWorld(2, fakeaws.StableBlueTG))
	w.ExtraTaskSets = nil
	w.LatestTaskDef = fakeaws.TaskDefV2
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.CleanupEvent(context.Background(), pipelineEvent(fakeaws.PipelineName, "CANCELED")))

	assert.Equal(t, "50000", w.CatchAllPriority())
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), `"step":"held"`)
	assert.Contains(t, logs.String(), `"pipeline_execution_id":"exec-A"`)
}

func TestCleanupEventRejectsMalformedEventsByName(t *testing.T) {
	for _, tt := range []struct {
		name, raw, wantErr string
	}{
		{"not JSON", `[1,2]`, "malformed event: not a JSON object"},
		{"unknown detail-type", `{"detail-type":"EC2 Instance State-change Notification"}`,
			`detail-type is "EC2 Instance State-change Notification", want "CodeDeploy Deployment State-change Notification" or "CodePipeline Pipeline Execution State Change"`},
		{"pipeline event without its detail", `{"detail-type":"CodePipeline Pipeline Execution State Change","detail":{"pipeline":"p"}}`,
			"missing [detail.execution-id detail.state]"},
		{"deployment event without its detail", `{"detail-type":"CodeDeploy Deployment State-change Notification","detail":{}}`,
			"missing [detail.application detail.deploymentGroup detail.deploymentId detail.state]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			h, _ := newHooks(t, w, rollout.HookCleanup)
			err := h.CleanupEvent(context.Background(), json.RawMessage(tt.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Empty(t, w.Ops(), "nothing is read or changed for a malformed event")
		})
	}
}

// Release leaves stable serving for the deregistration delay after the
// catch-all moves above the tenant rules, and only then scales it to zero:
// a load balancer node still on the old rule order keeps sending pinned
// tenants to stable meanwhile, and AWS documents no time within which all
// nodes have the new order.
func TestReleaseLeavesStableServingForTheDeregistrationDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, hook := range []rollout.Hook{rollout.HookCleanup, rollout.HookRollback} {
		t.Run(string(hook), func(t *testing.T) {
			w := pinnedWorld(2, fakeaws.StableBlueTG)
			h, logs := newHooks(t, w, hook)
			h.Config.ReleaseDelay = delay
			var moved, scaled time.Time
			w.On(opSet, 1, func(*fakeaws.World) { moved = time.Now() })
			w.On(opUpdate, 1, func(*fakeaws.World) { scaled = time.Now() })

			if hook == rollout.HookCleanup {
				require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))
			} else {
				res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "test"})
				require.NoError(t, err)
				assert.Equal(t, rollout.OutcomeUnpinned, res.Outcome)
			}

			require.False(t, moved.IsZero(), "the catch-all moved")
			require.False(t, scaled.IsZero(), "stable was scaled down")
			assert.GreaterOrEqual(t, scaled.Sub(moved), delay, "stable kept serving for the deregistration delay after the catch-all moved")
			assert.Equal(t, "1", w.CatchAllPriority())
			assert.EqualValues(t, 0, w.Desired())
			assert.Contains(t, logs.String(), `"step":"release-delay"`)
		})
	}
}

// With less time left than the delay, release moves the catch-all (safe:
// stable still serves) but scales nothing, and fails at once so that
// Lambda retries the event: nothing waits past the function's deadline.
func TestReleaseNeverWaitsPastTheDeadline(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookCleanup)
	h.Config.ReleaseDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	err := h.Cleanup(ctx, codeDeployEvent(fakeaws.LatestGroup, "SUCCESS"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "stable stays at its desired count")
	assert.Contains(t, err.Error(), "less than the 1h0m0s it must keep serving")
	assert.Equal(t, "1", w.CatchAllPriority(), "everyone is on latest")
	assert.EqualValues(t, fakeaws.DesiredCount, w.Desired(), "stable keeps serving")
	assert.NotContains(t, w.Ops(), opUpdate)
}

// Nothing to wait for when stable already runs no task.
func TestReleaseDoesNotWaitWhenStableRunsNothing(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.DesiredCount = 0
	h, logs := newHooks(t, w, rollout.HookCleanup)
	h.Config.ReleaseDelay = time.Hour

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.NotContains(t, logs.String(), `"step":"release-delay"`)
}

// Functions that died holding a claim leave their tags on the catch-all
// rule, and a rule holds at most 50 tags: before, the 51st claim failed
// with TooManyTags and so did every cleanup and rollback after it. A full
// rule now has its expired claims removed and the claim goes through; an
// unexpired claim is left alone.
func TestClaimRemovesExpiredClaimsWhenTheRuleIsFull(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	live := contract.ReleaseTagPrefix + "still-running"
	for i := range fakeaws.MaxTagsPerResource - 2 {
		w.SetTag(fakeaws.CatchAllRuleARN, fmt.Sprintf("%sdied-%02d", contract.ReleaseTagPrefix, i), past)
	}
	w.SetTag(fakeaws.CatchAllRuleARN, contract.ReleaseTagPrefix+"garbled", "not a time")
	w.SetTag(fakeaws.CatchAllRuleARN, live, future)
	require.Len(t, w.TagsOf(fakeaws.CatchAllRuleARN), fakeaws.MaxTagsPerResource)
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))

	assert.Equal(t, append([]string{opAdd, opTags, opRemove}, released...), w.Ops(), "one failed claim, the clean-up, then the released sequence")
	assert.Equal(t, map[string]string{live: future}, w.TagsOf(fakeaws.CatchAllRuleARN), "expired and unreadable claims gone, the live one kept, ours released")
	assert.Contains(t, logs.String(), "removed expired claims from the catch-all rule")
	assert.Equal(t, "1", w.CatchAllPriority())
}

// A rule full of live claims is not emptied: the claim fails, naming why.
func TestClaimNeverRemovesALiveClaim(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for i := range fakeaws.MaxTagsPerResource {
		w.SetTag(fakeaws.CatchAllRuleARN, fmt.Sprintf("%slive-%02d", contract.ReleaseTagPrefix, i), future)
	}
	h, _ := newHooks(t, w, rollout.HookCleanup)

	err := h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "TooManyTags")
	assert.Len(t, w.TagsOf(fakeaws.CatchAllRuleARN), fakeaws.MaxTagsPerResource)
	assert.Equal(t, "50000", w.CatchAllPriority(), "nothing moved without a claim")
}

// latest names its image by tag (the placeholder, or a deployment that did
// not use the ECR source's digest): the pending approval's digest cannot be
// compared with it. Before, "cannot compare" read as "different" and the
// approval was rejected automatically; now cleanup holds and says why.
func TestCleanupNeverRejectsAnApprovalItCannotCompare(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV2
	w.Images[fakeaws.TaskDefV2] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev:latest"
	w.AwaitApproval("exec-A", fakeaws.DigestV1)
	h, logs := newHooks(t, w, rollout.HookCleanup)

	require.NoError(t, h.Cleanup(context.Background(), codeDeployEvent(fakeaws.LatestGroup, "SUCCESS")))

	assert.NotContains(t, w.Ops(), opPAR, "no automatic rejection")
	assert.Empty(t, w.ApprovalResults())
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), "cannot tell whether the pending approval is about the image latest serves")
	assert.Contains(t, logs.String(), `"approval_digest":"`+fakeaws.DigestV1+`"`)
	assert.Equal(t, "50000", w.CatchAllPriority(), "the tenants stay pinned while the approval waits")
}
