package rehearsal

import (
	"flag"
	"os"
	"sync"
	"testing"
)

// rehearsals bounds the rehearsals this package's tests run at once, and
// starts them in the order the tests asked. A rehearsal mostly waits on
// its scaled clock, so running them one after the other only adds their
// waits up; but each keeps its processes, its load balancer's health
// checks and its traffic busy, and with too many at once on a busy machine
// a health check misses its timeout (5 s of rehearsal time, 83 ms at 60x),
// a task flaps and the model sees a target group with no healthy target
// (I2). Two at once: with three, the package took 31 s instead of 47 s,
// but failed that way in 2 of 6 runs beside the protocol explorer and the
// CLI's tests on two cores (none of 3 with two).
var rehearsals = newTurns(2)

// turns hands out places in line (ticket) and lets at most n holders run
// at once (wait), the lowest ticket among those waiting first. Among those
// waiting only: a test that holds a ticket but waits for -test.parallel to
// let it run does not hold up the others (nor deadlock with them).
type turns struct {
	mu      sync.Mutex
	cond    *sync.Cond
	free    int
	issued  int
	waiting map[int]bool
}

func newTurns(n int) *turns {
	q := &turns{free: n, waiting: map[int]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// ticket is a place in line: take it before t.Parallel, in the order the
// tests should start, and wait with it after.
func (q *turns) ticket() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.issued++
	return q.issued - 1
}

// wait blocks until a place is free and no lower ticket waits; the place
// is t's until t ends.
func (q *turns) wait(t *testing.T, n int) {
	t.Helper()
	q.mu.Lock()
	q.waiting[n] = true
	for q.free == 0 || n != minKey(q.waiting) {
		q.cond.Wait()
	}
	delete(q.waiting, n)
	q.free--
	q.mu.Unlock()
	q.cond.Broadcast()
	t.Cleanup(func() {
		q.mu.Lock()
		q.free++
		q.mu.Unlock()
		q.cond.Broadcast()
	})
}

func minKey(m map[int]bool) int {
	first := true
	low := 0
	for k := range m {
		if first || k < low {
			low, first = k, false
		}
	}
	return low
}

// TestMain lets every parallel test of the package run at once unless
// -test.parallel says otherwise: with its default (GOMAXPROCS, 2 on a
// two-core machine) the tests waiting for their turn would hold its places
// and the turns would not go in order; rehearsals bounds the rehearsals.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}
