package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The cleanup function runs on states the protocol model reached by its
// own events, and each test asserts what the rollout leaves behind: who is
// served which version, where the catch-all is, stable's desired count,
// the approvals decided, the deployments started.

// latestStopped: push v1's Latest deployment was stopped by an alarm in
// its canary step and CodeDeploy put latest's traffic back on v0; the
// tenants are still pinned to stable (v0), which runs its tasks. Its STOP
// event and the pipeline execution's FAILED wait for delivery.
func latestStopped(t *testing.T, fixture string, r protocol.Reading) *story {
	t.Helper()
	s := newStory(t, fixture, protocol.Scenario{Pushes: 1, Alarms: 1, Reading: r})
	s.do("PUSH v1", "exec-1 (v1) enters Latest")
	s.do(canary("d-1")...)
	s.do("ALARM during d-1")
	if !r.RollbackOwnID || r.EventBeforeRollback {
		s.do("traffic back on the original task set")
	} else {
		s.do("CodeDeploy d-2: traffic back on the original task set")
	}
	return s
}

func TestCleanupActsOnTheEndOfAnyDeploymentOfEitherGroup(t *testing.T) {
	tests := []struct {
		name, role, state string
		otherApp          bool
		releases          bool
	}{
		{"latest failed", "latest", "FAILURE", false, true},
		{"latest stopped", "latest", "STOP", false, true},
		{"latest succeeded", "latest", "SUCCESS", false, true},
		{"stable succeeded", "stable", "SUCCESS", false, true},
		{"stable failed", "stable", "FAILURE", false, true},
		{"stable stopped", "stable", "STOP", false, true},
		{"latest started", "latest", "START", false, false},
		{"stable ready", "stable", "READY", false, false},
		{"another deployment group", "other", "FAILURE", false, false},
		{"another application", "latest", "FAILURE", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := latestStopped(t, "tenants-2", protocol.Reading{})
			before := s.outcome()
			ev := s.codeDeployEvent(tt.role, tt.state, "d-1")
			if tt.role == "other" {
				ev.Detail.DeploymentGroup = "other"
			}
			if tt.otherApp {
				ev.Detail.Application = "someone-else"
			}
			h, _ := s.hooks(contract.HookCleanup)

			require.NoError(t, h.Cleanup(context.Background(), ev))

			if tt.releases {
				s.everyoneOn(0)
			} else {
				assert.Equal(t, before, s.outcome(), "nothing changed")
				s.split(0, 0)
			}
			assert.Empty(t, s.claims(), "no claim left on the catch-all rule")
		})
	}
}

// A rollback's events may carry a deployment id of its own, come in either
// order, or come late: cleanup decides from the state it reads. Under
// every reading of the rollback's id and event order, the first end event
// delivered — the rollback's own SUCCESS where it has an id of its own —
// brings everyone back on v0, and so does one naming a deployment cleanup
// never heard of.
func TestCleanupActsWhateverTheRollbacksDeploymentId(t *testing.T) {
	for _, r := range protocol.Readings {
		for _, id := range []string{"", "d-OLDER0001"} {
			t.Run(r.String()+"/"+id, func(t *testing.T) {
				s := latestStopped(t, "tenants-1", r)
				if id == "" {
					if r.RollbackOwnID && !r.EventBeforeRollback {
						s.do("deliver CodeDeploy SUCCESS d-2")
						assert.Equal(t, protocol.DepSucceeded, s.deployment("d-2").Status, "the rollback's own deployment")
					} else {
						s.do("deliver CodeDeploy STOP d-1")
					}
				} else {
					h, _ := s.hooks(contract.HookCleanup)
					require.NoError(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "SUCCESS", id)))
				}
				s.everyoneOn(0)
				s.deliverAll()
				s.everyoneOn(0)
				assert.True(t, s.outcome().atRest)
			})
		}
	}
}

func TestCleanupDoesNothingWhileADeploymentIsUnfinished(t *testing.T) {
	for _, role := range []string{"latest", "stable"} {
		t.Run(role, func(t *testing.T) {
			s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
			id := "d-1"
			if role == "stable" {
				s.toApproval()
				s.deliverAll()
				s.do("APPROVE exec-1", "enters Stable")
				id = "d-2"
			} else {
				s.do("PUSH v1", "exec-1 (v1) enters Latest", "CodeDeploy starts d-1")
			}
			before := s.outcome()
			h, logs := s.hooks(contract.HookCleanup)

			// A late event of an earlier deployment.
			require.NoError(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "FAILURE", "d-OLD")))

			assert.Contains(t, logs.String(), "nothing to do yet: deployment "+id+" of group "+s.group(role)+" has not ended; its end event decides")
			assert.Equal(t, before, s.outcome(), "nothing changed")
			assert.Empty(t, s.claims())
		})
	}
}

// supersededApproval: execution 1 waits at Approve about v1 while push 2's
// Latest deployment succeeded and latest serves v2; cleanup is invoked
// with that deployment's SUCCESS (returned, for the test to run).
func supersededApproval(t *testing.T, fixture string) (*story, protocol.Invoke) {
	t.Helper()
	s := newStory(t, fixture, protocol.Scenario{Pushes: 2})
	s.toApproval()
	s.deliverAll()
	s.do("PUSH v2", "exec-2 (v2) enters Latest")
	s.stage("d-2")
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy SUCCESS d-2")
	return s, s.take(contract.HookCleanup)
}

