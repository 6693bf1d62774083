package routing

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// request is what an ALB rule condition looks at.
type request struct {
	path    string
	host    string
	headers map[string]string
}

// globMatch applies ALB wildcard semantics: '*' matches zero or more
// characters, '?' exactly one, everything else literally.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && globMatch(pattern[1:], s[1:])
	default:
		return s != "" && s[0] == pattern[0] && globMatch(pattern[1:], s[1:])
	}
}

// conditionMatches evaluates one condition as the ALB does: path patterns
// are case-sensitive, host and header values are not, values are ORed.
func conditionMatches(c Condition, r request) bool {
	for _, v := range c.Values {
		switch c.Field {
		case FieldPathPattern:
			if globMatch(v, r.path) {
				return true
			}
		case FieldHostHeader:
			if globMatch(strings.ToLower(v), strings.ToLower(r.host)) {
				return true
			}
		case FieldHTTPHeader:
			for name, value := range r.headers {
				if strings.EqualFold(name, c.HeaderName) && globMatch(strings.ToLower(v), strings.ToLower(value)) {
					return true
				}
			}
		}
	}
	return false
}

type evalRule struct {
	priority  int
	condition Condition
	target    string
}

// route returns the target of the first matching rule in priority order,
// or "default" (the listener's default action).
func route(rules []evalRule, r request) string {
	sorted := append([]evalRule(nil), rules...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].priority < sorted[j].priority })
	for _, rule := range sorted {
		if conditionMatches(rule.condition, r) {
			return rule.target
		}
	}
	return "default"
}

// listenerRules is the listener as the program builds it, with the
// catch-all at the given priority.
func listenerRules(tenantRules []TenantRule, catchAllPriority int) []evalRule {
	rules := []evalRule{
		{priority: catchAllPriority, condition: CatchAllCondition(), target: "latest"},
		{priority: AnchorPriority, condition: AnchorCondition("tenant-canary", "dev"), target: "anchor"},
	}
	for _, r := range tenantRules {
		rules = append(rules, evalRule{priority: r.Priority, condition: r.Condition, target: "stable"})
	}
	return rules
}

func requestFor(m Match, tenant, suffix string) request {
	switch m.Type {
	case TypeHeader:
		return request{path: "/" + strings.TrimPrefix(suffix, "/"), headers: map[string]string{m.Name: tenant}}
	case TypeHost:
		return request{path: "/" + strings.TrimPrefix(suffix, "/"), host: strings.Replace(m.Pattern, Placeholder, tenant, 1)}
	default:
		return request{path: strings.Replace(m.Pattern, Placeholder, tenant, 1) + suffix}
	}
}

var (
	pathMatch   = Match{Type: TypePath, Pattern: "/app/{tenant}"}
	headerMatch = Match{Type: TypeHeader, Pattern: "{tenant}", Name: "X-Tenant-Id"}
	hostMatch   = Match{Type: TypeHost, Pattern: "{tenant}.example.com"}
)

func TestPinnedTenantNeverMatchesLongerTenantID(t *testing.T) {
	rules, err := PlanTenantRules([]string{"12"}, pathMatch, 100)
	require.NoError(t, err)
	pinned := listenerRules(rules, CatchAllPriorityPinned)

	for _, path := range []string{"/app/12", "/app/12/", "/app/12/x", "/app/12/x/y"} {
		assert.Equal(t, "stable", route(pinned, request{path: path}), path)
	}
	for _, path := range []string{"/app/123", "/app/123/x", "/app/1", "/app/12x", "/app/12.json", "/App/12", "/", "/app/"} {
		assert.Equal(t, "latest", route(pinned, request{path: path}), path)
	}
}

