package pipeline

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
)

// rollbackAlarms creates one alarm per rollback signal for one target
// group (plan.RollbackAlarms declares their metric math, thresholds and
// missing-data treatment; internal/cloudwatch evaluates the same
// declaration through plan.Alarm.Definition) and returns their names, for the deployment
// group's alarm configuration. Every metric is read with the dimensions
// TargetGroup and LoadBalancer, under which the load balancer publishes
// each of them per target group (Elastic Load Balancing user guide,
// "CloudWatch metrics for your Application Load Balancer").
func (b *builder) rollbackAlarms(service serviceRole, pairIndex int, tg TargetGroup) (pulumi.StringArray, error) {
	suffix := fmt.Sprintf("%s-tg%d", service, pairIndex)
	dims := pulumi.StringMap{"LoadBalancer": b.args.LoadBalancerArnSuffix, "TargetGroup": tg.ArnSuffix}
	var names pulumi.StringArray
	for _, spec := range plan.RollbackAlarms(b.args.Rollback) {
		var queries cloudwatch.MetricAlarmMetricQueryArray
		for _, q := range spec.Queries {
			query := &cloudwatch.MetricAlarmMetricQueryArgs{
				Id:         pulumi.String(q.ID),
				ReturnData: pulumi.Bool(q.ReturnData),
			}
			if q.Label != "" {
				query.Label = pulumi.String(q.Label)
			}
			if q.Expression != "" {
				query.Expression = pulumi.String(q.Expression)
			} else {
				query.Metric = &cloudwatch.MetricAlarmMetricQueryMetricArgs{
					Namespace: pulumi.String(plan.ALBNamespace), MetricName: pulumi.String(q.MetricName),
					Dimensions: dims, Period: pulumi.Int(spec.PeriodSeconds), Stat: pulumi.String(q.Stat),
				}
			}
			queries = append(queries, query)
		}
		alarm, err := cloudwatch.NewMetricAlarm(b.ctx, b.child(suffix+"-"+spec.Signal), &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   tg.Name.ToStringOutput().ApplyT(spec.Description).(pulumi.StringOutput),
			ComparisonOperator: pulumi.String(string(spec.ComparisonOperator)),
			Threshold:          pulumi.Float64(spec.Threshold),
			EvaluationPeriods:  pulumi.Int(spec.EvaluationPeriods),
			DatapointsToAlarm:  pulumi.Int(spec.DatapointsToAlarm),
			TreatMissingData:   pulumi.String(spec.TreatMissingData),
			MetricQueries:      queries,
		}, b.parent)
		if err != nil {
			return nil, fmt.Errorf("create %s %s alarm: %w", suffix, spec.Signal, err)
		}
		b.alarms = append(b.alarms, rollbackAlarm{service: service, pairIndex: pairIndex, signal: spec.Signal, alarm: alarm})
		names = append(names, alarm.Name)
	}
	return names, nil
}
