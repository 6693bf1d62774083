package declared

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/components/routing"
)

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