// The property the whole design rests on: while pinned, each pinned
// tenant's requests (and only theirs) hit tenant rules; in steady state,
// nobody's do.
func TestOnlyPinnedTenantsReachStable(t *testing.T) {
	pinned := []string{"12", "123", "acme", "Acme.EU", "a_b", "a-b", "x.y", "7"}
	unpinned := []string{"1", "1234", "acm", "acme2", "b_a", "x", "y", "a", "acme.eu.x"}
	for _, m := range []Match{pathMatch, headerMatch, hostMatch} {
		t.Run(m.Type, func(t *testing.T) {
			tenants := pinned
			if m.Type == TypeHost {
				tenants = []string{"12", "123", "acme", "a-b", "x.y", "7"} // no '_' in host names
			}
			rules, err := PlanTenantRules(tenants, m, 100)
			require.NoError(t, err)
			for _, priority := range []int{CatchAllPriorityPinned, CatchAllPriorityUnpinned} {
				listener := listenerRules(rules, priority)
				want := "stable"
				if priority == CatchAllPriorityUnpinned {
					want = "latest"
				}
				for _, tenant := range tenants {
					for _, suffix := range []string{"", "/", "/orders/9"} {
						r := requestFor(m, tenant, suffix)
						assert.Equal(t, want, route(listener, r), "pinned tenant %q %+v", tenant, r)
					}
				}
				for _, tenant := range unpinned {
					r := requestFor(m, tenant, "/orders/9")
					assert.Equal(t, "latest", route(listener, r), "unpinned tenant %q %+v", tenant, r)
				}
				assert.Equal(t, "latest", route(listener, request{path: "/"}), "untenanted traffic")
			}
		})
	}
}

func TestPathMatchingIsCaseSensitiveHostAndHeaderAreNot(t *testing.T) {
	pathRules, err := PlanTenantRules([]string{"acme"}, pathMatch, 100)
	require.NoError(t, err)
	assert.Equal(t, "latest", route(listenerRules(pathRules, CatchAllPriorityPinned), request{path: "/app/ACME"}))

	hostRules, err := PlanTenantRules([]string{"acme"}, hostMatch, 100)
	require.NoError(t, err)
	assert.Equal(t, "stable", route(listenerRules(hostRules, CatchAllPriorityPinned), request{path: "/", host: "ACME.example.com"}))
}

func TestPackingRespectsALBLimitsAndWastesNoRule(t *testing.T) {
	for _, m := range []Match{pathMatch, headerMatch, hostMatch} {
		for _, n := range []int{0, 1, 2, 3, 4, 7, 50, MaxTenants(m, 100)} {
			t.Run(fmt.Sprintf("%s/%d", m.Type, n), func(t *testing.T) {
				tenants := make([]string, n)
				for i := range tenants {
					tenants[i] = fmt.Sprintf("t%d", i)
				}
				rules, err := PlanTenantRules(tenants, m, 100)
				require.NoError(t, err)
				values := n * m.ValuesPerTenant()
				assert.Len(t, rules, (values+MaxValuesPerCondition-1)/MaxValuesPerCondition, "exactly ⌈values/%d⌉ rules", MaxValuesPerCondition)
				total := 0
				for i, r := range rules {
					assert.Equal(t, FirstTenantRulePriority+i, r.Priority)
					assert.LessOrEqual(t, len(r.Condition.Values), MaxValuesPerCondition)
					assert.Greater(t, r.Priority, CatchAllPriorityUnpinned)
					assert.Less(t, r.Priority, CatchAllPriorityPinned)
					assert.Equal(t, m.Field(), r.Condition.Field)
					wildcards := 0
					for _, v := range r.Condition.Values {
						wildcards += strings.Count(v, "*") + strings.Count(v, "?")
					}
					assert.LessOrEqual(t, wildcards, MaxWildcardsPerRule)
					total += len(r.Condition.Values)
				}
				assert.Equal(t, values, total, "every value placed once")
			})
		}
	}
}

func TestTooManyTenantsIsAClearError(t *testing.T) {
	for _, tc := range []struct {
		m     Match
		quota int
		max   int
	}{
		{pathMatch, 100, 147}, // 98 rules × 3 values ÷ 2 values per tenant
		{headerMatch, 100, 294},
		{hostMatch, 100, 294},
		{pathMatch, 200, 297},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.m.Type, tc.quota), func(t *testing.T) {
			assert.Equal(t, tc.max, MaxTenants(tc.m, tc.quota))
			tenants := make([]string, tc.max+1)
			for i := range tenants {
				tenants[i] = fmt.Sprintf("t%d", i)
			}
			_, err := PlanTenantRules(tenants[:tc.max], tc.m, tc.quota)
			require.NoError(t, err, "the maximum fits")
			_, err = PlanTenantRules(tenants, tc.m, tc.quota)
			var tooMany *TooManyTenantsError
			require.ErrorAs(t, err, &tooMany)
			assert.Contains(t, err.Error(), fmt.Sprintf("at most %d tenants fit", tc.max))
			assert.Contains(t, err.Error(), "albRuleQuota")
		})
	}
}