func TestCleanupRejectsASupersededApproval(t *testing.T) {
	s, inv := supersededApproval(t, "tenants-1")
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, inv))

	assert.Equal(t, "Failed", s.execution("exec-1"), "newest push wins: the approval about v1 is rejected")
	approvals := s.approvals()
	require.Len(t, approvals, 1)
	assert.Equal(t, "exec-1", approvals[0].ExecutionID)
	assert.Equal(t, "Rejected", approvals[0].Status)
	assert.Equal(t, "superseded by a newer push: latest now serves "+s.d.Image(2)+", not the "+protocol.Digest(1)+" this approval was asked for", approvals[0].Summary,
		"what the pipeline's console shows")
	assert.Contains(t, logs.String(), "rejected an approval a newer push superseded")
	s.split(0, 2) // push 2's own approval releases the tenants
	// Push 2 goes on to its own approval.
	s.unhold(contract.HookCleanup)
	s.deliverAll()
	s.do("exec-2 (v2) enters Approve", "APPROVE exec-2", "enters Stable")
	s.stage("d-3")
	s.deliverAll()
	s.everyoneOn(2)
}

// approveFirst lets a person approve (an event of the model) just before
// the function's PutApprovalResult reaches CodePipeline.
type approveFirst struct {
	protocol.API
	before func()
}

func (a approveFirst) PutApprovalResult(ctx context.Context, in *codepipeline.PutApprovalResultInput, opts ...func(*codepipeline.Options)) (*codepipeline.PutApprovalResultOutput, error) {
	a.before()
	return a.API.PutApprovalResult(ctx, in, opts...)
}

// A person approved between cleanup's read and its rejection: CodePipeline
// refuses the stale token, and cleanup leaves the approval as decided.
func TestCleanupLeavesAnApprovalAPersonDecidedMeanwhile(t *testing.T) {
	s, inv := supersededApproval(t, "tenants-1")
	api := approveFirst{API: s.d.API(), before: func() { require.NoError(t, s.d.Do("APPROVE exec-1")) }}
	h, logs := s.hooksOn(contract.HookCleanup, s.env(contract.HookCleanup), api)

	require.NoError(t, s.invokeWith(h, inv))

	assert.Equal(t, "InProgress", s.execution("exec-1"), "the person's approval stands")
	assert.Empty(t, s.approvals(), "no rejection accepted")
	assert.Contains(t, logs.String(), "the approval was decided meanwhile; left as decided")
	assert.Contains(t, logs.String(), "InvalidApprovalTokenException")
	assert.Empty(t, s.claims())
}

func TestCleanupAwaitsAnApprovalAboutLatestsImage(t *testing.T) {
	s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
	s.hold(contract.HookCleanup)
	s.toApproval()
	s.do("deliver CodeDeploy SUCCESS d-1")
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))

	assert.Equal(t, "InProgress", s.execution("exec-1"), "the approval is left to a person")
	assert.Empty(t, s.approvals())
	s.split(0, 1) // the pinned tenants wait for the approval
	assert.Contains(t, logs.String(), `"step":"await-approval"`)
}

func TestCleanupReleasesAndScalesDownAfterStableSucceeded(t *testing.T) {
	s := newStory(t, "tenants-2", protocol.Scenario{Pushes: 1})
	s.toApproval()
	s.deliverAll()
	s.do("APPROVE exec-1", "enters Stable")
	s.hold(contract.HookCleanup)
	s.stage("d-2")
	// unpin moved the catch-all up and left stable running through the
	// termination wait.
	o := s.outcome()
	assert.False(t, o.pinned)
	assert.Equal(t, s.stableCount(), o.stable)
	s.do("deliver CodeDeploy SUCCESS d-2")
	h, _ := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))

	s.everyoneOn(1)
	assert.Equal(t, "Succeeded", s.execution("exec-1"))
}

// heldAfterRejection: under approval.onReject=hold, execution 1's approval
// of v1 was rejected: latest serves v1, the tenants v0 on stable, nothing
// in flight. The rollback function held (it said so); the pipeline's
// FAILED event and the cleanup it runs are returned for the test.
func heldAfterRejection(t *testing.T) (*story, protocol.Invoke) {
	t.Helper()
	s := newStory(t, "hold", protocol.Scenario{Pushes: 1, Rejects: 1})
	s.toApproval()
	s.deliverAll()
	s.do("REJECT exec-1")
	s.hold(contract.HookCleanup)
	s.deliverAll()
	return s, s.take(contract.HookCleanup)
}

func TestCleanupSaysHeldAtWarn(t *testing.T) {
	s, inv := heldAfterRejection(t)
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, inv))

	s.split(0, 1)
	var held map[string]any
	for _, rec := range jsonLines(t, logs.String()) {
		if rec["step"] == "held" {
			held = rec
		}
	}
	require.NotNil(t, held, "a held line")
	assert.Equal(t, "WARN", held["level"])
	assert.Contains(t, held["msg"], "tenant-canary rollback", "says what to do")
	assert.Equal(t, s.env(contract.HookPin)[contract.EnvCatchAllPriorityPinned], held["catch_all_priority"])
}

// The pipeline execution's FAILED runs cleanup too (a `pulumi up` that
// cancels an execution waiting at Approve ends it without any deployment
// ending): the same held split is said at WARN, naming the execution.
func TestCleanupSaysHeldAfterAPipelineEditCanceledTheApproval(t *testing.T) {
	s, _ := heldAfterRejection(t)
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, h.CleanupEvent(context.Background(), pipelineEventOf(s.pipeline(), "exec-1", "CANCELED")))

	s.split(0, 1)
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), `"step":"held"`)
	assert.Contains(t, logs.String(), `"pipeline_execution_id":"exec-1"`)
}

