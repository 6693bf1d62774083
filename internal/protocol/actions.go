package protocol

import (
	"fmt"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"maps"
	"slices"
	"strings"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Scenario bounds one exploration: the starting allow-list and how many of
// each event the explorer may use on a path.
type Scenario struct {
	Name string
	// Stack is what the program declares for the modelled stack (`go run
	// . declare`): names, ARNs, rule priorities and the pinned tenants'
	// rules, desired counts, approval.onReject and each function's
	// environment. StableOnGreen starts stable's task set in the green
	// group (after an odd number of Stable deployments).
	Stack         *declared.Stack
	StableOnGreen bool
	Pushes        int
	// Faults: failed AWS calls and expired work deadlines in hooks.
	Faults int
	// Edits: `pulumi up` runs that add or remove a pinned tenant.
	Edits int
	// Alarms: rollback alarms firing during a deployment, for any reason
	// (without a Signal: the only way an alarm fires; with one: an alarm
	// for another reason than the traffic the model serves).
	Alarms int
	// Signal, when set, is the signal path: bad versions, traffic by the
	// minute, and the program's rollback alarms (signal.go).
	Signal *Signal
	// Duplicates: EventBridge events delivered twice.
	Duplicates int
	// Rejects: rejections and approval timeouts by a person.
	Rejects int
	// Operator: `tenant-canary rollback` runs.
	Operator int
	Reading  Reading
	// PageSize (0: as asked) caps each page of DescribeRules and
	// ListDeployments: both promise at most the size asked for.
	PageSize int
	// Prefix, taken before the exploration (see runPrefix), aims a
	// scenario at one guard: the exploration starts where it matters.
	Prefix []string
	// StalePlan: a `pulumi up` planned before the last Stable deployment
	// shifted the anchor is about to create tenant "late"'s rule on the
	// group stable left (needs StableOnGreen: stable came from blue).
	StalePlan bool
	// Known names the findings not fixed yet in the hooks that this
	// scenario reaches: a violation whose text ("I3 …: stuck: …") contains
	// one of them is reported as known instead of failing; a walk that reaches it
	// ends and the next walk goes on, so the walks still look for any
	// other violation. An exhausted search that no longer reaches it fails
	// TestProtocol (fixed? then drop Known).
	Known []string
	// Depth bounds the events on a path; MaxStates (0: none) stops the
	// exploration early, for a quick look.
	Depth     int
	MaxStates int
	// Walks (0: none) random walks run from the last frontier of a search
	// that stopped at MaxStates or Depth, each for at most WalkDepth
	// events (0: 300) or until the system is at rest (explore.go, walk).
	Walks, WalkDepth int
}

// Action is one event of the alphabet, enabled in the current state.
// External events are a person's decisions and the disturbances a
// scenario allows (pushes, faults, alarms, edits, duplicates, the
// operator); every other event happens by itself, sooner or later.
// known: v is one of the scenario's known findings.
func (s Scenario) known(v *Violation) bool {
	for _, k := range s.Known {
		if v != nil && strings.Contains(v.Error(), k) {
			return true
		}
	}
	return false
}

type Action struct {
	Label    string
	Do       func()
	External bool
	// Waiting: a hook polling past deadlinePolls (clock.go).
	Waiting bool
}

// actions lists the enabled events in a fixed order, so a path of choice
// indices always replays to the same state.
func (w *World) actions(s Scenario) []Action {
	var acts []Action
	add := func(label string, do func()) { acts = append(acts, Action{Label: label, Do: do}) }
	ext := func(label string, do func()) { acts = append(acts, Action{Label: label, Do: do, External: true}) }

	// The hooks' AWS calls, and faults at any of them.
	for _, inv := range w.invocations {
		if inv.ended || inv.pending == nil {
			continue
		}
		inv := inv
		pc := inv.pending
		acts = append(acts, Action{Label: fmt.Sprintf("%s#%d calls %s %s", inv.Hook, inv.N, pc.op, pc.detail),
			Do: func() { w.step(s, inv, false) }, Waiting: pc.waiting})
		if w.faults < s.Faults && pc.op != "PutLifecycleEventHookExecutionStatus" {
			ext(fmt.Sprintf("FAULT: %s#%d's %s fails", inv.Hook, inv.N, pc.op), func() { w.faults++; w.step(s, inv, true) })
			if !inv.timedOut {
				ext(fmt.Sprintf("FAULT: %s#%d's deadline passes early", inv.Hook, inv.N), func() {
					w.faults++
					w.expire(inv)
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
		svc := w.Services[w.st.serviceOf(d.Group)]
		timedPhase := d.Phase == phaseInstalled || d.Phase == phaseCanary || d.Phase == phaseWait
		if w.signal != nil && timedPhase {
			w.signalActions(s, d, add)
		}
		if d.Phase == phaseInstalled && !smokeReady(d) && d.hook(hookTestTraffic).Status == "Pending" {
			if repl := w.taskSet(svc, d.Replacement); repl != nil && (repl.Healthy || repl.Running == 0) {
				add(fmt.Sprintf("CodeDeploy %s allows test traffic (AfterAllowTestTraffic)", d.ID), func() { w.allowTestTraffic(s, d) })
			}
		}
		switch {
		case w.signal != nil && timedPhase:
		case d.Phase == phaseCreated:
			add(fmt.Sprintf("CodeDeploy starts %s on %s (v%d)", d.ID, w.st.serviceOf(d.Group), w.TaskDefs[d.TaskDef]), func() { w.start(s, d) })
		case d.Phase == phaseInstall:
			add(fmt.Sprintf("CodeDeploy %s creates the replacement task set", d.ID), func() { w.install(d) })
		case d.Phase == phaseInstalled:
			if repl := w.taskSet(svc, d.Replacement); repl != nil && (repl.Healthy || repl.Running == 0) && smokeReady(d) {
				add(fmt.Sprintf("CodeDeploy %s shifts the canary step", d.ID), func() { w.shiftTo(d, 10); d.Phase = phaseCanary })
			}
		case d.Phase == phaseCanary:
			add(fmt.Sprintf("CodeDeploy %s shifts all traffic", d.ID), func() { w.shiftAll(s, d) })
		case d.Phase == phaseWait:
			add(fmt.Sprintf("CodeDeploy %s: termination wait ends", d.ID), func() { w.terminate(d) })
		case d.Phase == phaseRollingBack:
			add(fmt.Sprintf("CodeDeploy %s: traffic back on the original task set", d.ID), func() { w.rolledBack(d) })
		}
		if w.alarms < s.Alarms && d.Status == DepInProgress && slices.Contains([]string{phaseCanary, phaseAfterAllow, phaseWait}, d.Phase) {
			ext(fmt.Sprintf("ALARM during %s (%s)", d.ID, d.Group), func() { w.alarms++; w.stop(d, "rollback alarm") })
		}
	}

	// A minute of traffic passes while a deployment waits for minutes.
	if w.signal != nil && w.minuteCanPass() {
		add(fmt.Sprintf("a minute passes (minute %d)", w.clock), w.passMinute)
	}

	// New tasks pass their health checks (a version that fails them
	// never does).
	for _, name := range []string{w.st.latestService, w.st.stableService} {
		for _, ts := range w.Services[name].TaskSets {
			ts := ts
			if ts.Running > 0 && !ts.Healthy && !w.healthFails(ts) {
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
		if e.Waiting && w.holder(nextStage(e.Stage)) < 0 {
			add(fmt.Sprintf("%s (v%d) enters %s", e.ID, e.Version, nextStage(e.Stage)), func() { w.enter(e) })
		}
		if e.Stage == StageApprove && e.Token != "" {
			ext(fmt.Sprintf("APPROVE %s (v%d)", e.ID, e.Version), func() { w.decide(e, true, "approved") })
			if w.rejects < s.Rejects {
				ext(fmt.Sprintf("REJECT %s (v%d)", e.ID, e.Version), func() { w.rejects++; w.decide(e, false, "rejected by a person") })
				ext(fmt.Sprintf("approval of %s (v%d) times out", e.ID, e.Version), func() { w.rejects++; w.decide(e, false, "approval timed out") })
			}
		}
	}
	if w.pushes < s.Pushes {
		ext(fmt.Sprintf("PUSH v%d", len(w.Executions)+1), w.push)
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
			ext(fmt.Sprintf("deliver %s to %s again (duplicate)", ev, fn), func() {
				w.dups++
				w.invoke(s, fn, nil, nil, &ev)
			})
		}
	}

	// `pulumi up` with an edited allow-list.
	if w.edits < s.Edits {
		tenant := fmt.Sprintf("t%d", w.nextTenant)
		// `pulumi up` reads the anchor's live action when it plans and
		// creates the new tenant's rule with it later (components/service,
		// liveActionsOf): a Stable deployment that shifts the anchor in
		// between leaves the new rule on stable's other group.
		if w.planned == nil {
			ext("pulumi up: pin new tenant "+tenant+" (plans: reads the anchor's action)", func() {
				w.edits++
				w.nextTenant++
				w.planned = &plannedRule{tenant: tenant, forward: slices.Clone(w.rule(w.st.anchorARN).Forward)}
			})
		}
		for _, t := range w.tenants() {
			t := t
			ext("pulumi up: unpin tenant "+t, func() {
				w.pulumiUp(t, func() {
					// The tenant's condition values leave every rule that
					// carried them (a path tenant's may span two, sharing
					// one with another tenant); a rule left with none goes.
					for _, r := range w.Rules {
						if r.Kind == KindTenant {
							r.Tenants = slices.DeleteFunc(r.Tenants, func(x string) bool { return x == t })
						}
					}
					w.Rules = slices.DeleteFunc(w.Rules, func(r *Rule) bool { return r.Kind == KindTenant && len(r.Tenants) == 0 })
				})
			})
		}
	}

	// A planned `pulumi up` creates its rule.
	if p := w.planned; p != nil {
		add(fmt.Sprintf("pulumi up creates tenant %s's rule forwarding %v", p.tenant, p.forward), func() {
			w.planned = nil
			stale := !slices.Equal(p.forward, w.rule(w.st.anchorARN).Forward)
			w.pulumiUp(p.tenant, func() { w.addTenantRule(p.tenant, p.forward) })
			if stale {
				w.Rules[len(w.Rules)-1].StalePlan = true
			}
			w.edits-- // counted when planned
		})
	}

	// A claim whose invocation died without removing it expires.
	for _, r := range w.Rules {
		if len(r.Tags) == 0 {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(r.Tags)) {
			if n := r.Tags[key]; n == 0 {
				continue
			}
			if inv := w.invocations[r.Tags[key]-1]; inv.ended {
				r, key := r, key
				add(fmt.Sprintf("the claim of %s#%d on the catch-all expires", inv.Hook, inv.N), func() { r.untag(key) })
			}
		}
	}

	// `tenant-canary rollback`: the operator's path into the same function.
	if w.operator < s.Operator {
		ext("OPERATOR runs tenant-canary rollback", func() { w.operator++; w.invoke(s, contract.HookRollback, nil, nil, nil) })
	}
	return acts
}

// pulumiUp is one `pulumi up` that adds or removes tenant's rule: I5 checks
// that it changed nothing CodeDeploy or the hooks own, and what Pulumi owns
// is now what it left.
func (w *World) pulumiUp(tenant string, edit func()) {
	before, mine := w.owned(), w.tenantRules(tenant)
	w.edits++
	edit()
	for k := range w.tenantRules(tenant) {
		mine[k] = true
	}
	w.editViolation = checkEdit(before, w.owned(), mine)
	w.pulumiState = w.pulumiOwned()
}

// start: CodeDeploy begins the deployment; the Latest AppSpec runs pin at
// BeforeInstall, before the replacement task set exists.
func (w *World) start(s Scenario, d *Deployment) {
	d.Status = DepInProgress
	svc := w.Services[w.st.serviceOf(d.Group)]
	d.Original = svc.primary().ID
	d.originalServed = svc.primary().Running > 0
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
//
// The production listener must route to the original task set's target
// group: that is the route CodeDeploy shifts (ECS Developer Guide,
// blue/green deployments: the target group "routes traffic to the original
// task set in a service through the production listener",
// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-bluegreen.html).
// A deployment with no such route fails.
func (w *World) install(d *Deployment) {
	svc := w.Services[w.st.serviceOf(d.Group)]
	orig := w.taskSet(svc, d.Original)
	routed := slices.ContainsFunc(w.Rules, func(r *Rule) bool {
		return slices.ContainsFunc(r.Forward, func(f Weighted) bool { return f.TG == orig.TG })
	})
	if !routed {
		w.fail(d, "no production listener rule forwards to "+tgName(orig.TG))
		return
	}
	pair := w.st.pairOf(d.Group)
	tg := pair[0]
	if orig.TG == pair[0] {
		tg = pair[1]
	}
	ts := &TaskSet{ID: w.taskSetID(), Status: "ACTIVE", TaskDef: d.TaskDef, TG: tg, Running: svc.Desired, Healthy: w.healthyAtOnce()}
	svc.TaskSets = append(svc.TaskSets, ts)
	d.Replacement, d.Phase, d.stepAt = ts.ID, phaseInstalled, w.clock
}

// shiftAll completes AllowTraffic: the replacement becomes the PRIMARY task
// set, and the Stable AppSpec runs unpin at AfterAllowTraffic.
func (w *World) shiftAll(s Scenario, d *Deployment) {
	w.shiftTo(d, 100)
	svc := w.Services[w.st.serviceOf(d.Group)]
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
		d.Phase, d.stepAt = phaseWait, w.clock
	case phaseTestTraffic:
		d.Phase = phaseInstalled
	}
}

// terminate ends the termination wait: the original task set goes away and
// the deployment succeeds.
func (w *World) terminate(d *Deployment) {
	w.removeTaskSet(w.Services[w.st.serviceOf(d.Group)], d.Original)
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
		d.Status = d.endStatus
		w.endDeployment(d)
	}
}
