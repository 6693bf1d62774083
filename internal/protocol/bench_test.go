package protocol

import "testing"

// BenchmarkExplore explores one rollout with a rejection under
// approval.onReject=hold to exhaustion: the explorer's speed, in states per
// second, on this machine.
func BenchmarkExplore(b *testing.B) { benchmarkExplore(b, true) }

// BenchmarkExploreRespawning is the same search with every hook brought
// back by respawn at each step, as before parking.go: what parked
// goroutines and known steps save.
func BenchmarkExploreRespawning(b *testing.B) { benchmarkExplore(b, false) }

func benchmarkExplore(b *testing.B, park bool) {
	s := Scenario{Name: "1 tenant, push, reject, onReject hold", Stack: fixture("hold"), Pushes: 1, Rejects: 1, Depth: 200}
	states := 0
	for b.Loop() {
		r := explore(s, park)
		if r.Violation != nil || !r.Exhausted {
			b.Fatalf("violation %v, exhausted %v", r.Violation, r.Exhausted)
		}
		states = r.States
	}
	b.ReportMetric(float64(states), "states")
	b.ReportMetric(float64(states)*float64(b.N)/b.Elapsed().Seconds(), "states/s")
}