// A failed Latest deployment's replacement task set may outlive its
// FAILURE event (the event comes before traffic is back, under that
// reading): cleanup polls until latest is down to one task set, and past
// its work deadline fails, holding nothing, so that Lambda retries; the
// retry after the rollback finished releases.
func TestCleanupRetriesWhileARollbackIsFinishing(t *testing.T) {
	s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1, Alarms: 1, Reading: protocol.Reading{EventBeforeRollback: true}})
	s.do("PUSH v1", "exec-1 (v1) enters Latest")
	s.do(canary("d-1")...)
	s.do("ALARM during d-1")
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy STOP d-1")
	inv := s.take(contract.HookCleanup)
	before := s.outcome()
	h, logs := s.hooks(contract.HookCleanup)
	// The work deadline (the invocation's, less the safety margin) passes
	// while it waits between two polls (a deadline that lands on a call
	// fails that call instead, and the message names the call).
	h.SafetyMargin, h.PollInterval = 100*time.Millisecond, time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()

	start := time.Now()
	err := s.m.runWith(ctx, h, inv)

	assert.Less(t, time.Since(start), 5*time.Second, "gives up at the work deadline")
	require.Error(t, err, "an error makes Lambda retry the event")
	assert.ErrorContains(t, err, "service "+s.env(contract.HookPin)[contract.EnvLatestServiceName]+" still has 2 task sets after")
	assert.ErrorContains(t, err, "(a rollback is finishing)")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, logs.String(), "a service still has two task sets: a rollback is finishing")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims(), "the claim is released on the error path too")

	s.do("traffic back on the original task set")
	h, _ = s.hooks(contract.HookCleanup)
	require.NoError(t, s.invokeWith(h, inv), "Lambda's retry")
	s.everyoneOn(0)
}

// stableStopped: v1 was approved and its Stable deployment d-2 stopped by
// an alarm in its canary step; under the default reading CodeDeploy has
// put stable's traffic back on v0 when its STOP event is delivered, under
// EventBeforeRollback not yet. cleanup's invocation for the STOP is
// returned.
func stableStopped(t *testing.T, fixture string, r protocol.Reading) (*story, protocol.Invoke) {
	t.Helper()
	s := newStory(t, fixture, protocol.Scenario{Pushes: 1, Alarms: 1, Reading: r})
	s.toApproval()
	s.deliverAll()
	s.do("APPROVE exec-1", "enters Stable")
	s.do(canary("d-2")...)
	s.do("ALARM during d-2")
	if !r.EventBeforeRollback {
		s.do("traffic back on the original task set")
	}
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy STOP d-2")
	return s, s.take(contract.HookCleanup)
}

// assertRolledBackToStable: cleanup started one Latest deployment of
// stable's version (v0) — the rollback function's path, its pin included —
// and the tenants stay pinned until it succeeds; when it does, its cleanup
// puts everyone on v0.
func assertRolledBackToStable(t *testing.T, s *story, n int) {
	t.Helper()
	require.Equal(t, n+1, s.deployments(), "one deployment started")
	id := "d-" + string(rune('0'+n+1))
	d := s.deployment(id)
	require.NotNil(t, d)
	assert.Equal(t, s.group("latest"), d.Group)
	assert.Equal(t, -1, d.Exec, "started by a function, not the pipeline")
	var v int
	s.inspect(func(w *protocol.World) { v = w.VersionOf(d.TaskDef) })
	assert.Equal(t, 0, v, "stable's version")
	s.split(0, 1)

	s.unhold(contract.HookCleanup)
	s.deliverAll()
	s.stage(id)
	assert.Equal(t, "Succeeded", s.lifecycle(id, "BeforeInstall"), "pin ran and CodeDeploy accepted its report")
	s.deliverAll()
	s.everyoneOn(0)
	assert.True(t, s.outcome().atRest)
}

// A failed Stable deployment rolls stable back to its original task set;
// cleanup waits until the replacement is gone before it compares images,
// then rolls latest back to stable's version.
func TestCleanupWaitsForAStableRollbackToFinish(t *testing.T) {
	s, inv := stableStopped(t, "tenants-1", protocol.Reading{EventBeforeRollback: true})
	h, logs := s.hooks(contract.HookCleanup)
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() { defer wg.Done(); err = s.invokeWith(h, inv) }()
	require.Eventually(t, func() bool { return strings.Contains(s.log(), "a rollback is finishing") }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.d.Do("traffic back on the original task set"))
	wg.Wait()

	require.NoError(t, err)
	assert.Contains(t, logs.String(), `"service":"`+s.env(contract.HookPin)[contract.EnvStableServiceName]+`"`)
	assert.NotContains(t, logs.String(), `"step":"held"`)
	assertRolledBackToStable(t, s, 2)
}

// A Stable deployment stopped by an alarm is a failed Stable stage too, and
// hold is about a person's rejection: latest is rolled back under
// approval.onReject=hold as well (cleanup does not read onReject).
func TestCleanupRollsLatestBackAfterAStoppedStableStage(t *testing.T) {
	for _, fixture := range []string{"tenants-1", "hold"} {
		t.Run(fixture, func(t *testing.T) {
			s, inv := stableStopped(t, fixture, protocol.Reading{})
			h, _ := s.hooks(contract.HookCleanup)

			require.NoError(t, s.invokeWith(h, inv))

			assertRolledBackToStable(t, s, 2)
		})
	}
}

// The same split after a Latest deployment's end — here the rollback
// function's own deployment of v0 after a rejection, stopped by an alarm —
// is held and said so: cleanup never redeploys on it, so a failing
// rollback cannot loop.
func TestCleanupHoldsASplitAfterALatestFailure(t *testing.T) {
	s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1, Rejects: 1, Alarms: 1})
	s.toApproval()
	s.deliverAll()
	s.do("REJECT exec-1")
	s.deliverAll()
	require.Equal(t, 2, s.deployments(), "the rollback function started d-2")
	s.do(canary("d-2")...)
	s.do("ALARM during d-2", "traffic back on the original task set")
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy STOP d-2")
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))

	assert.Equal(t, 2, s.deployments(), "no deployment started")
	assert.Contains(t, logs.String(), `"step":"held"`)
	s.split(0, 1)
}

