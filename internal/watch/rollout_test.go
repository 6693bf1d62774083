package watch

import (
	"bytes"
	"context"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// versionServer is one version of the app: it only sets X-App-Version.
func versionServer(version string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-App-Version", version)
		_, _ = io.WriteString(w, version)
	})
}

// canaryRouter plays the ALB in the middle of stage 1: pinned tenants
// always reach stable (v1); everyone else is split between latest's old
// (v1) and new (v2) task sets by canaryShare. Each tenant draws from its own
// seeded generator, so its outcomes do not depend on how requests of
// different tenants interleave.
type canaryRouter struct {
	tenantOf    func(*http.Request) string
	pinned      map[string]bool
	canaryShare float64
	v1, v2      http.Handler

	mu   sync.Mutex
	rngs map[string]*rand.Rand
}

func (c *canaryRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant := c.tenantOf(r)
	if c.pinned[tenant] {
		c.v1.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	rng, ok := c.rngs[tenant]
	if !ok {
		h := fnv.New64a()
		_, _ = h.Write([]byte(tenant))
		rng = rand.New(rand.NewPCG(42, h.Sum64()))
		c.rngs[tenant] = rng
	}
	toCanary := rng.Float64() < c.canaryShare
	c.mu.Unlock()
	if toCanary {
		c.v2.ServeHTTP(w, r)
		return
	}
	c.v1.ServeHTTP(w, r)
}

// tenantOf implementations as the ALB's rules match, written independently
// of the watcher's request building.
var routerTenantOf = map[string]func(*http.Request) string{
	"path": func(r *http.Request) string {
		rest, ok := strings.CutPrefix(r.URL.Path, "/app/")
		if !ok {
			return ""
		}
		tenant, _, _ := strings.Cut(rest, "/")
		return tenant
	},
	"header": func(r *http.Request) string { return r.Header.Get("X-Tenant-Id") },
	"host": func(r *http.Request) string {
		tenant, ok := strings.CutSuffix(r.Host, ".example.com")
		if !ok {
			return ""
		}
		return tenant
	},
}

var testMatches = map[string]tenantMatch{
	"path":   {kind: "path", pathPattern: "/app/{tenant}"},
	"header": {kind: "header", header: "X-Tenant-Id"},
	"host":   {kind: "host", hostPattern: "{tenant}.example.com"},
}

// sendTicks drives run with n ticks as fast as it takes them.
func sendTicks(n int) <-chan time.Time {
	ticks := make(chan time.Time)
	go func() {
		defer close(ticks)
		for range n {
			ticks <- time.Time{}
		}
	}()
	return ticks
}

func testPlan(t *testing.T, serverURL string, match tenantMatch, pinned, sample []string) plan {
	t.Helper()
	base, err := parseBaseURL(serverURL)
	require.NoError(t, err)
	return plan{base: base, match: match, targets: planTargets(pinned, sample)}
}

// testClient queues requests on a few connections rather than opening one
// per request, so the test never runs out of file descriptors.
func testClient(timeout time.Duration) *http.Client {
	c := newClient(timeout, 16)
	c.Transport.(*http.Transport).MaxConnsPerHost = 16
	return c
}

func TestSharesAndTenantAttributionMatchTheRouter(t *testing.T) {
	const perTarget = 400
	const canaryShare = 0.7
	for kind, match := range testMatches {
		t.Run(kind, func(t *testing.T) {
			router := &canaryRouter{
				tenantOf: routerTenantOf[kind], pinned: map[string]bool{"123": true, "acme": true},
				canaryShare: canaryShare, v1: versionServer("v1"), v2: versionServer("v2"), rngs: map[string]*rand.Rand{},
			}
			srv := httptest.NewServer(router)
			defer srv.Close()

			p := testPlan(t, srv.URL, match, []string{"123", "acme"}, []string{"7", "42"})
			ticks := perTarget * len(p.targets)
			now := time.Unix(1000, 0)
			rec := newRecorder(len(p.targets), time.Minute)
			// limit = ticks: nothing is skipped, so every target gets exactly perTarget requests.
			run(context.Background(), testClient(30*time.Second), p, rec, sendTicks(ticks), ticks, func() time.Time { return now })

			snap := rec.windowSnapshot(now)
			assert.Equal(t, 0, snap.skipped)
			assert.ElementsMatch(t, []string{"v1", "v2"}, snap.versions)
			for i, target := range p.targets {
				st := snap.stats[i]
				require.Equal(t, perTarget, st.requests, target.label())
				assert.Equal(t, 0, st.errors(), target.label())
				v2, ok := st.share("v2")
				require.True(t, ok)
				if target.pinned {
					assert.Equal(t, 0.0, v2, "pinned tenant %s must never see the canary", target.label())
					continue
				}
				// 400 draws: standard deviation 2.3 points; 7 points is 3 sigma.
				assert.InDelta(t, canaryShare, v2, 0.07, "unpinned %s", target.label())
			}
		})
	}
}

func TestErrorsAndTimeoutsAreCountedNotHidden(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch routerTenantOf["path"](r) {
		case "down": // what the ALB says when no target is healthy
			http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		case "broken": // the app's own 500: still attributed to its version
			w.Header().Set("X-App-Version", "v2")
			w.WriteHeader(http.StatusInternalServerError)
		case "bare": // something else answering: 200 without a version
			_, _ = io.WriteString(w, "hello")
		case "stuck":
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		default:
			w.Header().Set("X-App-Version", "v1")
		}
	}))
	defer srv.Close()
	defer close(stuck)

	p := testPlan(t, srv.URL, testMatches["path"], nil, []string{"down", "broken", "bare", "stuck", "reset"})
	const perTarget = 10
	ticks := perTarget * len(p.targets)
	rec := newRecorder(len(p.targets), time.Minute)
	now := time.Unix(1000, 0)
	run(context.Background(), testClient(200*time.Millisecond), p, rec, sendTicks(ticks), ticks, func() time.Time { return now })

	snap := rec.totalSnapshot(now)
	want := map[string][numFailures]int{
		"down":         {non2xx: perTarget},
		"broken":       {non2xx: perTarget},
		"bare":         {noVersion: perTarget},
		"stuck":        {timedOut: perTarget},
		"reset":        {transport: perTarget},
		"(untenanted)": {noFailure: perTarget},
	}
	for i, target := range p.targets {
		assert.Equal(t, perTarget, snap.stats[i].requests, target.label())
		assert.Equal(t, want[target.label()], snap.stats[i].failures, target.label())
	}
	share, ok := snap.stats[1].share("v2")
	assert.True(t, ok && share == 1, "the app's own 500s are still shown as v2's")

	table := renderSummary(header{url: srv.URL, match: p.match}, snap, p.targets)
	assert.Contains(t, table, "60 requests, errors: 50")
}

