//go:build linux

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// One model of AWS, not two: the real bootstraps under the emulator talk,
// through the real SDK and internal/fakeaws's wire server, to the protocol
// model the explorer checks (internal/protocol's Direct). A whole rollout
// runs: the push, the Latest deployment (its pin), the approval, the
// Stable deployment (its unpin), and cleanup for every event EventBridge
// delivers. The model's invariants hold after every function, and the
// world ends at rest on the new version with the tenants released.
func TestBootstrapsRunARolloutInTheProtocolModel(t *testing.T) {
	// The stack as the program declares it with one pinned tenant (kept
	// so by the root package's TestProtocolFixturesAreWhatTheProgramDeclares).
	w := newWorld(t, "tenants-1", protocol.Scenario{Pushes: 1})
	w.toApproval()
	w.do("APPROVE exec-1", "exec-1 (v1) enters Stable")
	w.do(stage("d-2")...)
	w.deliverAll()

	assert.Equal(t, 1, w.ran[contract.HookPin], "the Latest deployment's BeforeInstall")
	assert.Equal(t, 1, w.ran[contract.HookUnpin], "the Stable deployment's AfterAllowTraffic")
	assert.Equal(t, 2, w.ran[contract.HookCleanup], "both deployments' SUCCESS")
	assert.Equal(t, []string{"Succeeded", "Succeeded"}, w.reports())
	w.everyoneOn(1)
	assert.Equal(t, "Succeeded", w.execution("exec-1"))
	var atRest bool
	w.d.Inspect(func(m *protocol.World) { atRest = m.AtRest() })
	assert.True(t, atRest, "nothing in flight")
	assert.Empty(t, w.claims(), "no claim left on the catch-all rule")
	assert.Contains(t, w.fn(contract.HookCleanup).logs.String(), `"msg":"released the claim on the catch-all rule"`)
	assert.Contains(t, w.fn(contract.HookPin).logs.String(), `"step":"wait-claims"`)
}
