// Package service is the ECS/ALB half of tenant-canary: the cluster, the
// two Fargate services `latest` and `stable` under the CODE_DEPLOY
// controller, their blue/green target groups, and the ALB whose listener
// rules keep pinned tenants on `stable` (docs/design.md §3–§4).
package service

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/routing"
)

// Args is the narrowest input the service needs.
type Args struct {
	// VpcId, PublicSubnetIds and TaskSubnetIds come from the network.
	VpcId           pulumi.StringInput
	PublicSubnetIds pulumi.StringArrayInput
	TaskSubnetIds   pulumi.StringArrayInput
	// AssignPublicIP puts a public IP on tasks in public subnets (nat: none).
	AssignPublicIP bool
	// Service sizes the tasks.
	Service config.Service
	// TenantRules is the routing plan for the pinned tenants.
	TenantRules []routing.TenantRule
	// CertificateArn turns on HTTPS :443 with an HTTP→HTTPS redirect.
	CertificateArn string
	// TaskFamily names the task definition family both services use.
	TaskFamily string
}

// TargetGroup is one target group of a blue/green pair.
type TargetGroup struct {
	Name      pulumi.StringOutput `pulumi:"name"`
	Arn       pulumi.StringOutput `pulumi:"arn"`
	ArnSuffix pulumi.StringOutput `pulumi:"arnSuffix"`
}

// Service is the running half of the system that the pipeline deploys to.
type Service struct {
	pulumi.ResourceState

	ClusterName       pulumi.StringOutput `pulumi:"clusterName"`
	ClusterArn        pulumi.StringOutput `pulumi:"clusterArn"`
	LatestServiceName pulumi.StringOutput `pulumi:"latestServiceName"`
	StableServiceName pulumi.StringOutput `pulumi:"stableServiceName"`
	// LatestTargetGroups and StableTargetGroups are each service's
	// blue/green pair; [0] is the group the service starts on.
	LatestTargetGroups [2]TargetGroup
	StableTargetGroups [2]TargetGroup
	// ListenerArn is the production listener: HTTPS :443 when a certificate
	// is set, else HTTP :80. CodeDeploy shifts traffic on it.
	ListenerArn           pulumi.StringOutput `pulumi:"listenerArn"`
	LoadBalancerArnSuffix pulumi.StringOutput `pulumi:"loadBalancerArnSuffix"`
	AlbDnsName            pulumi.StringOutput `pulumi:"albDnsName"`
	AlbURL                pulumi.StringOutput `pulumi:"albUrl"`
	// CatchAllRuleArn is the only rule the hooks ever move.
	CatchAllRuleArn pulumi.StringOutput `pulumi:"catchAllRuleArn"`
	// AnchorRuleArn is stable's permanent rule: it matches no real request
	// and keeps both of stable's target groups on the production listener;
	// new tenant rules copy its live action.
	AnchorRuleArn  pulumi.StringOutput      `pulumi:"anchorRuleArn"`
	TenantRuleArns pulumi.StringArrayOutput `pulumi:"tenantRuleArns"`

	// AlbArn and AlbSecurityGroupId let the pipeline add the smoke test's
	// listeners and the rules that admit only the smoke hook to them.
	AlbArn             pulumi.StringOutput `pulumi:"albArn"`
	AlbSecurityGroupId pulumi.StringOutput `pulumi:"albSecurityGroupId"`

	TaskExecutionRoleArn  pulumi.StringOutput `pulumi:"taskExecutionRoleArn"`
	TaskExecutionRoleName pulumi.StringOutput `pulumi:"taskExecutionRoleName"`
	TaskRoleArn           pulumi.StringOutput `pulumi:"taskRoleArn"`
	LogGroupName          pulumi.StringOutput `pulumi:"logGroupName"`
}

// Ports of the load balancer.
const (
	httpPort  = 80
	httpsPort = 443
	// tlsPolicy is ELB's TLS 1.3/1.2 policy recommended for new listeners.
	tlsPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
)

// Initial forward weights of a blue/green pair: everything to the group the
// service starts on, nothing to the other. Naming both groups attaches both
// to the production listener (ECS refuses a service or task set on a target
// group no listener forwards to: "The target group ... does not have an
// associated load balancer"); CodeDeploy rewrites these weights when it
// shifts traffic.
const (
	weightActive = 100
	weightIdle   = 0
)

