package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Clock is the backend's time: a rehearsal's runs faster than the wall's.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// WallClock is the real time, for a real AWS stack.
type WallClock struct{}

// Now is time.Now.
func (WallClock) Now() time.Time { return time.Now() }

// After is time.After.
func (WallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Backend is what the driver runs a scenario against: a local rehearsal or
// a real stack. It is all the driver may use.
type Backend interface {
	// Outputs are the stack's outputs.
	Outputs(ctx context.Context) (contract.StackOutputs, error)
	// AWSConfig configures the SDK clients (CodePipeline, CodeDeploy, ECS,
	// Elastic Load Balancing, CloudWatch) that observe the stack and answer
	// approvals.
	AWSConfig(ctx context.Context) (aws.Config, error)
	// BaseURL is the listener's URL: the stack's albUrl, or a loopback
	// address for a rehearsal.
	BaseURL() string
	// Push builds version (bad as told) and pushes it with the stack's
	// rollout tag, which starts a rollout.
	Push(ctx context.Context, version string, bad badversion.Spec) error
	Clock
}

// Options tune a run; the zero value is usable.
type Options struct {
	// SampleTenants are the unpinned tenants requests are sent for
	// (default 7 and 42); untenanted requests are always sent too.
	SampleTenants []string
	// TenantMatch is the stack's tenantMatch config: how a request names its
	// tenant (default path /app/{tenant}).
	TenantMatch routing.Match
	// Tick is the backend-clock time between rounds (default 5s): each round
	// sends one request per target, then polls AWS once.
	Tick time.Duration
	// PollEvery is how many rounds go between two AWS polls (default 1):
	// against AWS, many rounds of traffic per poll keep the request rate up
	// and the API calls well under their rate limits.
	PollEvery int
	// RequestTimeout bounds each request (wall clock; default 5s).
	RequestTimeout time.Duration
	// MaxRequests bounds the requests sent while waiting (default 50000);
	// once spent, rounds send nothing more until the final ones.
	MaxRequests int
	// FinalRounds are sent after the last step (default 5), outside
	// MaxRequests, so the end state is always observed.
	FinalRounds int
	// Timeout bounds the whole run on the wall clock (default 3h, what a
	// scenario may take against AWS; a rehearsal sets far less).
	Timeout time.Duration
	// Log, if set, gets one line per step and per observed event.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if o.SampleTenants == nil {
		o.SampleTenants = []string{"7", "42"}
	}
	if o.TenantMatch.Type == "" {
		o.TenantMatch = routing.Match{Type: routing.TypePath, Pattern: "/app/{tenant}"}
	}
	if o.Tick <= 0 {
		o.Tick = 5 * time.Second
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 1
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 50000
	}
	if o.FinalRounds <= 0 {
		o.FinalRounds = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Hour
	}
	return o
}

// target is one stream of requests.
type target struct {
	tenant string
	pinned bool
}

type driver struct {
	backend Backend
	opts    Options
	outputs contract.StackOutputs
	base    *url.URL
	client  *http.Client
	aws     awsClients
	report  *Report
	targets []target
	sent    int
	obs     observed
}

// Run runs s against b and returns its report, with the checks judged. The
// error says what did not happen (a wait that ran out, a failed call); the
// report is returned either way, so it can be written for the post-mortem.
func Run(ctx context.Context, b Backend, s Scenario, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	d := &driver{backend: b, opts: opts, report: &Report{Scenario: s.Name, Started: b.Now()}}
	err := d.run(ctx, s)
	if err != nil {
		d.report.Error = err.Error()
	}
	d.report.Ended = b.Now()
	d.report.Checks = s.Evaluate(d.report)
	if err == nil && !d.report.Passed() {
		var failed []string
		for _, c := range d.report.Checks {
			if !c.Passed {
				failed = append(failed, c.Name+": "+c.Detail)
			}
		}
		err = fmt.Errorf("scenario %s ended, but not as it must: %s", s.Name, strings.Join(failed, "; "))
	}
	return d.report, err
}

