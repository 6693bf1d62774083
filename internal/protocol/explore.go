package protocol

import (
	"fmt"
	"strings"
	"time"
)

// Result is what one exploration found.
type Result struct {
	Scenario  Scenario
	States    int // distinct states reached
	Steps     int // steps replayed, all paths together
	MaxDepth  int // the deepest level any new state was found at
	Exhausted bool
	Elapsed   time.Duration
	Violation *Violation
	// Trace is the shortest sequence of events reaching the violation.
	Trace []string
}

// run replays a path of choices from the initial state, checking the
// invariants after every step. It returns the world (with its invocations
// still live: call abort) and the labels of the steps taken.
func run(s Scenario, path []int) (*World, []string, *Violation, int) {
	w := newWorld(s)
	var labels []string
	for i, choice := range path {
		acts := w.actions(s)
		if choice >= len(acts) {
			panic(fmt.Sprintf("protocol: path %v does not replay at step %d (%d actions)", path, i, len(acts)))
		}
		a := acts[choice]
		w.log = append(w.log, a.Label)
		labels = append(labels, a.Label)
		a.Do()
		if v := w.check(); v != nil {
			return w, labels, v, i + 1
		}
	}
	return w, labels, nil, len(path)
}

// Explore visits every state reachable within the scenario's bounds, level
// by level (so the first violation found has a shortest trace), pruning
// states already seen. Each path is replayed from the start: the hooks'
// own state lives in their goroutines, which cannot be copied.
func Explore(s Scenario) Result {
	start := time.Now()
	res := Result{Scenario: s}
	seen := map[uint64]bool{}
	w, _, v, _ := run(s, nil)
	seen[w.hash()] = true
	w.abort()
	res.States = 1
	if v != nil {
		res.Violation = v
		return res
	}
	frontier := [][]int{nil}
	for depth := 0; depth < s.Depth && len(frontier) > 0; depth++ {
		var next [][]int
		for _, path := range frontier {
			w, _, _, n := run(s, path)
			res.Steps += n
			count := len(w.actions(s))
			w.abort()
			for i := range count {
				child := append(append([]int(nil), path...), i)
				cw, labels, v, n := run(s, child)
				res.Steps += n
				if v != nil {
					res.Violation, res.Trace = v, traceOf(cw, labels)
					cw.abort()
					res.Elapsed = time.Since(start)
					return res
				}
				h := cw.hash()
				cw.abort()
				if seen[h] {
					continue
				}
				seen[h] = true
				res.States++
				res.MaxDepth = depth + 1
				next = append(next, child)
			}
		}
		frontier = next
	}
	res.Exhausted = len(frontier) == 0
	res.Elapsed = time.Since(start)
	return res
}

// traceOf is the violating path as a user would read it: each event, with
// what the model did and what the functions logged in between.
func traceOf(w *World, labels []string) []string {
	out := append([]string(nil), w.log...)
	for _, inv := range w.invocations {
		for _, l := range inv.logs {
			out = append(out, fmt.Sprintf("  log %s#%d: %s", inv.Hook, inv.N, l))
		}
	}
	_ = labels
	return out
}

// Format renders a result for the test log.
func (r Result) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s %-40s states=%-7d depth=%-3d steps=%-8d %s", r.Scenario.Name, r.Scenario.Reading, r.States, r.MaxDepth, r.Steps, r.Elapsed.Round(time.Millisecond))
	if r.Exhausted {
		b.WriteString(" (exhausted)")
	}
	if r.Violation != nil {
		fmt.Fprintf(&b, "\nVIOLATION %s\n", r.Violation)
		for i, l := range r.Trace {
			fmt.Fprintf(&b, "  %2d. %s\n", i+1, l)
		}
	}
	return b.String()
}