// Ownership (docs/design.md §4): fields CodeDeploy or the hooks change at
// run time. Pulumi must not put them back on the next `pulumi up`.
var (
	// CodeDeploy registers a new task definition and swaps the target group.
	serviceOwnedByCodeDeploy = []string{"taskDefinition", "loadBalancers"}
	// The hooks scale `stable` up for a rollout and back to zero after it.
	stableOwnedByHooks = append(serviceOwnedByCodeDeploy, "desiredCount")
	// CodeDeploy rewrites forward actions (target-group weights) of the
	// listener's default action, the anchor and the tenant rules.
	listenerOwnedByCodeDeploy = []string{"defaultActions"}
	ruleOwnedByCodeDeploy     = []string{"actions"}
	// The hooks move the catch-all rule below the tenant rules and back,
	// and cleanup and rollback tag it while they may move it (their claim,
	// lambda/rollout guards.go).
	catchAllOwnedByHooks = []string{"actions", "priority", "tags", "tagsAll"}
)

// NewService creates the cluster, the ALB with its routing, and both services.
func NewService(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Service, error) {
	s := &Service{}
	if err := ctx.RegisterComponentResource("tenant-canary:service:Service", name, s, opts...); err != nil {
		return nil, fmt.Errorf("register service component: %w", err)
	}
	parent := pulumi.Parent(s)
	svc := args.Service

	cluster, err := ecs.NewCluster(ctx, name, &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	logGroup, err := cloudwatch.NewLogGroup(ctx, name+"-tasks", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(svc.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create task log group: %w", err)
	}
	executionRole, taskRole, err := newTaskRoles(ctx, name, logGroup, parent)
	if err != nil {
		return nil, err
	}

	albSG, taskSG, err := newSecurityGroups(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	alb, err := lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		LoadBalancerType:        pulumi.String("application"),
		Subnets:                 args.PublicSubnetIds,
		SecurityGroups:          pulumi.StringArray{albSG.ID()},
		DropInvalidHeaderFields: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create load balancer: %w", err)
	}

	var latestTGs, stableTGs [2]*lb.TargetGroup
	for i, color := range []string{"blue", "green"} {
		if latestTGs[i], err = newTargetGroup(ctx, name+"-latest-"+color, args, parent); err != nil {
			return nil, err
		}
		if stableTGs[i], err = newTargetGroup(ctx, name+"-stable-"+color, args, parent); err != nil {
			return nil, err
		}
	}

	listener, err := newListeners(ctx, name, args, alb, latestTGs, parent)
	if err != nil {
		return nil, err
	}

	catchAll, err := lb.NewListenerRule(ctx, name+"-catch-all", &lb.ListenerRuleArgs{
		ListenerArn: listener.Arn,
		// Starts above every tenant rule: everyone on `latest` (docs/design.md §4).
		Priority:   pulumi.Int(routing.CatchAllPriorityUnpinned),
		Conditions: lb.ListenerRuleConditionArray{ruleCondition(routing.CatchAllCondition())},
		Actions:    forwardPair(latestTGs),
	}, parent, pulumi.IgnoreChanges(catchAllOwnedByHooks))
	if err != nil {
		return nil, fmt.Errorf("create catch-all rule: %w", err)
	}
	// The anchor: stable's pair on the production listener whatever the
	// allow-list, so ECS accepts the stable service (and CodeDeploy's task
	// sets) on either group, and the rule every tenant rule copies.
	anchor, err := lb.NewListenerRule(ctx, name+"-anchor", &lb.ListenerRuleArgs{
		ListenerArn: listener.Arn,
		Priority:    pulumi.Int(routing.AnchorPriority),
		Conditions:  lb.ListenerRuleConditionArray{ruleCondition(routing.AnchorCondition(ctx.Project(), ctx.Stack()))},
		Actions:     forwardPair(stableTGs),
		Tags:        pulumi.StringMap{"tenant-canary:role": pulumi.String("anchor")},
	}, parent, pulumi.IgnoreChanges(ruleOwnedByCodeDeploy))
	if err != nil {
		return nil, fmt.Errorf("create anchor rule: %w", err)
	}
	tenantRuleArns := pulumi.StringArray{}
	// Every tenant rule forwards where the anchor does *now*: CodeDeploy
	// shifts the anchor with the tenant rules, so after a Stable deployment
	// it names stable's other group, and a rule created then (a tenant added
	// mid-rollout) must follow. Existing rules ignore this input (CodeDeploy
	// owns their actions).
	tenantActions := liveActionsOf(ctx, anchor)
	for _, rule := range args.TenantRules {
		r, err := lb.NewListenerRule(ctx, fmt.Sprintf("%s-tenant-rule-%d", name, rule.Priority), &lb.ListenerRuleArgs{
			ListenerArn: listener.Arn,
			Priority:    pulumi.Int(rule.Priority),
			Conditions:  lb.ListenerRuleConditionArray{ruleCondition(rule.Condition)},
			Actions:     tenantActions,
			Tags:        pulumi.StringMap{"tenant-canary:role": pulumi.String("tenant-rule")},
		}, parent, pulumi.IgnoreChanges(ruleOwnedByCodeDeploy))
		if err != nil {
			return nil, fmt.Errorf("create tenant rule %d: %w", rule.Priority, err)
		}
		tenantRuleArns = append(tenantRuleArns, r.Arn)
	}

	taskDef, err := newPlaceholderTaskDefinition(ctx, name, args, logGroup, executionRole, taskRole, parent)
	if err != nil {
		return nil, err
	}
	// ECS checks at creation that a service's target group is attached to
	// a load balancer, so both services wait for the listener and the rules
	// that attach their pairs: the default action and the catch-all
	// (latest's), the anchor (stable's).
	routed := pulumi.DependsOn([]pulumi.Resource{listener, catchAll, anchor})
	newFargateService := func(role string, tg *lb.TargetGroup, count int, ignore []string) (*ecs.Service, error) {
		return ecs.NewService(ctx, name+"-"+role, &ecs.ServiceArgs{
			Cluster:              cluster.Arn,
			LaunchType:           pulumi.String("FARGATE"),
			DesiredCount:         pulumi.Int(count),
			TaskDefinition:       taskDef.Arn,
			DeploymentController: &ecs.ServiceDeploymentControllerArgs{Type: pulumi.String("CODE_DEPLOY")},
			NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
				Subnets:        args.TaskSubnetIds,
				SecurityGroups: pulumi.StringArray{taskSG.ID()},
				AssignPublicIp: pulumi.Bool(args.AssignPublicIP),
			},
			LoadBalancers: ecs.ServiceLoadBalancerArray{ecs.ServiceLoadBalancerArgs{
				TargetGroupArn: tg.Arn,
				ContainerName:  pulumi.String(svc.ContainerName),
				ContainerPort:  pulumi.Int(svc.Port),
			}},
			HealthCheckGracePeriodSeconds: pulumi.Int(30),
			PropagateTags:                 pulumi.String("SERVICE"),
			EnableEcsManagedTags:          pulumi.Bool(true),
			Tags:                          pulumi.StringMap{"tenant-canary:role": pulumi.String(role)},
		}, parent, routed, pulumi.IgnoreChanges(ignore))
	}
	latest, err := newFargateService("latest", latestTGs[0], svc.LatestCount, serviceOwnedByCodeDeploy)
	if err != nil {
		return nil, fmt.Errorf("create latest service: %w", err)
	}
	// `stable` runs no task in steady state; the pin hook scales it up.
	stable, err := newFargateService("stable", stableTGs[0], 0, stableOwnedByHooks)
	if err != nil {
		return nil, fmt.Errorf("create stable service: %w", err)
	}

	s.ClusterName, s.ClusterArn = cluster.Name, cluster.Arn
	s.LatestServiceName, s.StableServiceName = latest.Name, stable.Name
	for i := range 2 {
		s.LatestTargetGroups[i] = targetGroupOutputs(latestTGs[i])
		s.StableTargetGroups[i] = targetGroupOutputs(stableTGs[i])
	}
	s.ListenerArn = listener.Arn
	s.LoadBalancerArnSuffix = alb.ArnSuffix
	s.AlbDnsName = alb.DnsName
	s.AlbArn = alb.Arn
	s.AlbSecurityGroupId = albSG.ID().ToStringOutput()
	scheme := "http"
	if args.CertificateArn != "" {
		scheme = "https"
	}
	s.AlbURL = pulumi.Sprintf("%s://%s", scheme, alb.DnsName)
	s.CatchAllRuleArn = catchAll.Arn
	s.AnchorRuleArn = anchor.Arn
	s.TenantRuleArns = tenantRuleArns.ToStringArrayOutput()
	s.TaskExecutionRoleArn, s.TaskExecutionRoleName = executionRole.Arn, executionRole.Name
	s.TaskRoleArn = taskRole.Arn
	s.LogGroupName = logGroup.Name

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"clusterName":       s.ClusterName,
		"latestServiceName": s.LatestServiceName,
		"stableServiceName": s.StableServiceName,
		"listenerArn":       s.ListenerArn,
		"albUrl":            s.AlbURL,
		"catchAllRuleArn":   s.CatchAllRuleArn,
		"anchorRuleArn":     s.AnchorRuleArn,
		"tenantRuleArns":    s.TenantRuleArns,
	}); err != nil {
		return nil, fmt.Errorf("register service outputs: %w", err)
	}
	return s, nil
}

