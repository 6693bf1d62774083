package rollout_test

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// declaredEnv is every variable the functions' declared environments set
// for the stack tenants-1 (what the program declares), with changes
// ("<unset>" removes one).
func declaredEnv(changes map[string]string) map[string]string {
	env := map[string]string{}
	d := declaredStack()
	for _, hook := range contract.Hooks {
		for k, v := range d.Env(hook) {
			env[k] = v
		}
	}
	for k, v := range changes {
		if v == "<unset>" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

var declaredStack = sync.OnceValue(func() *protocol.Direct {
	st, err := protocol.LoadStack(filepath.Join("..", "..", "internal", "protocol", "testdata", "stacks", "tenants-1.json"))
	if err != nil {
		panic(err)
	}
	return protocol.NewDirectFromStack(st, protocol.Scenario{})
})

func TestConfigFromEnvReadsTheContract(t *testing.T) {
	env := declaredEnv(nil)
	tgs := strings.Split(env[contract.EnvStableTargetGroupARNs], ",")
	require.Len(t, tgs, 2)
	want := rollout.Config{
		ClusterName:               env[contract.EnvClusterName],
		StableServiceName:         env[contract.EnvStableServiceName],
		StableDesiredCount:        2,
		ListenerARN:               env[contract.EnvListenerARN],
		StableTargetGroupARNs:     [2]string{tgs[0], tgs[1]},
		CatchAllRuleARN:           env[contract.EnvCatchAllRuleARN],
		AnchorRuleARN:             env[contract.EnvAnchorRuleARN],
		CatchAllPriorityUnpinned:  1,
		CatchAllPriorityPinned:    50000,
		CodeDeployApplicationName: env[contract.EnvCodeDeployApplicationName],
		LatestDeploymentGroupName: env[contract.EnvLatestDeploymentGroupName],
		StableDeploymentGroupName: env[contract.EnvStableDeploymentGroupName],
		LatestServiceName:         env[contract.EnvLatestServiceName],
		PipelineName:              env[contract.EnvPipelineName],
	}
	for k, v := range map[string]string{"cluster": want.ClusterName, "stable": want.StableServiceName, "latest": want.LatestServiceName,
		"listener": want.ListenerARN, "catch-all": want.CatchAllRuleARN, "anchor": want.AnchorRuleARN, "app": want.CodeDeployApplicationName,
		"latest group": want.LatestDeploymentGroupName, "stable group": want.StableDeploymentGroupName, "pipeline": want.PipelineName} {
		require.NotEmpty(t, v, "the declared stack names the %s", k)
	}
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin} {
		cfg, err := rollout.ConfigFromEnv(lookupIn(env), hook)
		require.NoError(t, err, hook)
		want.Hook = hook
		assert.Equal(t, want, cfg, "%s reads the common environment and ignores the rollback's", hook)
	}

	cfg, err := rollout.ConfigFromEnv(lookupIn(env), rollout.HookCleanup)
	require.NoError(t, err)
	cleanup := want
	cleanup.Hook, cleanup.OnReject, cleanup.AppSpecLatest = rollout.HookCleanup, "rollback", strings.TrimSpace(env[contract.EnvAppSpecLatest])
	assert.Equal(t, cleanup, cfg, "cleanup rolls latest back after a failed Stable stage, and after a rejection it finds left on latest: it reads the AppSpec and onReject")

	cfg, err = rollout.ConfigFromEnv(lookupIn(env), rollout.HookRollback)
	require.NoError(t, err)
	want.Hook, want.OnReject, want.AppSpecLatest = rollout.HookRollback, "rollback", strings.TrimSpace(env[contract.EnvAppSpecLatest])
	assert.Equal(t, want, cfg)
}

// rollingBack are the variables the functions that roll latest back
// (rollback and cleanup) read.
var rollingBack = []string{contract.EnvAppSpecLatest, contract.EnvOnReject}

func TestConfigFromEnvNamesEveryMissingVariable(t *testing.T) {
	for _, hook := range contract.Hooks {
		t.Run(string(hook), func(t *testing.T) {
			_, err := rollout.ConfigFromEnv(lookupIn(map[string]string{}), hook)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "invalid environment for the "+string(hook)+" hook")
			for name := range declaredEnv(nil) {
				if slices.Contains(rollingBack, name) && hook != rollout.HookCleanup && hook != rollout.HookRollback {
					assert.NotContains(t, err.Error(), name, "only the functions that roll latest back need it")
					continue
				}
				if name == contract.EnvReleaseDelaySeconds && hook != rollout.HookCleanup && hook != rollout.HookRollback {
					assert.NotContains(t, err.Error(), name, "only the functions that release need it")
					continue
				}
				assert.Contains(t, err.Error(), name+" is not set")
			}
		})
	}
}

