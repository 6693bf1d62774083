package protocol

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The direct world runs the functions the model invokes as a caller would
// (here in-process; lambda/e2e runs the real bootstrap against it over the
// wire): a whole rollout, start to end, lands at rest on one version.
func TestDirectWorldRunsARolloutWithTheFunctionsItInvokes(t *testing.T) {
	d := NewDirectFromStack(fixture("tenants-1"), Scenario{Pushes: 1})
	hooks := func(hook contract.Hook) *rollout.Hooks {
		env := d.Env(hook)
		cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
		require.NoError(t, err)
		api := d.API()
		return &rollout.Hooks{Config: cfg, ECS: api, ELB: api, CodeDeploy: api, CodePipeline: api, PollInterval: 1}
	}
	run := func() {
		for _, inv := range d.Invocations() {
			var err error
			switch p := inv.Payload.(type) {
			case rollout.LifecycleEvent:
				if inv.Hook == contract.HookPin {
					err = hooks(inv.Hook).Pin(context.Background(), p)
				} else {
					err = hooks(inv.Hook).Unpin(context.Background(), p)
				}
			case events.CodeDeployEvent:
				err = hooks(inv.Hook).Cleanup(context.Background(), p)
			}
			require.NoError(t, err, inv.Hook)
			require.NoError(t, d.Check())
		}
	}
	step := func(what string) {
		t.Helper()
		require.NoError(t, d.Do(what))
		run()
	}
	step("PUSH v1")
	step("enters Latest")
	for _, what := range []string{"CodeDeploy starts d-1", "creates the replacement", "shifts the canary", "shifts all traffic",
		"termination wait ends", "enters Approve", "APPROVE", "enters Stable", "CodeDeploy starts d-2", "creates the replacement",
		"shifts the canary", "shifts all traffic", "termination wait ends"} {
		step(what)
	}
	// EventBridge delivers both deployments' SUCCESS to cleanup.
	for d.Do("deliver") == nil {
		run()
	}
	d.Inspect(func(w *World) {
		assert.True(t, w.atRest())
		assert.False(t, w.catchAllPinned())
		assert.Equal(t, 0, w.Services[w.st.stableService].Desired)
		assert.Equal(t, "Succeeded", w.Executions[0].Status)
	})
}

// DeliverAll stops at an invariant a delivery breaks and says so, rather
// than read it as "nothing left to deliver".
func TestDeliverAllReportsABrokenInvariant(t *testing.T) {
	d := canaryOfV1(t)
	ctx := context.Background()
	require.NoError(t, d.Steps(ctx, "shifts all traffic", "termination wait ends"))
	require.NoError(t, d.Check())
	// A pinned tenant's rule forwards to latest's groups: the tenant is
	// served v1, which nobody approved (I1).
	d.Inspect(func(w *World) {
		for _, r := range w.Rules {
			if r.Kind == KindTenant {
				r.Forward = []Weighted{{w.st.latestTG[0], 50}, {w.st.latestTG[1], 50}}
			}
		}
	})
	var v *Violation
	require.ErrorAs(t, d.DeliverAll(ctx), &v)
}