func targetGroupOutputs(tg *lb.TargetGroup) TargetGroup {
	return TargetGroup{Name: tg.Name, Arn: tg.Arn, ArnSuffix: tg.ArnSuffix}
}

func newTargetGroup(ctx *pulumi.Context, name string, args *Args, parent pulumi.ResourceOption) (*lb.TargetGroup, error) {
	svc := args.Service
	tg, err := lb.NewTargetGroup(ctx, name, &lb.TargetGroupArgs{
		// Fargate tasks in awsvpc mode register by IP.
		TargetType: pulumi.String("ip"),
		Protocol:   pulumi.String("HTTP"),
		Port:       pulumi.Int(svc.Port),
		VpcId:      args.VpcId,
		// Short drain: a rollout step waits for it on every task set swap.
		DeregistrationDelay: pulumi.Int(svc.DeregistrationDelaySeconds),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Enabled:            pulumi.Bool(true),
			Path:               pulumi.String(svc.HealthCheckPath),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(10),
			Timeout:            pulumi.Int(5),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(3),
		},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create target group %s: %w", name, err)
	}
	return tg, nil
}

// Logical names of the production listener. Before it was one resource
// whose port, protocol and certificate change in place, the program had
// "<name>-http" (no certificate) and "<name>-https" (with one); the aliases
// adopt whichever of the two an existing stack holds, so it is updated,
// never replaced (a replaced listener would get a new ARN and its rules
// would be created anew on the blue target groups, whatever CodeDeploy had
// moved them to).
func productionListenerNames(name string) (current string, previous []string) {
	return name + "-listener", []string{name + "-http", name + "-https"}
}

