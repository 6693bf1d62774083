package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The rollback function runs on states the protocol model reached by its
// own events (a rejection, a newer push, an alarm), and each test asserts
// the outcome: the deployment it started (group, version) and what
// everyone is served once the model has run it, or that nothing changed.

// approvalEventOf is an EventBridge "CodePipeline Action Execution State
// Change" in the documented shape
// (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
func approvalEventOf(pipeline, execution, stage, action, state string) string {
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

func rollbackRequest(t testing.TB, raw string) rollout.RollbackRequest {
	t.Helper()
	var req rollout.RollbackRequest
	require.NoError(t, json.Unmarshal([]byte(raw), &req))
	return req
}

// rejected: execution 1 canaried v1 on latest and a person rejected its
// approval; stable and the pinned tenants are on v0. The rollback
// function's invocation for the failed Approve action is returned; the
// pipeline's FAILED went to cleanup, which found nothing to do.
func rejected(t *testing.T, fixture string, sc protocol.Scenario) (*story, protocol.Invoke) {
	t.Helper()
	sc.Pushes, sc.Rejects = max(sc.Pushes, 1), 1
	s := newStory(t, fixture, sc)
	s.toApproval()
	s.deliverAll()
	s.do("REJECT exec-1")
	s.hold(contract.HookRollback)
	s.deliverAll()
	return s, s.take(contract.HookRollback)
}

// assertRollsBackToV0: the rollback function's deployment id of latest,
// of stable's version v0, runs and puts everyone on v0.
func assertRollsBackToV0(t *testing.T, s *story, id string) {
	t.Helper()
	d := s.deployment(id)
	require.NotNil(t, d, "deployment %s", id)
	assert.Equal(t, s.group("latest"), d.Group)
	assert.Equal(t, -1, d.Exec, "started by the rollback function")
	var v int
	s.inspect(func(w *protocol.World) { v = w.VersionOf(d.TaskDef) })
	assert.Equal(t, 0, v, "stable's version")
	s.split(0, 1) // the redeployment's cleanup unpins
	s.unhold(contract.HookRollback)
	s.deliverAll()
	s.stage(id)
	s.deliverAll()
	s.everyoneOn(0)
}

func TestRollbackRedeploysLatestWithStablesTaskDefinition(t *testing.T) {
	t.Run("approval rejected", func(t *testing.T) {
		s, inv := rejected(t, "tenants-1", protocol.Scenario{})
		h, _ := s.hooks(contract.HookRollback)

		res, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))

		require.NoError(t, err)
		assert.Equal(t, rollout.OutcomeDeploying, res.Outcome)
		assert.Equal(t, "d-2", res.DeploymentID)
		assert.Contains(t, res.Detail, s.deployment("d-2").TaskDef)
		assert.Equal(t, 2, s.deployments(), "one deployment started")
		assertRollsBackToV0(t, s, "d-2")
	})
	t.Run("operator request", func(t *testing.T) {
		// Under approval.onReject=hold the rejection held the split; the
		// operator's request rolls back.
		s, _ := rejected(t, "hold", protocol.Scenario{})
		h, _ := s.hooks(contract.HookRollback)

		res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "v1 breaks checkout"})

		require.NoError(t, err)
		assert.Equal(t, rollout.OutcomeDeploying, res.Outcome)
		assertRollsBackToV0(t, s, res.DeploymentID)
	})
}

func TestRollbackTwiceStartsOneDeployment(t *testing.T) {
	s, inv := rejected(t, "tenants-1", protocol.Scenario{})
	h, _ := s.hooks(contract.HookRollback)
	_, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))
	require.NoError(t, err)

	res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "again"})

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeBusy, res.Outcome)
	assert.Equal(t, "deployment d-2 of group "+s.group("latest")+" has not ended", res.Detail)
	assert.Equal(t, 2, s.deployments(), "still one rollback deployment")
}

// cleanup rejected execution 1's approval of v1 because push 2 put v2 on
// latest: that rejection is newest push wins, not a rollback.
func TestRollbackOfASupersededRejectionDoesNothing(t *testing.T) {
	s, inv := supersededApproval(t, "tenants-1")
	s.hold(contract.HookRollback)
	require.NoError(t, s.invokeWith(func() *rollout.Hooks { h, _ := s.hooks(contract.HookCleanup); return h }(), inv))
	s.deliverAll()
	rb := s.take(contract.HookRollback)
	before := s.outcome()
	h, _ := s.hooks(contract.HookRollback)

	res, err := h.Rollback(context.Background(), rb.Payload.(rollout.RollbackRequest))

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
	assert.Contains(t, res.Detail, "the rejected approval was about "+protocol.Digest(1)+", latest serves "+s.d.Image(2))
	assert.Equal(t, before, s.outcome(), "nothing changed, nothing started")
	s.split(0, 2)
}

