//go:build linux

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// One model of AWS, not two: the real bootstraps under the emulator talk,
// through the real SDK and internal/fakeaws's wire server, to the protocol
// model the explorer checks (internal/protocol's Direct), not to a World.
// A whole rollout runs: the push, the Latest deployment (its pin), the
// approval, the Stable deployment (its unpin), and cleanup for every event
// EventBridge delivers. The model's invariants hold after every function,
// and the world ends at rest on the new version with the tenants released.
func TestBootstrapsRunARolloutInTheProtocolModel(t *testing.T) {
	rieBinary(t)
	// The stack as the program declares it with one pinned tenant (kept
	// so by the root package's TestProtocolFixturesAreWhatTheProgramDeclares).
	stack, err := protocol.LoadStack("../../internal/protocol/testdata/stacks/tenants-1.json")
	require.NoError(t, err)
	d := protocol.NewDirectFromStack(stack, protocol.Scenario{Pushes: 1})
	// One emulator per function, each serving the model's API over the
	// wire; a function is invoked as often as the model asks.
	fns := map[contract.Hook]*function{}
	fn := func(hook contract.Hook) *function {
		if f, ok := fns[hook]; ok {
			return f
		}
		f := startFunction(t, string(hook), fakeaws.NewServer(d.API(), nil), 60, d.Env(hook))
		fns[hook] = f
		return f
	}
	ran := map[contract.Hook]int{}
	run := func() {
		t.Helper()
		for _, inv := range d.Invocations() {
			switch inv.Payload.(type) {
			case rollout.LifecycleEvent, events.CodeDeployEvent:
			default:
				t.Fatalf("the model invoked %s with %T, which this rollout never sends", inv.Hook, inv.Payload)
			}
			payload, err := json.Marshal(inv.Payload)
			require.NoError(t, err)
			body := fn(inv.Hook).invoke(t, string(payload))
			assert.Equal(t, "null", body, "%s %s", inv.Hook, payload)
			ran[inv.Hook]++
			require.NoError(t, d.Check(), "the model's invariants after %s %s", inv.Hook, payload)
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

	assert.Equal(t, 1, ran[contract.HookPin], "the Latest deployment's BeforeInstall")
	assert.Equal(t, 1, ran[contract.HookUnpin], "the Stable deployment's AfterAllowTraffic")
	assert.Equal(t, 2, ran[contract.HookCleanup], "both deployments' SUCCESS")
	d.Inspect(func(w *protocol.World) {
		assert.True(t, w.AtRest(), "nothing in flight")
		assert.False(t, w.CatchAllPinned(), "the tenants are released")
		assert.Equal(t, 0, w.StableService().Desired, "stable scaled to zero")
		assert.Equal(t, "Succeeded", w.Executions[0].Status)
		for _, r := range w.Rules {
			assert.Empty(t, r.Tags, "no claim left on %s", r.ARN)
		}
	})
	assert.Contains(t, fns[contract.HookCleanup].logs.String(), `"msg":"released the claim on the catch-all rule"`)
	assert.Contains(t, fns[contract.HookPin].logs.String(), `"step":"wait-claims"`)
}
