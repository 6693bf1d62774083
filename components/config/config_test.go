package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lookupFrom(values map[string]string) Lookup {
	return func(key string) (string, bool) {
		v, ok := values[key]
		return v, ok
	}
}

func problemsOf(t *testing.T, values map[string]string) Problems {
	t.Helper()
	_, err := Load(lookupFrom(values))
	if err == nil {
		return nil
	}
	var ps Problems
	require.True(t, errors.As(err, &ps), "error is a Problems: %v", err)
	return ps
}

func keysOf(ps Problems) []string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key
	}
	return keys
}

func TestEmptyStackGetsTheDefaults(t *testing.T) {
	cfg, err := Load(lookupFrom(nil))
	require.NoError(t, err)
	assert.Equal(t, Defaults(), cfg)
	assert.Empty(t, Validate(Defaults()), "the defaults are valid")
}

func TestPartialObjectsKeepTheOtherDefaults(t *testing.T) {
	cfg, err := Load(lookupFrom(map[string]string{
		"traffic": `{"percentage": 50, "intervalMinutes": 2}`,
		"service": `{"port": 9000}`,
	}))
	require.NoError(t, err)
	assert.Equal(t, Traffic{Type: TrafficCanary, Percentage: 50, IntervalMinutes: 2, TerminationWaitMinutes: 5}, cfg.Traffic)
	assert.Equal(t, 9000, cfg.Service.Port)
	assert.Equal(t, 256, cfg.Service.Cpu)
	assert.Equal(t, "/healthz", cfg.Service.HealthCheckPath)
}

func TestTenantMatchTypeBringsItsOwnDefaults(t *testing.T) {
	cfg, err := Load(lookupFrom(map[string]string{"tenantMatch": `{"type": "header"}`}))
	require.NoError(t, err)
	assert.Equal(t, TenantMatch{Type: MatchHeader, Pattern: "{tenant}", Name: DefaultTenantHeader}, cfg.TenantMatch)
}

