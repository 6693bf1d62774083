package protocol

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// stack is the modelled stack: the names, ARNs, priorities, desired
// counts and function environments a declared.Stack (what the program
// declares, `go run . declare`) holds, read once. It is shared by every
// copy of a world and never changed.
type stack struct {
	decl *declared.Stack

	region, account                       string
	cluster, latestService, stableService string
	app, latestGroup, stableGroup         string
	pipeline                              string
	container                             string
	port                                  int
	latestCount                           int

	listenerARN, catchAllARN, anchorARN, defaultARN string
	// rulePrefix names the rules `pulumi up` adds for new tenants.
	rulePrefix string
	// latestTG and stableTG are each service's pair: the group it starts
	// on (PairIndex 0), then the other.
	latestTG, stableTG [2]string

	// rules are the production listener's declared rules (no action yet),
	// by priority: the default rule (0) first.
	rules []Rule

	// env is each function's declared environment, as the hooks get it;
	// configs what rollout.ConfigFromEnv makes of it.
	env     map[contract.Hook]map[string]string
	configs map[contract.Hook]rollout.Config
	// onRejectHold: approval.onReject is hold, as the rollback function
	// reads it.
	onRejectHold bool

	// The signal path's settings, as declared: the traffic steps and
	// minutes of CodeDeploy's deployment config with each deployment
	// group's termination wait, each target group's rollback alarms
	// (compiled), and the target groups each deployment group's alarm
	// configuration watches (the groups its named alarms read).
	traffic         config.Traffic
	terminationWait map[string]int
	alarms          map[string][]*cloudwatch.Alarm
	watched         map[string][]string
	// smoke is the smoke function's checks (nil: smokeTest is off, the
	// AppSpecs name no AfterAllowTestTraffic hook).
	smoke *contract.SmokeChecks
}

// LoadStack reads a declared stack: the JSON `go run . declare --stack S`
// writes.
func LoadStack(path string) (*declared.Stack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s declared.Stack
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Version != declared.Version {
		return nil, fmt.Errorf("%s: version %d, this model reads version %d: regenerate it with go run . declare", path, s.Version, declared.Version)
	}
	return &s, nil
}

// modelledReleaseDelay replaces the declared RELEASE_DELAY_SECONDS: the
// hook waits it with a real timer, and the model has no propagation time
// for rule changes (a rule change is visible to the next request), so
// release scales stable down right after the catch-all moves.
const modelledReleaseDelay = "0"

