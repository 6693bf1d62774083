//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// smokeAt: the stack's AppSpecs name the smoke hook; push v1's Latest
// deployment d-1 (role "latest") or, after the approval, its Stable
// deployment d-2 (role "stable") allows test traffic, and CodeDeploy
// invokes the smoke hook (returned, not run). The smoke tests on the way
// run under the emulator against the model's own test listeners.
func smokeAt(t *testing.T, role string, checks contract.SmokeChecks) (*world, protocol.Invoke) {
	t.Helper()
	w := newWorld(t, "smoke-1", protocol.Scenario{Pushes: 1})
	w.smoke = &checks
	w.do("PUSH v1", "exec-1 (v1) enters Latest")
	id := "d-1"
	if role == "stable" {
		w.do("CodeDeploy starts d-1", "CodeDeploy d-1 creates the replacement", "CodeDeploy d-1 allows test traffic")
		w.do("CodeDeploy d-1 shifts the canary", "CodeDeploy d-1 shifts all traffic", "CodeDeploy d-1: termination wait ends")
		w.deliverAll()
		w.do("exec-1 (v1) enters Approve", "APPROVE exec-1", "exec-1 (v1) enters Stable")
		id = "d-2"
	}
	w.do("CodeDeploy starts "+id, "CodeDeploy "+id+" creates the replacement")
	return w, w.next("CodeDeploy "+id+" allows test traffic", contract.HookSmoke)
}

// The real smoke bootstrap under the Lambda runtime, its CodeDeploy the
// model at the deployment's AfterAllowTestTraffic; a local HTTP server
// stands in for each stage's test listener where the test chooses the
// application's answers, the model's own test listener elsewhere.
func TestSmokeBinaryUnderLambdaRuntime(t *testing.T) {
	rieBinary(t)
	var latestHits, stableHits atomic.Int32
	var lastTenant atomic.Value
	latest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		latestHits.Add(1)
		if tenant := r.Header.Get("X-Tenant-Id"); tenant != "" {
			lastTenant.Store(tenant)
		}
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok"))
		case "/slow":
			time.Sleep(3 * time.Second)
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream exploded"))
		}
	}))
	defer latest.Close()
	stable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		stableHits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer stable.Close()

	healthy := contract.SmokeChecks{Requests: []contract.SmokeRequest{{Path: "/healthz", Headers: map[string]string{"X-Tenant-Id": "acme"}}}, Count: 3, ExpectStatus: 200, ExpectBody: "ok", TimeoutSeconds: 2}
	broken := healthy
	broken.Requests = []contract.SmokeRequest{{Path: "/healthz"}, {Path: "/version"}}
	slow := healthy
	slow.Requests = []contract.SmokeRequest{{Path: "/slow"}}
	slow.TimeoutSeconds = 1

	for _, tc := range []struct {
		name       string
		role       string
		checks     contract.SmokeChecks
		local      bool              // the stages' test listeners are the local servers
		env        map[string]string // instead of the smoke environment
		wantReport string
		wantError  string
		wantLatest int32
		wantStable int32
		wantLog    []string
	}{
		{
			name: "a healthy replacement passes", role: "latest", checks: healthy, local: true, wantReport: "Succeeded",
			wantLatest: 3, wantLog: []string{`"msg":"every smoke check passed"`, `"requests":3`},
		},
		{
			name: "the Stable deployment tests stable's test listener", role: "stable", checks: healthy, local: true, wantReport: "Succeeded",
			wantStable: 3,
		},
		{
			name: "the model's test listener serves the replacement it routes to", role: "stable", checks: healthy, wantReport: "Succeeded",
			wantLog: []string{`"msg":"every smoke check passed"`},
		},
		{
			name: "a failing path reports Failed with the request in the log", role: "latest", checks: broken, local: true, wantReport: "Failed",
			wantError: "status 502, want 200", wantLatest: 4,
			wantLog: []string{`"msg":"smoke check failed"`, `/version"`, `"status":502`, `"body":"upstream exploded"`, `"step":"report"`},
		},
		{
			name: "a request that never answers is bounded", role: "latest", checks: slow, local: true, wantReport: "Failed",
			wantError: "no response within 1s", wantLatest: 1,
		},
		{
			name: "a bad environment still reports Failed", role: "latest", checks: healthy,
			// SMOKE_TARGETS removed from the declared environment.
			env: map[string]string{contract.EnvSmokeTargets: "", contract.EnvSmokeChecks: `{"requests":[{"path":"/healthz"}],"count":1,"expectStatus":200,"timeoutSeconds":1}`}, wantReport: "Failed",
			wantError: "SMOKE_TARGETS is not set",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			latestHits.Store(0)
			stableHits.Store(0)
			w, inv := smokeAt(t, tc.role, tc.checks)
			env := tc.env
			if env == nil {
				var targets map[string]string
				if tc.local {
					targets = map[string]string{w.group("latest"): latest.URL, w.group("stable"): stable.URL}
				}
				env = w.smokeEnv(tc.checks, targets)
			}
			fn := w.start(contract.HookSmoke, env, 30)
			w.d.ResetCalls()
			start := time.Now()
			body := fn.invoke(t, payloadOf(t, inv))
			assert.Less(t, time.Since(start), 30*time.Second)
			if tc.wantError == "" {
				assert.Equal(t, "null", body)
			} else {
				assert.Contains(t, errorMessage(t, body), tc.wantError)
			}
			reports := w.d.Reports()
			require.Len(t, reports, 1, "reported exactly once")
			assert.Equal(t, tc.wantReport, reports[0].Status)
			assert.Equal(t, map[string]string{"latest": "d-1", "stable": "d-2"}[tc.role], reports[0].DeploymentID)
			assert.Equal(t, tc.wantLatest, latestHits.Load(), "requests to latest's test listener")
			assert.Equal(t, tc.wantStable, stableHits.Load(), "requests to stable's test listener")
			for _, want := range tc.wantLog {
				assert.Contains(t, fn.logs.String(), want)
			}
			for _, line := range strings.Split(fn.logs.String(), "\n") {
				if strings.HasPrefix(line, `{"time"`) {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(line), &m), line)
					assert.Equal(t, "smoke", m["hook"], line)
				}
			}
			// What CodeDeploy does with the report: traffic shifts after a
			// pass; a failure fails the deployment before any moves.
			id := reports[0].DeploymentID
			if tc.wantReport == "Succeeded" {
				w.do("CodeDeploy " + id + " shifts the canary")
			} else {
				w.do("CodeDeploy " + id + ": traffic back on the original task set")
				assert.Equal(t, "Failed", w.execution("exec-1"))
				for who, vs := range w.served() {
					assert.Equal(t, []int{0}, vs, "served to %q", who)
				}
			}
		})
	}
	assert.Equal(t, "acme", lastTenant.Load(), "the tenant header reaches the test listener")
}