func TestCleanupRejectsMalformedEvents(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	before := s.outcome()
	h, _ := s.hooks(contract.HookCleanup)

	wrongType := s.codeDeployEvent("latest", "FAILURE", "d-1")
	wrongType.DetailType = "CodeDeploy Instance State-change Notification"
	assert.ErrorContains(t, h.Cleanup(context.Background(), wrongType), "detail-type")
	assert.ErrorContains(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "", "d-1")), "detail.state")
	noID := s.codeDeployEvent("latest", "FAILURE", "d-1")
	noID.Detail.DeploymentID = ""
	assert.ErrorContains(t, h.Cleanup(context.Background(), noID), "detail.deploymentId")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims(), "not even a claim")
}

func TestMisconfiguredCleanupFailsWithTheConfigErrorAndChangesNothing(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	before := s.outcome()
	env := s.env(contract.HookCleanup)
	delete(env, contract.EnvPipelineName)
	h, _ := s.hooksWith(contract.HookCleanup, env)
	require.Error(t, h.ConfigErr)

	assert.ErrorContains(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "FAILURE", "d-1")), "PIPELINE_NAME is not set")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Empty(t, s.claims(), "not even a claim")
}

func pipelineEventOf(pipeline, execution, state string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "source": "aws.codepipeline", "detail-type": rollout.PipelineExecutionEventDetailType,
		"detail": map[string]any{"pipeline": pipeline, "execution-id": execution, "state": state, "version": 3},
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
		releases              bool
	}{
		{"canceled by a pipeline edit", "", "CANCELED", true},
		{"failed", "", "FAILED", true},
		{"stopped by an operator", "", "STOPPED", true},
		{"succeeded: a deployment's end already acted", "", "SUCCEEDED", false},
		{"superseded: the newer execution goes on", "", "SUPERSEDED", false},
		{"another pipeline", "someone-elses", "CANCELED", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			before := s.outcome()
			pipeline := tt.pipeline
			if pipeline == "" {
				pipeline = s.pipeline()
			}
			h, _ := s.hooks(contract.HookCleanup)

			require.NoError(t, h.CleanupEvent(context.Background(), pipelineEventOf(pipeline, "exec-1", tt.state)))

			if tt.releases {
				s.everyoneOn(0)
			} else {
				assert.Equal(t, before, s.outcome(), "nothing changed")
			}
		})
	}
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
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			before := s.outcome()
			h, _ := s.hooks(contract.HookCleanup)
			err := h.CleanupEvent(context.Background(), json.RawMessage(tt.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, before, s.outcome(), "nothing is changed for a malformed event")
			assert.Empty(t, s.claims(), "nor claimed")
		})
	}
}

// Release leaves stable serving for the deregistration delay after the
// catch-all moves above the tenant rules, and only then scales it to zero:
// a load balancer node still on the old rule order keeps sending pinned
// tenants to stable meanwhile, and AWS documents no time within which all
// nodes have the new order. Watched on the model: the time the catch-all
// moved and the time stable's desired count fell to 0.
func TestReleaseLeavesStableServingForTheDeregistrationDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	for _, hook := range []contract.Hook{contract.HookCleanup, contract.HookRollback} {
		t.Run(string(hook), func(t *testing.T) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			h, logs := s.hooks(hook)
			h.Config.ReleaseDelay = delay
			// When the catch-all move and the scale-down reach the model,
			// taken at the calls themselves (the model's fault layer runs
			// Before in the call's path), so a busy machine cannot shorten
			// the measured gap: the hook's timer starts after the move
			// returned and the scale-down is called after the timer fired.
			var mu sync.Mutex
			var moved, scaled time.Time
			at := func(t *time.Time) func() {
				return func() { mu.Lock(); *t = time.Now(); mu.Unlock() }
			}
			s.d.Before("SetRulePriorities", 1, at(&moved))
			s.d.Before("UpdateService", 1, at(&scaled))
			var err error
			if hook == contract.HookCleanup {
				err = h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1"))
			} else {
				var res rollout.RollbackResult
				res, err = h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "test"})
				assert.Equal(t, rollout.OutcomeUnpinned, res.Outcome)
			}
			require.NoError(t, err)

			mu.Lock()
			defer mu.Unlock()
			require.False(t, moved.IsZero(), "the catch-all moved")
			require.False(t, scaled.IsZero(), "stable was scaled down")
			assert.GreaterOrEqual(t, scaled.Sub(moved), delay, "stable kept serving for the deregistration delay after the catch-all moved")
			o := s.outcome()
			assert.False(t, o.pinned, "the catch-all is above the tenant rules")
			assert.Zero(t, o.stable, "stable is scaled down")
			s.everyoneOn(0)
			assert.Contains(t, logs.String(), `"step":"release-delay"`)
		})
	}
}

