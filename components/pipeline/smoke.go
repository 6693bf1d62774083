package pipeline

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// The smoke test's listeners, one per deployment group: CodeDeploy points a
// group's test listener at the replacement target group before
// AfterAllowTestTraffic (CodeDeploy user guide, "Step 1: Create a test
// listener": a test listener may start on either group of the pair), and
// the two groups' pairs differ, so they cannot share one. Plain HTTP: the
// certificate (certificateArn) names your domain, not the load balancer's
// DNS name the hook connects to. Neither port is 443, the only port the
// tasks' security group lets them open, so the tasks cannot reach them
// either.
var smokeListenerPorts = map[serviceRole]int{roleLatest: 9080, roleStable: 9081}

const (
	smokePortFrom = 9080
	smokePortTo   = 9081
	// SmokeTimeoutSeconds is the smoke hook's Lambda timeout: the longest
	// smoke test config allows (config.MaxSmokeTotalSeconds) plus the
	// deployment lookup, the report and the hooks' 20 s safety margin.
	SmokeTimeoutSeconds = config.MaxSmokeTotalSeconds + 60
)

// smokeFunctionName is the smoke hook's function name, "" when the smoke
// test is off (the AppSpecs then name no AfterAllowTestTraffic hook).
func (b *builder) smokeFunctionName() string {
	if !b.args.SmokeTest.Enabled {
		return ""
	}
	// The physical name, known before the function exists: the bundle is
	// rendered once, before the hooks are created.
	return b.hookName(HookSmoke)
}

// smokeTest creates, when smokeTest.enabled, the test listeners, the
// security group rules that admit only the NAT gateways' addresses to them,
// and the smoke hook function in the VPC.
//
// Reachability. The load balancer is internet-facing: its DNS name resolves
// to public addresses, also inside the VPC, so the hook's requests leave
// through the NAT gateway and arrive from the NAT gateway's Elastic IP; a
// security group rule naming the hook's own security group would never
// match them. The test listeners' ingress rules therefore name the NAT
// gateways' public addresses (/32) and nothing else: from the internet,
// nobody but a client behind this VPC's NAT reaches them, and inside the
// VPC only the hook's security group allows traffic to their ports. A
// Lambda function in a VPC reaches the internet, and CodeDeploy's API, only
// through a NAT gateway: its network interfaces never get public addresses
// (Lambda developer guide, "Enable internet access for VPC-connected Lambda
// functions"); config validation rejects smokeTest with network.nat none.
// Cheaper than the alternatives: an internal load balancer cannot forward
// to the same target groups (a target group belongs to one load balancer),
// and interface endpoints would still leave the public listener unreachable.
func (b *builder) smokeTest() error {
	a := b.args
	if !a.SmokeTest.Enabled {
		return nil
	}
	b.testListeners = map[serviceRole]*lb.Listener{}
	// Each test listener starts where its group's production traffic goes
	// now, read live from the rule CodeDeploy shifts for that group (the
	// catch-all for latest, the anchor for stable), as the tenant rules
	// copy the anchor: after an odd number of deployments production is
	// on the pair's second group, and a listener created then (smokeTest
	// enabled on an existing stack) on the first would send its traffic to
	// the idle group, which has no targets, until the next deployment
	// reroutes it. CodeDeploy accepts either start (see smokeListenerPorts);
	// starting where production is keeps the listener serving what
	// production serves between deployments.
	for _, svc := range []struct {
		role serviceRole
		rule pulumi.StringInput
	}{{roleLatest, a.CatchAllRuleArn}, {roleStable, a.AnchorRuleArn}} {
		l, err := lb.NewListener(b.ctx, b.child(string(svc.role)+"-test-listener"), &lb.ListenerArgs{
			LoadBalancerArn: a.AlbArn,
			Port:            pulumi.Int(smokeListenerPorts[svc.role]),
			Protocol:        pulumi.String("HTTP"),
			DefaultActions:  liveDefaultActions(b.ctx, svc.rule, string(svc.role)),
			// CodeDeploy rewrites the default action in every deployment.
		}, b.parent, pulumi.IgnoreChanges([]string{"defaultActions"}))
		if err != nil {
			return fmt.Errorf("create %s test listener: %w", svc.role, err)
		}
		b.testListeners[svc.role] = l
	}
	for i, ip := range a.NatPublicIps {
		if _, err := vpc.NewSecurityGroupIngressRule(b.ctx, b.child(fmt.Sprintf("test-listeners-from-nat-%d", i)), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: a.AlbSecurityGroupId,
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(smokePortFrom),
			ToPort:          pulumi.Int(smokePortTo),
			CidrIpv4:        pulumi.Sprintf("%s/32", ip),
			Description:     pulumi.String("smoke test listeners: only from this VPC's NAT gateway"),
		}, b.parent); err != nil {
			return fmt.Errorf("admit NAT gateway %d to the test listeners: %w", i, err)
		}
	}

	sg, err := ec2.NewSecurityGroup(b.ctx, b.child("smoke"), &ec2.SecurityGroupArgs{
		VpcId:       a.VpcId,
		Description: pulumi.String("tenant-canary smoke hook: out to the test listeners and AWS APIs only"),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create smoke hook security group: %w", err)
	}
	for _, out := range []struct {
		name     string
		from, to int
		desc     string
	}{
		{"test-listeners", smokePortFrom, smokePortTo, "to the load balancer's test listeners (its public addresses, through NAT)"},
		{"https", 443, 443, "HTTPS to the CodeDeploy API (through NAT)"},
	} {
		if _, err := vpc.NewSecurityGroupEgressRule(b.ctx, b.child("smoke-out-"+out.name), &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: sg.ID(), CidrIpv4: pulumi.String("0.0.0.0/0"), IpProtocol: pulumi.String("tcp"),
			FromPort: pulumi.Int(out.from), ToPort: pulumi.Int(out.to), Description: pulumi.String(out.desc),
		}, b.parent); err != nil {
			return fmt.Errorf("create smoke hook egress rule %s: %w", out.name, err)
		}
	}
	return b.smokeFunction(sg)
}

