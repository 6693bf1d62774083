package rollout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The number of AWS calls a hook makes must not grow with the allow-list:
// the anchor and the tenant rules are listed in one DescribeRules page and
// only the catch-all rule moves, in one SetRulePriorities call. Each hook
// runs its common path with nothing in flight (pin's one DescribeTags and
// the release claim's AddTags and RemoveTags of cleanup and rollback
// included):
//
//   - pin: no unpin running, stable scaled from 0 and healthy at the first
//     poll, every rule already on stable's active target group (a repair
//     costs one ModifyRule per rule that disagrees);
//   - unpin: no Latest deployment unfinished, latest serves stable's image
//     in another task definition revision: the catch-all moves up;
//   - cleanup: nothing in flight, no approval pending, same image: releases
//     (catch-all up, stable to zero);
//   - rollback: a rejected approval about the image latest serves:
//     redeploys latest with stable's task definition.
func BenchmarkAWSCallsByTenantRules(b *testing.B) {
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin, rollout.HookCleanup, rollout.HookRollback} {
		for _, rules := range []int{1, 20, 99} {
			b.Run(fmt.Sprintf("%s/rules=%d", hook, rules), func(b *testing.B) {
				var calls, priorityChanges, ruleChanges int
				for b.Loop() {
					b.StopTimer()
					w := pinnedWorld(rules, fakeaws.StableGreenTG)
					if hook == rollout.HookPin {
						w = fakeaws.NewWorld(rules, fakeaws.StableGreenTG)
					}
					h, _ := newHooks(b, w, hook)
					run := func(ctx context.Context) error { return h.Pin(ctx, hookEvent) }
					switch hook {
					case rollout.HookUnpin:
						run = func(ctx context.Context) error { return h.Unpin(ctx, hookEvent) }
					case rollout.HookCleanup:
						run = func(ctx context.Context) error {
							return h.Cleanup(ctx, codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))
						}
					case rollout.HookRollback:
						w.LatestTaskDef = fakeaws.TaskDefV1
						w.AddExecution("exec-A", fakeaws.DigestV1)
						run = func(ctx context.Context) error {
							res, err := h.Rollback(ctx, approvalEvent(b, "exec-A", "FAILED"))
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
					calls += len(w.Ops())
					for _, op := range w.Ops() {
						switch op {
						case fakeaws.OpSetRulePriorities:
							priorityChanges++
						case fakeaws.OpModifyRule:
							ruleChanges++
						}
					}
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
				b.ReportMetric(float64(priorityChanges)/float64(b.N), "SetRulePriorities/op")
				b.ReportMetric(float64(ruleChanges)/float64(b.N), "ModifyRule/op")
			})
		}
	}
}