// readStack takes the modelled stack out of d; an error names what is
// missing.
func readStack(d *declared.Stack) (*stack, error) {
	if d == nil {
		return nil, fmt.Errorf("protocol: the scenario has no declared stack (Scenario.Stack)")
	}
	st := &stack{decl: d, region: d.Region, account: d.Account, cluster: d.ECS.ClusterName,
		app: d.CodeDeploy.ApplicationName, env: map[contract.Hook]map[string]string{}, configs: map[contract.Hook]rollout.Config{}}
	// Each part by its role (declared.RoleLatest, RoleStable).
	services, groups := map[string]ecstypes.Service{}, map[string]string{}
	for _, s := range d.ECS.Services {
		services[s.Role] = s.Service
	}
	for _, g := range d.CodeDeploy.Groups {
		groups[g.Role] = aws.ToString(g.Group.DeploymentGroupName)
	}
	latest := services[declared.RoleLatest]
	st.latestService, st.latestCount = aws.ToString(latest.ServiceName), int(latest.DesiredCount)
	st.stableService = aws.ToString(services[declared.RoleStable].ServiceName)
	if lb := latest.LoadBalancers; len(lb) > 0 {
		st.container = aws.ToString(lb[0].ContainerName)
		st.port = int(aws.ToInt32(lb[0].ContainerPort))
	}
	st.latestGroup = groups[declared.RoleLatest]
	st.stableGroup = groups[declared.RoleStable]
	st.pipeline = aws.ToString(d.Pipeline.Declaration.Name)
	pairs := map[string]*[2]string{declared.RoleLatest: &st.latestTG, declared.RoleStable: &st.stableTG}
	for _, tg := range d.TargetGroups {
		if tg.PairIndex < 0 || tg.PairIndex > 1 {
			return nil, fmt.Errorf("protocol: target group %s has pair index %d", aws.ToString(tg.TargetGroup.TargetGroupArn), tg.PairIndex)
		}
		if pair := pairs[tg.Service]; pair != nil {
			pair[tg.PairIndex] = aws.ToString(tg.TargetGroup.TargetGroupArn)
		}
	}
	prod := d.Production()
	if prod == nil {
		return nil, fmt.Errorf("protocol: the declared stack has no production listener")
	}
	st.listenerARN = aws.ToString(prod.Listener.ListenerArn)
	st.rulePrefix = strings.Replace(st.listenerARN, ":listener/", ":listener-rule/", 1) + "/"
	arns := map[declared.RuleRole]*string{declared.RuleDefault: &st.defaultARN, declared.RuleCatchAll: &st.catchAllARN, declared.RuleAnchor: &st.anchorARN}
	for _, r := range prod.Rules {
		rule := Rule{ARN: aws.ToString(r.Rule.RuleArn), Kind: string(r.Role), Tenants: r.Tenants}
		if r.Role != declared.RuleDefault {
			p, err := strconv.Atoi(aws.ToString(r.Rule.Priority))
			if err != nil {
				return nil, fmt.Errorf("protocol: rule %s has priority %q: %w", rule.ARN, aws.ToString(r.Rule.Priority), err)
			}
			rule.Priority = p
		}
		if arn := arns[r.Role]; arn != nil {
			*arn = rule.ARN
		}
		st.rules = append(st.rules, rule)
	}
	slices.SortStableFunc(st.rules, func(a, b Rule) int { return cmp.Compare(a.Priority, b.Priority) })
	if err := st.readSignal(d); err != nil {
		return nil, err
	}
	// Each function's environment is read by the hook's own reader, which
	// refuses what the hook would (the smoke function's checks included).
	for _, f := range d.Functions {
		env := maps.Clone(f.Environment)
		if _, ok := env[contract.EnvReleaseDelaySeconds]; ok {
			env[contract.EnvReleaseDelaySeconds] = modelledReleaseDelay
		}
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		var err error
		if f.Hook == contract.HookSmoke {
			var smoke rollout.SmokeConfig
			smoke, err = rollout.SmokeConfigFromEnv(lookup)
			st.smoke = &smoke.Checks
		} else {
			st.configs[f.Hook], err = rollout.ConfigFromEnv(lookup, f.Hook)
		}
		if err != nil {
			return nil, fmt.Errorf("protocol: function %s's declared environment: %w", f.Name, err)
		}
		st.env[f.Hook] = env
	}
	for _, h := range contract.Hooks {
		if _, ok := st.configs[h]; !ok {
			return nil, fmt.Errorf("protocol: the declared stack %s has no %s function", d.Stack, h)
		}
	}
	// The rollback function's reader requires ON_REJECT and allows only
	// rollback or hold.
	st.onRejectHold = st.configs[contract.HookRollback].OnReject == contract.OnRejectHold
	for what, v := range map[string]string{"cluster": st.cluster, "latest service": st.latestService, "stable service": st.stableService,
		"application": st.app, "latest deployment group": st.latestGroup, "stable deployment group": st.stableGroup, "pipeline": st.pipeline,
		"container": st.container, "listener": st.listenerARN, "catch-all rule": st.catchAllARN, "anchor rule": st.anchorARN,
		"default rule": st.defaultARN, "latest target groups": st.latestTG[1], "stable target groups": st.stableTG[1]} {
		if v == "" {
			return nil, fmt.Errorf("protocol: the declared stack %s names no %s", d.Stack, what)
		}
	}
	return st, nil
}

