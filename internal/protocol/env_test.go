package protocol

import (
	"maps"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The hooks in the model get exactly the environment the program declares
// for each function — names, ARNs, priorities, desired count, onReject,
// the AppSpec — with one stated exception: RELEASE_DELAY_SECONDS is 0,
// since the hook waits it on a real timer and the model has no
// propagation time for rule changes.
func TestHooksGetTheDeclaredEnvironment(t *testing.T) {
	for _, name := range []string{"tenants-0", "tenants-1", "tenants-2", "linear", "all-at-once", "hold"} {
		decl := fixture(name)
		d := NewDirectFromStack(decl, Scenario{})
		for _, hook := range []contract.Hook{contract.HookPin, contract.HookUnpin, contract.HookCleanup, contract.HookRollback} {
			f := decl.Function(hook)
			require.NotNil(t, f, "%s declares no %s function", name, hook)
			want := maps.Clone(f.Environment)
			if _, ok := want[contract.EnvReleaseDelaySeconds]; ok {
				want[contract.EnvReleaseDelaySeconds] = "0"
			}
			env := d.Env(hook)
			assert.Equal(t, want, env, "%s: %s", name, hook)
			cfg, err := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
			require.NoError(t, err, "%s: %s", name, hook)
			d.Inspect(func(w *World) {
				assert.Equal(t, cfg, w.st.configs[hook], "%s: %s runs with what it parses", name, hook)
			})
		}
	}
}

// The world starts as the declared stack says: its rules (ARNs,
// priorities, tenants), its services and their desired counts, and
// approval.onReject.
func TestWorldIsTheDeclaredStack(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		tenants []string
		hold    bool
	}{{"tenants-0", nil, false}, {"tenants-1", []string{"t0"}, false}, {"tenants-2", []string{"t0", "t1"}, false}, {"hold", []string{"t0"}, true}} {
		decl := fixture(tc.fixture)
		w := newWorld(Scenario{Stack: decl})
		assert.Equal(t, tc.tenants, w.tenants(), tc.fixture)
		assert.Equal(t, tc.hold, w.st.onRejectHold, tc.fixture)
		prod := decl.Production()
		require.Len(t, w.Rules, len(prod.Rules), tc.fixture)
		for _, r := range prod.Rules {
			got := w.rule(*r.Rule.RuleArn)
			require.NotNil(t, got, "%s: rule %s", tc.fixture, *r.Rule.RuleArn)
			assert.Equal(t, string(r.Role), got.Kind, "%s: %s", tc.fixture, *r.Rule.RuleArn)
			if !*r.Rule.IsDefault {
				assert.Equal(t, *r.Rule.Priority, strconv.Itoa(got.Priority), "%s: %s", tc.fixture, *r.Rule.RuleArn)
			}
			assert.Equal(t, r.Tenants, got.Tenants, "%s: %s", tc.fixture, *r.Rule.RuleArn)
			// Each rule forwards where the program points it at creation.
			var fwd []Weighted
			for _, tg := range r.Rule.Actions[0].ForwardConfig.TargetGroups {
				fwd = append(fwd, Weighted{*tg.TargetGroupArn, int(*tg.Weight)})
			}
			assert.Equal(t, fwd, got.Forward, "%s: %s", tc.fixture, *r.Rule.RuleArn)
		}
		for _, s := range decl.ECS.Services {
			svc := w.Services[*s.Service.ServiceName]
			require.NotNil(t, svc, "%s: service %s", tc.fixture, *s.Service.ServiceName)
			assert.Equal(t, int(s.Service.DesiredCount), svc.Desired, "%s: %s", tc.fixture, *s.Service.ServiceName)
		}
	}
}
