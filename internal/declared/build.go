package declared

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwsdk "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Resource is one resource the program registered: its Pulumi type token,
// logical name, inputs and the outputs the engine (here, the mock)
// answered with, as plain values (a PropertyMap's Mappable form).
type Resource struct {
	Type    string
	Name    string
	Inputs  map[string]any
	Outputs map[string]any
}

// Input is what Build reads: the registered resources, the resolved stack
// outputs, and the facts the resources do not carry.
type Input struct {
	Project, Stack, Region, Account string
	Resources                       []Resource
	Outputs                         contract.StackOutputs
	// TenantMatch is the stack's tenantMatch, to tell which pinned
	// tenants a tenant rule's values belong to.
	TenantMatch routing.Match
}

// Pulumi type tokens of the resources Build reads.
const (
	typeLoadBalancer     = "aws:lb/loadBalancer:LoadBalancer"
	typeListener         = "aws:lb/listener:Listener"
	typeListenerRule     = "aws:lb/listenerRule:ListenerRule"
	typeTargetGroup      = "aws:lb/targetGroup:TargetGroup"
	typeCluster          = "aws:ecs/cluster:Cluster"
	typeService          = "aws:ecs/service:Service"
	typeTaskDefinition   = "aws:ecs/taskDefinition:TaskDefinition"
	typeApplication      = "aws:codedeploy/application:Application"
	typeDeploymentConfig = "aws:codedeploy/deploymentConfig:DeploymentConfig"
	typeDeploymentGroup  = "aws:codedeploy/deploymentGroup:DeploymentGroup"
	typeMetricAlarm      = "aws:cloudwatch/metricAlarm:MetricAlarm"
	typePipeline         = "aws:codepipeline/pipeline:Pipeline"
	typeBucketObject     = "aws:s3/bucketObjectv2:BucketObjectv2"
	typeEventRule        = "aws:cloudwatch/eventRule:EventRule"
	typeEventTarget      = "aws:cloudwatch/eventTarget:EventTarget"
	typeFunction         = "aws:lambda/function:Function"
	typeInvokeConfig     = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
)

// Service roles, as the stack outputs key them.
const (
	RoleLatest = "latest"
	RoleStable = "stable"
)

// PredefinedAllAtOnce is CodeDeploy's predefined ECS config that shifts all
// traffic at once ("Deployment configurations on an Amazon ECS compute
// platform", https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html).
const PredefinedAllAtOnce = "CodeDeployDefault.ECSAllAtOnce"

// Build reads what the program registered into a Stack. It fails, naming
// the resource, on anything it cannot place (a rule or listener that plays
// no known part, an alarm no deployment group watches), so a change to the
// program that the declaration does not describe is noticed.
func Build(in Input) (*Stack, error) {
	b := &builder{in: in, byType: map[string][]Resource{}}
	for _, r := range in.Resources {
		b.byType[r.Type] = append(b.byType[r.Type], r)
	}
	s := &Stack{
		Version: Version, Project: in.Project, Stack: in.Stack, Region: in.Region, Account: in.Account,
		Outputs: in.Outputs,
	}
	for _, step := range []struct {
		what string
		run  func(*Stack) error
	}{
		{"load balancer", b.loadBalancer},
		{"target groups", b.targetGroups},
		{"ecs", b.ecs},
		{"codedeploy", b.codeDeploy},
		{"listeners", b.listeners},
		{"alarms", b.alarms},
		{"pipeline", b.pipeline},
		{"functions", b.functions},
		{"event rules", b.eventRules},
	} {
		if err := step.run(s); err != nil {
			return nil, fmt.Errorf("declared %s: %w", step.what, err)
		}
	}
	return s, nil
}

type builder struct {
	in     Input
	byType map[string][]Resource
}

