package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
)

// badHandler builds the app's handler bad as the user's spec says, through
// the same -X values internal/badversion gives go build.
func badHandler(t *testing.T, spec, healthPath string) (http.Handler, *badBehaviour) {
	t.Helper()
	s, err := badversion.Parse(spec)
	require.NoError(t, err)
	vars := map[string]string{}
	flags := s.LDFlags()
	for i := 1; i < len(flags); i += 2 {
		name, value, _ := cut(flags[i])
		vars[name] = value
	}
	bad, err := loadBad(vars["main.bad5xxPercent"], vars["main.badLatency"], vars["main.badHealth"], vars["main.badRefuse"])
	require.NoError(t, err)
	assert.Equal(t, s.String(), bad.describe(), "the app reads back the spec it was built with")
	m, err := newTenantMatcher("path", "", "/app/{tenant}", "")
	require.NoError(t, err)
	return newHandler(appInfo{Version: "v3", Color: "red", Task: "t", HealthPath: healthPath}, m, bad, slog.New(slog.DiscardHandler)), bad
}

func cut(flag string) (name, value string, ok bool) {
	for i := range flag {
		if flag[i] == '=' {
			return flag[:i], flag[i+1:], true
		}
	}
	return flag, "", false
}

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec
}

func TestBuiltWith5xxFailsThatShareOfAnswersButNotHealthChecks(t *testing.T) {
	for _, tc := range []struct {
		spec      string
		of100Fail int
	}{{"5xx=50%", 50}, {"5xx=5%", 5}, {"5xx=100%", 100}, {"5xx=33%", 33}} {
		h, _ := badHandler(t, tc.spec, "")
		failed := 0
		for range 100 {
			rec := get(h, "/app/7")
			if rec.Code == http.StatusInternalServerError {
				failed++
			} else {
				require.Equal(t, http.StatusOK, rec.Code)
			}
			assert.Equal(t, "v3", rec.Header().Get("X-App-Version"), "a 500 still says which version answered")
		}
		assert.Equal(t, tc.of100Fail, failed, "%s: 500s among 100 answers", tc.spec)
		assert.Equal(t, http.StatusOK, get(h, "/healthz").Code, "%s: health checks pass", tc.spec)
	}
}

func TestBuiltWithLatencyAnswersLateButHealthChecksAtOnce(t *testing.T) {
	h, bad := badHandler(t, "latency=3s", "")
	var waited []time.Duration
	fire := make(chan time.Time, 1)
	bad.wait = func(d time.Duration) <-chan time.Time { waited = append(waited, d); return fire }

	fire <- time.Time{}
	assert.Equal(t, http.StatusOK, get(h, "/app/7").Code)
	assert.Equal(t, []time.Duration{3 * time.Second}, waited, "the answer waited the built latency")

	assert.Equal(t, http.StatusOK, get(h, "/healthz").Code)
	assert.Len(t, waited, 1, "health checks are not delayed")

	// A client that gives up ends the wait (the load balancer's idle
	// timeout): the timer never fires here.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app/7", nil).WithContext(ctx))
	assert.Len(t, waited, 2)
	assert.Empty(t, rec.Body.String(), "nothing is answered to a client that left")
}

func TestBuiltWithFailingHealthFailsTheConfiguredHealthPathOnly(t *testing.T) {
	h, _ := badHandler(t, "health", "/ready")
	rec := get(h, "/ready")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "the stack's service.healthCheckPath fails")
	assert.Equal(t, "v3", rec.Header().Get("X-App-Version"))
	assert.Equal(t, http.StatusOK, get(h, "/app/7").Code, "users are still served")

	good, _ := badHandler(t, "", "/ready")
	assert.Equal(t, "ok\n", get(good, "/ready").Body.String(), "a good build answers health checks on the configured path")
	assert.Equal(t, http.StatusOK, get(good, "/ready").Code)
}

func TestBuiltToRefuseRunsWithoutListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	require.NoError(t, ln.Close())
	_, bad := badHandler(t, "refuse", "")
	require.True(t, bad.refuse)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- refuse(ctx, port, slog.New(slog.DiscardHandler)) }()
	_, err = net.DialTimeout("tcp", addr, 5*time.Second)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "want the connection refused, got %v", err)
	select {
	case err := <-done:
		t.Fatalf("the refusing app exited before SIGTERM: %v", err)
	default:
	}
	stop() // SIGTERM
	select {
	case err := <-done:
		assert.NoError(t, err, "it stops cleanly, as ECS expects")
	case <-time.After(10 * time.Second):
		t.Fatal("the refusing app did not stop")
	}
}

func TestBadBuildValuesAreValidatedAtStart(t *testing.T) {
	for _, tc := range []struct {
		pct, lat, health, refuse, mention string
	}{
		{"0", "", "", "", "main.bad5xxPercent \"0\""},
		{"50%", "", "", "", "main.bad5xxPercent \"50%\""},
		{"", "3", "", "", "main.badLatency \"3\""},
		{"", "1h", "", "", "main.badLatency \"1h\""},
		{"", "", "yes", "", "main.badHealth \"yes\""},
		{"", "", "", "1", "main.badRefuse \"1\""},
	} {
		_, err := loadBad(tc.pct, tc.lat, tc.health, tc.refuse)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.mention)
	}
	good, err := loadBad("", "", "false", "")
	require.NoError(t, err)
	assert.Equal(t, "", good.describe())
}

func TestHealthPathComesFromTheEnvironment(t *testing.T) {
	cfg, err := loadConfig(func(k string) string { return map[string]string{"HEALTH_CHECK_PATH": "/ready"}[k] })
	require.NoError(t, err)
	assert.Equal(t, "/ready", cfg.healthPath)
	_, err = loadConfig(func(k string) string { return map[string]string{"HEALTH_CHECK_PATH": "ready"}[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `HEALTH_CHECK_PATH "ready"`)
}
