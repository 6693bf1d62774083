// Package protocol is an executable model of exactly the AWS behaviour the
// rollout protocol relies on — CodePipeline V2 executions and stage locks,
// manual approval, CodeDeploy ECS blue/green deployments and their
// lifecycle hooks, ECS task sets, the ALB listener's rules, the EventBridge
// rules that run the cleanup and rollback functions, Lambda's retries — with
// the real hook code (lambda/rollout) running inside it through the same
// interfaces it uses against AWS, and an explorer that checks the protocol's
// invariants (docs/design.md §4, I1–I6) after every step of every bounded
// interleaving of pushes, approvals, rejections, timeouts, alarms, failures,
// hook faults and `pulumi up` edits.
//
// Each modelled rule cites the AWS page it comes from. Where the
// documentation leaves a behaviour open, the model has a Reading for each
// interpretation and the explorer runs every one.
package protocol

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/declared"
)

// The modelled stack's names, ARNs, priorities, desired counts and
// function environments come from a declared stack (stack.go): what the
// program declares, so the hooks get exactly the environment the program
// sets. Rules `pulumi up` adds for new tenants follow components/routing's
// priorities, as the program's own do.
const firstTenantRule = routing.FirstTenantRulePriority

// imageRepository is the repository pushed images come from when a
// declared stack names none (stack.image); the hooks compare images by
// digest, so any repository serves.
const imageRepository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"

// Digest is the ECR image digest of a version: the ECR source action's
// revision id. A digest is the SHA-256 of the image manifest
// (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push.html);
// the model hashes the version's name, so versions differ at a glance.
func Digest(version int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("v%d", version)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Rule is a listener rule. A lower priority is evaluated first; the default
// rule is evaluated last
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html).
type Rule struct {
	ARN      string
	Priority int // 0 for the default rule
	Kind     string
	Tenants  []string // tenant rules: the tenants whose requests match
	// Forward is replaced whole, never edited in place: copies share it.
	Forward []Weighted
	// StalePlan: `pulumi up` created this tenant rule with an action it
	// read when it planned, and the anchor's action had changed since (a
	// Stable deployment shifted it): the known stale-plan finding.
	StalePlan bool
	// Tags: key → owning invocation (0: a caller outside the explorer).
	// The value's expiry is not modelled: a claim left by an invocation
	// that ended expires by the "claim expires" event (tags.go).
	Tags map[string]int
	// TagValues: key → the value the caller set (tags.go).
	TagValues map[string]string
}

// Weighted is one target group of a forward action.
type Weighted struct {
	TG     string
	Weight int
}

// Rule kinds: the declared rules' roles.
const (
	KindDefault  = string(declared.RuleDefault)
	KindCatchAll = string(declared.RuleCatchAll)
	KindAnchor   = string(declared.RuleAnchor)
	KindTenant   = string(declared.RuleTenant)
)

// TaskSet is one version of a CODE_DEPLOY service. Its tasks register in one
// target group and follow the service's desired count (scale 100 %)
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskSet.html).
type TaskSet struct {
	ID      string
	Status  string // PRIMARY or ACTIVE
	TaskDef string
	TG      string
	Running int
	Healthy bool // the running tasks passed the target group's health check
}

// Service is an ECS service with the CODE_DEPLOY deployment controller.
type Service struct {
	Desired  int
	TaskDef  string // the service's own, before its first deployment
	TaskSets []*TaskSet
}

func (s *Service) primary() *TaskSet {
	return find(s.TaskSets, func(ts *TaskSet) bool { return ts.Status == "PRIMARY" })
}

// find is the first element of s that match accepts, or nil.
func find[T any](s []*T, match func(*T) bool) *T {
	if i := slices.IndexFunc(s, match); i >= 0 {
		return s[i]
	}
	return nil
}

