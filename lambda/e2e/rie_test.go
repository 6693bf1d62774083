//go:build linux

package e2e

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// The AWS operations, as the model records them (protocol.Direct.Calls).
const (
	opRules  = "DescribeRules"
	opUpdate = "UpdateService"
	opHealth = "DescribeTargetHealth"
	opSet    = "SetRulePriorities"
	opPut    = "PutLifecycleEventHookExecutionStatus"
	opModify = "ModifyRule"
	opLD     = "ListDeployments"
	opGDT    = "GetDeploymentTarget"
	opAdd    = "AddTags"
	opRemove = "RemoveTags"
)

// The payload CodeDeploy sends to an ECS lifecycle hook.
const hookEvent = `{"DeploymentId":"d-E2ETEST01","LifecycleEventHookExecutionId":"eyJlbmNyeXB0ZWREYXRhIjoiZTJlIn0="}`

// An EventBridge "CodeDeploy Deployment State-change Notification", in the
// documented shape (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codedeploy.html).
func stateChangeEvent(app, group, state, deploymentID string) string {
	return `{
  "account": "123456789012",
  "region": "us-east-1",
  "detail-type": "CodeDeploy Deployment State-change Notification",
  "source": "aws.codedeploy",
  "version": "0",
  "time": "2026-06-30T22:06:31Z",
  "id": "c071bfbf-83c4-49ca-a6ff-3df053957145",
  "resources": [
    "arn:aws:codedeploy:us-east-1:123456789012:application:` + app + `",
    "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:` + app + `/` + group + `"
  ],
  "detail": {
    "region": "us-east-1",
    "application": "` + app + `",
    "deploymentId": "` + deploymentID + `",
    "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2",
    "state": "` + state + `",
    "deploymentGroup": "` + group + `"
  }
}`
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

func payloadOf(t *testing.T, inv protocol.Invoke) string {
	t.Helper()
	b, err := json.Marshal(inv.Payload)
	require.NoError(t, err)
	return string(b)
}

// pinAt: push v1 entered Latest and CodeDeploy invoked pin at d-1's
// BeforeInstall; its payload is returned, pin not run.
func pinAt(t *testing.T, stack string, sc protocol.Scenario, before ...string) (*world, string) {
	t.Helper()
	sc.Pushes = max(sc.Pushes, 1)
	w := newWorld(t, stack, sc)
	w.do(before...)
	w.do("PUSH v1", "exec-1 (v1) enters Latest")
	return w, payloadOf(t, w.next("CodeDeploy starts d-1", contract.HookPin))
}

// unpinAt: v1 was approved and its Stable deployment d-2 shifted all
// traffic: CodeDeploy invoked unpin at AfterAllowTraffic (not run).
func unpinAt(t *testing.T, sc protocol.Scenario) (*world, protocol.Invoke) {
	t.Helper()
	sc.Pushes = max(sc.Pushes, 1)
	w := newWorld(t, "tenants-2", sc)
	w.toApproval()
	w.do("APPROVE exec-1", "exec-1 (v1) enters Stable")
	w.do(canary("d-2")...)
	return w, w.next("CodeDeploy d-2 shifts all traffic", contract.HookUnpin)
}

// latestStopped: push v1's Latest deployment was stopped by an alarm in its
// canary step; its end events wait for delivery.
func latestStopped(t *testing.T, r protocol.Reading) *world {
	t.Helper()
	w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 1, Alarms: 1, Reading: r})
	w.do("PUSH v1", "exec-1 (v1) enters Latest")
	w.do(canary("d-1")...)
	w.do("ALARM during d-1")
	if r.RollbackOwnID {
		w.do("CodeDeploy d-2: traffic back on the original task set")
	} else {
		w.do("traffic back on the original task set")
	}
	return w
}

// anotherRollout: v1 waits at Approve; push v2's Latest deployment d-2
// ran its canary to the end.
func anotherRollout(t *testing.T) *world {
	t.Helper()
	w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 2})
	w.toApproval()
	w.do("PUSH v2", "exec-2 (v2) enters Latest")
	w.do(stage("d-2")...)
	return w
}

