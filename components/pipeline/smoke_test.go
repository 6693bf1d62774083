package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

func withSmoke(a *pipeline.Args) {
	a.SmokeTest = config.SmokeTest{Enabled: true, Paths: []string{"/healthz"}, ExpectStatus: 200, Requests: 3, TimeoutSeconds: 5, Tenant: "acme"}
	a.TenantMatch = config.TenantMatch{Type: "header", Pattern: "{tenant}", Name: "X-Tenant-Id"}
	a.AlbArn = pulumi.String("arn:aws:elasticloadbalancing:" + region + ":" + account + ":loadbalancer/app/alb/50dc6c495c0c9188")
	a.AlbSecurityGroupId = pulumi.String("sg-alb")
	a.AlbDnsName = pulumi.String("alb-123.eu-west-1.elb.amazonaws.com")
	a.VpcId = pulumi.String("vpc-1")
	a.TaskSubnetIds = pulumi.ToStringArray([]string{"subnet-a", "subnet-b"})
	a.NatPublicIps = []pulumi.StringOutput{pulumi.String("203.0.113.7").ToStringOutput()}
}

func TestSmokeTestAddsTestListenersAndTheHookToBothStages(t *testing.T) {
	m := run(t, withSmoke)

	listeners := map[string]recorded{}
	for _, l := range m.byType("aws:lb/listener:Listener") {
		listeners[l.name] = l
	}
	require.Len(t, listeners, 2)
	for name, port := range map[string]float64{"pipeline-latest-test-listener": 9080, "pipeline-stable-test-listener": 9081} {
		p := props(listeners[name])
		assert.Equal(t, port, p["port"], name)
		assert.Equal(t, "HTTP", p["protocol"], name)
		assert.Equal(t, "-blue/", liveTestGroup(t, p), "%s starts where production is", name)
	}

	ingress := m.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
	require.Len(t, ingress, 1)
	in := props(ingress[0])
	assert.Equal(t, "sg-alb", in["securityGroupId"])
	assert.Equal(t, "203.0.113.7/32", in["cidrIpv4"], "only the NAT gateway's address")
	assert.Equal(t, 9080.0, in["fromPort"])
	assert.Equal(t, 9081.0, in["toPort"])
	for _, e := range m.byType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") {
		p := props(e)
		assert.Contains(t, [][2]float64{{9080, 9081}, {443, 443}}, [2]float64{p["fromPort"].(float64), p["toPort"].(float64)}, "the hook may only reach the test listeners and HTTPS APIs")
	}

	for _, g := range m.byType("aws:codedeploy/deploymentGroup:DeploymentGroup") {
		var dg struct {
			LoadBalancerInfo struct {
				TargetGroupPairInfo struct {
					TestTrafficRoute struct {
						ListenerArns []string `json:"listenerArns"`
					} `json:"testTrafficRoute"`
				} `json:"targetGroupPairInfo"`
			} `json:"loadBalancerInfo"`
		}
		decode(t, props(g), &dg)
		role := strings.TrimSuffix(strings.TrimPrefix(g.name, "pipeline-"), "-group")
		want := listeners["pipeline-"+role+"-test-listener"].outputs["arn"].StringValue()
		assert.Equal(t, []string{want}, dg.LoadBalancerInfo.TargetGroupPairInfo.TestTrafficRoute.ListenerArns, g.name)
	}

	fns := functionNames(m)
	smokeName := fns["pipeline-smoke-hook"]
	require.Equal(t, "tenant-canary-dev-pipeline-smoke", smokeName)
	files := bundleFiles(t, m)
	for file, want := range map[string][]map[string]string{
		appspec.FileAppSpecLatest: {{"BeforeInstall": fns["pipeline-pin-hook"]}, {"AfterAllowTestTraffic": smokeName}},
		appspec.FileAppSpecStable: {{"AfterAllowTestTraffic": smokeName}, {"AfterAllowTraffic": fns["pipeline-unpin-hook"]}},
	} {
		var spec struct {
			Hooks []map[string]string `yaml:"Hooks"`
		}
		require.NoError(t, yaml.Unmarshal(files[file], &spec))
		assert.Equal(t, want, spec.Hooks, file)
	}

	fn := props(m.one(t, "aws:lambda/function:Function", "pipeline-smoke-hook"))
	assert.Equal(t, float64(pipeline.SmokeTimeoutSeconds), fn["timeout"])
	assert.Equal(t, []interface{}{"subnet-a", "subnet-b"}, fn["vpcConfig"].(map[string]interface{})["subnetIds"])
	env := fn["environment"].(map[string]interface{})["variables"].(map[string]interface{})
	var targets map[string]string
	require.NoError(t, json.Unmarshal([]byte(env["SMOKE_TARGETS"].(string)), &targets))
	assert.Equal(t, map[string]string{
		"tenant-canary-dev-pipeline-latest": "http://alb-123.eu-west-1.elb.amazonaws.com:9080",
		"tenant-canary-dev-pipeline-stable": "http://alb-123.eu-west-1.elb.amazonaws.com:9081",
	}, targets)
	assert.JSONEq(t, `{"requests":[{"path":"/healthz","headers":{"X-Tenant-Id":"acme"}}],"count":3,"expectStatus":200,"timeoutSeconds":5}`, env["SMOKE_CHECKS"].(string))
	for _, inv := range m.byType("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig") {
		if inv.name == "pipeline-smoke-hook-invoke" {
			assert.Equal(t, 0.0, props(inv)["maximumRetryAttempts"], "never retried: it has reported")
		}
	}

	// IAM: every policy passes the least-privilege check; CodeDeploy may
	// invoke the smoke hook and reroute the test listeners.
	for _, r := range m.byType("aws:iam/rolePolicy:RolePolicy") {
		var doc plan.PolicyDocument
		require.NoError(t, json.Unmarshal([]byte(props(r)["policy"].(string)), &doc), r.name)
		for _, p := range plan.Check(doc) {
			t.Errorf("%s: %s", r.name, p)
		}
		if r.name == "pipeline-codedeploy" {
			text := props(r)["policy"].(string)
			assert.Contains(t, text, "function:tenant-canary-dev-pipeline-smoke")
			assert.Contains(t, text, listeners["pipeline-latest-test-listener"].outputs["arn"].StringValue())
		}
		if r.name == "pipeline-smoke-hook" {
			text := props(r)["policy"].(string)
			assert.Contains(t, text, "deploymentgroup:tenant-canary-dev-pipeline-app/tenant-canary-dev-pipeline-latest")
			assert.Contains(t, text, "subnet/subnet-a")
			assert.Contains(t, text, "security-group/pipeline-smoke-id")
		}
	}
	require.Len(t, m.byType("aws:iam/role:Role"), 8, "pipeline, CodeDeploy, trigger and the five hooks (the smoke hook has its own role)")
}

