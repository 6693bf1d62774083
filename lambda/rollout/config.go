package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Hook names one of the three functions. It decides which environment
// variables are required and appears as "hook" on every log line.
type Hook string

// The three hooks of the rollout protocol (DESIGN.md §4).
const (
	HookPin     Hook = "pin"
	HookUnpin   Hook = "unpin"
	HookCleanup Hook = "cleanup"
)

// Environment variable names: the contract with the pipeline component, which
// sets exactly these on the functions.
const (
	EnvClusterName               = "CLUSTER_NAME"
	EnvStableServiceName         = "STABLE_SERVICE_NAME"
	EnvStableDesiredCount        = "STABLE_DESIRED_COUNT"
	EnvListenerARN               = "LISTENER_ARN"
	EnvStableTargetGroupARNs     = "STABLE_TARGET_GROUP_ARNS"
	EnvCatchAllRuleARN           = "CATCH_ALL_RULE_ARN"
	EnvCatchAllPriorityUnpinned  = "CATCH_ALL_PRIORITY_UNPINNED"
	EnvCatchAllPriorityPinned    = "CATCH_ALL_PRIORITY_PINNED"
	EnvCodeDeployApplicationName = "CODEDEPLOY_APPLICATION_NAME"
	EnvLatestDeploymentGroupName = "LATEST_DEPLOYMENT_GROUP_NAME"
	EnvLatestServiceName         = "LATEST_SERVICE_NAME"
)

// ALB listener rule priorities are 1–50000 and unique per listener (DESIGN.md §6,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-update-rules.html).
const (
	minRulePriority = 1
	maxRulePriority = 50000
)

// Config is what the hooks need to know about the stack, read once at start-up.
type Config struct {
	Hook Hook

	ClusterName        string
	StableServiceName  string
	StableDesiredCount int32

	ListenerARN string
	// StableTargetGroupARNs is the blue/green pair of the stable service. Which
	// of the two holds stable's serving (PRIMARY) task set alternates with
	// every Stable deployment, so pin reads it from ECS, never assumes it.
	StableTargetGroupARNs [2]string
	CatchAllRuleARN       string
	// CatchAllPriorityUnpinned puts the catch-all above every tenant rule
	// (everyone on latest); CatchAllPriorityPinned puts it below them.
	CatchAllPriorityUnpinned int32
	CatchAllPriorityPinned   int32

	// Cleanup only: the deployment whose failure or stop it reacts to, and
	// the latest service whose image it compares with stable's.
	CodeDeployApplicationName string
	LatestDeploymentGroupName string
	LatestServiceName         string
}

// ConfigFromEnv reads and validates the environment for hook. The error names
// every missing or malformed variable, not just the first one.
func ConfigFromEnv(lookup func(string) (string, bool), hook Hook) (Config, error) {
	cfg := Config{Hook: hook}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			bad("%s is not set", name)
			return "", false
		}
		return v, true
	}
	getInt := func(name string, lo, hi int) (int32, bool) {
		v, ok := get(name)
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad("%s=%q must be an integer in %d..%d", name, v, lo, hi)
			return 0, false
		}
		return int32(n), true
	}
	getARN := func(name, value, resourcePrefix string) bool {
		a, err := arn.Parse(value)
		if err != nil {
			bad("%s=%q is not an ARN: %v", name, value, err)
			return false
		}
		if a.Service != "elasticloadbalancing" || !strings.HasPrefix(a.Resource, resourcePrefix) {
			bad("%s=%q is not an elasticloadbalancing %s ARN", name, value, strings.TrimSuffix(resourcePrefix, "/"))
			return false
		}
		return true
	}

	cfg.ClusterName, _ = get(EnvClusterName)
	cfg.StableServiceName, _ = get(EnvStableServiceName)
	// ECS allows up to 5000 tasks per service; anything above is a typo.
	cfg.StableDesiredCount, _ = getInt(EnvStableDesiredCount, 1, 5000)

	if v, ok := get(EnvListenerARN); ok && getARN(EnvListenerARN, v, "listener/") {
		cfg.ListenerARN = v
	}
	if v, ok := get(EnvCatchAllRuleARN); ok && getARN(EnvCatchAllRuleARN, v, "listener-rule/") {
		cfg.CatchAllRuleARN = v
	}
	if v, ok := get(EnvStableTargetGroupARNs); ok {
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		switch {
		case len(parts) != 2:
			bad("%s must hold exactly two comma-separated target group ARNs, got %d", EnvStableTargetGroupARNs, len(parts))
		case parts[0] == parts[1]:
			bad("%s holds the same target group twice: %q", EnvStableTargetGroupARNs, parts[0])
		default:
			ok0 := getARN(EnvStableTargetGroupARNs, parts[0], "targetgroup/")
			ok1 := getARN(EnvStableTargetGroupARNs, parts[1], "targetgroup/")
			if ok0 && ok1 {
				cfg.StableTargetGroupARNs = [2]string{parts[0], parts[1]}
			}
		}
	}

	unpinned, okU := getInt(EnvCatchAllPriorityUnpinned, minRulePriority, maxRulePriority)
	pinned, okP := getInt(EnvCatchAllPriorityPinned, minRulePriority, maxRulePriority)
	if okU && okP && unpinned >= pinned {
		// A lower number wins on an ALB: "unpinned" must sit above (lower
		// than) every tenant rule and "pinned" below (higher than) them.
		bad("%s=%d must be lower than %s=%d", EnvCatchAllPriorityUnpinned, unpinned, EnvCatchAllPriorityPinned, pinned)
	}
	cfg.CatchAllPriorityUnpinned, cfg.CatchAllPriorityPinned = unpinned, pinned

	if hook == HookCleanup {
		cfg.CodeDeployApplicationName, _ = get(EnvCodeDeployApplicationName)
		cfg.LatestDeploymentGroupName, _ = get(EnvLatestDeploymentGroupName)
		cfg.LatestServiceName, _ = get(EnvLatestServiceName)
		if cfg.LatestServiceName != "" && cfg.LatestServiceName == cfg.StableServiceName {
			bad("%s and %s name the same service %q", EnvLatestServiceName, EnvStableServiceName, cfg.LatestServiceName)
		}
	}

	if len(problems) > 0 {
		return cfg, fmt.Errorf("invalid environment for the %s hook: %w", hook, errors.New(strings.Join(problems, "; ")))
	}
	return cfg, nil
}
