package protocol

import "slices"

// A Direct's faults and its record: a test queues faults for the calls to
// come (applied at the model's one dispatch point, faults.go) and reads
// back the calls the model received, the reports it accepted and the
// approvals it accepted.

// Before queues fn to run, outside the model's lock, before the nth call
// of op (1: the next) after those the faults already queued for op cover.
func (d *Direct) Before(op string, n int, fn func()) {
	fs := make([]Fault, n)
	fs[n-1].Before = fn
	d.Inject(op, fs...)
}

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

// Inject queues faults for the next calls of op, one per call, in order;
// the zero Fault lets its call through (Fault{Err: err, Lost: true}: the
// call runs, the model's state changes, the caller sees err). Every attempt is a call: the SDK's
// retries each take one.
func (d *Direct) Inject(op string, fs ...Fault) {
	defer d.lock()()
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

// PanicOn makes every further call of op panic, after those the faults
// already queued for op cover.
func (d *Direct) PanicOn(op string) {
	d.Inject(op, Fault{Panic: true})
}

// Calls returns every call received so far, in order, failed ones
// included.
func (d *Direct) Calls() []Call {
	defer d.lock()()
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
	defer d.lock()()
	return slices.Clone(d.faults.reports)
}

// Approvals returns the approval results the model accepted, in order.
func (d *Direct) Approvals() []Approval {
	defer d.lock()()
	return slices.Clone(d.faults.approvals)
}

// ResetCalls forgets the recorded calls, reports and approvals (not the state, not
// the queued faults), e.g. between two invocations.
func (d *Direct) ResetCalls() {
	defer d.lock()()
	d.faults.calls, d.faults.reports, d.faults.approvals = nil, nil, nil
}