// decode turns plain values into v through JSON (Pulumi's property names
// are the json tags of the private shapes below).
func decode(from any, v any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// strictDecode is decode that rejects fields v does not have: for AWS's
// own JSON (container definitions, taskdef.json) read into the SDK's
// types, whose field names must match AWS's.
func strictDecode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (r Resource) out(key string) string {
	if v, ok := r.Outputs[key].(string); ok {
		return v
	}
	return ""
}

func (b *builder) one(typ string) (Resource, error) {
	rs := b.byType[typ]
	if len(rs) != 1 {
		return Resource{}, fmt.Errorf("want exactly one %s, the program registered %d", typ, len(rs))
	}
	return rs[0], nil
}

func (b *builder) loadBalancer(s *Stack) error {
	lb, err := b.one(typeLoadBalancer)
	if err != nil {
		return err
	}
	s.LoadBalancer = LoadBalancer{Name: lb.out("name"), Arn: lb.out("arn"), ArnSuffix: lb.out("arnSuffix"), DNSName: lb.out("dnsName")}
	return nil
}

// Pulumi's shapes of the resources' inputs.
type (
	pHealthCheck struct {
		Enabled            *bool  `json:"enabled"`
		Path               string `json:"path"`
		Matcher            string `json:"matcher"`
		Interval           int32  `json:"interval"`
		Timeout            int32  `json:"timeout"`
		HealthyThreshold   int32  `json:"healthyThreshold"`
		UnhealthyThreshold int32  `json:"unhealthyThreshold"`
		Protocol           string `json:"protocol"`
		Port               string `json:"port"`
	}
	pTargetGroup struct {
		Port                int32        `json:"port"`
		Protocol            string       `json:"protocol"`
		TargetType          string       `json:"targetType"`
		VpcID               string       `json:"vpcId"`
		DeregistrationDelay any          `json:"deregistrationDelay"`
		HealthCheck         pHealthCheck `json:"healthCheck"`
	}
	pAction struct {
		Type           string `json:"type"`
		Order          *int32 `json:"order"`
		TargetGroupArn string `json:"targetGroupArn"`
		Forward        *struct {
			TargetGroups []struct {
				Arn    string `json:"arn"`
				Weight *int32 `json:"weight"`
			} `json:"targetGroups"`
		} `json:"forward"`
		Redirect *struct {
			Protocol   string `json:"protocol"`
			Port       string `json:"port"`
			Host       string `json:"host"`
			Path       string `json:"path"`
			Query      string `json:"query"`
			StatusCode string `json:"statusCode"`
		} `json:"redirect"`
	}
	pValues struct {
		Values []string `json:"values"`
	}
	pCondition struct {
		PathPattern *pValues `json:"pathPattern"`
		HostHeader  *pValues `json:"hostHeader"`
		HTTPHeader  *struct {
			Name   string   `json:"httpHeaderName"`
			Values []string `json:"values"`
		} `json:"httpHeader"`
	}
	pListener struct {
		LoadBalancerArn string    `json:"loadBalancerArn"`
		Port            int32     `json:"port"`
		Protocol        string    `json:"protocol"`
		CertificateArn  string    `json:"certificateArn"`
		SslPolicy       string    `json:"sslPolicy"`
		DefaultActions  []pAction `json:"defaultActions"`
	}
	pRule struct {
		ListenerArn string       `json:"listenerArn"`
		Priority    int          `json:"priority"`
		Conditions  []pCondition `json:"conditions"`
		Actions     []pAction    `json:"actions"`
	}
)

func (b *builder) targetGroups(s *Stack) error {
	where := map[string][2]int{} // arn → service index, pair index
	services := []string{RoleLatest, RoleStable}
	for si, svc := range services {
		pair := b.in.Outputs.TargetGroups[svc]
		if len(pair) != 2 {
			return fmt.Errorf("stack output targetGroups.%s has %d target groups, want a pair", svc, len(pair))
		}
		for i, tg := range pair {
			where[tg.Arn] = [2]int{si, i}
		}
	}
	for _, r := range b.byType[typeTargetGroup] {
		var p pTargetGroup
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		arn := r.out("arn")
		at, ok := where[arn]
		if !ok {
			return fmt.Errorf("target group %s (%s) is in no service's pair (stack output targetGroups)", r.Name, arn)
		}
		delay, err := intOf(p.DeregistrationDelay)
		if err != nil {
			return fmt.Errorf("%s: deregistrationDelay: %w", r.Name, err)
		}
		hc := p.HealthCheck
		tg := elbtypes.TargetGroup{
			TargetGroupArn:             aws.String(arn),
			TargetGroupName:            aws.String(r.out("name")),
			Protocol:                   elbtypes.ProtocolEnum(p.Protocol),
			Port:                       aws.Int32(p.Port),
			VpcId:                      aws.String(p.VpcID),
			TargetType:                 elbtypes.TargetTypeEnum(p.TargetType),
			HealthCheckEnabled:         aws.Bool(hc.Enabled == nil || *hc.Enabled),
			HealthCheckPath:            aws.String(hc.Path),
			HealthCheckIntervalSeconds: aws.Int32(hc.Interval),
			HealthCheckTimeoutSeconds:  aws.Int32(hc.Timeout),
			HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
			UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
			Matcher:                    &elbtypes.Matcher{HttpCode: aws.String(hc.Matcher)},
			// Unset, an Application Load Balancer's health check uses
			// HTTP, on traffic-port, "the port on which each target
			// receives traffic from the load balancer" (ELB API
			// reference, CreateTargetGroup, HealthCheckProtocol and
			// HealthCheckPort,
			// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html).
			HealthCheckProtocol: elbtypes.ProtocolEnum(orDefault(hc.Protocol, "HTTP")),
			HealthCheckPort:     aws.String(orDefault(hc.Port, "traffic-port")),
			LoadBalancerArns:    []string{s.LoadBalancer.Arn},
		}
		s.TargetGroups = append(s.TargetGroups, TargetGroup{
			Service: services[at[0]], PairIndex: at[1], ArnSuffix: r.out("arnSuffix"),
			TargetGroup: tg, DeregistrationDelaySeconds: delay,
		})
	}
	if len(s.TargetGroups) != 4 {
		return fmt.Errorf("want the two services' pairs, 4 target groups; the program registered %d", len(s.TargetGroups))
	}
	sort.Slice(s.TargetGroups, func(i, j int) bool {
		a, c := s.TargetGroups[i], s.TargetGroups[j]
		if a.Service != c.Service {
			return a.Service == RoleLatest
		}
		return a.PairIndex < c.PairIndex
	})
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// intOf reads a number Pulumi may hold as a number or a numeric string.
func intOf(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return int(x), nil
	case string:
		var n int
		_, err := fmt.Sscanf(x, "%d", &n)
		return n, err
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// action is a rule or default action as DescribeRules and
// DescribeListeners return it. A forward to one target group comes back
// with a ForwardConfig naming it at weight 1 as well ("ForwardConfig":
// "If you specify both ForwardConfig and TargetGroupArn, you can specify
// only one target group using ForwardConfig and it must be the same target
// group specified in TargetGroupArn", ELB API reference, Action,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html).
func action(p pAction, i int) (elbtypes.Action, error) {
	a := elbtypes.Action{Type: elbtypes.ActionTypeEnum(p.Type), Order: p.Order}
	if a.Order == nil {
		a.Order = aws.Int32(int32(i + 1))
	}
	switch a.Type {
	case elbtypes.ActionTypeEnumForward:
		fc := &elbtypes.ForwardActionConfig{}
		if p.TargetGroupArn != "" {
			a.TargetGroupArn = aws.String(p.TargetGroupArn)
			fc.TargetGroups = []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(p.TargetGroupArn), Weight: aws.Int32(1)}}
		}
		if p.Forward != nil {
			for _, g := range p.Forward.TargetGroups {
				fc.TargetGroups = append(fc.TargetGroups, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(g.Arn), Weight: g.Weight})
			}
		}
		if len(fc.TargetGroups) == 0 {
			return a, fmt.Errorf("forward action %d names no target group", i)
		}
		a.ForwardConfig = fc
	case elbtypes.ActionTypeEnumRedirect:
		if p.Redirect == nil {
			return a, fmt.Errorf("redirect action %d has no redirect", i)
		}
		r := p.Redirect
		opt := func(s string) *string {
			if s == "" {
				return nil
			}
			return aws.String(s)
		}
		a.RedirectConfig = &elbtypes.RedirectActionConfig{
			StatusCode: elbtypes.RedirectActionStatusCodeEnum(r.StatusCode),
			Protocol:   opt(r.Protocol), Port: opt(r.Port), Host: opt(r.Host), Path: opt(r.Path), Query: opt(r.Query),
		}
	default:
		return a, fmt.Errorf("action %d: type %q is not one the program declares (forward, redirect)", i, p.Type)
	}
	return a, nil
}