func TestRollbackHoldsWhenOnRejectIsHold(t *testing.T) {
	s, inv := rejected(t, "hold", protocol.Scenario{})
	before := s.outcome()
	h, logs := s.hooks(contract.HookRollback)

	res, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))

	require.NoError(t, err)
	assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeNothingToDo, Detail: "approval.onReject is hold"}, res)
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims(), "not even a claim")
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), `"step":"held"`)
	s.split(0, 1)
}

func TestRollbackIsBusyWhileADeploymentIsUnfinished(t *testing.T) {
	t.Run("latest", func(t *testing.T) {
		// Push 2's Latest deployment runs while execution 1's approval is
		// rejected.
		s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 2, Rejects: 1})
		s.toApproval()
		s.deliverAll()
		s.do("PUSH v2", "exec-2 (v2) enters Latest", "CodeDeploy starts d-2")
		s.do("REJECT exec-1")
		before, res, err := s.rollbackOfTheRejection()

		require.NoError(t, err)
		assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeBusy, Detail: "deployment d-2 of group " + s.group("latest") + " has not ended"}, res)
		assert.Equal(t, before, s.outcome())
		assert.Equal(t, 2, s.deployments(), "nothing started")
	})
	t.Run("stable", func(t *testing.T) {
		// Execution 1 was approved and its Stable deployment is created;
		// push 2's approval is rejected.
		s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 2, Rejects: 1})
		s.toApproval()
		s.deliverAll()
		s.do("APPROVE exec-1", "exec-1 (v1) enters Stable")
		s.do("PUSH v2", "exec-2 (v2) enters Latest")
		s.stage("d-3")
		s.deliverAll()
		s.do("exec-2 (v2) enters Approve", "REJECT exec-2")
		before, res, err := s.rollbackOfTheRejection()

		require.NoError(t, err)
		assert.Equal(t, rollout.RollbackResult{Outcome: rollout.OutcomeBusy, Detail: "deployment d-2 of group " + s.group("stable") + " has not ended"}, res)
		assert.Equal(t, before, s.outcome())
		assert.Equal(t, 3, s.deployments(), "nothing started")
	})
	t.Run("an approved execution waits to enter Stable", func(t *testing.T) {
		// Execution 1 was approved and has not entered Stable (no
		// deployment of it exists yet); push 2's approval is rejected.
		// Rolling latest back to stable's v0 and releasing would undo the
		// approval of v1 and leave its Stable deployment without tasks.
		s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 2, Rejects: 1})
		s.toApproval()
		s.deliverAll()
		s.do("APPROVE exec-1")
		s.do("PUSH v2", "exec-2 (v2) enters Latest")
		s.stage("d-2")
		s.deliverAll()
		s.do("exec-2 (v2) enters Approve", "REJECT exec-2")
		before, res, err := s.rollbackOfTheRejection()

		require.NoError(t, err)
		assert.Equal(t, rollout.OutcomeBusy, res.Outcome)
		assert.Contains(t, res.Detail, "execution exec-1, older than the rejected exec-2, was approved and has not finished its Stable stage")
		assert.Equal(t, before, s.outcome())
		assert.Equal(t, 2, s.deployments(), "nothing started")
		// exec-1's Stable stage runs; its end rolls the rejected v2 back to
		// the approved v1.
		s.do("exec-1 (v1) enters Stable")
		s.stage("d-3")
		s.deliverAll()
		s.stage("d-4")
		s.deliverAll()
		s.everyoneOn(1)
	})
}

func TestRollbackUnpinsWhenLatestAlreadyServesStablesImage(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	h, _ := s.hooks(contract.HookRollback)

	res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "release the held split"})

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeUnpinned, res.Outcome)
	s.everyoneOn(0)
	assert.Equal(t, 1, s.deployments(), "nothing started")
}

