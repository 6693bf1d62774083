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
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
)

func smokeEvent(deployment string) string {
	return `{"DeploymentId":"` + deployment + `","LifecycleEventHookExecutionId":"eyJzbW9rZSI6ImUyZSJ9"}`
}

func checksJSON(t *testing.T, c contract.SmokeChecks) string {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return string(b)
}

// The real smoke bootstrap under the Lambda runtime, a local HTTP server
// standing in for each stage's test listener.
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
		name        string
		deployment  string
		env         map[string]string
		timeout     int
		wantReports []string
		wantError   string
		wantLatest  int32
		wantStable  int32
		wantLog     []string
	}{
		{
			name: "a healthy replacement passes", deployment: fakeaws.LatestDeploymentID,
			env: fakeaws.SmokeEnv(latest.URL, stable.URL, checksJSON(t, healthy)), wantReports: []string{"Succeeded"},
			wantLatest: 3, wantLog: []string{`"msg":"every smoke check passed"`, `"requests":3`},
		},
		{
			name: "the Stable deployment tests stable's test listener", deployment: fakeaws.StableDeploymentID,
			env: fakeaws.SmokeEnv(latest.URL, stable.URL, checksJSON(t, healthy)), wantReports: []string{"Succeeded"},
			wantStable: 3,
		},
		{
			name: "a failing path reports Failed with the request in the log", deployment: fakeaws.LatestDeploymentID,
			env: fakeaws.SmokeEnv(latest.URL, stable.URL, checksJSON(t, broken)), wantReports: []string{"Failed"},
			wantError: "status 502, want 200", wantLatest: 4,
			wantLog: []string{`"msg":"smoke check failed"`, `/version"`, `"status":502`, `"body":"upstream exploded"`, `"step":"report"`},
		},
		{
			name: "a request that never answers is bounded", deployment: fakeaws.LatestDeploymentID,
			env: fakeaws.SmokeEnv(latest.URL, stable.URL, checksJSON(t, slow)), wantReports: []string{"Failed"},
			wantError: "no response within 1s", wantLatest: 1,
		},
		{
			name: "a bad environment still reports Failed", deployment: fakeaws.LatestDeploymentID,
			env: map[string]string{contract.EnvSmokeChecks: checksJSON(t, healthy)}, wantReports: []string{"Failed"},
			wantError: "SMOKE_TARGETS is not set",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			latestHits.Store(0)
			stableHits.Store(0)
			d := fakeaws.NewDeployments()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30
			}
			fn := startFunction(t, "smoke", d, timeout, tc.env)
			start := time.Now()
			body := fn.invoke(t, smokeEvent(tc.deployment))
			assert.Less(t, time.Since(start), time.Duration(timeout)*time.Second)
			if tc.wantError == "" {
				assert.Equal(t, "null", body)
			} else {
				assert.Contains(t, errorMessage(t, body), tc.wantError)
			}
			var statuses []string
			for _, r := range d.Reports() {
				statuses = append(statuses, r.Status)
				assert.Equal(t, tc.deployment, r.DeploymentID)
			}
			assert.Equal(t, tc.wantReports, statuses, "reported exactly once")
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
		})
	}
	assert.Equal(t, "acme", lastTenant.Load(), "the tenant header reaches the test listener")
}
