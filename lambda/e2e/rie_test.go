//go:build linux

package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

const (
	opRules  = fakeaws.OpDescribeRules
	opDesc   = fakeaws.OpDescribeServices
	opUpdate = fakeaws.OpUpdateService
	opHealth = fakeaws.OpDescribeTargetHealth
	opSet    = fakeaws.OpSetRulePriorities
	opPut    = fakeaws.OpPutHookStatus
	opModify = fakeaws.OpModifyRule
	opTD     = fakeaws.OpDescribeTaskDef
	opLD     = fakeaws.OpListDeployments
	opGDT    = fakeaws.OpGetDeploymentTarget
	opCreate = fakeaws.OpCreateDeployment
	opGPS    = fakeaws.OpGetPipelineState
	opGPE    = fakeaws.OpGetPipelineExecution
	opPAR    = fakeaws.OpPutApprovalResult
	opAdd    = fakeaws.OpAddTags
	opRemove = fakeaws.OpRemoveTags
	opTags   = fakeaws.OpDescribeTags
)

// claimed is the call sequence of a cleanup or rollback that holds the
// release claim (a tag on the catch-all rule) around ops.
func claimed(ops ...string) []string {
	return append(append([]string{opAdd}, ops...), opRemove)
}

// e2eLatestDeployment is the deploymentId of stateChangeEvent.
const e2eLatestDeployment = "d-E2ELATEST"

// The payload CodeDeploy sends to an ECS lifecycle hook.
const hookEvent = `{"DeploymentId":"d-E2ETEST01","LifecycleEventHookExecutionId":"eyJlbmNyeXB0ZWREYXRhIjoiZTJlIn0="}`

// An EventBridge "CodeDeploy Deployment State-change Notification", in the
// documented shape (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codedeploy.html).
func stateChangeEvent(group, state string) string {
	return stateChangeEventOf(group, state, e2eLatestDeployment)
}

func stateChangeEventOf(group, state, deploymentID string) string {
	return `{
  "account": "123456789012",
  "region": "us-east-1",
  "detail-type": "CodeDeploy Deployment State-change Notification",
  "source": "aws.codedeploy",
  "version": "0",
  "time": "2026-06-30T22:06:31Z",
  "id": "c071bfbf-83c4-49ca-a6ff-3df053957145",
  "resources": [
    "arn:aws:codedeploy:us-east-1:123456789012:application:tc-dev",
    "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:tc-dev/` + group + `"
  ],
  "detail": {
    "region": "us-east-1",
    "application": "tc-dev",
    "deploymentId": "` + deploymentID + `",
    "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2",
    "state": "` + state + `",
    "deploymentGroup": "` + group + `"
  }
}`
}

// An EventBridge "CodePipeline Action Execution State Change" of the
// Approve action (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html).
func approvalEvent(execution, state string) string {
	return `{
  "version": "0",
  "id": "5ae0f8a4-1d74-4dc3-9bb8-6b3c4c1d2f11",
  "detail-type": "CodePipeline Action Execution State Change",
  "source": "aws.codepipeline",
  "account": "123456789012",
  "time": "2026-06-30T22:06:31Z",
  "region": "us-east-1",
  "resources": ["arn:aws:codepipeline:us-east-1:123456789012:` + fakeaws.PipelineName + `"],
  "detail": {
    "pipeline": "` + fakeaws.PipelineName + `",
    "execution-id": "` + execution + `",
    "stage": "Approve",
    "action": "Approve",
    "state": "` + state + `",
    "region": "us-east-1",
    "type": {"owner": "AWS", "provider": "Manual", "category": "Approval", "version": "1"},
    "version": 1
  }
}`
}

func reportsOf(w *fakeaws.World) []string {
	var out []string
	for _, r := range w.Reports() {
		out = append(out, r.Status)
	}
	return out
}

