package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// describeRulesPageSize is the largest page DescribeRules accepts
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeRules.html),
// well above the 100 rules an ALB holds by default: one call in practice.
const describeRulesPageSize = 400

// listenerState is what the hooks read from the production listener.
type listenerState struct {
	catchAllPriority string // as the ALB reports it, e.g. "1"
	tenantRules      int
	// activeTargetGroup is the stable target group the tenant rules forward
	// to; empty when there are no tenant rules.
	activeTargetGroup string
}

// pin: scale stable up, wait for it, then move the catch-all below the tenant
// rules. Healthy first, route second: a tenant is never sent to a target
// group without healthy targets.
func (h *Hooks) pin(ctx context.Context, log *invocationLogger) error {
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return err
	}
	if ls.tenantRules == 0 {
		log.Info("read-listener", "no pinned tenants: nothing to scale or move")
		return nil
	}
	if err := h.scaleStable(ctx, log, "scale-up", h.Config.StableDesiredCount, true); err != nil {
		return err
	}
	if err := h.waitHealthy(ctx, log, ls.activeTargetGroup, h.Config.StableDesiredCount); err != nil {
		return err
	}
	return h.moveCatchAll(ctx, log, ls.catchAllPriority, h.Config.CatchAllPriorityPinned)
}

// unpinAndScaleDown: route everyone to latest first, then stop stable's
// tasks, so no request reaches a target group that is draining.
func (h *Hooks) unpinAndScaleDown(ctx context.Context, log *invocationLogger) error {
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return err
	}
	if err := h.moveCatchAll(ctx, log, ls.catchAllPriority, h.Config.CatchAllPriorityUnpinned); err != nil {
		return err
	}
	return h.scaleStable(ctx, log, "scale-down", 0, false)
}

// readListener lists the listener's rules and finds the catch-all rule and
// the tenant rules: every rule other than the catch-all and the default rule
// that forwards to a stable target group with a weight above zero.
func (h *Hooks) readListener(ctx context.Context, log *invocationLogger) (listenerState, error) {
	const step = "read-listener"
	start := time.Now()
	var (
		ls           listenerState
		foundCatch   bool
		activeGroups []string
		marker       *string
	)
	for {
		out, err := h.ELB.DescribeRules(ctx, &elbv2.DescribeRulesInput{
			ListenerArn: aws.String(h.Config.ListenerARN),
			PageSize:    aws.Int32(describeRulesPageSize),
			Marker:      marker,
		})
		if err != nil {
			return ls, fmt.Errorf("describe rules of listener %s: %w", h.Config.ListenerARN, err)
		}
		for _, r := range out.Rules {
			arn := aws.ToString(r.RuleArn)
			if arn == h.Config.CatchAllRuleARN {
				foundCatch = true
				ls.catchAllPriority = aws.ToString(r.Priority)
				continue
			}
			if aws.ToBool(r.IsDefault) {
				continue
			}
			groups := h.stableGroupsOf(r)
			if len(groups) == 0 {
				continue
			}
			ls.tenantRules++
			for _, g := range groups {
				if !slices.Contains(activeGroups, g) {
					activeGroups = append(activeGroups, g)
				}
			}
		}
		if aws.ToString(out.NextMarker) == "" {
			break
		}
		marker = out.NextMarker
	}
	if !foundCatch {
		return ls, fmt.Errorf("catch-all rule %s not found on listener %s", h.Config.CatchAllRuleARN, h.Config.ListenerARN)
	}
	switch len(activeGroups) {
	case 0:
	case 1:
		ls.activeTargetGroup = activeGroups[0]
	default:
		// Only mid-way through a Stable deployment do both groups carry
		// weight, and then no Latest deployment (which runs pin) can start.
		return ls, fmt.Errorf("tenant rules forward to both stable target groups %v: cannot tell which one carries tenant traffic", activeGroups)
	}
	log.Info(step, "read listener rules", "tenant_rules", ls.tenantRules,
		"catch_all_priority", ls.catchAllPriority, "active_target_group", ls.activeTargetGroup,
		"step_ms", time.Since(start).Milliseconds())
	return ls, nil
}