// World is the state of the modelled account.
type World struct {
	// st is the modelled stack, shared by every copy.
	st *stack

	Reading Reading
	// pageSize caps list answers (Scenario.PageSize).
	pageSize int

	Rules    []*Rule
	Services map[string]*Service
	TaskDefs map[string]int // task definition ARN → version
	// images: the image a task definition registered through
	// RegisterTaskDefinition names, where not its version's digest
	// (taskdefs.go).
	images map[string]string
	nextTS int

	// Deployments and TaskDefs only grow: their next id is one past their
	// length.
	Deployments []*Deployment

	Executions []*Execution
	approved   map[int]bool // versions an approval covered

	events []Event // EventBridge events waiting for delivery

	invocations []*Invocation
	// parking: the explorer's parked hook goroutines (parking.go; nil
	// outside Explore), shared by every copy.
	parking *parking

	// editViolation is I5's verdict on the last `pulumi up`; pulumiState
	// is what Pulumi owns as the last `pulumi up` left it (pulumiOwned).
	editViolation *Violation
	pulumiState   string
	// planned is a `pulumi up` that read the anchor and has yet to create
	// the new tenant's rule.
	planned *plannedRule

	// catchAllByEndedUnpin: the catch-all was last moved by an unpin whose
	// Stable deployment had already ended (an alarm stopped it while the
	// hook ran): the known stale-unpin finding.
	catchAllByEndedUnpin bool

	// budgets spent (bounded by the scenario)
	pushes, faults, edits, alarms, dups, rejects, operator int
	nextTenant                                             int

	log []string // the trace: what each step did

	// direct is set for a world served to outside clients (see Direct);
	// there new tasks pass their health checks at once, since nobody but
	// the caller could make them.
	direct *Direct

	// The signal path (Scenario.Signal; nil: none): the minute the model's
	// clock is at, and each target group's minutes and alarm states.
	signal  *Signal
	clock   int
	metrics map[string]*tgHistory

	// The smoke hook (Scenario.Smoke; its checks are the stack's): where
	// each group's test listener routes once CodeDeploy moved it.
	testTG map[string]string
}

// plannedRule is never changed once made: copies of the world share it.
type plannedRule struct {
	tenant  string
	forward []Weighted
}

// newWorld is the steady state after a few earlier rollouts: latest and
// stable both serve v0, stable at zero tasks with its task set in
// stableTG, the catch-all above the tenant rules.
func newWorld(s Scenario) *World {
	st := stackOf(s.Stack)
	w := &World{
		st:       st,
		Reading:  s.Reading,
		pageSize: s.PageSize,
		Services: map[string]*Service{},
		TaskDefs: map[string]int{},
		approved: map[int]bool{0: true},
		signal:   s.Signal,
		metrics:  map[string]*tgHistory{},
		testTG:   map[string]string{},
	}
	latestTD, stableTD := w.registerTD(0), w.registerTD(0)
	stableTG, other := w.st.stableTG[0], w.st.stableTG[1]
	if s.StableOnGreen {
		stableTG, other = w.st.stableTG[1], w.st.stableTG[0]
	}
	w.Services[w.st.latestService] = &Service{Desired: w.st.latestCount, TaskDef: latestTD,
		TaskSets: []*TaskSet{{ID: w.taskSetID(), Status: "PRIMARY", TaskDef: latestTD, TG: w.st.latestTG[0], Running: w.st.latestCount, Healthy: true}}}
	w.Services[w.st.stableService] = &Service{Desired: 0, TaskDef: stableTD,
		TaskSets: []*TaskSet{{ID: w.taskSetID(), Status: "PRIMARY", TaskDef: stableTD, TG: stableTG}}}
	latestFwd := []Weighted{{w.st.latestTG[0], 100}, {w.st.latestTG[1], 0}}
	stableFwd := []Weighted{{stableTG, 100}, {other, 0}}
	// The default rule and the catch-all forward to latest, the anchor and
	// the tenant rules to stable.
	for _, r := range st.rules {
		r.Tenants = slices.Clone(r.Tenants)
		r.Forward = stableFwd
		if r.Kind == KindDefault || r.Kind == KindCatchAll {
			r.Forward = latestFwd
		}
		w.Rules = append(w.Rules, &r)
	}
	// Tenants `pulumi up` adds are t<n>, after the declared ones.
	w.nextTenant = len(w.tenants())
	w.pulumiState = w.pulumiOwned()
	if s.StalePlan {
		w.edits++
		w.planned = &plannedRule{tenant: "late", forward: []Weighted{{other, 100}, {stableTG, 0}}}
	}
	return w
}