func TestRollbackIgnoresOtherActionsAndRejectsMalformedRequests(t *testing.T) {
	pipeline := "tenant-canary-tenants-1-pipeline-pipeline"
	ignored := []struct{ name, event string }{
		{"another pipeline", approvalEventOf("other", "exec-1", "Approve", "Approve", "FAILED")},
		{"another stage", approvalEventOf(pipeline, "exec-1", "Latest", "Deploy", "FAILED")},
		{"approval succeeded", approvalEventOf(pipeline, "exec-1", "Approve", "Approve", "SUCCEEDED")},
		{"approval started", approvalEventOf(pipeline, "exec-1", "Approve", "Approve", "STARTED")},
	}
	for _, tt := range ignored {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := rejected(t, "tenants-1", protocol.Scenario{})
			require.Equal(t, pipeline, s.pipeline())
			before := s.outcome()
			h, _ := s.hooks(contract.HookRollback)

			res, err := h.Rollback(context.Background(), rollbackRequest(t, tt.event))

			require.NoError(t, err)
			assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
			assert.Contains(t, res.Detail, "ignored")
			assert.Equal(t, before, s.outcome(), "nothing changed")
			assert.Empty(t, s.claims(), "not even a claim")
		})
	}
	malformed := []struct{ name, event, want string }{
		{"another detail-type", `{"detail-type":"CodePipeline Stage Execution State Change","detail":{}}`, `detail-type is "CodePipeline Stage Execution State Change"`},
		{"no detail", `{"detail-type":"CodePipeline Action Execution State Change"}`, "detail needs pipeline, execution-id, stage, action and state"},
		{"no execution id", strings.Replace(approvalEventOf(pipeline, "", "Approve", "Approve", "FAILED"), `"execution-id": ""`, `"x": ""`, 1), "detail needs"},
		{"operator request without a reason", `{"reason":"  "}`, `an operator's rollback needs a non-empty "reason"`},
		{"empty request", `{}`, `needs a non-empty "reason"`},
	}
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := rejected(t, "tenants-1", protocol.Scenario{})
			before := s.outcome()
			h, logs := s.hooks(contract.HookRollback)

			_, err := h.Rollback(context.Background(), rollbackRequest(t, tt.event))

			assert.ErrorContains(t, err, tt.want)
			assert.Equal(t, before, s.outcome(), "nothing changed")
			assert.Contains(t, logs.String(), `"msg":"rollback failed"`)
		})
	}
}

// The rejection of an execution CodePipeline does not know: the error
// names it, and nothing is rolled back on it.
func TestRollbackOfAnUnknownExecutionFailsNamingIt(t *testing.T) {
	s, _ := rejected(t, "tenants-1", protocol.Scenario{})
	before := s.outcome()
	h, logs := s.hooks(contract.HookRollback)

	_, err := h.Rollback(context.Background(), rollbackRequest(t, approvalEventOf(s.pipeline(), "exec-9", "Approve", "Approve", "FAILED")))

	assert.ErrorContains(t, err, "get pipeline execution exec-9")
	assert.ErrorContains(t, err, "PipelineExecutionNotFoundException")
	assert.Contains(t, logs.String(), "PipelineExecutionNotFoundException")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims())
}

func TestMisconfiguredRollbackFailsWithTheConfigError(t *testing.T) {
	s, inv := rejected(t, "tenants-1", protocol.Scenario{})
	before := s.outcome()
	env := s.env(contract.HookRollback)
	delete(env, contract.EnvAppSpecLatest)
	h, _ := s.hooksWith(contract.HookRollback, env)
	h.Logger = rollout.NewLogger(&bytes.Buffer{})

	_, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))

	assert.ErrorContains(t, err, "APPSPEC_LATEST is not set")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims())
}

// What the rollback function asks CodeDeploy for: the Latest stage's own
// AppSpec (pin hook included) with stable's task definition, and a
// description naming the reason.
func TestRollbackDeploysTheLatestAppSpecWithStablesTaskDefinition(t *testing.T) {
	s, _ := rejected(t, "hold", protocol.Scenario{})
	spy := spyOn(s.d.API())
	h, _ := s.hooksOn(contract.HookRollback, s.env(contract.HookRollback), spy)

	res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "v1 breaks checkout"})

	require.NoError(t, err)
	require.Len(t, spy.created, 1)
	in := spy.created[0]
	stableTD := s.deployment(res.DeploymentID).TaskDef
	assert.Contains(t, res.Detail, stableTD)
	assert.Equal(t, s.app(), aws.ToString(in.ApplicationName))
	assert.Equal(t, s.group("latest"), aws.ToString(in.DeploymentGroupName))
	assert.Equal(t, strings.Replace(strings.TrimSpace(s.env(contract.HookRollback)[contract.EnvAppSpecLatest]), appspec.TaskDefinitionPlaceholder, stableTD, 1),
		aws.ToString(in.Revision.AppSpecContent.Content))
	assert.Contains(t, aws.ToString(in.Revision.AppSpecContent.Content), `TaskDefinition: "`+stableTD+`"`)
	assert.Equal(t, "tenant-canary rollback to stable's version: v1 breaks checkout", aws.ToString(in.Description))
}

