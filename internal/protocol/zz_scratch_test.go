package protocol

import (
	"strings"
	"testing"
)

func (sc *script) settleExcept(except string, stop ...string) {
	last := map[string]int{}
	for step := range 500 {
		var next *Action
		for _, a := range sc.w.actions(sc.s) {
			for _, st := range stop {
				if strings.Contains(a.Label, st) {
					return
				}
			}
			if !automatic(a.Label) || strings.Contains(a.Label, except) {
				continue
			}
			a := a
			if next == nil || last[a.Label] < last[next.Label] {
				next = &a
			}
		}
		if next == nil {
			return
		}
		last[next.Label] = step + 1
		sc.apply(*next)
	}
}

func TestScratchRejectNewerWhileApprovedWaits(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 2, Rejects: 1, Smoke: programSmoke()})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.do("PUSH v2")
	sc.settleExcept("enters Stable", "APPROVE exec-2")
	sc.do("REJECT exec-2")
	sc.settleExcept("enters Stable")
	t.Log(sc.labels())
	t.Logf("stable desired %d", sc.w.Services[sc.w.st.stableService].Desired)
	sc.do("exec-1 (v1) enters Stable")
	sc.settle()
	t.Log(strings.Join(traceOf(sc.w), "\n"))
}

func TestScratchOperatorQueued(t *testing.T) {
	sc := newScript(t, Scenario{Stack: fixture("tenants-1"), Pushes: 1, Operator: 1, Reading: Reading{QueuedAndBaking: true}})
	sc.do("PUSH v1")
	sc.settle("APPROVE")
	sc.do("APPROVE exec-1")
	sc.settle("enters Stable")
	sc.do("enters Stable")
	sc.do("OPERATOR")
	sc.settleExcept("CodeDeploy starts d-2", "CreateDeployment")
	sc.do("CreateDeployment")
	sc.settle()
	t.Log(strings.Join(traceOf(sc.w), "\n"))
}
