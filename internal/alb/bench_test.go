package alb

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// hundredRules is a listener at ALB's default quota of 100 rules: 99 tenant
// rules (path and header conditions, five values each) and a catch-all at the
// lowest priority, in shuffled order as DescribeRules may list them, plus the
// default rule.
func hundredRules() []types.Rule {
	var rules []types.Rule
	for i := range 99 {
		var paths []string
		for j := range 5 {
			paths = append(paths, fmt.Sprintf("/app/t%d-%d", i, j))
		}
		rules = append(rules, rule(fmt.Sprintf("tenant-%d", i), i+1, forwardTo("stable"),
			pathIs(paths[:3]...), headerIs("X-Tenant", paths[3:]...)))
	}
	rules = append(rules, rule("catch-all", 100, forwardTo("latest"), pathIs("/*")))
	rnd := rand.New(rand.NewPCG(3, 4))
	rnd.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
	return append(rules, defaultRule(forwardTo("latest")))
}

// BenchmarkRouteThrough100Rules is the routing decision for a request that
// only the catch-all at the lowest priority matches: every rule is read.
func BenchmarkRouteThrough100Rules(b *testing.B) {
	rules := hundredRules()
	r := httptest.NewRequest(http.MethodGet, "/app/unpinned/orders", nil)
	r.Header.Set("X-Tenant", "unpinned")
	for b.Loop() {
		rule, err := selectRule(rules, r)
		if err != nil || *rule.RuleArn != "catch-all" {
			b.Fatalf("routed to %v, %v", rule, err)
		}
		if _, err := forwardGroups(rule); err != nil {
			b.Fatal(err)
		}
	}
}
