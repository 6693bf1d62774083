package alb

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Pages this file follows:
const (
	listenerRulesPage  = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html"
	conditionTypesPage = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html"
	actionTypesPage    = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html"
)

// Condition fields, as the API spells them.
const (
	fieldPath   = "path-pattern"
	fieldHost   = "host-header"
	fieldHeader = "http-header"
	fieldMethod = "http-request-method"
)

// maxWeight is the largest target group weight of a forward action: "Each
// target group weight is a value from 0 to 999" (actionTypesPage, Forward
// actions; the SDK's TargetGroupTuple says the same).
const maxWeight = 999

// weightedGroup is one target group of a forward action.
type weightedGroup struct {
	arn    string
	weight int
}

// ValidateRules reports every rule the local ALB cannot evaluate, with the
// rule, the value and what is allowed, or nil. Routing reports the same
// errors for the rules it evaluates, so a caller that validates after each
// change learns of a bad rule before a request meets it.
func ValidateRules(rules []types.Rule) error {
	var problems []string
	defaults := 0
	for i := range rules {
		rule := &rules[i]
		if aws.ToBool(rule.IsDefault) {
			defaults++
		} else if _, err := priority(rule); err != nil {
			problems = append(problems, err.Error())
		} else if len(rule.Conditions) == 0 {
			problems = append(problems, errNoConditions(rule).Error())
		}
		for _, c := range rule.Conditions {
			if _, _, _, err := conditionValues(rule, c); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if _, err := forwardGroups(rule); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if defaults != 1 {
		problems = append(problems, fmt.Sprintf("listener has %d default rules; a listener has exactly one (%s)", defaults, listenerRulesPage))
	}
	if len(problems) > 0 {
		return fmt.Errorf("listener rules: %s", strings.Join(problems, "; "))
	}
	return nil
}

// selectRule is the rule that handles r: "Rules are evaluated in priority
// order, from the lowest value to the highest value. The default rule is
// evaluated last" (listenerRulesPage). The first rule by priority whose
// conditions all hold is the matching rule with the lowest priority, so one
// pass finds it, skipping the conditions of rules that could not win.
func selectRule(rules []types.Rule, r *http.Request) (*types.Rule, error) {
	var best, fallback *types.Rule
	bestPriority := math.MaxInt
	for i := range rules {
		rule := &rules[i]
		if aws.ToBool(rule.IsDefault) {
			fallback = rule
			continue
		}
		p, err := priority(rule)
		if err != nil {
			return nil, err
		}
		if p >= bestPriority {
			continue
		}
		ok, err := ruleMatches(rule, r)
		if err != nil {
			return nil, err
		}
		if ok {
			best, bestPriority = rule, p
		}
	}
	if best != nil {
		return best, nil
	}
	if fallback == nil {
		return nil, fmt.Errorf("no rule matches and the listener has no default rule (%s)", listenerRulesPage)
	}
	return fallback, nil
}

// priority parses a rule's priority as DescribeRules reports it: a string
// holding 1–50000.
func priority(rule *types.Rule) (int, error) {
	s := aws.ToString(rule.Priority)
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 50000 {
		return 0, fmt.Errorf("rule %s: priority %q: want an integer from 1 to 50000", ruleName(rule), s)
	}
	return p, nil
}

func ruleName(rule *types.Rule) string {
	if rule.RuleArn != nil {
		return *rule.RuleArn
	}
	return "with priority " + strconv.Quote(aws.ToString(rule.Priority))
}

// ruleMatches: "When the conditions for a rule are met, then its actions are
// performed" — every condition must hold (conditions are ANDed), and a
// condition holds when one of its values matches (values are ORed):
// "The condition is satisfied if one of the strings matches"
// (conditionTypesPage).
func ruleMatches(rule *types.Rule, r *http.Request) (bool, error) {
	if len(rule.Conditions) == 0 {
		return false, errNoConditions(rule)
	}
	for _, c := range rule.Conditions {
		ok, err := conditionHolds(rule, c, r)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func errNoConditions(rule *types.Rule) error {
	return fmt.Errorf("rule %s: no conditions; only the default rule has none (%s)", ruleName(rule), listenerRulesPage)
}

func conditionHolds(rule *types.Rule, c types.RuleCondition, r *http.Request) (bool, error) {
	field, header, values, err := conditionValues(rule, c)
	if err != nil {
		return false, err
	}
	switch field {
	case fieldPath:
		// "The path pattern is applied only to the path of the URL, not to
		// its query parameters" and "A path pattern is case-sensitive"
		// (conditionTypesPage, Path conditions). The pages do not say
		// whether the path is percent-decoded first; it is matched as sent.
		return anyMatches(values, r.URL.EscapedPath(), false), nil
	case fieldHost:
		// "A hostname is not case-sensitive" (Host conditions). A hostname
		// pattern cannot hold ':', so the port of a Host header is not part
		// of what is matched.
		return anyMatches(values, hostname(r.Host), true), nil
	case fieldHeader:
		// "The header name and the match evaluation are not
		// case-sensitive"; "If the same header appears multiple times in the
		// request, we search them in order until a match is found"
		// (HTTP header conditions; SDK HttpHeaderConditionConfig).
		for _, v := range r.Header.Values(header) {
			if anyMatches(values, v, true) {
				return true, nil
			}
		}
		return false, nil
	default: // fieldMethod: "The match evaluation is case-sensitive.
		// Wildcard characters are not supported" (HTTP request method
		// conditions).
		for _, v := range values {
			if v == r.Method {
				return true, nil
			}
		}
		return false, nil
	}
}

// conditionValues reads a condition as the API allows it to be written: the
// *Config field of its type, or for host-header and path-pattern the older
// top-level Values.
func conditionValues(rule *types.Rule, c types.RuleCondition) (field, header string, values []string, err error) {
	field = aws.ToString(c.Field)
	bad := func(format string, args ...any) (string, string, []string, error) {
		return "", "", nil, fmt.Errorf("rule %s: condition %q: %s", ruleName(rule), field, fmt.Sprintf(format, args...))
	}
	var regex []string
	switch field {
	case fieldPath:
		values = c.Values
		if c.PathPatternConfig != nil {
			values, regex = c.PathPatternConfig.Values, c.PathPatternConfig.RegexValues
		}
	case fieldHost:
		values = c.Values
		if c.HostHeaderConfig != nil {
			values, regex = c.HostHeaderConfig.Values, c.HostHeaderConfig.RegexValues
		}
	case fieldHeader:
		if c.HttpHeaderConfig == nil || aws.ToString(c.HttpHeaderConfig.HttpHeaderName) == "" {
			return bad("HttpHeaderConfig with an HttpHeaderName is required")
		}
		header = *c.HttpHeaderConfig.HttpHeaderName
		values, regex = c.HttpHeaderConfig.Values, c.HttpHeaderConfig.RegexValues
	case fieldMethod:
		if c.HttpRequestMethodConfig != nil {
			values = c.HttpRequestMethodConfig.Values
		}
	default:
		return bad("the local ALB evaluates %s, %s, %s and %s conditions only", fieldPath, fieldHost, fieldHeader, fieldMethod)
	}
	if len(regex) > 0 {
		return bad("RegexValues %q: the local ALB matches wildcard Values only", regex)
	}
	if len(values) == 0 {
		return bad("no values; \"the value for a condition can't be empty\" (%s)", conditionTypesPage)
	}
	return field, header, values, nil
}

func anyMatches(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where "* (matches 0 or
// more characters)" and "? (matches exactly 1 character)"
// (conditionTypesPage). fold makes ASCII letters match either case. Rules
// apply to visible ASCII, so a character is a byte here. It backtracks only
// to the last '*', which is enough for glob patterns and linear in practice.
func wildcardMatch(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || sameByte(pattern[p], s[i], fold)):
			p++
			i++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func sameByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	if 'A' <= a && a <= 'Z' {
		a += 'a' - 'A'
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}

// hostname is the Host header without its port.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// forwardGroups reads the rule's one action. "Each rule must include exactly
// one of the following actions: forward, redirect, or fixed-response"
// (listenerRulesPage); the local ALB performs forward, and returns its
// weighted target groups.
func forwardGroups(rule *types.Rule) ([]weightedGroup, error) {
	bad := func(format string, args ...any) ([]weightedGroup, error) {
		return nil, fmt.Errorf("rule %s: %s", ruleName(rule), fmt.Sprintf(format, args...))
	}
	if len(rule.Actions) != 1 {
		return bad("%d actions: the local ALB performs rules with exactly one action, a forward", len(rule.Actions))
	}
	a := rule.Actions[0]
	if a.Type != types.ActionTypeEnumForward {
		return bad("action %q: the local ALB performs forward actions only", a.Type)
	}
	if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) == 0 {
		if aws.ToString(a.TargetGroupArn) == "" {
			return bad("forward action names no target group")
		}
		return []weightedGroup{{arn: *a.TargetGroupArn, weight: 1}}, nil
	}
	var groups []weightedGroup
	for _, g := range a.ForwardConfig.TargetGroups {
		w := 1 // a lone target group needs no weight
		if g.Weight != nil {
			w = int(*g.Weight)
		}
		if w < 0 || w > maxWeight {
			return bad("target group %s: weight %d: want 0 to %d (%s)", aws.ToString(g.TargetGroupArn), w, maxWeight, actionTypesPage)
		}
		if aws.ToString(g.TargetGroupArn) == "" {
			return bad("forward action with a target group without TargetGroupArn")
		}
		groups = append(groups, weightedGroup{arn: *g.TargetGroupArn, weight: w})
	}
	return groups, nil
}

// pickGroup chooses a target group by weight: "Requests that match a listener
// rule with weighted target groups are distributed to these target groups
// based on their weights" (actionTypesPage), so a weight of 0 is never
// chosen. When every weight is 0 nothing can be chosen (false); the pages do
// not say what ALB does then, and the caller answers 503, the safe reading.
func pickGroup(groups []weightedGroup, intN func(int) int) (string, bool) {
	total := 0
	for _, g := range groups {
		total += g.weight
	}
	if total == 0 {
		return "", false
	}
	n := intN(total)
	for _, g := range groups {
		if n < g.weight {
			return g.arn, true
		}
		n -= g.weight
	}
	panic("unreachable: n < total")
}
