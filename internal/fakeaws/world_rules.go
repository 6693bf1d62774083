package fakeaws

import elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

// Stable's anchor rule: a priority above every tenant rule and a host no
// request carries (.invalid is reserved, RFC 2606).
const (
	AnchorPriority = 2
	AnchorHost     = "anchor.tenant-canary.invalid"
)

// Tenants returns the tenant rules: every rule but the default, the
// catch-all and the anchor, in listener order. Change them only while no
// call is in flight.
func (w *World) Tenants() []*Rule {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Rule
	for _, r := range w.Rules {
		if !r.IsDefault && r.ARN != CatchAllRuleARN && r.ARN != AnchorRuleARN {
			out = append(out, r)
		}
	}
	return out
}

// Anchor returns stable's anchor rule. Change it only while no call is in
// flight.
func (w *World) Anchor() *Rule {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rule(AnchorRuleARN)
}

// StableForward is the forward action of a rule on the stable group active:
// weight 100 there, 0 on the other group of the pair.
func StableForward(active string) []elbtypes.TargetGroupTuple {
	other := StableBlueTG
	if active == StableBlueTG {
		other = StableGreenTG
	}
	return weighted(active, 100, other, 0)
}
