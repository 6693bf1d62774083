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