func actions(ps []pAction) ([]elbtypes.Action, error) {
	var out []elbtypes.Action
	for i, p := range ps {
		a, err := action(p, i)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// condition is one condition as DescribeRules returns it, in its *Config
// form.
func condition(p pCondition) (elbtypes.RuleCondition, error) {
	switch {
	case p.PathPattern != nil:
		return elbtypes.RuleCondition{Field: aws.String(routing.FieldPathPattern), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: p.PathPattern.Values}}, nil
	case p.HostHeader != nil:
		return elbtypes.RuleCondition{Field: aws.String(routing.FieldHostHeader), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: p.HostHeader.Values}}, nil
	case p.HTTPHeader != nil:
		return elbtypes.RuleCondition{Field: aws.String(routing.FieldHTTPHeader), HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{
			HttpHeaderName: aws.String(p.HTTPHeader.Name), Values: p.HTTPHeader.Values,
		}}, nil
	}
	return elbtypes.RuleCondition{}, fmt.Errorf("a condition the program does not declare (path-pattern, host-header, http-header)")
}

// ConditionValues are a condition's values, whichever its field.
func ConditionValues(c elbtypes.RuleCondition) []string {
	switch {
	case c.PathPatternConfig != nil:
		return c.PathPatternConfig.Values
	case c.HostHeaderConfig != nil:
		return c.HostHeaderConfig.Values
	case c.HttpHeaderConfig != nil:
		return c.HttpHeaderConfig.Values
	}
	return c.Values
}

func (b *builder) listeners(s *Stack) error {
	o := b.in.Outputs
	testRole := map[string]ListenerRole{}
	for _, g := range s.CodeDeploy.Groups {
		role := map[string]ListenerRole{RoleLatest: ListenerTestLatest, RoleStable: ListenerTestStable}[g.Role]
		for _, pair := range g.Group.LoadBalancerInfo.TargetGroupPairInfoList {
			if pair.TestTrafficRoute != nil {
				for _, arn := range pair.TestTrafficRoute.ListenerArns {
					testRole[arn] = role
				}
			}
		}
	}
	byArn := map[string]*Listener{}
	for _, r := range b.byType[typeListener] {
		var p pListener
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		arn := r.out("arn")
		defaults, err := actions(p.DefaultActions)
		if err != nil {
			return fmt.Errorf("listener %s: %w", r.Name, err)
		}
		l := &Listener{Listener: elbtypes.Listener{
			ListenerArn: aws.String(arn), LoadBalancerArn: aws.String(p.LoadBalancerArn),
			Port: aws.Int32(p.Port), Protocol: elbtypes.ProtocolEnum(p.Protocol), DefaultActions: defaults,
		}}
		if p.CertificateArn != "" {
			l.Listener.Certificates = []elbtypes.Certificate{{CertificateArn: aws.String(p.CertificateArn), IsDefault: aws.Bool(true)}}
		}
		if p.SslPolicy != "" {
			l.Listener.SslPolicy = aws.String(p.SslPolicy)
		}
		switch {
		case arn == o.ListenerArn:
			l.Role = ListenerProduction
		case testRole[arn] != "":
			l.Role = testRole[arn]
		case len(defaults) == 1 && defaults[0].Type == elbtypes.ActionTypeEnumRedirect:
			l.Role = ListenerRedirect
		default:
			return fmt.Errorf("listener %s (%s) is neither the production listener (stack output listenerArn), a test listener nor the HTTPS redirect", r.Name, arn)
		}
		byArn[arn] = l
	}
	tenantArns := map[string]bool{}
	for _, a := range o.TenantRuleArns {
		tenantArns[a] = true
	}
	for _, r := range b.byType[typeListenerRule] {
		var p pRule
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		arn := r.out("arn")
		l, ok := byArn[p.ListenerArn]
		if !ok {
			return fmt.Errorf("rule %s is on listener %s, which the program does not declare", r.Name, p.ListenerArn)
		}
		rule := Rule{Rule: elbtypes.Rule{RuleArn: aws.String(arn), Priority: aws.String(fmt.Sprint(p.Priority)), IsDefault: aws.Bool(false)}}
		var err error
		if rule.Rule.Actions, err = actions(p.Actions); err != nil {
			return fmt.Errorf("rule %s: %w", r.Name, err)
		}
		for _, c := range p.Conditions {
			cond, err := condition(c)
			if err != nil {
				return fmt.Errorf("rule %s: %w", r.Name, err)
			}
			rule.Rule.Conditions = append(rule.Rule.Conditions, cond)
		}
		switch {
		case arn == o.CatchAllRuleArn:
			rule.Role = RuleCatchAll
		case arn == o.AnchorRuleArn:
			rule.Role = RuleAnchor
		case tenantArns[arn]:
			rule.Role = RuleTenant
			rule.Tenants = b.tenantsOf(rule.Rule)
		default:
			return fmt.Errorf("rule %s (%s) is neither the catch-all, the anchor nor a tenant rule (stack outputs catchAllRuleArn, anchorRuleArn, tenantRuleArns)", r.Name, arn)
		}
		l.Rules = append(l.Rules, rule)
	}
	order := map[ListenerRole]int{ListenerProduction: 0, ListenerRedirect: 1, ListenerTestLatest: 2, ListenerTestStable: 3}
	for _, l := range byArn {
		sort.Slice(l.Rules, func(i, j int) bool {
			return priorityOf(l.Rules[i]) < priorityOf(l.Rules[j])
		})
		// The default rule, as DescribeRules lists it: last, priority
		// "default", the listener's default actions, no condition.
		l.Rules = append(l.Rules, Rule{Role: RuleDefault, Rule: elbtypes.Rule{
			RuleArn:  aws.String(strings.Replace(aws.ToString(l.Listener.ListenerArn), ":listener/", ":listener-rule/", 1) + "/default"),
			Priority: aws.String("default"), IsDefault: aws.Bool(true), Actions: l.Listener.DefaultActions,
			Conditions: []elbtypes.RuleCondition{},
		}})
		s.LoadBalancer.Listeners = append(s.LoadBalancer.Listeners, *l)
	}
	sort.Slice(s.LoadBalancer.Listeners, func(i, j int) bool {
		return order[s.LoadBalancer.Listeners[i].Role] < order[s.LoadBalancer.Listeners[j].Role]
	})
	if len(s.LoadBalancer.Listeners) == 0 || s.LoadBalancer.Listeners[0].Role != ListenerProduction {
		return fmt.Errorf("no production listener (stack output listenerArn %q)", o.ListenerArn)
	}
	return nil
}