func (w *World) registerTD(version int) string {
	arn := fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", w.st.region, w.st.account, w.st.cluster, len(w.TaskDefs)+1)
	w.TaskDefs[arn] = version
	return arn
}

func (w *World) taskSetID() string {
	w.nextTS++
	return fmt.Sprintf("ecs-svc/%d", w.nextTS)
}

func (w *World) rule(arn string) *Rule {
	return find(w.Rules, func(r *Rule) bool { return r.ARN == arn })
}

// addTenantRule is what `pulumi up` does for a new tenant: a rule at the
// next fixed priority whose action copies the anchor rule's live action
// (components/service).
func (w *World) addTenantRule(tenant string, fwd []Weighted) {
	prio := firstTenantRule
	for _, r := range w.Rules {
		if r.Kind == KindTenant && r.Priority >= prio {
			prio = r.Priority + 1
		}
	}
	w.Rules = append(w.Rules, &Rule{ARN: w.st.rulePrefix + "tenant-" + tenant, Priority: prio, Kind: KindTenant,
		Tenants: []string{tenant}, Forward: fwd})
}

func (w *World) tenants() []string {
	var out []string
	for _, r := range w.Rules {
		if r.Kind == KindTenant {
			out = append(out, r.Tenants...)
		}
	}
	slices.Sort(out)
	// A path tenant's two values may span two rules (declared.Rule).
	return slices.Compact(out)
}

// route is the rule that serves a request of tenant ("" for a request of
// no pinned tenant): the first rule by priority whose condition matches,
// else the default rule. The anchor matches no real request.
func (w *World) route(tenant string) *Rule {
	for _, r := range inOrder(w.Rules) {
		switch r.Kind {
		case KindCatchAll:
			return r
		case KindTenant:
			if tenant != "" && slices.Contains(r.Tenants, tenant) {
				return r
			}
		}
	}
	return w.rule(w.st.defaultARN)
}

// inOrder is rules in the order the listener evaluates them: by
// priority, the default rule last (Rule).
func inOrder(rules []*Rule) []*Rule {
	rank := func(r *Rule) int {
		if r.Kind == KindDefault {
			return math.MaxInt
		}
		return r.Priority
	}
	rules = slices.Clone(rules)
	slices.SortStableFunc(rules, func(a, b *Rule) int { return cmp.Compare(rank(a), rank(b)) })
	return rules
}

// served lists, for a rule's forward action, each target group with a
// positive weight and the versions and healthy task count it serves.
type servedGroup struct {
	tg       string
	versions []int
	healthy  int
}

