// Package routing turns the pinned-tenant allow-list into ALB listener rule
// specs: which condition values recognise a tenant, how they are packed into
// as few rules as the ALB allows, and which priority each rule gets.
//
// It is plain Go with no Pulumi in it; the service component only turns its
// output into resources.
package routing

import (
	"fmt"
	"regexp"
	"strings"
)

// ALB limits that shape the packing. Source: "Listener rules for your
// Application Load Balancer" (docs.aws.amazon.com/elasticloadbalancing/latest/
// application/listener-rules.html): "You can specify up to three comparison
// strings per condition and up to five per rule", at most one host-header or
// path-pattern condition per rule, and at most five wildcards per rule
// ("Quotas for your Application Load Balancers"). Several http-header
// conditions in one rule are ANDed, so a rule can OR at most three tenants'
// values whatever the match type: the per-condition limit is the one that binds.
const (
	MaxValuesPerCondition = 3
	MaxValuesPerRule      = 5
	MaxWildcardsPerRule   = 5
	// MaxValueLength is the longest host, path or header value ALB accepts.
	MaxValueLength = 128
	// MaxHeaderNameLength is the longest http-header condition name.
	MaxHeaderNameLength = 40
)

// Priorities. ALB evaluates rules from the lowest number up and priorities
// are unique per listener in 1–50000. Only the catch-all rule ever moves
// (docs/design.md §4): it sits at CatchAllPriorityUnpinned, above every tenant
// rule, in steady state, and the pin hook moves it to CatchAllPriorityPinned,
// below every tenant rule, for the length of a rollout. Tenant rules keep
// fixed priorities in between, so a tenant added mid-rollout is pinned at once.
//
// AnchorPriority is stable's anchor rule: a permanent rule whose condition
// no real request meets (AnchorCondition), forwarding to stable's target
// group pair, so both of stable's groups are attached to the production
// listener whatever the allow-list holds. It sits between the catch-all's
// unpinned priority and the first tenant rule, so it never moves and no
// tenant rule is renumbered for it.
const (
	CatchAllPriorityUnpinned = 1
	AnchorPriority           = 2
	CatchAllPriorityPinned   = 50000
	FirstTenantRulePriority  = 10
)

// AnchorDomain is the reserved top-level domain of the anchor's host name:
// ".invalid" is guaranteed never to resolve (RFC 2606, section 2), so no
// browser or client sends it as a Host header by accident.
const AnchorDomain = "invalid"

var notHostLabelChars = regexp.MustCompile(`[^a-z0-9-]+`)

// AnchorCondition is the anchor rule's condition: a host-header on a name
// of the reserved .invalid domain, unique per project and stack
// (<stack>.<project>.tenant-canary-anchor.invalid), so it never matches a
// real request. Each label is lowercased, reduced to letters, digits and
// '-' and cut to 30 characters, so the value stays well inside ALB's
// 128-character limit.
func AnchorCondition(project, stack string) Condition {
	label := func(s, fallback string) string {
		s = strings.Trim(notHostLabelChars.ReplaceAllString(strings.ToLower(s), "-"), "-")
		if len(s) > 30 {
			s = strings.Trim(s[:30], "-")
		}
		if s == "" {
			return fallback
		}
		return s
	}
	host := fmt.Sprintf("%s.%s.tenant-canary-anchor.%s", label(stack, "stack"), label(project, "project"), AnchorDomain)
	return Condition{Field: FieldHostHeader, Values: []string{host}}
}

// Match types, as in the stack config's tenantMatch.type.
const (
	TypePath   = "path"
	TypeHeader = "header"
	TypeHost   = "host"
)

// Placeholder is the token a pattern carries once, replaced by a tenant id.
const Placeholder = "{tenant}"

// Match is how the ALB recognises a tenant's requests: the stack config's
// tenantMatch object.
type Match struct {
	// Type is path, header or host.
	Type string `json:"type"`
	// Pattern contains Placeholder once.
	Pattern string `json:"pattern"`
	// Name is the HTTP header carrying the tenant (type header only).
	Name string `json:"name,omitempty"`
}

// ALB condition fields.
const (
	FieldPathPattern = "path-pattern"
	FieldHostHeader  = "host-header"
	FieldHTTPHeader  = "http-header"
)

// Condition is one ALB rule condition.
type Condition struct {
	// Field is path-pattern, host-header or http-header.
	Field string
	// HeaderName is set for http-header conditions.
	HeaderName string
	// Values are ORed by the ALB.
	Values []string
}

// TenantRule is one listener rule that forwards pinned tenants to `stable`.
type TenantRule struct {
	// Priority is fixed for a given index, whatever the allow-list holds.
	Priority int
	// Condition is the rule's single condition.
	Condition Condition
	// Tenants whose values this rule carries (a path tenant's two values
	// may span two rules; it is listed on both).
	Tenants []string
}

// CatchAllCondition matches every request: the catch-all rule routes to
// `latest` whatever the tenant while it sits above the tenant rules.
func CatchAllCondition() Condition {
	return Condition{Field: FieldPathPattern, Values: []string{"/*"}}
}

// Field returns the ALB condition field a match type uses.
func (m Match) Field() string {
	switch m.Type {
	case TypeHeader:
		return FieldHTTPHeader
	case TypeHost:
		return FieldHostHeader
	default:
		return FieldPathPattern
	}
}

