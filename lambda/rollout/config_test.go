package rollout_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func envWith(changes map[string]string) map[string]string {
	env := fakeaws.Env()
	for k, v := range changes {
		if v == "<unset>" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	return env
}

func TestConfigFromEnvReadsTheContract(t *testing.T) {
	cfg, err := rollout.ConfigFromEnv(lookupIn(fakeaws.Env()), rollout.HookCleanup)
	require.NoError(t, err)
	assert.Equal(t, rollout.Config{
		Hook:                      rollout.HookCleanup,
		ClusterName:               fakeaws.Cluster,
		StableServiceName:         fakeaws.StableService,
		StableDesiredCount:        2,
		ListenerARN:               fakeaws.ListenerARN,
		StableTargetGroupARNs:     [2]string{fakeaws.StableBlueTG, fakeaws.StableGreenTG},
		CatchAllRuleARN:           fakeaws.CatchAllRuleARN,
		CatchAllPriorityUnpinned:  1,
		CatchAllPriorityPinned:    50000,
		CodeDeployApplicationName: fakeaws.CodeDeployApp,
		LatestDeploymentGroupName: fakeaws.LatestGroup,
		LatestServiceName:         fakeaws.LatestService,
	}, cfg)
}

func TestConfigFromEnvNamesEveryMissingVariable(t *testing.T) {
	_, err := rollout.ConfigFromEnv(lookupIn(map[string]string{}), rollout.HookCleanup)
	require.Error(t, err)
	for name := range fakeaws.Env() {
		assert.Contains(t, err.Error(), name+" is not set")
	}
}

func TestConfigFromEnvOnlyCleanupNeedsTheDeploymentGroup(t *testing.T) {
	env := envWith(map[string]string{"CODEDEPLOY_APPLICATION_NAME": "<unset>", "LATEST_DEPLOYMENT_GROUP_NAME": "<unset>", "LATEST_SERVICE_NAME": "<unset>"})
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin} {
		_, err := rollout.ConfigFromEnv(lookupIn(env), hook)
		assert.NoError(t, err, hook)
	}
	_, err := rollout.ConfigFromEnv(lookupIn(env), rollout.HookCleanup)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CODEDEPLOY_APPLICATION_NAME is not set")
	assert.Contains(t, err.Error(), "LATEST_DEPLOYMENT_GROUP_NAME is not set")
	assert.Contains(t, err.Error(), "LATEST_SERVICE_NAME is not set")

	_, err = rollout.ConfigFromEnv(lookupIn(envWith(map[string]string{"LATEST_SERVICE_NAME": fakeaws.StableService})), rollout.HookCleanup)
	assert.ErrorContains(t, err, "LATEST_SERVICE_NAME and STABLE_SERVICE_NAME name the same service")
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
		{"rule ARN is a listener ARN", map[string]string{"CATCH_ALL_RULE_ARN": fakeaws.ListenerARN}, []string{"CATCH_ALL_RULE_ARN", "listener-rule"}},
		{"one target group", map[string]string{"STABLE_TARGET_GROUP_ARNS": fakeaws.StableBlueTG}, []string{"exactly two", "got 1"}},
		{"three target groups", map[string]string{"STABLE_TARGET_GROUP_ARNS": fakeaws.StableBlueTG + "," + fakeaws.StableGreenTG + "," + fakeaws.LatestBlueTG}, []string{"got 3"}},
		{"same target group twice", map[string]string{"STABLE_TARGET_GROUP_ARNS": fakeaws.StableBlueTG + "," + fakeaws.StableBlueTG}, []string{"same target group twice"}},
		{"target group not an ARN", map[string]string{"STABLE_TARGET_GROUP_ARNS": "blue,green"}, []string{`STABLE_TARGET_GROUP_ARNS="blue" is not an ARN`, `"green" is not an ARN`}},
		{"priority out of range", map[string]string{"CATCH_ALL_PRIORITY_PINNED": "50001"}, []string{"CATCH_ALL_PRIORITY_PINNED", "1..50000"}},
		{"priorities upside down", map[string]string{"CATCH_ALL_PRIORITY_UNPINNED": "50000", "CATCH_ALL_PRIORITY_PINNED": "1"}, []string{"CATCH_ALL_PRIORITY_UNPINNED=50000 must be lower than CATCH_ALL_PRIORITY_PINNED=1"}},
		{"blank value", map[string]string{"CLUSTER_NAME": "  "}, []string{"CLUSTER_NAME is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rollout.ConfigFromEnv(lookupIn(envWith(tt.changes)), rollout.HookPin)
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