func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		ErrorMessage string `json:"errorMessage"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.NotEmpty(t, e.ErrorMessage, "want an error response, got %s", body)
	return e.ErrorMessage
}

func pinned(w *fakeaws.World) *fakeaws.World {
	w.Rules[1].Priority = "50000"
	w.DesiredCount = fakeaws.DesiredCount
	return w
}

// onV1 is the world after the Stable deployment of v1: stable serves v1
// from green (the anchor and the tenant rules forward there), latest
// serves v1 too.
func onV1(w *fakeaws.World) *fakeaws.World {
	w.StablePrimaryTG, w.StableTaskDef, w.LatestTaskDef = fakeaws.StableGreenTG, fakeaws.TaskDefStableV1, fakeaws.TaskDefV1
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	for _, r := range w.Tenants() {
		r.Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	}
	return w
}

// rejected is the world after execution exec-A's approval of v1 was
// rejected: latest serves v1, stable and the pinned tenants v0.
func rejected(w *fakeaws.World) *fakeaws.World {
	w.LatestTaskDef = fakeaws.TaskDefV1
	w.AddExecution("exec-A", fakeaws.DigestV1)
	return w
}

func TestRealBinaryUnderLambdaRuntime(t *testing.T) {
	rieBinary(t)
	// A tenant rule the program adds during pin's health wait, on the
	// pair's first group while stable serves from green.
	added := fakeaws.DefaultRuleARN + "add"
	tests := []struct {
		name        string
		hook        string
		world       func() *fakeaws.World
		env         map[string]string // changes to fakeaws.Env(); "" unsets
		timeout     int
		event       string
		wantOps     []string
		anyOps      bool // the number of polls depends on timing
		wantReports []string
		wantError   string // "" means the invocation succeeds
		wantBody    string // the response (rollback's result), if set
		check       func(t *testing.T, w *fakeaws.World)
		wantLog     string // in the function's output
	}{
		{
			name: "pin waits on the second target group then pins",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(3, fakeaws.StableGreenTG)
				w.PollsUntilHealthy = 0
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, fakeaws.ListDeploymentsDetail(fakeaws.CodeDeployApp, fakeaws.StableGroup, "Created", "Queued", "InProgress", "Ready", "Baking"), w.Calls()[0].Detail)
				assert.Equal(t, fakeaws.StableGreenTG, w.Calls()[5].Detail)
				assert.Equal(t, fakeaws.CatchAllRuleARN+"=50000", w.Calls()[7].Detail)
				assert.Equal(t, "50000", w.CatchAllPriority())
				assert.EqualValues(t, 2, w.Desired())
			},
		},
		{
			// stable's primary task set moved to green with the last Stable
			// deployment (and CodeDeploy shifted the anchor there); the
			// tenant rules (e.g. added since 0 tenants) still forward to
			// blue, the program's first group.
			name: "pin follows stable's primary task set and repairs the tenant rules",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.StablePrimaryTG = fakeaws.StableGreenTG
				w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opModify, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				c := w.Calls()
				assert.Equal(t, fakeaws.CatchAllRuleARN, c[1].Detail, "the claims on the catch-all rule")
				assert.Equal(t, fakeaws.StableService, c[3].Detail)
				assert.Equal(t, "stable desiredCount=2", c[4].Detail)
				assert.Equal(t, fakeaws.StableGreenTG, c[5].Detail, "waits where ECS registers stable's tasks")
				assert.Equal(t, fakeaws.StableBlueTG, c[7].Detail, "no healthy target on the other group: the rules on it are repaired")
				assert.Equal(t, w.Tenants()[0].ARN+" forward="+fakeaws.StableGreenTG, c[8].Detail)
				assert.Equal(t, w.Tenants()[1].ARN+" forward="+fakeaws.StableGreenTG, c[9].Detail)
				assert.Equal(t, fakeaws.CatchAllRuleARN+"=50000", c[10].Detail, "catch-all moved after the repair")
				for _, r := range w.Tenants() {
					assert.Equal(t, fakeaws.StableGreenTG, w.Rule(r.ARN).Target)
				}
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
		},
		{
			name: "pin rereads the listener after the health wait and repairs a rule added meanwhile",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableGreenTG)
				w.On(opHealth, 1, func(w *fakeaws.World) {
					w.Rules = append(w.Rules, &fakeaws.Rule{ARN: added, Priority: "20", Forward: fakeaws.StableForward(fakeaws.StableBlueTG)})
				})
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opHealth, opModify, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, added+" forward="+fakeaws.StableGreenTG, w.Calls()[8].Detail)
				assert.Equal(t, fakeaws.StableGreenTG, w.Rule(added).Target)
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
		},
		{
			// One poll interval (5 s) of waiting: the unpin ends during
			// the second poll.
			name: "pin waits while an earlier rollout's unpin runs",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", fakeaws.UnpinRunning())
				w.On(opGDT, 2, func(w *fakeaws.World) { w.Deployments[0].Events["AfterAllowTraffic"] = "Succeeded" })
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opGDT, opLD, opGDT, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "d-STABLE01 tc-dev:stable", w.Calls()[1].Detail)
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
			wantLog: "an earlier rollout's unpin is running: waiting for it to end",
		},
		{
			name: "pin fails clearly when stable's primary task set is outside the pair",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.StablePrimaryTG = fakeaws.LatestBlueTG
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opTags, opRules, opDesc, opPut},
			wantReports: []string{"Failed"},
			wantError:   "which is not one of STABLE_TARGET_GROUP_ARNS",
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name: "pin rides out throttling",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.FailNext(opLD, fakeaws.Throttling(opLD))
				w.FailNext(opRules, fakeaws.Throttling(opRules))
				w.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opLD, opTags, opRules, opRules, opDesc, opUpdate, opUpdate, opHealth, opRules, opSet, opPut},
			wantReports: []string{"Succeeded"},
		},
		{
			name: "pin fails fast on a ValidationError and reports Failed",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.FailNext(opSet, fakeaws.ValidationError("Priority '50000' is currently in use"))
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opTags, opRules, opDesc, opUpdate, opHealth, opRules, opSet, opPut},
			wantReports: []string{"Failed"},
			wantError:   "ValidationError",
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
			},
		},
		{
			name: "pin reports Failed before the timeout when targets never turn healthy",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.NeverHealthy = true
				return w
			},
			timeout:     4,
			event:       hookEvent,
			anyOps:      true,
			wantReports: []string{"Failed"},
			wantError:   "gave up waiting for 2 healthy targets",
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.NotContains(t, w.Ops(), opSet)
			},
		},
		{
			// A tenant added mid-rollout is then pinned the moment its
			// rule exists.
			name:        "pin with no pinned tenants still pins",
			hook:        "pin",
			world:       func() *fakeaws.World { return fakeaws.NewWorld(0, fakeaws.StableBlueTG) },
			event:       hookEvent,
			anyOps:      true,
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
				assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
			},
		},
		{
			name:        "pin misconfigured still reports Failed naming the variables",
			hook:        "pin",
			world:       func() *fakeaws.World { return fakeaws.NewWorld(2, fakeaws.StableBlueTG) },
			env:         map[string]string{"LISTENER_ARN": "", "STABLE_DESIRED_COUNT": "zero", "ANCHOR_RULE_ARN": ""},
			event:       hookEvent,
			wantOps:     []string{opPut},
			wantReports: []string{"Failed"},
			wantError:   `STABLE_DESIRED_COUNT="zero" must be an integer in 1..5000; LISTENER_ARN is not set; ANCHOR_RULE_ARN is not set`,
		},
		{
			name:      "pin rejects an event without an execution id and cannot report",
			hook:      "pin",
			world:     func() *fakeaws.World { return fakeaws.NewWorld(2, fakeaws.StableBlueTG) },
			event:     `{"DeploymentId":"d-E2ETEST01"}`,
			wantError: "LifecycleEventHookExecutionId missing; cannot report",
		},
		{
			name:        "unpin moves the catch-all back and leaves stable running",
			hook:        "unpin",
			world:       func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:       hookEvent,
			wantOps:     []string{opLD, opRules, opDesc, opTD, opTD, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, fakeaws.DesiredCount, w.Desired(), "cleanup scales stable down after the termination wait")
			},
		},
		{
			name: "unpin holds while a newer rollout's Latest deployment is unfinished",
			hook: "unpin",
			world: func() *fakeaws.World {
				w := onV1(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)))
				w.StartDeployment(fakeaws.LatestGroup, "d-LATEST02", nil)
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
			wantLog: `"step":"held"`,
		},
		{
			name: "unpin reports Failed on AccessDenied",
			hook: "unpin",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.FailNext(opSet, fakeaws.AccessDenied(opSet))
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opLD, opRules, opDesc, opTD, opTD, opSet, opPut},
			wantReports: []string{"Failed"},
			wantError:   "AccessDenied",
		},
		{
			name:    "cleanup unpins after the Latest deployment fails",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEvent(fakeaws.LatestGroup, "FAILURE"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opSet, opUpdate),
			check: func(t *testing.T, w *fakeaws.World) {
				c := w.Calls()
				assert.True(t, strings.HasPrefix(c[0].Detail, contract.ReleaseTagPrefix), "the claim's key: %s", c[0].Detail)
				assert.NotEqual(t, contract.ReleaseTagPrefix+"local", c[0].Detail, "named after the invocation's request id")
				assert.Equal(t, c[0].Detail, c[len(c)-1].Detail, "the claim removed is the claim added")
				assert.Empty(t, w.TagsOf(fakeaws.CatchAllRuleARN))
				assert.Equal(t, fakeaws.LatestService+","+fakeaws.StableService, c[4].Detail)
				assert.Equal(t, fakeaws.PipelineName, c[5].Detail)
				assert.Equal(t, fakeaws.TaskDefLatestV0, c[6].Detail)
				assert.Equal(t, fakeaws.TaskDefStableV0, c[7].Detail)
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name:    "cleanup acts whatever the rollback's deployment id",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEventOf(fakeaws.LatestGroup, "SUCCESS", "d-ROLLBACK1"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opSet, opUpdate),
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name: "cleanup releases and scales down after the Stable deployment succeeded",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := onV1(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)))
				w.Rules[1].Priority = "1" // unpin moved it
				return w
			},
			event:   stateChangeEvent(fakeaws.StableGroup, "SUCCESS"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD, opUpdate),
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name: "cleanup awaits an approval about latest's image",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.LatestTaskDef = fakeaws.TaskDefV1
				w.AwaitApproval("exec-A", fakeaws.DigestV1)
				return w
			},
			event:   stateChangeEvent(fakeaws.LatestGroup, "SUCCESS"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE),
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
				assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
				assert.Empty(t, w.ApprovalResults())
			},
			wantLog: "the pending approval is about the image latest serves",
		},
		{
			name: "cleanup rejects a superseded approval",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.LatestTaskDef = fakeaws.TaskDefV2
				w.AwaitApproval("exec-A", fakeaws.DigestV1)
				return w
			},
			event:   stateChangeEvent(fakeaws.LatestGroup, "SUCCESS"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opGPE, opPAR),
			check: func(t *testing.T, w *fakeaws.World) {
				results := w.ApprovalResults()
				require.Len(t, results, 1)
				assert.Equal(t, fakeaws.ApprovalResult{ExecutionID: "exec-A", Status: "Rejected",
					Summary: "superseded by a newer push: latest now serves " + fakeaws.ImageV2 + ", not the " + fakeaws.DigestV1 + " this approval was asked for"}, results[0])
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
		},
		{
			name:    "cleanup says held at WARN",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))) },
			event:   stateChangeEvent(fakeaws.LatestGroup, "SUCCESS"),
			wantOps: claimed(opLD, opLD, opRules, opDesc, opGPS, opTD, opTD),
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
			wantLog: `"level":"WARN","msg":"pinned tenants stay on stable`,
		},
		{
			name: "cleanup does nothing while a deployment is unfinished",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.StartDeployment(fakeaws.StableGroup, "d-STABLE01", nil)
				return w
			},
			event:   stateChangeEvent(fakeaws.LatestGroup, "SUCCESS"),
			wantOps: claimed(opLD, opLD),
			wantLog: "nothing to do yet: deployment d-STABLE01 of group stable has not ended",
		},
		{
			name:    "cleanup ignores other deployment groups",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEvent("someone-elses", "STOP"),
			wantOps: nil,
		},
		{
			name:     "rollback redeploys latest with stable's task definition",
			hook:     "rollback",
			world:    func() *fakeaws.World { return rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))) },
			event:    approvalEvent("exec-A", "FAILED"),
			wantOps:  []string{opGPE, opAdd, opLD, opLD, opRules, opDesc, opTD, opTD, opTD, opCreate, opRemove},
			wantBody: `{"outcome":"deploying","detail":"latest is being redeployed with ` + fakeaws.TaskDefStableV0 + `; cleanup unpins the tenants when it succeeds","deploymentId":"d-CREATED01"}`,
			check: func(t *testing.T, w *fakeaws.World) {
				created := w.CreatedDeployments()
				require.Len(t, created, 1)
				assert.Equal(t, fakeaws.LatestGroup, created[0].Group)
				assert.Equal(t, strings.Replace(fakeaws.AppSpecLatest, "<TASK_DEFINITION>", fakeaws.TaskDefStableV0, 1), created[0].AppSpec)
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
		},
		{
			name: "rollback of a superseded rejection does nothing",
			hook: "rollback",
			world: func() *fakeaws.World {
				w := rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)))
				w.LatestTaskDef = fakeaws.TaskDefV2
				return w
			},
			event:    approvalEvent("exec-A", "FAILED"),
			wantOps:  []string{opGPE, opAdd, opLD, opLD, opRules, opDesc, opTD, opRemove},
			wantBody: `"outcome":"nothing-to-do"`,
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Empty(t, w.CreatedDeployments())
			},
		},
		{
			name:     "rollback holds when onReject is hold",
			hook:     "rollback",
			world:    func() *fakeaws.World { return rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))) },
			env:      map[string]string{"ON_REJECT": "hold"},
			event:    approvalEvent("exec-A", "FAILED"),
			wantOps:  nil,
			wantBody: `{"outcome":"nothing-to-do","detail":"approval.onReject is hold"}`,
			wantLog:  `"level":"WARN"`,
		},
		{
			name: "rollback is busy while a deployment is unfinished",
			hook: "rollback",
			world: func() *fakeaws.World {
				w := rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)))
				w.StartDeployment(fakeaws.LatestGroup, "d-LATEST02", nil)
				return w
			},
			event:    `{"reason":"v1 breaks checkout"}`,
			wantOps:  claimed(opLD),
			wantBody: `{"outcome":"busy","detail":"deployment d-LATEST02 of group latest has not ended"}`,
		},
		{
			name:      "rollback refuses an operator request without a reason",
			hook:      "rollback",
			world:     func() *fakeaws.World { return rejected(pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))) },
			event:     `{"reason":""}`,
			wantError: `an operator's rollback needs a non-empty "reason"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.world()
			env := fakeaws.Env()
			for k, v := range tt.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 60
			}
			fn := startFunction(t, tt.hook, w, timeout, env)

			start := time.Now()
			body := fn.invoke(t, tt.event)
			elapsed := time.Since(start)

			switch {
			case tt.wantBody != "":
				assert.Contains(t, body, tt.wantBody)
			case tt.wantError == "":
				assert.Equal(t, "null", body)
			default:
				assert.Contains(t, errorMessage(t, body), tt.wantError)
			}
			if !tt.anyOps {
				assert.Equal(t, tt.wantOps, w.Ops())
			}
			assert.Equal(t, tt.wantReports, reportsOf(w))
			assert.Less(t, elapsed, time.Duration(timeout)*time.Second, "returned before Lambda's timeout")
			if tt.check != nil {
				tt.check(t, w)
			}
			if tt.wantLog != "" {
				assert.Contains(t, fn.logs.String(), tt.wantLog)
			}
			// The function's own log lines are JSON with the deployment id.
			for _, line := range strings.Split(fn.logs.String(), "\n") {
				if strings.HasPrefix(line, `{"time"`) && strings.Contains(line, `"step":"report"`) {
					assert.Contains(t, line, `"deployment_id":"d-E2ETEST01"`)
				}
			}
		})
	}
}

func TestDeploymentPackageIsUnder10MB(t *testing.T) {
	for _, h := range builtHooks {
		hook := string(h)
		path := bootstrap(t, hook)
		info, err := os.Stat(path)
		require.NoError(t, err)
		size := zipSize(t, path)
		t.Logf("%s: bootstrap %d bytes, zip %d bytes", hook, info.Size(), size)
		assert.Less(t, size, 10<<20, "Lambda zip of %s", hook)
	}
}
