package protocol

import (
	"context"
	"time"
)

// Fault is what goes wrong with one AWS call, applied at the model's one
// dispatch point (`do`), so the hooks see it whether they call the model
// in process, through the real SDK over the wire server (which calls the
// same client), or inside the explorer.
//
//   - Err alone: the call fails before it reaches the model (throttling, a
//     5xx, AccessDenied, a validation error: build them with fakeaws's
//     Throttling, ServerError, AccessDenied, ValidationError). Nothing
//     changes.
//   - Err with Lost: the call runs, the model's state changes, and the
//     answer is lost on its way back; the caller sees Err.
//   - Delay: the call waits that long first (or until the caller's context
//     ends, which fails the call with the context's error, as the SDK does).
//   - Panic: the call panics in the caller's goroutine (over the wire, the
//     server turns it into a 500), and so does every further call: a
//     queued panic is never used up.
//   - Before: something else happens first, outside the model's lock (a
//     Direct's test runs another function, or takes a model event): the
//     explorer's "any event can land between two calls", at one chosen
//     call.
//
// The zero Fault lets the call through.
type Fault struct {
	Err    error
	Lost   bool
	Delay  time.Duration
	Panic  bool
	Before func()
}

// apply answers the call op under the fault; run is the model's answer.
func (f Fault) apply(ctx context.Context, op string, run func() (any, error)) (any, error) {
	if f.Before != nil {
		f.Before()
	}
	if f.Delay > 0 {
		// An unfired timer needs no Stop since Go 1.23
		// (https://go.dev/doc/go1.23#timer-changes).
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(f.Delay):
		}
	}
	if f.Panic {
		panic("protocol: injected panic in " + op)
	}
	if f.Err == nil {
		return run()
	}
	if f.Lost {
		_, _ = run() // the model answered; the answer never arrives
	}
	return nil, f.Err
}

// explorerFault is the explorer's "FAULT: …'s <op> fails" event: the call
// failed after the SDK's retries, before it reached the service.
var explorerFault = Fault{Err: apiErr("InternalFailure", "injected: the call failed after the SDK's retries")}

// faults are a Direct's injected faults and what it recorded. Guarded by
// the Direct's mutex.
type faults struct {
	next      map[string][]Fault
	calls     []Call
	reports   []Report
	approvals []Approval
}

// take records the call and returns the fault for it (the zero Fault if
// none is queued).
func (fs *faults) take(op, detail string) Fault {
	fs.calls = append(fs.calls, Call{Op: op, Detail: detail})
	q := fs.next[op]
	if len(q) == 0 {
		return Fault{}
	}
	if !q[0].Panic {
		fs.next[op] = q[1:]
	}
	return q[0]
}

// direct runs one call of a Direct: it is recorded, gets its fault, and
// runs at once under the world's lock. A delay waits outside the lock, so
// other callers go on meanwhile.
func direct(ctx context.Context, d *Direct, op, detail string, run func() (any, error)) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	f := d.faults.take(op, detail)
	d.mu.Unlock()
	return f.apply(ctx, op, func() (any, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		defer d.lock()()
		// Stamp what the call changed with the clock's time (timeline.go).
		defer d.observe()
		return run()
	})
}

// accepted records a lifecycle report the model accepted (a Direct only).
func (c *client) accepted(deploymentID, execID, status string) {
	switch {
	case c.inv != nil:
		c.inv.accepted++
	case c.direct != nil:
		c.direct.faults.reports = append(c.direct.faults.reports, Report{DeploymentID: deploymentID, ExecutionID: execID, Status: status})
	}
}

// decided records an approval result the model accepted, with who decided
// it and the summary they gave (a Direct only: what Approvals,
// ListActionExecutions and GetPipelineState show).
func (c *client) decided(execID, status, summary string) {
	if c.direct != nil {
		c.direct.tl.decisions[execID] = summary
		c.direct.faults.approvals = append(c.direct.faults.approvals, Approval{ExecutionID: execID, Status: status, Summary: summary})
	}
}