func priorityOf(r Rule) int {
	var n int
	fmt.Sscanf(aws.ToString(r.Rule.Priority), "%d", &n)
	return n
}

// tenantsOf are the pinned tenants (stack output pinnedTenants) with a
// value among the rule's condition values.
func (b *builder) tenantsOf(rule elbtypes.Rule) []string {
	values := map[string]bool{}
	for _, c := range rule.Conditions {
		for _, v := range ConditionValues(c) {
			values[v] = true
		}
	}
	var out []string
	for _, t := range b.in.Outputs.PinnedTenants {
		if slices.ContainsFunc(b.in.TenantMatch.Values(t), func(v string) bool { return values[v] }) {
			out = append(out, t)
		}
	}
	return out
}

type pService struct {
	Cluster              string `json:"cluster"`
	DesiredCount         int32  `json:"desiredCount"`
	LaunchType           string `json:"launchType"`
	TaskDefinition       string `json:"taskDefinition"`
	DeploymentController struct {
		Type string `json:"type"`
	} `json:"deploymentController"`
	LoadBalancers []struct {
		TargetGroupArn string `json:"targetGroupArn"`
		ContainerName  string `json:"containerName"`
		ContainerPort  int32  `json:"containerPort"`
	} `json:"loadBalancers"`
	NetworkConfiguration struct {
		Subnets        []string `json:"subnets"`
		SecurityGroups []string `json:"securityGroups"`
		AssignPublicIP bool     `json:"assignPublicIp"`
	} `json:"networkConfiguration"`
	HealthCheckGracePeriodSeconds *int32 `json:"healthCheckGracePeriodSeconds"`
}

type pTaskDefinition struct {
	Family                  string   `json:"family"`
	Cpu                     string   `json:"cpu"`
	Memory                  string   `json:"memory"`
	NetworkMode             string   `json:"networkMode"`
	RequiresCompatibilities []string `json:"requiresCompatibilities"`
	ExecutionRoleArn        string   `json:"executionRoleArn"`
	TaskRoleArn             string   `json:"taskRoleArn"`
	ContainerDefinitions    string   `json:"containerDefinitions"`
}

func (b *builder) ecs(s *Stack) error {
	cluster, err := b.one(typeCluster)
	if err != nil {
		return err
	}
	s.ECS.ClusterName, s.ECS.ClusterArn = cluster.out("name"), cluster.out("arn")

	td, err := b.one(typeTaskDefinition)
	if err != nil {
		return err
	}
	var p pTaskDefinition
	if err := decode(td.Inputs, &p); err != nil {
		return fmt.Errorf("%s: %w", td.Name, err)
	}
	var containers []ecstypes.ContainerDefinition
	if err := strictDecode([]byte(p.ContainerDefinitions), &containers); err != nil {
		return fmt.Errorf("%s: containerDefinitions: %w", td.Name, err)
	}
	var compat []ecstypes.Compatibility
	for _, c := range p.RequiresCompatibilities {
		compat = append(compat, ecstypes.Compatibility(c))
	}
	s.ECS.PlaceholderTaskDefinition = ecstypes.TaskDefinition{
		TaskDefinitionArn: aws.String(td.out("arn")), Family: aws.String(p.Family), Revision: 1,
		Cpu: aws.String(p.Cpu), Memory: aws.String(p.Memory), NetworkMode: ecstypes.NetworkMode(p.NetworkMode),
		RequiresCompatibilities: compat, ExecutionRoleArn: aws.String(p.ExecutionRoleArn), TaskRoleArn: aws.String(p.TaskRoleArn),
		ContainerDefinitions: containers, Status: ecstypes.TaskDefinitionStatusActive,
	}

	for _, r := range b.byType[typeService] {
		var p pService
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		var role string
		switch name {
		case b.in.Outputs.LatestServiceName:
			role = RoleLatest
		case b.in.Outputs.StableServiceName:
			role = RoleStable
		default:
			return fmt.Errorf("service %s is neither latestServiceName nor stableServiceName", name)
		}
		svc := ecstypes.Service{
			ServiceName: aws.String(name), ServiceArn: aws.String(r.out("arn")), ClusterArn: aws.String(p.Cluster),
			DesiredCount: p.DesiredCount, LaunchType: ecstypes.LaunchType(p.LaunchType), TaskDefinition: aws.String(p.TaskDefinition),
			DeploymentController:          &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerType(p.DeploymentController.Type)},
			HealthCheckGracePeriodSeconds: p.HealthCheckGracePeriodSeconds,
			Status:                        aws.String("ACTIVE"),
		}
		assign := ecstypes.AssignPublicIpDisabled
		if p.NetworkConfiguration.AssignPublicIP {
			assign = ecstypes.AssignPublicIpEnabled
		}
		svc.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: p.NetworkConfiguration.Subnets, SecurityGroups: p.NetworkConfiguration.SecurityGroups, AssignPublicIp: assign,
		}}
		for _, l := range p.LoadBalancers {
			svc.LoadBalancers = append(svc.LoadBalancers, ecstypes.LoadBalancer{
				TargetGroupArn: aws.String(l.TargetGroupArn), ContainerName: aws.String(l.ContainerName), ContainerPort: aws.Int32(l.ContainerPort),
			})
		}
		s.ECS.Services = append(s.ECS.Services, Service{Role: role, Service: svc})
	}
	if len(s.ECS.Services) != 2 {
		return fmt.Errorf("want the latest and stable services, the program registered %d", len(s.ECS.Services))
	}
	sort.Slice(s.ECS.Services, func(i, j int) bool { return s.ECS.Services[i].Role == RoleLatest })
	return nil
}

