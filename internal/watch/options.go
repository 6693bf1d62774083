package watch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// options are the command's flags.
type options struct {
	url       string
	where     outputs.Settings
	pinned    []string
	pinnedSet bool // -pinned given, even empty: do not ask the stack
	tenants   []string
	match     tenantMatch
	rate      float64
	timeout   time.Duration
	duration  time.Duration
	window    time.Duration
	refresh   time.Duration
	preflight bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: tenant-canary watch [flags]   (or: go run ./cmd/watch [flags])\n\n"+
			"Sends a steady stream of requests to the ALB and shows, per tenant, which\n"+
			"version answers (X-App-Version), errors and latency. Without -url it reads\n"+
			"the stack's output albUrl (and pinnedTenants unless -pinned is given):\n"+
			"with pulumi, or from -outputs FILE, or -output albUrl=URL.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "", "ALB URL, e.g. http://tenant-canary-dev-123.eu-west-1.elb.amazonaws.com (default: pulumi stack output albUrl)")
	o.where.Register(fs)
	pinned := fs.String("pinned", "", "comma-separated pinned tenants (default: pulumi stack output pinnedTenants)")
	tenants := fs.String("tenants", "", "comma-separated unpinned sample tenants, e.g. 7,42")
	fs.StringVar(&o.match.kind, "match", "path", "how a request names its tenant: path, header or host (as the stack's tenantMatch)")
	fs.StringVar(&o.match.header, "header", "X-Tenant-Id", "tenant header name, with -match header")
	fs.StringVar(&o.match.pathPattern, "path-pattern", "/app/{tenant}", "tenant path, with -match path")
	fs.StringVar(&o.match.hostPattern, "host-pattern", "{tenant}.example.com", "tenant host name, with -match host")
	fs.Float64Var(&o.rate, "rate", 10, fmt.Sprintf("requests per second across all tenants (at most %g)", maxRate))
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "per-request timeout; requests are never retried")
	fs.DurationVar(&o.duration, "duration", time.Hour, "stop after this long (0: until Ctrl-C)")
	fs.DurationVar(&o.window, "window", 30*time.Second, "sliding window of the live table")
	fs.DurationVar(&o.refresh, "refresh", 0, "table refresh interval (default 1s on a terminal, 10s otherwise)")
	fs.BoolVar(&o.preflight, "preflight", true, "check with one request that the URL answers with X-App-Version before starting")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q: all settings are flags, see -h", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.pinnedSet = o.pinnedSet || f.Name == "pinned" })
	o.pinned = splitList(*pinned)
	o.tenants = splitList(*tenants)
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// plan validates the options and turns them into a request plan; every
// problem is reported, not just the first.
func (o options) plan() (plan, error) {
	var problems []error
	base, err := parseBaseURL(o.url)
	problems = append(problems, err, o.match.validate())
	if o.rate <= 0 || o.rate > maxRate {
		problems = append(problems, fmt.Errorf("-rate %g: want more than 0 and at most %g requests per second", o.rate, maxRate))
	}
	if o.timeout <= 0 || o.timeout > time.Minute {
		problems = append(problems, fmt.Errorf("-timeout %s: want more than 0 and at most 1m", o.timeout))
	}
	if o.duration < 0 {
		problems = append(problems, fmt.Errorf("-duration %s: want 0 (until Ctrl-C) or more", o.duration))
	}
	if o.window < time.Second {
		problems = append(problems, fmt.Errorf("-window %s: want at least 1s", o.window))
	}
	if o.refresh < 0 {
		problems = append(problems, fmt.Errorf("-refresh %s: want 0 (automatic) or more", o.refresh))
	}
	for _, tenant := range append(append([]string{}, o.pinned...), o.tenants...) {
		if strings.ContainsAny(tenant, "/ \t\r\n{}") {
			problems = append(problems, fmt.Errorf("tenant %q: a tenant id cannot contain /, spaces or braces", tenant))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return plan{}, err
	}
	return plan{base: base, match: o.match, targets: planTargets(o.pinned, o.tenants)}, nil
}

// resolveFromStack fills -url and -pinned from the stack's outputs when
// they were not given. Outputs that cannot be had are a stack problem
// (outputs.IsStackProblem) when the URL is missing, and a warning
// otherwise: the watcher is still useful without the pinned tenants.
func (o *options) resolveFromStack(ctx context.Context, src outputs.Source, stderr io.Writer, prog string) error {
	if o.url != "" && o.pinnedSet {
		return nil
	}
	read, err := outputs.Load(ctx, o.where, src)
	if err == nil && o.url == "" {
		err = read.Require("albUrl")
	}
	if err != nil {
		if o.url == "" {
			return err
		}
		fmt.Fprintf(stderr, "%s: warning: could not read the stack output pinnedTenants (%v); pass -pinned to mark pinned tenants\n", prog, err)
		return nil
	}
	if o.url == "" {
		o.url = strings.TrimSpace(read.AlbURL)
	}
	if !o.pinnedSet {
		o.pinned = read.PinnedTenants
	}
	return nil
}
