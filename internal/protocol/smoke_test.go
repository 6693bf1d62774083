package protocol

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/pipeline/stoptime"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// programSmoke is the smoke hook's checks as the program renders them for
// the default config with smokeTest on (one path, the default tenant
// match).
func programSmoke() *contract.SmokeChecks {
	cfg := config.Defaults()
	cfg.SmokeTest.Paths = []string{"/healthz"}
	c := plan.SmokeChecks(cfg.SmokeTest, cfg.SmokeTest.Paths, cfg.TenantMatch)
	return &c
}

// smokeScenarios: the smoke hook in both stages, a healthy push with an
// empty and a non-empty allow-list (hole 2: the Stable stage's replacement
// has 0 tasks when no tenant is pinned), and a push of each fault the
// smoke requests can see. Each but the good push with a tenant pinned
// runs to exhaustion at CI depth (that one to 20,000 states; 250,000
// deep).
func smokeScenarios(t testing.TB, deep bool) []Scenario {
	capGood := 20000
	if deep {
		capGood = 250000
	}
	newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	canary := config.Defaults().Traffic
	var out []Scenario
	for tenants, cap := range []int{60000, capGood} {
		out = append(out, Scenario{Name: fmt.Sprintf("smoke test, %d pinned, good push", tenants), Stack: fixture(fmt.Sprintf("tenants-%d", tenants)), Pushes: 1, Depth: 300, MaxStates: cap,
			Smoke: programSmoke(), Signal: programSignal(t, canary, nil, newestMissing)})
	}
	for _, f := range []stoptime.Fault{stoptime.Fault5xx, stoptime.Refused} {
		out = append(out, Scenario{Name: fmt.Sprintf("smoke test, bad push (%s)", f), Stack: fixture("tenants-1"), Pushes: 1, Depth: 300,
			Smoke: programSmoke(), Signal: programSignal(t, canary, map[int]string{1: string(f)}, newestMissing)})
	}
	return out
}

// A healthy version passes the smoke test whatever the allow-list (hole 2:
// with none pinned the Stable stage's replacement has no task and nothing
// to test), and the rollout ends with everyone on it.
func TestSmokeHookPassesAHealthyVersionWithAnyAllowList(t *testing.T) {
	for _, tenants := range []int{0, 1, 2} {
		s := Scenario{Name: "good push", Stack: fixture(fmt.Sprintf("tenants-%d", tenants)), Pushes: 1, Smoke: programSmoke(),
			Signal: programSignal(t, config.Defaults().Traffic, nil, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})}
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
		checks := programSmoke()
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
		s := Scenario{Name: "bad push", Stack: fixture("tenants-1"), Pushes: 1, Smoke: programSmoke(),
			Signal: programSignal(t, config.Defaults().Traffic, map[int]string{1: string(f)}, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})}
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