// newListeners creates the production listener and, with a certificate,
// the port-80 redirect to it. The default action sends everything to
// `latest` and attaches latest's pair.
//
// Adding a certificate to a stack modifies the production listener in
// place (port 80 → 443, HTTP → HTTPS, the certificate and policy added):
// the provider changes port and protocol with ModifyListener, only the
// load balancer ARN forces a new listener (terraform-provider-aws,
// internal/service/elbv2/listener.go; ELB API reference, ModifyListener:
// "If you change the protocol from HTTP to HTTPS ... you must add the
// security policy and default certificate properties", which the update
// sends). Its ARN, rules and CodeDeploy's weights stay. The redirect
// listener depends on it, so it is created only after the modify has freed
// port 80 (a listener per port: DuplicateListener otherwise). Removing the
// certificate again is not done in place: see docs/configuration.md,
// "Changes that need new services".
func newListeners(ctx *pulumi.Context, name string, args *Args, alb *lb.LoadBalancer, latest [2]*lb.TargetGroup, parent pulumi.ResourceOption) (*lb.Listener, error) {
	listenerArgs := &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn, Port: pulumi.Int(httpPort), Protocol: pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type: pulumi.String("forward"),
			Forward: &lb.ListenerDefaultActionForwardArgs{TargetGroups: lb.ListenerDefaultActionForwardTargetGroupArray{
				lb.ListenerDefaultActionForwardTargetGroupArgs{Arn: latest[0].Arn, Weight: pulumi.Int(weightActive)},
				lb.ListenerDefaultActionForwardTargetGroupArgs{Arn: latest[1].Arn, Weight: pulumi.Int(weightIdle)},
			}},
		}},
	}
	if args.CertificateArn != "" {
		listenerArgs.Port, listenerArgs.Protocol = pulumi.Int(httpsPort), pulumi.String("HTTPS")
		listenerArgs.CertificateArn, listenerArgs.SslPolicy = pulumi.String(args.CertificateArn), pulumi.String(tlsPolicy)
	}
	current, previous := productionListenerNames(name)
	var aliases []pulumi.Alias
	for _, n := range previous {
		aliases = append(aliases, pulumi.Alias{Name: pulumi.String(n)})
	}
	l, err := lb.NewListener(ctx, current, listenerArgs, parent,
		pulumi.Aliases(aliases), pulumi.IgnoreChanges(listenerOwnedByCodeDeploy))
	if err != nil {
		return nil, fmt.Errorf("create production listener: %w", err)
	}
	if args.CertificateArn == "" {
		return l, nil
	}
	_, err = lb.NewListener(ctx, name+"-http-redirect", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn, Port: pulumi.Int(httpPort), Protocol: pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol: pulumi.String("HTTPS"), Port: pulumi.String("443"), StatusCode: pulumi.String("HTTP_301"),
			},
		}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{l}))
	if err != nil {
		return nil, fmt.Errorf("create http redirect listener: %w", err)
	}
	return l, nil
}

