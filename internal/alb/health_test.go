package alb

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// healthWorld is one target group with one backend, on a fake clock.
func healthWorld(t *testing.T, hc HealthCheck) (*LoadBalancer, *fakeClock, *backend) {
	clock := newFakeClock()
	b := newBackend(t, "app")
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", hc))
	require.NoError(t, lb.RegisterTargets("tg", b.target(t)))
	return lb, clock, b
}

func TestTargetHealthFollowsTheThresholds(t *testing.T) {
	lb, clock, b := healthWorld(t, HealthCheck{Path: "/health", Interval: 10 * time.Second, HealthyThresholdCount: 3, UnhealthyThresholdCount: 2})
	addr := b.Listener.Addr().String()
	require.Equal(t, map[string]string{addr: "initial Elb.InitialHealthChecking"}, healthOf(t, lb, "tg"), "registered, not yet checked")

	steps := []struct {
		answer int
		want   string
	}{
		{200, "healthy"}, // a new target needs one passed check
		{500, "healthy"}, // one failure is below UnhealthyThresholdCount
		{500, "unhealthy Target.ResponseCodeMismatch"},
		{200, "unhealthy Target.ResponseCodeMismatch"},
		{200, "unhealthy Target.ResponseCodeMismatch"}, // two passes, threshold is three
		{200, "healthy"},
		{500, "healthy"},
		{200, "healthy"}, // a pass resets the failures
		{500, "healthy"},
	}
	for i, s := range steps {
		b.healthStatus.Store(int32(s.answer))
		lb.CheckHealth(context.Background())
		assert.Equal(t, map[string]string{addr: s.want}, healthOf(t, lb, "tg"), "after check %d (answered %d)", i+1, s.answer)
		clock.Advance(10 * time.Second)
	}
	assert.EqualValues(t, len(steps), b.healthChecks.Load(), "one check per interval")

	b.healthStatus.Store(503)
	lb.CheckHealth(context.Background())
	descs, err := lb.DescribeTargetHealth("tg")
	require.NoError(t, err)
	assert.Equal(t, "Health checks failed with these codes: [503]", aws.ToString(descs[0].TargetHealth.Description))
}

func TestChecksRunOncePerIntervalOfTheClock(t *testing.T) {
	lb, clock, b := healthWorld(t, fastChecks)
	lb.CheckHealth(context.Background())
	lb.CheckHealth(context.Background())
	clock.Advance(4 * time.Second)
	lb.CheckHealth(context.Background())
	assert.EqualValues(t, 1, b.healthChecks.Load(), "the next check is due 5 s after the first")

	clock.Advance(1 * time.Second)
	lb.CheckHealth(context.Background())
	assert.EqualValues(t, 2, b.healthChecks.Load())

	clock.Advance(3 * fastChecks.Interval) // the clock jumped: the missed checks run
	lb.CheckHealth(context.Background())
	assert.EqualValues(t, 5, b.healthChecks.Load())
}

func TestTheOtherReadingKeepsANewTargetInitialUntilTheHealthyThreshold(t *testing.T) {
	hc := fastChecks
	hc.HealthyThresholdCount = 3
	hc.InitialNeedsHealthyThreshold = true
	lb, clock, b := healthWorld(t, hc)
	addr := b.Listener.Addr().String()
	for _, want := range []string{"initial Elb.InitialHealthChecking", "initial Elb.InitialHealthChecking", "healthy"} {
		lb.CheckHealth(context.Background())
		assert.Equal(t, map[string]string{addr: want}, healthOf(t, lb, "tg"))
		clock.Advance(hc.Interval)
	}
}

func TestNewTargetThatNeverAnswersBecomesUnhealthy(t *testing.T) {
	clock := newFakeClock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, closed)))

	for _, want := range []string{"initial Elb.InitialHealthChecking", "unhealthy Target.FailedHealthChecks"} {
		lb.CheckHealth(context.Background())
		assert.Equal(t, map[string]string{closed: want}, healthOf(t, lb, "tg"))
		clock.Advance(fastChecks.Interval)
	}
}

// slowOnTheClock checks, rounds times, one target that answers 6 s later on
// the load balancer's clock (the timeout is 5 s) after sleeping wallSleep,
// under the given HealthCheckSlack; it returns the target's address and
// the group's health.
func slowOnTheClock(t *testing.T, slack, wallSleep time.Duration, rounds int) (string, map[string]string) {
	clock := newFakeClock()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(6 * time.Second)
		time.Sleep(wallSleep)
	}))
	t.Cleanup(slow.Close)
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb, err := New(Options{Rules: rules.get, Clock: clock, Rand: rand.New(rand.NewPCG(1, 2)), HealthCheckSlack: slack})
	require.NoError(t, err)
	hc := fastChecks
	hc.Interval = 30 * time.Second
	require.NoError(t, lb.AddTargetGroup("tg", hc))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, slow.Listener.Addr().String())))
	for range rounds {
		lb.CheckHealth(context.Background())
		clock.Advance(hc.Interval)
	}
	return slow.Listener.Addr().String(), healthOf(t, lb, "tg")
}

func TestHealthCheckAnsweredAfterTheTimeoutOnTheClockFails(t *testing.T) {
	addr, health := slowOnTheClock(t, 0, 0, 2)
	assert.Equal(t, map[string]string{addr: "unhealthy Target.Timeout"}, health)
}

