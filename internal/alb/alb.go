// Package alb is the local stand-in for an Application Load Balancer's HTTP
// listener, for rehearsing a rollout on one machine: it routes each request
// by the listener's rules as ALB evaluates them, proxies to registered
// loopback targets, health-checks them, and records per target group and
// minute what ALB would publish to CloudWatch.
//
// Every behaviour cites the AWS page it follows. Where the local ALB
// differs from ALB:
//
//   - plain HTTP on 127.0.0.1 only; no TLS, no HTTP/2 to clients, no
//     WebSocket upgrade guarantees; targets must be loopback addresses;
//   - one listener, one node: no Availability Zones, no cross-zone setting;
//   - round robin only: no least-outstanding-requests, no slow start, no
//     stickiness (neither target nor target-group stickiness);
//   - no deregistration delay: a deregistered target is gone at once (no
//     draining state); no unused/unavailable states beyond Target.NotInUse;
//   - conditions path-pattern, host-header, http-header and
//     http-request-method with wildcard values; no query-string, source-ip
//     or regex values, no transforms; forward actions only, no redirect or
//     fixed-response (a rule using anything else is answered 500 with the
//     reason);
//   - idle timeout and the 10 s connect timeout are on the wall clock;
//     health check schedules, response times and metric minutes are on the
//     injected clock.
//
// Where the pages leave a choice, the reading taken (each at its code):
// a new target is healthy after one passed check (HealthCheck has a switch
// for the stricter reading); a target group with no healthy target fails
// open to all its registered targets, initial ones included; a forward whose
// weights are all 0 is answered 503; a path is matched as sent, not
// percent-decoded; a request is counted in the minute it arrived.
package alb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// troubleshootingPage says when ALB itself answers 502, 503 and 504.
const troubleshootingPage = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html"

// Clock is the load balancer's time: health check schedules, response times
// and metric minutes are read from it, so a rehearsal can run time faster.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Options configures a LoadBalancer.
type Options struct {
	// Rules returns the listener's rules as DescribeRules would, the
	// default rule included. It is called for every request and every
	// health check round, so a change takes effect on the next request.
	Rules func() []types.Rule
	// Clock defaults to the wall clock.
	Clock Clock
	// Rand chooses among weighted target groups; seed it for a
	// reproducible run. It defaults to a randomly seeded source.
	Rand *rand.Rand
	// IdleTimeout is how long a target may take to send response headers
	// before the load balancer answers 504; ALB's default idle timeout is
	// 60 seconds. Wall clock.
	IdleTimeout time.Duration
	// HealthCheckPoll is how often (wall clock) Start's loop calls
	// CheckHealth; default 50 ms.
	HealthCheckPoll time.Duration
	// HealthCheckSlack is how long (wall clock) a health check may take
	// before its timeout on Clock counts. A sped-up Clock multiplies a
	// loaded machine's scheduling delay: at 60x, the 5 s default timeout
	// is 83 ms of wall time. Set it only where no target's health path is
	// slowed on purpose (the sample app never slows it); a check answered
	// later than the timeout by Clock and later than the slack fails.
	// Default 0: the timeout on Clock alone.
	HealthCheckSlack time.Duration
}

// LoadBalancer is one listener with its target groups. It is an
// http.Handler; Start serves it on 127.0.0.1.
type LoadBalancer struct {
	rules        func() []types.Rule
	clock        Clock
	transport    *http.Transport
	healthClient *http.Client
	poll         time.Duration
	slack        time.Duration

	mu      sync.Mutex // guards everything below
	rand    *rand.Rand
	groups  map[string]*targetGroup
	metrics recorder

	server *http.Server
	stop   context.CancelFunc
	loop   sync.WaitGroup
}

// New makes a load balancer with no target groups.
func New(opts Options) (*LoadBalancer, error) {
	if opts.Rules == nil {
		return nil, errors.New("alb.Options.Rules is nil: the load balancer needs its listener's rules")
	}
	if opts.Clock == nil {
		opts.Clock = wallClock{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.HealthCheckPoll == 0 {
		opts.HealthCheckPoll = 50 * time.Millisecond
	}
	// "The load balancer failed to establish a connection to the target
	// before the connection timeout expired (10 seconds)" → 504
	// (troubleshootingPage). The dialer refuses anything but loopback, as
	// registration does.
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: loopbackOnly}
	return &LoadBalancer{
		rules: opts.Rules,
		clock: opts.Clock,
		slack: opts.HealthCheckSlack,
		transport: &http.Transport{
			DialContext:           dialer.DialContext,
			ResponseHeaderTimeout: opts.IdleTimeout,
			MaxIdleConnsPerHost:   32,
			DisableCompression:    true,
		},
		healthClient: &http.Client{
			Transport:     &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		poll:    opts.HealthCheckPoll,
		rand:    opts.Rand,
		groups:  map[string]*targetGroup{},
		metrics: newRecorder(),
	}, nil
}

func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("local ALB: refusing to connect to %s: targets must be on loopback", address)
	}
	return nil
}

