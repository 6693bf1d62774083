package rollout_test

// Four guards whose states the protocol model cannot reach yet, still
// tested against the retired scripted fakeaws.World: the model keeps no
// tag values and no per-rule tag limit (a full catch-all rule of expired
// claims, TooManyTags), and every image it deploys is named by digest
// (latest naming its image by tag). They go with fakeaws.World unless the
// model learns those states first.

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
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

// released is cleanup's call sequence when it puts everyone back on latest
// and scales stable to zero: nothing in flight, no approval pending, the
// same image in two task definition revisions.
var released = claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opSet, opUpdate)

// latest names its image by tag: the rejection's digest cannot be compared
// with it. Before, that read as "superseded" and was logged at INFO; now
// nothing is rolled back on a guess either way, and the operator is told at
// WARN what to run.
func TestRollbackOfARejectionItCannotCompareHoldsAndSaysSo(t *testing.T) {
	w := rejectedWorld()
	w.Images[fakeaws.TaskDefV1] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc-dev:release"
	h, logs := newHooks(t, w, rollout.HookRollback)

	res, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
	assert.Contains(t, res.Detail, "cannot tell whether the rejection is about it")
	assert.Contains(t, res.Detail, "tenant-canary rollback")
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Empty(t, w.CreatedDeployments())
	assert.Equal(t, "50000", w.CatchAllPriority())
}
