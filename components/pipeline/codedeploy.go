package pipeline

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/codedeploy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

func (b *builder) application() error {
	app, err := codedeploy.NewApplication(b.ctx, b.child("app"), &codedeploy.ApplicationArgs{
		Name:            pulumi.String(b.physical(100, "app")),
		ComputePlatform: pulumi.String("ECS"),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create codedeploy application: %w", err)
	}
	b.app = app
	b.groupNames = map[serviceRole]string{
		roleLatest: b.physical(100, "latest"),
		roleStable: b.physical(100, "stable"),
	}
	return nil
}

func (b *builder) deploymentConfig() (pulumi.StringOutput, error) {
	r, err := plan.Routing(b.args.Traffic)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if r.Predefined != "" {
		return pulumi.String(r.Predefined).ToStringOutput(), nil
	}
	routingArgs := &codedeploy.DeploymentConfigTrafficRoutingConfigArgs{Type: pulumi.String(r.Type)}
	interval, percentage := pulumi.IntPtr(r.IntervalMinutes), pulumi.IntPtr(r.Percentage)
	switch r.Type {
	case plan.RoutingCanary:
		routingArgs.TimeBasedCanary = &codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs{Interval: interval, Percentage: percentage}
	case plan.RoutingLinear:
		routingArgs.TimeBasedLinear = &codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedLinearArgs{Interval: interval, Percentage: percentage}
	}
	// The name carries the plan, so a traffic change replaces the config
	// (CodeDeploy configs are immutable) without a name clash.
	cfgName := b.physical(100, fmt.Sprintf("%s-%d-%d", strings.ToLower(strings.TrimPrefix(r.Type, "TimeBased")), r.Percentage, r.IntervalMinutes))
	cfg, err := codedeploy.NewDeploymentConfig(b.ctx, b.child("deploy-config"), &codedeploy.DeploymentConfigArgs{
		DeploymentConfigName: pulumi.String(cfgName),
		ComputePlatform:      pulumi.String("ECS"),
		TrafficRoutingConfig: routingArgs,
	}, b.parent)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("create deployment config: %w", err)
	}
	return cfg.DeploymentConfigName, nil
}

