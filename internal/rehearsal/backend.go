package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// Backend is a rehearsal as internal/scenario's driver sees a stack: its
// outputs, SDK clients against its endpoint, its listener, a push, and its
// clock.
type Backend struct{ R *Rehearsal }

// Outputs are the rehearsal's stack outputs (albUrl: the local listener).
func (b Backend) Outputs(context.Context) (contract.StackOutputs, error) { return b.R.Outputs(), nil }

// AWSConfig points the SDK at the rehearsal's endpoint.
func (b Backend) AWSConfig(context.Context) (aws.Config, error) { return b.R.AWSConfig(), nil }

// BaseURL is the local listener.
func (b Backend) BaseURL() string { return b.R.ListenerURL() }

// Push builds and pushes version.
func (b Backend) Push(ctx context.Context, version string, bad badversion.Spec) error {
	return b.R.Push(ctx, version, bad)
}

// Now is the rehearsal clock.
func (b Backend) Now() time.Time { return b.R.clock.Now() }

// After waits d of rehearsal time.
func (b Backend) After(d time.Duration) <-chan time.Time { return time.After(b.R.clock.Wall(d)) }

// TenantMatch is how the stack's requests name their tenant, read back from
// a pinned tenant's declared rule (its first condition value with the
// tenant's name replaced by routing.Placeholder); ok is false for a stack
// with no pinned tenant.
func TenantMatch(st *declared.Stack) (routing.Match, bool) {
	prod := st.Production()
	if prod == nil {
		return routing.Match{}, false
	}
	for _, r := range prod.Rules {
		if r.Role != declared.RuleTenant || len(r.Tenants) == 0 {
			continue
		}
		t := r.Tenants[0]
		for _, c := range r.Rule.Conditions {
			switch {
			case c.PathPatternConfig != nil:
				i := slices.IndexFunc(c.PathPatternConfig.Values, func(v string) bool { return strings.Contains(v, t) && !strings.ContainsAny(v, "*?") })
				if i >= 0 {
					return routing.Match{Type: routing.TypePath, Pattern: strings.Replace(c.PathPatternConfig.Values[i], t, routing.Placeholder, 1)}, true
				}
			case c.HttpHeaderConfig != nil && len(c.HttpHeaderConfig.Values) > 0:
				return routing.Match{Type: routing.TypeHeader, Name: aws.ToString(c.HttpHeaderConfig.HttpHeaderName),
					Pattern: strings.Replace(c.HttpHeaderConfig.Values[0], t, routing.Placeholder, 1)}, true
			case c.HostHeaderConfig != nil && len(c.HostHeaderConfig.Values) > 0:
				return routing.Match{Type: routing.TypeHost, Pattern: strings.Replace(c.HostHeaderConfig.Values[0], t, routing.Placeholder, 1)}, true
			}
		}
	}
	return routing.Match{}, false
}

// ScenarioRun is one unattended story against a fresh rehearsal.
type ScenarioRun struct {
	Stack     *declared.Stack
	SourceDir string
	CacheDir  string
	Speed     float64
	// Name is the scenario (scenario.Names).
	Name string
	// Log receives the driver's lines (optional); Rehearsal the
	// rehearsal's own (optional).
	Log       io.Writer
	Rehearsal *slog.Logger
	// Timeout bounds the run on the wall clock (default 5 minutes).
	Timeout time.Duration
}

// ScenarioTick is the driver's round on the rehearsal clock: each round
// sends one request per pinned tenant, per sample tenant and untenanted, so
// at 500 ms the two sample tenants and the untenanted stream make 360
// requests a minute of no pinned tenant — a 10 % canary's share (36) is
// above the rollback alarms' default minimum of 20 requests a period.
const ScenarioTick = 500 * time.Millisecond

// ScenarioTraffic is the rehearsal's own open-loop traffic beside the
// driver's rounds (rounds a rehearsal minute, each one untenanted request
// and one per pinned tenant): the driver's rounds wait for their answers,
// so on a busy machine they fall behind the clock and a canary's share can
// drop under the alarms' minimum of requests — on AWS as here, an alarm
// then cannot fire. At 480 untenanted requests a minute a 10 % canary gets
// 48, more than twice the default minimum, even when half the ticks are lost.
const ScenarioTraffic = 480

// RunScenario starts a rehearsal of run.Stack, runs the scenario against it
// and stops it. It returns the report (nil if the scenario could not start),
// the invariant violations the rehearsal saw, and an error when the story
// did not end as it must or an invariant was violated.
func RunScenario(ctx context.Context, run ScenarioRun) (*scenario.Report, []string, error) {
	s, err := scenario.Get(run.Name, scenario.Counter(2))
	if err != nil {
		return nil, nil, err
	}
	if run.Timeout <= 0 {
		run.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err := Start(ctx, Options{Stack: run.Stack, SourceDir: run.SourceDir, CacheDir: run.CacheDir, Speed: run.Speed, Log: run.Rehearsal})
	if err != nil {
		return nil, nil, err
	}
	go r.Traffic(ctx, ScenarioTraffic, nil)
	opts := scenario.Options{Tick: ScenarioTick, PollEvery: 4, Timeout: run.Timeout, Log: run.Log, RequestTimeout: 10 * time.Second}
	if m, ok := TenantMatch(run.Stack); ok {
		opts.TenantMatch = m
	}
	rep, runErr := scenario.Run(ctx, Backend{R: r}, s, opts)
	// Let the functions the end of the story started finish before the
	// verdict on the invariants.
	for deadline := time.Now().Add(10 * time.Second); r.Busy() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	violations := r.Violations()
	cancel()
	closeErr := r.Close()
	if len(violations) > 0 {
		runErr = errors.Join(runErr, fmt.Errorf("the model's invariants were violated during the rehearsal: %s", strings.Join(violations, "; ")))
	}
	if rep != nil {
		for _, v := range violations {
			rep.Checks = append(rep.Checks, scenario.Result{Name: "invariant", Passed: false, Detail: v})
		}
	}
	return rep, violations, errors.Join(runErr, closeErr)
}
