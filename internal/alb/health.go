package alb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// healthChecksPage defines the health check settings, the target states and
// their reason codes; targetGroupHealthPage the routing failover.
const (
	healthChecksPage      = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html"
	targetGroupHealthPage = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html"
)

// HealthCheck is a target group's health check settings, named as the API
// names them; a zero field takes the default of healthChecksPage for an ip
// target group. Durations are on the load balancer's clock.
type HealthCheck struct {
	Path                    string        // HealthCheckPath: default "/"
	Interval                time.Duration // HealthCheckIntervalSeconds: 5–300 s, default 30 s
	Timeout                 time.Duration // HealthCheckTimeoutSeconds: 2–120 s, default 5 s
	HealthyThresholdCount   int           // 2–10, default 5
	UnhealthyThresholdCount int           // 2–10, default 2
	Matcher                 string        // success codes 200–499: "200", "200,202", "200-299"; default "200"

	// InitialNeedsHealthyThreshold picks between two readings of
	// healthChecksPage: "After your target is registered, it must pass one
	// health check to be considered healthy" (false, the default), or the
	// HealthyThresholdCount consecutive passes the same page asks of an
	// unhealthy target (true), which keeps a new target out of service longer.
	InitialNeedsHealthyThreshold bool
}

func (hc HealthCheck) withDefaults() HealthCheck {
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Interval == 0 {
		hc.Interval = 30 * time.Second
	}
	if hc.Timeout == 0 {
		hc.Timeout = 5 * time.Second
	}
	if hc.HealthyThresholdCount == 0 {
		hc.HealthyThresholdCount = 5
	}
	if hc.UnhealthyThresholdCount == 0 {
		hc.UnhealthyThresholdCount = 2
	}
	if hc.Matcher == "" {
		hc.Matcher = "200"
	}
	return hc
}

// validate checks the settings against the ranges of healthChecksPage and
// returns the matcher's code ranges.
func (hc HealthCheck) validate(arn string) ([][2]int, error) {
	var problems []string
	add := func(key string, value any, allowed string) {
		problems = append(problems, fmt.Sprintf("%s %v: want %s", key, value, allowed))
	}
	if !strings.HasPrefix(hc.Path, "/") {
		add("HealthCheckPath", strconv.Quote(hc.Path), "a path starting with /")
	}
	if hc.Interval < 5*time.Second || hc.Interval > 300*time.Second || hc.Interval%time.Second != 0 {
		add("HealthCheckIntervalSeconds", hc.Interval, "whole seconds from 5 to 300")
	}
	if hc.Timeout < 2*time.Second || hc.Timeout > 120*time.Second || hc.Timeout%time.Second != 0 {
		add("HealthCheckTimeoutSeconds", hc.Timeout, "whole seconds from 2 to 120")
	}
	if hc.HealthyThresholdCount < 2 || hc.HealthyThresholdCount > 10 {
		add("HealthyThresholdCount", hc.HealthyThresholdCount, "2 to 10")
	}
	if hc.UnhealthyThresholdCount < 2 || hc.UnhealthyThresholdCount > 10 {
		add("UnhealthyThresholdCount", hc.UnhealthyThresholdCount, "2 to 10")
	}
	codes, err := parseMatcher(hc.Matcher)
	if err != nil {
		add("Matcher", strconv.Quote(hc.Matcher), "codes from 200 to 499 such as \"200\", \"200,202\" or \"200-299\"")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("target group %s health check: %s (%s)", arn, strings.Join(problems, "; "), healthChecksPage)
	}
	return codes, nil
}

func parseMatcher(m string) ([][2]int, error) {
	var codes [][2]int
	for _, part := range strings.Split(m, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 200 || h > 499 || l > h {
			return nil, errors.New("bad matcher")
		}
		codes = append(codes, [2]int{l, h})
	}
	return codes, nil
}

// targetGroup is one target group and its registered targets, in
// registration order.
type targetGroup struct {
	arn     string
	hc      HealthCheck
	codes   [][2]int
	targets []*target
	next    uint64 // round robin position
}

// target is one registered ip target and its health as DescribeTargetHealth
// reports it.
type target struct {
	ip          string
	port        int32
	addr        string // ip:port
	state       types.TargetHealthStateEnum
	reason      types.TargetHealthReasonEnum
	description string
	passes      int // consecutive passed checks
	failures    int // consecutive failed checks
	due         time.Time
	gone        bool // deregistered while a check was in flight
}

