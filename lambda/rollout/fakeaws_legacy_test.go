package rollout_test

// Two guards whose state the protocol model cannot reach, still tested
// against the retired scripted fakeaws.World: every image the model
// deploys is named by digest (the ECR source's ImageURI), so latest never
// names its image by tag there, and a pending or rejected approval's
// digest can always be compared with it. They go with fakeaws.World
// unless the model learns a task definition registered with a tagged
// image first.

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