func (d *driver) run(ctx context.Context, s Scenario) error {
	var err error
	if d.outputs, err = d.backend.Outputs(ctx); err != nil {
		return fmt.Errorf("reading the stack's outputs: %w", err)
	}
	if d.outputs.PipelineName == "" || d.outputs.ListenerArn == "" || d.outputs.LatestDeploymentGroupName == "" {
		return errors.New("the stack's outputs lack pipelineName, listenerArn or latestDeploymentGroupName: was it deployed by this program?")
	}
	if d.base, err = checkBaseURL(d.backend.BaseURL(), d.outputs.AlbURL); err != nil {
		return err
	}
	if err := validateMatch(d.opts.TenantMatch); err != nil {
		return err
	}
	cfg, err := d.backend.AWSConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	d.aws = newAWSClients(cfg)
	d.client = &http.Client{
		Timeout: d.opts.RequestTimeout,
		// A redirect is an answer to record, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	r := d.report
	r.Stack = StackNames{
		ClusterName: d.outputs.ClusterName, LatestServiceName: d.outputs.LatestServiceName, StableServiceName: d.outputs.StableServiceName,
		LatestDeploymentGroup: d.outputs.LatestDeploymentGroupName, StableDeploymentGroup: d.outputs.StableDeploymentGroupName,
		AnchorRuleArn: d.outputs.AnchorRuleArn,
	}
	r.PinnedTenants = append([]string{}, d.outputs.PinnedTenants...)
	pinned := map[string]bool{}
	for _, t := range r.PinnedTenants {
		pinned[t] = true
		d.targets = append(d.targets, target{tenant: t, pinned: true})
	}
	r.SampleTenants = []string{}
	for _, t := range d.opts.SampleTenants {
		if !pinned[t] {
			r.SampleTenants = append(r.SampleTenants, t)
			d.targets = append(d.targets, target{tenant: t})
		}
	}
	d.targets = append(d.targets, target{})

	if err := d.obs.start(ctx, d); err != nil {
		return err
	}
	// The first round tells what everyone is on before anything is pushed.
	first := len(r.Responses)
	d.round(ctx)
	r.InitialVersion = commonVersion(r.Responses[first:])
	d.logf("initial version: %s", orNone(r.InitialVersion))
	if err := d.obs.poll(ctx, d); err != nil {
		return err
	}

	for _, st := range s.Steps {
		if err := d.step(ctx, st); err != nil {
			return fmt.Errorf("scenario %s, step %q: %w", s.Name, st, err)
		}
	}
	for range d.opts.FinalRounds {
		d.send(ctx)
	}
	return nil
}

func (d *driver) step(ctx context.Context, st Step) error {
	d.event(Event{Kind: KindStep, Message: st.String()})
	within := st.Within
	if within <= 0 {
		within = DefaultWithin[st.Action]
	}
	switch st.Action {
	case ActPush:
		spec, err := badversion.Parse(st.Bad)
		if err != nil {
			return err
		}
		d.report.Pushes = append(d.report.Pushes, Push{Version: st.Version, Bad: spec.String(), Time: d.backend.Now()})
		if err := d.backend.Push(ctx, st.Version, spec); err != nil {
			return fmt.Errorf("push %s: %w", st.Version, err)
		}
		return nil
	case ActAwaitApproval:
		return d.await(ctx, "an approval pending for "+st.Version, within, func() bool {
			return d.obs.pendingFor(st.Version) != nil
		})
	case ActApprove, ActReject:
		return d.decide(ctx, st.Version, st.Action == ActApprove)
	case ActAwaitSettled:
		if err := d.await(ctx, "the rollout settling (nothing in flight, stable at 0, the catch-all above the tenant rules)", within, func() bool {
			return d.obs.settled(d.report)
		}); err != nil {
			return err
		}
		d.event(Event{Kind: KindSettled})
		return nil
	}
	return fmt.Errorf("unknown action %q", st.Action)
}

// await runs rounds until cond holds, for at most within on the backend's
// clock and never past ctx.
func (d *driver) await(ctx context.Context, what string, within time.Duration, cond func() bool) error {
	deadline := d.backend.Now().Add(within)
	for ticks := 1; !cond(); ticks++ {
		if !d.backend.Now().Before(deadline) {
			return fmt.Errorf("%s did not happen within %s; last seen: %s", what, within, d.obs.describe())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not happen before the run's deadline (%w); last seen: %s", what, ctx.Err(), d.obs.describe())
		case <-d.backend.After(d.opts.Tick):
		}
		d.round(ctx)
		if ticks%d.opts.PollEvery != 0 {
			continue
		}
		if err := d.obs.poll(ctx, d); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s did not happen before the run's deadline (%w); last seen: %s", what, ctx.Err(), d.obs.describe())
			}
			return err
		}
	}
	return nil
}