// Every hook reads the guards' state: the anchor, both deployment groups,
// the latest service and the pipeline.
func TestConfigFromEnvEveryHookNeedsTheGuardsVariables(t *testing.T) {
	guards := []string{contract.EnvAnchorRuleARN, contract.EnvCodeDeployApplicationName, contract.EnvLatestDeploymentGroupName,
		contract.EnvStableDeploymentGroupName, contract.EnvLatestServiceName, contract.EnvPipelineName}
	unset := map[string]string{}
	for _, name := range guards {
		unset[name] = "<unset>"
	}
	for _, hook := range contract.Hooks {
		_, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(unset)), hook)
		require.Error(t, err, hook)
		for _, name := range guards {
			assert.Contains(t, err.Error(), name+" is not set", hook)
		}
	}
}

func TestConfigFromEnvOnlyTheRollingBackFunctionsNeedOnRejectAndTheAppSpec(t *testing.T) {
	env := declaredEnv(map[string]string{contract.EnvOnReject: "<unset>", contract.EnvAppSpecLatest: "<unset>"})
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin} {
		_, err := rollout.ConfigFromEnv(lookupIn(env), hook)
		assert.NoError(t, err, hook)
	}
	_, err := rollout.ConfigFromEnv(lookupIn(env), rollout.HookCleanup)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ON_REJECT is not set")
	assert.Contains(t, err.Error(), "APPSPEC_LATEST is not set")
	_, err = rollout.ConfigFromEnv(lookupIn(env), rollout.HookRollback)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ON_REJECT is not set")
	assert.Contains(t, err.Error(), "APPSPEC_LATEST is not set")

	cfg, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(map[string]string{contract.EnvOnReject: "hold"})), rollout.HookRollback)
	require.NoError(t, err)
	assert.Equal(t, "hold", cfg.OnReject)
}

func TestConfigFromEnvRejectsMalformedRollbackValues(t *testing.T) {
	for _, tt := range []struct {
		name    string
		changes map[string]string
		want    string
	}{
		{"unknown onReject", map[string]string{"ON_REJECT": "retry"}, `ON_REJECT="retry" must be "rollback" or "hold"`},
		{"appspec without the placeholder", map[string]string{"APPSPEC_LATEST": "version: 0.0\n"}, "APPSPEC_LATEST must contain the task definition placeholder <TASK_DEFINITION> exactly once"},
		{"appspec with the placeholder twice", map[string]string{"APPSPEC_LATEST": declaredEnv(nil)[contract.EnvAppSpecLatest] + "# <TASK_DEFINITION>\n"}, "exactly once"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(tt.changes)), rollout.HookRollback)
			assert.ErrorContains(t, err, tt.want)
			_, err = rollout.ConfigFromEnv(lookupIn(declaredEnv(tt.changes)), rollout.HookPin)
			assert.NoError(t, err, "pin reads neither")
		})
	}
}