type pDeploymentGroup struct {
	AppName              string `json:"appName"`
	DeploymentGroupName  string `json:"deploymentGroupName"`
	ServiceRoleArn       string `json:"serviceRoleArn"`
	DeploymentConfigName string `json:"deploymentConfigName"`
	DeploymentStyle      struct {
		DeploymentType   string `json:"deploymentType"`
		DeploymentOption string `json:"deploymentOption"`
	} `json:"deploymentStyle"`
	EcsService struct {
		ClusterName string `json:"clusterName"`
		ServiceName string `json:"serviceName"`
	} `json:"ecsService"`
	LoadBalancerInfo struct {
		TargetGroupPairInfo struct {
			ProdTrafficRoute *struct {
				ListenerArns []string `json:"listenerArns"`
			} `json:"prodTrafficRoute"`
			TestTrafficRoute *struct {
				ListenerArns []string `json:"listenerArns"`
			} `json:"testTrafficRoute"`
			TargetGroups []struct {
				Name string `json:"name"`
			} `json:"targetGroups"`
		} `json:"targetGroupPairInfo"`
	} `json:"loadBalancerInfo"`
	BlueGreenDeploymentConfig struct {
		DeploymentReadyOption struct {
			ActionOnTimeout   string `json:"actionOnTimeout"`
			WaitTimeInMinutes int32  `json:"waitTimeInMinutes"`
		} `json:"deploymentReadyOption"`
		TerminateBlueInstancesOnDeploymentSuccess struct {
			Action                       string `json:"action"`
			TerminationWaitTimeInMinutes int32  `json:"terminationWaitTimeInMinutes"`
		} `json:"terminateBlueInstancesOnDeploymentSuccess"`
	} `json:"blueGreenDeploymentConfig"`
	AutoRollbackConfiguration struct {
		Enabled bool     `json:"enabled"`
		Events  []string `json:"events"`
	} `json:"autoRollbackConfiguration"`
	AlarmConfiguration struct {
		Enabled                bool     `json:"enabled"`
		Alarms                 []string `json:"alarms"`
		IgnorePollAlarmFailure bool     `json:"ignorePollAlarmFailure"`
	} `json:"alarmConfiguration"`
}

type pDeploymentConfig struct {
	DeploymentConfigName string `json:"deploymentConfigName"`
	ComputePlatform      string `json:"computePlatform"`
	TrafficRoutingConfig struct {
		Type            string `json:"type"`
		TimeBasedCanary *struct {
			Interval   int32 `json:"interval"`
			Percentage int32 `json:"percentage"`
		} `json:"timeBasedCanary"`
		TimeBasedLinear *struct {
			Interval   int32 `json:"interval"`
			Percentage int32 `json:"percentage"`
		} `json:"timeBasedLinear"`
	} `json:"trafficRoutingConfig"`
}