func TestRollbackFailsClearlyWhenAStepFails(t *testing.T) {
	boom := errors.New("injected failure")
	for _, tt := range []struct {
		name    string
		arrange func(s *story)
		want    func(s *story) string
	}{
		{"rejected execution", func(s *story) { s.d.FailNext(opGPE, boom) }, func(*story) string { return "get pipeline execution exec-1" }},
		{"list deployments", func(s *story) { s.d.FailNext(opLD, nil, boom) },
			func(s *story) string { return "list unfinished deployments of " + s.app() + "/" + s.group("stable") }},
		{"describe rules", func(s *story) { s.d.FailNext(opRules, boom) }, func(*story) string { return "describe rules" }},
		{"describe services", func(s *story) { s.d.FailNext(opDesc, boom) }, func(s *story) string {
			return "describe service " + s.env(contract.HookPin)[contract.EnvLatestServiceName] + ", " + s.env(contract.HookPin)[contract.EnvStableServiceName]
		}},
		{"describe task definition", func(s *story) { s.d.FailNext(opTD, boom) }, func(s *story) string {
			var td string
			s.inspect(func(w *protocol.World) { td = w.LatestService().TaskSets[0].TaskDef })
			return "describe task definition " + td
		}},
		{"create deployment", func(s *story) { s.d.FailNext(opCreate, fakeaws.AccessDenied(opCreate)) }, func(s *story) string {
			var td string
			s.inspect(func(w *protocol.World) { td = w.StableService().TaskSets[0].TaskDef })
			return "create rollback deployment of " + s.group("latest") + " with " + td
		}},
		{"panic", func(s *story) { s.d.PanicOn(opCreate) }, func(*story) string { return "panic: protocol: injected panic in CreateDeployment" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, inv := rejected(t, "tenants-1", protocol.Scenario{})
			tt.arrange(s)
			before := s.outcome()
			h, logs := s.hooks(contract.HookRollback)
			mark := len(s.d.Calls())

			var err error
			require.NotPanics(t, func() { _, err = h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest)) })

			want := tt.want(s)
			assert.ErrorContains(t, err, want, "Lambda answers with the error alone")
			if ops := s.opsSince(mark); slices.Contains(ops, opAdd) {
				assert.Equal(t, opRemove, ops[len(ops)-1], "the claim is released on the error path too")
			}
			assert.Empty(t, s.claims())
			assert.Equal(t, 1, s.deployments(), "nothing started")
			assert.Equal(t, before, s.outcome(), "nothing changed")
			assert.Contains(t, logs.String(), want)
		})
	}
}

// latest names its image by tag: the rejection's digest cannot be compared
// with it. Before, that read as "superseded" and was logged at INFO; now
// nothing is rolled back on a guess either way, and the operator is told at
// WARN what to run.
func TestRollbackOfARejectionItCannotCompareHoldsAndSaysSo(t *testing.T) {
	s, cleanup := byTag(t, protocol.Scenario{Pushes: 1, Rejects: 1})
	require.NoError(t, s.invoke(cleanup))
	s.do("REJECT exec-1")
	s.hold(contract.HookRollback)
	s.deliverAll()
	inv := s.take(contract.HookRollback)
	before := s.outcome()
	h, logs := s.hooks(contract.HookRollback)

	res, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))

	require.NoError(t, err)
	assert.Equal(t, rollout.OutcomeNothingToDo, res.Outcome)
	assert.Contains(t, res.Detail, "cannot tell whether the rejection is about it")
	assert.Contains(t, res.Detail, "tenant-canary rollback")
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Equal(t, before, s.outcome(), "nothing rolled back")
	assert.Equal(t, 2, s.deployments(), "nothing started")
}

// rollbackOfTheRejection delivers the rejection's event and runs the
// rollback function on it: the outcome before it ran, and its answer.
func (s *story) rollbackOfTheRejection() (outcome, rollout.RollbackResult, error) {
	s.hold(contract.HookRollback)
	s.deliverAll()
	inv := s.take(contract.HookRollback)
	before := s.outcome()
	h, _ := s.hooks(contract.HookRollback)
	res, err := h.Rollback(context.Background(), inv.Payload.(rollout.RollbackRequest))
	return before, res, err
}