// A sped-up clock that overruns the timeout while the wall clock stays
// within HealthCheckSlack is the machine's load, not the target: the check
// passes. Past the slack on the wall clock too, it fails as before.
func TestHealthCheckSlackForgivesAClockOverrunOnlyWithinIt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sleep time.Duration // wall time the target takes
		want  string
	}{
		{"answered within the slack", 0, "healthy"},
		{"answered after the slack", 600 * time.Millisecond, "unhealthy Target.Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, health := slowOnTheClock(t, 500*time.Millisecond, tc.sleep, 5)
			assert.Equal(t, map[string]string{addr: tc.want}, health)
		})
	}
}

func TestTargetGroupNoRuleForwardsToIsUnusedAndNotChecked(t *testing.T) {
	clock := newFakeClock()
	b := newBackend(t, "app")
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("other")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("other", fastChecks))
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", b.target(t)))

	lb.CheckHealth(context.Background())
	assert.Equal(t, map[string]string{b.Listener.Addr().String(): "unused Target.NotInUse"}, healthOf(t, lb, "tg"))
	assert.Zero(t, b.healthChecks.Load())

	// A forward with weight 0 still associates the group with the rule.
	rules.set(defaultRule(weightedForward([]string{"other", "tg"}, []int32{100, 0})))
	lb.CheckHealth(context.Background())
	assert.Equal(t, map[string]string{b.Listener.Addr().String(): "healthy"}, healthOf(t, lb, "tg"))
}

func TestDeregisteredTargetIsGoneAtOnce(t *testing.T) {
	lb, _, b := healthWorld(t, fastChecks)
	lb.CheckHealth(context.Background())
	require.NoError(t, lb.DeregisterTargets("tg", b.target(t)))
	assert.Empty(t, healthOf(t, lb, "tg"))
	assert.Equal(t, http.StatusServiceUnavailable, get(lb, "/").Code)
}

func TestBadHealthCheckSettingsNameTheKeyTheValueAndTheRange(t *testing.T) {
	tests := []struct {
		hc   HealthCheck
		want string
	}{
		{HealthCheck{Path: "health"}, `HealthCheckPath "health": want a path starting with /`},
		{HealthCheck{Interval: 2 * time.Second}, "HealthCheckIntervalSeconds 2s: want whole seconds from 5 to 300"},
		{HealthCheck{Timeout: 121 * time.Second}, "HealthCheckTimeoutSeconds 2m1s: want whole seconds from 2 to 120"},
		{HealthCheck{HealthyThresholdCount: 11}, "HealthyThresholdCount 11: want 2 to 10"},
		{HealthCheck{UnhealthyThresholdCount: 1}, "UnhealthyThresholdCount 1: want 2 to 10"},
		{HealthCheck{Matcher: "500"}, `Matcher "500": want codes from 200 to 499`},
		{HealthCheck{Matcher: "299-200"}, `Matcher "299-200"`},
	}
	lb := newLB(t, &ruleSet{}, newFakeClock())
	for _, tc := range tests {
		err := lb.AddTargetGroup("tg", tc.hc)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), "target group tg health check: "+tc.want)
	}
	require.NoError(t, lb.AddTargetGroup("tg", HealthCheck{Matcher: "200-299,302"}))
	assert.ErrorContains(t, lb.AddTargetGroup("tg", HealthCheck{}), "target group tg already exists")
}

func TestMatcherRangesDecideSuccess(t *testing.T) {
	lb, clock, b := healthWorld(t, HealthCheck{Path: "/health", Interval: 5 * time.Second, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, Matcher: "200-299,302"})
	addr := b.Listener.Addr().String()
	for _, step := range []struct {
		code int32
		want string
	}{{302, "healthy"}, {404, "healthy"}, {404, "unhealthy Target.ResponseCodeMismatch"}, {204, "unhealthy Target.ResponseCodeMismatch"}, {204, "healthy"}} {
		b.healthStatus.Store(step.code)
		lb.CheckHealth(context.Background())
		assert.Equal(t, map[string]string{addr: step.want}, healthOf(t, lb, "tg"), "answered %d", step.code)
		clock.Advance(5 * time.Second)
	}
}

// fastForward is a clock that runs 1000 times faster than the wall clock,
// as a rehearsal's clock does.
type fastForward struct{ start time.Time }

func (c fastForward) Now() time.Time { return c.start.Add(1000 * time.Since(c.start)) }

func TestStartedLoadBalancerChecksHealthInTheBackground(t *testing.T) {
	good, bad := newBackend(t, "good"), newBackend(t, "bad")
	bad.healthStatus.Store(http.StatusInternalServerError)
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, fastForward{start: time.Now()})
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", good.target(t), bad.target(t)))
	url, err := lb.Start(0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lb.Close() })

	want := map[string]string{
		good.Listener.Addr().String(): "healthy",
		bad.Listener.Addr().String():  "unhealthy Target.ResponseCodeMismatch",
	}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, healthOf(t, lb, "tg")) }, 10*time.Second, 10*time.Millisecond)
	for range 4 {
		resp, err := http.Get(url + "/")
		require.NoError(t, err)
		assert.Equal(t, "good", resp.Header.Get("X-Target"))
		_ = resp.Body.Close()
	}
	require.NoError(t, lb.Close())
	checks := good.healthChecks.Load()
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, checks, good.healthChecks.Load(), "no health check after Close")
}
