package protocol

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
)

// Violation is an invariant that does not hold.
type Violation struct {
	Invariant string
	What      string
}

func (v *Violation) Error() string { return v.Invariant + ": " + v.What }

// The invariants (docs/design.md §4).
const (
	I1 = "I1 pinned tenants see only approved versions"
	I2 = "I2 every request reaches a target group with healthy targets"
	I3 = "I3 at rest everyone is on one version, or the operator is told"
	I4 = "I4 every lifecycle hook invocation reports exactly once"
	I5 = "I5 pulumi up changes nothing CodeDeploy or the hooks own"
)

// check evaluates I1–I4 on the current state (I5 is checked by the
// pulumi-up step itself, see checkEdit).
func (w *World) check() *Violation {
	if v := w.editViolation; v != nil {
		return v
	}
	// Tenants routed by their own rule are pinned until everyone is back
	// behind the catch-all on approved versions.
	if !w.catchAllPinned() && w.onlyApproved(w.route("")) {
		clear(w.pinnedSinceRest)
	}
	requesters := append([]string{""}, w.tenants()...)
	for _, t := range requesters {
		r := w.route(t)
		if t != "" && r.Kind == KindTenant {
			w.pinnedSinceRest[t] = true
		}
		who := "a request of no pinned tenant"
		if t != "" {
			who = "tenant " + t
		}
		for _, g := range w.served(r) {
			if g.healthy == 0 {
				return &Violation{I2, fmt.Sprintf("%s is routed by the %s rule to %s, which has no healthy target", who, r.Kind, tgName(g.tg))}
			}
			if t != "" && w.pinnedSinceRest[t] {
				for _, v := range g.versions {
					if !w.approved[v] {
						return &Violation{I1, fmt.Sprintf("%s (pinned in this rollout) is served v%d through the %s rule, and no approval covered v%d", who, v, r.Kind, v)}
					}
				}
			}
		}
	}
	for _, inv := range w.invocations {
		if inv.ended && (inv.Hook == "pin" || inv.Hook == "unpin") && inv.reports != 1 {
			return &Violation{I4, fmt.Sprintf("%s#%d for %s reported %d times", inv.Hook, inv.N, inv.Deployment, inv.reports)}
		}
	}
	if w.atRest() && !w.consolidated() && !w.told {
		return &Violation{I3, fmt.Sprintf("nothing is in flight, yet %s, and no function said so", w.split())}
	}
	return nil
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
	return !w.catchAllPinned() && w.Services[StableService].Desired == 0
}

func (w *World) split() string {
	var parts []string
	if w.catchAllPinned() {
		parts = append(parts, "the catch-all is below the tenant rules")
	}
	if n := w.Services[StableService].Desired; n > 0 {
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
		out["action of "+ruleName(r.ARN)] = fmt.Sprint(r.Forward)
	}
	for _, name := range []string{LatestService, StableService} {
		svc := w.Services[name]
		out[name+" desired count"] = fmt.Sprint(svc.Desired)
		for _, ts := range svc.TaskSets {
			out[name+" task set "+ts.ID] = fmt.Sprintf("%+v", *ts)
		}
	}
	return out
}

// checkEdit is I5 for one `pulumi up` that added or removed the rule of
// tenant: every owned item of every other rule and service is unchanged.
func checkEdit(before, after map[string]string, tenant string) *Violation {
	mine := "action of tenant-" + tenant
	for k, v := range before {
		if k != mine && after[k] != v {
			return &Violation{I5, fmt.Sprintf("pulumi up changed %s from %s to %s", k, v, after[k])}
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok && k != mine {
			return &Violation{I5, fmt.Sprintf("pulumi up added %s = %s", k, v)}
		}
	}
	return nil
}

func tgName(arn string) string {
	s := strings.TrimPrefix(arn, tgPrefix)
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// hash identifies a state: the world and, for each live invocation, what
// it has seen so far (the hook's own state is a function of that).
func (w *World) hash() uint64 {
	var b strings.Builder
	rules := slices.Clone(w.Rules)
	sort.Slice(rules, func(i, j int) bool { return rules[i].ARN < rules[j].ARN })
	for _, r := range rules {
		fmt.Fprintf(&b, "R%s@%d%v%v%v;", ruleName(r.ARN), r.Priority, r.Tenants, r.Forward, r.Tags)
	}
	for _, name := range []string{LatestService, StableService} {
		svc := w.Services[name]
		fmt.Fprintf(&b, "S%s%d;", name, svc.Desired)
		for _, ts := range svc.TaskSets {
			fmt.Fprintf(&b, "%+v;", *ts)
		}
	}
	for _, d := range w.Deployments {
		fmt.Fprintf(&b, "D%s %s %s %s %d %s %s %s", d.ID, d.Group, d.Status, d.Phase, w.TaskDefs[d.TaskDef], d.Original, d.Replacement, d.RollbackOf)
		for _, l := range d.Hooks {
			fmt.Fprintf(&b, " %s=%s", l.Name, l.Status)
		}
		b.WriteString(";")
	}
	for _, e := range w.Executions {
		fmt.Fprintf(&b, "E%+v;", *e)
	}
	fmt.Fprintf(&b, "H%v A%v V%v P%v T%v B%d,%d,%d,%d,%d,%d,%d,%d;", w.stageHolder, w.approved, w.events, w.pinnedSinceRest, w.told,
		w.pushes, w.faults, w.edits, w.alarms, w.dups, w.rejects, w.operator, w.nextTenant)
	for _, inv := range w.invocations {
		if inv.ended {
			fmt.Fprintf(&b, "I%d:%s:end:%d;", inv.N, inv.Hook, inv.reports)
			continue
		}
		fmt.Fprintf(&b, "I%d:%s:%s:%v:%d:%s", inv.N, inv.Hook, inv.Deployment, inv.timedOut, inv.reports, strings.Join(inv.trace, "|"))
		if inv.pending != nil {
			fmt.Fprintf(&b, "→%s %s", inv.pending.op, inv.pending.detail)
		}
		b.WriteString(";")
	}
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return h.Sum64()
}
