package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/alb"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/stackconfig"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The repository's own stacks, read from their files as `pulumi up` reads
// them, declare what their config says.
func TestDeclaresTheRepositorysStacks(t *testing.T) {
	names, err := stackconfig.Names(".")
	require.NoError(t, err)
	require.Contains(t, names, "dev")
	require.Contains(t, names, "prod")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			decl, err := declareStack(".", name)
			require.NoError(t, err)
			checkDeclaration(t, decl, loadedConfig(t, ".", name))
		})
	}
}

// Each shape of config the program knows declares what it says: tenant
// matching by header and host, no tenants, the largest allow-list, each
// traffic type, HTTPS, the smoke test.
func TestDeclaresEveryShapeOfConfig(t *testing.T) {
	maxPath := routing.MaxTenants(routing.Match{Type: routing.TypePath, Pattern: "/app/{tenant}"}, 100)
	for _, tc := range []struct {
		name   string
		config map[string]string
	}{
		{"header", map[string]string{"tenantMatch": `{"type":"header","name":"X-Org"}`, "pinnedTenants": `["a","b","c","d"]`}},
		{"host", map[string]string{"tenantMatch": `{"type":"host","pattern":"{tenant}.example.com"}`, "pinnedTenants": `["a","b","c"]`}},
		{"no-tenants", map[string]string{"pinnedTenants": `[]`}},
		{"many-tenants", map[string]string{"pinnedTenants": tenantList(maxPath)}},
		{"linear", map[string]string{"traffic": `{"type":"linear","percentage":20,"intervalMinutes":3,"terminationWaitMinutes":7}`}},
		{"all-at-once", map[string]string{"traffic": `{"type":"all-at-once"}`}},
		{"no-approval", map[string]string{"approval": `{"required":false}`}},
		{"approval-timeout", map[string]string{"approval": `{"required":true,"timeoutMinutes":90,"onReject":"hold"}`}},
		{"https", map[string]string{"certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab", "pinnedTenants": `["a"]`}},
		{"smoke", map[string]string{"smokeTest": `{"enabled":true,"tenant":"acme"}`, "network": `{"nat":"single"}`, "pinnedTenants": `["acme"]`}},
		{"region", map[string]string{"aws:region": "us-east-2", "service": `{"port":9000,"healthCheckPath":"/ready","latestCount":3,"stableCount":1}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := projectWith(t, "case", tc.config)
			decl, err := declareStack(dir, "case")
			require.NoError(t, err)
			checkDeclaration(t, decl, loadedConfig(t, dir, "case"))
			if region, ok := tc.config["aws:region"]; ok {
				assert.Equal(t, region, decl.Region)
			}
		})
	}
}

// Bad config fails before the program runs, with check's messages: one
// line per problem naming key, value and what is allowed, exit code 10,
// and nothing on stdout.
func TestDeclareFailsCleanlyOnBadConfig(t *testing.T) {
	dir := projectWith(t, "bad", map[string]string{
		"pinnedTenants": `["ok", "no/slash"]`, "traffic": `{"percentage": 150}`, "pinnedTenant": `["typo"]`,
	})
	_, err := declareStack(dir, "bad")
	require.Error(t, err)
	for _, key := range []string{"Pulumi.bad.yaml: INVALID, 3 problem(s); nothing declared", "pinnedTenants[1]", "traffic.percentage", "pinnedTenant = (set)"} {
		assert.Contains(t, err.Error(), key)
	}

	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitDeclareInvalid, declareMain([]string{"--stack", "bad"}, &stdout, &stderr))
	assert.Empty(t, stdout.String(), "nothing written")
	assert.Contains(t, stderr.String(), "traffic.percentage")

	stdout.Reset()
	stderr.Reset()
	assert.Equal(t, exitDeclareStack, declareMain([]string{"--stack", "nope"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "no Pulumi.nope.yaml in .; stacks with a file: bad")
	assert.Empty(t, stdout.String())

	assert.Equal(t, exitDeclareUsage, declareMain(nil, &stdout, &stderr), "--stack is required")
	assert.Equal(t, exitDeclareStack, declareMain([]string{"--stack", "bad", "--dir", filepath.Join(dir, "missing")}, &stdout, &stderr))
	assert.Empty(t, stdout.String())
}

// The declaration is written as JSON and read back unchanged, and the same
// stack always gives the same bytes.
func TestDeclarationRoundTripsThroughJSON(t *testing.T) {
	var outs [2][]byte
	for i := range outs {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, declareMain([]string{"--stack", "dev"}, &stdout, &stderr), stderr.String())
		outs[i] = stdout.Bytes()
	}
	assert.Equal(t, string(outs[0]), string(outs[1]), "stable output")
	var back declared.Stack
	d := json.NewDecoder(bytes.NewReader(outs[0]))
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&back))
	again, err := json.MarshalIndent(&back, "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(outs[0]), string(again)+"\n")
	direct, err := declareStack(".", "dev")
	require.NoError(t, err)
	assert.Equal(t, *direct, back)
}

// projectWith is a project directory holding the repository's Pulumi.yaml
// and a Pulumi.<stack>.yaml setting cfg (keys without a namespace are the
// project's).
func projectWith(t *testing.T, stack string, cfg map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	project, err := os.ReadFile("Pulumi.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), project, 0o644))
	var b strings.Builder
	b.WriteString("config:\n")
	if _, ok := cfg["aws:region"]; !ok {
		b.WriteString("  aws:region: eu-west-1\n")
	}
	for k, v := range cfg {
		if !strings.Contains(k, ":") {
			k = config.Namespace + ":" + k
		}
		fmt.Fprintf(&b, "  %s: %s\n", k, v) // JSON is YAML
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi."+stack+".yaml"), []byte(b.String()), 0o644))
	return dir
}

func loadedConfig(t *testing.T, dir, stack string) config.Config {
	t.Helper()
	s, err := stackconfig.Load(dir, stack)
	require.NoError(t, err)
	cfg, err := config.Load(s.Lookup(config.Namespace))
	require.NoError(t, err)
	return cfg
}

// checkDeclaration checks decl against the config it was declared from and
// against the readers it exists for: the local ALB, the CloudWatch model,
// the hooks' environment parsers and the outputs contract.
func checkDeclaration(t *testing.T, decl *declared.Stack, cfg config.Config) {
	t.Helper()
	o := decl.Outputs
	assert.Equal(t, MockAccount, decl.Account)
	assert.Contains(t, o.ListenerArn, ":"+decl.Region+":"+MockAccount+":", "ARNs in the stack's region and the mock's account")
	assert.Contains(t, decl.Function(contract.HookPin).Arn, "arn:aws:lambda:"+decl.Region+":"+MockAccount+":function:")

	// Listener rules: the routing plan, in priority order, then the default.
	prod := decl.Production()
	require.NotNil(t, prod)
	assert.Equal(t, o.ListenerArn, aws.ToString(prod.Listener.ListenerArn))
	tenantPlan, err := routing.PlanTenantRules(cfg.PinnedTenants, cfg.TenantMatch, cfg.AlbRuleQuota)
	require.NoError(t, err)
	want := []routing.Condition{routing.CatchAllCondition(), routing.AnchorCondition(decl.Project, decl.Stack)}
	priorities := []string{strconv.Itoa(routing.CatchAllPriorityUnpinned), strconv.Itoa(routing.AnchorPriority)}
	roles := []declared.RuleRole{declared.RuleCatchAll, declared.RuleAnchor}
	tenants := [][]string{nil, nil}
	for _, r := range tenantPlan {
		want = append(want, r.Condition)
		priorities = append(priorities, strconv.Itoa(r.Priority))
		roles = append(roles, declared.RuleTenant)
		tenants = append(tenants, r.Tenants)
	}
	require.Len(t, prod.Rules, len(want)+1, "the plan's rules and the default rule")
	tenantArns := []string{}
	for i, w := range want {
		r := prod.Rules[i]
		assert.Equal(t, roles[i], r.Role, "rule %d", i)
		assert.Equal(t, priorities[i], aws.ToString(r.Rule.Priority), "rule %d", i)
		assert.Equal(t, tenants[i], r.Tenants, "rule %d", i)
		require.Len(t, r.Rule.Conditions, 1)
		c := r.Rule.Conditions[0]
		assert.Equal(t, w.Field, aws.ToString(c.Field), "rule %d", i)
		assert.Equal(t, w.Values, declared.ConditionValues(c), "rule %d", i)
		if w.Field == routing.FieldHTTPHeader {
			assert.Equal(t, w.HeaderName, aws.ToString(c.HttpHeaderConfig.HttpHeaderName))
		}
		if r.Role == declared.RuleTenant {
			tenantArns = append(tenantArns, aws.ToString(r.Rule.RuleArn))
		}
	}
	assert.Equal(t, o.CatchAllRuleArn, aws.ToString(prod.Rules[0].Rule.RuleArn))
	assert.Equal(t, o.AnchorRuleArn, aws.ToString(prod.Rules[1].Rule.RuleArn))
	assert.Equal(t, o.TenantRuleArns, tenantArns)
	def := prod.Rules[len(prod.Rules)-1]
	assert.Equal(t, declared.RuleDefault, def.Role)
	assert.True(t, aws.ToBool(def.Rule.IsDefault))
	// Forwards: latest's pair on the default and the catch-all, stable's
	// on the anchor and every tenant rule, each starting on its first group.
	pair := func(svc string) map[string]int32 {
		return map[string]int32{o.TargetGroups[svc][0].Arn: 100, o.TargetGroups[svc][1].Arn: 0}
	}
	for i, r := range prod.Rules {
		svc := declared.RoleStable
		if r.Role == declared.RuleDefault || r.Role == declared.RuleCatchAll {
			svc = declared.RoleLatest
		}
		require.Len(t, r.Rule.Actions, 1)
		got := map[string]int32{}
		for _, g := range r.Rule.Actions[0].ForwardConfig.TargetGroups {
			got[aws.ToString(g.TargetGroupArn)] = aws.ToInt32(g.Weight)
		}
		assert.Equal(t, pair(svc), got, "rule %d (%s) forwards to %s's pair", i, r.Role, svc)
	}
	// The local ALB evaluates these rules as they are.
	var rules []elbtypes.Rule
	for _, r := range prod.Rules {
		rules = append(rules, r.Rule)
	}
	assert.NoError(t, alb.ValidateRules(rules))

	// Listeners: production on 80 or 443, the redirect with a
	// certificate, the test listeners with the smoke test.
	wantRoles := []declared.ListenerRole{declared.ListenerProduction}
	if cfg.CertificateArn != "" {
		assert.Equal(t, int32(443), aws.ToInt32(prod.Listener.Port))
		assert.Equal(t, elbtypes.ProtocolEnumHttps, prod.Listener.Protocol)
		require.Len(t, prod.Listener.Certificates, 1)
		assert.Equal(t, cfg.CertificateArn, aws.ToString(prod.Listener.Certificates[0].CertificateArn))
		wantRoles = append(wantRoles, declared.ListenerRedirect)
	} else {
		assert.Equal(t, int32(80), aws.ToInt32(prod.Listener.Port))
	}
	if cfg.SmokeTest.Enabled {
		wantRoles = append(wantRoles, declared.ListenerTestLatest, declared.ListenerTestStable)
	}
	var gotRoles []declared.ListenerRole
	for _, l := range decl.LoadBalancer.Listeners {
		gotRoles = append(gotRoles, l.Role)
		if l.Role == declared.ListenerRedirect {
			assert.Equal(t, int32(80), aws.ToInt32(l.Listener.Port))
			assert.Equal(t, "HTTPS", aws.ToString(l.Listener.DefaultActions[0].RedirectConfig.Protocol))
		}
	}
	assert.Equal(t, wantRoles, gotRoles)

	// Target groups: the configured health check and drain.
	require.Len(t, decl.TargetGroups, 4)
	for _, tg := range decl.TargetGroups {
		g := tg.TargetGroup
		assert.Equal(t, o.TargetGroups[tg.Service][tg.PairIndex].Arn, aws.ToString(g.TargetGroupArn))
		assert.Equal(t, cfg.Service.HealthCheckPath, aws.ToString(g.HealthCheckPath))
		assert.Equal(t, int32(cfg.Service.Port), aws.ToInt32(g.Port))
		assert.Equal(t, cfg.Service.DeregistrationDelaySeconds, tg.DeregistrationDelaySeconds)
		assert.Equal(t, "200", aws.ToString(g.Matcher.HttpCode))
		assert.Positive(t, aws.ToInt32(g.HealthCheckIntervalSeconds))
		assert.GreaterOrEqual(t, aws.ToInt32(g.HealthyThresholdCount), int32(2))
		assert.True(t, strings.HasPrefix(tg.ArnSuffix, "targetgroup/"))
	}

	// ECS: the services, the container, its environment, the placeholder.
	require.Len(t, decl.ECS.Services, 2)
	assert.Equal(t, o.ClusterName, decl.ECS.ClusterName)
	for i, svc := range []struct {
		role, name string
		count      int32
	}{{declared.RoleLatest, o.LatestServiceName, int32(cfg.Service.LatestCount)}, {declared.RoleStable, o.StableServiceName, 0}} {
		s := decl.ECS.Services[i]
		assert.Equal(t, svc.role, s.Role)
		assert.Equal(t, svc.name, aws.ToString(s.Service.ServiceName))
		assert.Equal(t, svc.count, s.Service.DesiredCount, "%s's desired count", svc.role)
		require.Len(t, s.Service.LoadBalancers, 1)
		assert.Equal(t, cfg.Service.ContainerName, aws.ToString(s.Service.LoadBalancers[0].ContainerName))
		assert.Equal(t, int32(cfg.Service.Port), aws.ToInt32(s.Service.LoadBalancers[0].ContainerPort))
		assert.Equal(t, o.TargetGroups[svc.role][0].Arn, aws.ToString(s.Service.LoadBalancers[0].TargetGroupArn))
		assert.Equal(t, aws.ToString(decl.ECS.PlaceholderTaskDefinition.TaskDefinitionArn), aws.ToString(s.Service.TaskDefinition))
	}
	require.Len(t, decl.ECS.PlaceholderTaskDefinition.ContainerDefinitions, 1)
	assert.Equal(t, cfg.Service.PlaceholderImage, aws.ToString(decl.ECS.PlaceholderTaskDefinition.ContainerDefinitions[0].Image))
	require.Len(t, decl.ECS.DeployTaskDefinition.ContainerDefinitions, 1)
	deployed := decl.ECS.DeployTaskDefinition.ContainerDefinitions[0]
	assert.Equal(t, cfg.Service.ContainerName, aws.ToString(deployed.Name))
	env := map[string]string{}
	for _, kv := range deployed.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	wantEnv := containerEnvironment(cfg.TenantMatch, cfg.Service.HealthCheckPath)
	wantEnv["PORT"] = strconv.Itoa(cfg.Service.Port)
	assert.Equal(t, wantEnv, env, "the deployed container's environment")

	// CodeDeploy: the traffic config, termination wait, rollback, alarms.
	dc := decl.CodeDeploy.DeploymentConfig.TrafficRoutingConfig
	require.NotNil(t, dc)
	switch cfg.Traffic.Type {
	case config.TrafficCanary:
		assert.Equal(t, &cdtypes.TimeBasedCanary{CanaryPercentage: int32(cfg.Traffic.Percentage), CanaryInterval: int32(cfg.Traffic.IntervalMinutes)}, dc.TimeBasedCanary)
	case config.TrafficLinear:
		assert.Equal(t, &cdtypes.TimeBasedLinear{LinearPercentage: int32(cfg.Traffic.Percentage), LinearInterval: int32(cfg.Traffic.IntervalMinutes)}, dc.TimeBasedLinear)
	case config.TrafficAllAtOnce:
		assert.Equal(t, cdtypes.TrafficRoutingTypeAllAtOnce, dc.Type)
		assert.Equal(t, declared.PredefinedAllAtOnce, aws.ToString(decl.CodeDeploy.DeploymentConfig.DeploymentConfigName))
	}
	require.Len(t, decl.CodeDeploy.Groups, 2)
	assert.Equal(t, o.ApplicationName, decl.CodeDeploy.ApplicationName)
	signals := plan.RollbackAlarms(cfg.Rollback)
	for i, name := range []string{o.LatestDeploymentGroupName, o.StableDeploymentGroupName} {
		g := decl.CodeDeploy.Groups[i].Group
		assert.Equal(t, name, aws.ToString(g.DeploymentGroupName))
		assert.Equal(t, aws.ToString(decl.CodeDeploy.DeploymentConfig.DeploymentConfigName), aws.ToString(g.DeploymentConfigName))
		assert.Equal(t, int32(cfg.Traffic.TerminationWaitMinutes), g.BlueGreenDeploymentConfiguration.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes)
		assert.True(t, g.AutoRollbackConfiguration.Enabled)
		assert.ElementsMatch(t, []cdtypes.AutoRollbackEvent{cdtypes.AutoRollbackEventDeploymentFailure, cdtypes.AutoRollbackEventDeploymentStopOnAlarm}, g.AutoRollbackConfiguration.Events)
		assert.True(t, g.AlarmConfiguration.Enabled)
		assert.Len(t, g.AlarmConfiguration.Alarms, 2*len(signals), "every signal of both groups of the pair")
	}
	// Alarms: the resources' inputs are plan.RollbackAlarms' definitions
	// (the description names the target group by name, not suffix), and
	// the CloudWatch model compiles each.
	suffix := map[string]string{}
	tgName := map[string]string{}
	for _, tg := range decl.TargetGroups {
		suffix[aws.ToString(tg.TargetGroup.TargetGroupArn)] = tg.ArnSuffix
		tgName[aws.ToString(tg.TargetGroup.TargetGroupArn)] = aws.ToString(tg.TargetGroup.TargetGroupName)
	}
	perGroup := map[string]int{}
	for _, a := range decl.Alarms {
		i := perGroup[a.TargetGroupArn]
		perGroup[a.TargetGroupArn]++
		require.Less(t, i, len(signals), "more alarms than signals on %s", a.TargetGroupArn)
		name := aws.ToString(a.Definition.AlarmName)
		wantDef := *signals[i].Definition(name, decl.LoadBalancer.ArnSuffix, suffix[a.TargetGroupArn])
		gotDef := a.Definition
		assert.Equal(t, signals[i].Description(tgName[a.TargetGroupArn]), aws.ToString(gotDef.AlarmDescription))
		wantDef.AlarmDescription, gotDef.AlarmDescription = nil, nil
		assert.Equal(t, wantDef, gotDef, "alarm %s", name)
		_, err := cloudwatch.Compile(&a.Definition)
		assert.NoError(t, err, "alarm %s compiles in the CloudWatch model", name)
	}
	assert.Len(t, perGroup, 4, "every target group has its alarms")

	// Pipeline: stages, approval and its timeout, execution mode, bundle.
	d := decl.Pipeline.Declaration
	assert.Equal(t, o.PipelineName, aws.ToString(d.Name))
	assert.Equal(t, "SUPERSEDED", string(d.ExecutionMode))
	var stages []string
	for _, s := range d.Stages {
		stages = append(stages, aws.ToString(s.Name))
	}
	wantStages := []string{"Source", "Latest", "Stable"}
	if cfg.Approval.Required {
		wantStages = []string{"Source", "Latest", contract.StageApprove, "Stable"}
	}
	assert.Equal(t, wantStages, stages)
	approval := decl.Pipeline.Approval()
	assert.Equal(t, cfg.Approval.Required, approval != nil)
	if approval != nil {
		if cfg.Approval.TimeoutMinutes > 0 {
			assert.Equal(t, int32(cfg.Approval.TimeoutMinutes), aws.ToInt32(approval.TimeoutInMinutes))
		} else {
			assert.Nil(t, approval.TimeoutInMinutes)
		}
		assert.NotEmpty(t, o.ApprovalTopicArn)
	} else {
		assert.Empty(t, o.ApprovalTopicArn)
	}
	assert.Contains(t, decl.Pipeline.Bundle, "appspec-latest.yaml")

	// Functions: each hook's environment passes the hook's own parser and
	// names what the declaration names.
	assert.Len(t, decl.Functions, len(o.HookFunctionNames))
	for _, h := range contract.Hooks {
		f := decl.Function(h)
		require.NotNil(t, f, "hook %s", h)
		assert.Equal(t, o.HookFunctionNames[string(h)], f.Name)
		rc, err := rollout.ConfigFromEnv(lookupIn(f.Environment), h)
		require.NoError(t, err, "hook %s", h)
		assert.Equal(t, o.ListenerArn, rc.ListenerARN)
		assert.Equal(t, o.CatchAllRuleArn, rc.CatchAllRuleARN)
		assert.Equal(t, o.AnchorRuleArn, rc.AnchorRuleARN)
		assert.Equal(t, [2]string{o.TargetGroups["stable"][0].Arn, o.TargetGroups["stable"][1].Arn}, rc.StableTargetGroupARNs)
		assert.Equal(t, o.ClusterName, rc.ClusterName)
		assert.Equal(t, o.StableServiceName, rc.StableServiceName)
		assert.Equal(t, o.LatestServiceName, rc.LatestServiceName)
		assert.Equal(t, o.LatestDeploymentGroupName, rc.LatestDeploymentGroupName)
		assert.Equal(t, o.StableDeploymentGroupName, rc.StableDeploymentGroupName)
		assert.Equal(t, o.ApplicationName, rc.CodeDeployApplicationName)
		assert.Equal(t, o.PipelineName, rc.PipelineName)
		assert.Equal(t, int32(cfg.Service.StableCount), rc.StableDesiredCount)
		if h == contract.HookRollback {
			assert.Equal(t, cfg.Approval.OnReject, rc.OnReject)
		}
	}
	if f := decl.Function(contract.HookSmoke); cfg.SmokeTest.Enabled {
		require.NotNil(t, f)
		sc, err := rollout.SmokeConfigFromEnv(lookupIn(f.Environment))
		require.NoError(t, err)
		ports := map[declared.ListenerRole]string{}
		for _, l := range decl.LoadBalancer.Listeners {
			ports[l.Role] = strconv.Itoa(int(aws.ToInt32(l.Listener.Port)))
		}
		for group, role := range map[string]declared.ListenerRole{o.LatestDeploymentGroupName: declared.ListenerTestLatest, o.StableDeploymentGroupName: declared.ListenerTestStable} {
			u, err := url.Parse(sc.Targets[group])
			require.NoError(t, err)
			assert.Equal(t, decl.LoadBalancer.DNSName, u.Hostname())
			assert.Equal(t, ports[role], u.Port(), "%s's smoke target is its test listener", group)
		}
	} else {
		assert.Nil(t, f)
	}

	// EventBridge: a push starts the pipeline; a deployment's end and a
	// pipeline execution that failed, was canceled or stopped run cleanup;
	// a failed approval runs rollback.
	targets := map[string][]string{}
	for _, r := range decl.EventRules {
		require.Len(t, r.Targets, 1, r.Name)
		tgt := r.Targets[0]
		targets[tgt.Function+tgt.Pipeline] = append(targets[tgt.Function+tgt.Pipeline], r.EventPattern)
	}
	require.Len(t, targets[o.PipelineName], 1)
	assert.Contains(t, targets[o.PipelineName][0], `"ECR Image Action"`)
	cleanup := strings.Join(targets[o.HookFunctionNames["cleanup"]], "\n")
	assert.Len(t, targets[o.HookFunctionNames["cleanup"]], 2, "cleanup's rules")
	assert.Contains(t, cleanup, o.LatestDeploymentGroupName)
	assert.Contains(t, cleanup, `"CodePipeline Pipeline Execution State Change"`)
	if cfg.Approval.Required {
		assert.Len(t, targets[o.HookFunctionNames["rollback"]], 1)
	} else {
		assert.NotContains(t, targets, o.HookFunctionNames["rollback"], "no approval, nothing to reject")
	}
	n := 0
	for _, ps := range targets {
		n += len(ps)
	}
	assert.Equal(t, n, len(decl.EventRules))
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}
