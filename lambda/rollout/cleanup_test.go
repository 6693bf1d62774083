package rollout_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
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
	summary := s.traced("exec-1's approval Rejected by a function")
	assert.Contains(t, summary, "superseded by a newer push: latest now serves "+s.d.Image(2))
	assert.Contains(t, summary, protocol.Digest(1))
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
	assert.Empty(t, s.traced("Rejected by a function"))
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
	assert.Empty(t, s.traced("by a function"))
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
	// Polls 30 ms apart: the work deadline passes while it waits.
	h.Budget, h.PollInterval = 100*time.Millisecond, 30*time.Millisecond

	start := time.Now()
	err := s.invokeWith(h, inv)

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
	h.Budget = 5 * time.Second
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
			var moved, scaled time.Time
			done := make(chan error, 1)
			go func() {
				if hook == contract.HookCleanup {
					done <- h.Cleanup(context.Background(), s.codeDeployEvent("latest", "STOP", "d-1"))
					return
				}
				res, err := h.Rollback(context.Background(), rollout.RollbackRequest{Reason: "test"})
				assert.Equal(t, rollout.OutcomeUnpinned, res.Outcome)
				done <- err
			}()
			for scaled.IsZero() {
				o := s.outcome()
				if moved.IsZero() && !o.pinned {
					moved = time.Now()
				}
				if o.stable == 0 {
					scaled = time.Now()
				}
				time.Sleep(2 * time.Millisecond)
			}
			require.NoError(t, <-done)

			require.False(t, moved.IsZero(), "the catch-all moved")
			assert.GreaterOrEqual(t, scaled.Sub(moved), delay-10*time.Millisecond, "stable kept serving for the deregistration delay after the catch-all moved")
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
