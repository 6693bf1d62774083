package rollout_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The smoke hook runs where CodeDeploy runs it: at AfterAllowTestTraffic
// of a deployment the model (internal/protocol) reached by its own events,
// with the model as its CodeDeploy. Where a test is about what the hook
// makes of an HTTP answer (a body, a redirect, a slow request) the test
// listener is a local server the test answers with; otherwise it is the
// model's own test listener, answered by the version behind it.

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

func checksOf(mutate func(*contract.SmokeChecks)) contract.SmokeChecks {
	c := contract.SmokeChecks{
		Requests:     []contract.SmokeRequest{{Path: "/healthz"}, {Path: "/app/acme/version", Headers: map[string]string{"X-Tenant-Id": "acme"}, Host: "acme.example.com"}},
		Count:        2,
		ExpectStatus: 200, ExpectBody: "ok", TimeoutSeconds: 1,
	}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func smokeChecks(mutate func(*contract.SmokeChecks)) string {
	b, _ := json.Marshal(checksOf(mutate))
	return string(b)
}

// smokeStory is a stack whose AppSpecs name the smoke hook, run to the
// smoke test of the Latest deployment (role "latest") or, after the
// approval, of the Stable deployment (role "stable"); the invocation the
// model made is returned for the test to run.
func smokeStory(t *testing.T, fixture, role string) (*story, rollout.LifecycleEvent) {
	t.Helper()
	s := newStory(t, smokeFixture(fixture), protocol.Scenario{Pushes: 1})
	s.do("PUSH v1", "exec-1 (v1) enters Latest")
	id := smokeDeployment(role)
	if role == "stable" {
		s.stage("d-1")
		s.do("enters Approve", "APPROVE exec-1", "enters Stable")
	}
	s.hold(contract.HookSmoke)
	s.do("CodeDeploy starts "+id, "CodeDeploy "+id+" creates the replacement", "CodeDeploy "+id+" allows test traffic")
	inv := s.take(contract.HookSmoke)
	return s, inv.Payload.(rollout.LifecycleEvent)
}

// smokeFixture is the declared stack with smokeTest on and the allow-list
// of fixture ("tenants-0" or "tenants-1"): its AppSpecs name the smoke hook.
func smokeFixture(fixture string) string {
	return map[string]string{"tenants-0": "smoke-0", "tenants-1": "smoke-1"}[fixture]
}

// smokeDeployment is the deployment a story's smoke test is about.
func smokeDeployment(role string) string {
	if role == "stable" {
		return "d-2"
	}
	return "d-1"
}

func assertJSONLines(t *testing.T, logs string) {
	t.Helper()
	for _, m := range jsonLines(t, logs) {
		assert.Equal(t, "smoke", m["hook"], m)
		assert.Contains(t, m, "deployment_id")
		assert.Contains(t, m, "step")
		assert.Contains(t, m, "duration_ms")
	}
}

func TestSmokeChecksTheTestListenerOfItsOwnDeploymentGroup(t *testing.T) {
	for _, role := range []string{"latest", "stable"} {
		t.Run(role, func(t *testing.T) {
			s, ev := smokeStory(t, "tenants-1", role)
			hit, idle := newTestListener(t, ok), newTestListener(t, ok)
			other := map[string]string{"latest": "stable", "stable": "latest"}[role]
			sm, logs := s.smokeHook(map[string]string{s.group(role): hit.URL, s.group(other): idle.URL}, checksOf(nil))

			require.NoError(t, sm.Run(context.Background(), ev))

			id := smokeDeployment(role)
			assert.Equal(t, "Succeeded", s.lifecycle(id, "AfterAllowTestTraffic"), "CodeDeploy accepted one Succeeded")
			got := hit.requests()
			require.Len(t, got, 4, "two paths, twice each")
			assert.Empty(t, idle.requests(), "the other stage's test listener is left alone")
			assert.Equal(t, "/healthz", got[0].URL.Path)
			assert.Equal(t, "/healthz", got[1].URL.Path)
			assert.Equal(t, "/app/acme/version", got[2].URL.Path)
			assert.Equal(t, "acme", got[2].Header.Get("X-Tenant-Id"), "the tenant is impersonated")
			assert.Equal(t, "acme.example.com", got[2].Host)
			assert.Contains(t, logs.String(), `"msg":"every smoke check passed"`)
			assertJSONLines(t, logs.String())
			// The deployment goes on: CodeDeploy shifts production traffic.
			s.do("CodeDeploy " + id + " shifts the canary")
		})
	}
}

// A failed check fails the deployment before any production traffic
// moves: the stage ends Failed and everyone stays where they were.
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
			s, ev := smokeStory(t, "tenants-1", "latest")
			l := newTestListener(t, tc.handle)
			sm, logs := s.smokeHook(map[string]string{s.group("latest"): l.URL, s.group("stable"): l.URL}, checksOf(tc.checks))

			start := time.Now()
			err := sm.Run(context.Background(), ev)
			require.Error(t, err)
			assert.Less(t, time.Since(start), 2500*time.Millisecond, "bounded by the request timeout")
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Len(t, l.requests(), tc.wantCalls, "stops at the first failed check, never retries it")
			assert.Contains(t, logs.String(), `"msg":"smoke check failed"`)
			for _, want := range tc.wantLog {
				assert.Contains(t, logs.String(), want)
			}
			assertJSONLines(t, logs.String())
			assertSmokeFailedTheStage(t, s, "d-1")
		})
	}
}