// rejectedApproval: a person rejected v1's approval.
func rejectedApproval(t *testing.T, stack string) *world {
	t.Helper()
	w := newWorld(t, stack, protocol.Scenario{Pushes: 1, Rejects: 1})
	w.toApproval()
	w.do("REJECT exec-1")
	return w
}

func (w *world) ops() []string { return w.d.Ops() }

func (w *world) details(op string) []string {
	var out []string
	for _, c := range w.d.Calls() {
		if c.Op == op {
			out = append(out, c.Detail)
		}
	}
	return out
}

// stableTGs is stable's pair, as pin's environment names it.
func (w *world) stableTGs() []string {
	return strings.Split(w.env(contract.HookPin, contract.EnvStableTargetGroupARNs), ",")
}

func (w *world) latestTGs() (tgs []string) {
	w.d.Inspect(func(m *protocol.World) {
		for _, r := range m.Rules {
			if r.Kind == protocol.KindCatchAll {
				for _, f := range r.Forward {
					tgs = append(tgs, f.TG)
				}
			}
		}
	})
	return tgs
}

func (w *world) ruleForward(tenant string) (tgs []string) {
	w.d.Inspect(func(m *protocol.World) {
		for _, r := range m.Rules {
			if r.Kind == protocol.KindTenant && slices.Contains(r.Tenants, tenant) {
				for _, f := range r.Forward {
					if f.Weight > 0 {
						tgs = append(tgs, f.TG)
					}
				}
			}
		}
	})
	return tgs
}

