package rehearsal

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// ScenarioOptions are what a rehearsal runs internal/scenario's driver
// with; the test and `tenant-canary rehearse --scenario` share them.

// The four stories of internal/scenario, each against a fresh rehearsal of
// the program's one-tenant stack, pass from their reports: the pinned
// tenant never served an unapproved version, the others served the new
// one during the canary, everyone on one version at the end — and the
// model's invariants held throughout.
func TestTheScenariosPassAgainstARehearsal(t *testing.T) {
	stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-1.json")
	require.NoError(t, err)
	for _, name := range scenario.Names() {
		t.Run(name, func(t *testing.T) {
			var log bytes.Buffer
			rep, violations, err := RunScenario(context.Background(), ScenarioRun{
				Stack: stack, SourceDir: "../..", Speed: 60, Name: name, Log: &log, Timeout: 3 * time.Minute,
			})
			require.NoError(t, err, "driver log:\n%s", log.String())
			require.NotNil(t, rep)
			assert.True(t, rep.Passed(), "%+v", rep.Checks)
			assert.Empty(t, violations)
			for _, c := range rep.Checks {
				assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
			}
		})
	}
}
