package watch

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// target is one stream of requests the watcher sends: a tenant, or
// untenanted traffic when tenant is "".
type target struct {
	tenant string
	pinned bool
}

func (t target) label() string {
	switch {
	case t.tenant == "":
		return "(untenanted)"
	case t.pinned:
		return t.tenant + " (pinned)"
	default:
		return t.tenant
	}
}

// planTargets orders the streams as the table shows them: pinned tenants,
// then unpinned sample tenants, then untenanted traffic. A tenant listed in
// both is pinned: the ALB's tenant rules win for it.
func planTargets(pinned, sample []string) []target {
	seen := map[string]bool{}
	var targets []target
	add := func(tenants []string, isPinned bool) {
		for _, tenant := range tenants {
			if tenant == "" || seen[tenant] {
				continue
			}
			seen[tenant] = true
			targets = append(targets, target{tenant: tenant, pinned: isPinned})
		}
	}
	add(pinned, true)
	add(sample, false)
	return append(targets, target{})
}

// tenantMatch says how a request names its tenant, mirroring the stack's
// tenantMatch config (docs/design.md §5) and the app's TENANT_MATCH.
type tenantMatch struct {
	kind        string // path | header | host
	header      string
	pathPattern string
	hostPattern string
}

const tenantPlaceholder = "{tenant}"

func (m tenantMatch) validate() error {
	switch m.kind {
	case "path":
		if strings.Count(m.pathPattern, tenantPlaceholder) != 1 || !strings.HasPrefix(m.pathPattern, "/") {
			return fmt.Errorf("-path-pattern %q: want a path starting with / that contains %s once, such as /app/{tenant}", m.pathPattern, tenantPlaceholder)
		}
	case "header":
		if m.header == "" || strings.ContainsAny(m.header, " :\t\r\n") {
			return fmt.Errorf("-header %q: want a header name such as X-Tenant-Id", m.header)
		}
	case "host":
		if strings.Count(m.hostPattern, tenantPlaceholder) != 1 || strings.ContainsAny(m.hostPattern, "/:") {
			return fmt.Errorf("-host-pattern %q: want a host name that contains %s once, such as {tenant}.example.com", m.hostPattern, tenantPlaceholder)
		}
	default:
		return fmt.Errorf("-match %q: want path, header or host", m.kind)
	}
	return nil
}

func (m tenantMatch) String() string {
	switch m.kind {
	case "header":
		return "header " + m.header
	case "host":
		return "host " + m.hostPattern
	default:
		return "path " + m.pathPattern
	}
}

// parseBaseURL accepts the ALB URL as `pulumi stack output albUrl` prints it
// or as a bare DNS name, and refuses anything the watcher could not request.
func parseBaseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("no URL: pass -url http://<alb dns name>")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("URL %q: want scheme://host[:port][/path] without query, fragment or credentials", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// plan is everything needed to build the request for any target.
type plan struct {
	base    *url.URL
	match   tenantMatch
	targets []target
}

// request builds the request that the ALB's rules attribute to t.
func (p plan) request(ctx context.Context, t target) (*http.Request, error) {
	u := *p.base
	u.Path += "/"
	if t.tenant != "" && p.match.kind == "path" {
		u.Path = p.base.Path + strings.Replace(p.match.pathPattern, tenantPlaceholder, t.tenant, 1)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("request for %s: %w", t.label(), err)
	}
	req.Header.Set("User-Agent", "tenant-canary-watch")
	req.Header.Set("Cache-Control", "no-cache")
	if t.tenant != "" {
		switch p.match.kind {
		case "header":
			req.Header.Set(p.match.header, t.tenant)
		case "host":
			req.Host = strings.Replace(p.match.hostPattern, tenantPlaceholder, t.tenant, 1)
		}
	}
	return req, nil
}

// Rate limits: the watcher is meant to be pointed at production ALBs.
const (
	maxRate = 100.0 // requests per second
)

// interval is the time between two requests at rate requests per second.
func interval(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / rate)
}

// maxInFlight bounds concurrent requests: at most rate×timeout requests can
// be outstanding when every one of them takes the whole timeout.
func maxInFlight(rate float64, timeout time.Duration) int {
	return max(1, int(math.Ceil(rate*timeout.Seconds())))
}
