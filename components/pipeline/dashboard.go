package pipeline

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

// targetGroupLabels name the two groups of a pair on the dashboard, as the
// service component names them: [0] is the group a service starts on.
var targetGroupLabels = [2]string{"blue", "green"}

// dashboard creates the stack's CloudWatch dashboard (plan.DashboardBody
// renders it): both target groups of each service side by side, the
// rollback alarms with their thresholds, and requests and errors per tenant
// and version from the task logs.
func (b *builder) dashboard() error {
	a := b.args
	inputs := []interface{}{b.facts.region, a.LoadBalancerArnSuffix, a.LogGroupName}
	tgs := []TargetGroup{a.LatestTargetGroups[0], a.LatestTargetGroups[1], a.StableTargetGroups[0], a.StableTargetGroups[1]}
	for _, tg := range tgs {
		inputs = append(inputs, tg.ArnSuffix)
	}
	for _, al := range b.alarms {
		inputs = append(inputs, al.alarm.Arn)
	}
	alarms := b.alarms
	rollback := a.Rollback
	body := pulumi.All(inputs...).ApplyT(func(v []interface{}) (string, error) {
		pair := func(i int) [2]plan.DashboardTargetGroup {
			return [2]plan.DashboardTargetGroup{
				{Label: targetGroupLabels[0], ArnSuffix: v[3+i].(string)},
				{Label: targetGroupLabels[1], ArnSuffix: v[4+i].(string)},
			}
		}
		d := plan.Dashboard{
			Region: v[0].(string), LoadBalancer: v[1].(string), TaskLogGroup: v[2].(string),
			Services: []plan.DashboardService{
				{Name: string(roleLatest), TargetGroups: pair(0)},
				{Name: string(roleStable), TargetGroups: pair(2)},
			},
			Rollback: rollback,
		}
		for i, al := range alarms {
			d.Alarms = append(d.Alarms, plan.DashboardAlarm{Arn: v[7+i].(string), Title: al.title()})
		}
		return plan.DashboardBody(d)
	}).(pulumi.StringOutput)
	name := b.physical(255, "rollout")
	dash, err := cloudwatch.NewDashboard(b.ctx, b.child("dashboard"), &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name),
		DashboardBody: body,
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create dashboard: %w", err)
	}
	b.dashboardURL = pulumi.All(b.facts.region, dash.DashboardName).ApplyT(func(v []interface{}) string {
		return plan.DashboardURL(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)
	return nil
}

// title names an alarm on the dashboard: service, target group, signal.
func (r rollbackAlarm) title() string {
	return fmt.Sprintf("%s (%s) %s", r.service, targetGroupLabels[r.pairIndex], r.signal)
}