// Every bad input names its key, shows the value, and says what is allowed.
func TestBadConfigNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]string
		key    string
		value  string
	}{
		{"empty tenant", map[string]string{"pinnedTenants": `["a", ""]`}, "pinnedTenants[1]", `""`},
		{"duplicate tenant", map[string]string{"pinnedTenants": `["a", "b", "a"]`}, "pinnedTenants[2]", `"a"`},
		{"duplicate tenant by case with header matching", map[string]string{"pinnedTenants": `["Acme", "acme"]`, "tenantMatch": `{"type":"header"}`}, "pinnedTenants[1]", `"acme"`},
		{"wildcard in tenant", map[string]string{"pinnedTenants": `["a*"]`}, "pinnedTenants[0]", `"a*"`},
		{"slash in tenant", map[string]string{"pinnedTenants": `["a/b"]`}, "pinnedTenants[0]", `"a/b"`},
		{"space in tenant", map[string]string{"pinnedTenants": `["a b"]`}, "pinnedTenants[0]", `"a b"`},
		{"tenant too long", map[string]string{"pinnedTenants": fmt.Sprintf(`[%q]`, strings.Repeat("x", 65))}, "pinnedTenants[0]", strings.Repeat("x", 65)},
		{"underscore in host tenant", map[string]string{"pinnedTenants": `["a_b"]`, "tenantMatch": `{"type":"host","pattern":"{tenant}.example.com"}`}, "pinnedTenants[0]", `"a_b"`},
		{"allow-list exceeds the rule quota", map[string]string{"pinnedTenants": tenantList(148)}, "pinnedTenants", "148 tenants"},
		{"tenants not a list", map[string]string{"pinnedTenants": `"123"`}, "pinnedTenants", `"123"`},
		{"unknown match type", map[string]string{"tenantMatch": `{"type":"cookie"}`}, "tenantMatch.type", `"cookie"`},
		{"pattern without placeholder", map[string]string{"tenantMatch": `{"type":"path","pattern":"/app/"}`}, "tenantMatch.pattern", `"/app/"`},
		{"pattern with two placeholders", map[string]string{"tenantMatch": `{"type":"path","pattern":"/{tenant}/{tenant}"}`}, "tenantMatch.pattern", `"/{tenant}/{tenant}"`},
		{"wildcard in pattern", map[string]string{"tenantMatch": `{"type":"host","pattern":"{tenant}.*.example.com"}`}, "tenantMatch.pattern", `"{tenant}.*.example.com"`},
		{"host matching without pattern", map[string]string{"tenantMatch": `{"type":"host"}`}, "tenantMatch.pattern", `""`},
		{"bad header name", map[string]string{"tenantMatch": `{"type":"header","name":"X Tenant"}`}, "tenantMatch.name", `"X Tenant"`},
		{"host header", map[string]string{"tenantMatch": `{"type":"header","name":"Host"}`}, "tenantMatch.name", `"Host"`},
		{"unknown field (typo)", map[string]string{"traffic": `{"percentge": 10}`}, "traffic", "percentge"},
		{"percentage 0", map[string]string{"traffic": `{"percentage": 0}`}, "traffic.percentage", "0"},
		{"percentage 100", map[string]string{"traffic": `{"type":"linear","percentage": 100}`}, "traffic.percentage", "100"},
		{"interval 0", map[string]string{"traffic": `{"intervalMinutes": 0}`}, "traffic.intervalMinutes", "0"},
		{"linear plan longer than the action timeout", map[string]string{"traffic": `{"type":"linear","percentage":1,"intervalMinutes":73}`}, "traffic", "intervalMinutes: 73"},
		{"shift and termination wait together past the action timeout", map[string]string{"traffic": `{"intervalMinutes":4400,"terminationWaitMinutes":2800}`}, "traffic", "terminationWaitMinutes: 2800"},
		{"unknown onReject", map[string]string{"approval": `{"onReject":"ignore"}`}, "approval.onReject", `"ignore"`},
		{"unknown traffic type", map[string]string{"traffic": `{"type":"blue-green"}`}, "traffic.type", `"blue-green"`},
		{"termination wait too long", map[string]string{"traffic": `{"terminationWaitMinutes": 3000}`}, "traffic.terminationWaitMinutes", "3000"},
		{"bad e-mail", map[string]string{"approval": `{"required":true,"notifyEmails":["not-an-address"]}`}, "approval.notifyEmails[0]", `"not-an-address"`},
		{"approval timeout too short", map[string]string{"approval": `{"required":true,"timeoutMinutes":1}`}, "approval.timeoutMinutes", "1"},
		{"5xx threshold 0", map[string]string{"rollback": `{"max5xxPercent": 0}`}, "rollback.max5xxPercent", "0"},
		{"5xx threshold no share exceeds", map[string]string{"rollback": `{"max5xxPercent": 100}`}, "rollback.max5xxPercent", "100"},
		{"alarm looking back more than a day", map[string]string{"rollback": `{"periodSeconds": 3600, "evaluationPeriods": 23}`}, "rollback.evaluationPeriods", "23"},
		{"period not a whole minute", map[string]string{"rollback": `{"periodSeconds": 45}`}, "rollback.periodSeconds", "45"},
		{"period shorter than the ALB's metric interval", map[string]string{"rollback": `{"periodSeconds": 30}`}, "rollback.periodSeconds", "30"},
		{"latency above the idle timeout", map[string]string{"rollback": `{"maxLatencyMs": 60001}`}, "rollback.maxLatencyMs", "60001"},
		{"negative latency", map[string]string{"rollback": `{"maxLatencyMs": -1}`}, "rollback.maxLatencyMs", "-1"},
		{"percentile not a statistic", map[string]string{"rollback": `{"latencyPercentile": "99"}`}, "rollback.latencyPercentile", `"99"`},
		{"percentile below p50", map[string]string{"rollback": `{"latencyPercentile": "p10"}`}, "rollback.latencyPercentile", `"p10"`},
		{"percentile with too many decimals", map[string]string{"rollback": `{"latencyPercentile": "p99.999"}`}, "rollback.latencyPercentile", `"p99.999"`},
		{"unhealthy threshold that never fires", map[string]string{"rollback": `{"maxUnhealthyTargets": 2}`}, "rollback.maxUnhealthyTargets", "2"},
		{"negative unhealthy threshold", map[string]string{"rollback": `{"maxUnhealthyTargets": -1}`}, "rollback.maxUnhealthyTargets", "-1"},
		{"negative connection errors", map[string]string{"rollback": `{"maxConnectionErrors": -1}`}, "rollback.maxConnectionErrors", "-1"},
		{"smoke test without NAT", map[string]string{"smokeTest": `{"enabled": true}`, "network": `{"nat": "none"}`}, "smokeTest.enabled", `network.nat is "none"`},
		{"smoke path not absolute", map[string]string{"smokeTest": `{"paths": ["healthz"]}`}, "smokeTest.paths[0]", `"healthz"`},
		{"smoke path with a fragment", map[string]string{"smokeTest": `{"paths": ["/a#b"]}`}, "smokeTest.paths[0]", `"/a#b"`},
		{"smoke path with a space", map[string]string{"smokeTest": `{"paths": ["/a b"]}`}, "smokeTest.paths[0]", `"/a b"`},
		{"smoke status not HTTP", map[string]string{"smokeTest": `{"expectStatus": 99}`}, "smokeTest.expectStatus", "99"},
		{"smoke tenant with a slash", map[string]string{"smokeTest": `{"tenant": "a/b"}`}, "smokeTest.tenant", `"a/b"`},
		{"smoke tenant with underscore on host matching", map[string]string{"smokeTest": `{"tenant": "a_b"}`, "tenantMatch": `{"type":"host","pattern":"{tenant}.example.com"}`}, "smokeTest.tenant", `"a_b"`},
		{"no smoke requests", map[string]string{"smokeTest": `{"requests": 0}`}, "smokeTest.requests", "0"},
		{"smoke timeout too long", map[string]string{"smokeTest": `{"timeoutSeconds": 61}`}, "smokeTest.timeoutSeconds", "61"},
		{"smoke test longer than the hook may run", map[string]string{"smokeTest": `{"paths": ["/a","/b","/c"], "requests": 10, "timeoutSeconds": 10}`}, "smokeTest.requests", "3 × 10 × 10"},
		{"smoke test typo", map[string]string{"smokeTest": `{"enable": true}`}, "smokeTest", "enable"},
		{"header name the ALB drops", map[string]string{"tenantMatch": `{"type":"header","name":"X_Tenant_Id"}`}, "tenantMatch.name", `"X_Tenant_Id"`},
		{"cpu Fargate lacks", map[string]string{"service": `{"cpu": 300}`}, "service.cpu", "300"},
		{"memory that does not pair with cpu", map[string]string{"service": `{"cpu": 256, "memory": 4096}`}, "service.memory", "4096"},
		{"memory off the step", map[string]string{"service": `{"cpu": 8192, "memory": 18432}`}, "service.memory", "18432"},
		{"port 0", map[string]string{"service": `{"port": 0}`}, "service.port", "0"},
		{"port too high", map[string]string{"service": `{"port": 70000}`}, "service.port", "70000"},
		{"health path not a path", map[string]string{"service": `{"healthCheckPath": "healthz"}`}, "service.healthCheckPath", `"healthz"`},
		{"health path needing quotes", map[string]string{"service": `{"healthCheckPath": "/a;rm -rf"}`}, "service.healthCheckPath", `"/a;rm -rf"`},
		{"zero latest tasks", map[string]string{"service": `{"latestCount": 0}`}, "service.latestCount", "0"},
		{"retention CloudWatch lacks", map[string]string{"service": `{"logRetentionDays": 10}`}, "service.logRetentionDays", "10"},
		{"unknown NAT strategy", map[string]string{"network": `{"nat": "two"}`}, "network.nat", `"two"`},
		{"one AZ", map[string]string{"network": `{"availabilityZones": 1}`}, "network.availabilityZones", "1"},
		{"malformed certificate ARN", map[string]string{"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}, "certificateArn", "server-certificate"},
		{"certificate not an ARN", map[string]string{"certificateArn": "my-cert"}, "certificateArn", "my-cert"},
		{"bad image tag", map[string]string{"imageTag": "-v2"}, "imageTag", "-v2"},
		{"rule quota below ALB's default", map[string]string{"albRuleQuota": "50"}, "albRuleQuota", "50"},
		{"rule quota not a number", map[string]string{"albRuleQuota": `"many"`}, "albRuleQuota", "many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, tc.values)
			require.NotEmpty(t, ps, "config %v must be rejected", tc.values)
			var found *Problem
			for i := range ps {
				if ps[i].Key == tc.key {
					found = &ps[i]
				}
			}
			require.NotNil(t, found, "a problem names %s; got %v", tc.key, keysOf(ps))
			assert.Contains(t, found.String(), tc.value, "the message shows the bad value")
			assert.NotEmpty(t, found.Allowed, "the message says what is allowed")
			assert.Contains(t, ps.Error(), "tenant-canary:"+tc.key)
		})
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	ps := problemsOf(t, map[string]string{
		"pinnedTenants": `["ok", "", "ok"]`,
		"traffic":       `{"percentage": 0}`,
		"service":       `{"cpu": 256, "memory": 4096, "port": 0}`,
		"network":       `{"nat": "two"}`,
	})
	assert.ElementsMatch(t, []string{
		"pinnedTenants[1]", "pinnedTenants[2]", "traffic.percentage",
		"service.memory", "service.port", "network.nat",
	}, keysOf(ps))
	assert.Contains(t, ps.Error(), "6 problem(s)")
}

func TestValidEdgeConfigsAreAccepted(t *testing.T) {
	for name, values := range map[string]map[string]string{
		"largest path allow-list":  {"pinnedTenants": tenantList(147)},
		"raised quota":             {"pinnedTenants": tenantList(300), "albRuleQuota": "250"},
		"header matching":          {"tenantMatch": `{"type":"header","name":"X-Org"}`, "pinnedTenants": `["Acme","b"]`},
		"host matching":            {"tenantMatch": `{"type":"host","pattern":"{tenant}.saas.example.com"}`, "pinnedTenants": `["acme","eu-1"]`},
		"all-at-once":              {"traffic": `{"type":"all-at-once"}`},
		"linear":                   {"traffic": `{"type":"linear","percentage":10,"intervalMinutes":3}`},
		"largest Fargate task":     {"service": `{"cpu":16384,"memory":122880}`},
		"https":                    {"certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"},
		"no NAT":                   {"network": `{"nat":"none","availabilityZones":3}`},
		"approval with timeout":    {"approval": `{"required":true,"notifyEmails":["oncall@example.com"],"timeoutMinutes":60}`},
		"no approval":              {"approval": `{"required":false}`},
		"hold on rejection":        {"approval": `{"onReject":"hold"}`},
		"longest deployment":       {"traffic": `{"intervalMinutes":4309,"terminationWaitMinutes":2880}`},
		"health check on the root": {"service": `{"healthCheckPath":"/"}`},
		"latency alarm off":        {"rollback": `{"maxLatencyMs":0}`},
		"tight rollback":           {"rollback": `{"maxLatencyMs":250,"latencyPercentile":"p99.9","maxUnhealthyTargets":2,"maxConnectionErrors":5}`, "service": `{"latestCount":3,"stableCount":3}`},
		"smoke test everything": {"smokeTest": `{"enabled":true,"paths":["/healthz","/version?x=1"],"expectStatus":204,"expectBody":"ok","tenant":"acme","requests":5,"timeoutSeconds":3}`,
			"network": `{"nat":"one-per-az"}`},
		"smoke test on host matching": {"smokeTest": `{"enabled":true,"tenant":"eu-1"}`, "tenantMatch": `{"type":"host","pattern":"{tenant}.saas.example.com"}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(lookupFrom(values))
			assert.NoError(t, err)
		})
	}
}

// One deployment must end inside CodePipeline's 5-day action timeout: the
// limit is reached by the shift and the termination wait together, and the
// one message names both keys, their values and the limit.
func TestDeploymentMustFitTheActionTimeout(t *testing.T) {
	fits := Traffic{Type: TrafficCanary, Percentage: 10, IntervalMinutes: DeployActionTimeoutMinutes - PinHookMinutes - MaxTerminationWaitMinutes - 1, TerminationWaitMinutes: MaxTerminationWaitMinutes}
	assert.Equal(t, DeployActionTimeoutMinutes-1, DeploymentMinutes(fits))
	assert.Empty(t, Validate(withTraffic(fits)))
	tooLong := fits
	tooLong.IntervalMinutes++
	ps := Validate(withTraffic(tooLong))
	require.Len(t, ps, 1)
	msg := ps[0].String()
	for _, want := range []string{"tenant-canary:traffic", "traffic.intervalMinutes", "traffic.terminationWaitMinutes", "7200", "2880 min", "10 min"} {
		assert.Contains(t, msg, want)
	}
	// The shift alone, as before, is caught too.
	linear := Traffic{Type: TrafficLinear, Percentage: 1, IntervalMinutes: 73}
	require.Len(t, Validate(withTraffic(linear)), 1)
}

func withTraffic(t Traffic) Config {
	c := Defaults()
	c.Traffic = t
	return c
}

func TestShiftMinutes(t *testing.T) {
	assert.Equal(t, 5, ShiftMinutes(Traffic{Type: TrafficCanary, Percentage: 10, IntervalMinutes: 5}))
	assert.Equal(t, 27, ShiftMinutes(Traffic{Type: TrafficLinear, Percentage: 10, IntervalMinutes: 3}))
	assert.Equal(t, 6, ShiftMinutes(Traffic{Type: TrafficLinear, Percentage: 30, IntervalMinutes: 2}), "30,60,90,100: three waits")
	assert.Equal(t, 0, ShiftMinutes(Traffic{Type: TrafficAllAtOnce}))
}

func tenantList(n int) string {
	tenants := make([]string, n)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("t%d", i)
	}
	b, _ := json.Marshal(tenants)
	return string(b)
}

func TestSmokePathsDefaultToTheHealthCheckPath(t *testing.T) {
	cfg, err := Load(lookupFrom(map[string]string{"smokeTest": `{"enabled":true}`, "service": `{"healthCheckPath":"/ready"}`}))
	require.NoError(t, err)
	assert.Equal(t, []string{}, cfg.SmokeTest.Paths)
	assert.Equal(t, []string{"/ready"}, cfg.SmokePaths())
	cfg, err = Load(lookupFrom(map[string]string{"smokeTest": `{"paths":["/a","/b"]}`}))
	require.NoError(t, err)
	assert.Equal(t, []string{"/a", "/b"}, cfg.SmokePaths())
	assert.False(t, cfg.SmokeTest.Enabled, "off by default")
	assert.Equal(t, DefaultMaxLatencyMs, cfg.Rollback.MaxLatencyMs, "the latency alarm is on by default")
}
