package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testHandler(t *testing.T, logs io.Writer) http.Handler {
	t.Helper()
	m, err := newTenantMatcher("path", "", "/app/{tenant}", "")
	require.NoError(t, err)
	return newHandler(appInfo{Version: "v2", Color: "green", Task: "task-abc"}, m, nil, slog.New(slog.NewJSONHandler(logs, nil)))
}

func TestEveryResponseCarriesTheVersionHeader(t *testing.T) {
	h := testHandler(t, io.Discard)
	for _, tc := range []struct{ method, target string }{
		{"GET", "/"}, {"GET", "/app/12/x"}, {"GET", "/version"}, {"GET", "/healthz"},
		{"HEAD", "/"}, {"POST", "/healthz"}, {"DELETE", "/app/12"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		assert.Equal(t, "v2", rec.Header().Get("X-App-Version"), "%s %s (status %d)", tc.method, tc.target, rec.Code)
	}
}

func TestHealthzAnswersOK(t *testing.T) {
	rec := httptest.NewRecorder()
	testHandler(t, io.Discard).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
}

func TestVersionReturnsJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	testHandler(t, io.Discard).ServeHTTP(rec, httptest.NewRequest("GET", "/version", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var got versionResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, versionResponse{Version: "v2", Color: "green", TenantMatch: "path /app/{tenant}", Task: "task-abc"}, got)
}

func TestPageShowsVersionColourTenantAndTask(t *testing.T) {
	rec := httptest.NewRecorder()
	testHandler(t, io.Discard).ServeHTTP(rec, httptest.NewRequest("GET", "/app/123/orders", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Contains(t, body, "<h1>v2</h1>")
	assert.Contains(t, body, "background: green")
	assert.Contains(t, body, "<td>123</td>")
	assert.Contains(t, body, "<td>task-abc</td>")
}

func TestPageSaysWhenTrafficIsUntenanted(t *testing.T) {
	rec := httptest.NewRecorder()
	testHandler(t, io.Discard).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Contains(t, rec.Body.String(), "none (untenanted)")
}

func TestPageEscapesHostileColourAndTenant(t *testing.T) {
	m, err := newTenantMatcher("header", "X-Tenant-Id", "/app/{tenant}", "")
	require.NoError(t, err)
	h := newHandler(appInfo{Version: "v1", Color: "red;}</style><script>x()</script>", Task: "t"}, m, nil, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Tenant-Id", "<b>acme</b>")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	assert.NotContains(t, rec.Body.String(), "<script>")
	assert.NotContains(t, rec.Body.String(), "<b>acme</b>")
	assert.Contains(t, rec.Body.String(), "&lt;b&gt;acme&lt;/b&gt;")
}

func TestOneJSONLogLinePerRequest(t *testing.T) {
	var logs bytes.Buffer
	h := testHandler(t, &logs)
	r := httptest.NewRequest("GET", "/app/12/x", nil)
	r.Header.Set("X-Amzn-Trace-Id", "Root=1-abc")
	h.ServeHTTP(httptest.NewRecorder(), r)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nope/../healthz", nil))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	var entry map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &entry))
	assert.Equal(t, "request", entry["msg"])
	assert.Equal(t, "GET", entry["method"])
	assert.Equal(t, "/app/12/x", entry["path"])
	assert.Equal(t, float64(200), entry["status"])
	assert.Equal(t, "12", entry["tenant"])
	assert.Equal(t, "v2", entry["version"])
	assert.Equal(t, "Root=1-abc", entry["trace_id"])
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, "8080", cfg.port)
	assert.Equal(t, "path", cfg.tenantMatch)
	assert.Equal(t, "/app/{tenant}", cfg.tenantPathPattern)
	assert.Equal(t, "20s", cfg.shutdownTimeout.String())

	for key, value := range map[string]string{"PORT": "http", "SHUTDOWN_TIMEOUT": "soon"} {
		_, err := loadConfig(func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), key)
	}
}
