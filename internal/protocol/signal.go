package protocol

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

// Signal is the signal path of a scenario: which pushed versions are bad,
// how traffic reaches them minute by minute, and the rollback alarms that
// watch each target group, evaluated by the project's one model of
// CloudWatch (internal/cloudwatch). With a Signal, time passes in minutes
// during a deployment's traffic phases ("a minute passes"), CodeDeploy's
// steps take the configured minutes, and a deployment stops only when one
// of its alarms is in ALARM. Without one, the scenario keeps the free
// "ALARM during" event (Scenario.Alarms: an alarm for any reason).
type Signal struct {
	// Alarms, when set, replace the declared stack's rollback alarms:
	// every target group gets this set (for re-opening signal-path bugs,
	// such as hole 1's old alarms). Otherwise each target group has the
	// alarms the stack declares on it.
	Alarms []*cloudwatch.Alarm
	// Sample is one minute of a version with fault f ("" for a healthy
	// one) on a target group: requests requests, targets registered
	// targets (stoptime.Minute, bound to the stack's rollback config).
	Sample func(fault string, requests, targets int) cloudwatch.Sample
	// HealthFault is the fault whose tasks fail the target group's
	// health check: they never turn healthy.
	HealthFault string
	// RequestsPerMinute is each requester's rate (requests of no pinned
	// tenant, and each pinned tenant): the test sets it so that the
	// first step's share meets the alarms' minimum request rate.
	RequestsPerMinute int
	// Bad maps a pushed version to its fault.
	Bad map[int]string
	// Metrics is the reading of when CloudWatch sees each minute's
	// datapoints (cloudwatch.Readings).
	Metrics cloudwatch.Reading
	// Watched, when set, replaces the target groups a deployment group's
	// alarm configuration watches (as declared: the groups its named
	// alarms read, both groups of its pair). For re-opening signal-path
	// bugs.
	Watched func(group string) []string
	// Observed, when set, is each target group's minute as a data plane
	// measured it (a rehearsal, direct_rehearsal.go), in place of Sample.
	Observed func(tg string, minute int) cloudwatch.Sample
}

// installWaitMinutes bounds the minutes the model lets pass while a
// replacement task set has not passed its health checks (a version that
// fails them never does): long enough for every modelled alarm to see its
// unhealthy targets. CodeDeploy's own timeout for such a task set is not
// modelled; a deployment still waiting when this runs out is a stuck
// rollout (I3).
const installWaitMinutes = 10

// tgHistory is one target group's minutes: its samples since the world's
// minute 0, and each alarm's state after the last evaluation.
type tgHistory struct {
	samples []cloudwatch.Sample
	states  []types.StateValue
}

// watched is the target groups whose alarms a deployment group names.
func (s *Signal) watched(st *stack, group string) []string {
	if s.Watched != nil {
		return s.Watched(group)
	}
	return st.watched[group]
}

// alarmsOf is the rollback alarms that read target group tg.
func (s *Signal) alarmsOf(st *stack, tg string) []*cloudwatch.Alarm {
	if s.Alarms != nil {
		return s.Alarms
	}
	return st.alarms[tg]
}

// running are the task sets with running tasks in target group tg, the
// latest service's first.
func (w *World) running(tg string) []*TaskSet {
	all := slices.Concat(w.Services[w.st.latestService].TaskSets, w.Services[w.st.stableService].TaskSets)
	return slices.DeleteFunc(all, func(ts *TaskSet) bool { return ts.TG != tg || ts.Running == 0 })
}

// alarmState is the state of the declared alarm named name on target
// group tg, and why: the model's evaluation of the compiled alarm of that
// name, or in a Signal.Alarms replacement set of the one of the signal
// the name ends with (components/pipeline names them <prefix>-<signal>);
// before tg's first minute it is INSUFFICIENT_DATA. Without the signal
// path the model has no metrics: an alarm is OK (nothing says otherwise).
func (w *World) alarmState(tg, name string) (types.StateValue, string) {
	if w.signal == nil {
		return types.StateValueOk, "the model has no metrics without its signal path"
	}
	j := slices.IndexFunc(w.signal.alarmsOf(w.st, tg), func(a *cloudwatch.Alarm) bool {
		return a.Name() == name || strings.HasSuffix(name, "-"+strings.TrimPrefix(a.Name(), "tc-"))
	})
	if h := w.metrics[tg]; h != nil && j >= 0 {
		return h.states[j], "evaluated on the model's minutes"
	}
	return types.StateValueInsufficientData, "no datapoints yet"
}

// faultOf is the fault of the version a task definition runs.
func (w *World) faultOf(taskDef string) string {
	if w.signal == nil {
		return ""
	}
	return w.signal.Bad[w.TaskDefs[taskDef]]
}

