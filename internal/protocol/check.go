package protocol

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Violation is an invariant that does not hold.
type Violation struct {
	Invariant string
	What      string
}

func (v *Violation) Error() string { return v.Invariant + ": " + v.What }

// The invariants (docs/design.md §4), as the explorer checks them.
const (
	I1 = "I1 pinned tenants see only approved versions"
	I2 = "I2 every request reaches a target group with healthy targets"
	I3 = "I3 every rollout comes to rest, everyone on the last approved version"
	I4 = "I4 every lifecycle hook invocation reports once, in time"
	I5 = "I5 pulumi up and the hooks never touch what the other owns"
)

// staleRule says that a tenant rule came from a stale plan (Rule.StalePlan).
const staleRule = "a rule pulumi up created from a plan made before a Stable deployment shifted the anchor"

// staleUnpin says who last moved the catch-all (World.catchAllByEndedUnpin).
const staleUnpin = "the catch-all was last moved by an unpin whose Stable deployment had already ended"

// check evaluates the safety invariants on the current state: I1, I2, I4,
// I5 (I3 is checked where the state is quiescent, see checkRest).
func (w *World) check() *Violation {
	if v := w.editViolation; v != nil {
		return v
	}
	// I1 quantifies over the allow-list as configured now (at the start of
	// the rollout, and as `pulumi up` edited it since): every tenant with a
	// rule, whatever routes its requests.
	requesters := append([]string{""}, w.tenants()...)
	for _, t := range requesters {
		r := w.route(t)
		who := "a request of no pinned tenant"
		if t != "" {
			who = "pinned tenant " + t
		}
		for _, g := range w.served(r) {
			if g.healthy == 0 {
				why := ""
				if r.StalePlan {
					why = " (" + staleRule + ")"
				}
				return &Violation{I2, fmt.Sprintf("%s is routed by the %s rule to %s, which has no healthy target%s", who, r.Kind, tgName(g.tg), why)}
			}
			if t == "" {
				continue
			}
			for _, v := range g.versions {
				if !w.approved[v] {
					why := ""
					if r.Kind == KindCatchAll && w.catchAllByEndedUnpin {
						why = " (" + staleUnpin + ")"
					}
					return &Violation{I1, fmt.Sprintf("%s is served v%d through the %s rule, and no approval covered v%d%s", who, v, r.Kind, v, why)}
				}
			}
		}
	}
	// A rollback never deploys an image nobody approved: the rollback
	// function's deployment is the last approved version's.
	for _, d := range w.Deployments {
		if v := w.TaskDefs[d.TaskDef]; d.Exec == -1 && !w.approved[v] {
			return &Violation{I1, fmt.Sprintf("the rollback function's deployment %s deploys v%d, which no approval covered", d.ID, v)}
		}
	}
	for _, inv := range w.invocations {
		if !inv.ended || (inv.Hook != "pin" && inv.Hook != "unpin" && inv.Hook != "smoke") || inv.accepted == 1 {
			continue
		}
		if d := w.deployment(inv.Deployment); inv.accepted == 0 && d != nil {
			if l := d.hook(map[string]string{"pin": "BeforeInstall", "unpin": "AfterAllowTraffic", "smoke": hookTestTraffic}[string(inv.Hook)]); l != nil && l.EndedByDeployment {
				continue // CodeDeploy ended the event first
			}
		}
		if inv.killed {
			return &Violation{I4, fmt.Sprintf("%s#%d for %s was stopped at its timeout before CodeDeploy accepted a report", inv.Hook, inv.N, inv.Deployment)}
		}
		return &Violation{I4, fmt.Sprintf("%s#%d for %s ended with %d reports accepted by CodeDeploy", inv.Hook, inv.N, inv.Deployment, inv.accepted)}
	}
	// The termination wait is real: CodeDeploy's instant rollback of a
	// Stable deployment needs its original task set serving until the wait
	// ends (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html).
	// A deployment that started on a stable at 0 (after an operator's
	// rollback released the tenants and cleanup scaled stable down, before
	// the approved execution entered Stable) has nothing to keep: its
	// original task set served no request, and the catch-all is above the
	// tenant rules, which I2's routing clause checks on its own.
	for _, d := range w.Deployments {
		if d.Group != w.st.stableGroup || d.Phase != phaseWait || !d.unfinished() || len(w.tenants()) == 0 || !d.originalServed {
			continue
		}
		if orig := w.taskSet(w.Services[w.st.stableService], d.Original); orig == nil || orig.Running == 0 || !orig.Healthy {
			return &Violation{I2, fmt.Sprintf("during %s's termination wait stable's original task set has no healthy tasks: a rollback now would route the pinned tenants to no healthy target", d.ID)}
		}
	}
	if v := w.checkSignal(); v != nil {
		return v
	}
	if got := w.pulumiOwned(); got != w.pulumiState {
		return &Violation{I5, fmt.Sprintf("something other than pulumi up changed what Pulumi owns (tenant rules' priorities and conditions, the anchor's priority, the set of rules): was %s, now %s", w.pulumiState, got)}
	}
	return nil
}

