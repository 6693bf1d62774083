package protocol

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/pipeline/stoptime"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// smokeScenarios: the smoke hook in both stages, a healthy push with an
// empty and a non-empty allow-list (hole 2: the Stable stage's replacement
// has 0 tasks when no tenant is pinned), and a push of each fault the
// smoke requests can see. The bad pushes run to exhaustion; the good
// pushes' searches stop at 20,000 states (50,000 deep) and go on as random
// walks.
func smokeScenarios(t testing.TB, deep bool) []Scenario {
	capGood := 20000
	if deep {
		capGood = deepCap
	}
	newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	var out []Scenario
	walks, known := 200, []string(nil)
	if deep {
		walks, known = deepWalks, knownFindings
	}
	for tenants := range 2 {
		d := fixture(fmt.Sprintf("smoke-%d", tenants))
		out = append(out, Scenario{Name: fmt.Sprintf("smoke test, %d pinned, good push", tenants), Stack: d, Pushes: 1, Depth: 300, MaxStates: capGood, Walks: walks, Known: known,
			Signal: programSignal(t, d, nil, newestMissing)})
	}
	for _, f := range []stoptime.Fault{stoptime.Fault5xx, stoptime.Refused} {
		out = append(out, Scenario{Name: fmt.Sprintf("smoke test, bad push (%s)", f), Stack: fixture("smoke-1"), Pushes: 1, Depth: 300,
			Signal: programSignal(t, fixture("smoke-1"), map[int]string{1: string(f)}, newestMissing)})
	}
	// Aimed at hole 2 (the smoke hook of a Stable deployment on a stable
	// at 0 tasks: nothing to test): `tenant-canary rollback` runs just
	// after the approval, and the approved execution enters Stable only
	// once the rollback deployment has succeeded and cleanup has released
	// the tenants and scaled stable to 0 (everything else that happens by
	// itself has happened). The Stable deployment's replacement has no
	// task; the approved push must still complete (mutant 15 fails it).
	// Its termination wait keeps an original task set of no task: I2's
	// clause on the instant rollback holds only for a deployment whose
	// original task set served when it started.
	d := fixture("smoke-1")
	out = append(out, Scenario{Name: "smoke test, operator rollback, then the Stable stage on a stable at 0", Stack: d, Pushes: 1, Operator: 1, Depth: 300,
		Known:  known,
		Signal: programSignal(t, d, nil, newestMissing),
		Prefix: []string{"PUSH v1", "settle until APPROVE", "APPROVE exec-1", "OPERATOR", "settle without exec-1 (v1) enters Stable"}})
	return out
}

// A healthy version passes the smoke test whatever the allow-list (hole 2:
// with none pinned the Stable stage's replacement has no task and nothing
// to test), and the rollout ends with everyone on it.
func TestSmokeHookPassesAHealthyVersionWithAnyAllowList(t *testing.T) {
	for _, tenants := range []int{0, 1} {
		d := fixture(fmt.Sprintf("smoke-%d", tenants))
		s := Scenario{Name: "good push", Stack: d, Pushes: 1,
			Signal: programSignal(t, d, nil, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})}
		sc := newScript(t, s)
		sc.do("PUSH v1")
		sc.settle()
		sc.do("APPROVE exec-1")
		sc.settle()
		require.Len(t, sc.w.Deployments, 2, "%d pinned", tenants)
		for _, d := range sc.w.Deployments {
			assert.Equal(t, DepSucceeded, d.Status, "%d pinned: %s", tenants, d.ID)
			assert.Equal(t, "Succeeded", d.hook(hookTestTraffic).Status, "%d pinned: %s's smoke test", tenants, d.ID)
		}
		assert.Equal(t, "Succeeded", sc.w.Executions[0].Status, "%d pinned", tenants)
		// The requests went through the test listeners: every check on
		// each stage (pin scales stable up with an empty allow-list too,
		// so the Stable replacement runs tasks even with no tenant pinned).
		checks := stackOf(d).smoke
		want := map[string]int{sc.w.st.latestGroup: len(checks.Requests) * checks.Count, sc.w.st.stableGroup: len(checks.Requests) * checks.Count}
		for _, inv := range sc.w.invocations {
			if inv.Hook != contract.HookSmoke {
				continue
			}
			gets := 0
			for _, c := range inv.calls {
				if strings.HasPrefix(c, "GET ") {
					gets++
				}
			}
			group := sc.w.deployment(inv.Deployment).Group
			assert.Equal(t, want[group], gets, "%d pinned: smoke requests on %s", tenants, group)
		}
	}
}

// A version that answers 5xx or refuses connections fails the smoke
// requests through the Latest test listener: the stage fails before any
// production traffic moves, and the rollout ends back on v0.
func TestSmokeHookRollsBackABadVersion(t *testing.T) {
	for _, f := range []stoptime.Fault{stoptime.Fault5xx, stoptime.Refused} {
		s := Scenario{Name: "bad push", Stack: fixture("smoke-1"), Pushes: 1,
			Signal: programSignal(t, fixture("smoke-1"), map[int]string{1: string(f)}, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})}
		sc := newScript(t, s)
		sc.do("PUSH v1")
		sc.settle()
		d := sc.deployment(sc.w.st.latestGroup, 0)
		assert.Equal(t, DepFailed, d.Status, f)
		assert.Equal(t, "Failed", d.hook(hookTestTraffic).Status, f)
		for _, l := range sc.w.log {
			assert.NotContains(t, l, "shifts", "%s: stopped before any production traffic moved", f)
		}
		assert.Equal(t, []int{0}, sc.servedTo(""), f)
	}
}
