package pipeline

import (
	"fmt"
	"strconv"

	"github.com/tenant-canary/tenant-canary/internal/contract"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codedeploy"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/routing"
)

// hookEnvironment is exactly the contract of lambda/rollout's ConfigFromEnv.
func (b *builder) hookEnvironment(h string) pulumi.StringMap {
	a := b.args
	env := pulumi.StringMap{
		contract.EnvClusterName:              a.ClusterName,
		contract.EnvStableServiceName:        a.StableServiceName,
		contract.EnvStableDesiredCount:       pulumi.String(strconv.Itoa(a.Service.StableCount)),
		contract.EnvListenerARN:              a.ListenerArn,
		contract.EnvStableTargetGroupARNs:    pulumi.Sprintf("%s,%s", a.StableTargetGroups[0].Arn, a.StableTargetGroups[1].Arn),
		contract.EnvCatchAllRuleARN:          a.CatchAllRuleArn,
		contract.EnvCatchAllPriorityUnpinned: pulumi.String(strconv.Itoa(routing.CatchAllPriorityUnpinned)),
		contract.EnvCatchAllPriorityPinned:   pulumi.String(strconv.Itoa(routing.CatchAllPriorityPinned)),
	}
	if h == HookCleanup {
		env[contract.EnvCodeDeployApplicationName] = b.app.Name
		env[contract.EnvLatestDeploymentGroupName] = pulumi.String(b.groupNames[roleLatest])
		env[contract.EnvLatestServiceName] = a.LatestServiceName
	}
	return env
}

// hookFunctions builds each hook from source (once per program run, in
// preview and update alike, so the preview shows the real hash) and deploys
// it with its own role and log group.
func (b *builder) hookFunctions() error {
	b.hooks = map[string]*hook{}
	for _, h := range []string{HookPin, HookUnpin, HookCleanup} {
		artifact, err := build.Default.Hook(b.ctx.Context(), b.args.SourceDir, h)
		if err != nil {
			return fmt.Errorf("build %s hook: %w", h, err)
		}
		fnName := b.physical(64, h)
		logGroupName := "/aws/lambda/" + fnName
		// Created before the function, so Lambda never auto-creates it
		// without retention.
		logGroup, err := cloudwatch.NewLogGroup(b.ctx, b.child(h+"-logs"), &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(logGroupName),
			RetentionInDays: pulumi.Int(b.args.Service.LogRetentionDays),
		}, b.parent)
		if err != nil {
			return fmt.Errorf("create %s hook log group: %w", h, err)
		}
		role, err := b.newRole(h+"-hook", plan.ServiceLambda)
		if err != nil {
			return err
		}
		fn, err := lambda.NewFunction(b.ctx, b.child(h+"-hook"), &lambda.FunctionArgs{
			Name:           pulumi.String(fnName),
			Role:           role.Arn,
			Runtime:        pulumi.String(HookRuntime),
			Architectures:  pulumi.StringArray{pulumi.String(HookArchitecture)},
			Handler:        pulumi.String(HookHandler),
			Code:           pulumi.NewFileArchive(artifact.Path),
			SourceCodeHash: pulumi.String(artifact.SourceCodeHash),
			Timeout:        pulumi.Int(hookTimeouts[h]),
			MemorySize:     pulumi.Int(HookMemoryMB),
			Environment:    &lambda.FunctionEnvironmentArgs{Variables: b.hookEnvironment(h)},
			LoggingConfig: &lambda.FunctionLoggingConfigArgs{
				// The hooks write log/slog JSON lines.
				LogFormat: pulumi.String("JSON"),
				LogGroup:  logGroup.Name,
			},
			Description: pulumi.String(fmt.Sprintf("tenant-canary %s hook (docs/design.md §4)", h)),
		}, b.parent, pulumi.DependsOn([]pulumi.Resource{logGroup}))
		if err != nil {
			return fmt.Errorf("create %s hook function: %w", h, err)
		}
		// CodeDeploy invokes lifecycle hooks asynchronously and waits for
		// their status call, not their return value. pin and unpin have
		// already reported when they return an error, and Lambda's default
		// two retries of an async invocation could re-pin tenants after a
		// failed deployment's cleanup released them: no retries. cleanup
		// keeps the retries (idempotent, reports nothing, ignores a stale
		// event) but drops events older than CleanupMaxEventAgeSeconds.
		invoke := &lambda.FunctionEventInvokeConfigArgs{FunctionName: fn.Name, MaximumRetryAttempts: pulumi.Int(0)}
		if h == HookCleanup {
			invoke.MaximumRetryAttempts = pulumi.Int(CleanupMaxRetryAttempts)
			invoke.MaximumEventAgeInSeconds = pulumi.Int(CleanupMaxEventAgeSeconds)
		}
		if _, err := lambda.NewFunctionEventInvokeConfig(b.ctx, b.child(h+"-hook-invoke"), invoke, b.parent); err != nil {
			return fmt.Errorf("configure %s hook async invocation: %w", h, err)
		}
		b.hooks[h] = &hook{name: fnName, fn: fn, role: role, logGroup: logGroupName}
	}
	return nil
}

// hookPolicies grants each hook what docs/design.md §4 has it do.
func (b *builder) hookPolicies() error {
	a := b.args
	reportsTo := map[string]*codedeploy.DeploymentGroup{HookPin: b.groups[roleLatest], HookUnpin: b.groups[roleStable]}
	empty := pulumi.String("").ToStringOutput()
	for _, h := range []string{HookPin, HookUnpin, HookCleanup} {
		hk := b.hooks[h]
		groupArn, listenerArn, latestService, latestGroupArn := empty, empty, empty, empty
		if g, ok := reportsTo[h]; ok {
			groupArn = g.Arn
		}
		switch h {
		case HookPin:
			// pin repairs tenant rules of the production listener.
			listenerArn = a.ListenerArn.ToStringOutput()
		case HookCleanup:
			// cleanup compares latest's image with stable's and checks its
			// event against the Latest group's last attempted deployment.
			latestService = a.LatestServiceName.ToStringOutput()
			latestGroupArn = b.groups[roleLatest].Arn
		}
		doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
			var groups []string
			if arn := v[3].(string); arn != "" {
				groups = []string{arn}
			}
			d, err := plan.HookRole{
				Stack: st, ClusterArn: v[0].(string), StableServiceName: v[1].(string),
				CatchAllRuleArn: v[2].(string), DeploymentGroupArns: groups, LogGroupName: hk.logGroup,
				RepairRulesOfListenerArn: v[4].(string),
				LatestServiceName:        v[5].(string), LatestDeploymentGroupArn: v[6].(string),
			}.Policy()
			return d.JSON(), err
		}, a.ClusterArn, a.StableServiceName, a.CatchAllRuleArn, groupArn, listenerArn, latestService, latestGroupArn)
		p, err := b.rolePolicy(h+"-hook", hk.role, doc)
		if err != nil {
			return err
		}
		b.hookPolicyRes = append(b.hookPolicyRes, p)
	}
	return nil
}
