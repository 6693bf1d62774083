package protocol

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Result is what one exploration found.
type Result struct {
	Scenario Scenario
	States   int // distinct states reached
	Steps    int // steps replayed, all paths together
	MaxDepth int // the deepest level any new state was found at
	// Complete is the number of levels explored in full: every
	// interleaving of up to Complete events was checked.
	Complete  int
	Exhausted bool
	// Walks and WalkSteps: the random walks run past a capped search
	// (Scenario.Walks) and the events they took.
	Walks, WalkSteps int
	Elapsed          time.Duration
	Violation        *Violation
	// Trace is the shortest sequence of events reaching the violation
	// (a walk's: one sequence, not necessarily the shortest).
	Trace []string
	// ByWalk: the violation was found by a walk, not by the search.
	ByWalk bool
	// KnownViolation, KnownTrace: the first violation matching
	// Scenario.Known that a walk reached (the walks went on after it).
	KnownViolation *Violation
	KnownTrace     []string
}

// Explore visits every state reachable within the scenario's bounds, level
// by level (so the first violation found has a shortest trace), pruning
// states already seen. A state is kept as a frozen copy of the world; the
// hooks' own state lives in their goroutines: a copy adopts the goroutine
// its state was left with (parking.go), or brings the hook back by running
// it again on the answers it got (respawn).
func Explore(s Scenario) Result { return explore(s, true) }

// explore is Explore, with the hooks' goroutines parked and their known
// steps taken as data (parking.go) or, without, every hook brought back by
// respawn at each step: the same search, slower (parking_test.go).
func explore(s Scenario, park bool) Result {
	start := time.Now()
	res := Result{Scenario: s}
	seen := map[uint64]bool{}
	root := newWorld(s)
	if park {
		root.parking = &parking{}
		defer root.parking.end()
	}
	if err := root.runPrefix(s); err != nil {
		res.Violation = &Violation{"prefix", err.Error()}
		res.Trace = traceOf(root)
		root.abort()
		return res
	}
	root = freeze(root)
	if v := root.check(); v != nil {
		res.Violation = v
		return res
	}
	// A prefix may end mid-rollout: I3's rest check applies only where
	// nothing happens by itself, as at every other state.
	if quiescent(s, root, root.actions(s)) {
		if v := root.checkRest(); v != nil {
			res.Violation = v
			return res
		}
	}
	seen[root.hash()] = true
	res.States = 1
	type node struct {
		w       *World
		actions int
	}
	frontier := []node{{root, len(root.actions(s))}}
	capped := false
	for depth := 0; depth < s.Depth && len(frontier) > 0 && !capped; depth++ {
		var next []node
		for _, parent := range frontier {
			if s.MaxStates > 0 && res.States >= s.MaxStates {
				capped = true
				break
			}
			for i := range parent.actions {
				// The parent's last event is taken on the parent itself:
				// a frozen world owns its structures, and nothing reads
				// an expanded state again.
				cw := parent.w
				if i < parent.actions-1 {
					cw = parent.w.thaw()
				}
				res.Steps++
				a := cw.actions(s)[i]
				cw.log = append(cw.log, a.Label)
				a.Do()
				acts := cw.actions(s)
				v := cw.check()
				if v == nil && quiescent(s, cw, acts) {
					v = cw.checkRest()
				}
				if v != nil {
					res.Violation, res.Trace = v, traceOf(cw)
					cw.abort()
					res.Elapsed = time.Since(start)
					return res
				}
				h := cw.hash()
				if seen[h] {
					cw.abort()
					continue
				}
				seen[h] = true
				res.States++
				res.MaxDepth = depth + 1
				n := node{cw.frozen(), len(acts)}
				cw.abort()
				next = append(next, n)
			}
		}
		if !capped && len(next) > 0 {
			res.Complete = depth + 1
		}
		frontier = next
		keep := make([]*World, len(next))
		for i, n := range next {
			keep[i] = n.w
		}
		root.parking.sweep(keep)
	}
	res.Exhausted = len(frontier) == 0 && !capped
	if !res.Exhausted && len(frontier) > 0 && s.Walks > 0 {
		starts := make([]*World, len(frontier))
		for i, n := range frontier {
			starts[i] = n.w
		}
		walk(s, starts, &res)
	}
	res.Elapsed = time.Since(start)
	return res
}

