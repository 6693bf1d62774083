package alb

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 6, 12, 0, 30, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ruleSet is a listener's rules that a test can change between requests.
type ruleSet struct {
	mu    sync.Mutex
	rules []types.Rule
}

func (s *ruleSet) get() []types.Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules
}

func (s *ruleSet) set(rules ...types.Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = rules
}

func forwardTo(arn string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}
}

func weightedForward(arns []string, weights []int32) []types.Action {
	var tuples []types.TargetGroupTuple
	for i, arn := range arns {
		tuples = append(tuples, types.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(weights[i])})
	}
	return []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{TargetGroups: tuples}}}
}

func defaultRule(actions []types.Action) types.Rule {
	return types.Rule{RuleArn: aws.String("default"), IsDefault: aws.Bool(true), Priority: aws.String("default"), Actions: actions}
}

func rule(name string, priority int, actions []types.Action, conditions ...types.RuleCondition) types.Rule {
	return types.Rule{RuleArn: aws.String(name), Priority: aws.String(strconv.Itoa(priority)), Actions: actions, Conditions: conditions}
}

func pathIs(patterns ...string) types.RuleCondition {
	return types.RuleCondition{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: patterns}}
}

func hostIs(patterns ...string) types.RuleCondition {
	return types.RuleCondition{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: patterns}}
}

func headerIs(name string, patterns ...string) types.RuleCondition {
	return types.RuleCondition{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String(name), Values: patterns}}
}

func methodIs(methods ...string) types.RuleCondition {
	return types.RuleCondition{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: methods}}
}

// backend is a target process: it answers its name on every path but the
// health check path, whose status the test sets.
type backend struct {
	*httptest.Server
	name         string
	healthStatus atomic.Int32
	healthChecks atomic.Int32
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name}
	b.healthStatus.Store(http.StatusOK)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			b.healthChecks.Add(1)
			w.WriteHeader(int(b.healthStatus.Load()))
			return
		}
		w.Header().Set("X-Target", name)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-URI", r.URL.RequestURI())
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

func describe(t *testing.T, addr string) types.TargetDescription {
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return types.TargetDescription{Id: aws.String(host), Port: aws.Int32(int32(p))}
}

func (b *backend) target(t *testing.T) types.TargetDescription {
	return describe(t, b.Listener.Addr().String())
}

// fastChecks checks every 5 s, healthy after 2 passes, unhealthy after 2
// failures.
var fastChecks = HealthCheck{Path: "/health", Interval: 5 * time.Second, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2}

// newLB makes a load balancer on a fake clock with a seeded random source.
func newLB(t *testing.T, rules *ruleSet, clock Clock) *LoadBalancer {
	lb, err := New(Options{Rules: rules.get, Clock: clock, Rand: rand.New(rand.NewPCG(1, 2))})
	require.NoError(t, err)
	return lb
}

// get sends a request through the load balancer's handler.
func get(lb *LoadBalancer, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	lb.ServeHTTP(w, r)
	return w
}

// healthOf is each target's state and reason, by address.
func healthOf(t *testing.T, lb *LoadBalancer, arn string) map[string]string {
	descs, err := lb.DescribeTargetHealth(arn)
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range descs {
		s := string(d.TargetHealth.State)
		if d.TargetHealth.Reason != "" {
			s += " " + string(d.TargetHealth.Reason)
		}
		out[net.JoinHostPort(*d.Target.Id, strconv.Itoa(int(*d.Target.Port)))] = s
	}
	return out
}
