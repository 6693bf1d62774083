package declared

import (
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwsdk "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

type pDeploymentGroup struct {
	AppName              string `json:"appName"`
	DeploymentGroupName  string `json:"deploymentGroupName"`
	ServiceRoleArn       string `json:"serviceRoleArn"`
	DeploymentConfigName string `json:"deploymentConfigName"`
	DeploymentStyle      struct {
		DeploymentType   string `json:"deploymentType"`
		DeploymentOption string `json:"deploymentOption"`
	} `json:"deploymentStyle"`
	EcsService struct {
		ClusterName string `json:"clusterName"`
		ServiceName string `json:"serviceName"`
	} `json:"ecsService"`
	LoadBalancerInfo struct {
		TargetGroupPairInfo struct {
			ProdTrafficRoute *struct {
				ListenerArns []string `json:"listenerArns"`
			} `json:"prodTrafficRoute"`
			TestTrafficRoute *struct {
				ListenerArns []string `json:"listenerArns"`
			} `json:"testTrafficRoute"`
			TargetGroups []struct {
				Name string `json:"name"`
			} `json:"targetGroups"`
		} `json:"targetGroupPairInfo"`
	} `json:"loadBalancerInfo"`
	BlueGreenDeploymentConfig struct {
		DeploymentReadyOption struct {
			ActionOnTimeout   string `json:"actionOnTimeout"`
			WaitTimeInMinutes int32  `json:"waitTimeInMinutes"`
		} `json:"deploymentReadyOption"`
		TerminateBlueInstancesOnDeploymentSuccess struct {
			Action                       string `json:"action"`
			TerminationWaitTimeInMinutes int32  `json:"terminationWaitTimeInMinutes"`
		} `json:"terminateBlueInstancesOnDeploymentSuccess"`
	} `json:"blueGreenDeploymentConfig"`
	AutoRollbackConfiguration struct {
		Enabled bool     `json:"enabled"`
		Events  []string `json:"events"`
	} `json:"autoRollbackConfiguration"`
	AlarmConfiguration struct {
		Enabled                bool     `json:"enabled"`
		Alarms                 []string `json:"alarms"`
		IgnorePollAlarmFailure bool     `json:"ignorePollAlarmFailure"`
	} `json:"alarmConfiguration"`
}

type pDeploymentConfig struct {
	DeploymentConfigName string `json:"deploymentConfigName"`
	ComputePlatform      string `json:"computePlatform"`
	TrafficRoutingConfig struct {
		Type            string `json:"type"`
		TimeBasedCanary *struct {
			Interval   int32 `json:"interval"`
			Percentage int32 `json:"percentage"`
		} `json:"timeBasedCanary"`
		TimeBasedLinear *struct {
			Interval   int32 `json:"interval"`
			Percentage int32 `json:"percentage"`
		} `json:"timeBasedLinear"`
	} `json:"trafficRoutingConfig"`
}

func (b *builder) codeDeploy(s *Stack) error {
	app, err := b.one(typeApplication)
	if err != nil {
		return err
	}
	s.CodeDeploy.ApplicationName, s.CodeDeploy.ApplicationArn = app.out("name"), app.out("arn")
	platform := cdtypes.ComputePlatform(app.out("computePlatform"))

	configs := map[string]cdtypes.DeploymentConfigInfo{}
	for _, r := range b.byType[typeDeploymentConfig] {
		var p pDeploymentConfig
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		t := p.TrafficRoutingConfig
		routing := &cdtypes.TrafficRoutingConfig{Type: cdtypes.TrafficRoutingType(t.Type)}
		if t.TimeBasedCanary != nil {
			routing.TimeBasedCanary = &cdtypes.TimeBasedCanary{CanaryInterval: t.TimeBasedCanary.Interval, CanaryPercentage: t.TimeBasedCanary.Percentage}
		}
		if t.TimeBasedLinear != nil {
			routing.TimeBasedLinear = &cdtypes.TimeBasedLinear{LinearInterval: t.TimeBasedLinear.Interval, LinearPercentage: t.TimeBasedLinear.Percentage}
		}
		configs[p.DeploymentConfigName] = cdtypes.DeploymentConfigInfo{
			DeploymentConfigName: aws.String(p.DeploymentConfigName),
			ComputePlatform:      cdtypes.ComputePlatform(p.ComputePlatform), TrafficRoutingConfig: routing,
		}
	}
	configs[PredefinedAllAtOnce] = cdtypes.DeploymentConfigInfo{
		DeploymentConfigName: aws.String(PredefinedAllAtOnce), ComputePlatform: cdtypes.ComputePlatformEcs,
		TrafficRoutingConfig: &cdtypes.TrafficRoutingConfig{Type: cdtypes.TrafficRoutingTypeAllAtOnce},
	}

	o := b.in.Outputs
	var configName string
	for _, r := range b.byType[typeDeploymentGroup] {
		var p pDeploymentGroup
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		var role string
		switch p.DeploymentGroupName {
		case o.LatestDeploymentGroupName:
			role = RoleLatest
		case o.StableDeploymentGroupName:
			role = RoleStable
		default:
			return fmt.Errorf("deployment group %s is neither latestDeploymentGroupName nor stableDeploymentGroupName", p.DeploymentGroupName)
		}
		if configName != "" && configName != p.DeploymentConfigName {
			return fmt.Errorf("the deployment groups use different configs, %s and %s", configName, p.DeploymentConfigName)
		}
		configName = p.DeploymentConfigName
		pair := p.LoadBalancerInfo.TargetGroupPairInfo
		info := cdtypes.TargetGroupPairInfo{}
		if pair.ProdTrafficRoute != nil {
			info.ProdTrafficRoute = &cdtypes.TrafficRoute{ListenerArns: pair.ProdTrafficRoute.ListenerArns}
		}
		if pair.TestTrafficRoute != nil {
			info.TestTrafficRoute = &cdtypes.TrafficRoute{ListenerArns: pair.TestTrafficRoute.ListenerArns}
		}
		for _, tg := range pair.TargetGroups {
			info.TargetGroups = append(info.TargetGroups, cdtypes.TargetGroupInfo{Name: aws.String(tg.Name)})
		}
		var events []cdtypes.AutoRollbackEvent
		for _, e := range p.AutoRollbackConfiguration.Events {
			events = append(events, cdtypes.AutoRollbackEvent(e))
		}
		var alarms []cdtypes.Alarm
		for _, a := range p.AlarmConfiguration.Alarms {
			alarms = append(alarms, cdtypes.Alarm{Name: aws.String(a)})
		}
		bg := p.BlueGreenDeploymentConfig
		group := cdtypes.DeploymentGroupInfo{
			ApplicationName: aws.String(p.AppName), DeploymentGroupName: aws.String(p.DeploymentGroupName),
			DeploymentGroupId: aws.String(r.Name + "-id"), ServiceRoleArn: aws.String(p.ServiceRoleArn),
			DeploymentConfigName: aws.String(p.DeploymentConfigName), ComputePlatform: platform,
			DeploymentStyle: &cdtypes.DeploymentStyle{
				DeploymentType: cdtypes.DeploymentType(p.DeploymentStyle.DeploymentType), DeploymentOption: cdtypes.DeploymentOption(p.DeploymentStyle.DeploymentOption),
			},
			EcsServices:      []cdtypes.ECSService{{ClusterName: aws.String(p.EcsService.ClusterName), ServiceName: aws.String(p.EcsService.ServiceName)}},
			LoadBalancerInfo: &cdtypes.LoadBalancerInfo{TargetGroupPairInfoList: []cdtypes.TargetGroupPairInfo{info}},
			BlueGreenDeploymentConfiguration: &cdtypes.BlueGreenDeploymentConfiguration{
				DeploymentReadyOption: &cdtypes.DeploymentReadyOption{
					ActionOnTimeout:   cdtypes.DeploymentReadyAction(bg.DeploymentReadyOption.ActionOnTimeout),
					WaitTimeInMinutes: bg.DeploymentReadyOption.WaitTimeInMinutes,
				},
				TerminateBlueInstancesOnDeploymentSuccess: &cdtypes.BlueInstanceTerminationOption{
					Action:                       cdtypes.InstanceAction(bg.TerminateBlueInstancesOnDeploymentSuccess.Action),
					TerminationWaitTimeInMinutes: bg.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes,
				},
			},
			AutoRollbackConfiguration: &cdtypes.AutoRollbackConfiguration{Enabled: p.AutoRollbackConfiguration.Enabled, Events: events},
			AlarmConfiguration: &cdtypes.AlarmConfiguration{
				Enabled: p.AlarmConfiguration.Enabled, Alarms: alarms, IgnorePollAlarmFailure: p.AlarmConfiguration.IgnorePollAlarmFailure,
			},
		}
		s.CodeDeploy.Groups = append(s.CodeDeploy.Groups, DeploymentGroup{Role: role, Arn: r.out("arn"), Group: group})
	}
	if len(s.CodeDeploy.Groups) != 2 {
		return fmt.Errorf("want the latest and stable deployment groups, the program registered %d", len(s.CodeDeploy.Groups))
	}
	sort.Slice(s.CodeDeploy.Groups, func(i, j int) bool { return s.CodeDeploy.Groups[i].Role == RoleLatest })
	cfg, ok := configs[configName]
	if !ok {
		return fmt.Errorf("the deployment groups use %q, neither a config the program creates nor %s", configName, PredefinedAllAtOnce)
	}
	s.CodeDeploy.DeploymentConfig = cfg
	return nil
}

type pAlarm struct {
	AlarmDescription   string   `json:"alarmDescription"`
	ComparisonOperator string   `json:"comparisonOperator"`
	Threshold          *float64 `json:"threshold"`
	EvaluationPeriods  *int32   `json:"evaluationPeriods"`
	DatapointsToAlarm  *int32   `json:"datapointsToAlarm"`
	TreatMissingData   string   `json:"treatMissingData"`
	ActionsEnabled     *bool    `json:"actionsEnabled"`
	MetricQueries      []struct {
		ID         string `json:"id"`
		Expression string `json:"expression"`
		Label      string `json:"label"`
		ReturnData *bool  `json:"returnData"`
		Period     *int32 `json:"period"`
		Metric     *struct {
			Namespace  string            `json:"namespace"`
			MetricName string            `json:"metricName"`
			Dimensions map[string]string `json:"dimensions"`
			Period     int32             `json:"period"`
			Stat       string            `json:"stat"`
			Unit       string            `json:"unit"`
		} `json:"metric"`
	} `json:"metricQueries"`
	// A single-metric alarm (the program declares none).
	MetricName string `json:"metricName"`
}

// definition is the alarm resource's inputs as PutMetricAlarm takes them.
// Dimensions are sorted by name (Pulumi holds them as a map).
func definition(name string, p pAlarm) (cwsdk.PutMetricAlarmInput, error) {
	if p.MetricName != "" || len(p.MetricQueries) == 0 {
		return cwsdk.PutMetricAlarmInput{}, fmt.Errorf("alarm %s: only metric-math alarms (metricQueries) are declared", name)
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	in := cwsdk.PutMetricAlarmInput{
		AlarmName: aws.String(name), AlarmDescription: opt(p.AlarmDescription),
		ComparisonOperator: cwtypes.ComparisonOperator(p.ComparisonOperator), Threshold: p.Threshold,
		EvaluationPeriods: p.EvaluationPeriods, DatapointsToAlarm: p.DatapointsToAlarm,
		TreatMissingData: opt(p.TreatMissingData), ActionsEnabled: p.ActionsEnabled,
	}
	for _, q := range p.MetricQueries {
		mq := cwtypes.MetricDataQuery{Id: aws.String(q.ID), Label: opt(q.Label), Expression: opt(q.Expression), ReturnData: q.ReturnData, Period: q.Period}
		if m := q.Metric; m != nil {
			var dims []cwtypes.Dimension
			keys := make([]string, 0, len(m.Dimensions))
			for k := range m.Dimensions {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				dims = append(dims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(m.Dimensions[k])})
			}
			mq.MetricStat = &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: aws.String(m.Namespace), MetricName: aws.String(m.MetricName), Dimensions: dims},
				Period: aws.Int32(m.Period), Stat: aws.String(m.Stat),
			}
			if m.Unit != "" {
				mq.MetricStat.Unit = cwtypes.StandardUnit(m.Unit)
			}
		}
		in.Metrics = append(in.Metrics, mq)
	}
	return in, nil
}

