package cloudwatch_test

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

// An error-share alarm (2 of 4 one-minute periods), a target group that
// serves 20 requests a minute, all of them 5xx from minute 3 on, and the
// state CloudWatch sets at the end of each minute when the newest minute
// is not yet published.
func Example() {
	metric := func(id, name string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(cloudwatch.ALBNamespace), MetricName: aws.String(name)},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}
	}
	alarm, err := cloudwatch.Compile(&cw.PutMetricAlarmInput{
		AlarmName:          aws.String("errors"),
		ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold, Threshold: aws.Float64(5),
		EvaluationPeriods: aws.Int32(4), DatapointsToAlarm: aws.Int32(2),
		TreatMissingData: aws.String(cloudwatch.TreatNotBreaching),
		Metrics: []types.MetricDataQuery{
			metric("requests", cloudwatch.MetricRequestCount), metric("errors", cloudwatch.MetricTarget5XX),
			{Id: aws.String("value"), ReturnData: aws.Bool(true),
				Expression: aws.String("IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)")},
		},
	})
	if err != nil {
		panic(err)
	}
	samples := make([]cloudwatch.Sample, 8)
	for m := range samples {
		samples[m] = cloudwatch.Sample{Requests: 20, Targets: 2}
		if m >= 3 {
			samples[m].Target5XX = 20
		}
	}
	newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	state := types.StateValueInsufficientData
	for t := range samples {
		state = alarm.Evaluate(samples, t, newestMissing, state)
		fmt.Println(t, state)
	}
	// Output:
	// 0 OK
	// 1 OK
	// 2 OK
	// 3 OK
	// 4 OK
	// 5 ALARM
	// 6 ALARM
	// 7 ALARM
}
