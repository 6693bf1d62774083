// Command app is the tenant-canary sample application: a small web server
// whose version and accent colour are fixed at build time, so two builds are
// two visibly different versions to roll out.
//
// It is stdlib-only on purpose: the Dockerfile compiles these files without
// the repository's go.mod (the build context is images/app).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Set at build time: -ldflags "-X main.version=v2 -X main.color=green".
var (
	version = "dev"
	color   = "slategray"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(logger); err != nil {
		logger.Error("app stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	tenants, err := newTenantMatcher(cfg.tenantMatch, cfg.tenantHeader, cfg.tenantPathPattern, cfg.tenantHostPattern)
	if err != nil {
		return err
	}

	bad, err := loadBad(bad5xxPercent, badLatency, badHealth, badRefuse)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	task := taskIdentity(ctx, http.DefaultClient, os.Getenv("ECS_CONTAINER_METADATA_URI_V4"), os.Hostname, logger)
	info := appInfo{Version: version, Color: color, Task: task, HealthPath: cfg.healthPath}

	if bad.refuse {
		return refuse(ctx, cfg.port, logger)
	}
	ln, err := net.Listen("tcp", cfg.listenHost+":"+cfg.port)
	if err != nil {
		return fmt.Errorf("listen on port %s: %w", cfg.port, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "version", version, "color", color,
		"task", task, "tenant_match", tenants.describe(), "health_path", cfg.healthPath, "bad", bad.describe())
	return serve(ctx, ln, newHandler(info, tenants, bad, logger), cfg.shutdownTimeout, logger, nil)
}

// config is the app's environment, read once at start.
type config struct {
	port              string
	shutdownTimeout   time.Duration
	tenantMatch       string
	tenantHeader      string
	tenantPathPattern string
	tenantHostPattern string
	// healthPath is the stack's service.healthCheckPath (the program sets
	// HEALTH_CHECK_PATH), where the target groups check the task.
	healthPath string
	// listenHost is empty (every interface) on ECS; a local rehearsal sets
	// LISTEN_HOST=127.0.0.1 so its tasks are reachable from this machine only.
	listenHost string
}

// Defaults: port 8080 is the service's default container port and 20s stays
// well inside ECS's default 30s stopTimeout between SIGTERM and SIGKILL.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	cfg := config{
		port:              get("PORT", "8080"),
		tenantMatch:       get("TENANT_MATCH", matchPath),
		tenantHeader:      get("TENANT_HEADER", "X-Tenant-Id"),
		tenantPathPattern: get("TENANT_PATH_PATTERN", "/app/{tenant}"),
		tenantHostPattern: get("TENANT_HOST_PATTERN", "{tenant}.example.com"),
		healthPath:        get("HEALTH_CHECK_PATH", defaultHealthPath),
		listenHost:        getenv("LISTEN_HOST"),
	}
	if !strings.HasPrefix(cfg.healthPath, "/") {
		return config{}, fmt.Errorf("HEALTH_CHECK_PATH %q: want a path starting with /", cfg.healthPath)
	}
	if p, err := strconv.Atoi(cfg.port); err != nil || p < 1 || p > 65535 {
		return config{}, fmt.Errorf("PORT %q: want a port number 1-65535", cfg.port)
	}
	timeout, err := time.ParseDuration(get("SHUTDOWN_TIMEOUT", "20s"))
	if err != nil || timeout <= 0 {
		return config{}, fmt.Errorf("SHUTDOWN_TIMEOUT %q: want a positive duration such as 20s", getenv("SHUTDOWN_TIMEOUT"))
	}
	cfg.shutdownTimeout = timeout
	return cfg, nil
}

// serve runs the server on ln until ctx is done, then shuts down gracefully:
// the listener closes at once (new connections are refused), in-flight
// requests finish, and after shutdownTimeout the rest are cut off.
// onShutdown, if set, runs once the listener is closed (tests use it).
func serve(ctx context.Context, ln net.Listener, handler http.Handler, shutdownTimeout time.Duration, logger *slog.Logger, onShutdown func()) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Longer than the ALB's default 60s idle timeout, so the ALB, not the
		// app, closes idle keep-alive connections (otherwise: sporadic 502s).
		IdleTimeout: 75 * time.Second,
	}
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("requests still running after %s, closed them: %w", shutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("shut down cleanly")
	return nil
}