// walk runs s.Walks seeded random walks, each from one state of the
// capped search's last frontier, picked at random, until the system
// comes to rest or s.WalkDepth events have passed, checking every
// invariant after every event as the search does. Where the search stops
// short of the end of a rollout — the states a bug needs are often 40 or
// 60 events deep, past any breadth-first cap — a walk still reaches it
// along one interleaving; the walks pick among the enabled events at
// random, seeded by the scenario's name, so a run is repeatable. A
// violation found by a walk has a trace, not necessarily a shortest one.
func walk(s Scenario, starts []*World, res *Result) {
	f := fnv.New64a()
	f.Write([]byte(s.Name + "\x00" + s.Reading.String()))
	rng := rand.New(rand.NewPCG(f.Sum64(), uint64(len(s.Prefix))))
	depth := s.WalkDepth
	if depth == 0 {
		depth = 300
	}
	for i := 0; i < s.Walks; i++ {
		start := starts[rng.IntN(len(starts))]
		w := start.thaw()
		res.Walks++
		var path []string
		for range depth {
			acts := w.actions(s)
			if len(acts) == 0 {
				break
			}
			a := acts[rng.IntN(len(acts))]
			w.log = append(w.log, a.Label)
			path = append(path, a.Label)
			a.Do()
			res.WalkSteps++
			next := w.actions(s)
			v := w.check()
			rest := quiescent(s, w, next)
			if v == nil && rest {
				v = w.checkRest()
			}
			if s.known(v) {
				if res.KnownViolation == nil {
					res.KnownViolation, res.KnownTrace = v, traceOf(w)
				}
				break
			}
			if v != nil {
				w.abort()
				res.Violation, res.Trace = shrink(s, start, path, v)
				res.ByWalk = true
				return
			}
			if rest && !hasExternal(next) {
				break // at rest, and nothing a person could do
			}
		}
		w.abort()
	}
}

// shrink makes a walk's violating path shorter: it drops runs of events
// (halves, quarters, … single events) as long as the rest, replayed by
// label from the walk's start, still violates the same invariant, and
// returns that violation and its trace. A label names its hook invocation
// and deployment by number, so dropping the event that creates one makes
// the later ones unmatched and that run stays.
func shrink(s Scenario, start *World, path []string, v *Violation) (*Violation, []string) {
	replay := func(labels []string) (*Violation, []string) {
		w := start.thaw()
		defer w.abort()
		for _, l := range labels {
			acts := w.actions(s)
			i := slices.IndexFunc(acts, func(a Action) bool { return a.Label == l })
			if i < 0 {
				return nil, nil
			}
			w.log = append(w.log, l)
			acts[i].Do()
			got := w.check()
			if got == nil && quiescent(s, w, w.actions(s)) {
				got = w.checkRest()
			}
			if got != nil {
				if got.Invariant == v.Invariant && !s.known(got) {
					return got, traceOf(w)
				}
				return nil, nil
			}
		}
		return nil, nil
	}
	bestV, bestTrace := replay(path)
	if bestV == nil {
		// Not repeatable by label (it should be): keep the walk as it was.
		return v, append(append([]string(nil), start.log...), path...)
	}
	for chunk := len(path) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(path); {
			cand := append(slices.Clone(path[:i]), path[i+chunk:]...)
			if got, trace := replay(cand); got != nil {
				path, bestV, bestTrace = cand, got, trace
				continue
			}
			i += chunk
		}
	}
	return bestV, bestTrace
}

func hasExternal(acts []Action) bool {
	for _, a := range acts {
		if a.External {
			return true
		}
	}
	return false
}

// freeze is a copy of w without live goroutines, w's ended.
func freeze(w *World) *World {
	c := w.clone()
	w.abort()
	return c
}

