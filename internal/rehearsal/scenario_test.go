package rehearsal

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// The four stories of internal/scenario, each against a fresh rehearsal of
// the program's one-tenant stack, pass from their reports: the pinned
// tenant never served an unapproved version, the others served the new
// one during the canary, everyone on one version at the end — and the
// model's invariants held throughout.
//
// Each story runs on its own rehearsal (its own ports, processes and build
// directory), in parallel with the other rehearsals of the package, two
// at a time (rehearsals, main_test.go); the open-loop traffic (ScenarioTraffic) keeps a
// canary's share above the alarms' minimum when the machine is busy.
func TestTheScenariosPassAgainstARehearsal(t *testing.T) {
	t.Parallel()
	names := scenario.Names()
	// The longest stories first (most steps), so the slowest does not
	// start last.
	steps := func(name string) int {
		s, err := scenario.Get(name, scenario.Counter(2))
		require.NoError(t, err)
		return len(s.Steps)
	}
	slices.SortStableFunc(names, func(a, b string) int { return steps(b) - steps(a) })
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			turn := rehearsals.ticket()
			t.Parallel()
			rehearsals.wait(t, turn)
			stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-1.json")
			require.NoError(t, err)
			var log bytes.Buffer
			rep, violations, err := RunScenario(context.Background(), ScenarioRun{
				Stack: stack, SourceDir: "../..", CacheDir: buildCache(t, "scenario-"+name), Speed: 60, Name: name, Log: &log, Timeout: 3 * time.Minute,
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
