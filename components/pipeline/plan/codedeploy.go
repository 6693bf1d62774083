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