// Values returns the condition values that recognise one tenant.
//
// A path tenant gets two: its exact path and everything below it
// (`/app/12` and `/app/12/*`). `/app/12*` would be one value but would also
// match `/app/123`, so it is never used. Header and host tenants get one
// exact value (ALB compares them case-insensitively; config validation
// rejects ids that differ only in case for those types).
func (m Match) Values(tenant string) []string {
	v := strings.Replace(m.Pattern, Placeholder, tenant, 1)
	if m.Type == TypePath || m.Type == "" {
		return []string{v, v + "/*"}
	}
	return []string{v}
}

// ValuesPerTenant is how many condition values one tenant takes.
func (m Match) ValuesPerTenant() int {
	return len(m.Values("t"))
}

// FixedRules are the listener rules that are not tenant rules: the
// catch-all and stable's anchor.
const FixedRules = 2

// TenantRuleBudget is how many tenant rules fit in an ALB rule quota: every
// rule but the catch-all and the anchor. Default rules do not count against
// the quota.
func TenantRuleBudget(ruleQuota int) int {
	return ruleQuota - FixedRules
}

// MaxTenants is the largest allow-list that fits in ruleQuota.
func MaxTenants(m Match, ruleQuota int) int {
	budget := TenantRuleBudget(ruleQuota)
	if budget <= 0 {
		return 0
	}
	return budget * MaxValuesPerCondition / m.ValuesPerTenant()
}

// RulesNeeded is how many tenant rules an allow-list of n tenants takes.
func RulesNeeded(m Match, n int) int {
	values := n * m.ValuesPerTenant()
	return (values + MaxValuesPerCondition - 1) / MaxValuesPerCondition
}

// TooManyTenantsError says that the allow-list cannot fit the rule quota.
type TooManyTenantsError struct {
	Tenants, RulesNeeded, RuleQuota, MaxTenants int
	MatchType                                   string
}

func (e *TooManyTenantsError) Error() string {
	return fmt.Sprintf("%d pinned tenants need %d tenant rules (at most %d condition values per rule, %s matching), "+
		"but an ALB rule quota of %d leaves room for %d (two rules are the catch-all and the anchor): at most %d tenants fit; "+
		"remove tenants, or raise the account's \"Rules per Application Load Balancer\" quota and set albRuleQuota to match",
		e.Tenants, e.RulesNeeded, MaxValuesPerCondition, e.MatchType, e.RuleQuota,
		TenantRuleBudget(e.RuleQuota), e.MaxTenants)
}

// PlanTenantRules packs the allow-list into tenant rules.
//
// Values are taken in allow-list order and cut into rules of
// MaxValuesPerCondition, so the plan is deterministic, appending a tenant
// touches only the last rule (or adds one), and rule i always has priority
// FirstTenantRulePriority+i: nothing unrelated is renumbered. It assumes ids
// were validated (no wildcards, no duplicates) by the config package.
func PlanTenantRules(tenants []string, m Match, ruleQuota int) ([]TenantRule, error) {
	if need := RulesNeeded(m, len(tenants)); need > TenantRuleBudget(ruleQuota) {
		return nil, &TooManyTenantsError{
			Tenants: len(tenants), RulesNeeded: need, RuleQuota: ruleQuota,
			MaxTenants: MaxTenants(m, ruleQuota), MatchType: m.Type,
		}
	}
	var rules []TenantRule
	for _, tenant := range tenants {
		for _, value := range m.Values(tenant) {
			if len(rules) == 0 || len(rules[len(rules)-1].Condition.Values) == MaxValuesPerCondition {
				rules = append(rules, TenantRule{
					Priority:  FirstTenantRulePriority + len(rules),
					Condition: Condition{Field: m.Field(), HeaderName: headerName(m)},
				})
			}
			last := &rules[len(rules)-1]
			last.Condition.Values = append(last.Condition.Values, value)
			if n := len(last.Tenants); n == 0 || last.Tenants[n-1] != tenant {
				last.Tenants = append(last.Tenants, tenant)
			}
		}
	}
	for _, r := range rules {
		if err := checkRuleLimits(r); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

func headerName(m Match) string {
	if m.Type == TypeHeader {
		return m.Name
	}
	return ""
}

// checkRuleLimits is the last guard before a plan reaches AWS: a rule that
// breaks an ALB limit would fail `pulumi up` half-way through the listener.
func checkRuleLimits(r TenantRule) error {
	if len(r.Condition.Values) > MaxValuesPerCondition || len(r.Condition.Values) > MaxValuesPerRule {
		return fmt.Errorf("tenant rule %d has %d condition values; ALB allows %d", r.Priority, len(r.Condition.Values), MaxValuesPerCondition)
	}
	wildcards := 0
	for _, v := range r.Condition.Values {
		wildcards += strings.Count(v, "*") + strings.Count(v, "?")
		if len(v) > MaxValueLength {
			return fmt.Errorf("tenant rule %d: condition value %q is longer than ALB's %d characters", r.Priority, v, MaxValueLength)
		}
	}
	if wildcards > MaxWildcardsPerRule {
		return fmt.Errorf("tenant rule %d has %d wildcards; ALB allows %d", r.Priority, wildcards, MaxWildcardsPerRule)
	}
	return nil
}
