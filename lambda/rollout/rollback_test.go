package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

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

func TestRollbackRedeploysLatestWithStablesTaskDefinition(t *testing.T) {
	for _, tt := range []struct {
		name     string
		req      func(t *testing.T) rollout.RollbackRequest
		wantOps  []string
		wantDesc string
	}{
		{"approval rejected", func(t *testing.T) rollout.RollbackRequest { return approvalEvent(t, "exec-A", "FAILED") },
			[]string{opGPE, opAdd, opLD, opLD, opRules, opDesc, opTD, opTD, opTD, opCreate, opRemove}, "tenant-canary rollback to stable's version"},
		{"operator request", func(*testing.T) rollout.RollbackRequest { return rollout.RollbackRequest{Reason: "v1 breaks checkout"} },
			claimed(opLD, opLD, opRules, opDesc, opTD, opTD, opCreate), "tenant-canary rollback to stable's version: v1 breaks checkout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := rejectedWorld()
			h, _ := newHooks(t, w, rollout.HookRollback)

			res, err := h.Rollback(context.Background(), tt.req(t))

			require.NoError(t, err)
			assert.Equal(t, tt.wantOps, w.Ops())
			assert.Equal(t, rollout.OutcomeDeploying, res.Outcome)
			assert.Equal(t, "d-CREATED01", res.DeploymentID)
			assert.Contains(t, res.Detail, fakeaws.TaskDefStableV0)
			created := w.CreatedDeployments()
			require.Len(t, created, 1)
			assert.Equal(t, fakeaws.LatestGroup, created[0].Group)
			assert.Equal(t, []string{fakeaws.CodeDeployApp + "/" + fakeaws.LatestGroup}, details(w, opCreate))
			assert.Equal(t, strings.Replace(fakeaws.AppSpecLatest, appspec.TaskDefinitionPlaceholder, fakeaws.TaskDefStableV0, 1), created[0].AppSpec,
				"the Latest stage's own AppSpec (pin hook included) with stable's task definition")
			assert.Contains(t, created[0].AppSpec, `TaskDefinition: "`+fakeaws.TaskDefStableV0+`"`)
			assert.Equal(t, tt.wantDesc, created[0].Description)
			assert.Equal(t, "50000", w.CatchAllPriority(), "the redeployment's cleanup unpins")
			assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
		})
	}
}

func TestRollbackTwiceStartsOneDeployment(t *testing.T) {
	w := rejectedWorld()
	h, _ := newHooks(t, w, rollout.HookRollback)
	_, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))
	require.NoError(t, err)

	res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "again"})

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeBusy, res.Outcome)
	assert.Equal(t, "deployment d-CREATED01 of group latest has not ended", res.Detail)
	assert.Len(t, w.CreatedDeployments(), 1)
}

func TestRollbackOfASupersededRejectionDoesNothing(t *testing.T) {
	// cleanup rejected A's approval of v1 because push B put v2 on latest.
	w := rejectedWorld()
	w.LatestTaskDef = fakeaws.TaskDefV2
	h, _ := newHooks(t, w, rollout.HookRollback)

	res, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
	assert.Contains(t, res.Detail, "the rejected approval was about "+fakeaws.DigestV1+", latest serves "+fakeaws.ImageV2)
	assert.Equal(t, []string{opGPE, opAdd, opLD, opLD, opRules, opDesc, opTD, opRemove}, w.Ops())
	assert.Empty(t, w.CreatedDeployments())
	assert.Equal(t, "50000", w.CatchAllPriority())
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

func TestRollbackHoldsWhenOnRejectIsHold(t *testing.T) {
	w := rejectedWorld()
	cfg, err := rollout.ConfigFromEnv(lookupIn(envWith(map[string]string{"ON_REJECT": "hold"})), rollout.HookRollback)
	require.NoError(t, err)
	var logs bytes.Buffer
	h := &rollout.Hooks{Config: cfg, ECS: w, ELB: w, CodeDeploy: w, CodePipeline: w, Logger: rollout.NewLogger(&logs)}

	res, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))

	require.NoError(t, err)
	assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeNothingToDo, Detail: "approval.onReject is hold"}, res)
	assert.Empty(t, w.Ops())
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), `"step":"held"`)

	// An operator's request still rolls back.
	res, err = h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "hold is over"})
	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeDeploying, res.Outcome)
	assert.Len(t, w.CreatedDeployments(), 1)
}