// round sends one request per target, as long as the budget lasts.
func (d *driver) round(ctx context.Context) {
	if d.sent+len(d.targets) > d.opts.MaxRequests {
		return
	}
	d.sent += len(d.targets)
	d.send(ctx)
}

// send sends one request per target.
func (d *driver) send(ctx context.Context) {
	for _, t := range d.targets {
		d.report.Responses = append(d.report.Responses, d.request(ctx, t))
	}
}

func (d *driver) request(ctx context.Context, t target) Response {
	res := Response{Time: d.backend.Now(), Tenant: t.tenant, Pinned: t.pinned}
	req, err := newTenantRequest(ctx, d.base, d.opts.TenantMatch, t.tenant)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	resp, err := d.client.Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	res.Status = resp.StatusCode
	res.Version = resp.Header.Get("X-App-Version")
	return res
}

func validateMatch(m routing.Match) error {
	switch {
	case m.Type != routing.TypePath && m.Type != routing.TypeHeader && m.Type != routing.TypeHost:
		return fmt.Errorf("tenant match type %q: want path, header or host", m.Type)
	case strings.Count(m.Pattern, routing.Placeholder) != 1:
		return fmt.Errorf("tenant match pattern %q: want %s exactly once", m.Pattern, routing.Placeholder)
	case m.Type == routing.TypeHeader && m.Name == "":
		return errors.New("tenant match type header: want the header's name")
	}
	return nil
}

// newTenantRequest names tenant with the first value the stack's tenant
// rules match it by (routing.Match.Values, docs/design.md §5); "" is
// untenanted traffic.
func newTenantRequest(ctx context.Context, base *url.URL, m routing.Match, tenant string) (*http.Request, error) {
	u := *base
	value := ""
	if tenant != "" {
		value = m.Values(tenant)[0]
	}
	if value != "" && m.Type == routing.TypePath {
		u.Path = strings.TrimRight(u.Path, "/") + value
	} else if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case value == "":
	case m.Type == routing.TypeHeader:
		req.Header.Set(m.Name, value)
	case m.Type == routing.TypeHost:
		req.Host = value
	}
	return req, nil
}

// checkBaseURL allows only a loopback listener or the stack's own ALB, so a
// typo never sends a scenario's traffic somewhere else.
func checkBaseURL(raw, albURL string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("listener URL %q: want http(s)://host[:port]", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return u, nil
	}
	if alb, err := url.Parse(albURL); err == nil && alb.Hostname() != "" && strings.EqualFold(alb.Hostname(), host) {
		return u, nil
	}
	return nil, fmt.Errorf("listener URL %q: traffic goes only to a loopback address or the stack's albUrl (%q)", raw, albURL)
}

// commonVersion is the version every response carried, or "" if they
// differ or any lacked one.
func commonVersion(rs []Response) string {
	v := ""
	for i, r := range rs {
		if r.Version == "" || (i > 0 && r.Version != v) {
			return ""
		}
		v = r.Version
	}
	return v
}

func (d *driver) event(e Event) {
	e.Time = d.backend.Now()
	d.report.Events = append(d.report.Events, e)
	d.logf("%s", describeEvent(e))
}

func (d *driver) logf(format string, args ...any) {
	if d.opts.Log != nil {
		fmt.Fprintf(d.opts.Log, "%s "+format+"\n", append([]any{stamp(d.backend.Now())}, args...)...)
	}
}

func describeEvent(e Event) string {
	parts := []string{e.Kind}
	for _, p := range []string{e.Stage, e.Group, e.DeploymentID, e.Alarm, e.Service, e.Version, e.Status, e.State, e.By, e.ErrorCode, e.Summary, e.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
