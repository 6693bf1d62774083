package rollout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenant-canary/tenant-canary/lambda/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The number of AWS calls a hook makes must not grow with the allow-list:
// tenant rules are listed in one DescribeRules page and only the catch-all
// rule moves, in one SetRulePriorities call.
func BenchmarkAWSCallsByTenantRules(b *testing.B) {
	for _, hook := range []rollout.Hook{rollout.HookPin, rollout.HookUnpin} {
		for _, rules := range []int{1, 20, 99} {
			b.Run(fmt.Sprintf("%s/rules=%d", hook, rules), func(b *testing.B) {
				var calls, priorityChanges int
				for b.Loop() {
					b.StopTimer()
					w := fakeaws.NewWorld(rules, fakeaws.StableGreenTG)
					if hook == rollout.HookUnpin {
						w = pinnedWorld(rules, fakeaws.StableGreenTG)
					}
					h, _ := newHooks(b, w, hook)
					run := h.Pin
					if hook == rollout.HookUnpin {
						run = h.Unpin
					}
					b.StartTimer()
					if err := run(context.Background(), hookEvent); err != nil {
						b.Fatal(err)
					}
					calls += len(w.Ops())
					for _, op := range w.Ops() {
						if op == fakeaws.OpSetRulePriorities {
							priorityChanges++
						}
					}
				}
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
				b.ReportMetric(float64(priorityChanges)/float64(b.N), "SetRulePriorities/op")
			})
		}
	}
}