func (b *builder) codeDeploy(s *Stack) error {
	app, err := b.one(typeApplication)
	if err != nil {
		return err
	}
	s.CodeDeploy.ApplicationName, s.CodeDeploy.ApplicationArn = app.out("name"), app.out("arn")
	platform := cdtypes.ComputePlatform(app.out("computePlatform"))

	configs := map[string]cdtypes.DeploymentConfigInfo{}
	for _, r := range b.byType[typeDeploymentConfig] {
		var p pDeploymentConfig
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		t := p.TrafficRoutingConfig
		routing := &cdtypes.TrafficRoutingConfig{Type: cdtypes.TrafficRoutingType(t.Type)}
		if t.TimeBasedCanary != nil {
			routing.TimeBasedCanary = &cdtypes.TimeBasedCanary{CanaryInterval: t.TimeBasedCanary.Interval, CanaryPercentage: t.TimeBasedCanary.Percentage}
		}
		if t.TimeBasedLinear != nil {
			routing.TimeBasedLinear = &cdtypes.TimeBasedLinear{LinearInterval: t.TimeBasedLinear.Interval, LinearPercentage: t.TimeBasedLinear.Percentage}
		}
		configs[p.DeploymentConfigName] = cdtypes.DeploymentConfigInfo{
			DeploymentConfigName: aws.String(p.DeploymentConfigName),
			ComputePlatform:      cdtypes.ComputePlatform(p.ComputePlatform), TrafficRoutingConfig: routing,
		}
	}
	configs[PredefinedAllAtOnce] = cdtypes.DeploymentConfigInfo{
		DeploymentConfigName: aws.String(PredefinedAllAtOnce), ComputePlatform: cdtypes.ComputePlatformEcs,
		TrafficRoutingConfig: &cdtypes.TrafficRoutingConfig{Type: cdtypes.TrafficRoutingTypeAllAtOnce},
	}

	o := b.in.Outputs
	var configName string
	for _, r := range b.byType[typeDeploymentGroup] {
		var p pDeploymentGroup
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		var role string
		switch p.DeploymentGroupName {
		case o.LatestDeploymentGroupName:
			role = RoleLatest
		case o.StableDeploymentGroupName:
			role = RoleStable
		default:
			return fmt.Errorf("deployment group %s is neither latestDeploymentGroupName nor stableDeploymentGroupName", p.DeploymentGroupName)
		}
		if configName != "" && configName != p.DeploymentConfigName {
			return fmt.Errorf("the deployment groups use different configs, %s and %s", configName, p.DeploymentConfigName)
		}
		configName = p.DeploymentConfigName
		pair := p.LoadBalancerInfo.TargetGroupPairInfo
		info := cdtypes.TargetGroupPairInfo{}
		if pair.ProdTrafficRoute != nil {
			info.ProdTrafficRoute = &cdtypes.TrafficRoute{ListenerArns: pair.ProdTrafficRoute.ListenerArns}
		}
		if pair.TestTrafficRoute != nil {
			info.TestTrafficRoute = &cdtypes.TrafficRoute{ListenerArns: pair.TestTrafficRoute.ListenerArns}
		}
		for _, tg := range pair.TargetGroups {
			info.TargetGroups = append(info.TargetGroups, cdtypes.TargetGroupInfo{Name: aws.String(tg.Name)})
		}
		var events []cdtypes.AutoRollbackEvent
		for _, e := range p.AutoRollbackConfiguration.Events {
			events = append(events, cdtypes.AutoRollbackEvent(e))
		}
		var alarms []cdtypes.Alarm
		for _, a := range p.AlarmConfiguration.Alarms {
			alarms = append(alarms, cdtypes.Alarm{Name: aws.String(a)})
		}
		bg := p.BlueGreenDeploymentConfig
		group := cdtypes.DeploymentGroupInfo{
			ApplicationName: aws.String(p.AppName), DeploymentGroupName: aws.String(p.DeploymentGroupName),
			DeploymentGroupId: aws.String(r.Name + "-id"), ServiceRoleArn: aws.String(p.ServiceRoleArn),
			DeploymentConfigName: aws.String(p.DeploymentConfigName), ComputePlatform: platform,
			DeploymentStyle: &cdtypes.DeploymentStyle{
				DeploymentType: cdtypes.DeploymentType(p.DeploymentStyle.DeploymentType), DeploymentOption: cdtypes.DeploymentOption(p.DeploymentStyle.DeploymentOption),
			},
			EcsServices:      []cdtypes.ECSService{{ClusterName: aws.String(p.EcsService.ClusterName), ServiceName: aws.String(p.EcsService.ServiceName)}},
			LoadBalancerInfo: &cdtypes.LoadBalancerInfo{TargetGroupPairInfoList: []cdtypes.TargetGroupPairInfo{info}},
			BlueGreenDeploymentConfiguration: &cdtypes.BlueGreenDeploymentConfiguration{
				DeploymentReadyOption: &cdtypes.DeploymentReadyOption{
					ActionOnTimeout:   cdtypes.DeploymentReadyAction(bg.DeploymentReadyOption.ActionOnTimeout),
					WaitTimeInMinutes: bg.DeploymentReadyOption.WaitTimeInMinutes,
				},
				TerminateBlueInstancesOnDeploymentSuccess: &cdtypes.BlueInstanceTerminationOption{
					Action:                       cdtypes.InstanceAction(bg.TerminateBlueInstancesOnDeploymentSuccess.Action),
					TerminationWaitTimeInMinutes: bg.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes,
				},
			},
			AutoRollbackConfiguration: &cdtypes.AutoRollbackConfiguration{Enabled: p.AutoRollbackConfiguration.Enabled, Events: events},
			AlarmConfiguration: &cdtypes.AlarmConfiguration{
				Enabled: p.AlarmConfiguration.Enabled, Alarms: alarms, IgnorePollAlarmFailure: p.AlarmConfiguration.IgnorePollAlarmFailure,
			},
		}
		s.CodeDeploy.Groups = append(s.CodeDeploy.Groups, DeploymentGroup{Role: role, Arn: r.out("arn"), Group: group})
	}
	if len(s.CodeDeploy.Groups) != 2 {
		return fmt.Errorf("want the latest and stable deployment groups, the program registered %d", len(s.CodeDeploy.Groups))
	}
	sort.Slice(s.CodeDeploy.Groups, func(i, j int) bool { return s.CodeDeploy.Groups[i].Role == RoleLatest })
	cfg, ok := configs[configName]
	if !ok {
		return fmt.Errorf("the deployment groups use %q, neither a config the program creates nor %s", configName, PredefinedAllAtOnce)
	}
	s.CodeDeploy.DeploymentConfig = cfg
	return nil
}

type pAlarm struct {
	AlarmDescription   string   `json:"alarmDescription"`
	ComparisonOperator string   `json:"comparisonOperator"`
	Threshold          *float64 `json:"threshold"`
	EvaluationPeriods  *int32   `json:"evaluationPeriods"`
	DatapointsToAlarm  *int32   `json:"datapointsToAlarm"`
	TreatMissingData   string   `json:"treatMissingData"`
	ActionsEnabled     *bool    `json:"actionsEnabled"`
	MetricQueries      []struct {
		ID         string `json:"id"`
		Expression string `json:"expression"`
		Label      string `json:"label"`
		ReturnData *bool  `json:"returnData"`
		Period     *int32 `json:"period"`
		Metric     *struct {
			Namespace  string            `json:"namespace"`
			MetricName string            `json:"metricName"`
			Dimensions map[string]string `json:"dimensions"`
			Period     int32             `json:"period"`
			Stat       string            `json:"stat"`
			Unit       string            `json:"unit"`
		} `json:"metric"`
	} `json:"metricQueries"`
	// A single-metric alarm (the program declares none).
	MetricName string `json:"metricName"`
}