func (w *World) served(r *Rule) []servedGroup {
	var out []servedGroup
	for _, f := range r.Forward {
		if f.Weight <= 0 {
			continue
		}
		g := servedGroup{tg: f.TG}
		for _, name := range []string{w.st.latestService, w.st.stableService} {
			svc := w.Services[name]
			for _, ts := range svc.TaskSets {
				if ts.TG == f.TG && ts.Running > 0 {
					g.versions = append(g.versions, w.TaskDefs[ts.TaskDef])
					if ts.Healthy {
						g.healthy += ts.Running
					}
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func (w *World) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf(format, args...))
}

// healthyAtOnce: new tasks pass their health checks at once (a Direct's,
// unless HealthByEvent); in the explorer they do by an event.
func (w *World) healthyAtOnce() bool { return w.direct != nil && !w.direct.healthByEvent }

// catchAllPinned reports whether the catch-all sits below the tenant rules.
func (w *World) catchAllPinned() bool { return w.rule(w.st.catchAllARN).Priority > firstTenantRule }

// clone copies the world deeply. Invocations are copied as records (what
// they were given and answered); respawn brings the live ones back.
func (w *World) clone() *World {
	c := *w
	c.Rules = copies(w.Rules, func(r *Rule) {
		r.Tenants = slices.Clone(r.Tenants)
		r.Tags = maps.Clone(r.Tags)
		r.TagValues = maps.Clone(r.TagValues)
	})
	c.Services = make(map[string]*Service, len(w.Services))
	for name, svc := range w.Services {
		sc := *svc
		sc.TaskSets = copies(svc.TaskSets, nil)
		c.Services[name] = &sc
	}
	c.TaskDefs = maps.Clone(w.TaskDefs)
	c.images = maps.Clone(w.images)
	c.Deployments = copies(w.Deployments, func(d *Deployment) { d.Hooks = copies(d.Hooks, nil) })
	c.Executions = copies(w.Executions, nil)
	c.metrics = make(map[string]*tgHistory, len(w.metrics))
	for tg, h := range w.metrics {
		c.metrics[tg] = &tgHistory{samples: slices.Clone(h.samples), states: slices.Clone(h.states)}
	}
	c.testTG = maps.Clone(w.testTG)
	c.approved = maps.Clone(w.approved)
	c.events = slices.Clone(w.events)
	c.log = shared(w.log)
	c.invocations = w.invocationRecords()
	return &c
}

// copies is a copy of each element of s, then deepened by deep (nil: a
// shallow copy of each). The copies share one allocation.
func copies[T any](s []*T, deep func(*T)) []*T {
	vals, out := make([]T, len(s)), make([]*T, len(s))
	for i, p := range s {
		vals[i] = *p
		if deep != nil {
			deep(&vals[i])
		}
		out[i] = &vals[i]
	}
	return out
}

// frozen is a copy of w to keep as a state, w to be ended (abort) right
// after and never stepped again: the world's structures are shared with
// w, which ending leaves untouched (an ending hook's calls are answered
// errAborted without reaching the world); only the invocations are
// copied, as records. thaw copies everything before a step.
func (w *World) frozen() *World {
	c := *w
	c.invocations = w.invocationRecords()
	for i, inv := range w.invocations {
		w.parking.park(inv, c.invocations[i])
	}
	return &c
}

// invocationRecords copies the invocations as records: what they were
// given and answered, without their goroutines.
func (w *World) invocationRecords() []*Invocation {
	out := make([]*Invocation, len(w.invocations))
	for i, inv := range w.invocations {
		if inv.ended {
			out[i] = inv // nothing changes an ended invocation: copies share it
			continue
		}
		out[i] = &Invocation{N: inv.N, Hook: inv.Hook, Deployment: inv.Deployment, Event: inv.Event,
			trace: shared(inv.trace), traceHash: inv.traceHash, answers: inv.answers, calls: shared(inv.calls), accepted: inv.accepted,
			ended: inv.ended, err: inv.err, timedOut: inv.timedOut, sinceDeadline: inv.sinceDeadline, killed: inv.killed,
			logs: shared(inv.logs), execID: inv.execID, execution: inv.execution,
			results: shared(inv.results), cancelAt: inv.cancelAt, parked: inv.parked}
		if pc := inv.pending; pc != nil {
			out[i].pending = &pendingCall{op: pc.op, detail: pc.detail, waiting: pc.waiting}
		}
	}
	return out
}

// shared is s for a copy to share: the world only ever appends to its
// logs, an invocation's trace, calls and answers, and an append to a slice
// at its capacity copies it, so neither copy sees the other's.
func shared[T any](s []T) []T { return s[:len(s):len(s)] }

// thaw is a copy to take a step from: every invocation that had not ended
// runs again when it is next answered.
//
// Lazily: a copied invocation keeps its pending request as data (what the
// explorer shows and decides on) and gets its goroutine back only when
// its call is answered (step), so a step re-runs at most one hook.
func (w *World) thaw() *World { return w.clone() }