// pulumiOwned is what Pulumi manages on the listener (the ownership table
// of docs/design.md §4): every rule but the catch-all, with its priority and
// conditions, and the catch-all's existence. Neither CodeDeploy nor a hook
// may change it.
func (w *World) pulumiOwned() string {
	var b strings.Builder
	for _, r := range w.Rules {
		if r.Kind == KindCatchAll {
			b.WriteString("catch-all;")
			continue
		}
		// name@priority[tenants]; — checked after every step, so built
		// without fmt.
		b.WriteString(w.st.ruleName(r.ARN))
		b.WriteByte('@')
		b.WriteString(strconv.Itoa(r.Priority))
		b.WriteByte('[')
		b.WriteString(strings.Join(r.Tenants, " "))
		b.WriteString("];")
	}
	return b.String()
}

// checkRest is I3, on a state where nothing happens unless a person (or a
// fault the scenario allows) acts: the state must be what the rollout ends
// in. A split may stay held only while a decision that belongs to a person
// is pending — an approval, or with approval.onReject=hold the operator's
// choice after a rejection; otherwise everything has come to rest, the
// catch-all is above the tenant rules, stable runs 0 tasks and everyone is
// served the last approved version: the version of the newest execution
// that completed every stage (v0 when none has). A rejection, an alarm or
// a failure leaves that version in place; an approved push that completes
// replaces it. A log line is no licence.
func (w *World) checkRest() *Violation {
	for _, e := range w.Executions {
		if e.Status == "InProgress" && e.Stage == StageApprove && e.Token != "" {
			// A person decides, if the approval is about what latest
			// serves: newest push wins, a superseded one is rejected.
			if latest := w.TaskDefs[w.Services[w.st.latestService].primary().TaskDef]; latest != e.Version && !w.latestBusy() {
				return &Violation{I3, fmt.Sprintf("the approval of %s asks about v%d while latest serves v%d and nothing is in flight to change that: newest push wins, it should have been rejected", e.ID, e.Version, latest)}
			}
			return nil
		}
	}
	if !w.atRest() {
		return &Violation{I3, "stuck: nothing can happen unless a person acts, no decision of a person is pending, and " + w.inFlight()}
	}
	// With no alarm, no fault and no bad version, an approved push
	// completes: nothing a person can see fails its Stable stage (hole 2:
	// the smoke test of a replacement with no tasks failed every approved
	// Stable stage that ran on a stable at 0).
	if w.alarms == 0 && w.faults == 0 && (w.signal == nil || len(w.signal.Bad) == 0) {
		for _, e := range w.Executions {
			if e.Status == "Failed" && e.Stage == StageStable {
				return &Violation{I3, fmt.Sprintf("%s (v%d) was approved, yet its Stable stage failed with no alarm, no fault and no bad version", e.ID, e.Version)}
			}
		}
	}
	if w.st.onRejectHold && w.rejects > 0 {
		return nil // the operator decides what follows a held rejection
	}
	target := 0
	for _, e := range w.Executions {
		if e.Status == "Succeeded" && e.Version > target {
			target = e.Version
		}
	}
	if split := w.split(); split != "" {
		return &Violation{I3, fmt.Sprintf("nothing is in flight and no person has a decision to make, yet %s", split)}
	}
	for _, t := range append([]string{""}, w.tenants()...) {
		vs := w.versions(t)
		if len(vs) != 1 || vs[0] != target {
			who := "requests of no pinned tenant are"
			if t != "" {
				who = "tenant " + t + " is"
			}
			return &Violation{I3, fmt.Sprintf("at rest, %s served %v, not the last approved version v%d", who, vs, target)}
		}
	}
	return nil
}

// latestBusy: a deployment of the Latest group has not ended.
func (w *World) latestBusy() bool {
	for _, d := range w.Deployments {
		if d.Group == w.st.latestGroup && (d.unfinished() || d.Phase == phaseRollingBack) {
			return true
		}
	}
	return false
}