func (b *builder) alarms(s *Stack) error {
	watchedBy := map[string]string{}
	var order []string
	for _, g := range s.CodeDeploy.Groups {
		for _, a := range g.Group.AlarmConfiguration.Alarms {
			watchedBy[aws.ToString(a.Name)] = g.Role
			order = append(order, aws.ToString(a.Name))
		}
	}
	tgBySuffix := map[string]string{}
	for _, tg := range s.TargetGroups {
		tgBySuffix[tg.ArnSuffix] = aws.ToString(tg.TargetGroup.TargetGroupArn)
	}
	byName := map[string]Alarm{}
	for _, r := range b.byType[typeMetricAlarm] {
		var p pAlarm
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		def, err := definition(name, p)
		if err != nil {
			return err
		}
		group, ok := watchedBy[name]
		if !ok {
			return fmt.Errorf("alarm %s is watched by no deployment group", name)
		}
		a := Alarm{DeploymentGroup: group, Definition: def}
		for _, q := range def.Metrics {
			if q.MetricStat == nil {
				continue
			}
			for _, d := range q.MetricStat.Metric.Dimensions {
				if aws.ToString(d.Name) == "TargetGroup" {
					a.TargetGroupArn = tgBySuffix[aws.ToString(d.Value)]
				}
			}
		}
		if a.TargetGroupArn == "" {
			return fmt.Errorf("alarm %s reads no target group of the stack (dimension TargetGroup)", name)
		}
		byName[name] = a
	}
	for _, name := range order {
		a, ok := byName[name]
		if !ok {
			return fmt.Errorf("deployment group %s watches alarm %s, which the program does not create", watchedBy[name], name)
		}
		s.Alarms = append(s.Alarms, a)
	}
	return nil
}
