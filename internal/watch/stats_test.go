package watch

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileIsNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
		ok     bool
	}{
		{name: "empty", sorted: nil, p: 50},
		{name: "one", sorted: []time.Duration{ms(7)}, p: 99, want: ms(7), ok: true},
		{name: "p50 of 1..100", sorted: hundred, p: 50, want: ms(50), ok: true},
		{name: "p90 of 1..100", sorted: hundred, p: 90, want: ms(90), ok: true},
		{name: "p99 of 1..100", sorted: hundred, p: 99, want: ms(99), ok: true},
		{name: "p100", sorted: hundred, p: 100, want: ms(100), ok: true},
		{name: "p99 of four is the max", sorted: []time.Duration{ms(1), ms(2), ms(3), ms(400)}, p: 99, want: ms(400), ok: true},
		{name: "p50 of four", sorted: []time.Duration{ms(1), ms(2), ms(3), ms(400)}, p: 50, want: ms(2), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := percentile(tt.sorted, tt.p)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAggregateCountsEveryFailureAndSharesOnlyAttributedResponses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []sample{
		{at: t0, target: 0, version: "v1", status: 200, latency: ms(10)},
		{at: t0, target: 0, version: "v1", status: 200, latency: ms(30)},
		{at: t0, target: 0, version: "v2", status: 200, latency: ms(20)},
		{at: t0, target: 0, version: "v2", status: 500, latency: ms(5), failure: non2xx},
		{at: t0, target: 1, status: 503, latency: ms(1), failure: non2xx},
		{at: t0, target: 1, status: 200, latency: ms(2), failure: noVersion},
		{at: t0, target: 1, latency: ms(5000), failure: timedOut},
		{at: t0, target: 1, latency: ms(3), failure: transport},
	}
	stats := aggregate(samples, 3)
	require.Len(t, stats, 3)

	assert.Equal(t, 4, stats[0].requests)
	assert.Equal(t, map[string]int{"v1": 2, "v2": 2}, stats[0].versions)
	share, ok := stats[0].share("v2")
	assert.True(t, ok)
	assert.InDelta(t, 0.5, share, 1e-9, "a 500 from v2 is still served by v2")
	assert.Equal(t, 1, stats[0].errors())
	assert.Equal(t, []time.Duration{ms(5), ms(10), ms(20), ms(30)}, stats[0].latencies)

	assert.Equal(t, 4, stats[1].requests)
	assert.Equal(t, 4, stats[1].errors())
	assert.Equal(t, [numFailures]int{noFailure: 0, transport: 1, timedOut: 1, non2xx: 1, noVersion: 1}, stats[1].failures)
	_, ok = stats[1].share("v1")
	assert.False(t, ok, "no share without an attributed response")
	assert.Equal(t, []time.Duration{ms(1), ms(2)}, stats[1].latencies, "latency only of requests that got a response")

	assert.Equal(t, 0, stats[2].requests)
}

func TestWindowForgetsOldSamplesButTotalsKeepThem(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rec := newRecorder(1, 30*time.Second)
	rec.add(sample{at: t0, version: "v1", status: 200})
	rec.add(sample{at: t0.Add(20 * time.Second), version: "v2", status: 200})
	rec.add(sample{at: t0.Add(40 * time.Second), version: "v2", status: 200})

	win := rec.windowSnapshot(t0.Add(45 * time.Second))
	assert.Equal(t, 2, win.stats[0].requests)
	assert.Equal(t, map[string]int{"v2": 2}, win.stats[0].versions)
	assert.Equal(t, []string{"v1", "v2"}, win.versions, "columns keep every version seen, oldest first")

	win = rec.windowSnapshot(t0.Add(71 * time.Second))
	assert.Equal(t, 0, win.stats[0].requests)

	total := rec.totalSnapshot(t0.Add(71 * time.Second))
	assert.Equal(t, 3, total.stats[0].requests)
	assert.Equal(t, versionSeen{first: t0.Add(20 * time.Second), last: t0.Add(40 * time.Second)}, total.seen[0]["v2"])
	assert.Equal(t, []string{"v1", "v2"}, versionsSeenBy(total.seen[0], total.versions))
}

func TestInWindowKeepsOutOfOrderSamples(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []sample{{at: t0.Add(5 * time.Second)}, {at: t0}, {at: t0.Add(6 * time.Second)}}
	got := inWindow(samples, t0.Add(10*time.Second), 7*time.Second)
	assert.Len(t, got, 2)
}

func BenchmarkWindowSnapshot(b *testing.B) {
	// 30s at 100 req/s (the rate cap) over 6 targets.
	t0 := time.Unix(1000, 0)
	rec := newRecorder(6, 30*time.Second)
	for i := range 3000 {
		rec.add(sample{at: t0.Add(time.Duration(i) * 10 * time.Millisecond), target: i % 6,
			version: fmt.Sprintf("v%d", 1+i%2), status: 200, latency: ms(i % 97)})
	}
	now := t0.Add(30 * time.Second)
	for b.Loop() {
		rec.windowSnapshot(now)
	}
}