// With less time left than the delay, release moves the catch-all (safe:
// stable still serves) but scales nothing, and fails at once so that
// Lambda retries the event: nothing waits past the function's deadline.
func TestReleaseNeverWaitsPastTheDeadline(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	h, _ := s.hooks(contract.HookCleanup)
	h.Config.ReleaseDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	err := h.Cleanup(ctx, s.codeDeployEvent("latest", "STOP", "d-1"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "stable stays at its desired count")
	assert.Contains(t, err.Error(), "less than the 1h0m0s it must keep serving")
	o := s.outcome()
	assert.False(t, o.pinned, "everyone is on latest")
	assert.Equal(t, s.stableCount(), o.stable, "stable keeps serving")
}

// Nothing to wait for when stable already runs no task (an operator scaled
// it to 0 through ECS while the tenants were pinned).
func TestReleaseDoesNotWaitWhenStableRunsNothing(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	_, err := s.d.API().UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String(s.env(contract.HookPin)[contract.EnvClusterName]),
		Service: aws.String(s.env(contract.HookPin)[contract.EnvStableServiceName]), DesiredCount: aws.Int32(0)})
	require.NoError(t, err)
	h, logs := s.hooks(contract.HookCleanup)
	h.Config.ReleaseDelay = time.Hour

	require.NoError(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1")))
	s.everyoneOn(0)
	assert.NotContains(t, logs.String(), `"step":"release-delay"`)
}

// What goes wrong: each failure is injected at the model's one dispatch
// point (protocol.Direct's fault layer), where AWS would answer it.

// claimSpy records the tags a function sends to AddTags and RemoveTags
// (the request, as the hook builds it; the model keeps no tag values) and
// the deployments it asks CodeDeploy for.
type claimSpy struct {
	protocol.API
	mu      sync.Mutex
	added   map[string]string
	removed []string
	created []*codedeploy.CreateDeploymentInput
}

func spyOn(api protocol.API) *claimSpy { return &claimSpy{API: api, added: map[string]string{}} }

func (c *claimSpy) AddTags(ctx context.Context, in *elbv2.AddTagsInput, opts ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	c.mu.Lock()
	for _, tag := range in.Tags {
		c.added[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	c.mu.Unlock()
	return c.API.AddTags(ctx, in, opts...)
}

func (c *claimSpy) RemoveTags(ctx context.Context, in *elbv2.RemoveTagsInput, opts ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	c.mu.Lock()
	c.removed = append(c.removed, in.TagKeys...)
	c.mu.Unlock()
	return c.API.RemoveTags(ctx, in, opts...)
}

func (c *claimSpy) CreateDeployment(ctx context.Context, in *codedeploy.CreateDeploymentInput, opts ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error) {
	c.mu.Lock()
	c.created = append(c.created, in)
	c.mu.Unlock()
	return c.API.CreateDeployment(ctx, in, opts...)
}

// claimKey is the tag key of the release claim outside Lambda (no request
// id in the context).
const localClaimKey = contract.ReleaseTagPrefix + "local"

// opsOf are the operations the model received since mark (an index into
// its calls).
func (s *story) opsSince(mark int) []string { return s.d.Ops()[mark:] }

// cleanup makes itself visible to pin before it reads anything (a tag on
// the catch-all rule) and removes the tag whatever the outcome, so a pin
// that started meanwhile waits for it and none is blocked by it after. The
// order is the point here: the claim is the first call, its removal the
// last, and the model holds the claim when cleanup first reads.
func TestCleanupClaimsTheCatchAllBeforeItReadsAndReleasesItOnEveryPath(t *testing.T) {
	for _, tt := range []struct {
		name    string
		arrange func(t *testing.T) (*story, events.CodeDeployEvent)
		wantErr string
	}{
		{"released", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			return s, s.codeDeployEvent("latest", "STOP", "d-1")
		}, ""},
		{"busy", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
			s.do("PUSH v1", "exec-1 (v1) enters Latest", "CodeDeploy starts d-1")
			return s, s.codeDeployEvent("latest", "FAILURE", "d-OLD")
		}, ""},
		{"held", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s, _ := heldAfterRejection(t)
			return s, s.codeDeployEvent("latest", "SUCCESS", "d-1")
		}, ""},
		{"approval awaited", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
			s.toApproval()
			return s, s.codeDeployEvent("latest", "SUCCESS", "d-1")
		}, ""},
		{"superseded approval rejected", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s, _ := supersededApproval(t, "tenants-1")
			return s, s.codeDeployEvent("latest", "SUCCESS", "d-2")
		}, ""},
		{"error", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			s.d.FailNext(opRules, fakeaws.Throttling(opRules))
			return s, s.codeDeployEvent("latest", "STOP", "d-1")
		}, "describe rules of listener"},
		{"error while releasing", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			s.d.FailNext(opSet, fakeaws.ValidationError("nope"))
			return s, s.codeDeployEvent("latest", "STOP", "d-1")
		}, "nope"},
		{"panic", func(t *testing.T) (*story, events.CodeDeployEvent) {
			s := latestStopped(t, "tenants-1", protocol.Reading{})
			s.d.PanicOn(opGPS)
			return s, s.codeDeployEvent("latest", "STOP", "d-1")
		}, "panic: protocol: injected panic in GetPipelineState"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ev := tt.arrange(t)
			var claimsAtFirstRead []string
			s.d.Before(opLD, 1, func() { claimsAtFirstRead = s.claims() })
			spy := spyOn(s.d.API())
			h, _ := s.hooksOn(contract.HookCleanup, s.env(contract.HookCleanup), spy)
			mark := len(s.d.Calls())

			start := time.Now()
			err := h.Cleanup(context.Background(), ev)

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			ops := s.opsSince(mark)
			require.GreaterOrEqual(t, len(ops), 3)
			assert.Equal(t, opAdd, ops[0], "claimed before anything is read")
			assert.Equal(t, opRemove, ops[len(ops)-1], "released last")
			assert.Equal(t, []string{localClaimKey}, claimsAtFirstRead, "the claim is on the catch-all rule while cleanup reads")
			assert.Equal(t, []string{localClaimKey}, spy.removed)
			until, perr := time.Parse(time.RFC3339, spy.added[localClaimKey])
			require.NoError(t, perr, "the claim's value is its expiry, RFC 3339")
			assert.WithinRange(t, until, start.Add(rollout.DefaultBudget+time.Minute-2*time.Second), time.Now().Add(rollout.DefaultBudget+time.Minute),
				"the work deadline (no deadline in the context: the default budget) plus a minute")
			assert.Empty(t, s.claims(), "no claim left behind")
		})
	}
}