// inFlight says what has not ended.
func (w *World) inFlight() string {
	var parts []string
	for _, d := range w.Deployments {
		if d.unfinished() || d.Phase == phaseRollingBack {
			parts = append(parts, fmt.Sprintf("deployment %s is %s (%s)", d.ID, d.Status, d.Phase))
		}
	}
	for _, inv := range w.invocations {
		if !inv.ended {
			parts = append(parts, fmt.Sprintf("%s#%d is still waiting, polling %s", inv.Hook, inv.N, inv.pending.op))
		}
	}
	for _, e := range w.Executions {
		if e.Status == "InProgress" {
			parts = append(parts, fmt.Sprintf("%s is in progress at %s", e.ID, e.Stage))
		}
	}
	if len(w.events) > 0 {
		parts = append(parts, fmt.Sprintf("%d events wait for delivery", len(w.events)))
	}
	return strings.Join(parts, ", ")
}

func (w *World) onlyApproved(r *Rule) bool {
	for _, g := range w.served(r) {
		for _, v := range g.versions {
			if !w.approved[v] {
				return false
			}
		}
	}
	return true
}

// AtRest reports whether nothing is in flight: every deployment ended
// (none rolling back), every invocation answered, no execution running
// (for tests outside the package, through Direct.Inspect).
func (w *World) AtRest() bool { return w.atRest() }

// CatchAllPinned reports whether the catch-all rule is below the tenant
// rules (the tenants pinned to stable).
func (w *World) CatchAllPinned() bool { return w.catchAllPinned() }

// LatestService and StableService are the declared stack's two ECS
// services in this world (for assertions).
func (w *World) LatestService() *Service { return w.Services[w.st.latestService] }
func (w *World) StableService() *Service { return w.Services[w.st.stableService] }

// atRest: no deployment unfinished or rolling back, no function running or
// waiting to run, no pipeline execution in progress.
func (w *World) atRest() bool {
	for _, d := range w.Deployments {
		if d.unfinished() || d.Phase == phaseRollingBack {
			return false
		}
	}
	for _, inv := range w.invocations {
		if !inv.ended {
			return false
		}
	}
	for _, e := range w.Executions {
		if e.Status == "InProgress" {
			return false
		}
	}
	return len(w.events) == 0
}

func (w *World) consolidated() bool {
	return !w.catchAllPinned() && w.Services[w.st.stableService].Desired == 0
}

func (w *World) split() string {
	var parts []string
	if w.catchAllPinned() {
		parts = append(parts, "the catch-all is below the tenant rules")
	}
	if n := w.Services[w.st.stableService].Desired; n > 0 {
		parts = append(parts, fmt.Sprintf("stable runs %d tasks", n))
	}
	return strings.Join(parts, " and ")
}

// owned is what CodeDeploy and the hooks own (the ownership table of
// docs/design.md §4), by item: the catch-all's priority, every rule's
// action, the services' task sets and desired counts.
func (w *World) owned() map[string]string {
	out := map[string]string{}
	for _, r := range w.Rules {
		if r.Kind == KindCatchAll {
			out["catch-all priority"] = fmt.Sprint(r.Priority)
		}
		out["action of "+w.st.ruleName(r.ARN)] = fmt.Sprint(r.Forward)
	}
	for _, name := range []string{w.st.latestService, w.st.stableService} {
		svc := w.Services[name]
		out[name+" desired count"] = fmt.Sprint(svc.Desired)
		for _, ts := range svc.TaskSets {
			out[name+" task set "+ts.ID] = fmt.Sprintf("%+v", *ts)
		}
	}
	return out
}

// tenantRules are the owned items (owned) of the rules that carry tenant
// and hold no other tenant: the ones a `pulumi up` for tenant may create
// or delete.
func (w *World) tenantRules(tenant string) map[string]bool {
	out := map[string]bool{}
	for _, r := range w.Rules {
		if r.Kind == KindTenant && len(r.Tenants) == 1 && r.Tenants[0] == tenant {
			out["action of "+w.st.ruleName(r.ARN)] = true
		}
	}
	return out
}

