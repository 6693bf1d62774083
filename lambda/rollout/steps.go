package rollout

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
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
	tenantRules      []tenantRule
	// anchor is stable's permanent rule; CodeDeploy shifts it with the
	// tenant rules, so its groups are where stable serves.
	anchor tenantRule
}

// stableRules is the anchor followed by the tenant rules: every rule that
// forwards to stable.
func (ls listenerState) stableRules() []tenantRule {
	return append([]tenantRule{ls.anchor}, ls.tenantRules...)
}

// tenantRule is a rule that forwards to the stable service.
type tenantRule struct {
	arn     string
	actions []elbtypes.Action
	// groups are the stable target groups the rule sends traffic to.
	groups []string
}

// pin: wait until no earlier rollout's unpin is running, scale stable up,
// wait until its serving task set is healthy, then read the listener afresh
// (a tenant rule may have been added during the wait), make the anchor and
// every tenant rule forward to that task set's target group, and move the
// catch-all below the tenant rules. Healthy first, route second: a tenant
// is never sent to a target group without healthy targets.
//
// It pins with an empty allow-list too: a tenant rule that `pulumi up`
// creates during the rollout sits at a fixed priority, so it is pinned the
// moment it exists only if the catch-all is already below the tenant rules
// and stable already serves; otherwise the new tenant would be served the
// unapproved canary through the catch-all. The price is stable's tasks for
// the rollout's length.
func (h *Hooks) pin(ctx context.Context, log *invocationLogger) error {
	if err := h.waitForUnpinToEnd(ctx, log); err != nil {
		return err
	}
	if err := h.waitForClaims(ctx, log); err != nil {
		return err
	}
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return err
	}
	services, err := h.describeServices(ctx, log, h.Config.StableServiceName)
	if err != nil {
		return err
	}
	// A stable service outside its pair is a misconfiguration: fail before
	// scaling anything.
	if _, err := h.activeStableGroup(log, services[0]); err != nil {
		return err
	}
	if err := h.scaleStable(ctx, log, "scale-up", services[0], h.Config.StableDesiredCount, true); err != nil {
		return err
	}
	active, err := h.waitStableHealthy(ctx, log, h.Config.StableDesiredCount)
	if err != nil {
		return err
	}
	if ls, err = h.readListener(ctx, log); err != nil {
		return err
	}
	if err := h.repairTenantRules(ctx, log, ls.stableRules(), active); err != nil {
		return err
	}
	return h.moveCatchAll(ctx, log, ls.catchAllPriority, h.Config.CatchAllPriorityPinned)
}

// unpin releases the pinned tenants onto latest at the end of a Stable
// deployment's traffic shift, but only onto what they were just approved
// for: its own Stable deployment must still be in progress, no Latest
// deployment may be unfinished (a newer rollout's canary), and latest must
// serve the image stable now serves them. Otherwise the tenants stay on
// stable, which serves the approved image, and the newer rollout's own
// approval, cleanup or rollback releases them. It never scales stable
// down: the original task set must outlive CodeDeploy's termination wait
// for an instant rollback, so cleanup scales stable to zero once the Stable
// deployment has ended. Moving the catch-all is its last AWS call before
// it drops its claim, so a failure leaves nothing half-done.
//
// Every check comes after unpin has claimed the catch-all rule (the release
// claim, guards.go): checks alone are stale by the time the catch-all
// moves. The explorer found an alarm that stopped the Stable deployment
// after unpin's checks; the next push's pin, waiting only for the unpins of
// unfinished Stable deployments, pinned; then the stale unpin released the
// pinned tenants onto the new, unapproved canary. With the claim first,
// either the newer pin's Latest deployment exists when unpin looks (it is
// created before CodeDeploy invokes pin) and unpin holds, or pin reads the
// tags after unpin's claim and waits for unpin to finish, then moves the
// catch-all last.
func (h *Hooks) unpin(ctx context.Context, log *invocationLogger) error {
	drop, err := h.claimRelease(ctx, log)
	if err != nil {
		return err
	}
	defer drop()
	why, err := h.ownDeploymentEnded(ctx, log, log.deployment)
	if err != nil {
		return err
	}
	if why != "" {
		log.Info("held", "pinned tenants stay on stable: "+why+"; its cleanup decides", "stable_deployment", log.deployment)
		return nil
	}
	ids, err := h.unfinishedDeployments(ctx, log, h.Config.LatestDeploymentGroupName)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		log.Info("held", "pinned tenants stay on stable, which serves the image just approved: a newer rollout's Latest deployment has not ended; its own approval or rollback releases them",
			"latest_deployment", ids[0])
		return nil
	}
	ls, err := h.readListener(ctx, log)
	if err != nil {
		return err
	}
	services, err := h.describeServices(ctx, log, h.Config.LatestServiceName, h.Config.StableServiceName)
	if err != nil {
		return err
	}
	same, err := h.latestServesStableImage(ctx, log, services[0], services[1], ls)
	if err != nil {
		return err
	}
	if !same {
		log.Info("held", "pinned tenants stay on stable: latest serves another image than the one just approved; that image's own approval decides")
		return nil
	}
	return h.moveCatchAll(ctx, log, ls.catchAllPriority, h.Config.CatchAllPriorityUnpinned)
}

