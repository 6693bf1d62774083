package rollout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// testListener stands in for a test listener: it records every request
// and answers with handle.
type testListener struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newTestListener(t *testing.T, handle http.HandlerFunc) *testListener {
	t.Helper()
	l := &testListener{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Clone(context.Background()))
		l.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *testListener) requests() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.seen...)
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok v2\n")) }

func smokeChecks(mutate func(*contract.SmokeChecks)) string {
	c := contract.SmokeChecks{
		Requests:     []contract.SmokeRequest{{Path: "/healthz"}, {Path: "/app/acme/version", Headers: map[string]string{"X-Tenant-Id": "acme"}, Host: "acme.example.com"}},
		Count:        2,
		ExpectStatus: 200, ExpectBody: "ok", TimeoutSeconds: 1,
	}
	if mutate != nil {
		mutate(&c)
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func newSmoke(t *testing.T, d *fakeaws.Deployments, env map[string]string) (*rollout.Smoke, *bytes.Buffer) {
	t.Helper()
	cfg, err := rollout.SmokeConfigFromEnv(lookupIn(env))
	var logs bytes.Buffer
	return &rollout.Smoke{
		Hooks:       &rollout.Hooks{ConfigErr: err, CodeDeploy: d, Logger: rollout.NewLogger(&logs)},
		Config:      cfg,
		Deployments: d,
	}, &logs
}

// smokeOps are the CodeDeploy calls of a smoke test that runs: the
// deployment's group, its target's task sets, the report.
var smokeOps = []string{fakeaws.OpGetDeployment, fakeaws.OpListDeploymentTargets, fakeaws.OpGetDeploymentTarget, fakeaws.OpPutHookStatus}

func event(deployment string) rollout.LifecycleEvent {
	return rollout.LifecycleEvent{DeploymentID: deployment, LifecycleEventHookExecutionID: "eyJzbW9rZSI6InRlc3QifQ=="}
}

func assertJSONLines(t *testing.T, logs string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		assert.Equal(t, "smoke", m["hook"], line)
		assert.Contains(t, m, "deployment_id")
		assert.Contains(t, m, "step")
		assert.Contains(t, m, "duration_ms")
	}
}

func TestSmokeChecksTheTestListenerOfItsOwnDeploymentGroup(t *testing.T) {
	latest, stable := newTestListener(t, ok), newTestListener(t, ok)
	for _, tc := range []struct {
		deployment string
		hit, idle  *testListener
	}{
		{fakeaws.LatestDeploymentID, latest, stable},
		{fakeaws.StableDeploymentID, stable, latest},
	} {
		t.Run(tc.deployment, func(t *testing.T) {
			before := len(tc.idle.requests())
			d := fakeaws.NewDeployments()
			s, logs := newSmoke(t, d, fakeaws.SmokeEnv(latest.URL, stable.URL, smokeChecks(nil)))
			hitBefore := len(tc.hit.requests())

			require.NoError(t, s.Run(context.Background(), event(tc.deployment)))

			assert.Equal(t, smokeOps, d.Ops())
			assert.Equal(t, []fakeaws.Report{{DeploymentID: tc.deployment, ExecutionID: event(tc.deployment).LifecycleEventHookExecutionID, Status: "Succeeded"}}, d.Reports())
			got := tc.hit.requests()[hitBefore:]
			require.Len(t, got, 4, "two paths, twice each")
			assert.Len(t, tc.idle.requests(), before, "the other stage's test listener is left alone")
			assert.Equal(t, "/healthz", got[0].URL.Path)
			assert.Equal(t, "/healthz", got[1].URL.Path)
			assert.Equal(t, "/app/acme/version", got[2].URL.Path)
			assert.Equal(t, "acme", got[2].Header.Get("X-Tenant-Id"), "the tenant is impersonated")
			assert.Equal(t, "acme.example.com", got[2].Host)
			assert.Contains(t, logs.String(), `"msg":"every smoke check passed"`)
			assertJSONLines(t, logs.String())
		})
	}
}

func TestSmokeReportsFailedWithTheFailingRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handle    http.HandlerFunc
		checks    func(*contract.SmokeChecks)
		wantErr   string
		wantLog   []string
		wantCalls int // requests the test listener saw
	}{
		{
			name: "wrong status on the second path",
			handle: func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/app/") {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte("boom: nil pointer"))
					return
				}
				ok(w, r)
			},
			wantErr:   "status 500, want 200",
			wantLog:   []string{`"url":"http://`, `/app/acme/version"`, `"status":500`, `"body":"boom: nil pointer"`, `"host":"acme.example.com"`, `"X-Tenant-Id":"acme"`},
			wantCalls: 3,
		},
		{
			name:      "body without the expected text",
			handle:    func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("maintenance")) },
			wantErr:   `body does not contain "ok"`,
			wantLog:   []string{`"body":"maintenance"`, `"expect_body":"ok"`},
			wantCalls: 1,
		},
		{
			name:      "a redirect is not followed",
			handle:    func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) },
			wantErr:   "status 302, want 200",
			wantCalls: 1,
		},
		{
			name: "a request that outlives its timeout",
			handle: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(3 * time.Second):
				}
			},
			wantErr:   "no response within 1s",
			wantCalls: 1,
		},
		{
			name:      "another expected status",
			handle:    ok,
			checks:    func(c *contract.SmokeChecks) { c.ExpectStatus = 204; c.ExpectBody = "" },
			wantErr:   "status 200, want 204",
			wantCalls: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestListener(t, tc.handle)
			d := fakeaws.NewDeployments()
			s, logs := newSmoke(t, d, fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(tc.checks)))

			start := time.Now()
			err := s.Run(context.Background(), event(fakeaws.LatestDeploymentID))
			require.Error(t, err)
			assert.Less(t, time.Since(start), 2500*time.Millisecond, "bounded by the request timeout")
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Equal(t, []string{"Failed"}, statusesOf(d))
			assert.Len(t, l.requests(), tc.wantCalls, "stops at the first failed check, never retries it")
			assert.Contains(t, logs.String(), `"msg":"smoke check failed"`)
			for _, want := range tc.wantLog {
				assert.Contains(t, logs.String(), want)
			}
			assertJSONLines(t, logs.String())
		})
	}
}

