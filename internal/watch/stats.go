package watch

import (
	"math"
	"slices"
	"sync"
	"time"
)

// failure classifies a request that did not get a clean, attributable answer.
// Each sample has at most one; none of them is ever dropped from the counts.
type failure int

const (
	noFailure failure = iota
	transport         // no HTTP response: refused, reset, DNS, TLS…
	timedOut          // no complete response within -timeout
	non2xx            // an HTTP response with a status outside 200-299
	noVersion         // a 2xx response without X-App-Version
	numFailures
)

// sample is the outcome of one request.
type sample struct {
	at      time.Time // when the request was sent
	target  int       // index into plan.targets
	version string    // X-App-Version, "" when absent or no response
	status  int       // HTTP status, 0 without a response
	latency time.Duration
	failure failure
}

// targetStats aggregates the samples of one target.
type targetStats struct {
	requests  int
	versions  map[string]int // responses per X-App-Version
	failures  [numFailures]int
	latencies []time.Duration // of samples with an HTTP response, sorted
}

// answered is how many responses named their version: the denominator of
// the version shares.
func (s targetStats) answered() int {
	n := 0
	for _, c := range s.versions {
		n += c
	}
	return n
}

// share is the fraction of answered responses that came from version.
func (s targetStats) share(version string) (float64, bool) {
	n := s.answered()
	if n == 0 {
		return 0, false
	}
	return float64(s.versions[version]) / float64(n), true
}

func (s targetStats) errors() int {
	n := 0
	for _, c := range s.failures[1:] {
		n += c
	}
	return n
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted latencies, false when there are none.
func percentile(sorted []time.Duration, p float64) (time.Duration, bool) {
	if len(sorted) == 0 {
		return 0, false
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1], true
}

// aggregate turns samples into per-target statistics.
func aggregate(samples []sample, numTargets int) []targetStats {
	stats := make([]targetStats, numTargets)
	for i := range stats {
		stats[i].versions = map[string]int{}
	}
	for _, s := range samples {
		st := &stats[s.target]
		st.requests++
		st.failures[s.failure]++
		if s.version != "" {
			st.versions[s.version]++
		}
		if s.status != 0 {
			st.latencies = append(st.latencies, s.latency)
		}
	}
	for i := range stats {
		slices.Sort(stats[i].latencies)
	}
	return stats
}

// inWindow returns the samples sent after now-window. samples are in the
// order they were recorded, which is close to but not exactly send order,
// so it filters rather than cutting at the first recent sample.
func inWindow(samples []sample, now time.Time, window time.Duration) []sample {
	cutoff := now.Add(-window)
	var recent []sample
	for _, s := range samples {
		if s.at.After(cutoff) {
			recent = append(recent, s)
		}
	}
	return recent
}

// versionSeen records when a target was first and last answered by a version.
type versionSeen struct {
	first, last time.Time
}

// recorder collects samples from concurrent requests: a sliding window for
// the live table, and whole-run totals for the summary.
type recorder struct {
	mu         sync.Mutex
	numTargets int
	window     time.Duration
	recent     []sample
	all        []sample
	versions   []string // in the order first seen: old version first
	seen       []map[string]versionSeen
	skipped    int
}

func newRecorder(numTargets int, window time.Duration) *recorder {
	seen := make([]map[string]versionSeen, numTargets)
	for i := range seen {
		seen[i] = map[string]versionSeen{}
	}
	return &recorder{numTargets: numTargets, window: window, seen: seen}
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent = append(r.recent, s)
	r.all = append(r.all, s)
	if s.version == "" {
		return
	}
	if !slices.Contains(r.versions, s.version) {
		r.versions = append(r.versions, s.version)
	}
	v, ok := r.seen[s.target][s.version]
	if !ok || s.at.Before(v.first) {
		v.first = s.at
	}
	if s.at.After(v.last) {
		v.last = s.at
	}
	r.seen[s.target][s.version] = v
}

// skip counts a request not sent because -rate×-timeout were in flight.
func (r *recorder) skip() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped++
}

// snapshot is what one refresh of the table shows.
type snapshot struct {
	at       time.Time
	versions []string
	stats    []targetStats
	seen     []map[string]versionSeen
	skipped  int
}

// windowSnapshot aggregates the samples of the last window, dropping older
// ones for good.
func (r *recorder) windowSnapshot(now time.Time) snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent = inWindow(r.recent, now, r.window)
	return snapshot{at: now, versions: slices.Clone(r.versions), stats: aggregate(r.recent, r.numTargets), skipped: r.skipped}
}

// totalSnapshot aggregates every sample of the run.
func (r *recorder) totalSnapshot(now time.Time) snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make([]map[string]versionSeen, len(r.seen))
	for i, m := range r.seen {
		seen[i] = make(map[string]versionSeen, len(m))
		for k, v := range m {
			seen[i][k] = v
		}
	}
	return snapshot{at: now, versions: slices.Clone(r.versions), stats: aggregate(r.all, r.numTargets), seen: seen, skipped: r.skipped}
}

// versionsSeenBy lists the versions that answered a target, in the order
// of versions (the run's first-seen order: old version first).
func versionsSeenBy(seen map[string]versionSeen, versions []string) []string {
	var out []string
	for _, v := range versions {
		if _, ok := seen[v]; ok {
			out = append(out, v)
		}
	}
	return out
}