// smokeFunction builds and deploys the smoke hook in the task subnets with
// its role and policy; the policy exists before the function, since Lambda
// creates the function's network interfaces with it.
func (b *builder) smokeFunction(sg *ec2.SecurityGroup) error {
	a := b.args
	parts, err := b.newHookParts(HookSmoke)
	if err != nil {
		return err
	}
	logGroupName := parts.logGroupName
	appName := b.physical(100, "app")
	groups := []string{b.groupNames[roleLatest], b.groupNames[roleStable]}
	doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
		subnets := v[1].([]string)
		d, err := plan.SmokeHookRole{
			Stack:               st,
			DeploymentGroupArns: []string{st.DeploymentGroupArn(appName, groups[0]), st.DeploymentGroupArn(appName, groups[1])},
			LogGroupName:        logGroupName, SubnetIDs: subnets, SecurityGroupID: v[0].(string),
		}.Policy()
		return d.JSON(), err
	}, sg.ID().ToStringOutput(), a.TaskSubnetIds)
	policy, err := b.rolePolicy(HookSmoke+"-hook", parts.role, doc)
	if err != nil {
		return err
	}

	checks, err := json.Marshal(plan.SmokeChecks(a.SmokeTest, a.SmokeTest.Paths, a.TenantMatch))
	if err != nil {
		return fmt.Errorf("smoke checks: %w", err)
	}
	// The hook reads its deployment's group and tests that group's
	// listener; it depends on the listeners, so it never runs before they
	// exist.
	targets := pulumi.All(a.AlbDnsName, b.testListeners[roleLatest].Arn, b.testListeners[roleStable].Arn).ApplyT(func(v []interface{}) (string, error) {
		t, err := json.Marshal(map[string]string{
			groups[0]: fmt.Sprintf("http://%s:%d", v[0], smokeListenerPorts[roleLatest]),
			groups[1]: fmt.Sprintf("http://%s:%d", v[0], smokeListenerPorts[roleStable]),
		})
		return string(t), err
	}).(pulumi.StringOutput)

	args := parts.functionArgs(SmokeTimeoutSeconds, pulumi.StringMap{
		contract.EnvSmokeTargets: targets,
		contract.EnvSmokeChecks:  pulumi.String(string(checks)),
	}, "tenant-canary smoke hook: checks the replacement task set through the test listener")
	args.VpcConfig = &lambda.FunctionVpcConfigArgs{
		SubnetIds:        a.TaskSubnetIds,
		SecurityGroupIds: pulumi.StringArray{sg.ID()},
	}
	fn, err := lambda.NewFunction(b.ctx, b.child(HookSmoke+"-hook"), args, b.parent, pulumi.DependsOn([]pulumi.Resource{parts.logGroup, policy}))
	if err != nil {
		return fmt.Errorf("create smoke hook function: %w", err)
	}
	// Like pin and unpin: it has reported before it returns an error, and
	// a retried invocation would report a second time.
	if _, err := lambda.NewFunctionEventInvokeConfig(b.ctx, b.child(HookSmoke+"-hook-invoke"), &lambda.FunctionEventInvokeConfigArgs{
		FunctionName: fn.Name, MaximumRetryAttempts: pulumi.Int(0),
	}, b.parent); err != nil {
		return fmt.Errorf("configure smoke hook async invocation: %w", err)
	}
	b.hooks[HookSmoke] = &hook{name: parts.name, fn: fn, role: parts.role, logGroup: parts.logGroupName}
	return nil
}

// liveDefaultActions is the forward action rule has in AWS now, with its
// target groups and weights, as a listener default action.
func liveDefaultActions(ctx *pulumi.Context, rule pulumi.StringInput, role string) lb.ListenerDefaultActionArrayOutput {
	live := lb.LookupListenerRuleOutput(ctx, lb.LookupListenerRuleOutputArgs{Arn: rule.ToStringOutput()})
	return live.Actions().ApplyT(func(actions []lb.GetListenerRuleAction) ([]lb.ListenerDefaultAction, error) {
		for _, a := range actions {
			if a.Type != "forward" || a.Forward == nil || len(a.Forward.TargetGroups) == 0 {
				continue
			}
			var groups []lb.ListenerDefaultActionForwardTargetGroup
			for _, g := range a.Forward.TargetGroups {
				weight := g.Weight
				groups = append(groups, lb.ListenerDefaultActionForwardTargetGroup{Arn: g.Arn, Weight: &weight})
			}
			return []lb.ListenerDefaultAction{{Type: "forward", Forward: &lb.ListenerDefaultActionForward{TargetGroups: groups}}}, nil
		}
		return nil, fmt.Errorf("the rule that carries %s's production traffic has no forward action for its test listener to copy", role)
	}).(lb.ListenerDefaultActionArrayOutput)
}