func TestPlanIsDeterministicAndAppendingTouchesOnlyTheTail(t *testing.T) {
	base := []string{"a", "b", "c", "d", "e"}
	for _, m := range []Match{pathMatch, headerMatch} {
		first, err := PlanTenantRules(base, m, 100)
		require.NoError(t, err)
		again, err := PlanTenantRules(base, m, 100)
		require.NoError(t, err)
		assert.Equal(t, first, again)

		grown, err := PlanTenantRules(append(append([]string{}, base...), "f"), m, 100)
		require.NoError(t, err)
		full := len(base) * m.ValuesPerTenant() / MaxValuesPerCondition // rules already full before the append
		assert.Equal(t, first[:full], grown[:full], "full rules keep their priority and values")
	}
}

func TestRandomAllowListsRouteExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab1-_."
	for round := 0; round < 200; round++ {
		seen := map[string]bool{}
		var tenants []string
		for len(tenants) < 1+rng.IntN(10) {
			b := make([]byte, 1+rng.IntN(3))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			if !seen[string(b)] {
				seen[string(b)] = true
				tenants = append(tenants, string(b))
			}
		}
		rules, err := PlanTenantRules(tenants, pathMatch, 100)
		require.NoError(t, err)
		listener := listenerRules(rules, CatchAllPriorityPinned)
		for i := 0; i < 30; i++ {
			b := make([]byte, 1+rng.IntN(4))
			for j := range b {
				b[j] = alphabet[rng.IntN(len(alphabet))]
			}
			want := "latest"
			if seen[string(b)] {
				want = "stable"
			}
			assert.Equal(t, want, route(listener, request{path: "/app/" + string(b) + "/x"}), "tenants %q, request for %q", tenants, b)
		}
	}
}

func TestValuesForEachMatchType(t *testing.T) {
	assert.Equal(t, []string{"/app/12", "/app/12/*"}, pathMatch.Values("12"))
	assert.Equal(t, []string{"12"}, headerMatch.Values("12"))
	assert.Equal(t, []string{"12.example.com"}, hostMatch.Values("12"))
	assert.Equal(t, FieldHTTPHeader, headerMatch.Field())
	rules, err := PlanTenantRules([]string{"12"}, headerMatch, 100)
	require.NoError(t, err)
	assert.Equal(t, "X-Tenant-Id", rules[0].Condition.HeaderName)
}

func TestAnchorSitsBetweenTheCatchAllAndTheTenantRulesAndMatchesNoRealRequest(t *testing.T) {
	assert.Greater(t, AnchorPriority, CatchAllPriorityUnpinned)
	assert.Less(t, AnchorPriority, FirstTenantRulePriority)
	c := AnchorCondition("tenant-canary", "dev")
	assert.Equal(t, Condition{Field: FieldHostHeader, Values: []string{"dev.tenant-canary.tenant-canary-anchor.invalid"}}, c)
	long := AnchorCondition(strings.Repeat("P", 90), "org/Prod_EU")
	require.Len(t, long.Values, 1)
	assert.Equal(t, "org-prod-eu."+strings.Repeat("p", 30)+".tenant-canary-anchor.invalid", long.Values[0])
	assert.LessOrEqual(t, len(long.Values[0]), MaxValueLength)
	assert.NotContains(t, long.Values[0], "*")
	assert.NotEqual(t, AnchorCondition("p", "dev").Values, AnchorCondition("p", "prod").Values, "one per stack")
	// Whatever the match type and wherever the catch-all sits, tenants and
	// untenanted traffic never reach the anchor.
	for _, m := range []Match{pathMatch, headerMatch, hostMatch} {
		tenantRules, err := PlanTenantRules([]string{"acme", "12"}, m, 100)
		require.NoError(t, err)
		for _, priority := range []int{CatchAllPriorityUnpinned, CatchAllPriorityPinned} {
			for _, r := range []request{requestFor(m, "acme", "/x"), requestFor(m, "other", "/"), {path: "/"}, {path: "/", host: "example.com"}} {
				assert.NotEqual(t, "anchor", route(listenerRules(tenantRules, priority), r), "%s %+v", m.Type, r)
			}
		}
	}
}
