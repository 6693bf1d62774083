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
	opGetDG  = fakeaws.OpGetDeploymentGroup
)

// e2eLatestDeployment is the deploymentId of stateChangeEvent.
const e2eLatestDeployment = "d-E2ELATEST"

// The payload CodeDeploy sends to an ECS lifecycle hook.
const hookEvent = `{"DeploymentId":"d-E2ETEST01","LifecycleEventHookExecutionId":"eyJlbmNyeXB0ZWREYXRhIjoiZTJlIn0="}`

// An EventBridge "CodeDeploy Deployment State-change Notification", in the
// documented shape (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codedeploy.html).
func stateChangeEvent(group, state string) string {
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
    "deploymentId": "` + e2eLatestDeployment + `",
    "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2",
    "state": "` + state + `",
    "deploymentGroup": "` + group + `"
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
	w.LastAttemptedDeployment = e2eLatestDeployment
	return w
}

func TestRealBinaryUnderLambdaRuntime(t *testing.T) {
	rieBinary(t)
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
			wantOps:     []string{opRules, opDesc, opUpdate, opHealth, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, fakeaws.StableGreenTG, w.Calls()[3].Detail)
				assert.Equal(t, fakeaws.CatchAllRuleARN+"=50000", w.Calls()[4].Detail)
				assert.Equal(t, "50000", w.CatchAllPriority())
				assert.EqualValues(t, 2, w.Desired())
			},
		},
		{
			// stable's primary task set moved to green with the last Stable
			// deployment; the tenant rules (e.g. added since 0 tenants) still
			// forward to blue, the program's first group.
			name: "pin follows stable's primary task set and repairs the tenant rules",
			hook: "pin",
			world: func() *fakeaws.World {
				w := fakeaws.NewWorld(2, fakeaws.StableBlueTG)
				w.StablePrimaryTG = fakeaws.StableGreenTG
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opRules, opDesc, opUpdate, opHealth, opModify, opModify, opSet, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				c := w.Calls()
				assert.Equal(t, fakeaws.StableService, c[1].Detail)
				assert.Equal(t, "stable desiredCount=2", c[2].Detail)
				assert.Equal(t, fakeaws.StableGreenTG, c[3].Detail, "waits where ECS registers stable's tasks")
				assert.Equal(t, w.Rules[2].ARN+" forward="+fakeaws.StableGreenTG, c[4].Detail)
				assert.Equal(t, w.Rules[3].ARN+" forward="+fakeaws.StableGreenTG, c[5].Detail)
				assert.Equal(t, fakeaws.CatchAllRuleARN+"=50000", c[6].Detail, "catch-all moved after the repair")
				for _, r := range w.Rules[2:] {
					assert.Equal(t, fakeaws.StableGreenTG, w.Rule(r.ARN).Target)
				}
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
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
			wantOps:     []string{opRules, opDesc, opPut},
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
				w.FailNext(opRules, fakeaws.Throttling(opRules))
				w.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opRules, opRules, opDesc, opUpdate, opUpdate, opHealth, opSet, opPut},
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
			wantOps:     []string{opRules, opDesc, opUpdate, opHealth, opSet, opPut},
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
			name:        "pin with no pinned tenants only reports",
			hook:        "pin",
			world:       func() *fakeaws.World { return fakeaws.NewWorld(0, fakeaws.StableBlueTG) },
			event:       hookEvent,
			wantOps:     []string{opRules, opPut},
			wantReports: []string{"Succeeded"},
		},
		{
			name:        "pin misconfigured still reports Failed naming the variables",
			hook:        "pin",
			world:       func() *fakeaws.World { return fakeaws.NewWorld(2, fakeaws.StableBlueTG) },
			env:         map[string]string{"LISTENER_ARN": "", "STABLE_DESIRED_COUNT": "zero"},
			event:       hookEvent,
			wantOps:     []string{opPut},
			wantReports: []string{"Failed"},
			wantError:   `STABLE_DESIRED_COUNT="zero" must be an integer in 1..5000; LISTENER_ARN is not set`,
		},
		{
			name:      "pin rejects an event without an execution id and cannot report",
			hook:      "pin",
			world:     func() *fakeaws.World { return fakeaws.NewWorld(2, fakeaws.StableBlueTG) },
			event:     `{"DeploymentId":"d-E2ETEST01"}`,
			wantError: "LifecycleEventHookExecutionId missing; cannot report",
		},
		{
			name:        "unpin moves the catch-all back then scales stable to zero",
			hook:        "unpin",
			world:       func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:       hookEvent,
			wantOps:     []string{opRules, opSet, opDesc, opUpdate, opPut},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name: "unpin reports Failed on AccessDenied",
			hook: "unpin",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.FailNext(opUpdate, fakeaws.AccessDenied(opUpdate))
				return w
			},
			event:       hookEvent,
			wantOps:     []string{opRules, opSet, opDesc, opUpdate, opPut},
			wantReports: []string{"Failed"},
			wantError:   "AccessDeniedException",
		},
		{
			name:    "cleanup unpins after the Latest deployment fails",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEvent(fakeaws.LatestGroup, "FAILURE"),
			wantOps: []string{opGetDG, opDesc, opTD, opTD, opRules, opSet, opUpdate},
			check: func(t *testing.T, w *fakeaws.World) {
				c := w.Calls()
				assert.Equal(t, fakeaws.CodeDeployApp+"/"+fakeaws.LatestGroup, c[0].Detail)
				assert.Equal(t, fakeaws.LatestService+","+fakeaws.StableService, c[1].Detail)
				assert.Equal(t, fakeaws.TaskDefLatestV0, c[2].Detail)
				assert.Equal(t, fakeaws.TaskDefStableV0, c[3].Detail)
				assert.Equal(t, "1", w.CatchAllPriority())
				assert.EqualValues(t, 0, w.Desired())
			},
		},
		{
			name: "cleanup leaves tenants on stable while latest serves an image awaiting approval",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.LatestTaskDef = fakeaws.TaskDefV1
				return w
			},
			event:   stateChangeEvent(fakeaws.LatestGroup, "FAILURE"),
			wantOps: []string{opGetDG, opDesc, opTD, opTD},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
				assert.EqualValues(t, fakeaws.DesiredCount, w.Desired())
			},
			wantLog: "latest rolled back to " + fakeaws.ImageV1 + ", stable serves " + fakeaws.ImageV0,
		},
		{
			name: "cleanup ignores a stale event",
			hook: "cleanup",
			world: func() *fakeaws.World {
				w := pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG))
				w.LastAttemptedDeployment = "d-NEWER0001"
				return w
			},
			event:   stateChangeEvent(fakeaws.LatestGroup, "FAILURE"),
			wantOps: []string{opGetDG},
			check: func(t *testing.T, w *fakeaws.World) {
				assert.Equal(t, "50000", w.CatchAllPriority())
			},
			wantLog: "this event is stale",
		},
		{
			name:    "cleanup ignores a successful deployment",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEvent(fakeaws.LatestGroup, "SUCCESS"),
			wantOps: nil,
		},
		{
			name:    "cleanup ignores other deployment groups",
			hook:    "cleanup",
			world:   func() *fakeaws.World { return pinned(fakeaws.NewWorld(3, fakeaws.StableBlueTG)) },
			event:   stateChangeEvent(fakeaws.StableGroup, "STOP"),
			wantOps: nil,
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

			if tt.wantError == "" {
				assert.Equal(t, "null", body)
			} else {
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
	for _, hook := range []string{"pin", "unpin", "cleanup", "smoke"} {
		path := bootstrap(t, hook)
		info, err := os.Stat(path)
		require.NoError(t, err)
		size := zipSize(t, path)
		t.Logf("%s: bootstrap %d bytes, zip %d bytes", hook, info.Size(), size)
		assert.Less(t, size, 10<<20, "Lambda zip of %s", hook)
	}
}