func TestCleanupClaimIsNamedAfterTheInvocationAndExpiresAfterItsDeadline(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	var claimsAtFirstRead []string
	s.d.Before(opLD, 1, func() { claimsAtFirstRead = s.claims() })
	spy := spyOn(s.d.API())
	h, _ := s.hooksOn(contract.HookCleanup, s.env(contract.HookCleanup), spy)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f5e2c1a-0000-4000-8000-000000000001"})
	deadline := time.Now().Add(10 * time.Minute)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	require.NoError(t, h.Cleanup(ctx, s.codeDeployEvent("latest", "STOP", "d-1")))

	key := contract.ReleaseTagPrefix + "8f5e2c1a-0000-4000-8000-000000000001"
	assert.Equal(t, []string{key}, claimsAtFirstRead)
	assert.Equal(t, []string{key}, spy.removed)
	until, err := time.Parse(time.RFC3339, spy.added[key])
	require.NoError(t, err)
	// The work ends SafetyMargin (20 s) before the invocation's deadline.
	want := deadline.Add(-rollout.DefaultSafetyMargin + time.Minute)
	assert.WithinDuration(t, want, until, 2*time.Second)
	assert.Empty(t, s.claims())
	s.everyoneOn(0)
}

func TestCleanupThatCannotClaimReadsNothingAndOneThatCannotReleaseStillSucceeds(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	before := s.outcome()
	s.d.FailNext(opAdd, fakeaws.AccessDenied(opAdd))
	h, logs := s.hooks(contract.HookCleanup)
	mark := len(s.d.Calls())

	err := h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1"))

	assert.ErrorContains(t, err, "claim the catch-all rule (tag "+localClaimKey+")")
	assert.Equal(t, []string{opAdd}, s.opsSince(mark), "no claim, no decision: Lambda retries the event")
	assert.Equal(t, before, s.outcome(), "nothing changed")
	assert.Contains(t, logs.String(), "claim the catch-all rule")

	// The tag's removal is best effort: the claim expires by itself.
	s.d.FailNext(opRemove, fakeaws.Throttling(opRemove))
	h, logs = s.hooks(contract.HookCleanup)
	require.NoError(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1")))
	s.everyoneOn(0)
	assert.Contains(t, logs.String(), "could not remove the claim; it expires by itself")
	assert.Equal(t, []string{localClaimKey}, s.claims(), "left on the rule until it expires")
}

func TestCleanupFailsClearlyAndChangesNothingWhenItCannotDecide(t *testing.T) {
	tests := []struct {
		name    string
		state   func(t *testing.T) *story
		arrange func(s *story)
		want    func(s *story) string
	}{
		{"list latest deployments", nil, func(s *story) { s.d.FailNext(opLD, fakeaws.AccessDenied(opLD)) },
			func(s *story) string { return "list unfinished deployments of " + s.app() + "/" + s.group("latest") }},
		{"list stable deployments", nil, func(s *story) { s.d.FailNext(opLD, nil, fakeaws.AccessDenied(opLD)) },
			func(s *story) string { return "list unfinished deployments of " + s.app() + "/" + s.group("stable") }},
		{"describe rules", nil, func(s *story) { s.d.FailNext(opRules, fakeaws.Throttling(opRules)) },
			func(*story) string { return "describe rules of listener" }},
		{"describe services", nil, func(s *story) { s.d.FailNext(opDesc, fakeaws.Throttling(opDesc)) },
			func(s *story) string {
				return "describe service " + s.env(contract.HookPin)[contract.EnvLatestServiceName] + ", " + s.env(contract.HookPin)[contract.EnvStableServiceName]
			}},
		{"pipeline state", nil, func(s *story) { s.d.FailNext(opGPS, fakeaws.AccessDenied(opGPS)) },
			func(s *story) string { return "get state of pipeline " + s.pipeline() }},
		{"pending execution", func(t *testing.T) *story {
			s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
			s.toApproval()
			return s
		}, func(s *story) { s.d.FailNext(opGPE, fakeaws.AccessDenied(opGPE)) },
			func(*story) string { return "get pipeline execution exec-1" }},
		{"describe task definition", nil, func(s *story) { s.d.FailNext(opTD, nil, fakeaws.AccessDenied(opTD)) },
			func(s *story) string {
				var td string
				s.inspect(func(w *protocol.World) { td = w.StableService().TaskSets[0].TaskDef })
				return "describe task definition " + td
			}},
		// Someone edited the anchor rule by hand to forward to the group
		// where stable runs no task set.
		{"the anchor forwards where stable has no task set", nil, func(s *story) {
			s.m.setForward(s.m.env(contract.EnvAnchorRuleARN), s.m.stableTGs()[1])
		}, func(s *story) string {
			return "service " + s.m.env(contract.EnvStableServiceName) + " has no task set in target groups [" + s.m.stableTGs()[1] + "]" // the groups with weight
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *story
			if tt.state != nil {
				s = tt.state(t)
			} else {
				s = latestStopped(t, "tenants-1", protocol.Reading{})
			}
			tt.arrange(s)
			before := s.outcome()
			h, logs := s.hooks(contract.HookCleanup)
			mark := len(s.d.Calls())

			err := h.Cleanup(context.Background(), s.codeDeployEvent("latest", "SUCCESS", "d-1"))

			want := tt.want(s)
			require.Error(t, err, "an error makes Lambda retry the event")
			assert.Contains(t, err.Error(), want)
			assert.Equal(t, before, s.outcome(), "nothing changed")
			for _, op := range []string{opSet, opUpdate, opPAR, opCreate} {
				assert.NotContains(t, s.opsSince(mark), op)
			}
			assert.Empty(t, s.approvals())
			assert.Contains(t, logs.String(), want)
			assert.Empty(t, s.claims())
		})
	}
}

func TestCleanupReturnsStepErrors(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	before := s.outcome()
	s.d.FailNext(opSet, fakeaws.ValidationError("nope"))
	h, _ := s.hooks(contract.HookCleanup)
	assert.ErrorContains(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1")), "nope")
	assert.Equal(t, before, s.outcome(), "stable keeps running while tenants are still pinned to it")

	s.d.PanicOn(opRules)
	assert.ErrorContains(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1")), "panic")
	assert.Equal(t, before, s.outcome())
	assert.Empty(t, s.claims())
}

// CodePipeline refuses the rejection of an approval decided meanwhile
// (ApprovalAlreadyCompletedException, or the token no longer valid):
// cleanup leaves it as decided. Any other error fails cleanup, and Lambda
// retries the event.
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
			s, inv := supersededApproval(t, "tenants-1")
			s.d.FailNext(opPAR, &fakeaws.APIError{Code: tt.code, Message: "injected"})
			h, logs := s.hooks(contract.HookCleanup)

			err := s.invokeWith(h, inv)

			if tt.wantErr {
				assert.ErrorContains(t, err, "reject superseded approval of execution exec-1")
			} else {
				require.NoError(t, err)
				assert.Contains(t, logs.String(), "the approval was decided meanwhile; left as decided")
			}
			assert.Empty(t, s.approvals(), "CodePipeline accepted no result")
			assert.Equal(t, "InProgress", s.execution("exec-1"))
			s.split(0, 2)
		})
	}
}

