package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/stackconfig"
)

func (m *mocks) named(t *testing.T, typ, name string) registered {
	t.Helper()
	for _, r := range m.ofType(typ) {
		if r.Name == name {
			return r
		}
	}
	require.Failf(t, "resource not registered", "%s %s", typ, name)
	return registered{}
}

// runProgram runs the real program under mocks with the given stack config
// (keys without namespace are in the project's).
func runProgram(t testing.TB, cfg map[string]string) (*mocks, error) {
	t.Helper()
	full := map[string]string{"aws:region": "eu-west-1"}
	for k, v := range cfg {
		if !strings.Contains(k, ":") {
			k = config.Namespace + ":" + k
		}
		full[k] = v
	}
	b, err := json.Marshal(full)
	require.NoError(t, err)
	t.Setenv(pulumi.EnvConfig, string(b))
	m := &mocks{}
	err = pulumi.RunErr(run, pulumi.WithMocks(config.Namespace, "dev", m))
	return m, err
}

// runWithMocks is runProgram with a prepared mock (live AWS state).
func runWithMocks(t testing.TB, m *mocks, cfg map[string]string) error {
	t.Helper()
	full := map[string]string{"aws:region": "eu-west-1"}
	for k, v := range cfg {
		full[config.Namespace+":"+k] = v
	}
	b, err := json.Marshal(full)
	require.NoError(t, err)
	t.Setenv(pulumi.EnvConfig, string(b))
	return pulumi.RunErr(run, pulumi.WithMocks(config.Namespace, "dev", m))
}

// stackConfigs loads Pulumi.yaml and every Pulumi.<stack>.yaml with the
// SDK's own loaders (internal/stackconfig, as `tenant-canary check` does)
// and returns each stack's config as the CLI hands it to the program: the
// stack's values over the project's defaults.
func stackConfigs(t *testing.T) map[string]map[string]string {
	t.Helper()
	names, err := stackconfig.Names(".")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	out := map[string]map[string]string{}
	for _, name := range names {
		stack, err := stackconfig.Load(".", name)
		require.NoError(t, err, name)
		// The CLI rejects project keys Pulumi.yaml does not declare; so
		// does this test, or a typo such as pinnedTenant would be
		// silently ignored here.
		require.Empty(t, stack.Undeclared, "%s sets keys Pulumi.yaml does not declare", stack.File)
		out[name] = stack.Values
	}
	return out
}