// healthFails: the task set runs a version that fails its health checks.
func (w *World) healthFails(ts *TaskSet) bool {
	return w.signal != nil && w.signal.HealthFault != "" && w.faultOf(ts.TaskDef) == w.signal.HealthFault
}

// timed is a deployment whose next step waits for minutes to pass: it is
// in a traffic step, the termination wait, or waiting for its replacement
// to turn healthy; due is the minute the step may end.
func (w *World) timed(d *Deployment) (due int, ok bool) {
	if w.signal == nil || !d.unfinished() {
		return 0, false
	}
	switch d.Phase {
	case phaseCanary:
		return d.stepAt + w.st.traffic.IntervalMinutes, true
	case phaseWait:
		return d.stepAt + w.st.terminationWait[d.Group], true
	case phaseInstalled:
		repl := w.taskSet(w.Services[w.st.serviceOf(d.Group)], d.Replacement)
		if repl != nil && repl.Running > 0 && !repl.Healthy {
			return d.stepAt + installWaitMinutes, true
		}
	}
	return 0, false
}

// minuteCanPass: some deployment waits for minutes.
func (w *World) minuteCanPass() bool {
	return slices.ContainsFunc(w.Deployments, func(d *Deployment) bool {
		due, ok := w.timed(d)
		return ok && w.clock < due
	})
}

// firstStep is the weight of the replacement's group after CodeDeploy's
// first shift: a TimeBasedCanary's or TimeBasedLinear's percentage, or all
// of it (AllAtOnce) (CodeDeploy User Guide, "Deployment configurations on
// an Amazon ECS compute platform",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html).
func (st *stack) firstStep() int {
	if st.traffic.Type == config.TrafficAllAtOnce {
		return 100
	}
	return st.traffic.Percentage
}

// nextStep is the weight after the step that began at pct: a canary
// shifts the rest "in the second increment", a linear config adds its
// percentage each interval (the same page).
func (st *stack) nextStep(pct int) int {
	if st.traffic.Type == config.TrafficLinear {
		return min(100, pct+st.traffic.Percentage)
	}
	return 100
}

// passMinute is one minute of traffic: each target group serves its share
// of every requester's requests (each rule's weights; a request of no
// pinned tenant, and each pinned tenant, at Signal.RequestsPerMinute), the
// load balancer publishes the minute's metrics ("CloudWatch metrics for
// your Application Load Balancer": every 60 seconds, per target group,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html),
// CloudWatch evaluates every alarm at the end of the minute under the
// scenario's reading of when datapoints become visible, and CodeDeploy
// stops every deployment one of whose alarms is in ALARM: "If any of the
// specified alarms are activated, the deployment stops, and the status is
// updated to Stopped" ("Monitoring deployments with CloudWatch alarms in
// CodeDeploy",
// https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-create-alarms.html).
func (w *World) passMinute() {
	sig := w.signal
	requests := map[string]int{}
	for _, t := range append([]string{""}, w.tenants()...) {
		for _, f := range w.route(t).Forward {
			requests[f.TG] += sig.RequestsPerMinute * f.Weight / 100
		}
	}
	t := w.clock
	for _, tg := range []string{w.st.latestTG[0], w.st.latestTG[1], w.st.stableTG[0], w.st.stableTG[1]} {
		var sample cloudwatch.Sample
		switch sets := w.running(tg); {
		case sig.Observed != nil:
			sample = sig.Observed(tg, t)
		case len(sets) > 0:
			ts := sets[len(sets)-1]
			sample = sig.Sample(w.faultOf(ts.TaskDef), requests[tg], ts.Running)
		}
		alarms := sig.alarmsOf(w.st, tg)
		h := w.metrics[tg]
		if h == nil {
			h = &tgHistory{states: slices.Repeat([]types.StateValue{types.StateValueInsufficientData}, len(alarms))}
			w.metrics[tg] = h
		}
		h.samples = append(h.samples, sample)
		for i, a := range alarms {
			h.states[i] = a.Evaluate(h.samples, t, sig.Metrics, h.states[i])
		}
	}
	w.clock++
	for _, d := range w.Deployments {
		if d.Status != DepInProgress || d.Phase == phaseRollingBack {
			continue
		}
		for _, tg := range sig.watched(w.st, d.Group) {
			if i := slices.Index(w.metrics[tg].states, types.StateValueAlarm); i >= 0 {
				w.stop(d, fmt.Sprintf("alarm %s on %s in ALARM at minute %d", sig.alarmsOf(w.st, tg)[i].Name(), tgName(tg), t))
				break
			}
		}
	}
}