// release puts everyone on latest (catch-all above the tenant rules) and
// then stops stable's tasks, so no request reaches a group that is
// draining. Between the two it leaves stable serving for ReleaseDelay, the
// target groups' deregistration delay: SetRulePriorities is atomic in the
// API, but the load balancer's nodes apply a new rule order on their own
// and AWS documents no time within which all of them have (Elastic Load
// Balancing API Reference, SetRulePriorities,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetRulePriorities.html,
// states none), so a node still on the old order keeps sending pinned
// tenants to stable; once stable scales down, its deregistering targets
// get no new requests ("Elastic Load Balancing stops sending requests to
// targets that are deregistering", Application Load Balancers guide,
// "Deregistration delay",
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
// The deregistration delay is the stack's own bound on how long a request
// may take to leave a target, hence the natural bound here. The wait is
// inside the invocation's work deadline: with less time left than the
// delay it scales nothing and fails, so Lambda retries the event (stable
// keeps serving meanwhile, which is safe); the function's timeout holds
// the delay on top of the work (components/pipeline).
func (h *Hooks) release(ctx context.Context, log *invocationLogger, ls listenerState, stable ecstypes.Service) error {
	if err := h.moveCatchAll(ctx, log, ls.catchAllPriority, h.Config.CatchAllPriorityUnpinned); err != nil {
		return err
	}
	if stable.DesiredCount > 0 {
		if err := h.waitReleaseDelay(ctx, log); err != nil {
			return err
		}
	}
	return h.scaleStable(ctx, log, "scale-down", stable, 0, false)
}

// waitReleaseDelay waits ReleaseDelay, or fails at once when the work
// deadline comes sooner.
func (h *Hooks) waitReleaseDelay(ctx context.Context, log *invocationLogger) error {
	const step = "release-delay"
	d := h.Config.ReleaseDelay
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("stable stays at its desired count: %s left before the work deadline, less than the %s it must keep serving after the catch-all moved (the deregistration delay); the retried event scales it down",
			time.Until(deadline).Round(time.Millisecond), d)
	}
	log.Info(step, "stable keeps serving while every load balancer node takes the new rule order", "wait_ms", d.Milliseconds())
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("stable stays at its desired count: the work deadline came during the %s release delay: %w", d, ctx.Err())
	case <-timer.C:
		return nil
	}
}

// latestServesStableImage compares the image latest serves (its PRIMARY
// task set) with the image stable serves through its anchor rule.
func (h *Hooks) latestServesStableImage(ctx context.Context, log *invocationLogger, latest, stable ecstypes.Service, ls listenerState) (bool, error) {
	latestTD, err := primaryTaskDefinition(latest)
	if err != nil {
		return false, err
	}
	stableTD, err := servingTaskDefinition(stable, ls.anchor.groups)
	if err != nil {
		return false, err
	}
	return h.sameImage(ctx, log, latestTD, stableTD)
}

