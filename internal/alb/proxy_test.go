package alb

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenerServesOnLoopbackAndProxiesAsALBDoes(t *testing.T) {
	a := newBackend(t, "a")
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg-a")))
	lb := newLB(t, rules, nil)
	require.NoError(t, lb.AddTargetGroup("tg-a", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg-a", a.target(t)))
	url, err := lb.Start(0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lb.Close() })
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, url)

	req, err := http.NewRequest(http.MethodGet, url+"/app/12/orders?page=2", nil)
	require.NoError(t, err)
	req.Host = "acme.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "a", string(body))
	assert.Equal(t, "acme.example.com", resp.Header.Get("X-Seen-Host"), "the Host header reaches the target unchanged")
	assert.Equal(t, "/app/12/orders?page=2", resp.Header.Get("X-Seen-URI"), "the path pattern routes the request, it does not alter it")
	assert.Equal(t, "203.0.113.7, 127.0.0.1", resp.Header.Get("X-Seen-XFF"), "the client address is appended to X-Forwarded-For")
}

func TestRequestsGoRoundRobinToHealthyTargetsOnly(t *testing.T) {
	clock := newFakeClock()
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", a.target(t), b.target(t), c.target(t)))
	b.healthStatus.Store(http.StatusInternalServerError)
	for range 2 { // two failed checks make b unhealthy; one pass makes a and c healthy
		lb.CheckHealth(context.Background())
		clock.Advance(fastChecks.Interval)
	}

	var served []string
	for range 6 {
		served = append(served, get(lb, "/").Body.String())
	}
	assert.Equal(t, []string{"a", "c", "a", "c", "a", "c"}, served)
}

func TestAllTargetsUnhealthyFailsOpenToAllOfThem(t *testing.T) {
	clock := newFakeClock()
	a, b := newBackend(t, "a"), newBackend(t, "b")
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", a.target(t), b.target(t)))
	a.healthStatus.Store(http.StatusServiceUnavailable)
	b.healthStatus.Store(http.StatusServiceUnavailable)
	for range 2 {
		lb.CheckHealth(context.Background())
		clock.Advance(fastChecks.Interval)
	}
	require.Equal(t, map[string]string{
		a.Listener.Addr().String(): "unhealthy Target.ResponseCodeMismatch",
		b.Listener.Addr().String(): "unhealthy Target.ResponseCodeMismatch",
	}, healthOf(t, lb, "tg"))

	seen := map[string]int{}
	for range 4 {
		w := get(lb, "/")
		require.Equal(t, http.StatusOK, w.Code)
		seen[w.Body.String()]++
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 2}, seen)
}

func TestTargetGroupWithoutTargetsIsAnswered503AndCountedAgainstTheLoadBalancer(t *testing.T) {
	clock := newFakeClock()
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("empty")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("empty", fastChecks))

	assert.Equal(t, http.StatusServiceUnavailable, get(lb, "/").Code)
	m := lb.Metrics()
	assert.Empty(t, m.TargetGroups["empty"], "no target was chosen, so no RequestCount")
	require.Len(t, m.LoadBalancer, 1)
	assert.Equal(t, 1, m.LoadBalancer[0].HTTPCodeELB503Count)
}

func TestRefusedConnectionIsA502AndATargetConnectionError(t *testing.T) {
	clock := newFakeClock()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().String()
	require.NoError(t, ln.Close())

	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, closedPort)))

	assert.Equal(t, http.StatusBadGateway, get(lb, "/").Code)
	m := lb.Metrics()
	require.Len(t, m.TargetGroups["tg"], 1)
	got := m.TargetGroups["tg"][0]
	assert.Equal(t, 1, got.RequestCount)
	assert.Equal(t, 1, got.TargetConnectionErrorCount)
	assert.Equal(t, 0, got.HTTPCodeTarget5XXCount, "the 502 is the load balancer's, not the target's")
	assert.Empty(t, got.TargetResponseTime, "no response, no response time")
	require.Len(t, m.LoadBalancer, 1)
	assert.Equal(t, 1, m.LoadBalancer[0].HTTPCodeELB502Count)
}

func TestTargetsOwn5XXIsPassedOnAndCountedAsTheTargets(t *testing.T) {
	clock := newFakeClock()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "boom from the app")
	}))
	t.Cleanup(failing.Close)
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, failing.Listener.Addr().String())))

	w := get(lb, "/")
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.Equal(t, "boom from the app", w.Body.String())
	m := lb.Metrics()
	got := m.TargetGroups["tg"][0]
	assert.Equal(t, 1, got.RequestCount)
	assert.Equal(t, 1, got.HTTPCodeTarget5XXCount)
	assert.Equal(t, 0, got.TargetConnectionErrorCount)
	assert.Len(t, got.TargetResponseTime, 1)
	assert.Empty(t, m.LoadBalancer, "the load balancer answered nothing itself")
}

func TestSlowTargetsResponseTimeIsMeasuredOnTheLoadBalancersClock(t *testing.T) {
	clock := newFakeClock()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.Advance(3 * time.Second) // the app takes 3 s of rehearsal time
		_, _ = io.WriteString(w, "late")
	}))
	t.Cleanup(slow.Close)
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb := newLB(t, rules, clock)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, slow.Listener.Addr().String())))

	assert.Equal(t, "late", get(lb, "/").Body.String())
	assert.Equal(t, []float64{3}, lb.Metrics().TargetGroups["tg"][0].TargetResponseTime)
}