func stringsOf(v resource.PropertyValue) []string {
	var out []string
	for _, e := range v.ArrayValue() {
		out = append(out, e.StringValue())
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

const (
	serviceType      = "aws:ecs/service:Service"
	listenerType     = "aws:lb/listener:Listener"
	ruleType         = "aws:lb/listenerRule:ListenerRule"
	vpcType          = "awsx:ec2:Vpc"
	ingressRuleType  = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressRuleType   = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	securityGroupTyp = "aws:ec2/securityGroup:SecurityGroup"
)

func TestDevStackBuildsTheRolloutTopology(t *testing.T) {
	stacks := stackConfigs(t)
	m, err := runProgram(t, stacks["dev"])
	require.NoError(t, err)

	services := m.ofType(serviceType)
	require.Len(t, services, 2)
	for _, s := range services {
		assert.Equal(t, "CODE_DEPLOY", s.Inputs["deploymentController"].ObjectValue()["type"].StringValue(), s.Name)
		assert.Equal(t, "app", s.Inputs["loadBalancers"].ArrayValue()[0].ObjectValue()["containerName"].StringValue())
		assert.Equal(t, 8080.0, s.Inputs["loadBalancers"].ArrayValue()[0].ObjectValue()["containerPort"].NumberValue())
	}
	stable := m.named(t, serviceType, "service-stable")
	latest := m.named(t, serviceType, "service-latest")
	assert.Equal(t, 0.0, stable.Inputs["desiredCount"].NumberValue(), "stable starts at zero tasks")
	assert.Equal(t, 2.0, latest.Inputs["desiredCount"].NumberValue())

	// Two pinned tenants with path matching: four values, two rules, plus
	// the catch-all and the anchor.
	rules := m.ofType(ruleType)
	catchAll := m.named(t, ruleType, "service-catch-all")
	anchor := m.named(t, ruleType, "service-anchor")
	require.Len(t, rules, 2+2)
	for _, r := range rules {
		if r.Name == catchAll.Name {
			continue
		}
		assert.Less(t, catchAll.Inputs["priority"].NumberValue(), r.Inputs["priority"].NumberValue(),
			"the catch-all starts above rule %s", r.Name)
		if r.Name != anchor.Name {
			assert.Less(t, anchor.Inputs["priority"].NumberValue(), r.Inputs["priority"].NumberValue(),
				"the anchor sits above tenant rule %s and never moves", r.Name)
		}
	}
	sort.Slice(rules, func(i, j int) bool {
		return rules[i].Inputs["priority"].NumberValue() < rules[j].Inputs["priority"].NumberValue()
	})
	var paths []string
	for _, r := range rules {
		if r.Name != catchAll.Name && r.Name != anchor.Name {
			for _, c := range r.Inputs["conditions"].ArrayValue() {
				paths = append(paths, stringsOf(c.ObjectValue()["pathPattern"].ObjectValue()["values"])...)
			}
		}
	}
	assert.Equal(t, []string{"/app/123", "/app/123/*", "/app/acme", "/app/acme/*"}, paths)
}

// docs/design.md §4: ignoreChanges exactly on what CodeDeploy and the hooks own,
// and on nothing Pulumi should keep managing.
func TestIgnoreChangesFollowFieldOwnership(t *testing.T) {
	m, err := runProgram(t, map[string]string{"pinnedTenants": `["123","acme"]`})
	require.NoError(t, err)
	want := map[string][]string{
		"service-latest":         {"loadBalancers", "taskDefinition"},
		"service-stable":         {"desiredCount", "loadBalancers", "taskDefinition"},
		"service-listener":       {"defaultActions"},
		"service-catch-all":      {"actions", "priority", "tags", "tagsAll"},
		"service-anchor":         {"actions"},
		"service-tenant-rule-10": {"actions"},
		"service-tenant-rule-11": {"actions"},
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.resources {
		if expected, ok := want[r.Name]; ok {
			assert.Equal(t, expected, sorted(r.IgnoreChanges), r.Name)
			delete(want, r.Name)
			continue
		}
		assert.Empty(t, r.IgnoreChanges, "%s %s must stay fully managed by Pulumi", r.Type, r.Name)
	}
	assert.Empty(t, want, "resources expected but not registered")
}

func TestTasksAreReachableOnlyFromTheLoadBalancer(t *testing.T) {
	m, err := runProgram(t, nil)
	require.NoError(t, err)
	groups := map[string]string{} // mock id → logical name
	for _, sg := range m.ofType(securityGroupTyp) {
		groups[sg.Name+"-id"] = sg.Name
	}
	require.Contains(t, groups, "service-tasks-id")
	perGroup := map[string]int{}
	for _, rule := range m.ofType(ingressRuleType) {
		owner := groups[rule.Inputs["securityGroupId"].StringValue()]
		perGroup[owner]++
		switch owner {
		case "service-tasks":
			assert.Equal(t, "service-alb", groups[rule.Inputs["referencedSecurityGroupId"].StringValue()], "task ingress only from the ALB's group")
			assert.NotContains(t, rule.Inputs, resource.PropertyKey("cidrIpv4"))
			assert.NotContains(t, rule.Inputs, resource.PropertyKey("cidrIpv6"))
			assert.Equal(t, 8080.0, rule.Inputs["fromPort"].NumberValue())
			assert.Equal(t, 8080.0, rule.Inputs["toPort"].NumberValue())
		case "service-alb":
			port := rule.Inputs["fromPort"].NumberValue()
			assert.Contains(t, []float64{80, 443}, port, "the ALB is open on HTTP and HTTPS only")
			assert.Equal(t, port, rule.Inputs["toPort"].NumberValue())
		default:
			t.Errorf("ingress rule %s on unexpected group %q", rule.Name, owner)
		}
	}
	assert.Equal(t, map[string]int{"service-tasks": 1, "service-alb": 4}, perGroup,
		"one way into the tasks; HTTP and HTTPS over IPv4 and IPv6 into the ALB")
	for _, rule := range m.ofType(egressRuleType) {
		if groups[rule.Inputs["securityGroupId"].StringValue()] == "service-alb" {
			assert.Equal(t, "service-tasks", groups[rule.Inputs["referencedSecurityGroupId"].StringValue()], "the ALB only talks to the tasks")
		}
	}
}

// The whole program's IAM, not just the pipeline's: every role policy and
// trust policy passes the same least-privilege check ("*" only for the
// commented allow-list of actions AWS cannot scope, iam:PassRole only to
// ECS tasks), the task execution role included.
func TestEveryPolicyInTheProgramIsLeastPrivilege(t *testing.T) {
	m, err := runProgram(t, map[string]string{"pinnedTenants": `["a"]`})
	require.NoError(t, err)
	docs := map[string]string{}
	for _, r := range m.ofType("aws:iam/rolePolicy:RolePolicy") {
		docs["policy "+r.Name] = r.Inputs["policy"].StringValue()
	}
	for _, r := range m.ofType("aws:iam/role:Role") {
		docs["trust "+r.Name] = r.Inputs["assumeRolePolicy"].StringValue()
	}
	require.Contains(t, docs, "policy service-execution", "the service's execution role policy is walked too")
	assert.Empty(t, m.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), "no managed policies")
	for name, text := range docs {
		var doc plan.PolicyDocument
		require.NoError(t, json.Unmarshal([]byte(text), &doc), name)
		require.NotEmpty(t, doc.Statement, name)
		for _, p := range plan.Check(doc) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestNatStrategies(t *testing.T) {
	for _, tc := range []struct {
		nat, awsx string
		publicIP  bool
		subnets   []string
	}{
		{"none", "None", true, []string{"subnet-pub-a", "subnet-pub-b"}},
		{"single", "Single", false, []string{"subnet-priv-a", "subnet-priv-b"}},
		{"one-per-az", "OnePerAz", false, []string{"subnet-priv-a", "subnet-priv-b"}},
	} {
		t.Run(tc.nat, func(t *testing.T) {
			m, err := runProgram(t, map[string]string{"network": fmt.Sprintf(`{"nat":%q,"availabilityZones":3}`, tc.nat)})
			require.NoError(t, err)
			vpcs := m.ofType(vpcType)
			require.Len(t, vpcs, 1)
			vpc := vpcs[0].Inputs
			assert.Equal(t, tc.awsx, vpc["natGateways"].ObjectValue()["strategy"].StringValue())
			assert.Equal(t, 3.0, vpc["numberOfAvailabilityZones"].NumberValue())
			_, hasSpecs := vpc["subnetSpecs"]
			assert.Equal(t, tc.nat == "none", hasSpecs, "only public subnets when there is no NAT")
			for _, s := range m.ofType(serviceType) {
				netCfg := s.Inputs["networkConfiguration"].ObjectValue()
				assert.Equal(t, tc.publicIP, netCfg["assignPublicIp"].BoolValue(), s.Name)
				assert.Equal(t, tc.subnets, stringsOf(netCfg["subnets"]), s.Name)
			}
		})
	}
}

func TestHTTPSAddsARedirectAndMovesProductionTo443(t *testing.T) {
	const cert = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
	m, err := runProgram(t, map[string]string{"certificateArn": cert, "pinnedTenants": `["a"]`})
	require.NoError(t, err)
	https := m.named(t, listenerType, "service-listener")
	assert.Equal(t, 443.0, https.Inputs["port"].NumberValue())
	assert.Equal(t, "HTTPS", https.Inputs["protocol"].StringValue())
	assert.Equal(t, cert, https.Inputs["certificateArn"].StringValue())
	redirect := m.named(t, listenerType, "service-http-redirect")
	assert.Equal(t, 80.0, redirect.Inputs["port"].NumberValue())
	action := redirect.Inputs["defaultActions"].ArrayValue()[0].ObjectValue()
	assert.Equal(t, "redirect", action["type"].StringValue())
	assert.Equal(t, "HTTPS", action["redirect"].ObjectValue()["protocol"].StringValue())
	// Adding a certificate modifies the production listener in place
	// (80 → 443); the redirect takes port 80 only after that.
	assert.True(t, slices.ContainsFunc(redirect.Dependencies, func(d string) bool { return strings.HasSuffix(d, "$aws:lb/listener:Listener::service-listener") }),
		"the redirect is created after the production listener has left port 80: %v", redirect.Dependencies)
	rules := m.ofType(ruleType)
	require.Len(t, rules, 3)
	for _, r := range rules {
		assert.True(t, strings.HasSuffix(r.Inputs["listenerArn"].StringValue(), "/service-listener"), "rule %s sits on the production listener", r.Name)
	}
	assert.Len(t, m.ofType(listenerType), 2, "production and redirect, nothing else")

	m, err = runProgram(t, nil)
	require.NoError(t, err)
	require.Len(t, m.ofType(listenerType), 1, "HTTPS and its redirect only with a certificate")
	http := m.named(t, listenerType, "service-listener")
	assert.Equal(t, 80.0, http.Inputs["port"].NumberValue())
	assert.Equal(t, "HTTP", http.Inputs["protocol"].StringValue())
	assert.NotContains(t, http.Inputs, resource.PropertyKey("certificateArn"))
	assert.NotContains(t, http.Inputs, resource.PropertyKey("sslPolicy"))
}

// Existing stacks hold the production listener as "service-http" (no
// certificate) or "service-https": the one listener resource adopts either,
// so neither is replaced (a replaced listener would recreate every rule on
// the blue target groups).
func TestTheProductionListenerKeepsExistingStacksListener(t *testing.T) {
	for _, cfg := range []map[string]string{nil, {"certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}} {
		m, err := runProgram(t, cfg)
		require.NoError(t, err)
		l := m.named(t, listenerType, "service-listener")
		assert.ElementsMatch(t, []string{
			"name=service-http type= parent= noParent=false",
			"name=service-https type= parent= noParent=false",
		}, l.Aliases, "the old names, same type, same parent")
	}
}

// Every target group is attached to the production listener from the
// start, so ECS accepts each service and CodeDeploy's task sets on either
// group of a pair: latest's pair through the default action and the
// catch-all, stable's through the anchor, which no real request matches.
// No other listener exists.
func TestEveryTargetGroupIsAttachedToTheProductionListener(t *testing.T) {
	m, err := runProgram(t, nil)
	require.NoError(t, err)
	require.Len(t, m.ofType(listenerType), 1, "no listener beside the production one")
	pair := func(action resource.PropertyMap) map[string]float64 {
		out := map[string]float64{}
		for _, g := range action["forward"].ObjectValue()["targetGroups"].ArrayValue() {
			arn := g.ObjectValue()["arn"].StringValue()
			name := strings.Split(strings.TrimPrefix(arn[strings.Index(arn, ":targetgroup/"):], ":targetgroup/"), "/")[0]
			out[name] = g.ObjectValue()["weight"].NumberValue()
		}
		return out
	}
	listener := m.named(t, listenerType, "service-listener")
	latest := map[string]float64{"service-latest-blue": 100, "service-latest-green": 0}
	assert.Equal(t, latest, pair(listener.Inputs["defaultActions"].ArrayValue()[0].ObjectValue()))
	assert.Equal(t, latest, pair(m.named(t, ruleType, "service-catch-all").Inputs["actions"].ArrayValue()[0].ObjectValue()))
	anchor := m.named(t, ruleType, "service-anchor")
	assert.Equal(t, map[string]float64{"service-stable-blue": 100, "service-stable-green": 0}, pair(anchor.Inputs["actions"].ArrayValue()[0].ObjectValue()))
	assert.Equal(t, float64(routing.AnchorPriority), anchor.Inputs["priority"].NumberValue())
	cond := anchor.Inputs["conditions"].ArrayValue()[0].ObjectValue()["hostHeader"].ObjectValue()["values"]
	assert.Equal(t, []string{"dev.tenant-canary.tenant-canary-anchor.invalid"}, stringsOf(cond), "a reserved name no client sends")
	for _, svc := range m.ofType(serviceType) {
		for _, want := range []string{"service-listener-", "service-catch-all-", "service-anchor-"} {
			found := false
			for _, d := range svc.Dependencies {
				found = found || strings.HasSuffix(d, "::"+strings.TrimSuffix(want, "-"))
			}
			assert.True(t, found, "%s waits for %s", svc.Name, strings.TrimSuffix(want, "-"))
		}
	}
}

func filterNamed(rs []registered, name string) []registered {
	var out []registered
	for _, r := range rs {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

func TestTenantMatchTypesAndAllowListSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       map[string]string
		rules     int
		field     string
		headerKey string
	}{
		{"no tenants", map[string]string{}, 0, "", ""},
		{"header", map[string]string{"tenantMatch": `{"type":"header","name":"X-Org"}`, "pinnedTenants": `["a","b","c","d"]`}, 2, "httpHeader", "X-Org"},
		{"host", map[string]string{"tenantMatch": `{"type":"host","pattern":"{tenant}.example.com"}`, "pinnedTenants": `["a","b","c"]`}, 1, "hostHeader", ""},
		{"largest path allow-list", map[string]string{"pinnedTenants": tenantList(routing.MaxTenants(routing.Match{Type: "path", Pattern: "/app/{tenant}"}, 100))}, 98, "pathPattern", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := runProgram(t, tc.cfg)
			require.NoError(t, err)
			var tenantRules []registered
			for _, r := range m.ofType(ruleType) {
				if r.Name != "service-catch-all" && r.Name != "service-anchor" {
					tenantRules = append(tenantRules, r)
				}
			}
			assert.Len(t, tenantRules, tc.rules)
			for _, r := range tenantRules {
				cond := r.Inputs["conditions"].ArrayValue()
				require.Len(t, cond, 1)
				c := cond[0].ObjectValue()[resource.PropertyKey(tc.field)]
				require.True(t, c.IsObject(), "rule %s has a %s condition", r.Name, tc.field)
				assert.LessOrEqual(t, len(c.ObjectValue()["values"].ArrayValue()), routing.MaxValuesPerCondition)
				if tc.headerKey != "" {
					assert.Equal(t, tc.headerKey, c.ObjectValue()["httpHeaderName"].StringValue())
				}
				// Tenant rules forward where the anchor does: stable's
				// first target group on a new stack.
				action := r.Inputs["actions"].ArrayValue()[0].ObjectValue()
				assert.Contains(t, forwardTargets(action), "service-stable-blue")
			}
			// Both services exist whatever the allow-list: the anchor
			// rule keeps stable's target groups attached.
			assert.Len(t, m.ofType(serviceType), 2)
		})
	}
}

// forwardTargets returns the target group ARNs of a forward action, in
// either of its shapes.
func forwardTargets(action resource.PropertyMap) string {
	if tg, ok := action["targetGroupArn"]; ok && tg.IsString() {
		return tg.StringValue()
	}
	var arns []string
	for _, g := range action["forward"].ObjectValue()["targetGroups"].ArrayValue() {
		arns = append(arns, g.ObjectValue()["arn"].StringValue())
	}
	return strings.Join(arns, ",")
}

// After a Stable deployment CodeDeploy has moved the anchor and the tenant
// rules to stable's green group. A rule added then (a tenant pinned
// mid-rollout) must forward there too, or that tenant would hit an empty
// group; every tenant rule, the first included, copies the anchor.
func TestNewTenantRulesFollowTheLiveStableTargetGroup(t *testing.T) {
	m := &mocks{liveTargetGroup: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/service-stable-green/0123456789abcdef"}
	require.NoError(t, runWithMocks(t, m, map[string]string{"pinnedTenants": `["a","b","c","d"]`}))
	for _, name := range []string{"service-tenant-rule-10", "service-tenant-rule-11", "service-tenant-rule-12"} {
		r := m.named(t, ruleType, name)
		assert.Equal(t, m.liveTargetGroup, forwardTargets(r.Inputs["actions"].ArrayValue()[0].ObjectValue()), name)
	}
	assert.Contains(t, forwardTargets(m.named(t, ruleType, "service-anchor").Inputs["actions"].ArrayValue()[0].ObjectValue()), "service-stable-blue",
		"the anchor's own action is CodeDeploy's once it exists (ignoreChanges); it starts on blue")
}

// Release waits out the target groups' deregistration delay between moving
// the catch-all and scaling stable to zero: the functions that release get
// the very value the target groups are given, and a timeout that holds it.
func TestReleaseDelayIsTheTargetGroupsDeregistrationDelay(t *testing.T) {
	m, err := runProgram(t, map[string]string{"service": `{"deregistrationDelaySeconds": 42}`})
	require.NoError(t, err)
	groups := m.ofType("aws:lb/targetGroup:TargetGroup")
	require.Len(t, groups, 4)
	for _, g := range groups {
		assert.Equal(t, 42.0, g.Inputs["deregistrationDelay"].NumberValue(), g.Name)
	}
	for _, h := range []string{"cleanup", "rollback"} {
		f := m.named(t, "aws:lambda/function:Function", "pipeline-"+h+"-hook")
		env := f.Inputs["environment"].ObjectValue()["variables"].ObjectValue()
		assert.Equal(t, "42", env["RELEASE_DELAY_SECONDS"].StringValue(), h)
		assert.Equal(t, 120.0+42, f.Inputs["timeout"].NumberValue(), h)
	}
	_, err = runProgram(t, map[string]string{"service": `{"deregistrationDelaySeconds": 781}`})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service.deregistrationDelaySeconds")
	assert.Contains(t, err.Error(), "781")
}

func TestInvalidConfigRegistersNothing(t *testing.T) {
	m, err := runProgram(t, map[string]string{
		"pinnedTenants": `["ok", "no/slash"]`,
		"traffic":       `{"percentage": 150}`,
		"network":       `{"nat": "sometimes"}`,
	})
	require.Error(t, err)
	for _, key := range []string{"pinnedTenants[1]", "traffic.percentage", "network.nat"} {
		assert.Contains(t, err.Error(), "tenant-canary:"+key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Empty(t, m.resources, "no resource is registered when config is invalid")
}

func TestTooManyTenantsRegistersNothing(t *testing.T) {
	m, err := runProgram(t, map[string]string{"pinnedTenants": tenantList(148)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at most 147 tenants fit")
	m.mu.Lock()
	defer m.mu.Unlock()
	assert.Empty(t, m.resources)
}

// Every child hangs under its component, so `pulumi preview` reads as the
// architecture and names never collide.
func TestEveryResourceHasAComponentParent(t *testing.T) {
	m, err := runProgram(t, map[string]string{"pinnedTenants": `["a"]`})
	require.NoError(t, err)
	m.mu.Lock()
	defer m.mu.Unlock()
	components := map[string]bool{}
	for _, r := range m.resources {
		if strings.HasPrefix(r.Type, "tenant-canary:") {
			components[r.URN] = true
		}
	}
	require.Len(t, components, 2+expectedExtraComponents)
	for _, r := range m.resources {
		if strings.HasPrefix(r.Type, "tenant-canary:") || r.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(r.Type, "pulumi:providers:") {
			continue
		}
		assert.Contains(t, r.Parent, "tenant-canary:", "%s %s has a component parent", r.Type, r.Name)
	}
}

// expectedExtraComponents counts the components beyond network and service.
const expectedExtraComponents = 1 // the pipeline

func TestEveryStackFileLoadsAndRuns(t *testing.T) {
	for name, values := range stackConfigs(t) {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(func(key string) (string, bool) {
				v, ok := values[config.Namespace+":"+key]
				return v, ok
			})
			require.NoError(t, err, "stack %s passes validation", name)
			_, err = runProgram(t, values)
			require.NoError(t, err, "stack %s runs", name)
		})
	}
}

// Pulumi.yaml's defaults are what the CLI hands the program when a stack
// leaves a key out; they must be config.Defaults(), the one place defaults
// live, or dev and prod would differ from what docs/configuration.md says.
func TestPulumiYamlDeclaresEveryKeyWithTheCodeDefaults(t *testing.T) {
	project, err := workspace.LoadProject("Pulumi.yaml")
	require.NoError(t, err)
	defaults, err := json.Marshal(config.Defaults())
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal(defaults, &want))
	for _, key := range config.Keys {
		decl, ok := project.Config[key]
		require.True(t, ok, "Pulumi.yaml declares %s", key)
		assert.NotEmpty(t, decl.Description, "%s has a description", key)
		assert.NotEmpty(t, decl.TypeName(), "%s has a type", key)
		got, err := json.Marshal(decl.Default)
		require.NoError(t, err)
		expected, err := json.Marshal(want[key])
		require.NoError(t, err)
		assert.JSONEq(t, string(expected), string(got), "default of %s", key)
	}
	assert.Len(t, project.Config, len(config.Keys), "no undeclared extras")
}

func tenantList(n int) string {
	tenants := make([]string, n)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("t%d", i)
	}
	b, _ := json.Marshal(tenants)
	return string(b)
}

// BenchmarkRun runs the whole program under mocks at one tenant and at the
// largest allow-list of each match type, and reports the tenant rules it
// registered; the hook builds of the process's first run are excluded.
func BenchmarkRun(b *testing.B) {
	// The first program run in a process builds the hook functions (go build,
	// once per process); keep that out of the per-run figures.
	if _, err := runProgram(b, nil); err != nil {
		b.Fatal(err)
	}
	maxPath := routing.MaxTenants(routing.Match{Type: "path", Pattern: "/app/{tenant}"}, 100)
	maxOther := routing.MaxTenants(routing.Match{Type: "header", Pattern: "{tenant}"}, 100)
	for _, bc := range []struct {
		name string
		cfg  map[string]string
	}{
		{"path/1", map[string]string{"pinnedTenants": tenantList(1)}},
		{fmt.Sprintf("path/%d", maxPath), map[string]string{"pinnedTenants": tenantList(maxPath)}},
		{fmt.Sprintf("header/%d", maxOther), map[string]string{"pinnedTenants": tenantList(maxOther), "tenantMatch": `{"type":"header"}`}},
		{fmt.Sprintf("host/%d", maxOther), map[string]string{"pinnedTenants": tenantList(maxOther), "tenantMatch": `{"type":"host","pattern":"{tenant}.example.com"}`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rules int
			for b.Loop() {
				m, err := runProgram(b, bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				rules = len(m.ofType(ruleType)) - routing.FixedRules
			}
			b.ReportMetric(float64(rules), "tenant-rules")
		})
	}
}