// liveActionsOf reads the anchor rule's action from AWS, for the tenant
// rules. After every Stable deployment CodeDeploy has moved the anchor and
// the tenant rules to the other `stable` target group, so a tenant rule
// created later (a tenant added mid-rollout, say) must forward where they
// do *now*, not to the group `stable` started on. The anchor always exists,
// so even the first tenant rule of a stack copies a live action. Existing
// rules ignore this input (CodeDeploy owns their actions).
func liveActionsOf(ctx *pulumi.Context, anchor *lb.ListenerRule) lb.ListenerRuleActionArrayOutput {
	live := lb.LookupListenerRuleOutput(ctx, lb.LookupListenerRuleOutputArgs{Arn: anchor.Arn})
	return live.Actions().ApplyT(func(actions []lb.GetListenerRuleAction) ([]lb.ListenerRuleAction, error) {
		for _, a := range actions {
			if a.Type != "forward" {
				continue
			}
			if a.Forward != nil && len(a.Forward.TargetGroups) > 0 {
				var groups []lb.ListenerRuleActionForwardTargetGroup
				for _, g := range a.Forward.TargetGroups {
					weight := g.Weight
					groups = append(groups, lb.ListenerRuleActionForwardTargetGroup{Arn: g.Arn, Weight: &weight})
				}
				return []lb.ListenerRuleAction{{Type: "forward", Forward: &lb.ListenerRuleActionForward{TargetGroups: groups}}}, nil
			}
		}
		return nil, fmt.Errorf("the anchor rule (priority %d) has no forward action to copy; restore it to forward to stable's target groups before adding tenants", routing.AnchorPriority)
	}).(lb.ListenerRuleActionArrayOutput)
}

// forwardPair forwards everything to a pair's first group and nothing to
// its second, naming both so both are attached to the listener.
func forwardPair(pair [2]*lb.TargetGroup) lb.ListenerRuleActionArray {
	return lb.ListenerRuleActionArray{lb.ListenerRuleActionArgs{
		Type: pulumi.String("forward"),
		Forward: &lb.ListenerRuleActionForwardArgs{TargetGroups: lb.ListenerRuleActionForwardTargetGroupArray{
			lb.ListenerRuleActionForwardTargetGroupArgs{Arn: pair[0].Arn, Weight: pulumi.Int(weightActive)},
			lb.ListenerRuleActionForwardTargetGroupArgs{Arn: pair[1].Arn, Weight: pulumi.Int(weightIdle)},
		}},
	}}
}

