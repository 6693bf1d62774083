package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

func runSmokeProgram(t *testing.T, cfg map[string]string) (*mocks, error) {
	t.Helper()
	full := map[string]string{"aws:region": "eu-west-1"}
	for k, v := range cfg {
		full[config.Namespace+":"+k] = v
	}
	b, err := json.Marshal(full)
	require.NoError(t, err)
	t.Setenv(pulumi.EnvConfig, string(b))
	m := &mocks{}
	return m, pulumi.RunErr(run, pulumi.WithMocks(config.Namespace, "dev", m))
}

// The test listeners admit the NAT gateways' addresses and nobody else;
// the smoke hook runs in the task subnets behind them.
func TestSmokeTestListenersAdmitOnlyTheNatGateways(t *testing.T) {
	for _, tc := range []struct {
		network  string
		gateways int
	}{
		{`{"nat":"single","availabilityZones":2}`, 1},
		{`{"nat":"one-per-az","availabilityZones":3}`, 3},
	} {
		t.Run(tc.network, func(t *testing.T) {
			m, err := runSmokeProgram(t, map[string]string{
				"smokeTest": `{"enabled":true,"tenant":"acme"}`, "network": tc.network, "pinnedTenants": `["acme"]`,
			})
			require.NoError(t, err)
			eips := m.ofType("aws:ec2/eip:Eip")
			require.Len(t, eips, tc.gateways)
			natGateways := m.ofType(vpcType)[0].Inputs["natGateways"].ObjectValue()
			assert.Len(t, natGateways["elasticIpAllocationIds"].ArrayValue(), tc.gateways, "awsx uses the program's addresses")

			var natCidrs []string
			for i := range eips {
				natCidrs = append(natCidrs, fmt.Sprintf("203.0.113.%d/32", 10+i))
			}
			groups := map[string]string{}
			for _, sg := range m.ofType(securityGroupTyp) {
				groups[sg.Name+"-id"] = sg.Name
			}
			var testCidrs []string
			for _, rule := range m.ofType(ingressRuleType) {
				if groups[rule.Inputs["securityGroupId"].StringValue()] != "service-alb" {
					continue
				}
				if port := rule.Inputs["fromPort"].NumberValue(); port == 80 || port == 443 {
					continue
				}
				assert.Equal(t, 9080.0, rule.Inputs["fromPort"].NumberValue())
				assert.Equal(t, 9081.0, rule.Inputs["toPort"].NumberValue())
				assert.NotContains(t, rule.Inputs, resource.PropertyKey("cidrIpv6"))
				testCidrs = append(testCidrs, rule.Inputs["cidrIpv4"].StringValue())
			}
			assert.ElementsMatch(t, natCidrs, testCidrs, "only the NAT gateways reach the test listeners")

			ports := map[float64]registered{}
			for _, l := range m.ofType(listenerType) {
				ports[l.Inputs["port"].NumberValue()] = l
			}
			for _, port := range []float64{9080, 9081} {
				l, ok := ports[port]
				require.True(t, ok, "test listener on %v", port)
				assert.Contains(t, l.IgnoreChanges, "defaultActions", "CodeDeploy owns the test listener's action")
				assert.Equal(t, "HTTP", l.Inputs["protocol"].StringValue())
			}

			var smoke *registered
			for _, f := range m.ofType("aws:lambda/function:Function") {
				if strings.HasSuffix(f.Name, "smoke-hook") {
					f := f
					smoke = &f
				}
			}
			require.NotNil(t, smoke, "the smoke hook exists")
			vpcCfg := smoke.Inputs["vpcConfig"].ObjectValue()
			assert.Equal(t, []string{"subnet-priv-a", "subnet-priv-b"}, stringsOf(vpcCfg["subnetIds"]), "behind NAT")
			env := smoke.Inputs["environment"].ObjectValue()["variables"].ObjectValue()
			assert.Contains(t, env["SMOKE_CHECKS"].StringValue(), `"path":"/app/acme/healthz"`, "the tenant impersonated by path")
			assert.Contains(t, env["SMOKE_TARGETS"].StringValue(), ".elb.amazonaws.com:9080")

			for _, r := range m.ofType("aws:iam/rolePolicy:RolePolicy") {
				var doc plan.PolicyDocument
				require.NoError(t, json.Unmarshal([]byte(r.Inputs["policy"].StringValue()), &doc), r.Name)
				for _, p := range plan.Check(doc) {
					t.Errorf("%s: %s", r.Name, p)
				}
			}
		})
	}
}

func TestSmokeTestWithoutNatIsRejectedBeforeAnythingIsCreated(t *testing.T) {
	m, err := runSmokeProgram(t, map[string]string{"smokeTest": `{"enabled":true}`, "network": `{"nat":"none"}`})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tenant-canary:smokeTest.enabled")
	assert.Contains(t, err.Error(), `network.nat is "none"`)
	assert.Empty(t, m.ofType(vpcType))
}

func TestWithoutTheSmokeTestNothingOfItExists(t *testing.T) {
	m, err := runSmokeProgram(t, nil)
	require.NoError(t, err)
	assert.Empty(t, m.ofType("aws:ec2/eip:Eip"), "awsx keeps allocating the NAT addresses")
	assert.Len(t, m.ofType(listenerType), 1, "the production listener only")
	for _, f := range m.ofType("aws:lambda/function:Function") {
		assert.NotContains(t, f.Name, "smoke")
	}
}