// stableGroupsOf returns the stable target groups rule r sends traffic to.
// A forward action names its groups either in ForwardConfig (weighted; weight
// 0 sends nothing) or in TargetGroupArn
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html).
func (h *Hooks) stableGroupsOf(r elbtypes.Rule) []string {
	var groups []string
	add := func(arn string) {
		if slices.Contains(h.Config.StableTargetGroupARNs[:], arn) && !slices.Contains(groups, arn) {
			groups = append(groups, arn)
		}
	}
	for _, a := range r.Actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range a.ForwardConfig.TargetGroups {
				if tg.Weight == nil || *tg.Weight > 0 {
					add(aws.ToString(tg.TargetGroupArn))
				}
			}
			continue
		}
		add(aws.ToString(a.TargetGroupArn))
	}
	return groups
}

// scaleStable sets the stable service's desired count to want. With onlyUp it
// never lowers a higher count someone set on purpose. It reads the service
// first so a repeated invocation changes nothing.
func (h *Hooks) scaleStable(ctx context.Context, log *invocationLogger, step string, want int32, onlyUp bool) error {
	start := time.Now()
	out, err := h.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster:  aws.String(h.Config.ClusterName),
		Services: []string{h.Config.StableServiceName},
	})
	if err != nil {
		return fmt.Errorf("describe service %s: %w", h.Config.StableServiceName, err)
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return fmt.Errorf("describe service %s: %s (%s)", h.Config.StableServiceName, aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	if len(out.Services) != 1 {
		return fmt.Errorf("describe service %s: got %d services, want 1", h.Config.StableServiceName, len(out.Services))
	}
	current := out.Services[0].DesiredCount
	if current == want || (onlyUp && current > want) {
		log.Info(step, "desired count already in place", "desired_count", current, "want", want,
			"step_ms", time.Since(start).Milliseconds())
		return nil
	}
	// A CODE_DEPLOY-controlled service accepts a desired count change through
	// UpdateService (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
	if _, err := h.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:      aws.String(h.Config.ClusterName),
		Service:      aws.String(h.Config.StableServiceName),
		DesiredCount: aws.Int32(want),
	}); err != nil {
		return fmt.Errorf("set desired count of %s to %d: %w", h.Config.StableServiceName, want, err)
	}
	log.Info(step, "desired count changed", "from", current, "to", want, "step_ms", time.Since(start).Milliseconds())
	return nil
}

// waitHealthy polls the target group until want targets are healthy or the
// work context (the invocation's deadline minus the safety margin) ends.
func (h *Hooks) waitHealthy(ctx context.Context, log *invocationLogger, targetGroup string, want int32) error {
	const step = "wait-healthy"
	start := time.Now()
	interval := orDefault(h.PollInterval, DefaultPollInterval)
	for poll := 1; ; poll++ {
		out, err := h.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(targetGroup)})
		if err != nil {
			return fmt.Errorf("describe target health of %s (poll %d): %w", targetGroup, poll, err)
		}
		healthy := 0
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
				healthy++
			}
		}
		log.Info(step, "polled target health", "target_group", targetGroup, "poll", poll,
			"healthy", healthy, "targets", len(out.TargetHealthDescriptions), "want", want,
			"step_ms", time.Since(start).Milliseconds())
		if healthy >= int(want) {
			return nil
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("gave up waiting for %d healthy targets in %s after %d polls (%d healthy) in %s: %w",
				want, targetGroup, poll, healthy, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-timer.C:
		}
	}
}

// moveCatchAll sets the catch-all rule's priority with one SetRulePriorities
// call, which the ALB applies atomically, unless it is already there.
func (h *Hooks) moveCatchAll(ctx context.Context, log *invocationLogger, current string, want int32) error {
	const step = "move-catch-all"
	start := time.Now()
	if current == strconv.Itoa(int(want)) {
		log.Info(step, "catch-all rule already in place", "priority", current, "step_ms", time.Since(start).Milliseconds())
		return nil
	}
	if _, err := h.ELB.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{
		RulePriorities: []elbtypes.RulePriorityPair{{RuleArn: aws.String(h.Config.CatchAllRuleARN), Priority: aws.Int32(want)}},
	}); err != nil {
		return fmt.Errorf("move catch-all rule from priority %s to %d: %w", current, want, err)
	}
	log.Info(step, "catch-all rule moved", "from", current, "to", want, "step_ms", time.Since(start).Milliseconds())
	return nil
}