// pin gave up (here: its SetRulePriorities refused) after it scaled stable
// up: the catch-all never moved, the Latest deployment failed before any
// traffic shift, and cleanup scales stable back down.
func TestCleanupAfterPinFailedBeforeAnyTrafficShift(t *testing.T) {
	s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 1})
	s.d.FailNext(opSet, fakeaws.ValidationError("Priority is currently in use"))
	s.do("PUSH v1", "exec-1 (v1) enters Latest")
	s.hold(contract.HookPin)
	s.do("CodeDeploy starts d-1")
	pin := s.take(contract.HookPin)
	h, _ := s.hooks(contract.HookPin)
	require.Error(t, s.invokeWith(h, pin))
	assert.Equal(t, "Failed", s.lifecycle("d-1", "BeforeInstall"))
	assert.Equal(t, protocol.DepFailed, s.deployment("d-1").Status)
	o := s.outcome()
	assert.False(t, o.pinned, "the catch-all never moved")
	assert.Equal(t, s.stableCount(), o.stable, "stable was scaled up")

	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy FAILURE d-1")
	h, _ = s.hooks(contract.HookCleanup)
	mark := len(s.d.Calls())
	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))

	s.everyoneOn(0)
	assert.NotContains(t, s.opsSince(mark), opSet, "the catch-all is already in place")

	// The same while another execution waits at Approve: latest serves the
	// image awaiting approval, the tenants stay pinned where they are.
	s = newStory(t, "tenants-1", protocol.Scenario{Pushes: 2})
	s.toApproval()
	s.deliverAll()
	s.do("PUSH v2", "exec-2 (v2) enters Latest")
	s.d.FailNext(opRules, fakeaws.AccessDenied(opRules))
	s.hold(contract.HookPin)
	s.do("CodeDeploy starts d-2")
	h, _ = s.hooks(contract.HookPin)
	require.Error(t, s.invokeWith(h, s.take(contract.HookPin)))
	assert.Equal(t, protocol.DepFailed, s.deployment("d-2").Status)
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy FAILURE d-2")
	h, _ = s.hooks(contract.HookCleanup)
	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))
	s.split(0, 1)
	assert.Equal(t, "InProgress", s.execution("exec-1"), "its approval is awaited")
}

