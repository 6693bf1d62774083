package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Action is what a step does.
type Action string

// The steps a scenario is made of.
const (
	// ActPush asks the backend to build and push Version (bad as Bad).
	ActPush Action = "push"
	// ActAwaitApproval waits until the approval of Version's execution is pending.
	ActAwaitApproval Action = "await-approval"
	// ActApprove and ActReject answer the pending approval of Version's
	// execution with PutApprovalResult, as `tenant-canary approve` does.
	ActApprove Action = "approve"
	ActReject  Action = "reject"
	// ActAwaitSettled waits until nothing is in flight (invariant I3):
	// the last push's execution has ended, no deployment is unfinished,
	// stable runs 0 tasks and the catch-all rule is above the tenant rules.
	ActAwaitSettled Action = "await-settled"
)

// Step is one step of a scenario.
type Step struct {
	Action  Action
	Version string
	// Bad is the push's badversion spec ("" for a good version).
	Bad string
	// Within bounds a wait on the backend's clock (default: DefaultWithin).
	Within time.Duration
}

// DefaultWithin bounds each wait: on AWS a stage is the task start, the
// canary interval, the rest of the shift and the termination wait
// (5 minutes each by default), so 45 minutes covers a stage with room; a
// rehearsal's clock runs faster, so the same bound costs less wall time.
var DefaultWithin = map[Action]time.Duration{
	ActAwaitApproval: 45 * time.Minute,
	ActAwaitSettled:  60 * time.Minute,
}

func (s Step) String() string {
	switch {
	case s.Action == ActPush && s.Bad != "":
		return fmt.Sprintf("push %s (bad: %s)", s.Version, s.Bad)
	case s.Action == ActAwaitSettled:
		return string(s.Action)
	}
	return string(s.Action) + " " + s.Version
}

// Check is one judgement of a report.
type Check struct {
	Name  string
	Judge func(*Report) Result
}

// Scenario is one rollout story and how it must end.
type Scenario struct {
	Name        string
	Description string
	Steps       []Step
	Checks      []Check
}

// Evaluate runs every check of s on r.
func (s Scenario) Evaluate(r *Report) []Result {
	out := make([]Result, 0, len(s.Checks))
	for _, c := range s.Checks {
		res := c.Judge(r)
		res.Name = c.Name
		out = append(out, res)
	}
	return out
}

// Versions hands out the version names a scenario pushes, fresh ones each
// call, so scenarios can follow each other on one stack.
type Versions func() string

// Counter returns Versions v<first>, v<first+1>, …
func Counter(first int) Versions {
	n := first - 1
	return func() string { n++; return fmt.Sprintf("v%d", n) }
}

// BadImageSpec is what bad-image pushes: half the answers are 500s, far
// above the default 5 % rollback threshold (stack config rollback).
const BadImageSpec = "5xx=50%"

var builders = map[string]func(Versions) Scenario{
	"happy": func(next Versions) Scenario {
		v := next()
		return Scenario{
			Name:        "happy",
			Description: "push → canary → pinned tenants stay on the old version → approve → everyone on the new",
			Steps:       []Step{{Action: ActPush, Version: v}, {Action: ActAwaitApproval, Version: v}, {Action: ActApprove, Version: v}, {Action: ActAwaitSettled}},
			Checks:      []Check{PinnedNeverUnapproved(), PinnedStayedOnInitial(v), UnpinnedServedDuringCanary(v), EndsOn(v)},
		}
	},
	"bad-image": func(next Versions) Scenario {
		v := next()
		return Scenario{
			Name:        "bad-image",
			Description: "a version answering 5xx is stopped by the alarm; everyone ends on the old version, told why",
			Steps:       []Step{{Action: ActPush, Version: v, Bad: BadImageSpec}, {Action: ActAwaitSettled}},
			Checks:      []Check{PinnedNeverUnapproved(), EndsOnInitial(), StoppedByAlarm()},
		}
	},
	"reject": func(next Versions) Scenario {
		v := next()
		return Scenario{
			Name:        "reject",
			Description: "reject at the approval rolls everyone back to the old version",
			Steps:       []Step{{Action: ActPush, Version: v}, {Action: ActAwaitApproval, Version: v}, {Action: ActReject, Version: v}, {Action: ActAwaitSettled}},
			Checks:      []Check{PinnedNeverUnapproved(), PinnedStayedOnInitial(v), UnpinnedServedDuringCanary(v), EndsOnInitial()},
		}
	},
	"newest-push-wins": func(next Versions) Scenario {
		v, w := next(), next()
		return Scenario{
			Name:        "newest-push-wins",
			Description: "a push during a pending approval: the superseded approval is rejected automatically and the newest image ends everywhere",
			Steps: []Step{{Action: ActPush, Version: v}, {Action: ActAwaitApproval, Version: v}, {Action: ActPush, Version: w},
				{Action: ActAwaitApproval, Version: w}, {Action: ActApprove, Version: w}, {Action: ActAwaitSettled}},
			Checks: []Check{PinnedNeverUnapproved(), SupersededApprovalRejected(v), EndsOn(w)},
		}
	},
}

// Names lists the scenarios, sorted.
func Names() []string {
	var out []string
	for n := range builders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get builds the scenario name, taking its versions from next.
func Get(name string, next Versions) (Scenario, error) {
	b, ok := builders[name]
	if !ok {
		return Scenario{}, fmt.Errorf("scenario %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return b(next), nil
}

// Baseline brings a fresh stack onto version v with everyone on it (an
// approved push), so the scenarios start from a known version.
func Baseline(v string) Scenario {
	return Scenario{
		Name:        "baseline",
		Description: "bring every tenant onto " + v,
		Steps:       []Step{{Action: ActPush, Version: v}, {Action: ActAwaitApproval, Version: v}, {Action: ActApprove, Version: v}, {Action: ActAwaitSettled}},
		Checks:      []Check{EndsOn(v)},
	}
}