func statusesOf(d *fakeaws.Deployments) []string {
	var out []string
	for _, r := range d.Reports() {
		out = append(out, r.Status)
	}
	return out
}

func TestSmokeReportsFailedOnEveryOtherPath(t *testing.T) {
	l := newTestListener(t, ok)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name       string
		env        map[string]string
		deployment string
		setup      func(*fakeaws.Deployments, *rollout.Smoke)
		wantErr    string
		wantOps    []string
		reports    []string
	}{
		{
			name: "nothing listens on the test listener", env: fakeaws.SmokeEnv(closedURL, closedURL, smokeChecks(nil)),
			deployment: fakeaws.LatestDeploymentID, wantErr: "connect: connection refused",
			wantOps: smokeOps, reports: []string{"Failed"},
		},
		{
			name: "a deployment group without a test listener", env: fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(nil)),
			deployment: fakeaws.StableDeploymentID,
			setup:      func(d *fakeaws.Deployments, _ *rollout.Smoke) { d.Groups[fakeaws.StableDeploymentID] = "someone-elses" },
			wantErr:    `deployment group "someone-elses" has no test listener`,
			wantOps:    []string{fakeaws.OpGetDeployment, fakeaws.OpPutHookStatus}, reports: []string{"Failed"},
		},
		{
			name: "GetDeployment denied", env: fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(nil)),
			deployment: fakeaws.LatestDeploymentID,
			setup: func(d *fakeaws.Deployments, _ *rollout.Smoke) {
				// CodeDeploy's AccessDeniedException (AccessDenied picks the
				// error shape by the service of the op it is given).
				d.FailNext(fakeaws.OpGetDeployment, fakeaws.AccessDenied(fakeaws.OpPutHookStatus))
			},
			wantErr: "AccessDeniedException",
			wantOps: []string{fakeaws.OpGetDeployment, fakeaws.OpPutHookStatus}, reports: []string{"Failed"},
		},
		{
			name:       "a bad environment still reports Failed, naming every variable",
			env:        map[string]string{contract.EnvSmokeChecks: `{"requests":[],"count":0,"expectStatus":200,"timeoutSeconds":1}`},
			deployment: fakeaws.LatestDeploymentID,
			wantErr:    "SMOKE_CHECKS has no requests; SMOKE_CHECKS: count 0 must be at least 1; SMOKE_TARGETS is not set",
			wantOps:    []string{fakeaws.OpPutHookStatus}, reports: []string{"Failed"},
		},
		{
			name: "a panic is recovered and reported once", env: fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(nil)),
			deployment: fakeaws.LatestDeploymentID,
			setup: func(_ *fakeaws.Deployments, s *rollout.Smoke) {
				s.HTTP = &http.Client{Transport: panicky{}}
			},
			wantErr: "panic: transport exploded",
			wantOps: smokeOps, reports: []string{"Failed"},
		},
		{
			name: "a report that fails is not retried by the hook", env: fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(nil)),
			deployment: fakeaws.LatestDeploymentID,
			setup: func(d *fakeaws.Deployments, _ *rollout.Smoke) {
				d.FailNext(fakeaws.OpPutHookStatus, fakeaws.AccessDenied(fakeaws.OpPutHookStatus))
			},
			wantErr: "report Succeeded to CodeDeploy",
			wantOps: smokeOps, reports: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fakeaws.NewDeployments()
			s, logs := newSmoke(t, d, tc.env)
			if tc.setup != nil {
				tc.setup(d, s)
			}
			err := s.Run(context.Background(), event(tc.deployment))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Equal(t, tc.wantOps, d.Ops())
			assert.Equal(t, tc.reports, statusesOf(d))
			assertJSONLines(t, logs.String())
		})
	}
}

type panicky struct{}

func (panicky) RoundTrip(*http.Request) (*http.Response, error) { panic("transport exploded") }

