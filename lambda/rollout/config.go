package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/tenant-canary/tenant-canary/appspec"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Hook names one of the hook functions (internal/contract).
type Hook = contract.Hook

// The hooks, as internal/contract names them.
const (
	HookPin      = contract.HookPin
	HookUnpin    = contract.HookUnpin
	HookCleanup  = contract.HookCleanup
	HookRollback = contract.HookRollback
)

// ALB listener rule priorities are 1–50000 and unique per listener (docs/design.md §6,
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
	// AnchorRuleARN is stable's permanent, never-matching rule: repaired
	// with the tenant rules, never counted as one.
	AnchorRuleARN string
	// CatchAllPriorityUnpinned puts the catch-all above every tenant rule
	// (everyone on latest); CatchAllPriorityPinned puts it below them.
	CatchAllPriorityUnpinned int32
	CatchAllPriorityPinned   int32

	// What the guards read: both deployment groups, the latest service
	// whose image is compared with stable's, and the pipeline whose pending
	// approval may be superseded.
	CodeDeployApplicationName string
	LatestDeploymentGroupName string
	StableDeploymentGroupName string
	LatestServiceName         string
	PipelineName              string

	// ReleaseDelay (cleanup and rollback only) is how long release leaves
	// stable serving after the catch-all moves, before scaling it to zero.
	ReleaseDelay time.Duration

	// OnReject is the rollback and the cleanup functions' only.
	OnReject string
	// AppSpecLatest (cleanup and rollback) is the Latest stage's AppSpec
	// with the task definition placeholder: both roll latest back with it.
	AppSpecLatest string
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

	cfg.ClusterName, _ = get(contract.EnvClusterName)
	cfg.StableServiceName, _ = get(contract.EnvStableServiceName)
	// ECS allows up to 5000 tasks per service; anything above is a typo.
	cfg.StableDesiredCount, _ = getInt(contract.EnvStableDesiredCount, 1, 5000)

	if v, ok := get(contract.EnvListenerARN); ok && getARN(contract.EnvListenerARN, v, "listener/") {
		cfg.ListenerARN = v
	}
	if v, ok := get(contract.EnvCatchAllRuleARN); ok && getARN(contract.EnvCatchAllRuleARN, v, "listener-rule/") {
		cfg.CatchAllRuleARN = v
	}
	if v, ok := get(contract.EnvStableTargetGroupARNs); ok {
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		switch {
		case len(parts) != 2:
			bad("%s must hold exactly two comma-separated target group ARNs, got %d", contract.EnvStableTargetGroupARNs, len(parts))
		case parts[0] == parts[1]:
			bad("%s holds the same target group twice: %q", contract.EnvStableTargetGroupARNs, parts[0])
		default:
			ok0 := getARN(contract.EnvStableTargetGroupARNs, parts[0], "targetgroup/")
			ok1 := getARN(contract.EnvStableTargetGroupARNs, parts[1], "targetgroup/")
			if ok0 && ok1 {
				cfg.StableTargetGroupARNs = [2]string{parts[0], parts[1]}
			}
		}
	}

	unpinned, okU := getInt(contract.EnvCatchAllPriorityUnpinned, minRulePriority, maxRulePriority)
	pinned, okP := getInt(contract.EnvCatchAllPriorityPinned, minRulePriority, maxRulePriority)
	if okU && okP && unpinned >= pinned {
		// A lower number wins on an ALB: "unpinned" must sit above (lower
		// than) every tenant rule and "pinned" below (higher than) them.
		bad("%s=%d must be lower than %s=%d", contract.EnvCatchAllPriorityUnpinned, unpinned, contract.EnvCatchAllPriorityPinned, pinned)
	}
	cfg.CatchAllPriorityUnpinned, cfg.CatchAllPriorityPinned = unpinned, pinned

	if v, ok := get(contract.EnvAnchorRuleARN); ok && getARN(contract.EnvAnchorRuleARN, v, "listener-rule/") {
		cfg.AnchorRuleARN = v
	}
	if cfg.AnchorRuleARN != "" && cfg.AnchorRuleARN == cfg.CatchAllRuleARN {
		bad("%s and %s name the same rule %q", contract.EnvAnchorRuleARN, contract.EnvCatchAllRuleARN, cfg.AnchorRuleARN)
	}
	cfg.CodeDeployApplicationName, _ = get(contract.EnvCodeDeployApplicationName)
	cfg.LatestDeploymentGroupName, _ = get(contract.EnvLatestDeploymentGroupName)
	cfg.StableDeploymentGroupName, _ = get(contract.EnvStableDeploymentGroupName)
	cfg.LatestServiceName, _ = get(contract.EnvLatestServiceName)
	cfg.PipelineName, _ = get(contract.EnvPipelineName)
	if cfg.LatestServiceName != "" && cfg.LatestServiceName == cfg.StableServiceName {
		bad("%s and %s name the same service %q", contract.EnvLatestServiceName, contract.EnvStableServiceName, cfg.LatestServiceName)
	}
	if cfg.LatestDeploymentGroupName != "" && cfg.LatestDeploymentGroupName == cfg.StableDeploymentGroupName {
		bad("%s and %s name the same deployment group %q", contract.EnvLatestDeploymentGroupName, contract.EnvStableDeploymentGroupName, cfg.LatestDeploymentGroupName)
	}

	if hook == HookCleanup || hook == HookRollback {
		// The target group's own limit is 3600 s; config validation keeps
		// the stack's value lower, within the function's timeout.
		if d, ok := getInt(contract.EnvReleaseDelaySeconds, 0, 3600); ok {
			cfg.ReleaseDelay = time.Duration(d) * time.Second
		}
		// cleanup and rollback both roll latest back with it.
		if v, ok := get(contract.EnvAppSpecLatest); ok {
			if strings.Count(v, appspec.TaskDefinitionPlaceholder) != 1 {
				bad("%s must contain the task definition placeholder %s exactly once", contract.EnvAppSpecLatest, appspec.TaskDefinitionPlaceholder)
			} else {
				cfg.AppSpecLatest = v
			}
		}
	}
	if hook == HookRollback || hook == HookCleanup {
		if v, ok := get(contract.EnvOnReject); ok {
			if v != contract.OnRejectRollback && v != contract.OnRejectHold {
				bad("%s=%q must be %q or %q", contract.EnvOnReject, v, contract.OnRejectRollback, contract.OnRejectHold)
			} else {
				cfg.OnReject = v
			}
		}
	}

	if len(problems) > 0 {
		return cfg, fmt.Errorf("invalid environment for the %s hook: %w", hook, errors.New(strings.Join(problems, "; ")))
	}
	return cfg, nil
}