func TestSmokeTestNeedsTheNetworkArgs(t *testing.T) {
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := pipeline.NewPipeline(ctx, "pipeline", testArgs(func(a *pipeline.Args) {
			withSmoke(a)
			a.NatPublicIps = nil
			a.AlbSecurityGroupId = nil
		}))
		return err
	}, pulumi.WithMocks("tenant-canary", "dev", &mocks{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AlbSecurityGroupId")
	assert.Contains(t, err.Error(), "NatPublicIps")
}

func TestSmokeTestOffChangesNothing(t *testing.T) {
	m := run(t, nil)
	assert.Empty(t, m.byType("aws:lb/listener:Listener"))
	assert.NotContains(t, functionNames(m), "pipeline-smoke-hook")
	for _, f := range bundleFiles(t, m) {
		assert.NotContains(t, string(f), "- AfterAllowTestTraffic", "no smoke hook in the AppSpecs")
	}
}

// liveTestGroup is the group a test listener's default action sends all
// its traffic to ("-blue/" or "-green/").
func liveTestGroup(t *testing.T, listener map[string]interface{}) string {
	t.Helper()
	action := listener["defaultActions"].([]interface{})[0].(map[string]interface{})
	groups := action["forward"].(map[string]interface{})["targetGroups"].([]interface{})
	var live []string
	for _, g := range groups {
		g := g.(map[string]interface{})
		if g["weight"].(float64) > 0 {
			live = append(live, g["arn"].(string))
		}
	}
	require.Len(t, live, 1, "all of the listener's traffic goes to one group")
	for _, color := range []string{"-blue/", "-green/"} {
		if strings.Contains(live[0], color) {
			return color
		}
	}
	return live[0]
}

// After an odd number of deployments production is on each pair's second
// group. A test listener created then (smokeTest enabled on an existing
// stack) used to start on the first, idle one; it copies the live
// production rule of its group, as the tenant rules copy the anchor.
func TestTestListenersStartWhereProductionIsLive(t *testing.T) {
	m := runMocks(t, &mocks{liveOnGreen: true}, withSmoke)
	for _, name := range []string{"pipeline-latest-test-listener", "pipeline-stable-test-listener"} {
		l := props(m.one(t, "aws:lb/listener:Listener", name))
		assert.Equal(t, "-green/", liveTestGroup(t, l), name)
		action := l["defaultActions"].([]interface{})[0].(map[string]interface{})
		groups := action["forward"].(map[string]interface{})["targetGroups"].([]interface{})
		service := strings.Split(strings.TrimPrefix(name, "pipeline-"), "-")[0]
		for _, g := range groups {
			assert.Contains(t, g.(map[string]interface{})["arn"], "targetgroup/"+service+"-", "%s forwards only to its own service's pair", name)
		}
	}
}