func TestRollbackIsBusyWhileADeploymentIsUnfinished(t *testing.T) {
	for _, tt := range []struct {
		group   string
		wantOps []string
	}{
		{fakeaws.LatestGroup, []string{opGPE, opAdd, opLD, opRemove}},
		{fakeaws.StableGroup, []string{opGPE, opAdd, opLD, opLD, opRemove}},
	} {
		t.Run(tt.group, func(t *testing.T) {
			w := rejectedWorld()
			w.StartDeployment(tt.group, "d-RUNNING01", nil)
			h, _ := newHooks(t, w, rollout.HookRollback)

			res, err := h.Rollback(context.Background(), approvalEvent(t, "exec-A", "FAILED"))

			require.NoError(t, err)
			assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeBusy, Detail: "deployment d-RUNNING01 of group " + tt.group + " has not ended"}, res)
			assert.Equal(t, tt.wantOps, w.Ops())
			assert.Empty(t, w.CreatedDeployments())
		})
	}
}

func TestRollbackUnpinsWhenLatestAlreadyServesStablesImage(t *testing.T) {
	w := pinnedWorld(2, fakeaws.StableBlueTG)
	h, _ := newHooks(t, w, rollout.HookRollback)

	res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "release the held split"})

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeUnpinned, res.Outcome)
	assert.Equal(t, claimed(opLD, opLD, opRules, opDesc, opTD, opTD, opSet, opUpdate), w.Ops())
	assert.Equal(t, "1", w.CatchAllPriority())
	assert.EqualValues(t, 0, w.Desired())
	assert.Empty(t, w.CreatedDeployments())
}

func TestRollbackIgnoresOtherActionsAndRejectsMalformedRequests(t *testing.T) {
	ignored := []struct{ name, event string }{
		{"another pipeline", approvalEventJSON("other", "exec-A", "Approve", "Approve", "FAILED")},
		{"another stage", approvalEventJSON(fakeaws.PipelineName, "exec-A", "Latest", "Deploy", "FAILED")},
		{"approval succeeded", approvalEventJSON(fakeaws.PipelineName, "exec-A", "Approve", "Approve", "SUCCEEDED")},
		{"approval started", approvalEventJSON(fakeaws.PipelineName, "exec-A", "Approve", "Approve", "STARTED")},
	}
	for _, tt := range ignored {
		t.Run(tt.name, func(t *testing.T) {
			w := rejectedWorld()
			h, _ := newHooks(t, w, rollout.HookRollback)
			var req rollout.RollbackRequest
			require.NoError(t, json.Unmarshal([]byte(tt.event), &req))

			res, err := h.Rollback(context.Background(), req)

			require.NoError(t, err)
			assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
			assert.Contains(t, res.Detail, "ignored")
			assert.Empty(t, w.Ops())
		})
	}
	malformed := []struct{ name, event, want string }{
		{"another detail-type", `{"detail-type":"CodePipeline Stage Execution State Change","detail":{}}`, `detail-type is "CodePipeline Stage Execution State Change"`},
		{"no detail", `{"detail-type":"CodePipeline Action Execution State Change"}`, "detail needs pipeline, execution-id, stage, action and state"},
		{"no execution id", strings.Replace(approvalEventJSON(fakeaws.PipelineName, "", "Approve", "Approve", "FAILED"), `"execution-id": ""`, `"x": ""`, 1), "detail needs"},
		{"operator request without a reason", `{"reason":"  "}`, `an operator's rollback needs a non-empty "reason"`},
		{"empty request", `{}`, `needs a non-empty "reason"`},
	}
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			w := rejectedWorld()
			h, logs := newHooks(t, w, rollout.HookRollback)
			var req rollout.RollbackRequest
			require.NoError(t, json.Unmarshal([]byte(tt.event), &req))

			_, err := h.Rollback(context.Background(), req)

			assert.ErrorContains(t, err, tt.want)
			assert.Empty(t, w.Ops())
			assert.Contains(t, logs.String(), `"msg":"rollback failed"`)
		})
	}
}

func TestRollbackFailsClearlyWhenAStepFails(t *testing.T) {
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

func TestMisconfiguredRollbackFailsWithTheConfigError(t *testing.T) {
	w := rejectedWorld()
	_, cfgErr := rollout.ConfigFromEnv(lookupIn(envWith(map[string]string{"APPSPEC_LATEST": "<unset>"})), rollout.HookRollback)
	require.Error(t, cfgErr)
	h := &rollout.Hooks{ConfigErr: cfgErr, ECS: w, ELB: w, CodeDeploy: w, CodePipeline: w, Logger: rollout.NewLogger(&bytes.Buffer{})}

	_, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "x"})

	assert.ErrorContains(t, err, "APPSPEC_LATEST is not set")
	assert.Empty(t, w.Ops())
}
