package main

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"time"
)

// versionHeader is what the rollout watcher (cmd/watch) reads to attribute
// each response to a version.
const versionHeader = "X-App-Version"

// appInfo is what a page or /version reports about the serving task, and
// where the target groups check its health.
type appInfo struct {
	Version string
	Color   string
	Task    string
	// HealthPath answers health checks ("/healthz" when empty).
	HealthPath string
}

// versionResponse is the JSON body of GET /version.
type versionResponse struct {
	Version     string `json:"version"`
	Color       string `json:"color"`
	Tenant      string `json:"tenant"`
	TenantMatch string `json:"tenantMatch"`
	Task        string `json:"task"`
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tenant-canary {{.Version}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f4; color: #222; }
header { background: {{.Color}}; color: #fff; padding: 2rem; text-shadow: 0 1px 2px #0008; }
header h1 { margin: 0; font-size: 3rem; }
main { padding: 1.5rem 2rem; }
th { text-align: left; padding-right: 2rem; }
td, th { padding-top: .4rem; }
</style>
</head>
<body>
<header><h1>{{.Version}}</h1><p>tenant-canary sample app, accent colour {{.Color}}</p></header>
<main>
<table>
<tr><th>Tenant</th><td>{{if .Tenant}}{{.Tenant}}{{else}}none (untenanted){{end}}</td></tr>
<tr><th>Recognised by</th><td>{{.TenantMatch}}</td></tr>
<tr><th>Served by task</th><td>{{.Task}}</td></tr>
<tr><th>Version</th><td>{{.Version}}</td></tr>
</table>
</main>
</body>
</html>
`))

// defaultHealthPath is the service's default service.healthCheckPath.
const defaultHealthPath = "/healthz"

// newHandler serves the page (any path, so /app/{tenant}/anything works),
// /version and the health path, each response with X-App-Version and one
// log line; bad (nil for a good build) makes them misbehave as built.
func newHandler(info appInfo, tenants tenantMatcher, bad *badBehaviour, logger *slog.Logger) http.Handler {
	if info.HealthPath == "" {
		info.HealthPath = defaultHealthPath
	}
	describe := func(r *http.Request) versionResponse {
		return versionResponse{
			Version:     info.Version,
			Color:       info.Color,
			Tenant:      tenants.tenant(r),
			TenantMatch: tenants.describe(),
			Task:        info.Task,
		}
	}

	mux := http.NewServeMux()
	// The health path is matched exactly, before the mux, since it is the
	// stack's service.healthCheckPath and may be any path.
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	}
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(describe(r))
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// A cached page would show the previous version mid-rollout.
		w.Header().Set("Cache-Control", "no-store")
		if err := pageTemplate.Execute(w, describe(r)); err != nil {
			logger.Error("render page", "error", err)
		}
	})

	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == info.HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			health(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	var h http.Handler = routes
	if bad != nil {
		h = bad.wrap(info.HealthPath, routes)
	}
	return withVersionAndLog(info.Version, tenants, logger, h)
}

// statusRecorder remembers the status and size of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func withVersionAndLog(version string, tenants tenantMatcher, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Set before the handler runs so every response carries it, the
		// mux's own 404 and 405 answers included.
		w.Header().Set(versionHeader, version)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("tenant", tenants.tenant(r)),
			slog.String("version", version),
			slog.String("remote", r.RemoteAddr),
			// The ALB adds a trace id; logging it joins app and ALB logs.
			slog.String("trace_id", r.Header.Get("X-Amzn-Trace-Id")),
		)
	})
}
