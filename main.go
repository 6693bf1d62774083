// tenant-canary gives one ECS Fargate service a multi-tenant, multi-stage
// canary rollout: `docker push` canaries the new image on the `latest`
// service while pinned tenants stay on `stable`, and after an approval gate
// the pinned tenants follow (docs/design.md §1–§4).
//
// This file is the map of the system: config → network → service →
// pipeline → stack outputs.
package main

import (
	"fmt"
	"os"
	"regexp"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/network"
	"github.com/tenant-canary/tenant-canary/components/pipeline"
	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/components/service"
)

func main() {
	if hint, ok := withoutEngine(os.Getenv); ok {
		// Without the engine only: what the stack declares (declare.go).
		if len(os.Args) > 1 && os.Args[1] == "declare" {
			os.Exit(declareMain(os.Args[2:], os.Stdout, os.Stderr))
		}
		fmt.Fprint(os.Stderr, hint)
		os.Exit(2)
	}
	pulumi.Run(run)
}

// withoutEngine is what `go run .` prints: run without the Pulumi engine
// (no PULUMI_MONITOR; the engine sets it, and PULUMI_PLUGINS when it only
// asks for plugins), the SDK exits 32 without a word.
func withoutEngine(getenv func(string) string) (string, bool) {
	if getenv(pulumi.EnvMonitor) != "" || getenv("PULUMI_PLUGINS") != "" {
		return "", false
	}
	return "tenant-canary is a Pulumi program: run it with `pulumi preview` or `pulumi up`, which start the Pulumi engine it needs.\n" +
		"To check a stack's config offline, without the engine or AWS: go run ./cmd/tenant-canary check --stack dev\n" +
		"To see what a stack declares, evaluated under the Pulumi SDK's mocks: go run . declare --stack dev\n", true
}

