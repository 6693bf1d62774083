package alb

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsAreRecordedPerTargetGroupPerMinuteOfTheClock(t *testing.T) {
	clock := newFakeClock() // 12:00:30
	var status atomic.Int32
	status.Store(200)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(int(status.Load()))
			return
		}
		clock.Advance(250 * time.Millisecond)
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, "hi")
	}))
	t.Cleanup(app.Close)
	other := newBackend(t, "other")
	rules := &ruleSet{}
	rules.set(rule("tenant", 1, forwardTo("stable"), pathIs("/app/12")), defaultRule(forwardTo("latest")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("latest", fastChecks))
	require.NoError(t, lb.AddTargetGroup("stable", fastChecks))
	require.NoError(t, lb.RegisterTargets("latest", describe(t, app.Listener.Addr().String())))
	require.NoError(t, lb.RegisterTargets("stable", other.target(t)))

	// Minute 12:00: healthy, two good requests and one 5xx on latest, one
	// request on stable.
	lb.CheckHealth(context.Background())
	get(lb, "/a")
	get(lb, "/b")
	status.Store(503)
	get(lb, "/c")
	get(lb, "/app/12")
	// Minute 12:01: the checks missed since 12:00:35 pass, then the
	// target fails two checks and turns unhealthy.
	status.Store(200)
	clock.Advance(30 * time.Second) // 12:01:00.75
	lb.CheckHealth(context.Background())
	status.Store(503)
	for range 2 {
		clock.Advance(fastChecks.Interval)
		lb.CheckHealth(context.Background())
	}
	get(lb, "/d")

	m := lb.Metrics()
	minute0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	minute1 := minute0.Add(time.Minute)
	assert.Equal(t, []Minute{
		{
			Start: minute0, RequestCount: 3, HTTPCodeTarget5XXCount: 1,
			TargetResponseTime: []float64{0.25, 0.25, 0.25},
			HealthSamples:      1, HealthyHostCountMin: 1, HealthyHostCountMax: 1,
		},
		{
			Start: minute1, RequestCount: 1, HTTPCodeTarget5XXCount: 1,
			TargetResponseTime: []float64{0.25},
			HealthSamples:      3, HealthyHostCountMin: 0, HealthyHostCountMax: 1,
			UnHealthyHostCountMin: 0, UnHealthyHostCountMax: 1,
		},
	}, m.TargetGroups["latest"])
	require.Len(t, m.TargetGroups["stable"], 2)
	assert.Equal(t, 1, m.TargetGroups["stable"][0].RequestCount)
	assert.Equal(t, 0, m.TargetGroups["stable"][1].RequestCount, "minute 12:01 holds only stable's health samples")
	assert.Equal(t, 3, m.TargetGroups["stable"][1].HealthSamples)

	m.TargetGroups["latest"][0].TargetResponseTime[0] = 99
	assert.Equal(t, 0.25, lb.Metrics().TargetGroups["latest"][0].TargetResponseTime[0], "a snapshot is a copy")
}