// ruleCondition turns a routing condition into the provider's shape.
func ruleCondition(c routing.Condition) lb.ListenerRuleConditionArgs {
	values := pulumi.ToStringArray(c.Values)
	switch c.Field {
	case routing.FieldHostHeader:
		return lb.ListenerRuleConditionArgs{HostHeader: &lb.ListenerRuleConditionHostHeaderArgs{Values: values}}
	case routing.FieldHTTPHeader:
		return lb.ListenerRuleConditionArgs{HttpHeader: &lb.ListenerRuleConditionHttpHeaderArgs{
			HttpHeaderName: pulumi.String(c.HeaderName), Values: values,
		}}
	default:
		return lb.ListenerRuleConditionArgs{PathPattern: &lb.ListenerRuleConditionPathPatternArgs{Values: values}}
	}
}

// newSecurityGroups lets the world reach the ALB's listeners and lets only
// the ALB reach the tasks, on the container port. Every rule is its own
// resource (no inline rules), since each group refers to the other and
// inline and standalone rules must not be mixed on one group.
func newSecurityGroups(ctx *pulumi.Context, name string, args *Args, parent pulumi.ResourceOption) (*ec2.SecurityGroup, *ec2.SecurityGroup, error) {
	port := args.Service.Port
	albSG, err := ec2.NewSecurityGroup(ctx, name+"-alb", &ec2.SecurityGroupArgs{
		VpcId:       args.VpcId,
		Description: pulumi.String("tenant-canary load balancer: HTTP/HTTPS from anywhere"),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create alb security group: %w", err)
	}
	taskSG, err := ec2.NewSecurityGroup(ctx, name+"-tasks", &ec2.SecurityGroupArgs{
		VpcId:       args.VpcId,
		Description: pulumi.String("tenant-canary tasks: container port from the load balancer only"),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create task security group: %w", err)
	}
	for _, l := range []struct {
		port       int
		cidr, desc string
	}{
		{httpPort, "0.0.0.0/0", "http-ipv4"}, {httpPort, "::/0", "http-ipv6"},
		{httpsPort, "0.0.0.0/0", "https-ipv4"}, {httpsPort, "::/0", "https-ipv6"},
	} {
		ingress := &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: albSG.ID(), IpProtocol: pulumi.String("tcp"),
			FromPort: pulumi.Int(l.port), ToPort: pulumi.Int(l.port), Description: pulumi.String(l.desc),
		}
		if l.cidr == "::/0" {
			ingress.CidrIpv6 = pulumi.String(l.cidr)
		} else {
			ingress.CidrIpv4 = pulumi.String(l.cidr)
		}
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-alb-"+l.desc, ingress, parent); err != nil {
			return nil, nil, fmt.Errorf("create alb ingress rule %s: %w", l.desc, err)
		}
	}
	// The ALB may only open connections to the tasks, on the container port.
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-alb-to-tasks", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: albSG.ID(), ReferencedSecurityGroupId: taskSG.ID(), IpProtocol: pulumi.String("tcp"),
		FromPort: pulumi.Int(port), ToPort: pulumi.Int(port), Description: pulumi.String("to the tasks' container port"),
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("create alb egress rule: %w", err)
	}
	// Tasks accept connections from the ALB's security group only.
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-tasks-from-alb", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: taskSG.ID(), ReferencedSecurityGroupId: albSG.ID(), IpProtocol: pulumi.String("tcp"),
		FromPort: pulumi.Int(port), ToPort: pulumi.Int(port), Description: pulumi.String("container port from the ALB"),
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("create task ingress rule: %w", err)
	}
	// Tasks pull images and ship logs over HTTPS (through NAT, or their
	// public IP when nat is none). An application that needs more adds it here.
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-tasks-https-out", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: taskSG.ID(), CidrIpv4: pulumi.String("0.0.0.0/0"), IpProtocol: pulumi.String("tcp"),
		FromPort: pulumi.Int(443), ToPort: pulumi.Int(443), Description: pulumi.String("HTTPS out: image pulls, logs"),
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("create task egress rule: %w", err)
	}
	return albSG, taskSG, nil
}

