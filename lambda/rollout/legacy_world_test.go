package rollout_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The scripted fakeaws.World's helpers, for the tests not on the model yet
// (cleanup_test.go, rollback_test.go); this file goes with them.

// claimed is the call sequence of a cleanup or rollback that holds the
// release claim around ops: it tags the catch-all rule before it reads
// anything and removes the tag when done, whatever the outcome.
func claimed(ops ...string) []string {
	return append(append([]string{opAdd}, ops...), opRemove)
}

// claimKey is the tag key of the release claim outside Lambda (no request
// id in the context).
const claimKey = contract.ReleaseTagPrefix + "local"

// unfinished are the deployment statuses the guards ask ListDeployments for.
var unfinished = []string{"Created", "Queued", "InProgress", "Ready", "Baking"}

// listed is the Call.Detail of the guards' ListDeployments of group.
func listed(group string) string {
	return fakeaws.ListDeploymentsDetail(fakeaws.CodeDeployApp, group, unfinished...)
}

// details returns the details of the calls of op, in order.
func details(w *fakeaws.World, op string) []string {
	var out []string
	for _, c := range w.Calls() {
		if c.Op == op {
			out = append(out, c.Detail)
		}
	}
	return out
}

// index is the position of the first call of op (-1 if none).
func index(w *fakeaws.World, op string) int {
	return slices.Index(w.Ops(), op)
}

var hookEvent = rollout.LifecycleEvent{DeploymentID: "d-TESTDEPLOY", LifecycleEventHookExecutionID: "eyJleGVjdXRpb24iOiJ0ZXN0In0="}

func newHooks(t testing.TB, w *fakeaws.World, hook rollout.Hook) (*rollout.Hooks, *bytes.Buffer) {
	t.Helper()
	cfg, err := rollout.ConfigFromEnv(lookupIn(fakeaws.Env()), hook)
	require.NoError(t, err)
	var logs bytes.Buffer
	return &rollout.Hooks{
		Config: cfg, ECS: w, ELB: w, CodeDeploy: w, CodePipeline: w,
		Logger:       rollout.NewLogger(&logs),
		PollInterval: time.Millisecond,
	}, &logs
}

func pinnedWorld(tenants int, active string) *fakeaws.World {
	w := fakeaws.NewWorld(tenants, active)
	w.Rules[1].Priority = "50000"
	w.DesiredCount = fakeaws.DesiredCount
	return w
}

func statuses(w *fakeaws.World) []string {
	var out []string
	for _, r := range w.Reports() {
		out = append(out, r.Status)
	}
	return out
}

// unpin runs in the Stable deployment's AfterAllowTraffic: stable's
// replacement task set (the approved image) serves through the anchor, the
// original waits out the termination wait for an instant rollback.
func stableInTerminationWait(w *fakeaws.World) *fakeaws.World {
	w.StablePrimaryTG, w.StableTaskDef = fakeaws.StableGreenTG, fakeaws.TaskDefStableV1
	w.ExtraTaskSets = map[string][]fakeaws.TaskSet{fakeaws.StableService: {{TaskDef: fakeaws.TaskDefStableV0, TargetGroup: fakeaws.StableBlueTG}}}
	w.Anchor().Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	for _, r := range w.Tenants() {
		r.Forward = fakeaws.StableForward(fakeaws.StableGreenTG)
	}
	w.LatestTaskDef = fakeaws.TaskDefV1
	return w
}

func envWith(changes map[string]string) map[string]string {
	env := fakeaws.Env()
	for k, v := range changes {
		if v == "<unset>" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}
