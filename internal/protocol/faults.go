package protocol

import (
	"context"
	"slices"
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
//     server turns it into a 500).
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
		t := time.NewTimer(f.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
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

// Before queues fn to run, outside the model's lock, before the nth call
// of op (1: the next) after those the faults already queued for op cover.
func (d *Direct) Before(op string, n int, fn func()) {
	fs := make([]Fault, n)
	fs[n-1].Before = fn
	d.Inject(op, fs...)
}

// explorerFault is the explorer's "FAULT: …'s <op> fails" event: the call
// failed after the SDK's retries, before it reached the service.
var explorerFault = Fault{Err: apiErr("InternalFailure", "injected: the call failed after the SDK's retries")}

// Call is one AWS call a Direct received: the operation and the short
// detail the explorer's traces show (the services asked for, the rule and
// its new forward, the status reported, …).
type Call struct {
	Op     string
	Detail string
}

func (c Call) String() string { return c.Op + " " + c.Detail }

// Report is one PutLifecycleEventHookExecutionStatus the model accepted.
type Report struct {
	DeploymentID, ExecutionID, Status string
}

// Approval is one PutApprovalResult the model accepted.
type Approval struct {
	ExecutionID, Status, Summary string
}

// faults are a Direct's injected faults and what it recorded. Guarded by
// the Direct's mutex.
type faults struct {
	next      map[string][]Fault
	panics    map[string]bool
	calls     []Call
	reports   []Report
	approvals []Approval
}

// take records the call and returns the fault for it (the zero Fault if
// none is queued).
func (fs *faults) take(op, detail string) Fault {
	fs.calls = append(fs.calls, Call{Op: op, Detail: detail})
	if fs.panics[op] {
		return Fault{Panic: true}
	}
	q := fs.next[op]
	if len(q) == 0 {
		return Fault{}
	}
	fs.next[op] = q[1:]
	return q[0]
}

// Inject queues faults for the next calls of op, one per call, in order;
// the zero Fault lets its call through. Every attempt is a call: the SDK's
// retries each take one.
func (d *Direct) Inject(op string, fs ...Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.faults.next == nil {
		d.faults.next = map[string][]Fault{}
	}
	d.faults.next[op] = append(d.faults.next[op], fs...)
}

// FailNext makes the next calls of op fail with errs, one per call, in
// order, before they reach the model; a nil error lets its call through.
func (d *Direct) FailNext(op string, errs ...error) {
	fs := make([]Fault, len(errs))
	for i, err := range errs {
		fs[i] = Fault{Err: err}
	}
	d.Inject(op, fs...)
}

// LoseResponse makes the next call of op run and then fail with err: the
// model's state changed, the caller never learns it.
func (d *Direct) LoseResponse(op string, err error) {
	if err == nil {
		panic("protocol: LoseResponse needs the error the caller sees")
	}
	d.Inject(op, Fault{Err: err, Lost: true})
}

// PanicOn makes every further call of op panic.
func (d *Direct) PanicOn(op string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.faults.panics == nil {
		d.faults.panics = map[string]bool{}
	}
	d.faults.panics[op] = true
}

// Calls returns every call received so far, in order, failed ones
// included.
func (d *Direct) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.faults.calls)
}

// Ops returns the operation names of Calls.
func (d *Direct) Ops() []string {
	var ops []string
	for _, c := range d.Calls() {
		ops = append(ops, c.Op)
	}
	return ops
}

// Reports returns the lifecycle reports the model accepted, in order.
func (d *Direct) Reports() []Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.faults.reports)
}

// Approvals returns the approval results the model accepted, in order.
func (d *Direct) Approvals() []Approval {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.faults.approvals)
}

// ResetCalls forgets the recorded calls, reports and approvals (not the state, not
// the queued faults), e.g. between two invocations.
func (d *Direct) ResetCalls() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults.calls, d.faults.reports, d.faults.approvals = nil, nil, nil
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
		d.mu.Lock()
		defer d.mu.Unlock()
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

// decided records an approval result the model accepted (a Direct only).
func (c *client) decided(execID, status, summary string) {
	if c.direct != nil {
		c.direct.faults.approvals = append(c.direct.faults.approvals, Approval{ExecutionID: execID, Status: status, Summary: summary})
	}
}