func TestTargetSilentPastTheIdleTimeoutIsA504(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	rules := &ruleSet{}
	rules.set(defaultRule(forwardTo("tg")))
	lb, err := New(Options{Rules: rules.get, IdleTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", describe(t, silent.Listener.Addr().String())))

	assert.Equal(t, http.StatusGatewayTimeout, get(lb, "/").Code)
	m := lb.Metrics()
	assert.Equal(t, 0, m.TargetGroups["tg"][0].TargetConnectionErrorCount, "the connection was established")
	assert.Equal(t, 1, m.LoadBalancer[0].HTTPCodeELB504Count)
}

func TestRuleChangeTakesEffectOnTheNextRequest(t *testing.T) {
	latest, stable := newBackend(t, "latest"), newBackend(t, "stable")
	rules := &ruleSet{}
	catchAll := func(priority int) types.Rule { return rule("catch-all", priority, forwardTo("latest"), pathIs("/*")) }
	tenant := rule("tenant-12", 10, forwardTo("stable"), pathIs("/app/12", "/app/12/*"))
	rules.set(catchAll(1), tenant, defaultRule(forwardTo("latest")))
	lb := newLB(t, rules, newFakeClock())
	for name, b := range map[string]*backend{"latest": latest, "stable": stable} {
		require.NoError(t, lb.AddTargetGroup(name, fastChecks))
		require.NoError(t, lb.RegisterTargets(name, b.target(t)))
	}

	assert.Equal(t, "latest", get(lb, "/app/12").Body.String(), "catch-all above the tenant rule: everyone on latest")
	rules.set(catchAll(20), tenant, defaultRule(forwardTo("latest"))) // the pin hook moves the catch-all down
	assert.Equal(t, "stable", get(lb, "/app/12").Body.String(), "pinned tenant on stable")
	assert.Equal(t, "latest", get(lb, "/app/13").Body.String(), "other tenants stay on latest")
}

func TestWeightedForwardFollowsTheWeightsAndNeverPicksWeightZero(t *testing.T) {
	blue, green, idle := newBackend(t, "blue"), newBackend(t, "green"), newBackend(t, "idle")
	rules := &ruleSet{}
	rules.set(defaultRule(weightedForward([]string{"idle", "blue", "green"}, []int32{0, 90, 10})))
	run := func(seed uint64) []string {
		lb, err := New(Options{Rules: rules.get, Clock: newFakeClock(), Rand: rand.New(rand.NewPCG(seed, seed))})
		require.NoError(t, err)
		for name, b := range map[string]*backend{"blue": blue, "green": green, "idle": idle} {
			require.NoError(t, lb.AddTargetGroup(name, fastChecks))
			require.NoError(t, lb.RegisterTargets(name, b.target(t)))
		}
		var served []string
		for range 1000 {
			served = append(served, get(lb, "/").Body.String())
		}
		return served
	}

	served := run(7)
	count := map[string]int{}
	for _, s := range served {
		count[s]++
	}
	assert.Zero(t, count["idle"], "weight 0 is never chosen")
	// Binomial(1000, 0.1): mean 100, sd ≈ 9.5; the bounds are ±4 sd.
	assert.InDelta(t, 100, count["green"], 38)
	assert.Equal(t, 1000, count["blue"]+count["green"])
	assert.Equal(t, served, run(7), "the same seed gives the same choices")
}

func TestForwardWithEveryWeightZeroIsA503(t *testing.T) {
	a := newBackend(t, "a")
	rules := &ruleSet{}
	rules.set(defaultRule(weightedForward([]string{"tg"}, []int32{0})))
	lb := newLB(t, rules, newFakeClock())
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	require.NoError(t, lb.RegisterTargets("tg", a.target(t)))
	assert.Equal(t, http.StatusServiceUnavailable, get(lb, "/").Code)
}

func TestOnlyLoopbackTargetsCanBeRegistered(t *testing.T) {
	lb := newLB(t, &ruleSet{}, newFakeClock())
	require.NoError(t, lb.AddTargetGroup("tg", fastChecks))
	for _, id := range []string{"10.0.1.17", "example.com", "localhost", ""} {
		err := lb.RegisterTargets("tg", types.TargetDescription{Id: aws.String(id), Port: aws.Int32(8080)})
		require.Error(t, err, id)
		assert.Contains(t, err.Error(), `target Id "`+id+`": want a loopback IP address`)
	}
	err := lb.RegisterTargets("tg", types.TargetDescription{Id: aws.String("127.0.0.1")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "port 0: want 1 to 65535")
	require.NoError(t, lb.RegisterTargets("tg", types.TargetDescription{Id: aws.String("::1"), Port: aws.Int32(8080)}))
	err = lb.RegisterTargets("nope", types.TargetDescription{Id: aws.String("127.0.0.1"), Port: aws.Int32(8080)})
	assert.ErrorContains(t, err, "target group nope not found")
}