// readListener lists the listener's rules and finds the catch-all rule and
// the tenant rules: every rule other than the catch-all and the default rule
// that forwards to a stable target group with a weight above zero.
func (h *Hooks) readListener(ctx context.Context, log *invocationLogger) (listenerState, error) {
	const step = "read-listener"
	start := time.Now()
	var (
		ls          listenerState
		foundCatch  bool
		foundAnchor bool
		marker      *string
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
			if arn == h.Config.AnchorRuleARN {
				foundAnchor = true
				ls.anchor = tenantRule{arn: arn, actions: r.Actions, groups: h.stableGroupsOf(r)}
				continue
			}
			if groups := h.stableGroupsOf(r); len(groups) > 0 {
				ls.tenantRules = append(ls.tenantRules, tenantRule{arn: arn, actions: r.Actions, groups: groups})
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
	if !foundAnchor {
		return ls, fmt.Errorf("anchor rule %s not found on listener %s", h.Config.AnchorRuleARN, h.Config.ListenerARN)
	}
	log.Info(step, "read listener rules", "tenant_rules", len(ls.tenantRules),
		"catch_all_priority", ls.catchAllPriority, "step_ms", time.Since(start).Milliseconds())
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

// describeServices describes the named services of the cluster in one call
// and returns them in the order asked for.
func (h *Hooks) describeServices(ctx context.Context, log *invocationLogger, names ...string) ([]ecstypes.Service, error) {
	const step = "read-services"
	start := time.Now()
	what := strings.Join(names, ", ")
	out, err := h.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster:  aws.String(h.Config.ClusterName),
		Services: names,
	})
	if err != nil {
		return nil, fmt.Errorf("describe service %s: %w", what, err)
	}
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return nil, fmt.Errorf("describe service %s: %s %s (%s)", what, aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	services := make([]ecstypes.Service, 0, len(names))
	for _, name := range names {
		i := slices.IndexFunc(out.Services, func(s ecstypes.Service) bool { return aws.ToString(s.ServiceName) == name })
		if i < 0 {
			return nil, fmt.Errorf("describe service %s: %s not in the answer (%d services)", what, name, len(out.Services))
		}
		services = append(services, out.Services[i])
	}
	log.Info(step, "described services", "services", names, "step_ms", time.Since(start).Milliseconds())
	return services, nil
}

// primaryTaskSet returns the service's PRIMARY task set: the one serving
// production traffic of a CODE_DEPLOY service
// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskSet.html).
// It returns nil without error when the service has no task sets at all,
// which is the case before its first deployment.
func primaryTaskSet(svc ecstypes.Service) (*ecstypes.TaskSet, error) {
	for i := range svc.TaskSets {
		if aws.ToString(svc.TaskSets[i].Status) == "PRIMARY" {
			return &svc.TaskSets[i], nil
		}
	}
	if len(svc.TaskSets) > 0 {
		return nil, fmt.Errorf("service %s has %d task sets but none is PRIMARY", aws.ToString(svc.ServiceName), len(svc.TaskSets))
	}
	return nil, nil
}

// activeStableGroup is the target group of stable's PRIMARY task set, where
// its tasks register and which CodeDeploy alternates with every Stable
// deployment; before the first deployment (no task sets) it is the
// service's own load balancer. It must be one of StableTargetGroupARNs.
func (h *Hooks) activeStableGroup(log *invocationLogger, stable ecstypes.Service) (string, error) {
	ts, err := primaryTaskSet(stable)
	if err != nil {
		return "", err
	}
	var lbs []ecstypes.LoadBalancer
	source := "service"
	if ts != nil {
		lbs, source = ts.LoadBalancers, "primary task set "+aws.ToString(ts.Id)
	} else {
		lbs = stable.LoadBalancers
	}
	if len(lbs) == 0 || aws.ToString(lbs[0].TargetGroupArn) == "" {
		return "", fmt.Errorf("%s of %s has no load balancer target group", source, h.Config.StableServiceName)
	}
	tg := aws.ToString(lbs[0].TargetGroupArn)
	if !slices.Contains(h.Config.StableTargetGroupARNs[:], tg) {
		return "", fmt.Errorf("%s of %s serves target group %s, which is not one of %s %v",
			source, h.Config.StableServiceName, tg, contract.EnvStableTargetGroupARNs, h.Config.StableTargetGroupARNs)
	}
	log.Info("read-services", "found the active stable target group", "active_target_group", tg, "from", source)
	return tg, nil
}

// repairTenantRules makes every rule (the anchor and the tenant rules) that
// sends its traffic only to the other stable target group, and finds no
// healthy target there, forward to active instead: one ModifyRule per such
// rule (none when all are right, the usual case). Such a rule would send its
// tenant to an empty group once the catch-all moves: a tenant rule created
// before the anchor existed, or from a lookup of the anchor's action that a
// Stable deployment made stale. A rule whose other group does have healthy
// targets is left alone: that is a Stable deployment (CodeDeploy writes the
// rules' actions while it shifts, and its replacement task set is healthy
// before it does), and rewriting the rule would fight it — the explorer
// found a pin that read the active group before a Stable deployment shifted
// and then moved the tenants back onto the original task set, which the
// termination wait then removed. A rule split between both groups is
// CodeDeploy's mid-shift too.
func (h *Hooks) repairTenantRules(ctx context.Context, log *invocationLogger, rules []tenantRule, active string) error {
	const step = "repair-rules"
	start := time.Now()
	other := h.Config.StableTargetGroupARNs[0]
	if other == active {
		other = h.Config.StableTargetGroupARNs[1]
	}
	repaired := 0
	otherHealthy := -1 // not read yet
	for _, r := range rules {
		if !slices.Contains(r.groups, other) {
			continue
		}
		if slices.Contains(r.groups, active) {
			log.Info(step, "rule splits traffic between both stable target groups (a Stable deployment is shifting it): left to CodeDeploy", "rule", r.arn)
			continue
		}
		if otherHealthy < 0 {
			n, _, err := h.targetHealth(ctx, other)
			if err != nil {
				return err
			}
			otherHealthy = n
		}
		if otherHealthy > 0 {
			log.Info(step, "rule forwards to the other stable target group, which has healthy targets (a Stable deployment moved it): left to CodeDeploy",
				"rule", r.arn, "target_group", other, "healthy", otherHealthy)
			continue
		}
		if _, err := h.ELB.ModifyRule(ctx, &elbv2.ModifyRuleInput{
			RuleArn: aws.String(r.arn),
			Actions: forwardTo(r.actions, active),
		}); err != nil {
			return fmt.Errorf("repair rule %s (forward to %s instead of %s): %w", r.arn, active, other, err)
		}
		repaired++
		log.Info(step, "rule repaired", "rule", r.arn, "from", other, "to", active, "step_ms", time.Since(start).Milliseconds())
	}
	log.Info(step, "the anchor and tenant rules forward to a stable target group with healthy targets", "rules", len(rules),
		"repaired", repaired, "active_target_group", active, "step_ms", time.Since(start).Milliseconds())
	return nil
}

// targetHealth counts the healthy targets of a target group, and all of
// its targets.
func (h *Hooks) targetHealth(ctx context.Context, targetGroup string) (healthy, targets int, err error) {
	out, err := h.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(targetGroup)})
	if err != nil {
		return 0, 0, fmt.Errorf("describe target health of %s: %w", targetGroup, err)
	}
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
			healthy++
		}
	}
	return healthy, len(out.TargetHealthDescriptions), nil
}

