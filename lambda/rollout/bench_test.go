package rollout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// benchState is the model with rules tenant rules (tenants-1's t0, and one
// rule for each tenant `pulumi up` added), taken to where the model invokes
// hook, and that invocation:
//
//   - pin: the first push's Latest deployment starts; no unpin running,
//     stable scaled from 0 and healthy at the first poll, every rule
//     already on stable's target group (a repair costs one ModifyRule per
//     rule that disagrees);
//   - unpin: the approved push's Stable deployment shifted all traffic; no
//     Latest deployment unfinished, latest serves stable's image in
//     another task definition revision: the catch-all moves up;
//   - cleanup: the Stable deployment succeeded and its event is delivered;
//     nothing in flight, no approval pending, same image: releases (stable
//     to zero);
//   - rollback: the push's approval was rejected: redeploys latest with
//     stable's task definition.
func benchState(b *testing.B, hook contract.Hook, rules int) (*model, protocol.Invoke) {
	m := newModel(b, "tenants-1", protocol.Scenario{Edits: rules - 1, Rejects: 1})
	for range rules - 1 {
		m.do("pulumi up: pin new tenant", "pulumi up creates tenant")
	}
	m.do("PUSH v1", "exec-1 (v1) enters Latest")
	pin := m.next("CodeDeploy starts d-1")
	if hook == contract.HookPin {
		return m, pin
	}
	if err := m.run(pin); err != nil {
		b.Fatal(err)
	}
	m.do("d-1 creates the replacement", "d-1 shifts the canary", "d-1 shifts all traffic", "d-1: termination wait ends", "exec-1 (v1) enters Approve")
	if hook == contract.HookRollback {
		m.do("REJECT exec-1")
		return m, m.next("deliver Approve FAILED exec-1 to rollback")
	}
	m.do("APPROVE exec-1", "exec-1 (v1) enters Stable", "CodeDeploy starts d-2", "d-2 creates the replacement", "d-2 shifts the canary")
	unpin := m.next("d-2 shifts all traffic")
	if hook == contract.HookUnpin {
		return m, unpin
	}
	if err := m.run(unpin); err != nil {
		b.Fatal(err)
	}
	m.do("d-2: termination wait ends", "deliver CodeDeploy SUCCESS d-1")
	return m, m.next("deliver CodeDeploy SUCCESS d-2")
}

// The number of AWS calls a hook makes must not grow with the allow-list:
// the anchor and the tenant rules are listed in one DescribeRules page and
// only the catch-all rule moves, in one SetRulePriorities call. Each hook
// runs its common path with nothing in flight (pin's one DescribeTags and
// the release claim's AddTags and RemoveTags of cleanup and rollback
// included), against the model, each iteration on a fresh copy of the state
// (benchState).
func BenchmarkAWSCallsByTenantRules(b *testing.B) {
	for _, hook := range []contract.Hook{contract.HookPin, contract.HookUnpin, contract.HookCleanup, contract.HookRollback} {
		for _, rules := range []int{1, 20, 99} {
			b.Run(fmt.Sprintf("%s/rules=%d", hook, rules), func(b *testing.B) {
				start, inv := benchState(b, hook, rules)
				if n := len(start.rules(protocol.KindTenant)); n != rules {
					b.Fatalf("%d tenant rules, want %d", n, rules)
				}
				var calls, priorityChanges, ruleChanges int
				for b.Loop() {
					b.StopTimer()
					m := &model{Direct: start.Clone(), t: b}
					h := m.hooks(hook)
					run := func(ctx context.Context) error { return m.runWith(ctx, h, inv) }
					if hook == contract.HookRollback {
						req := inv.Payload.(rollout.RollbackRequest)
						run = func(ctx context.Context) error {
							res, err := h.Rollback(ctx, req)
							if err == nil && res.Outcome != rollout.OutcomeDeploying {
								err = fmt.Errorf("outcome %q, want %q", res.Outcome, rollout.OutcomeDeploying)
							}
							return err
						}
					}
					b.StartTimer()
					if err := run(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					ops := m.Ops()
					calls += len(ops)
					priorityChanges += count(ops, opSet)
					ruleChanges += count(ops, opModify)
					b.StartTimer()
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
				b.ReportMetric(float64(priorityChanges)/float64(b.N), "SetRulePriorities/op")
				b.ReportMetric(float64(ruleChanges)/float64(b.N), "ModifyRule/op")
			})
		}
	}
}
