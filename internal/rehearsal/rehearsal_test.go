package rehearsal

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// recorder keeps what the traffic was served.
type recorder struct {
	mu  sync.Mutex
	all []Response
}

func (r *recorder) add(res Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, res)
}

func (r *recorder) since(n int) []Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Response{}, r.all[min(n, len(r.all)):]...)
}

// sentAfter are the responses to the requests sent after at (rehearsal
// time): a request sent before may still be answered after it.
func (r *recorder) sentAfter(at time.Time) []Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Response
	for _, res := range r.all {
		if res.Time.After(at) {
			out = append(out, res)
		}
	}
	return out
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

func start(t *testing.T, speed float64) (*Rehearsal, *recorder) {
	t.Helper()
	stack, err := protocol.LoadStack("../protocol/testdata/stacks/tenants-1.json")
	require.NoError(t, err)
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Start(ctx, Options{Stack: stack, SourceDir: "../..", CacheDir: buildCache(t, t.Name()), Speed: speed, Log: log})
	require.NoError(t, err)
	rec := &recorder{}
	// Above the alarms' minimum request rate for the canary's share (20
	// requests a minute at 10 % is 200 a minute, untenanted), with the
	// margin the scenarios have on a busy machine (ScenarioTraffic).
	done := make(chan struct{})
	go func() { defer close(done); r.Traffic(ctx, ScenarioTraffic, rec.add) }()
	t.Cleanup(func() {
		cancel()
		<-done
		require.NoError(t, r.Close())
	})
	return r, rec
}

// buildCache is where the rehearsal called name keeps the sample app's
// builds: its own directory under the user cache, so rehearsals running at
// the same time never share one. The builder keeps one binary per version
// name in a directory and drops the others, and the tests push the same
// name with different specs (v2 good in one, v2 answering 5xx in another):
// in one directory they would delete each other's binaries while the tasks
// still need them. In the user cache, not a temporary directory, so the
// next run reuses them.
func buildCache(t *testing.T, name string) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		return t.TempDir()
	}
	return filepath.Join(base, "tenant-canary", "sampleapp-tests", "rehearsal", filepath.FromSlash(name))
}

// wait polls cond for at most d of wall time.
func wait(t *testing.T, r *Rehearsal, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s; the model: %s; violations: %v; function errors: %v",
				what, d, r.Model().Describe(), r.Violations(), r.FunctionErrors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A bad version is stopped by the program's alarm for its kind of bad,
// evaluated on what the load balancer measured of the canary's real
// responses: half of them 500s (the error-rate alarm), or each 3 s late
// (the p99 latency alarm; the app sleeps 3 s of rehearsal time). The pinned
// tenant never sees it and everyone ends on the old version.
func TestABadVersionIsStoppedByARealAlarm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ bad, alarm string }{{"5xx=50%", "errors"}, {"latency=3s", "latency"}} {
		t.Run(tc.bad, func(t *testing.T) {
			turn := rehearsals.ticket()
			t.Parallel() // each its own rehearsal, in turn (rehearsals)
			rehearsals.wait(t, turn)
			r, rec := start(t, 60)
			wait(t, r, "traffic on v1", 20*time.Second, func() bool { return rec.len() > 10 })
			spec, err := badversion.Parse(tc.bad)
			require.NoError(t, err)
			require.NoError(t, r.Push(context.Background(), "v2", spec))
			var stopped bool
			wait(t, r, "the deployment stopped", 120*time.Second, func() bool {
				r.Model().Inspect(func(w *protocol.World) {
					for _, d := range w.Deployments {
						stopped = stopped || d.Status == protocol.DepStopped
					}
				})
				return stopped
			})
			wait(t, r, "the rollout at rest", 90*time.Second, func() bool { return r.Model().AtRest() && !r.Busy() })
			// Requests sent once the rollout is at rest: one sent before may
			// be answered after, by the bad version it reached (latency=3s
			// answers 50 ms late).
			settled := r.Clock().Now()
			wait(t, r, "traffic after the rollback", 20*time.Second, func() bool { return len(rec.sentAfter(settled)) > 20 })

			trace, _ := r.Model().Trace(0)
			// The program names each alarm <prefix>-<service>-tg<i>-<signal>.
			stoppedBy := regexp.MustCompile(`alarm \S+-latest-tg[01]-` + tc.alarm + ` on `)
			assert.True(t, slices.ContainsFunc(trace, stoppedBy.MatchString), "stopped by the %s alarm: %v", tc.alarm, trace)
			var servedBad int
			for _, res := range rec.since(0) {
				if res.Tenant != "" {
					assert.NotEqual(t, "v2", res.Version, "the pinned tenant was served the bad version: %+v", res)
				}
				if res.Version == "v2" {
					servedBad++
				}
			}
			assert.Positive(t, servedBad, "the canary served the bad version")
			for _, res := range rec.sentAfter(settled) {
				assert.Equal(t, InitialVersion, res.Version, "after the rollback, %+v", res)
			}
			assert.Empty(t, r.Violations())
		})
	}
}