// definition is the alarm resource's inputs as PutMetricAlarm takes them.
// Dimensions are sorted by name (Pulumi holds them as a map).
func definition(name string, p pAlarm) (cwsdk.PutMetricAlarmInput, error) {
	if p.MetricName != "" || len(p.MetricQueries) == 0 {
		return cwsdk.PutMetricAlarmInput{}, fmt.Errorf("alarm %s: only metric-math alarms (metricQueries) are declared", name)
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	in := cwsdk.PutMetricAlarmInput{
		AlarmName: aws.String(name), AlarmDescription: opt(p.AlarmDescription),
		ComparisonOperator: cwtypes.ComparisonOperator(p.ComparisonOperator), Threshold: p.Threshold,
		EvaluationPeriods: p.EvaluationPeriods, DatapointsToAlarm: p.DatapointsToAlarm,
		TreatMissingData: opt(p.TreatMissingData), ActionsEnabled: p.ActionsEnabled,
	}
	for _, q := range p.MetricQueries {
		mq := cwtypes.MetricDataQuery{Id: aws.String(q.ID), Label: opt(q.Label), Expression: opt(q.Expression), ReturnData: q.ReturnData, Period: q.Period}
		if m := q.Metric; m != nil {
			var dims []cwtypes.Dimension
			keys := make([]string, 0, len(m.Dimensions))
			for k := range m.Dimensions {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				dims = append(dims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(m.Dimensions[k])})
			}
			mq.MetricStat = &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(m.Namespace), MetricName: aws.String(m.MetricName), Dimensions: dims},
				Period: aws.Int32(m.Period), Stat: aws.String(m.Stat),
			}
			if m.Unit != "" {
				mq.MetricStat.Unit = cwtypes.StandardUnit(m.Unit)
			}
		}
		in.Metrics = append(in.Metrics, mq)
	}
	return in, nil
}

func (b *builder) alarms(s *Stack) error {
	watchedBy := map[string]string{}
	var order []string
	for _, g := range s.CodeDeploy.Groups {
		for _, a := range g.Group.AlarmConfiguration.Alarms {
			watchedBy[aws.ToString(a.Name)] = g.Role
			order = append(order, aws.ToString(a.Name))
		}
	}
	tgBySuffix := map[string]string{}
	for _, tg := range s.TargetGroups {
		tgBySuffix[tg.ArnSuffix] = aws.ToString(tg.TargetGroup.TargetGroupArn)
	}
	byName := map[string]Alarm{}
	for _, r := range b.byType[typeMetricAlarm] {
		var p pAlarm
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		def, err := definition(name, p)
		if err != nil {
			return err
		}
		group, ok := watchedBy[name]
		if !ok {
			return fmt.Errorf("alarm %s is watched by no deployment group", name)
		}
		a := Alarm{DeploymentGroup: group, Definition: def}
		for _, q := range def.Metrics {
			if q.MetricStat == nil {
				continue
			}
			for _, d := range q.MetricStat.Metric.Dimensions {
				if aws.ToString(d.Name) == "TargetGroup" {
					a.TargetGroupArn = tgBySuffix[aws.ToString(d.Value)]
				}
			}
		}
		if a.TargetGroupArn == "" {
			return fmt.Errorf("alarm %s reads no target group of the stack (dimension TargetGroup)", name)
		}
		byName[name] = a
	}
	for _, name := range order {
		a, ok := byName[name]
		if !ok {
			return fmt.Errorf("deployment group %s watches alarm %s, which the program does not create", watchedBy[name], name)
		}
		s.Alarms = append(s.Alarms, a)
	}
	return nil
}

type pPipeline struct {
	Name           string `json:"name"`
	PipelineType   string `json:"pipelineType"`
	ExecutionMode  string `json:"executionMode"`
	RoleArn        string `json:"roleArn"`
	ArtifactStores []struct {
		Location string `json:"location"`
		Type     string `json:"type"`
	} `json:"artifactStores"`
	Stages []struct {
		Name    string `json:"name"`
		Actions []struct {
			Name             string            `json:"name"`
			Category         string            `json:"category"`
			Owner            string            `json:"owner"`
			Provider         string            `json:"provider"`
			Version          string            `json:"version"`
			Configuration    map[string]string `json:"configuration"`
			InputArtifacts   []string          `json:"inputArtifacts"`
			OutputArtifacts  []string          `json:"outputArtifacts"`
			RunOrder         *int32            `json:"runOrder"`
			TimeoutInMinutes *int32            `json:"timeoutInMinutes"`
		} `json:"actions"`
	} `json:"stages"`
}

func (b *builder) pipeline(s *Stack) error {
	r, err := b.one(typePipeline)
	if err != nil {
		return err
	}
	var p pPipeline
	if err := decode(r.Inputs, &p); err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	d := cptypes.PipelineDeclaration{
		Name: aws.String(p.Name), RoleArn: aws.String(p.RoleArn), Version: aws.Int32(1),
		PipelineType: cptypes.PipelineType(p.PipelineType), ExecutionMode: cptypes.ExecutionMode(p.ExecutionMode),
	}
	if len(p.ArtifactStores) == 1 {
		d.ArtifactStore = &cptypes.ArtifactStore{Location: aws.String(p.ArtifactStores[0].Location), Type: cptypes.ArtifactStoreType(p.ArtifactStores[0].Type)}
	}
	var bucket, key string
	for _, st := range p.Stages {
		stage := cptypes.StageDeclaration{Name: aws.String(st.Name)}
		for _, a := range st.Actions {
			act := cptypes.ActionDeclaration{
				Name: aws.String(a.Name),
				ActionTypeId: &cptypes.ActionTypeId{
					Category: cptypes.ActionCategory(a.Category), Owner: cptypes.ActionOwner(a.Owner),
					Provider: aws.String(a.Provider), Version: aws.String(a.Version),
				},
				Configuration: a.Configuration, RunOrder: a.RunOrder, TimeoutInMinutes: a.TimeoutInMinutes,
			}
			// CodePipeline's default run order is 1 (CodePipeline
			// pipeline structure reference, runOrder,
			// https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-pipeline-structure.html).
			if act.RunOrder == nil {
				act.RunOrder = aws.Int32(1)
			}
			for _, n := range a.InputArtifacts {
				act.InputArtifacts = append(act.InputArtifacts, cptypes.InputArtifact{Name: aws.String(n)})
			}
			for _, n := range a.OutputArtifacts {
				act.OutputArtifacts = append(act.OutputArtifacts, cptypes.OutputArtifact{Name: aws.String(n)})
			}
			if a.Provider == "S3" && a.Category == "Source" {
				bucket, key = a.Configuration["S3Bucket"], a.Configuration["S3ObjectKey"]
			}
			stage.Actions = append(stage.Actions, act)
		}
		d.Stages = append(d.Stages, stage)
	}
	s.Pipeline = Pipeline{Arn: r.out("arn"), Declaration: d}
	if key == "" {
		return fmt.Errorf("pipeline %s has no S3 source action: no deploy bundle", p.Name)
	}
	bundle, err := b.bundle(bucket, key)
	if err != nil {
		return err
	}
	s.Pipeline.Bundle = bundle
	raw, ok := bundle["taskdef.json"]
	if !ok {
		return fmt.Errorf("deploy bundle s3://%s/%s has no taskdef.json", bucket, key)
	}
	if err := strictDecode([]byte(raw), &s.ECS.DeployTaskDefinition); err != nil {
		return fmt.Errorf("deploy bundle taskdef.json: %w", err)
	}
	return nil
}