// signalActions are the timed steps of the signal path.
func (w *World) signalActions(s Scenario, d *Deployment, add func(string, func())) {
	// waiting: the step ends at minute due; in phaseInstalled, the
	// replacement (which that phase always has) has not turned healthy.
	due, waiting := w.timed(d)
	// shift is CodeDeploy's step to pct on the replacement; the last one
	// (100) completes AllowTraffic.
	shift := func(label string, pct int) {
		add(label, func() {
			d.pct, d.stepAt, d.Phase = pct, w.clock, phaseCanary
			if pct >= 100 {
				w.shiftAll(s, d)
				return
			}
			w.shiftTo(d, pct)
		})
	}
	switch d.Phase {
	case phaseInstalled:
		if !waiting && smokeReady(d) {
			shift(fmt.Sprintf("CodeDeploy %s shifts %d%% to the replacement", d.ID, w.st.firstStep()), w.st.firstStep())
		}
	case phaseCanary:
		if next := w.st.nextStep(d.pct); w.clock >= due {
			shift(fmt.Sprintf("CodeDeploy %s shifts %d%% to the replacement (%d min after the last step)", d.ID, next, w.clock-d.stepAt), next)
		}
	case phaseWait:
		if w.clock >= due {
			add(fmt.Sprintf("CodeDeploy %s: termination wait ends (%d min)", d.ID, w.clock-d.stepAt), func() { w.terminate(d) })
		}
	}
}

// I6 is the signal path's promise.
const I6 = "I6 a bad version is stopped before its stage completes, before all unpinned traffic, never on a pinned tenant"

// checkSignal is I6: a bad version never serves a pinned tenant, never
// completes a stage (no deployment of it succeeds), and — with canary or
// linear traffic — never gets all of the unpinned traffic (the weights of
// the groups that serve it summing to 100 on the rule that routes a
// request of no pinned tenant). All-at-once shifts everything in one step,
// so there only the first two hold: it is stopped before its stage
// completes, within the termination wait.
func (w *World) checkSignal() *Violation {
	sig := w.signal
	if sig == nil || len(sig.Bad) == 0 {
		return nil
	}
	for _, t := range w.tenants() {
		for _, g := range w.served(w.route(t)) {
			for _, v := range g.versions {
				if f, bad := sig.Bad[v]; bad {
					return &Violation{I6, fmt.Sprintf("pinned tenant %s is served v%d, a version that %s", t, v, f)}
				}
			}
		}
	}
	for _, d := range w.Deployments {
		v := w.TaskDefs[d.TaskDef]
		if f, bad := sig.Bad[v]; bad && d.Status == DepSucceeded && d.RollbackOf == "" {
			return &Violation{I6, fmt.Sprintf("deployment %s of v%d (%s) completed its stage: no alarm stopped a version that %s (minute %d)", d.ID, v, d.Group, f, w.clock)}
		}
	}
	if w.st.traffic.Type == config.TrafficAllAtOnce {
		return nil
	}
	weight := map[int]int{}
	r := w.route("")
	for _, f := range r.Forward {
		for _, g := range w.served(&Rule{Forward: []Weighted{f}}) {
			for _, v := range g.versions {
				weight[v] += f.Weight
				if bad, ok := sig.Bad[v]; ok && weight[v] >= 100 {
					return &Violation{I6, fmt.Sprintf("v%d, a version that %s, serves all requests of no pinned tenant through the %s rule (minute %d)", v, bad, r.Kind, w.clock)}
				}
			}
		}
	}
	return nil
}

// hashedMinutes is how many of a target group's latest minutes the state
// hash holds: more than any modelled alarm reads (the default config's
// 4-period alarms, the wide range, two minutes late: 9).
const hashedMinutes = 12

// hashSignal adds the signal path's state: the clock, each deployment's
// step, and each target group's recent minutes and alarm states.
func (w *World) hashSignal(h *stateHash) {
	if w.signal == nil {
		return
	}
	h.str("C")
	h.num(w.clock)
	for _, d := range w.Deployments {
		h.num(d.pct)
		h.num(d.stepAt)
	}
	for _, tg := range []string{w.st.latestTG[0], w.st.latestTG[1], w.st.stableTG[0], w.st.stableTG[1]} {
		hist := w.metrics[tg]
		if hist == nil {
			continue
		}
		h.str(tg)
		// An evaluation reads at most EvaluationPeriods + 2 periods back
		// from a minute up to cloudwatch.MaxLateMinutes old: the last
		// hashedMinutes minutes are all the alarms can still see.
		for _, s := range hist.samples[max(0, len(hist.samples)-hashedMinutes):] {
			h.str(fmt.Sprint(s))
		}
		for _, st := range hist.states {
			h.str(string(st))
		}
	}
}