// forwardTo returns the rule's actions with its forward action replaced by a
// plain forward to tg (same order); any other action is kept as it is.
func forwardTo(actions []elbtypes.Action, tg string) []elbtypes.Action {
	out := make([]elbtypes.Action, 0, len(actions))
	for _, a := range actions {
		if a.Type == elbtypes.ActionTypeEnumForward {
			a = elbtypes.Action{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tg), Order: a.Order}
		}
		out = append(out, a)
	}
	return out
}

// scaleStable sets the stable service's desired count to want, given the
// service as just described. With onlyUp it never lowers a higher count
// someone set on purpose; a count already in place changes nothing.
func (h *Hooks) scaleStable(ctx context.Context, log *invocationLogger, step string, stable ecstypes.Service, want int32, onlyUp bool) error {
	start := time.Now()
	current := stable.DesiredCount
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

// waitStableHealthy polls until stable's active target group (that of its
// PRIMARY task set, read afresh at every poll) has want healthy targets, or
// the work context ends, and returns that group. It re-reads the service
// because an earlier rollout's Stable deployment may move stable to its
// other target group during the wait: once its traffic has shifted the
// replacement task set becomes PRIMARY, and when the termination wait ends
// CodeDeploy deletes the original task set ("For an Amazon ECS deployment,
// the number of minutes before deleting the original (blue) task set",
// CodeDeploy API Reference, BlueInstanceTerminationOption,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BlueInstanceTerminationOption.html).
// Polling the group read before the wait would then poll a group whose
// tasks are gone until the deadline failed this rollout; the explorer
// found exactly that with two pushes.
func (h *Hooks) waitStableHealthy(ctx context.Context, log *invocationLogger, want int32) (string, error) {
	const step = "wait-healthy"
	start := time.Now()
	healthy, active := 0, ""
	err := h.waitFor(ctx, func(poll int) (bool, error) {
		services, err := h.describeServices(ctx, log, h.Config.StableServiceName)
		if err != nil {
			return false, fmt.Errorf("poll %d: %w", poll, err)
		}
		tg, err := h.activeStableGroup(log, services[0])
		if err != nil {
			return false, err
		}
		if active != "" && tg != active {
			log.Info(step, "stable's active target group moved (a Stable deployment): following it", "from", active, "to", tg, "poll", poll)
		}
		active = tg
		n, targets, err := h.targetHealth(ctx, active)
		if err != nil {
			return false, fmt.Errorf("poll %d: %w", poll, err)
		}
		healthy = n
		log.Info(step, "polled target health", "target_group", active, "poll", poll,
			"healthy", healthy, "targets", targets, "want", want,
			"step_ms", time.Since(start).Milliseconds())
		return healthy >= int(want), nil
	}, func(polls int, waited time.Duration, err error) error {
		return fmt.Errorf("gave up waiting for %d healthy targets in %s after %d polls (%d healthy; stable's active target group at the last poll) in %s: %w",
			want, active, polls, healthy, waited, err)
	})
	return active, err
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