func run(ctx *pulumi.Context) error {
	// 1. Stack config: every problem is reported before anything is created.
	cfg, err := config.Load(func(key string) (string, bool) {
		return ctx.GetConfig(config.Namespace + ":" + key)
	})
	if err != nil {
		return err
	}
	tenantRules, err := routing.PlanTenantRules(cfg.PinnedTenants, cfg.TenantMatch, cfg.AlbRuleQuota)
	if err != nil {
		return fmt.Errorf("%s:pinnedTenants: %w", config.Namespace, err)
	}
	family := taskFamily(ctx)

	// 2. Network: the VPC, its subnets and NAT.
	// The smoke test's listeners admit only the NAT gateways' addresses,
	// so the network owns them when it is on.
	net, err := network.NewNetwork(ctx, "network", &network.Args{Network: cfg.Network, OwnNatAddresses: cfg.SmokeTest.Enabled})
	if err != nil {
		return err
	}

	// 3. Service: cluster, ALB with the catch-all and tenant rules, and the
	// `latest` and `stable` Fargate services under CodeDeploy's control.
	svc, err := service.NewService(ctx, "service", &service.Args{
		VpcId:           net.VpcId,
		PublicSubnetIds: net.PublicSubnetIds,
		TaskSubnetIds:   net.TaskSubnetIds,
		AssignPublicIP:  net.TasksNeedPublicIP,
		Service:         cfg.Service,
		TenantRules:     tenantRules,
		CertificateArn:  cfg.CertificateArn,
		TaskFamily:      family,
	})
	if err != nil {
		return err
	}

	// 4. Pipeline: `docker push` → CodePipeline → CodeDeploy canary on
	// `latest` (pin hook) → approval → `stable` (unpin hook), with alarm
	// rollback, the cleanup hook at the end of every deployment and the
	// rollback hook on a rejected or expired approval.
	smoke := cfg.SmokeTest
	smoke.Paths = cfg.SmokePaths()
	pipe, err := pipeline.NewPipeline(ctx, "pipeline", &pipeline.Args{
		Traffic:               cfg.Traffic,
		SmokeTest:             smoke,
		TenantMatch:           cfg.TenantMatch,
		Approval:              cfg.Approval,
		Rollback:              cfg.Rollback,
		Service:               cfg.Service,
		ImageTag:              cfg.ImageTag,
		ForceDeleteImages:     cfg.ForceDeleteImages,
		TaskFamily:            family,
		ContainerEnvironment:  containerEnvironment(cfg.TenantMatch, cfg.Service.HealthCheckPath),
		ClusterName:           svc.ClusterName,
		ClusterArn:            svc.ClusterArn,
		LatestServiceName:     svc.LatestServiceName,
		StableServiceName:     svc.StableServiceName,
		LatestTargetGroups:    pipelineTargetGroups(svc.LatestTargetGroups),
		StableTargetGroups:    pipelineTargetGroups(svc.StableTargetGroups),
		ListenerArn:           svc.ListenerArn,
		LoadBalancerArnSuffix: svc.LoadBalancerArnSuffix,
		CatchAllRuleArn:       svc.CatchAllRuleArn,
		AnchorRuleArn:         svc.AnchorRuleArn,
		TaskExecutionRoleArn:  svc.TaskExecutionRoleArn,
		TaskExecutionRoleName: svc.TaskExecutionRoleName,
		TaskRoleArn:           svc.TaskRoleArn,
		LogGroupName:          svc.LogGroupName,
		AlbURL:                svc.AlbURL,
		AlbArn:                svc.AlbArn,
		AlbSecurityGroupId:    svc.AlbSecurityGroupId,
		AlbDnsName:            svc.AlbDnsName,
		VpcId:                 net.VpcId,
		TaskSubnetIds:         net.TaskSubnetIds,
		NatPublicIps:          net.NatPublicIps,
	}, pulumi.DependsOn([]pulumi.Resource{svc}))
	if err != nil {
		return err
	}

	// 5. Stack outputs.
	ctx.Export("albUrl", svc.AlbURL)
	ctx.Export("clusterName", svc.ClusterName)
	ctx.Export("latestServiceName", svc.LatestServiceName)
	ctx.Export("stableServiceName", svc.StableServiceName)
	ctx.Export("listenerArn", svc.ListenerArn)
	ctx.Export("catchAllRuleArn", svc.CatchAllRuleArn)
	ctx.Export("anchorRuleArn", svc.AnchorRuleArn)
	ctx.Export("tenantRuleArns", svc.TenantRuleArns)
	ctx.Export("targetGroups", pulumi.Map{
		"latest": targetGroupPairOutput(svc.LatestTargetGroups),
		"stable": targetGroupPairOutput(svc.StableTargetGroups),
	})
	ctx.Export("pinnedTenants", pulumi.ToStringArray(cfg.PinnedTenants))
	ctx.Export("repositoryUrl", pipe.RepositoryUrl)
	ctx.Export("imageTag", pulumi.String(cfg.ImageTag))
	ctx.Export("pipelineName", pipe.PipelineName)
	ctx.Export("pipelineUrl", pipe.PipelineUrl)
	ctx.Export("applicationName", pipe.ApplicationName)
	ctx.Export("latestDeploymentGroupName", pipe.LatestDeploymentGroupName)
	ctx.Export("stableDeploymentGroupName", pipe.StableDeploymentGroupName)
	ctx.Export("approvalTopicArn", pipe.ApprovalTopicArn)
	ctx.Export("dashboardUrl", pipe.DashboardUrl)
	hooks := pulumi.StringMap{
		"pin": pipe.PinFunctionName, "unpin": pipe.UnpinFunctionName,
		"cleanup": pipe.CleanupFunctionName, "rollback": pipe.RollbackFunctionName,
	}
	if cfg.SmokeTest.Enabled {
		hooks["smoke"] = pipe.SmokeFunctionName
	}
	ctx.Export("hookFunctionNames", hooks)
	return nil
}

func pipelineTargetGroups(pair [2]service.TargetGroup) (out [2]pipeline.TargetGroup) {
	for i, tg := range pair {
		out[i] = pipeline.TargetGroup{Name: tg.Name, Arn: tg.Arn, ArnSuffix: tg.ArnSuffix}
	}
	return out
}

// containerEnvironment tells the deployed container how the ALB
// recognises tenants, so the application (images/app shows it) attributes
// requests exactly as the tenant rules do, and which path the target groups
// health-check, so a version built to fail its health checks fails that one.
func containerEnvironment(m config.TenantMatch, healthCheckPath string) map[string]string {
	env := map[string]string{"TENANT_MATCH": m.Type, "HEALTH_CHECK_PATH": healthCheckPath}
	switch m.Type {
	case config.MatchPath:
		env["TENANT_PATH_PATTERN"] = m.Pattern
	case config.MatchHeader:
		env["TENANT_HEADER"] = m.Name
	case config.MatchHost:
		env["TENANT_HOST_PATTERN"] = m.Pattern
	}
	return env
}

func targetGroupPairOutput(pair [2]service.TargetGroup) pulumi.Array {
	out := pulumi.Array{}
	for _, tg := range pair {
		out = append(out, pulumi.Map{"name": tg.Name, "arn": tg.Arn})
	}
	return out
}

var notFamilyChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// taskFamily names the task definition family after the project and stack,
// so stacks sharing an account never register into each other's family.
func taskFamily(ctx *pulumi.Context) string {
	return notFamilyChars.ReplaceAllString(ctx.Project()+"-"+ctx.Stack(), "-")
}