// runPrefix takes the scenario's Prefix: each entry is the first enabled
// event whose label contains it; or "settle until X": every event that
// happens by itself, the least recently taken first, until an event whose
// label contains X is enabled; or "settle without X": the same, leaving
// every event whose label contains X, until nothing else happens by
// itself. The invariants hold at every step.
func (w *World) runPrefix(s Scenario) error {
	for k, want := range s.Prefix {
		if without, ok := strings.CutPrefix(want, "settle without "); ok {
			if err := w.settle(s, "", []string{without}); err != nil {
				return err
			}
			continue
		}
		if until, ok := strings.CutPrefix(want, "settle until "); ok {
			// Settling never takes an event a later entry names: the
			// prefix says when that one happens.
			var later []string
			for _, p := range s.Prefix[k+1:] {
				if !strings.HasPrefix(p, "settle until ") {
					later = append(later, p)
				}
			}
			if err := w.settle(s, until, later); err != nil {
				return err
			}
			continue
		}
		found := false
		for _, a := range w.actions(s) {
			if strings.Contains(a.Label, want) {
				w.log = append(w.log, a.Label)
				a.Do()
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("prefix: no enabled event matches %q", want)
		}
		if v := w.check(); v != nil {
			return v
		}
	}
	return nil
}

// settle takes every event that happens by itself, the least recently
// taken first, never one whose label contains an entry of skip. With until
// it stops once an event whose label contains until is enabled (and fails
// if nothing more happens first); without (until == "") it also leaves the
// hook polls that change nothing, and stops once nothing else is enabled.
func (w *World) settle(s Scenario, until string, skip []string) error {
	last := map[string]int{}
	for step := range 1000 {
		acts := w.actions(s)
		var next *Action
		for i, a := range acts {
			if until != "" && strings.Contains(a.Label, until) {
				return nil
			}
			if a.External || until == "" && a.Waiting || slices.ContainsFunc(skip, func(l string) bool { return strings.Contains(a.Label, l) }) {
				continue
			}
			if next == nil || last[a.Label] < last[next.Label] {
				next = &acts[i]
			}
		}
		if next == nil {
			if until == "" {
				return nil
			}
			return fmt.Errorf("prefix: nothing more happens by itself, and no event matches %q", until)
		}
		last[next.Label] = step + 1
		w.log = append(w.log, next.Label)
		next.Do()
		if v := w.check(); v != nil {
			return v
		}
	}
	if until == "" {
		return fmt.Errorf("prefix: events other than %q still happen after 1000 steps", skip)
	}
	return fmt.Errorf("prefix: no event matches %q after 1000 steps", until)
}

// quiescent: nothing changes unless a person (or a disturbance the
// scenario allows) acts: every enabled event is external, or a hook's poll
// past deadlinePolls that brings the state back to itself (it waits for
// something that does not come).
func quiescent(s Scenario, w *World, acts []Action) bool {
	waits := false
	for _, a := range acts {
		if !a.External && !a.Waiting {
			return false
		}
		waits = waits || a.Waiting
	}
	if !waits {
		return true
	}
	h := w.hash()
	for i, a := range acts {
		if !a.Waiting {
			continue
		}
		c := w.thaw()
		c.actions(s)[i].Do()
		same := c.hash() == h
		c.abort()
		if !same {
			return false
		}
	}
	return true
}

// traceOf is the violating path as a user would read it: each event, with
// what the model did and what the functions logged in between.
func traceOf(w *World) []string {
	out := append([]string(nil), w.log...)
	for _, inv := range w.invocations {
		for _, l := range inv.logs {
			out = append(out, fmt.Sprintf("  log %s#%d: %s", inv.Hook, inv.N, l))
		}
	}
	return out
}

// Format renders a result for the test log.
func (r Result) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-46s %-41s states=%-7d complete-depth=%-3d max-depth=%-3d %s %.0f states/s", r.Scenario.Name, r.Scenario.Reading, r.States, r.Complete, r.MaxDepth, r.Elapsed.Round(time.Millisecond), r.StatesPerSecond())
	if r.Exhausted {
		b.WriteString(" (exhausted)")
	}
	if r.Walks > 0 {
		fmt.Fprintf(&b, " walks=%d (%d events)", r.Walks, r.WalkSteps)
	}
	if r.Violation != nil {
		by := ""
		if r.ByWalk {
			by = " (found by a walk: one trace, not necessarily the shortest)"
		}
		fmt.Fprintf(&b, "\nVIOLATION%s %s\n", by, r.Violation)
		for i, l := range r.Trace {
			fmt.Fprintf(&b, "  %2d. %s\n", i+1, l)
		}
	}
	return b.String()
}

// ReportEnv names the file TestProtocol writes its ReportLines to.
const ReportEnv = "TENANT_CANARY_EXPLORE_REPORT"

// ReportLine is one scenario's result, as cmd/figures reads it.
type ReportLine struct {
	Scenario      string  `json:"scenario"`
	Reading       string  `json:"reading"`
	States        int     `json:"states"`
	CompleteDepth int     `json:"completeDepth"`
	MaxDepth      int     `json:"maxDepth"`
	Exhausted     bool    `json:"exhausted"`
	Seconds       float64 `json:"seconds"`
	// StatesPerSecond is the explorer's speed on this scenario.
	StatesPerSecond float64 `json:"statesPerSecond"`
	Violation       string  `json:"violation"`
	// Walks and WalkEvents: the random walks taken past a capped search
	// and the events they took.
	Walks      int `json:"walks,omitempty"`
	WalkEvents int `json:"walkEvents,omitempty"`
	// KnownFinding is a violation the scenario is known to reach (a hook
	// bug not fixed yet), reported instead of failing.
	KnownFinding string `json:"knownFinding,omitempty"`
}

// StatesPerSecond is the exploration's speed.
func (r Result) StatesPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.States) / r.Elapsed.Seconds()
}