// ServeHTTP routes one request by the listener's rules and forwards it as
// the matching rule says.
func (lb *LoadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule, err := selectRule(lb.rules(), r)
	var groups []weightedGroup
	if err == nil {
		groups, err = forwardGroups(rule)
	}
	if err != nil {
		http.Error(w, "local ALB cannot evaluate the listener's rules: "+err.Error(), http.StatusInternalServerError)
		return
	}
	lb.mu.Lock()
	at := lb.clock.Now()
	arn, ok := pickGroup(groups, lb.rand.IntN)
	tg := lb.groups[arn]
	if ok && tg == nil {
		lb.mu.Unlock()
		http.Error(w, fmt.Sprintf("local ALB: rule %s forwards to target group %s, which was never added", ruleName(rule), arn), http.StatusInternalServerError)
		return
	}
	var t *target
	if ok {
		t = tg.pick()
	}
	if t == nil {
		// "HTTP 503: Service unavailable — The target groups for the load
		// balancer have no registered targets" (troubleshootingPage).
		lb.metrics.elbAnswered(at, http.StatusServiceUnavailable)
		lb.mu.Unlock()
		http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		return
	}
	lb.metrics.minute(arn, at).RequestCount++
	addr := t.addr
	lb.mu.Unlock()
	lb.forward(w, r, arn, addr, at)
}

// forward proxies r to the target at addr and records what the target did.
func (lb *LoadBalancer) forward(w http.ResponseWriter, r *http.Request, arn, addr string, at time.Time) {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Out is a copy of In: path, query and the Host header go
			// to the target unchanged, as ALB sends them.
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", addr
			setForwardedHeaders(pr)
		},
		Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
			start := lb.clock.Now()
			resp, err := lb.transport.RoundTrip(req)
			elapsed := lb.clock.Now().Sub(start)
			lb.recordTarget(req.Context(), arn, at, elapsed, resp, err)
			return resp, err
		}),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, _ := classify(r.Context(), err)
			w.WriteHeader(status)
		},
	}
	proxy.ServeHTTP(w, r)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// setForwardedHeaders adds what ALB adds: "If the X-Forwarded-For request
// header is not included in the original request, the load balancer creates
// one with the client IP address ... Otherwise, the load balancer adds the
// client IP address to the existing header", and X-Forwarded-Proto and
// X-Forwarded-Port
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html).
func setForwardedHeaders(pr *httputil.ProxyRequest) {
	client, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		client = pr.In.RemoteAddr
	}
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		client = strings.Join(prior, ", ") + ", " + client
	}
	pr.Out.Header.Set("X-Forwarded-For", client)
	pr.Out.Header.Set("X-Forwarded-Proto", "http")
	if local, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(local.String()); err == nil {
			pr.Out.Header.Set("X-Forwarded-Port", port)
		}
	}
}

// recordTarget records one exchange with a target in the minute the request
// arrived (metricsPage): a response's time and 5XX code, or a connection
// error, or the load balancer's own 502/504.
func (lb *LoadBalancer) recordTarget(ctx context.Context, arn string, at time.Time, elapsed time.Duration, resp *http.Response, err error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	m := lb.metrics.minute(arn, at)
	if err == nil {
		m.TargetResponseTime = append(m.TargetResponseTime, elapsed.Seconds())
		if resp.StatusCode >= 500 && resp.StatusCode <= 599 {
			m.HTTPCodeTarget5XXCount++
		}
		return
	}
	status, connectionError := classify(ctx, err)
	if connectionError {
		m.TargetConnectionErrorCount++
	}
	if status >= 500 {
		lb.metrics.elbAnswered(at, status)
	}
}

// classify maps a failed exchange to the load balancer's answer
// (troubleshootingPage): "received a TCP RST from the target when attempting
// to establish a connection" → 502; no connection "before the connection
// timeout expired (10 seconds)" or no response "before the idle timeout
// period elapsed" → 504; any other broken exchange → 502. A client that
// went away gets 460 ("the client closed the connection"), which is no 5XX.
// connectionError reports the connection was never established
// (TargetConnectionErrorCount).
func classify(ctx context.Context, err error) (status int, connectionError bool) {
	if ctx.Err() != nil {
		return 460, false
	}
	var opErr *net.OpError
	dial := errors.As(err, &opErr) && opErr.Op == "dial"
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return http.StatusGatewayTimeout, dial
	}
	return http.StatusBadGateway, dial
}

// Start serves the load balancer on 127.0.0.1:port (0 picks a free port)
// and runs the health checks in the background until Close. It returns
// the listener's URL.
func (lb *LoadBalancer) Start(port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("listener port %d: want 0 (any free port) to 65535", port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("local ALB listener: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	lb.stop = stop
	lb.server = &http.Server{Handler: lb, ReadHeaderTimeout: 60 * time.Second}
	lb.loop.Go(func() { _ = lb.server.Serve(ln) })
	lb.loop.Go(func() {
		tick := time.NewTicker(lb.poll)
		defer tick.Stop()
		for {
			lb.CheckHealth(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return "http://" + ln.Addr().String(), nil
}

// Close stops serving and health-checking.
func (lb *LoadBalancer) Close() error {
	if lb.server == nil {
		return nil
	}
	lb.stop()
	err := lb.server.Close()
	lb.loop.Wait()
	lb.transport.CloseIdleConnections()
	return err
}
