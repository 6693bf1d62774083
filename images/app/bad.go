package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Set at build time to build a bad release on purpose, for rehearsing a
// rollout that must be stopped (the Dockerfile's BAD_* build arguments, or
// `go build -ldflags "-X main.bad5xxPercent=50"`). internal/badversion turns
// the user's `--bad 5xx=50%` into these; all empty is a good build.
var (
	bad5xxPercent = "" // 1-100: that share of answers (health checks excepted) are 500s
	badLatency    = "" // a duration: every answer (health checks excepted) waits that long
	badHealth     = "" // "true": the health-check path answers 503
	badRefuse     = "" // "true": the app never listens, so connections are refused
)

// maxBadLatency matches internal/badversion's bound.
const maxBadLatency = 2 * time.Minute

// badBehaviour is how a bad build misbehaves; the zero value is a good one.
type badBehaviour struct {
	errorPercent int
	latency      time.Duration
	failHealth   bool
	refuse       bool
	requests     atomic.Uint64
	// wait is the latency's timer (time.After unless a test sets it).
	wait func(time.Duration) <-chan time.Time
}

// loadBad validates the build-time values, so a bad build made with a typo
// fails at start, naming the variable, instead of behaving well.
func loadBad(errorPercent, latency, health, refuse string) (*badBehaviour, error) {
	b := &badBehaviour{}
	var problems []error
	if errorPercent != "" {
		n, err := strconv.Atoi(errorPercent)
		if err != nil || n < 1 || n > 100 {
			problems = append(problems, fmt.Errorf("build-time main.bad5xxPercent %q: want 1-100 or empty", errorPercent))
		}
		b.errorPercent = n
	}
	if latency != "" {
		d, err := time.ParseDuration(latency)
		if err != nil || d <= 0 || d > maxBadLatency {
			problems = append(problems, fmt.Errorf("build-time main.badLatency %q: want a positive duration up to %s, or empty", latency, maxBadLatency))
		}
		b.latency = d
	}
	for _, f := range []struct {
		name, value string
		set         *bool
	}{{"main.badHealth", health, &b.failHealth}, {"main.badRefuse", refuse, &b.refuse}} {
		switch f.value {
		case "", "false":
		case "true":
			*f.set = true
		default:
			problems = append(problems, fmt.Errorf("build-time %s %q: want true, false or empty", f.name, f.value))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return b, nil
}

// describe is the bad build in internal/badversion's spec form ("" if good).
func (b *badBehaviour) describe() string {
	s := ""
	add := func(p string) {
		if s != "" {
			s += ","
		}
		s += p
	}
	if b.errorPercent > 0 {
		add(fmt.Sprintf("5xx=%d%%", b.errorPercent))
	}
	if b.latency > 0 {
		add("latency=" + b.latency.String())
	}
	if b.failHealth {
		add("health")
	}
	if b.refuse {
		add("refuse")
	}
	return s
}

// wrap makes next misbehave as built. The health-check path (the one the
// target groups probe, HEALTH_CHECK_PATH) answers 503 with failHealth and is
// otherwise left alone: a release that answers users badly but passes its
// health checks is the one only the rollback alarms can stop.
func (b *badBehaviour) wrap(healthPath string, next http.Handler) http.Handler {
	if b.errorPercent == 0 && b.latency == 0 && !b.failHealth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == healthPath {
			if b.failHealth {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "unhealthy: this version was built bad (health)", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if b.latency > 0 {
			wait := b.wait
			if wait == nil {
				wait = time.After
			}
			select {
			case <-wait(b.latency):
			case <-r.Context().Done():
				return
			}
		}
		// Request n fails when it crosses a multiple of 100/errorPercent:
		// exactly errorPercent of every 100 consecutive requests, spread
		// evenly, so a rehearsal's error rate is the one asked for.
		if n := b.requests.Add(1); b.errorPercent > 0 && n*uint64(b.errorPercent)/100 != (n-1)*uint64(b.errorPercent)/100 {
			http.Error(w, "internal error: this version was built bad (5xx)", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse is the app built with refuse: it runs (ECS sees a running task)
// but never listens, so every connection to its port is refused — what the
// load balancer counts in TargetConnectionErrorCount
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html)
// — health checks included. It stops on SIGTERM like the real app.
func refuse(ctx context.Context, port string, logger *slog.Logger) error {
	logger.Info("refusing", "port", port, "bad", "refuse")
	<-ctx.Done()
	logger.Info("shut down cleanly")
	return nil
}