func TestConfigFromEnvRejectsMalformedValues(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string
	}{
		{"zero tasks", map[string]string{"STABLE_DESIRED_COUNT": "0"}, []string{`STABLE_DESIRED_COUNT="0" must be an integer in 1..5000`}},
		{"count not a number", map[string]string{"STABLE_DESIRED_COUNT": "two"}, []string{"STABLE_DESIRED_COUNT"}},
		{"listener not an ARN", map[string]string{"LISTENER_ARN": "my-listener"}, []string{`LISTENER_ARN="my-listener" is not an ARN`}},
		{"listener ARN of another service", map[string]string{"LISTENER_ARN": "arn:aws:s3:::bucket"}, []string{"LISTENER_ARN", "not an elasticloadbalancing listener ARN"}},
		{"rule ARN is a listener ARN", map[string]string{"CATCH_ALL_RULE_ARN": declaredEnv(nil)[contract.EnvListenerARN]}, []string{"CATCH_ALL_RULE_ARN", "listener-rule"}},
		{"one target group", map[string]string{"STABLE_TARGET_GROUP_ARNS": stableTG(0)}, []string{"exactly two", "got 1"}},
		{"three target groups", map[string]string{"STABLE_TARGET_GROUP_ARNS": stableTG(0) + "," + stableTG(1) + "," + "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/service-latest-blue/0123456789abcdef"}, []string{"got 3"}},
		{"same target group twice", map[string]string{"STABLE_TARGET_GROUP_ARNS": stableTG(0) + "," + stableTG(0)}, []string{"same target group twice"}},
		{"target group not an ARN", map[string]string{"STABLE_TARGET_GROUP_ARNS": "blue,green"}, []string{`STABLE_TARGET_GROUP_ARNS="blue" is not an ARN`, `"green" is not an ARN`}},
		{"priority out of range", map[string]string{"CATCH_ALL_PRIORITY_PINNED": "50001"}, []string{"CATCH_ALL_PRIORITY_PINNED", "1..50000"}},
		{"priorities upside down", map[string]string{"CATCH_ALL_PRIORITY_UNPINNED": "50000", "CATCH_ALL_PRIORITY_PINNED": "1"}, []string{"CATCH_ALL_PRIORITY_UNPINNED=50000 must be lower than CATCH_ALL_PRIORITY_PINNED=1"}},
		{"blank value", map[string]string{"CLUSTER_NAME": "  "}, []string{"CLUSTER_NAME is not set"}},
		{"anchor not a rule ARN", map[string]string{"ANCHOR_RULE_ARN": stableTG(0)}, []string{"ANCHOR_RULE_ARN", "not an elasticloadbalancing listener-rule ARN"}},
		{"anchor is the catch-all", map[string]string{"ANCHOR_RULE_ARN": declaredEnv(nil)[contract.EnvCatchAllRuleARN]}, []string{"ANCHOR_RULE_ARN and CATCH_ALL_RULE_ARN name the same rule"}},
		{"one service for both", map[string]string{"LATEST_SERVICE_NAME": declaredEnv(nil)[contract.EnvStableServiceName]}, []string{"LATEST_SERVICE_NAME and STABLE_SERVICE_NAME name the same service"}},
		{"one deployment group for both", map[string]string{"STABLE_DEPLOYMENT_GROUP_NAME": declaredEnv(nil)[contract.EnvLatestDeploymentGroupName]}, []string{"LATEST_DEPLOYMENT_GROUP_NAME and STABLE_DEPLOYMENT_GROUP_NAME name the same deployment group"}},
		{"every problem at once", map[string]string{"ANCHOR_RULE_ARN": "", "PIPELINE_NAME": " ", "STABLE_DESIRED_COUNT": "-1"}, []string{"ANCHOR_RULE_ARN is not set", "PIPELINE_NAME is not set", "STABLE_DESIRED_COUNT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(tt.changes)), rollout.HookPin)
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

// cleanup and rollback read the release delay (the deregistration delay the
// program passes); pin and unpin never release and need no such variable.
func TestConfigFromEnvReleaseDelayIsReadByTheHooksThatRelease(t *testing.T) {
	for _, hook := range []rollout.Hook{rollout.HookCleanup, rollout.HookRollback} {
		cfg, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(map[string]string{contract.EnvReleaseDelaySeconds: "15"})), hook)
		require.NoError(t, err, hook)
		assert.Equal(t, 15*time.Second, cfg.ReleaseDelay, hook)
		_, err = rollout.ConfigFromEnv(lookupIn(declaredEnv(map[string]string{contract.EnvReleaseDelaySeconds: "<unset>"})), hook)
		require.Error(t, err, hook)
		assert.Contains(t, err.Error(), "RELEASE_DELAY_SECONDS is not set")
		_, err = rollout.ConfigFromEnv(lookupIn(declaredEnv(map[string]string{contract.EnvReleaseDelaySeconds: "-1"})), hook)
		require.Error(t, err, hook)
		assert.Contains(t, err.Error(), `RELEASE_DELAY_SECONDS="-1" must be an integer in 0..3600`)
	}
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin} {
		_, err := rollout.ConfigFromEnv(lookupIn(declaredEnv(map[string]string{contract.EnvReleaseDelaySeconds: "<unset>"})), hook)
		require.NoError(t, err, hook)
	}
}

// stableTG is stable's target group i of the declared pair.
func stableTG(i int) string {
	return strings.Split(declaredEnv(nil)[contract.EnvStableTargetGroupARNs], ",")[i]
}
