package dataplane

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/alb"
)

func TestResponseTimeStatistics(t *testing.T) {
	times := []float64{0.5, 0.1, 0.4, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9, 1.0}
	for _, tc := range []struct {
		stat string
		want float64
	}{
		{"Average", 0.55},
		{"p50", 0.5},
		{"p90", 0.9},
		{"p99", 1.0},
		{"p100", 1.0},
		{"p10", 0.1},
		{"p0.01", 0.1},
		{"p95.5", 1.0},
	} {
		f, err := parseStatistic(tc.stat)
		require.NoError(t, err, tc.stat)
		assert.InDelta(t, tc.want, f(times), 1e-9, tc.stat)
		assert.Zero(t, f(nil), "%s of a minute without responses", tc.stat)
	}
	for _, stat := range []string{"", "p0", "p101", "p99.999", "P99", "Sum", "pNaN", "p1e1", "tm90"} {
		_, err := parseStatistic(stat)
		assert.ErrorContains(t, err, "want Average or a percentile", "%q", stat)
	}
}

func TestTargetsIsTheMostRegisteredInTheMinute(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	history := []regEvent{{at(10), 1}, {at(20), 2}, {at(70), 1}, {at(200), 0}}
	for _, tc := range []struct {
		minute, want int
	}{
		{0, 2}, // rose to 2 within the minute
		{1, 2}, // 2 at the start, then 1
		{2, 1},
		{3, 1}, // 1 until 200 s, in minute 3
		{4, 0},
	} {
		from := t0.Add(time.Duration(tc.minute) * time.Minute)
		assert.Equal(t, tc.want, maxRegistered(history, from, from.Add(time.Minute)), "minute %d", tc.minute)
	}
	assert.Zero(t, maxRegistered(nil, t0, t0.Add(time.Minute)))
}

func TestClockRunsFasterByItsFactor(t *testing.T) {
	c, err := NewClock(60)
	require.NoError(t, err)
	assert.Equal(t, c.Origin(), c.Origin().Truncate(time.Minute), "minute 0 is a whole minute")
	assert.Equal(t, time.Second, c.Wall(time.Minute))
	assert.Equal(t, 0, c.Minute(c.Origin().Add(59*time.Second)))
	assert.Equal(t, 2, c.Minute(c.Origin().Add(2*time.Minute)))
	assert.InDelta(t, 60.0, SpeedForMinute(time.Second), 1e-9)
	before := c.Now()
	time.Sleep(20 * time.Millisecond)
	assert.GreaterOrEqual(t, c.Now().Sub(before), 60*20*time.Millisecond, "20 ms of wall time is at least 1.2 s of rehearsal time")
	for _, bad := range []float64{0, 0.5, -1, MaxSpeed + 1} {
		_, err := NewClock(bad)
		assert.ErrorContains(t, err, "want a factor from 1", "%v", bad)
	}
}

func TestHealthCheckComesFromTheDeclaredTargetGroup(t *testing.T) {
	hc, err := HealthCheck(group(tgBlue, "latest", 0))
	require.NoError(t, err)
	assert.Equal(t, alb.HealthCheck{Path: "/healthz", Interval: 10 * time.Second, Timeout: 5 * time.Second,
		HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, Matcher: "200"}, hc)

	for name, edit := range map[string]func(*elbtypes.TargetGroup){
		"HealthCheckEnabled false":    func(g *elbtypes.TargetGroup) { g.HealthCheckEnabled = aws.Bool(false) },
		`HealthCheckProtocol "HTTPS"`: func(g *elbtypes.TargetGroup) { g.HealthCheckProtocol = elbtypes.ProtocolEnumHttps },
		`HealthCheckPort "9000"`:      func(g *elbtypes.TargetGroup) { g.HealthCheckPort = aws.String("9000") },
	} {
		g := group(tgBlue, "latest", 0)
		edit(&g.TargetGroup)
		_, err := HealthCheck(g)
		assert.ErrorContains(t, err, name)
	}
}

func TestContainerEnvironmentIsTheTaskDefinitions(t *testing.T) {
	c := ecstypes.ContainerDefinition{Environment: []ecstypes.KeyValuePair{
		{Name: aws.String("TENANT_MATCH"), Value: aws.String("header")},
		{Name: aws.String("HEALTH_CHECK_PATH"), Value: aws.String("/ready")},
	}}
	assert.Equal(t, map[string]string{"TENANT_MATCH": "header", "HEALTH_CHECK_PATH": "/ready"}, ContainerEnvironment(c))
}