// readSignal reads what the signal path needs: CodeDeploy's deployment
// config (TrafficRoutingConfig: TimeBasedCanary, TimeBasedLinear or
// AllAtOnce,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_TrafficRoutingConfig.html),
// each group's termination wait
// (BlueGreenDeploymentConfiguration.TerminateBlueInstancesOnDeploymentSuccess,
// https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BlueInstanceTerminationOption.html),
// and the rollback alarms with the target group each reads.
func (st *stack) readSignal(d *declared.Stack) error {
	rc := d.CodeDeploy.DeploymentConfig.TrafficRoutingConfig
	if rc == nil {
		return fmt.Errorf("protocol: the declared deployment config %s has no traffic routing config", aws.ToString(d.CodeDeploy.DeploymentConfig.DeploymentConfigName))
	}
	switch {
	case rc.Type == cdtypes.TrafficRoutingTypeTimeBasedCanary && rc.TimeBasedCanary != nil:
		st.traffic = config.Traffic{Type: config.TrafficCanary, Percentage: int(rc.TimeBasedCanary.CanaryPercentage), IntervalMinutes: int(rc.TimeBasedCanary.CanaryInterval)}
	case rc.Type == cdtypes.TrafficRoutingTypeTimeBasedLinear && rc.TimeBasedLinear != nil:
		st.traffic = config.Traffic{Type: config.TrafficLinear, Percentage: int(rc.TimeBasedLinear.LinearPercentage), IntervalMinutes: int(rc.TimeBasedLinear.LinearInterval)}
	case rc.Type == cdtypes.TrafficRoutingTypeAllAtOnce:
		st.traffic = config.Traffic{Type: config.TrafficAllAtOnce}
	default:
		return fmt.Errorf("protocol: the declared deployment config's traffic routing %q is not one the model knows", rc.Type)
	}
	st.terminationWait, st.alarms, st.watched = map[string]int{}, map[string][]*cloudwatch.Alarm{}, map[string][]string{}
	byName := map[string]string{}
	for _, a := range d.Alarms {
		def := a.Definition
		al, err := cloudwatch.Compile(&def)
		if err != nil {
			return fmt.Errorf("protocol: alarm %s: %w", aws.ToString(def.AlarmName), err)
		}
		st.alarms[a.TargetGroupArn] = append(st.alarms[a.TargetGroupArn], al)
		byName[aws.ToString(def.AlarmName)] = a.TargetGroupArn
	}
	for _, g := range d.CodeDeploy.Groups {
		name := aws.ToString(g.Group.DeploymentGroupName)
		bg := g.Group.BlueGreenDeploymentConfiguration
		if bg == nil || bg.TerminateBlueInstancesOnDeploymentSuccess == nil {
			return fmt.Errorf("protocol: deployment group %s declares no termination of the original task set", name)
		}
		st.terminationWait[name] = int(bg.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes)
		if ac := g.Group.AlarmConfiguration; ac != nil && ac.Enabled {
			for _, a := range ac.Alarms {
				tg, ok := byName[aws.ToString(a.Name)]
				if !ok {
					return fmt.Errorf("protocol: deployment group %s names alarm %s, which the stack does not declare", name, aws.ToString(a.Name))
				}
				if !slices.Contains(st.watched[name], tg) {
					st.watched[name] = append(st.watched[name], tg)
				}
			}
		}
	}
	// The wait is the same for both groups in the program; the model keeps
	// each group's own, and Traffic carries the Latest group's.
	st.traffic.TerminationWaitMinutes = st.terminationWait[st.latestGroup]
	return nil
}

var stacks sync.Map // *declared.Stack → *stack

// stackOf is the modelled stack of d, read once; a stack the model cannot
// read is a broken fixture or program, so it panics with what is wrong.
func stackOf(d *declared.Stack) *stack {
	if st, ok := stacks.Load(d); ok {
		return st.(*stack)
	}
	st, err := readStack(d)
	if err != nil {
		panic(err)
	}
	stacks.Store(d, st)
	return st
}
