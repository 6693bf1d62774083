package alb

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWildcardMatchesAsALBDefinesStarAndQuestionMark(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold, want bool
	}{
		{"/app/12", "/app/12", false, true},
		{"/app/12", "/app/123", false, false},
		{"/app/12/*", "/app/12/x/y", false, true},
		{"/app/12/*", "/app/12/", false, true},
		{"/app/12/*", "/app/12", false, false},
		{"/app/1?", "/app/12", false, true},
		{"/app/1?", "/app/1", false, false},
		{"/app/1?", "/app/123", false, false},
		{"*", "", false, true},
		{"", "", false, true},
		{"", "/", false, false},
		{"/img/*/pics", "/img/a/b/pics", false, true},
		{"/img/*/pics", "/img/a/b/pics/x", false, false},
		{"*a*b*c", "xaxbxbxc", false, true},
		{"*a*b*c", "xaxcxb", false, false},
		{"/App/12", "/app/12", false, false}, // path patterns are case-sensitive
		{"*.Example.COM", "acme.example.com", true, true},
		{"*.example.com", "example.com", true, false}, // AWS's own example
		{"AC?E", "acme", true, true},
		{"acme", "acm", true, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, wildcardMatch(tc.pattern, tc.s, tc.fold), "pattern %q, %q, fold %v", tc.pattern, tc.s, tc.fold)
	}
}

func TestRequestIsHandledByTheLowestPriorityMatchingRuleElseTheDefault(t *testing.T) {
	fwd := forwardTo("tg")
	// In no particular order, as DescribeRules may list them.
	rules := []types.Rule{
		rule("shadowed", 40, fwd, pathIs("/shadowed")),
		defaultRule(fwd),
		rule("tenant-12", 10, fwd, pathIs("/app/12", "/app/12/*")),
		rule("tenant-host", 11, fwd, hostIs("*.tenants.example.com")),
		rule("tenant-header", 12, fwd, headerIs("X-Tenant", "ac?e", "globex")),
		rule("and", 13, fwd, pathIs("/both"), headerIs("X-Both", "yes")),
		rule("method", 14, fwd, methodIs("PUT")),
		{RuleArn: aws.String("legacy-values"), Priority: aws.String("15"), Actions: fwd, Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/legacy"}}}},
		rule("catch-all", 30, fwd, pathIs("/*")),
	}
	tests := []struct {
		name, method, target string
		header               []string
		want                 string
	}{
		{"lowest priority wins over the catch-all", "GET", "/app/12", nil, "tenant-12"},
		{"a higher priority loses even when listed first", "GET", "/shadowed", nil, "catch-all"},
		{"values are ORed", "GET", "/app/12/orders", nil, "tenant-12"},
		{"a longer tenant id is another tenant", "GET", "/app/123", nil, "catch-all"},
		{"path is case-sensitive", "GET", "/APP/12", nil, "catch-all"},
		{"query string is not part of the path", "GET", "/app/12?next=/other", nil, "tenant-12"},
		{"query string cannot make a path match", "GET", "/x?p=/app/12", nil, "catch-all"},
		{"host is case-insensitive and its port ignored", "GET", "http://ACME.Tenants.Example.com:8080/y", nil, "tenant-host"},
		{"*. needs a subdomain", "GET", "http://tenants.example.com/y", nil, "catch-all"},
		{"header name and value are case-insensitive", "GET", "/y", []string{"x-tenant", "ACME"}, "tenant-header"},
		{"a repeated header is searched in order", "GET", "/y", []string{"X-Tenant", "initech", "X-Tenant", "globex"}, "tenant-header"},
		{"conditions are ANDed: both hold", "GET", "/both", []string{"X-Both", "yes"}, "and"},
		{"conditions are ANDed: one fails", "GET", "/both", nil, "catch-all"},
		{"method is exact", "PUT", "/y", nil, "method"},
		{"older Values field", "GET", "/legacy", nil, "legacy-values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for i := 0; i < len(tc.header); i += 2 {
				r.Header.Add(tc.header[i], tc.header[i+1])
			}
			got, err := selectRule(rules, r)
			require.NoError(t, err)
			assert.Equal(t, tc.want, *got.RuleArn)
		})
	}

	t.Run("no rule matches: the default rule", func(t *testing.T) {
		got, err := selectRule([]types.Rule{rule("tenant-12", 10, fwd, pathIs("/app/12")), defaultRule(fwd)}, httptest.NewRequest("GET", "/other", nil))
		require.NoError(t, err)
		assert.Equal(t, "default", *got.RuleArn)
	})
	require.NoError(t, ValidateRules(rules))
}

func TestRulesTheLocalALBCannotEvaluateAreRefusedWithTheReason(t *testing.T) {
	fwd := forwardTo("tg")
	tests := []struct {
		name string
		rule types.Rule
		want string
	}{
		{"bad priority", types.Rule{RuleArn: aws.String("r"), Priority: aws.String("first"), Actions: fwd, Conditions: []types.RuleCondition{pathIs("/*")}}, `priority "first": want an integer from 1 to 50000`},
		{"query-string", rule("r", 1, fwd, types.RuleCondition{Field: aws.String("query-string")}), `condition "query-string": the local ALB evaluates`},
		{"regex", rule("r", 1, fwd, types.RuleCondition{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{RegexValues: []string{"^/a$"}}}), "matches wildcard Values only"},
		{"empty values", rule("r", 1, fwd, pathIs()), "no values"},
		{"no conditions", rule("r", 1, fwd), "no conditions"},
		{"header without name", rule("r", 1, fwd, types.RuleCondition{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{Values: []string{"x"}}}), "HttpHeaderName is required"},
		{"redirect", rule("r", 1, []types.Action{{Type: types.ActionTypeEnumRedirect}}, pathIs("/*")), `action "redirect": the local ALB performs forward actions only`},
		{"weight above 999", rule("r", 1, weightedForward([]string{"a", "b"}, []int32{1000, 1}), pathIs("/*")), "weight 1000: want 0 to 999"},
		{"two actions", rule("r", 1, append(forwardTo("a"), forwardTo("b")...), pathIs("/*")), "2 actions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := []types.Rule{tc.rule, defaultRule(fwd)}
			err := ValidateRules(rules)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "rule r")
			assert.Contains(t, err.Error(), tc.want)

			lb, err := New(Options{Rules: func() []types.Rule { return rules }})
			require.NoError(t, err)
			w := get(lb, "/anything")
			assert.Equal(t, http.StatusInternalServerError, w.Code)
			assert.Contains(t, w.Body.String(), tc.want)
		})
	}

	err := ValidateRules([]types.Rule{rule("r", 1, fwd, pathIs("/*"))})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "0 default rules"), err.Error())
}