// AddTargetGroup adds an ip target group with its health check settings.
func (lb *LoadBalancer) AddTargetGroup(arn string, hc HealthCheck) error {
	if arn == "" {
		return errors.New("target group ARN is empty")
	}
	hc = hc.withDefaults()
	codes, err := hc.validate(arn)
	if err != nil {
		return err
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if _, dup := lb.groups[arn]; dup {
		return fmt.Errorf("target group %s already exists", arn)
	}
	lb.groups[arn] = &targetGroup{arn: arn, hc: hc, codes: codes}
	return nil
}

// RegisterTargets registers ip targets (Id an IP address, Port the port) with
// a target group. The local ALB proxies only to loopback, so any other
// address is refused. Registering a registered target changes nothing. A new
// target starts in state initial and is checked at once.
func (lb *LoadBalancer) RegisterTargets(arn string, targets ...types.TargetDescription) error {
	for _, t := range targets {
		ip, err := netip.ParseAddr(aws.ToString(t.Id))
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("target group %s: target Id %q: want a loopback IP address such as 127.0.0.1 (the local ALB proxies only on this machine)", arn, aws.ToString(t.Id))
		}
		if p := aws.ToInt32(t.Port); p < 1 || p > 65535 {
			return fmt.Errorf("target group %s: target %s port %d: want 1 to 65535", arn, ip, p)
		}
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	tg, ok := lb.groups[arn]
	if !ok {
		return fmt.Errorf("target group %s not found", arn)
	}
	now := lb.clock.Now()
	for _, t := range targets {
		addr := net.JoinHostPort(*t.Id, strconv.Itoa(int(*t.Port)))
		if tg.find(addr) >= 0 {
			continue
		}
		tg.targets = append(tg.targets, &target{
			ip: *t.Id, port: *t.Port, addr: addr, due: now,
			state: types.TargetHealthStateEnumInitial, reason: types.TargetHealthReasonEnumInitialHealthChecking,
			description: "Initial health checks in progress",
		})
	}
	return nil
}

// DeregisterTargets removes targets at once: the local ALB has no
// deregistration delay (draining).
func (lb *LoadBalancer) DeregisterTargets(arn string, targets ...types.TargetDescription) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	tg, ok := lb.groups[arn]
	if !ok {
		return fmt.Errorf("target group %s not found", arn)
	}
	for _, t := range targets {
		if i := tg.find(net.JoinHostPort(aws.ToString(t.Id), strconv.Itoa(int(aws.ToInt32(t.Port))))); i >= 0 {
			tg.targets[i].gone = true
			tg.targets = append(tg.targets[:i:i], tg.targets[i+1:]...)
		}
	}
	return nil
}

func (tg *targetGroup) find(addr string) int {
	for i, t := range tg.targets {
		if t.addr == addr {
			return i
		}
	}
	return -1
}

// DescribeTargetHealth reports each registered target's health the way the
// API of that name does: state, and for any state but healthy a reason code
// and its description (healthChecksPage).
func (lb *LoadBalancer) DescribeTargetHealth(arn string) ([]types.TargetHealthDescription, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	tg, ok := lb.groups[arn]
	if !ok {
		return nil, fmt.Errorf("target group %s not found", arn)
	}
	out := make([]types.TargetHealthDescription, 0, len(tg.targets))
	for _, t := range tg.targets {
		h := &types.TargetHealth{State: t.state, Reason: t.reason}
		if t.description != "" {
			h.Description = aws.String(t.description)
		}
		out = append(out, types.TargetHealthDescription{
			Target:          &types.TargetDescription{Id: aws.String(t.ip), Port: aws.Int32(t.port)},
			HealthCheckPort: aws.String(strconv.Itoa(int(t.port))),
			TargetHealth:    h,
		})
	}
	return out, nil
}

// pick chooses the target for a request, round robin: "Each load balancer
// node routes requests only to the healthy targets" — unless there are none:
// "If a target group contains only unhealthy registered targets, the load
// balancer routes requests to all those targets, regardless of their health
// status" (healthChecksPage). Targets still in their initial checks are
// treated the same way, by the routing failover's rule that below the
// minimum of one healthy target traffic goes "to all targets that are
// available to the load balancer node, including unhealthy targets"
// (targetGroupHealthPage). nil when no target is registered.
func (tg *targetGroup) pick() *target {
	healthy := 0
	for _, t := range tg.targets {
		if t.state == types.TargetHealthStateEnumHealthy {
			healthy++
		}
	}
	if len(tg.targets) == 0 {
		return nil
	}
	n := tg.next
	tg.next++
	if healthy == 0 {
		return tg.targets[n%uint64(len(tg.targets))]
	}
	k := int(n % uint64(healthy))
	for _, t := range tg.targets {
		if t.state == types.TargetHealthStateEnumHealthy {
			if k == 0 {
				return t
			}
			k--
		}
	}
	panic("unreachable: k < healthy")
}

// checkResult is the outcome of one health check.
type checkResult struct {
	passed      bool
	reason      types.TargetHealthReasonEnum
	description string
}

// record applies one check to the target's state: "The number of
// consecutive successful health checks required before considering an
// unhealthy target healthy" and "The number of consecutive failed health
// checks required before considering a target unhealthy" (healthChecksPage).
func (t *target) record(r checkResult, hc HealthCheck) {
	if r.passed {
		t.failures = 0
		t.passes++
		need := hc.HealthyThresholdCount
		if t.state == types.TargetHealthStateEnumInitial && !hc.InitialNeedsHealthyThreshold {
			need = 1
		}
		if t.state != types.TargetHealthStateEnumHealthy && t.passes >= need {
			t.state, t.reason, t.description = types.TargetHealthStateEnumHealthy, "", ""
		}
		return
	}
	t.passes = 0
	t.failures++
	if t.state == types.TargetHealthStateEnumUnhealthy || t.failures >= hc.UnhealthyThresholdCount {
		t.state, t.reason, t.description = types.TargetHealthStateEnumUnhealthy, r.reason, r.description
	}
}

