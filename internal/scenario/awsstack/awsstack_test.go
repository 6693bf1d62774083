package awsstack

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
)

func TestOutputsFromTheAutomationAPI(t *testing.T) {
	m := auto.OutputMap{
		"albUrl": {Value: "http://tc-1.us-east-1.elb.amazonaws.com"}, "repositoryUrl": {Value: "123456789012.dkr.ecr.us-east-1.amazonaws.com/tc"},
		"imageTag": {Value: "latest"}, "pipelineName": {Value: "tc-pipeline"}, "listenerArn": {Value: "arn:listener"},
		"catchAllRuleArn": {Value: "arn:rule/catch"}, "pinnedTenants": {Value: []any{"acme", "globex"}},
		"tenantRuleArns": {Value: []any{"arn:rule/t0"}}, "hookFunctionNames": {Value: map[string]any{"pin": "tc-pin"}},
		"approvalTopicArn": {Value: "arn:sns", Secret: false},
	}
	out, err := OutputsFromAutomation(m)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme", "globex"}, out.PinnedTenants)
	assert.Equal(t, "tc-pin", out.HookFunctionNames["pin"])
	assert.Equal(t, "latest", out.ImageTag)

	delete(m, "albUrl")
	delete(m, "imageTag")
	_, err = OutputsFromAutomation(m)
	assert.EqualError(t, err, "the stack has no output albUrl, imageTag: was it deployed by this program?")
}

func TestDockerBuildSetsEveryBuildArgument(t *testing.T) {
	bad, err := badversion.Parse("5xx=50%")
	require.NoError(t, err)
	assert.Equal(t, []string{"build", "--platform", "linux/amd64", "--build-arg", "VERSION=v3", "--build-arg", "COLOR=green",
		"--build-arg", "BAD_5XX_PERCENT=50", "--build-arg", "BAD_HEALTH=", "--build-arg", "BAD_LATENCY=", "--build-arg", "BAD_REFUSE=",
		"-t", "repo:latest", "images/app"}, DockerBuildArgs("images/app", "repo:latest", "linux/amd64", "v3", "green", bad))
}

func TestEachVersionKeepsItsColour(t *testing.T) {
	assert.Equal(t, ColorFor("v2"), ColorFor("v2"))
	seen := map[string]bool{}
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		seen[ColorFor(v)] = true
	}
	assert.Greater(t, len(seen), 2, "consecutive versions get different colours")
}
