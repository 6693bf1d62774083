package protocol

import "testing"

// BenchmarkExplore explores one rollout with a rejection under
// approval.onReject=hold to exhaustion: the explorer's speed, in states per
// second, on this machine.
func BenchmarkExplore(b *testing.B) {
	s := Scenario{Name: "1 tenant, push, reject, onReject hold", Stack: fixture("hold"), Pushes: 1, Rejects: 1, Depth: 200}
	states := 0
	for b.Loop() {
		r := Explore(s)
		if r.Violation != nil || !r.Exhausted {
			b.Fatalf("violation %v, exhausted %v", r.Violation, r.Exhausted)
		}
		states = r.States
	}
	b.ReportMetric(float64(states), "states")
	b.ReportMetric(float64(states)*float64(b.N)/b.Elapsed().Seconds(), "states/s")
}