// The real bootstraps under the Lambda runtime, their AWS clients talking
// over the wire to the one model of AWS in the states its own events
// reach; each case asserts the function's answer, the reports CodeDeploy
// accepted, and the outcome (who is served what, the catch-all, stable's
// count, approvals, deployments started).
func TestRealBinaryUnderLambdaRuntime(t *testing.T) {
	rieBinary(t)
	tests := []struct {
		name string
		hook contract.Hook
		// arrange reaches the state and returns the event to invoke with.
		arrange     func(t *testing.T) (*world, string)
		env         map[string]string // changes to the declared environment; "" unsets
		envOf       func(w *world) map[string]string
		timeout     int
		wantReports []string
		wantError   string // "" means the invocation succeeds
		wantBody    string // the response (rollback's result), if set
		check       func(t *testing.T, w *world)
		wantLog     string // in the function's output
	}{
		{
			name: "pin waits on the group stable serves from, then pins",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				return pinAt(t, "tenants-2", protocol.Scenario{StableOnGreen: true})
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []string{w.stableTGs()[1]}, w.details(opHealth), "waits where ECS registers stable's tasks")
				assert.True(t, w.catchAllPinned())
				assert.Equal(t, w.stableCount(), w.stableDesired())
				w.split(0, 0)
			},
		},
		{
			// stable moved to green with the last Stable deployment; a
			// `pulumi up` planned before that created tenant late's rule on
			// blue. pin repairs it before it pins.
			name: "pin follows stable's primary task set and repairs a tenant rule on the other group",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				return pinAt(t, "tenants-1", protocol.Scenario{StableOnGreen: true, StalePlan: true}, "pulumi up creates tenant late's rule")
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []string{w.stableTGs()[1]}, w.ruleForward("late"), "late's rule repaired onto green")
				ops := w.ops()
				assert.Less(t, slices.Index(ops, opModify), slices.Index(ops, opSet), "catch-all moved after the repair")
				w.split(0, 0)
			},
		},
		{
			name: "pin rereads the listener after the health wait and repairs a rule added meanwhile",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w, ev := pinAt(t, "tenants-1", protocol.Scenario{StableOnGreen: true, StalePlan: true})
				w.d.Before(opHealth, 1, func() { assert.NoError(t, w.d.Do("pulumi up creates tenant late's rule")) })
				return w, ev
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []string{w.stableTGs()[1]}, w.ruleForward("late"))
				w.split(0, 0)
			},
		},
		{
			// v1's unpin runs (its Stable deployment d-2 is at
			// AfterAllowTraffic) when push v2's pin starts; the unpin ends
			// during pin's second poll (one poll interval, 5 s).
			name: "pin waits while an earlier rollout's unpin runs",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 2})
				w.toApproval()
				w.do("APPROVE exec-1", "exec-1 (v1) enters Stable")
				w.do(canary("d-2")...)
				unpin := w.next("CodeDeploy d-2 shifts all traffic", contract.HookUnpin)
				w.do("PUSH v2", "exec-2 (v2) enters Latest")
				pin := w.next("CodeDeploy starts d-3", contract.HookPin)
				unpinFn := w.fn(contract.HookUnpin)
				w.d.Before(opGDT, 2, func() {
					body, err := unpinFn.post(payloadOf(t, unpin))
					assert.NoError(t, err)
					assert.Equal(t, "null", body)
				})
				return w, payloadOf(t, pin)
			},
			wantReports: []string{"Succeeded", "Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []string{"d-2", "d-3"}, []string{w.d.Reports()[0].DeploymentID, w.d.Reports()[1].DeploymentID}, "the unpin reported before the pin")
				assert.True(t, w.catchAllPinned())
			},
			wantLog: "an earlier rollout's unpin is running: waiting for it to end",
		},
		{
			name: "pin fails clearly when stable's primary task set is outside its pair",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				return pinAt(t, "tenants-2", protocol.Scenario{})
			},
			envOf: func(w *world) map[string]string {
				return map[string]string{contract.EnvStableTargetGroupARNs: strings.Join(w.latestTGs(), ",")}
			},
			wantReports: []string{"Failed"},
			wantError:   "which is not one of STABLE_TARGET_GROUP_ARNS",
			check: func(t *testing.T, w *world) {
				assert.False(t, w.catchAllPinned())
				assert.Zero(t, w.stableDesired())
			},
		},
		{
			name: "pin rides out throttling",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w, ev := pinAt(t, "tenants-2", protocol.Scenario{})
				w.d.FailNext(opLD, fakeaws.Throttling(opLD))
				w.d.FailNext(opRules, fakeaws.Throttling(opRules))
				w.d.FailNext(opUpdate, fakeaws.Throttling(opUpdate))
				return w, ev
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				ops := w.ops()
				assert.Equal(t, []string{opLD, opLD}, ops[:2], "the throttled call is retried")
				w.split(0, 0)
			},
		},
		{
			name: "pin fails fast on a ValidationError and reports Failed",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w, ev := pinAt(t, "tenants-2", protocol.Scenario{})
				w.d.FailNext(opSet, fakeaws.ValidationError("Priority '50000' is currently in use"))
				return w, ev
			},
			wantReports: []string{"Failed"},
			wantError:   "ValidationError",
			check: func(t *testing.T, w *world) {
				assert.Len(t, w.details(opSet), 1, "not retried")
				assert.False(t, w.catchAllPinned())
			},
		},
		{
			name: "pin reports Failed before the timeout when targets never turn healthy",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w, ev := pinAt(t, "tenants-2", protocol.Scenario{})
				w.d.HealthByEvent()
				return w, ev
			},
			timeout:     4,
			wantReports: []string{"Failed"},
			wantError:   "gave up waiting for 2 healthy targets",
			check: func(t *testing.T, w *world) {
				assert.False(t, w.catchAllPinned())
				assert.NotContains(t, w.ops(), opSet)
			},
		},
		{
			// A tenant added mid-rollout is then pinned the moment its
			// rule exists.
			name: "pin with no pinned tenants still pins",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				return pinAt(t, "tenants-0", protocol.Scenario{})
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.True(t, w.catchAllPinned())
				assert.Equal(t, w.stableCount(), w.stableDesired())
			},
		},
		{
			name: "pin misconfigured still reports Failed naming the variables",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				return pinAt(t, "tenants-2", protocol.Scenario{})
			},
			env:         map[string]string{"LISTENER_ARN": "", "STABLE_DESIRED_COUNT": "zero", "ANCHOR_RULE_ARN": ""},
			wantReports: []string{"Failed"},
			wantError:   `STABLE_DESIRED_COUNT="zero" must be an integer in 1..5000; LISTENER_ARN is not set; ANCHOR_RULE_ARN is not set`,
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []string{opPut}, w.ops(), "its report is its only call")
			},
		},
		{
			name: "pin rejects an event without an execution id and cannot report",
			hook: contract.HookPin,
			arrange: func(t *testing.T) (*world, string) {
				w, _ := pinAt(t, "tenants-2", protocol.Scenario{})
				return w, `{"DeploymentId":"d-1"}`
			},
			wantError: "LifecycleEventHookExecutionId missing; cannot report",
			check: func(t *testing.T, w *world) {
				assert.Empty(t, w.ops())
			},
		},
		{
			name: "unpin moves the catch-all back and leaves stable running",
			hook: contract.HookUnpin,
			arrange: func(t *testing.T) (*world, string) {
				w, inv := unpinAt(t, protocol.Scenario{})
				return w, payloadOf(t, inv)
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.False(t, w.catchAllPinned())
				assert.Equal(t, w.stableCount(), w.stableDesired(), "cleanup scales stable down after the termination wait")
				// The rollout ends with everyone on v1.
				w.do("CodeDeploy d-2: termination wait ends")
				w.deliverAll()
				w.everyoneOn(1)
			},
		},
		{
			name: "unpin holds while a newer rollout's Latest deployment is unfinished",
			hook: contract.HookUnpin,
			arrange: func(t *testing.T) (*world, string) {
				w, inv := unpinAt(t, protocol.Scenario{Pushes: 2})
				w.do("PUSH v2", "exec-2 (v2) enters Latest") // d-3 created, not started
				return w, payloadOf(t, inv)
			},
			wantReports: []string{"Succeeded"},
			check: func(t *testing.T, w *world) {
				assert.True(t, w.catchAllPinned())
			},
			wantLog: `"step":"held"`,
		},
		{
			name: "unpin reports Failed on AccessDenied",
			hook: contract.HookUnpin,
			arrange: func(t *testing.T) (*world, string) {
				w, inv := unpinAt(t, protocol.Scenario{})
				w.d.FailNext(opSet, fakeaws.AccessDenied(opSet))
				return w, payloadOf(t, inv)
			},
			wantReports: []string{"Failed"},
			wantError:   "AccessDenied",
			check: func(t *testing.T, w *world) {
				assert.True(t, w.catchAllPinned())
			},
		},
		{
			name: "cleanup unpins after the Latest deployment is stopped",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := latestStopped(t, protocol.Reading{})
				inv := w.next("deliver CodeDeploy STOP d-1", contract.HookCleanup)
				w.d.Before(opLD, 1, func() {
					claims := w.claims()
					if assert.Len(t, claims, 1) {
						assert.True(t, strings.HasPrefix(claims[0], contract.ReleaseTagPrefix), "the claim's key: %s", claims[0])
						assert.NotEqual(t, contract.ReleaseTagPrefix+"local", claims[0], "named after the invocation's request id")
					}
				})
				return w, payloadOf(t, inv)
			},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, opAdd, w.ops()[0], "claimed before anything is read")
				assert.Equal(t, opRemove, w.ops()[len(w.ops())-1], "released last")
				assert.Empty(t, w.claims())
				w.everyoneOn(0)
			},
		},
		{
			name: "cleanup acts on the rollback's own deployment id",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := latestStopped(t, protocol.Reading{RollbackOwnID: true})
				return w, payloadOf(t, w.next("deliver CodeDeploy SUCCESS d-2", contract.HookCleanup))
			},
			check: func(t *testing.T, w *world) { w.everyoneOn(0) },
		},
		{
			name: "cleanup releases and scales down after the Stable deployment succeeded",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w, unpin := unpinAt(t, protocol.Scenario{})
				require.Equal(t, "null", w.send(w.fn(contract.HookUnpin), unpin))
				w.do("CodeDeploy d-2: termination wait ends")
				return w, payloadOf(t, w.next("deliver CodeDeploy SUCCESS d-2", contract.HookCleanup))
			},
			check: func(t *testing.T, w *world) {
				w.everyoneOn(1)
				assert.Equal(t, "Succeeded", w.execution("exec-1"))
			},
		},
		{
			name: "cleanup awaits an approval about latest's image",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 1})
				w.do("PUSH v1", "exec-1 (v1) enters Latest")
				w.do(stage("d-1")...)
				w.do("exec-1 (v1) enters Approve")
				return w, payloadOf(t, w.next("deliver CodeDeploy SUCCESS d-1", contract.HookCleanup))
			},
			check: func(t *testing.T, w *world) {
				w.split(0, 1)
				assert.Empty(t, w.d.Approvals())
			},
			wantLog: "the pending approval is about the image latest serves",
		},
		{
			name: "cleanup rejects a superseded approval",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := anotherRollout(t)
				return w, payloadOf(t, w.next("deliver CodeDeploy SUCCESS d-2", contract.HookCleanup))
			},
			check: func(t *testing.T, w *world) {
				assert.Equal(t, []protocol.Approval{{ExecutionID: "exec-1", Status: "Rejected",
					Summary: "superseded by a newer push: latest now serves " + w.d.Image(2) + ", not the " + protocol.Digest(1) + " this approval was asked for"}},
					w.d.Approvals(), "the summary survives the wire")
				assert.Equal(t, "Failed", w.execution("exec-1"))
				w.split(0, 2)
			},
		},
		{
			name: "cleanup says held at WARN",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := rejectedApproval(t, "hold")
				w.hold(contract.HookCleanup)
				w.deliverAll()
				return w, payloadOf(t, w.take(contract.HookCleanup))
			},
			check:   func(t *testing.T, w *world) { w.split(0, 1) },
			wantLog: `"level":"WARN","msg":"pinned tenants stay on stable`,
		},
		{
			name: "cleanup does nothing while a deployment is unfinished",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 1})
				w.do("PUSH v1", "exec-1 (v1) enters Latest", "CodeDeploy starts d-1")
				return w, stateChangeEvent(w.env(contract.HookPin, contract.EnvCodeDeployApplicationName), w.group("latest"), "FAILURE", "d-OLDER01")
			},
			check: func(t *testing.T, w *world) {
				w.split(0, 0)
				assert.Empty(t, w.claims())
			},
			wantLog: "nothing to do yet: deployment d-1 of group tenant-canary-tenants-2-pipeline-latest has not ended",
		},
		{
			name: "cleanup ignores other deployment groups",
			hook: contract.HookCleanup,
			arrange: func(t *testing.T) (*world, string) {
				w := latestStopped(t, protocol.Reading{})
				return w, stateChangeEvent(w.env(contract.HookPin, contract.EnvCodeDeployApplicationName), "someone-elses", "STOP", "d-1")
			},
			check: func(t *testing.T, w *world) {
				assert.Empty(t, w.ops())
				w.split(0, 0)
			},
		},
		{
			name: "rollback redeploys latest with stable's task definition",
			hook: contract.HookRollback,
			arrange: func(t *testing.T) (*world, string) {
				w := rejectedApproval(t, "tenants-2")
				return w, payloadOf(t, w.next("deliver Approve FAILED exec-1", contract.HookRollback))
			},
			wantBody: `","deploymentId":"d-2"}`,
			check: func(t *testing.T, w *world) {
				assert.Equal(t, 2, w.deployments())
				w.split(0, 1)
				// The redeployment runs; its cleanup puts everyone on v0.
				w.deliverAll()
				w.do(stage("d-2")...)
				w.deliverAll()
				w.everyoneOn(0)
			},
		},
		{
			name: "rollback of a superseded rejection does nothing",
			hook: contract.HookRollback,
			arrange: func(t *testing.T) (*world, string) {
				w := anotherRollout(t)
				w.do("deliver CodeDeploy SUCCESS d-2") // cleanup rejects exec-1's approval
				return w, payloadOf(t, w.next("deliver Approve FAILED exec-1", contract.HookRollback))
			},
			wantBody: `"outcome":"nothing-to-do"`,
			check: func(t *testing.T, w *world) {
				assert.Equal(t, 2, w.deployments(), "nothing started")
				w.split(0, 2)
			},
		},
		{
			name: "rollback holds when onReject is hold",
			hook: contract.HookRollback,
			arrange: func(t *testing.T) (*world, string) {
				w := rejectedApproval(t, "hold")
				return w, payloadOf(t, w.next("deliver Approve FAILED exec-1", contract.HookRollback))
			},
			wantBody: `{"outcome":"nothing-to-do","detail":"approval.onReject is hold"}`,
			check: func(t *testing.T, w *world) {
				assert.Empty(t, w.ops())
				w.split(0, 1)
			},
			wantLog: `"level":"WARN"`,
		},
		{
			name: "rollback is busy while a deployment is unfinished",
			hook: contract.HookRollback,
			arrange: func(t *testing.T) (*world, string) {
				w := newWorld(t, "tenants-2", protocol.Scenario{Pushes: 1})
				w.do("PUSH v1", "exec-1 (v1) enters Latest", "CodeDeploy starts d-1")
				return w, `{"reason":"v1 breaks checkout"}`
			},
			wantBody: `{"outcome":"busy","detail":"deployment d-1 of group tenant-canary-tenants-2-pipeline-latest has not ended"}`,
			check:    func(t *testing.T, w *world) { assert.Equal(t, 1, w.deployments()) },
		},
		{
			name: "rollback refuses an operator request without a reason",
			hook: contract.HookRollback,
			arrange: func(t *testing.T) (*world, string) {
				return rejectedApproval(t, "tenants-2"), `{"reason":""}`
			},
			wantError: `an operator's rollback needs a non-empty "reason"`,
			check: func(t *testing.T, w *world) {
				assert.Empty(t, w.ops())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, event := tt.arrange(t)
			env := tt.env
			if tt.envOf != nil {
				env = tt.envOf(w)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 60
			}
			fn := w.start(tt.hook, env, timeout)
			w.d.ResetCalls()
			before := w.d.Reports()

			start := time.Now()
			body := fn.invoke(t, event)
			elapsed := time.Since(start)

			switch {
			case tt.wantBody != "":
				assert.Contains(t, body, tt.wantBody)
			case tt.wantError == "":
				assert.Equal(t, "null", body)
			default:
				assert.Contains(t, errorMessage(t, body), tt.wantError)
			}
			var reports []string
			for _, r := range w.d.Reports()[len(before):] {
				reports = append(reports, r.Status)
			}
			assert.Equal(t, tt.wantReports, reports, "the reports CodeDeploy accepted")
			assert.Less(t, elapsed, time.Duration(timeout)*time.Second, "returned before Lambda's timeout")
			if tt.check != nil {
				tt.check(t, w)
			}
			if tt.wantLog != "" {
				assert.Contains(t, fn.logs.String(), tt.wantLog)
			}
			// The function's own log lines are JSON with the deployment id.
			var ev struct{ DeploymentId string }
			_ = json.Unmarshal([]byte(event), &ev)
			for _, line := range strings.Split(fn.logs.String(), "\n") {
				if strings.HasPrefix(line, `{"time"`) && strings.Contains(line, `"step":"report"`) {
					assert.Contains(t, line, `"deployment_id":"`+ev.DeploymentId+`"`)
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