func (b *builder) deploymentGroups() error {
	a := b.args
	cfgName, err := b.deploymentConfig()
	if err != nil {
		return err
	}
	b.deployConfigName = cfgName

	role, err := b.newRole("codedeploy", plan.ServiceCodeDeploy)
	if err != nil {
		return err
	}
	// With the smoke test on, CodeDeploy also invokes the smoke hook and
	// points the test listeners at the replacement target groups.
	empty := pulumi.String("").ToStringOutput()
	smokeArn, latestTest, stableTest := empty, empty, empty
	if h, ok := b.hooks[HookSmoke]; ok {
		smokeArn = h.fn.Arn
		latestTest, stableTest = b.testListeners[roleLatest].Arn, b.testListeners[roleStable].Arn
	}
	doc := b.facts.with(func(st plan.Stack, v []interface{}) (string, error) {
		role := plan.CodeDeployRole{
			ClusterArn: v[0].(string), ServiceNames: []string{v[1].(string), v[2].(string)},
			ListenerArn: v[3].(string), HookFunctionArns: []string{v[4].(string), v[5].(string)},
			BucketArn: v[6].(string), TaskRoleArns: []string{v[7].(string), v[8].(string)},
		}
		if smoke := v[9].(string); smoke != "" {
			role.HookFunctionArns = append(role.HookFunctionArns, smoke)
			role.TestListenerArns = []string{v[10].(string), v[11].(string)}
		}
		d, err := role.Policy()
		return d.JSON(), err
	}, a.ClusterArn, a.LatestServiceName, a.StableServiceName, a.ListenerArn,
		b.hooks[HookPin].fn.Arn, b.hooks[HookUnpin].fn.Arn, b.bucket.Arn, a.TaskExecutionRoleArn, a.TaskRoleArn,
		smokeArn, latestTest, stableTest)
	policy, err := b.rolePolicy("codedeploy", role, doc)
	if err != nil {
		return err
	}

	b.groups = map[serviceRole]*codedeploy.DeploymentGroup{}
	for _, svc := range []struct {
		role    serviceRole
		service pulumi.StringInput
		tgs     [2]TargetGroup
	}{
		{roleLatest, a.LatestServiceName, a.LatestTargetGroups},
		{roleStable, a.StableServiceName, a.StableTargetGroups},
	} {
		// Either group of a blue/green pair can be the new version's: they
		// swap roles with every deployment. Each group gets its own rollback
		// alarms and this service's deployments watch those of both groups;
		// the idle group of the pair serves no traffic and has no targets,
		// so its alarms see no data (notBreaching) and never fire, while the
		// group receiving the new version is always watched.
		var alarmNames pulumi.StringArray
		for i, tg := range svc.tgs {
			names, err := b.rollbackAlarms(svc.role, i, tg)
			if err != nil {
				return err
			}
			alarmNames = append(alarmNames, names...)
		}
		pairInfo := &codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs{
			ProdTrafficRoute: &codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs{
				ListenerArns: pulumi.StringArray{a.ListenerArn},
			},
			TargetGroups: codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArray{
				&codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs{Name: svc.tgs[0].Name},
				&codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs{Name: svc.tgs[1].Name},
			},
		}
		if l, ok := b.testListeners[svc.role]; ok {
			pairInfo.TestTrafficRoute = &codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRouteArgs{
				ListenerArns: pulumi.StringArray{l.Arn},
			}
		}
		group, err := codedeploy.NewDeploymentGroup(b.ctx, b.child(string(svc.role)+"-group"), &codedeploy.DeploymentGroupArgs{
			AppName:              b.app.Name,
			DeploymentGroupName:  pulumi.String(b.groupNames[svc.role]),
			ServiceRoleArn:       role.Arn,
			DeploymentConfigName: cfgName,
			DeploymentStyle: &codedeploy.DeploymentGroupDeploymentStyleArgs{
				DeploymentType:   pulumi.String("BLUE_GREEN"),
				DeploymentOption: pulumi.String("WITH_TRAFFIC_CONTROL"),
			},
			EcsService: &codedeploy.DeploymentGroupEcsServiceArgs{
				ClusterName: a.ClusterName,
				ServiceName: svc.service,
			},
			LoadBalancerInfo: &codedeploy.DeploymentGroupLoadBalancerInfoArgs{TargetGroupPairInfo: pairInfo},
			BlueGreenDeploymentConfig: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigArgs{
				DeploymentReadyOption: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs{
					ActionOnTimeout: pulumi.String("CONTINUE_DEPLOYMENT"),
				},
				TerminateBlueInstancesOnDeploymentSuccess: &codedeploy.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs{
					Action:                       pulumi.String("TERMINATE"),
					TerminationWaitTimeInMinutes: pulumi.Int(a.Traffic.TerminationWaitMinutes),
				},
			},
			AutoRollbackConfiguration: &codedeploy.DeploymentGroupAutoRollbackConfigurationArgs{
				Enabled: pulumi.Bool(true),
				Events:  pulumi.StringArray{pulumi.String("DEPLOYMENT_FAILURE"), pulumi.String("DEPLOYMENT_STOP_ON_ALARM")},
			},
			AlarmConfiguration: &codedeploy.DeploymentGroupAlarmConfigurationArgs{
				Enabled: pulumi.Bool(true),
				Alarms:  alarmNames,
			},
		}, b.parent, pulumi.DependsOn([]pulumi.Resource{policy}))
		if err != nil {
			return fmt.Errorf("create %s deployment group: %w", svc.role, err)
		}
		b.groups[svc.role] = group
	}
	return nil
}