// assertSmokeFailedTheStage: CodeDeploy accepted Failed, the deployment
// fails and rolls back, and no request was ever served the new version.
func assertSmokeFailedTheStage(t *testing.T, s *story, id string) {
	t.Helper()
	assert.Equal(t, "Failed", s.lifecycle(id, "AfterAllowTestTraffic"), "CodeDeploy accepted one Failed")
	s.do("traffic back on the original task set")
	assert.Equal(t, protocol.DepFailed, s.deployment(id).Status)
	assert.Equal(t, "Failed", s.execution("exec-1"))
	for who, vs := range s.outcome().serves {
		assert.Equal(t, []int{0}, vs, "served to %q", who)
	}
}

func TestSmokeReportsFailedOnEveryOtherPath(t *testing.T) {
	l := newTestListener(t, ok)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name    string
		targets func(s *story) map[string]string
		env     map[string]string // instead of targets: the hook's environment
		setup   func(*rollout.Smoke)
		wantErr string
	}{
		{
			name:    "nothing listens on the test listener",
			targets: func(s *story) map[string]string { return map[string]string{s.group("latest"): closedURL} },
			wantErr: "connect: connection refused",
		},
		{
			name:    "a deployment group without a test listener",
			targets: func(s *story) map[string]string { return map[string]string{"someone-elses": l.URL} },
			wantErr: `deployment group "tenant-canary-smoke-1-pipeline-latest" has no test listener`,
		},
		{
			name:    "a bad environment still reports Failed, naming every variable",
			env:     map[string]string{contract.EnvSmokeChecks: `{"requests":[],"count":0,"expectStatus":200,"timeoutSeconds":1}`},
			wantErr: "SMOKE_CHECKS has no requests; SMOKE_CHECKS: count 0 must be at least 1; SMOKE_TARGETS is not set",
		},
		{
			name:    "a panic is recovered and reported once",
			targets: func(s *story) map[string]string { return map[string]string{s.group("latest"): l.URL} },
			setup:   func(sm *rollout.Smoke) { sm.HTTP = &http.Client{Transport: panicky{}} },
			wantErr: "panic: transport exploded",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ev := smokeStory(t, "tenants-1", "latest")
			var sm *rollout.Smoke
			var logs interface{ String() string }
			if tc.env != nil {
				cfg, err := rollout.SmokeConfigFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
				sm, logs = s.smokeHook(cfg.Targets, cfg.Checks)
				sm.Hooks.ConfigErr = err
			} else {
				sm, logs = s.smokeHook(tc.targets(s), checksOf(nil))
			}
			if tc.setup != nil {
				tc.setup(sm)
			}
			err := sm.Run(context.Background(), ev)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assertJSONLines(t, logs.String())
			assertSmokeFailedTheStage(t, s, "d-1")
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
	s, ev := smokeStory(t, "tenants-1", "latest")
	sm, _ := s.smokeHook(map[string]string{s.group("latest"): l.URL}, checksOf(func(c *contract.SmokeChecks) { c.TimeoutSeconds = 30; c.Count = 50 }))
	sm.Hooks.SafetyMargin = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sm.Run(ctx, ev)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assertSmokeFailedTheStage(t, s, "d-1")
}

func TestSmokeConfigFromEnvRejectsBadTargets(t *testing.T) {
	lookup := func(env map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
	_, err := rollout.SmokeConfigFromEnv(lookup(map[string]string{
		contract.EnvSmokeTargets: `{"latest":"ftp://x","stable":"http://alb:9081/path"}`,
		contract.EnvSmokeChecks:  smokeChecks(nil),
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ftp://x" of "latest"`)
	assert.Contains(t, err.Error(), `"http://alb:9081/path" of "stable"`)
	_, err = rollout.SmokeConfigFromEnv(lookup(map[string]string{
		contract.EnvSmokeTargets: `{}`, contract.EnvSmokeChecks: `{"requests":[{"path":"/"}],"count":1,"expectStatus":200,"timeoutSeconds":1,"typo":1}`,
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "names no deployment group")
	assert.Contains(t, err.Error(), `unknown field "typo"`)
}

// counting counts the requests a transport sends.
type counting struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Hole 2: with no pinned tenant, pin used to leave stable at 0 tasks, so the
// Stable deployment's replacement task set had 0 tasks and the stable test
// listener answered 503 ("no registered targets"). The smoke hook used to
// report Failed, failing every Stable stage, so stable never got the
// approved image. pin now scales stable up with an empty allow-list too, but
// a Stable deployment can still start on a stable at 0 (here: scaled down
// through ECS between the approval and the Stable stage). A replacement
// task set with no tasks serves no request; the hook says so and passes,
// sending nothing, and the Stable stage completes. With tasks, it tests
// them through the model's test listener and passes; a broken version
// fails.
func TestHole2SmokeTestWithAnEmptyAllowListPassesTheStableStage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fixture    string
		scaleDown  bool
		broken     bool
		wantStatus string
		wantHits   bool
		wantLog    string
	}{
		{name: "no tenant pinned: stable at 0, nothing to test", fixture: "tenants-0", scaleDown: true,
			wantStatus: "Succeeded", wantLog: `"msg":"nothing to test: the replacement task set has no tasks`},
		{name: "pinned tenants: stable's replacement is tested and passes", fixture: "tenants-1",
			wantStatus: "Succeeded", wantHits: true, wantLog: `"msg":"every smoke check passed"`},
		{name: "no tenant pinned, stable up: stable's replacement is tested and passes", fixture: "tenants-0",
			wantStatus: "Succeeded", wantHits: true, wantLog: `"msg":"every smoke check passed"`},
		{name: "pinned tenants: a broken version still fails the Stable stage", fixture: "tenants-1", broken: true,
			wantStatus: "Failed", wantHits: true, wantLog: `"msg":"smoke check failed"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks := checksOf(nil)
			s := newStory(t, smokeFixture(tc.fixture), protocol.Scenario{Pushes: 1})
			s.toApproval()
			s.do("APPROVE exec-1")
			if tc.scaleDown {
				_, err := s.d.API().UpdateService(context.Background(), &ecs.UpdateServiceInput{
					Cluster: aws.String(s.env(contract.HookPin)[contract.EnvClusterName]),
					Service: aws.String(s.env(contract.HookPin)[contract.EnvStableServiceName]), DesiredCount: aws.Int32(0)})
				require.NoError(t, err)
			}
			s.hold(contract.HookSmoke)
			s.do("enters Stable", "CodeDeploy starts d-2", "CodeDeploy d-2 creates the replacement", "CodeDeploy d-2 allows test traffic")
			ev := s.take(contract.HookSmoke).Payload.(rollout.LifecycleEvent)
			sm, logs := s.smokeHook(nil, checks)
			if tc.broken {
				sm.HTTP = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
					return &http.Response{StatusCode: 500, Status: "500", Body: http.NoBody, Header: http.Header{}}, nil
				})}
			}
			sent := &counting{next: sm.HTTP.Transport}
			sm.HTTP = &http.Client{Transport: sent}

			err := sm.Run(context.Background(), ev)

			if tc.wantStatus == "Succeeded" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			assert.Equal(t, tc.wantStatus, s.lifecycle("d-2", "AfterAllowTestTraffic"))
			assert.Equal(t, tc.wantHits, sent.count() > 0, "requests sent: %d", sent.count())
			assert.Contains(t, logs.String(), tc.wantLog)
			assertJSONLines(t, logs.String())
			if tc.wantStatus == "Succeeded" {
				// The Stable stage completes: the execution succeeds.
				s.do("CodeDeploy d-2 shifts the canary")
				s.do(toEnd("d-2")...)
				s.deliverAll()
				assert.Equal(t, "Succeeded", s.execution("exec-1"))
				s.everyoneOn(1)
			} else {
				s.do("traffic back on the original task set")
				assert.Equal(t, "Failed", s.execution("exec-1"))
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The Latest stage of a rollout with an empty allow-list tests latest's
// replacement as always: a version that fails the smoke test is rolled
// back there, before it can reach the Stable stage.
func TestHole2ABrokenVersionStillFailsTheLatestStageWithAnEmptyAllowList(t *testing.T) {
	s, ev := smokeStory(t, "tenants-0", "latest")
	latest := newTestListener(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	sm, _ := s.smokeHook(map[string]string{s.group("latest"): latest.URL, s.group("stable"): latest.URL}, checksOf(nil))
	require.Error(t, sm.Run(context.Background(), ev))
	assert.Len(t, latest.requests(), 1)
	assertSmokeFailedTheStage(t, s, "d-1")
}
