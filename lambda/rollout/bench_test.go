package rollout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The number of AWS calls a hook makes must not grow with the allow-list:
// tenant rules are listed in one DescribeRules page and only the catch-all
// rule moves, in one SetRulePriorities call. Every tenant rule already
// forwards to stable's active target group, so pin repairs none (a repair
// costs one ModifyRule per rule that disagrees). cleanup releases the
// tenants: current event, same image in two task definition revisions.
func BenchmarkAWSCallsByTenantRules(b *testing.B) {
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin, rollout.HookCleanup} {
		for _, rules := range []int{1, 20, 99} {
			b.Run(fmt.Sprintf("%s/rules=%d", hook, rules), func(b *testing.B) {
				var calls, priorityChanges, ruleChanges int
				for b.Loop() {
					b.StopTimer()
					w := fakeaws.NewWorld(rules, fakeaws.StableGreenTG)
					if hook != rollout.HookPin {
						w = pinnedWorld(rules, fakeaws.StableGreenTG)
					}
					h, _ := newHooks(b, w, hook)
					run := h.Pin
					switch hook {
					case rollout.HookUnpin:
						run = h.Unpin
					case rollout.HookCleanup:
						run = func(ctx context.Context, _ rollout.LifecycleEvent) error {
							return h.Cleanup(ctx, codeDeployEvent(fakeaws.LatestGroup, "FAILURE"))
						}
					}
					b.StartTimer()
					if err := run(context.Background(), hookEvent); err != nil {
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