// newTaskRoles creates the execution role (pull images, write logs) and the
// task role, which carries no permission until the application needs one.
func newTaskRoles(ctx *pulumi.Context, name string, logGroup *cloudwatch.LogGroup, parent pulumi.ResourceOption) (*iam.Role, *iam.Role, error) {
	assume, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": []string{"sts:AssumeRole"},
			"Principal": map[string]any{"Service": []string{"ecs-tasks.amazonaws.com"}},
		}},
	})
	if err != nil {
		return nil, nil, err
	}
	execution, err := iam.NewRole(ctx, name+"-execution", &iam.RoleArgs{
		Description:      pulumi.String("tenant-canary: ECS pulls images and writes logs"),
		AssumeRolePolicy: pulumi.String(string(assume)),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create task execution role: %w", err)
	}
	policy := logGroup.Arn.ApplyT(func(arn string) (string, error) {
		b, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []map[string]any{
				{"Sid": "WriteTaskLogs", "Effect": "Allow",
					"Action":   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
					"Resource": []string{arn + ":log-stream:*"}},
				// ecr:GetAuthorizationToken has no resource-level scoping
				// (Service Authorization Reference, Amazon ECR): "*" only.
				// Pulls from the stack's repository are granted by the
				// pipeline component, which owns the repository.
				{"Sid": "EcrLogin", "Effect": "Allow", "Action": []string{"ecr:GetAuthorizationToken"}, "Resource": []string{"*"}},
			},
		})
		return string(b), err
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-execution", &iam.RolePolicyArgs{Role: execution.ID(), Policy: policy}, parent); err != nil {
		return nil, nil, fmt.Errorf("create task execution policy: %w", err)
	}
	task, err := iam.NewRole(ctx, name+"-task", &iam.RoleArgs{
		Description:      pulumi.String("tenant-canary: the application's own permissions (none by default)"),
		AssumeRolePolicy: pulumi.String(string(assume)),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("create task role: %w", err)
	}
	return execution, task, nil
}

var trailingSlash = regexp.MustCompile(`/+$`)

// PlaceholderCommand is the start command given to the default busybox
// placeholder: serve the configured port, answer 200 on the health path and
// on "/". The health path is validated to need no shell quoting.
func PlaceholderCommand(s config.Service) []string {
	file := trailingSlash.ReplaceAllString(s.HealthCheckPath, "")
	if file == "" {
		file = "/index.html"
	}
	script := fmt.Sprintf(
		"mkdir -p /www && mkdir -p \"$(dirname /www%[1]s)\" && echo ok > /www%[1]s && echo 'tenant-canary placeholder: push an image to start a rollout' > /www/index.html && exec httpd -f -v -p %[2]d -h /www",
		file, s.Port)
	return []string{"sh", "-c", script}
}

// newPlaceholderTaskDefinition is what both services run before the first
// `docker push`. After that, the task definition belongs to CodeDeploy.
func newPlaceholderTaskDefinition(ctx *pulumi.Context, name string, args *Args, logGroup *cloudwatch.LogGroup, execution, task *iam.Role, parent pulumi.ResourceOption) (*ecs.TaskDefinition, error) {
	svc := args.Service
	region := aws.GetRegionOutput(ctx, aws.GetRegionOutputArgs{})
	containers := pulumi.All(logGroup.Name, region.Name()).ApplyT(func(in []any) (string, error) {
		container := map[string]any{
			"name":         svc.ContainerName,
			"image":        svc.PlaceholderImage,
			"essential":    true,
			"portMappings": []map[string]any{{"containerPort": svc.Port, "protocol": "tcp"}},
			"logConfiguration": map[string]any{
				"logDriver": "awslogs",
				"options": map[string]string{
					"awslogs-group": in[0].(string), "awslogs-region": in[1].(string), "awslogs-stream-prefix": "placeholder",
				},
			},
		}
		if svc.PlaceholderImage == config.DefaultPlaceholderImage {
			container["command"] = PlaceholderCommand(svc)
		}
		b, err := json.Marshal([]any{container})
		return string(b), err
	}).(pulumi.StringOutput)
	td, err := ecs.NewTaskDefinition(ctx, name+"-placeholder", &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(args.TaskFamily),
		Cpu:                     pulumi.String(fmt.Sprint(svc.Cpu)),
		Memory:                  pulumi.String(fmt.Sprint(svc.Memory)),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
		ExecutionRoleArn:        execution.Arn,
		TaskRoleArn:             task.Arn,
		ContainerDefinitions:    containers,
		// CodeDeploy registers new revisions of this family; keep old ones
		// registered so a rollback always has its task definition.
		SkipDestroy: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create placeholder task definition: %w", err)
	}
	return td, nil
}
