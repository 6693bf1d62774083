package rollout_test

// The tests below still run against the retired scripted fakeaws.World:
// each needs a fault, a recorded call or a state the protocol model does
// not reach yet. They move to the model's fault layer; this file goes with
// fakeaws.World. The helpers at the top are what sdk_test.go and
// bench_test.go still use of the old cleanup and rollback tests.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestLegacyCleanupLeavesAnApprovalDecidedMeanwhile(t *testing.T) {
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

func TestLegacyCleanupReturnsStepErrors(t *testing.T) {
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

// approvalEventJSON is an EventBridge "CodePipeline Action Execution State
// Change" in the documented shape
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
func approvalEventJSON(pipeline, execution, stage, action, state string) string {
	return `{
  "version": "0",
  "id": "5ae0f8a4-1d74-4dc3-9bb8-6b3c4c1d2f11",
  "detail-type": "CodePipeline Action Execution State Change",
  "source": "aws.codepipeline",
  "account": "123456789012",
  "time": "2026-06-30T22:06:31Z",
  "region": "us-east-1",
  "resources": ["arn:aws:codepipeline:us-east-1:123456789012:` + pipeline + `"],
  "detail": {
    "pipeline": "` + pipeline + `",
    "execution-id": "` + execution + `",
    "stage": "` + stage + `",
    "action": "` + action + `",
    "state": "` + state + `",
    "region": "us-east-1",
    "type": {"owner": "AWS", "provider": "Manual", "category": "Approval", "version": "1"},
    "version": 1
  }
}`
}

func approvalEvent(t testing.TB, execution, state string) rollout.RollbackRequest {
	t.Helper()
	var req rollout.RollbackRequest
	require.NoError(t, json.Unmarshal([]byte(approvalEventJSON(fakeaws.PipelineName, execution, "Approve", "Approve", state)), &req))
	return req
}

// rejectedWorld: execution A canaried v1 on latest and its approval was
// rejected; stable and the pinned tenants are on v0.
func rejectedWorld() *fakeaws.World {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	w.LatestTaskDef = fakeaws.TaskDefV1
	w.AddExecution("exec-A", fakeaws.DigestV1)
	return w
}

func TestLegacyRollbackFailsClearlyWhenAStepFails(t *testing.T) {
	boom := errors.New("injected failure")
	for _, tt := range []struct {
		name    string
		arrange func(w *fakeaws.World)
		want    string
	}{
		{"rejected execution", func(w *fakeaws.World) { w.FailNext(opGPE, boom) }, "get pipeline execution exec-A"},
		{"unknown execution", func(w *fakeaws.World) { w.ExecutionDigests = nil }, "PipelineExecutionNotFoundException"},
		{"list deployments", func(w *fakeaws.World) { w.FailNext(opLD, nil, boom) }, "list unfinished deployments of tc-dev/stable"},
		{"describe rules", func(w *fakeaws.World) { w.FailNext(opRules, boom) }, "describe rules"},
		{"describe services", func(w *fakeaws.World) { w.FailNext(opDesc, boom) }, "describe service latest, stable"},
		{"describe task definition", func(w *fakeaws.World) { w.FailNext(opTD, boom) }, "describe task definition " + fakeaws.TaskDefV1},
		{"create deployment", func(w *fakeaws.World) { w.FailNext(opCreate, fakeaws.AccessDenied(opCreate)) },
			"create rollback deployment of latest with " + fakeaws.TaskDefStableV0},
		{"panic", func(w *fakeaws.World) { w.PanicOn(opCreate) }, "panic: fakeaws: injected panic in CreateDeployment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := rejectedWorld()
			tt.arrange(w)
			h, logs := newHooks(t, w, rollout.HookRollback)

			var err error
			require.NotPanics(t, func() { _, err = h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED")) })

			assert.ErrorContains(t, err, tt.want, "Lambda answers with the error alone")
			if ops := w.Ops(); slices.Contains(ops, opAdd) {
				assert.Equal(t, opRemove, ops[len(ops)-1], "the claim is released on the error path too")
			}
			assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN))
			assert.Empty(t, w.CreatedDeployments())
			assert.Equal(t, "50000", w.CatchAllPriority())
			assert.Contains(t, logs.String(), tt.want)
		})
	}
}

// released is cleanup's call sequence when it puts everyone back on latest
// and scales stable to zero: nothing in flight, no approval pending, the
// same image in two task definition revisions.
var released = claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opSet, opUpdate)
