package plan

import (
	"fmt"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// CodeDeploy's ECS traffic routing types and the predefined all-at-once
// config (docs.aws.amazon.com/codedeploy/latest/userguide/
// deployment-configurations.html).
const (
	RoutingCanary       = "TimeBasedCanary"
	RoutingLinear       = "TimeBasedLinear"
	RoutingAllAtOnce    = "AllAtOnce"
	PredefinedAllAtOnce = "CodeDeployDefault.ECSAllAtOnce"
)

// TrafficRouting is the deployment config a traffic config maps onto.
type TrafficRouting struct {
	// Type is TimeBasedCanary, TimeBasedLinear or AllAtOnce.
	Type string
	// Percentage and IntervalMinutes are the step (canary, linear only).
	Percentage, IntervalMinutes int
	// Predefined names a built-in config to use instead of a custom one.
	Predefined string
}

// Routing maps the validated traffic config onto CodeDeploy: canary shifts
// Percentage, waits IntervalMinutes, then shifts the rest; linear shifts
// Percentage every IntervalMinutes; all-at-once uses the predefined config.
func Routing(t config.Traffic) (TrafficRouting, error) {
	switch t.Type {
	case config.TrafficCanary:
		return TrafficRouting{Type: RoutingCanary, Percentage: t.Percentage, IntervalMinutes: t.IntervalMinutes}, nil
	case config.TrafficLinear:
		return TrafficRouting{Type: RoutingLinear, Percentage: t.Percentage, IntervalMinutes: t.IntervalMinutes}, nil
	case config.TrafficAllAtOnce:
		return TrafficRouting{Type: RoutingAllAtOnce, Predefined: PredefinedAllAtOnce}, nil
	default:
		return TrafficRouting{}, fmt.Errorf("traffic.type %q: want %s, %s or %s", t.Type, config.TrafficCanary, config.TrafficLinear, config.TrafficAllAtOnce)
	}
}

// Metric ids of the 5xx-rate alarm's metric math.
const (
	MetricErrors   = "errors"
	MetricRequests = "requests"
	MetricRate     = "rate"
)

// FiveXXRateExpression is the alarm's metric math: the percentage of
// requests answered 5xx by the target group's targets, counted as 0 while
// the group served fewer than minRequests requests in the period, so two
// requests with one error do not roll a stage back and an idle group (zero
// requests: no division by zero) never breaches. FILL turns a period without
// data points into zeros, so a group that saw no 5xx at all evaluates to 0.
func FiveXXRateExpression(minRequests int) string {
	floor := max(1, minRequests)
	return fmt.Sprintf("IF(FILL(%[1]s, 0) >= %[3]d, 100 * FILL(%[2]s, 0) / FILL(%[1]s, 0), 0)", MetricRequests, MetricErrors, floor)
}