// bundle unzips the bucket object the pipeline's S3 source reads.
func (b *builder) bundle(bucket, key string) (map[string]string, error) {
	for _, r := range b.byType[typeBucketObject] {
		var p struct {
			Bucket        string `json:"bucket"`
			Key           string `json:"key"`
			ContentBase64 string `json:"contentBase64"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		if p.Key != key {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(p.ContentBase64)
		if err != nil {
			return nil, fmt.Errorf("deploy bundle s3://%s/%s: %w", bucket, key, err)
		}
		z, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return nil, fmt.Errorf("deploy bundle s3://%s/%s: %w", bucket, key, err)
		}
		files := map[string]string{}
		for _, f := range z.File {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			files[f.Name] = string(data)
		}
		return files, nil
	}
	return nil, fmt.Errorf("the pipeline's bundle s3://%s/%s is no object the program uploads", bucket, key)
}

func (b *builder) functions(s *Stack) error {
	hookOf := map[string]contract.Hook{}
	for h, name := range b.in.Outputs.HookFunctionNames {
		hookOf[name] = contract.Hook(h)
	}
	type invoke struct{ retries, age int }
	invokes := map[string]invoke{}
	for _, r := range b.byType[typeInvokeConfig] {
		var p struct {
			FunctionName             string `json:"functionName"`
			MaximumRetryAttempts     int    `json:"maximumRetryAttempts"`
			MaximumEventAgeInSeconds int    `json:"maximumEventAgeInSeconds"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		invokes[p.FunctionName] = invoke{p.MaximumRetryAttempts, p.MaximumEventAgeInSeconds}
	}
	for _, r := range b.byType[typeFunction] {
		var p struct {
			Name          string   `json:"name"`
			Role          string   `json:"role"`
			Runtime       string   `json:"runtime"`
			Handler       string   `json:"handler"`
			Architectures []string `json:"architectures"`
			Timeout       int      `json:"timeout"`
			MemorySize    int      `json:"memorySize"`
			Environment   struct {
				Variables map[string]string `json:"variables"`
			} `json:"environment"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		hook, ok := hookOf[p.Name]
		if !ok {
			return fmt.Errorf("function %s is no hook of the stack output hookFunctionNames", p.Name)
		}
		inv, ok := invokes[p.Name]
		if !ok {
			return fmt.Errorf("function %s has no asynchronous invocation config", p.Name)
		}
		s.Functions = append(s.Functions, Function{
			Hook: hook, Name: p.Name, Arn: r.out("arn"), Role: p.Role, Runtime: p.Runtime, Handler: p.Handler,
			Architectures: p.Architectures, TimeoutSeconds: p.Timeout, MemoryMB: p.MemorySize, Environment: p.Environment.Variables,
			MaximumRetryAttempts: inv.retries, MaximumEventAgeSeconds: inv.age,
		})
	}
	order := func(h contract.Hook) int {
		if i := slices.Index(contract.Hooks, h); i >= 0 {
			return i
		}
		return len(contract.Hooks)
	}
	sort.Slice(s.Functions, func(i, j int) bool { return order(s.Functions[i].Hook) < order(s.Functions[j].Hook) })
	if len(s.Functions) != len(b.in.Outputs.HookFunctionNames) {
		return fmt.Errorf("stack output hookFunctionNames names %d functions, the program creates %d", len(b.in.Outputs.HookFunctionNames), len(s.Functions))
	}
	return nil
}

func (b *builder) eventRules(s *Stack) error {
	fnByArn := map[string]string{}
	for _, f := range s.Functions {
		fnByArn[f.Arn] = f.Name
	}
	rules := map[string]*EventRule{}
	var names []string
	for _, r := range b.byType[typeEventRule] {
		var p struct {
			Description  string `json:"description"`
			EventPattern string `json:"eventPattern"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		rules[name] = &EventRule{Name: name, Arn: r.out("arn"), Description: p.Description, EventPattern: p.EventPattern}
		names = append(names, name)
	}
	for _, r := range b.byType[typeEventTarget] {
		var p struct {
			Rule    string `json:"rule"`
			Arn     string `json:"arn"`
			RoleArn string `json:"roleArn"`
		}
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		rule, ok := rules[p.Rule]
		if !ok {
			return fmt.Errorf("event target %s is on rule %s, which the program does not create", r.Name, p.Rule)
		}
		t := EventTarget{Arn: p.Arn, RoleArn: p.RoleArn}
		switch {
		case fnByArn[p.Arn] != "":
			t.Function = fnByArn[p.Arn]
		case p.Arn == s.Pipeline.Arn:
			t.Pipeline = aws.ToString(s.Pipeline.Declaration.Name)
		default:
			return fmt.Errorf("event target %s starts %s, neither a hook function nor the pipeline", r.Name, p.Arn)
		}
		rule.Targets = append(rule.Targets, t)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(rules[n].Targets) == 0 {
			return fmt.Errorf("event rule %s has no target", n)
		}
		s.EventRules = append(s.EventRules, *rules[n])
	}
	return nil
}
