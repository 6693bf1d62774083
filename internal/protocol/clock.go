package protocol

import (
	"context"
	"sync"
	"time"
)

// The model's clock. A hook's time passes only while it waits, and it waits
// only by polling: a call it makes again with the same request is one poll
// interval later than the first. The explorer keeps the first
// deadlinePolls polls of an invocation distinct in its state, so a hook
// whose behaviour changes with the number of polls is explored up to
// there. Past it, a poll whose answer the invocation already had is folded
// into the state it polled from, and counts as waiting: a state where the
// only things left that happen by themselves are such polls is one where
// nothing will change (I3 calls it stuck). The real deadlines are longer
// (120 s for unpin, cleanup and rollback at 5 s polls: 20 polls); in a run
// with no fault, what a hook waits for (tasks turning healthy, an unpin
// ending, a claim expiring) comes before its deadline.
//
// A deadline that passes is a fault of the scenario ("deadline passes
// early"): from then on every call the hook makes with its work context
// fails with context.DeadlineExceeded, what the SDK returns for an expired
// deadline (the hooks derive their work context from the invocation's,
// and report with one detached from it). Lambda stops the function once
// its timeout runs out: the model allows graceCalls calls after the
// deadline (the report, removing a claim) and then kills the invocation,
// which never makes another call (I4 then asks whether it had reported).
const (
	deadlinePolls = 4
	graceCalls    = 4
)

// invocationContext is a Lambda invocation's context whose deadline the
// model decides: expire closes it with context.DeadlineExceeded. It
// implements the AfterFunc method the context package uses to propagate
// cancellation, so a context derived from it (the hooks' work context)
// ends in the same step, not in a goroutine of its own.
type invocationContext struct {
	context.Context
	mu       sync.Mutex
	done     chan struct{}
	err      error
	deadline time.Time
	after    map[int]func()
	next     int
}

// invocationDeadline is every invocation's deadline on the wall clock: one
// fixed instant, far ahead, so a hook's values derived from its deadline
// (a claim tag's expiry) are the same in every run and every copy of a
// world. Were it the time of launch plus the timeout, a hook brought back
// by respawn would set other values than the run it replays, and the
// answers that carry them (DescribeTags) would split one state into
// several, differently in each run. The model's deadline is the fault
// "deadline passes early" (expire), never the wall clock.
var invocationDeadline = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)

func newInvocationContext(parent context.Context) *invocationContext {
	return &invocationContext{Context: parent, done: make(chan struct{}), deadline: invocationDeadline, after: map[int]func(){}}
}

func (c *invocationContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *invocationContext) Done() <-chan struct{}       { return c.done }

func (c *invocationContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc runs f when the context expires (synchronously, in expire).
func (c *invocationContext) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	id := c.next
	c.next++
	c.after[id] = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[id]
		delete(c.after, id)
		return ok
	}
}

// expire makes the deadline pass now.
func (c *invocationContext) expire() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.DeadlineExceeded
	close(c.done)
	fns := c.after
	c.after = nil
	c.mu.Unlock()
	for id := range len(fns) + c.next {
		if f, ok := fns[id]; ok {
			f()
		}
	}
}
