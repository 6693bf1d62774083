package rollout_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The scripted fakeaws.World's helpers, for the tests not on the model yet
// (fakeaws_legacy_test.go); this file goes with them.

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
