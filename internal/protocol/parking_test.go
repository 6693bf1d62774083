package protocol

import (
	"slices"
	"testing"
)

// Parked goroutines and known steps (parking.go) change who computes a
// hook's next call, never what it is: the search with them visits the same
// states in the same order as the search that respawns every hook at every
// step, to the same verdict and the same trace — on a search run to the
// end, on one stopped at its cap with walks after it and deadline faults
// (the path a known step must not take), and on one that finds a
// violation.
func TestParkingExploresWhatRespawningExplores(t *testing.T) {
	for _, s := range []Scenario{
		{Name: "1 tenant, push, reject, onReject hold", Stack: fixture("hold"), Pushes: 1, Rejects: 1, Depth: 200},
		{Name: "1 tenant, push, hook fault or deadline", Stack: fixture("tenants-1"), Pushes: 1, Faults: 1, Depth: 200, MaxStates: 4000, Walks: 20},
		{Name: "stale pulumi up plan, push", Stack: fixture("tenants-1"), StableOnGreen: true, StalePlan: true, Pushes: 1, Depth: 200},
	} {
		t.Run(s.Name, func(t *testing.T) {
			fast, slow := explore(s, true), explore(s, false)
			if fast.States != slow.States || fast.Complete != slow.Complete || fast.MaxDepth != slow.MaxDepth ||
				fast.Exhausted != slow.Exhausted || fast.Walks != slow.Walks || fast.WalkSteps != slow.WalkSteps {
				t.Errorf("parked: %d states, complete %d, max %d, exhausted %v, %d walks (%d events); respawned: %d, %d, %d, %v, %d (%d)",
					fast.States, fast.Complete, fast.MaxDepth, fast.Exhausted, fast.Walks, fast.WalkSteps,
					slow.States, slow.Complete, slow.MaxDepth, slow.Exhausted, slow.Walks, slow.WalkSteps)
			}
			if violationText(fast.Violation) != violationText(slow.Violation) || !slices.Equal(fast.Trace, slow.Trace) {
				t.Errorf("parked: %v\n%v\nrespawned: %v\n%v", fast.Violation, fast.Trace, slow.Violation, slow.Trace)
			}
			t.Logf("%d states, exhausted %v, violation %v", fast.States, fast.Exhausted, fast.Violation)
		})
	}
}
