package protocol

import (
	"fmt"
	"slices"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Scenario bounds one exploration: the starting allow-list and how many of
// each event the explorer may use on a path.
type Scenario struct {
	Name string
	// Tenants pinned at the start; StableOnGreen starts stable's task set
	// in the green group (after an odd number of Stable deployments).
	Tenants       int
	StableOnGreen bool
	Pushes        int
	// Faults: failed AWS calls and expired work deadlines in hooks.
	Faults int
	// Edits: `pulumi up` runs that add or remove a pinned tenant.
	Edits int
	// Alarms: rollback alarms firing during a deployment.
	Alarms int
	// Duplicates: EventBridge events delivered twice.
	Duplicates int
	// Rejects: rejections and approval timeouts by a person.
	Rejects int
	// Operator: `tenant-canary rollback` runs.
	Operator int
	// OnReject is approval.onReject (default rollback).
	OnReject string
	Reading  Reading
	Depth    int
}

func (s Scenario) onReject() string {
	if s.OnReject == "" {
		return contract.OnRejectRollback
	}
	return s.OnReject
}

// Action is one event of the alphabet, enabled in the current state.
type Action struct {
	Label string
	Do    func()
}

// actions lists the enabled events in a fixed order, so a path of choice
// indices always replays to the same state.
func (w *World) actions(s Scenario) []Action {
	var acts []Action
	add := func(label string, do func()) { acts = append(acts, Action{Label: label, Do: do}) }

	// The hooks' AWS calls, and faults at any of them.
	for _, inv := range w.invocations {
		if inv.ended || inv.pending == nil {
			continue
		}
		inv := inv
		pc := inv.pending
		add(fmt.Sprintf("%s#%d calls %s %s", inv.Hook, inv.N, pc.op, pc.detail), func() { w.step(s, inv, false) })
		if w.faults < s.Faults && pc.op != "PutLifecycleEventHookExecutionStatus" {
			add(fmt.Sprintf("FAULT: %s#%d's %s fails", inv.Hook, inv.N, pc.op), func() { w.faults++; w.step(s, inv, true) })
			if !inv.timedOut {
				add(fmt.Sprintf("FAULT: %s#%d's work deadline passes", inv.Hook, inv.N), func() {
					w.faults++
					inv.timedOut = true
					inv.cancel()
				})
			}
		}
	}

	// CodeDeploy moves each deployment through its lifecycle.
	for _, d := range w.Deployments {
		d := d
		if !d.unfinished() && d.Phase != phaseRollingBack {
			continue
		}
		svc := w.Services[serviceOf(d.Group)]
		switch d.Phase {
		case phaseCreated:
			add(fmt.Sprintf("CodeDeploy starts %s on %s (v%d)", d.ID, serviceOf(d.Group), w.TaskDefs[d.TaskDef]), func() { w.start(s, d) })
		case phaseInstall:
			add(fmt.Sprintf("CodeDeploy %s creates the replacement task set", d.ID), func() { w.install(d) })
		case phaseInstalled:
			if repl := w.taskSet(svc, d.Replacement); repl != nil && (repl.Healthy || repl.Running == 0) {
				add(fmt.Sprintf("CodeDeploy %s shifts the canary step", d.ID), func() { w.shiftTo(d, 10); d.Phase = phaseCanary })
			}
		case phaseCanary:
			add(fmt.Sprintf("CodeDeploy %s shifts all traffic", d.ID), func() { w.shiftAll(s, d) })
		case phaseWait:
			add(fmt.Sprintf("CodeDeploy %s: termination wait ends", d.ID), func() { w.terminate(d) })
		case phaseRollingBack:
			add(fmt.Sprintf("CodeDeploy %s: traffic back on the original task set", d.ID), func() { w.rolledBack(d) })
		}
		if w.alarms < s.Alarms && d.Status == DepInProgress && slices.Contains([]string{phaseCanary, phaseAfterAllow, phaseWait}, d.Phase) {
			add(fmt.Sprintf("ALARM during %s (%s)", d.ID, d.Group), func() { w.alarms++; w.fail(d, "rollback alarm") })
		}
	}

	// New tasks pass their health checks.
	for _, name := range []string{LatestService, StableService} {
		for _, ts := range w.Services[name].TaskSets {
			ts := ts
			if ts.Running > 0 && !ts.Healthy {
				add(fmt.Sprintf("%s's task set %s turns healthy", name, ts.ID), func() { ts.Healthy = true })
			}
		}
	}

	// The pipeline.
	for _, e := range w.Executions {
		e := e
		if e.Status != "InProgress" {
			continue
		}
		if e.Waiting && w.stageHolder[nextStage(e.Stage)] < 0 {
			add(fmt.Sprintf("%s (v%d) enters %s", e.ID, e.Version, nextStage(e.Stage)), func() { w.enter(e) })
		}
		if e.Stage == StageApprove && e.Token != "" {
			add(fmt.Sprintf("APPROVE %s (v%d)", e.ID, e.Version), func() { w.decide(e, true, "approved") })
			if w.rejects < s.Rejects {
				add(fmt.Sprintf("REJECT %s (v%d)", e.ID, e.Version), func() { w.rejects++; w.decide(e, false, "rejected by a person") })
				add(fmt.Sprintf("approval of %s (v%d) times out", e.ID, e.Version), func() { w.rejects++; w.decide(e, false, "approval timed out") })
			}
		}
	}
	if w.pushes < s.Pushes {
		add(fmt.Sprintf("PUSH v%d", len(w.Executions)+1), w.push)
	}

	// EventBridge delivers events in any order, possibly twice.
	for i, ev := range w.events {
		i, ev := i, ev
		fn := contract.HookCleanup
		if ev.Kind == EventApprovalFailed {
			fn = contract.HookRollback
		}
		add(fmt.Sprintf("deliver %s to %s (attempt %d)", ev, fn, ev.Attempt+1), func() {
			w.events = slices.Delete(slices.Clone(w.events), i, i+1)
			w.invoke(s, fn, nil, nil, &ev)
		})
		if w.dups < s.Duplicates {
			add(fmt.Sprintf("deliver %s to %s again (duplicate)", ev, fn), func() {
				w.dups++
				w.invoke(s, fn, nil, nil, &ev)
			})
		}
	}

	// `pulumi up` with an edited allow-list.
	if w.edits < s.Edits {
		tenant := fmt.Sprintf("t%d", w.nextTenant)
		add("pulumi up: pin new tenant "+tenant, func() {
			before := w.owned()
			w.edits++
			w.nextTenant++
			w.addTenantRule(tenant, slices.Clone(w.rule(anchorARN).Forward))
			w.editViolation = checkEdit(before, w.owned(), tenant)
		})
		for _, t := range w.tenants() {
			t := t
			add("pulumi up: unpin tenant "+t, func() {
				before := w.owned()
				w.edits++
				w.Rules = slices.DeleteFunc(w.Rules, func(r *Rule) bool { return r.Kind == KindTenant && slices.Contains(r.Tenants, t) })
				w.editViolation = checkEdit(before, w.owned(), t)
			})
		}
	}

	// `tenant-canary rollback`: the operator's path into the same function.
	if w.operator < s.Operator {
		add("OPERATOR runs tenant-canary rollback", func() { w.operator++; w.invoke(s, contract.HookRollback, nil, nil, nil) })
	}
	return acts
}

// start: CodeDeploy begins the deployment; the Latest AppSpec runs pin at
// BeforeInstall, before the replacement task set exists.
func (w *World) start(s Scenario, d *Deployment) {
	d.Status = DepInProgress
	svc := w.Services[serviceOf(d.Group)]
	d.Original = svc.primary().ID
	if l := d.hook("BeforeInstall"); l != nil {
		d.Phase = phaseBefore
		w.runHook(s, d, l, contract.HookPin)
		return
	}
	d.Phase = phaseInstall
}

func (w *World) runHook(s Scenario, d *Deployment, l *Lifecycle, hook contract.Hook) {
	l.Status = "InProgress"
	l.ExecID = d.ID + "-" + l.Name
	w.invoke(s, hook, d, l, nil)
}

// install creates the replacement task set in the pair's other target group
// with the service's desired count.
func (w *World) install(d *Deployment) {
	svc := w.Services[serviceOf(d.Group)]
	orig := w.taskSet(svc, d.Original)
	pair := pairOf(d.Group)
	tg := pair[0]
	if orig.TG == pair[0] {
		tg = pair[1]
	}
	ts := &TaskSet{ID: w.taskSetID(), Status: "ACTIVE", TaskDef: d.TaskDef, TG: tg, Running: svc.Desired}
	svc.TaskSets = append(svc.TaskSets, ts)
	d.Replacement, d.Phase = ts.ID, phaseInstalled
}

// shiftAll completes AllowTraffic: the replacement becomes the PRIMARY task
// set, and the Stable AppSpec runs unpin at AfterAllowTraffic.
func (w *World) shiftAll(s Scenario, d *Deployment) {
	w.shiftTo(d, 100)
	svc := w.Services[serviceOf(d.Group)]
	w.taskSet(svc, d.Original).Status = "ACTIVE"
	w.taskSet(svc, d.Replacement).Status = "PRIMARY"
	if l := d.hook("AfterAllowTraffic"); l != nil {
		d.Phase = phaseAfterAllow
		w.runHook(s, d, l, contract.HookUnpin)
		return
	}
	d.Phase = phaseWait
}

// afterReport: a Succeeded report lets the deployment go on, a Failed one
// fails it (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_PutLifecycleEventHookExecutionStatus.html).
func (w *World) afterReport(d *Deployment, l *Lifecycle) {
	if l.Status != "Succeeded" {
		w.fail(d, l.Name+" hook reported Failed")
		return
	}
	switch d.Phase {
	case phaseBefore:
		d.Phase = phaseInstall
	case phaseAfterAllow:
		d.Phase = phaseWait
	}
}

// terminate ends the termination wait: the original task set goes away and
// the deployment succeeds.
func (w *World) terminate(d *Deployment) {
	w.removeTaskSet(w.Services[serviceOf(d.Group)], d.Original)
	d.Status, d.Phase = DepSucceeded, phaseDone
	w.endDeployment(d)
}

func (w *World) rolledBack(d *Deployment) {
	w.revert(d)
	d.Phase = phaseDone
	switch {
	case d.RollbackOf != "":
		d.Status = DepSucceeded
		w.endDeployment(d)
	case d.Status == DepInProgress:
		d.Status = DepFailed
		w.endDeployment(d)
	}
}