// CheckHealth runs every health check that is due on the clock, then takes
// one sample of each checked target group's HealthyHostCount and
// UnHealthyHostCount. Start calls it in a loop; a test calls it after moving
// its clock. "The load balancer sends a health check request to each
// registered target every HealthCheckIntervalSeconds seconds ... The time
// that it takes for the target to respond does not affect the interval for
// the next health check request" (healthChecksPage): a check is due on a
// fixed schedule from registration. After a jump of the clock a target gets
// the checks it missed, at most 10 (the largest threshold), which is all
// that can change its state.
//
// Only target groups that a listener rule forwards to are checked ("Before
// the load balancer sends a health check request to a target, you must ...
// specify its target group in a listener rule"); the targets of the others
// are unused, reason Target.NotInUse.
func (lb *LoadBalancer) CheckHealth(ctx context.Context) {
	inUse := groupsInUse(lb.rules())
	now := lb.clock.Now()
	type job struct {
		tg     *targetGroup
		t      *target
		checks int
	}
	var jobs []job
	lb.mu.Lock()
	for _, tg := range lb.groups {
		for _, t := range tg.targets {
			if !inUse[tg.arn] {
				t.state, t.reason, t.description = types.TargetHealthStateEnumUnused, types.TargetHealthReasonEnumNotInUse, "Target group is not configured to receive traffic from the load balancer"
				t.passes, t.failures, t.due = 0, 0, now
				continue
			}
			if t.state == types.TargetHealthStateEnumUnused {
				t.state, t.reason, t.description = types.TargetHealthStateEnumInitial, types.TargetHealthReasonEnumInitialHealthChecking, "Initial health checks in progress"
			}
			if t.due.After(now) {
				continue
			}
			missed := int(now.Sub(t.due)/tg.hc.Interval) + 1
			t.due = t.due.Add(time.Duration(missed) * tg.hc.Interval)
			jobs = append(jobs, job{tg, t, min(missed, 10)})
		}
	}
	lb.mu.Unlock()

	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			for range j.checks {
				r := lb.probe(ctx, j.tg.hc, j.tg.codes, j.t.addr)
				lb.mu.Lock()
				if !j.t.gone {
					j.t.record(r, j.tg.hc)
				}
				lb.mu.Unlock()
			}
		})
	}
	wg.Wait()

	lb.mu.Lock()
	defer lb.mu.Unlock()
	for arn, tg := range lb.groups {
		if !inUse[arn] {
			continue
		}
		healthy, unhealthy := 0, 0
		for _, t := range tg.targets {
			switch t.state {
			case types.TargetHealthStateEnumHealthy:
				healthy++
			case types.TargetHealthStateEnumUnhealthy:
				unhealthy++
			}
		}
		lb.metrics.sampleHealth(arn, now, healthy, unhealthy)
	}
}

// groupsInUse is the set of target groups the listener's rules forward to,
// weight 0 included (the group is still associated with the rule).
func groupsInUse(rules []types.Rule) map[string]bool {
	inUse := map[string]bool{}
	for i := range rules {
		if groups, err := forwardGroups(&rules[i]); err == nil {
			for _, g := range groups {
				inUse[g.arn] = true
			}
		}
	}
	return inUse
}

// probe sends one health check: an HTTP GET of the path on the target's
// traffic port, on a connection closed afterwards ("After each health check
// is completed, the load balancer node closes the connection"), judged by
// the matcher's codes, within the timeout: "The amount of time, in seconds,
// during which no response from a target means a failed health check"
// (healthChecksPage). The timeout is enforced on the wall clock (the request
// is cut off) and on the load balancer's clock (a target that answers later
// than the timeout by that clock failed, unless it answered within the
// wall-clock HealthCheckSlack), so a sped-up clock and a target slowed on
// it agree.
func (lb *LoadBalancer) probe(ctx context.Context, hc HealthCheck, codes [][2]int, addr string) checkResult {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	timedOut := checkResult{reason: types.TargetHealthReasonEnumTimeout, description: "Request timed out"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+hc.Path, nil)
	if err != nil {
		return checkResult{reason: types.TargetHealthReasonEnumFailedHealthChecks, description: "Health checks failed"}
	}
	start, wallStart := lb.clock.Now(), time.Now()
	resp, err := lb.healthClient.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return timedOut
		}
		return checkResult{reason: types.TargetHealthReasonEnumFailedHealthChecks, description: "Health checks failed"}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if lb.clock.Now().Sub(start) > hc.Timeout && time.Since(wallStart) > lb.slack {
		return timedOut
	}
	for _, c := range codes {
		if c[0] <= resp.StatusCode && resp.StatusCode <= c[1] {
			return checkResult{passed: true}
		}
	}
	return checkResult{
		reason:      types.TargetHealthReasonEnumResponseCodeMismatch,
		description: fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode),
	}
}
