package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func renderFixture() (header, snapshot, []target) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	targets := planTargets([]string{"123"}, []string{"7"})
	samples := []sample{
		{at: t0, target: 0, version: "v1", status: 200, latency: ms(12)},
		{at: t0.Add(time.Second), target: 0, version: "v1", status: 200, latency: ms(14)},
		{at: t0, target: 1, version: "v1", status: 200, latency: ms(11)},
		{at: t0.Add(time.Second), target: 1, version: "v2", status: 200, latency: ms(9)},
		{at: t0.Add(2 * time.Second), target: 1, version: "v2", status: 200, latency: ms(1500)},
		{at: t0.Add(3 * time.Second), target: 1, status: 502, latency: ms(3), failure: non2xx},
		{at: t0.Add(3 * time.Second), target: 2, latency: ms(5000), failure: timedOut},
	}
	rec := newRecorder(len(targets), time.Minute)
	for _, s := range samples {
		rec.add(s)
	}
	rec.skip()
	h := header{url: "http://alb", match: tenantMatch{kind: "path", pathPattern: "/app/{tenant}"}, rate: 10, window: time.Minute, elapsed: 95500 * time.Millisecond}
	return h, rec.totalSnapshot(t0.Add(4 * time.Second)), targets
}

func TestTableShowsSharesErrorsAndLatencyPerTenant(t *testing.T) {
	h, snap, targets := renderFixture()
	got := renderTable(h, snap, targets)
	want := `tenant-canary watch  http://alb  tenant path /app/{tenant}  10 req/s  last 1m0s  elapsed 1m35s
TENANT        REQS      v1     v2  NON-2XX  TIMEOUT  TRANSPORT  NO-VERSION    P50    P90    P99
123 (pinned)     2  100.0%   0.0%        0        0          0           0   12ms   14ms   14ms
7                4   33.3%  66.7%        1        0          0           0  9.0ms  1.50s  1.50s
(untenanted)     1       -      -        0        1          0           0      -      -      -
skipped 1 requests: -rate x -timeout requests were already in flight
`
	assert.Equal(t, want, got)
}

func TestSummaryShowsTotalsAndWhenEachVersionAnswered(t *testing.T) {
	h, snap, targets := renderFixture()
	got := renderSummary(h, snap, targets)
	assert.Contains(t, got, "7 requests, errors: 2\n")
	assert.Contains(t, got, "  123 (pinned)  v1 12:00:00-12:00:01\n")
	assert.Contains(t, got, "  7             v1 12:00:00-12:00:00, v2 12:00:01-12:00:02\n")
	assert.Contains(t, got, "  (untenanted)  none\n")
}

func TestLatencyFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Microsecond: "0.4ms",
		ms(9):                  "9.0ms",
		ms(10):                 "10ms",
		ms(999):                "999ms",
		ms(1234):               "1.23s",
	} {
		assert.Equal(t, want, formatLatency(d, true))
	}
	assert.Equal(t, "-", formatLatency(0, false))
}

func BenchmarkRenderTable(b *testing.B) {
	h, snap, targets := renderFixture()
	for b.Loop() {
		_ = renderTable(h, snap, targets)
	}
}

func TestRowsAreAligned(t *testing.T) {
	out := formatRows([][]string{{"A", "1"}, {"long name", "12345"}})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.Equal(t, []string{"A              1", "long name  12345"}, lines)
}