func TestPreflightExplainsWhatIsWrong(t *testing.T) {
	noVersion := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "nginx placeholder")
	}))
	defer noVersion.Close()
	redirect := httptest.NewServer(http.RedirectHandler("https://alb.example.com/", http.StatusMovedPermanently))
	defer redirect.Close()
	good := httptest.NewServer(versionServer("v1"))
	defer good.Close()
	// Closed last: a port closed before the other servers start can come
	// straight back to one of them, which then answers instead of refusing.
	closed := httptest.NewServer(versionServer("v1"))
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, url, wantErr string
	}{
		{name: "unreachable", url: closedURL, wantErr: "cannot reach"},
		{name: "no version header", url: noVersion.URL, wantErr: "answered HTTP 200 without an X-App-Version header"},
		{name: "redirect to https", url: redirect.URL, wantErr: `redirects (HTTP 301) to "https://alb.example.com/"`},
		{name: "sample app", url: good.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlan(t, tt.url, testMatches["path"], nil, nil)
			err := preflight(context.Background(), newClient(5*time.Second, 1), p)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestWatchRunsAndPrintsASummary(t *testing.T) {
	router := &canaryRouter{
		tenantOf: routerTenantOf["header"], pinned: map[string]bool{"123": true},
		canaryShare: 0.3, v1: versionServer("v1"), v2: versionServer("v2"), rngs: map[string]*rand.Rand{},
	}
	srv := httptest.NewServer(router)
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	code := watch("watch", []string{"-url", srv.URL, "-match", "header", "-tenants", "7", "-rate", "100",
		"-duration", "500ms", "-refresh", "100ms"}, &stdout, &stderr, false, &fakePulumi{json: `{"pinnedTenants": ["123"]}`})
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "TENANT")
	assert.NotContains(t, out, clearScreen, "no ANSI codes when stdout is not a terminal")
	summary := out[strings.Index(out, "summary:"):]
	assert.Regexp(t, `123 \(pinned\) +\d+ +100\.0%`, summary, "pinned tenant from the stack output, all on v1")
	assert.Contains(t, summary, "  123 (pinned)  v1 ")
}

func TestWatchRejectsBadSetupWithExitCode(t *testing.T) {
	var stderr bytes.Buffer
	code := watch("watch", []string{"-url", "ftp://alb", "-rate", "0"}, io.Discard, &stderr, false, &fakePulumi{})
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "watch: URL \"ftp://alb\": scheme must be http or https\nwatch: -rate 0")

	stderr.Reset()
	closed := httptest.NewServer(versionServer("v1"))
	closed.Close()
	code = watch("watch", []string{"-url", closed.URL, "-pinned", ""}, io.Discard, &stderr, false, &fakePulumi{})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "cannot reach")
}