// tagCatchAll sets tags on the catch-all rule through the model's AddTags,
// as functions that died holding a claim left them.
func (s *story) tagCatchAll(tags map[string]string) {
	s.t.Helper()
	var in elbv2.AddTagsInput
	in.ResourceArns = []string{s.env(contract.HookPin)[contract.EnvCatchAllRuleARN]}
	for k, v := range tags {
		in.Tags = append(in.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	_, err := s.d.API().AddTags(context.Background(), &in)
	require.NoError(s.t, err)
}

// catchAllTags are the catch-all rule's tags and their values.
func (s *story) catchAllTags() map[string]string {
	out, err := s.d.API().DescribeTags(context.Background(), &elbv2.DescribeTagsInput{ResourceArns: []string{s.env(contract.HookPin)[contract.EnvCatchAllRuleARN]}})
	require.NoError(s.t, err)
	tags := map[string]string{}
	for _, d := range out.TagDescriptions {
		for _, tag := range d.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
	}
	return tags
}

// maxRuleTags is a listener rule's tag limit ("Tags for your listeners and
// rules", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rule-tags.html).
const maxRuleTags = 50

// Functions that died holding a claim leave their tags on the catch-all
// rule, and a rule holds at most 50 tags: before, the 51st claim failed
// with TooManyTags and so did every cleanup and rollback after it. A full
// rule now has its expired claims removed and the claim goes through; an
// unexpired claim is left alone.
func TestClaimRemovesExpiredClaimsWhenTheRuleIsFull(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	live := contract.ReleaseTagPrefix + "still-running"
	tags := map[string]string{contract.ReleaseTagPrefix + "garbled": "not a time", live: future}
	for i := range maxRuleTags - 2 {
		tags[fmt.Sprintf("%sdied-%02d", contract.ReleaseTagPrefix, i)] = past
	}
	s.tagCatchAll(tags)
	require.Len(t, s.catchAllTags(), maxRuleTags)
	h, logs := s.hooks(contract.HookCleanup)
	mark := len(s.d.Calls())

	require.NoError(t, h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1")))

	assert.Equal(t, []string{opAdd, opTags, opRemove, opAdd}, s.opsSince(mark)[:4], "one refused claim, the clean-up, the claim again, before anything else is read")
	assert.Equal(t, map[string]string{live: future}, s.catchAllTags(), "expired and unreadable claims gone, the live one kept, ours released")
	assert.Contains(t, logs.String(), "removed expired claims from the catch-all rule")
	s.everyoneOn(0)
}

// A rule full of live claims is not emptied: the claim fails, naming why,
// and nothing changes.
func TestClaimNeverRemovesALiveClaim(t *testing.T) {
	s := latestStopped(t, "tenants-1", protocol.Reading{})
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tags := map[string]string{}
	for i := range maxRuleTags {
		tags[fmt.Sprintf("%slive-%02d", contract.ReleaseTagPrefix, i)] = future
	}
	s.tagCatchAll(tags)
	before := s.outcome()
	h, _ := s.hooks(contract.HookCleanup)

	err := h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "TooManyTags")
	assert.Equal(t, tags, s.catchAllTags())
	assert.Equal(t, before, s.outcome(), "nothing moved without a claim")
}

// byTag: before any push, a person registered latest's task definition
// again with the image named by tag (v0, what the tag pointed at) and,
// once push v1 waited at Approve, deployed it to latest by hand; its
// deployment d-2 ran (pin included) and succeeded. latest now names its
// image by tag while an approval about v1's digest is pending. cleanup's
// invocation for d-2's SUCCESS is returned.
func byTag(t *testing.T, sc protocol.Scenario) (*story, protocol.Invoke) {
	t.Helper()
	s := newStory(t, "tenants-1", sc)
	reg, ok := s.d.API().(interface {
		RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	})
	require.True(t, ok, "the model registers task definitions")
	td, err := reg.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: aws.String("service"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(s.d.ImageRepository() + ":release")}}})
	require.NoError(t, err)
	s.toApproval()
	s.deliverAll()
	appSpec := strings.Replace(s.env(contract.HookRollback)[contract.EnvAppSpecLatest], appspec.TaskDefinitionPlaceholder, aws.ToString(td.TaskDefinition.TaskDefinitionArn), 1)
	_, err = s.d.API().CreateDeployment(context.Background(), &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(s.app()),
		DeploymentGroupName: aws.String(s.group("latest")),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(appSpec)}}})
	require.NoError(t, err)
	s.stage("d-2")
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy SUCCESS d-2")
	return s, s.take(contract.HookCleanup)
}

// latest names its image by tag (a deployment that did not use the ECR
// source's digest): the pending approval's digest cannot be compared with
// it. Before, "cannot compare" read as "different" and the approval was
// rejected automatically; now cleanup holds and says why.
func TestCleanupNeverRejectsAnApprovalItCannotCompare(t *testing.T) {
	s, inv := byTag(t, protocol.Scenario{Pushes: 1})
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, inv))

	assert.Empty(t, s.approvals(), "no automatic rejection")
	assert.Equal(t, "InProgress", s.execution("exec-1"), "the approval is left to a person")
	assert.Contains(t, logs.String(), `"level":"WARN"`)
	assert.Contains(t, logs.String(), "cannot tell whether the pending approval is about the image latest serves")
	assert.Contains(t, logs.String(), `"approval_digest":"`+protocol.Digest(1)+`"`)
	s.split(0, 0) // the tenants stay pinned while the approval waits
}

// exec-1 is approved and its Stable deployment (d-2) runs when exec-2's
// canary of v2 is rejected: the rollback function finds d-2 unfinished and
// leaves it. At d-2's SUCCESS, cleanup finds latest still on the rejected
// v2 and nothing in flight, and rolls latest back to stable's v1 (the
// Approve stage's latest execution failed and delivered latest's image),
// instead of holding a split nobody decides.
func TestCleanupRollsBackARejectionTheRollbackFunctionLeft(t *testing.T) {
	s := newStory(t, "tenants-1", protocol.Scenario{Pushes: 2, Rejects: 1})
	s.toApproval()
	s.deliverAll()
	s.do("APPROVE exec-1", "PUSH v2", "exec-1 (v1) enters Stable", "CodeDeploy starts d-2", "CodeDeploy d-2 creates the replacement")
	s.do("exec-2 (v2) enters Latest")
	s.stage("d-3")
	s.deliverAll()
	s.do("exec-2 (v2) enters Approve", "REJECT exec-2")
	s.deliverAll()
	require.Equal(t, 3, s.deployments(), "the rollback function started nothing: d-2 had not ended")
	s.do("CodeDeploy d-2 shifts the canary")
	s.do(toEnd("d-2")...)
	s.hold(contract.HookCleanup)
	s.do("deliver CodeDeploy SUCCESS d-2")
	h, logs := s.hooks(contract.HookCleanup)

	require.NoError(t, s.invokeWith(h, s.take(contract.HookCleanup)))

	assert.Contains(t, logs.String(), "the approval of the image latest serves was rejected or expired: latest goes back to stable's version")
	require.Equal(t, 4, s.deployments(), "cleanup rolled latest back")
	s.unhold(contract.HookCleanup)
	s.stage("d-4")
	s.deliverAll()
	s.everyoneOn(1)
}