// Every request waits out its timeout, more requests than the invocation
// has time for: the hook stops and still reports before the deadline.
func TestSmokeStopsBeforeTheInvocationDeadlineAndReports(t *testing.T) {
	l := newTestListener(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	d := fakeaws.NewDeployments()
	s, _ := newSmoke(t, d, fakeaws.SmokeEnv(l.URL, l.URL, smokeChecks(func(c *contract.SmokeChecks) { c.TimeoutSeconds = 30; c.Count = 50 })))
	s.Hooks.SafetyMargin = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Run(ctx, event(fakeaws.LatestDeploymentID))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.Equal(t, []string{"Failed"}, statusesOf(d))
}

func TestSmokeConfigFromEnvRejectsBadTargets(t *testing.T) {
	_, err := rollout.SmokeConfigFromEnv(lookupIn(map[string]string{
		contract.EnvSmokeTargets: `{"latest":"ftp://x","stable":"http://alb:9081/path"}`,
		contract.EnvSmokeChecks:  smokeChecks(nil),
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ftp://x" of "latest"`)
	assert.Contains(t, err.Error(), `"http://alb:9081/path" of "stable"`)
	_, err = rollout.SmokeConfigFromEnv(lookupIn(map[string]string{
		contract.EnvSmokeTargets: `{}`, contract.EnvSmokeChecks: `{"requests":[{"path":"/"}],"count":1,"expectStatus":200,"timeoutSeconds":1,"typo":1}`,
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "names no deployment group")
	assert.Contains(t, err.Error(), `unknown field "typo"`)
}

// Hole 2: with no pinned tenant, pin used to leave stable at 0 tasks, so the
// Stable deployment's replacement task set had 0 tasks and the stable test
// listener answered 503 ("no registered targets"). The smoke hook used to
// report Failed, failing every Stable stage, so stable never got the
// approved image. pin now scales stable up with an empty allow-list too, but
// a Stable deployment can still start on a stable at 0 (a cleanup scaled it
// down in between). A replacement task set with no tasks serves no request;
// the hook says so and passes, sending nothing. With tasks, it tests them
// and a broken version fails.
func TestHole2SmokeTestWithAnEmptyAllowListPassesTheStableStage(t *testing.T) {
	noTargets := func(w http.ResponseWriter, _ *http.Request) {
		// What an ALB answers when its target group has no registered targets.
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	broken := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
	for _, tc := range []struct {
		name        string
		deployment  string
		replacement int64
		noTaskSets  bool
		stable      http.HandlerFunc
		wantStatus  string
		wantHits    int
		wantLog     string
	}{
		{name: "no tenant pinned: stable at 0, nothing to test", deployment: fakeaws.StableDeploymentID, replacement: 0,
			stable: noTargets, wantStatus: "Succeeded", wantHits: 0, wantLog: `"msg":"nothing to test: the replacement task set has no tasks`},
		{name: "pinned tenants: stable's replacement is tested and passes", deployment: fakeaws.StableDeploymentID, replacement: 2,
			stable: ok, wantStatus: "Succeeded", wantHits: 4, wantLog: `"msg":"every smoke check passed"`},
		{name: "pinned tenants: a broken version still fails the Stable stage", deployment: fakeaws.StableDeploymentID, replacement: 2,
			stable: broken, wantStatus: "Failed", wantHits: 1, wantLog: `"msg":"smoke check failed"`},
		{name: "task sets unknown: tested, never skipped on a guess", deployment: fakeaws.StableDeploymentID, noTaskSets: true,
			stable: noTargets, wantStatus: "Failed", wantHits: 1, wantLog: `names no replacement (Green) task set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			latest, stable := newTestListener(t, ok), newTestListener(t, tc.stable)
			d := fakeaws.NewDeployments()
			d.Replacement = map[string]int64{tc.deployment: tc.replacement}
			d.NoTaskSets = tc.noTaskSets
			s, logs := newSmoke(t, d, fakeaws.SmokeEnv(latest.URL, stable.URL, smokeChecks(nil)))

			err := s.Run(context.Background(), event(tc.deployment))
			if tc.wantStatus == "Succeeded" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			assert.Equal(t, []string{tc.wantStatus}, statusesOf(d))
			assert.Len(t, stable.requests(), tc.wantHits)
			assert.Empty(t, latest.requests())
			assert.Contains(t, logs.String(), tc.wantLog)
			assertJSONLines(t, logs.String())
		})
	}
}

// The Latest stage of a rollout with an empty allow-list tests latest's
// replacement as always: a version that fails the smoke test is rolled
// back there, before it can reach the Stable stage.
func TestHole2ABrokenVersionStillFailsTheLatestStageWithAnEmptyAllowList(t *testing.T) {
	latest := newTestListener(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	d := fakeaws.NewDeployments()
	d.Replacement = map[string]int64{fakeaws.StableDeploymentID: 0}
	s, _ := newSmoke(t, d, fakeaws.SmokeEnv(latest.URL, latest.URL, smokeChecks(nil)))
	require.Error(t, s.Run(context.Background(), event(fakeaws.LatestDeploymentID)))
	assert.Equal(t, []string{"Failed"}, statusesOf(d))
	assert.Len(t, latest.requests(), 1)
}