// checkEdit is I5 for one `pulumi up` that added or removed the rules of
// a tenant (mine: their owned items): every owned item of every other rule
// and service is unchanged.
func checkEdit(before, after map[string]string, mine map[string]bool) *Violation {
	for k, v := range before {
		if !mine[k] && after[k] != v {
			return &Violation{I5, fmt.Sprintf("pulumi up changed %s from %s to %s", k, v, after[k])}
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok && !mine[k] {
			return &Violation{I5, fmt.Sprintf("pulumi up added %s = %s", k, v)}
		}
	}
	return nil
}

func tgName(arn string) string {
	_, s, _ := strings.Cut(arn, ":targetgroup/")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// hash identifies a state: the world and, for each live invocation, what
// it has seen so far (the hook's own state is a function of that: its
// trace, kept as a running hash of the requests and answers).
func (w *World) hash() uint64 {
	var h stateHash
	h.h.SetSeed(hashSeed)
	rules := slices.Clone(w.Rules)
	slices.SortFunc(rules, func(a, b *Rule) int { return strings.Compare(a.ARN, b.ARN) })
	for _, r := range rules {
		h.str("R", r.ARN)
		h.num(r.Priority)
		h.flag(r.StalePlan)
		if r.Kind == KindCatchAll {
			h.flag(w.catchAllByEndedUnpin)
		}
		h.strs(r.Tenants)
		for _, f := range r.Forward {
			h.str(f.TG)
			h.num(f.Weight)
		}
		if len(r.Tags) > 0 {
			for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
				h.str("T", k)
				h.num(r.Tags[k])
			}
		}
	}
	for _, name := range []string{w.st.latestService, w.st.stableService} {
		svc := w.Services[name]
		h.str("S", name)
		h.num(svc.Desired)
		for _, ts := range svc.TaskSets {
			h.str(ts.ID, ts.Status, ts.TaskDef, ts.TG)
			h.num(ts.Running)
			h.flag(ts.Healthy)
		}
	}
	for _, d := range w.Deployments {
		h.str("D", d.ID, d.Group, d.Status, d.Phase, d.Original, d.Replacement, d.RollbackOf, d.endStatus)
		h.flag(d.originalServed)
		h.num(w.TaskDefs[d.TaskDef])
		for _, l := range d.Hooks {
			h.str(l.Name, l.Status)
			h.flag(l.EndedByDeployment)
		}
	}
	for _, e := range w.Executions {
		h.str("E", e.ID, e.Stage, e.Status, e.Deployment, e.Token)
		h.num(e.Version)
		h.flag(e.Waiting)
	}
	for _, st := range []string{StageLatest, StageApprove, StageStable} {
		h.num(w.holder(st))
	}
	for _, v := range slices.Sorted(maps.Keys(w.approved)) {
		h.num(v)
	}
	h.str("V")
	for _, ev := range w.events {
		h.str(ev.Kind, ev.Group, ev.DeploymentID, ev.State)
		h.num(ev.Exec)
		h.num(ev.Attempt)
	}
	for _, n := range []int{w.pushes, w.faults, w.edits, w.alarms, w.dups, w.rejects, w.operator, w.nextTenant} {
		h.num(n)
	}
	if w.planned != nil {
		h.str("U", w.planned.tenant)
		for _, f := range w.planned.forward {
			h.str(f.TG)
			h.num(f.Weight)
		}
	}
	w.hashSignal(&h)
	for _, g := range slices.Sorted(maps.Keys(w.testTG)) {
		h.str("L", g, w.testTG[g])
	}
	for _, inv := range w.invocations {
		h.str("I", string(inv.Hook))
		h.num(inv.N)
		h.flag(inv.ended)
		h.num(inv.accepted)
		if inv.ended {
			h.flag(inv.killed)
			continue
		}
		h.str(inv.Deployment)
		h.flag(inv.timedOut)
		h.num(inv.sinceDeadline)
		h.num(int(inv.traceHash))
		h.num(len(inv.trace))
		if inv.pending != nil {
			h.str(inv.pending.op, inv.pending.detail)
		}
	}
	return h.h.Sum64()
}

var hashSeed = maphash.MakeSeed()

// stateHash feeds values into a hash, each with a separator, so that
// ("ab", "c") and ("a", "bc") differ.
type stateHash struct{ h maphash.Hash }

func (s *stateHash) str(vs ...string) {
	for _, v := range vs {
		s.h.WriteString(v)
		s.h.WriteByte(0)
	}
}

func (s *stateHash) strs(vs []string) {
	s.num(len(vs))
	s.str(vs...)
}

func (s *stateHash) num(n int) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	s.h.Write(b[:])
}

func (s *stateHash) flag(v bool) {
	if v {
		s.h.WriteByte(1)
	} else {
		s.h.WriteByte(2)
	}
}
