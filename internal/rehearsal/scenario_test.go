package rehearsal

import (
	"bytes"
	"context"
	"sync"
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
// The stories run at the same time, each on its own rehearsal (its own
// ports, processes and build directory), and are judged one subtest each
// once all have ended. A rehearsal mostly waits on its scaled clock, so
// running them one after the other (or two at a time, as t.Parallel would
// on two cores) only adds their waits up; the open-loop traffic
// (ScenarioTraffic) keeps a canary's share above the alarms' minimum when
// the machine is busy.
func TestTheScenariosPassAgainstARehearsal(t *testing.T) {
	t.Parallel()
	type outcome struct {
		rep        *scenario.Report
		violations []string
		err        error
		log        bytes.Buffer
		took       time.Duration
	}
	names := scenario.Names()
	outcomes := make([]outcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-1.json")
		require.NoError(t, err)
		cache := buildCache(t, "scenario-"+name)
		wg.Go(func() {
			o := &outcomes[i]
			began := time.Now()
			o.rep, o.violations, o.err = RunScenario(context.Background(), ScenarioRun{
				Stack: stack, SourceDir: "../..", CacheDir: cache, Speed: 60, Name: name, Log: &o.log, Timeout: 3 * time.Minute,
			})
			o.took = time.Since(began)
		})
	}
	wg.Wait()
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			o := &outcomes[i]
			t.Logf("the story took %s of wall time", o.took.Round(time.Millisecond))
			require.NoError(t, o.err, "driver log:\n%s", o.log.String())
			require.NotNil(t, o.rep)
			assert.True(t, o.rep.Passed(), "%+v", o.rep.Checks)
			assert.Empty(t, o.violations)
			for _, c := range o.rep.Checks {
				assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
			}
		})
	}
}
