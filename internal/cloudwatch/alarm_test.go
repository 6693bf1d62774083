package cloudwatch_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

func metricQuery(id, name, stat string, period int32) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String(cloudwatch.ALBNamespace), MetricName: aws.String(name),
			Dimensions: []types.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String("targetgroup/tg/0123456789abcdef")}}},
		Period: aws.Int32(period), Stat: aws.String(stat)}}
}

func returned(q types.MetricDataQuery) types.MetricDataQuery {
	q.ReturnData = aws.Bool(true)
	return q
}

func expression(id, src string) types.MetricDataQuery {
	return types.MetricDataQuery{Id: aws.String(id), Expression: aws.String(src), ReturnData: aws.Bool(true)}
}

// unhealthyAlarm alarms on UnHealthyHostCount (Minimum) above 0: a minute
// is breaching (X), not breaching (0) or missing (-) as the tables of the
// user guide write it.
func unhealthyAlarm(t *testing.T, m, n int32, treat string) *cloudwatch.Alarm {
	t.Helper()
	a, err := cloudwatch.Compile(&cw.PutMetricAlarmInput{
		AlarmName: aws.String("unhealthy"), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		Threshold: aws.Float64(0), EvaluationPeriods: aws.Int32(n), DatapointsToAlarm: aws.Int32(m),
		TreatMissingData: aws.String(treat),
		Metrics:          []types.MetricDataQuery{returned(metricQuery("unhealthy", cloudwatch.MetricUnHealthyHostCount, "Minimum", 60))},
	})
	require.NoError(t, err)
	return a
}

// minutes turns "0 - X - X" into samples, oldest first.
func minutes(row string) []cloudwatch.Sample {
	var out []cloudwatch.Sample
	for _, f := range strings.Fields(row) {
		switch f {
		case "X":
			out = append(out, cloudwatch.Sample{Targets: 2, Unhealthy: 1, UnhealthyAnyNode: 1})
		case "0":
			out = append(out, cloudwatch.Sample{Targets: 2})
		default:
			out = append(out, cloudwatch.Sample{})
		}
	}
	return out
}

// The two tables of "How alarm state is evaluated when data is missing"
// (evaluation range 5, the wide reading), every column.
func TestEvaluateReproducesTheUserGuidesMissingDataTables(t *testing.T) {
	const retain = "retain"
	treats := []string{cloudwatch.TreatMissing, cloudwatch.TreatIgnore, cloudwatch.TreatBreaching, cloudwatch.TreatNotBreaching}
	for _, tc := range []struct {
		m, n int32
		row  string
		want [4]string // missing, ignore, breaching, notBreaching
	}{
		{3, 3, "0 - X - X", [4]string{"OK", "OK", "OK", "OK"}},
		{3, 3, "0 - - - -", [4]string{"OK", "OK", "OK", "OK"}},
		{3, 3, "- - - - -", [4]string{"INSUFFICIENT_DATA", retain, "ALARM", "OK"}},
		{3, 3, "0 X X - X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
		{3, 3, "- - X - -", [4]string{"ALARM", retain, "ALARM", "OK"}},
		{2, 3, "0 - X - X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
		{2, 3, "0 0 X 0 X", [4]string{"ALARM", "ALARM", "ALARM", "ALARM"}},
		{2, 3, "0 - X - -", [4]string{"OK", "OK", "ALARM", "OK"}},
		{2, 3, "- - - - 0", [4]string{"OK", "OK", "ALARM", "OK"}},
		{2, 3, "- - - X -", [4]string{"ALARM", retain, "ALARM", "OK"}},
	} {
		samples := minutes(tc.row)
		for i, treat := range treats {
			a := unhealthyAlarm(t, tc.m, tc.n, treat)
			for _, prev := range []types.StateValue{types.StateValueOk, types.StateValueAlarm} {
				want := types.StateValue(tc.want[i])
				if tc.want[i] == retain {
					want = prev
				}
				got := a.Evaluate(samples, len(samples)-1, cloudwatch.Reading{WideRange: true}, prev)
				assert.Equal(t, want, got, "%d of %d, %q, %s, from %s", tc.m, tc.n, tc.row, treat, prev)
			}
		}
	}
}

// "the alarm does not go immediately into ALARM state when the data is
// - - - - X or - - - X - and Datapoints to Alarm is 3".
func TestEvaluateAvoidsPrematureAlarm(t *testing.T) {
	a := unhealthyAlarm(t, 3, 3, cloudwatch.TreatMissing)
	for _, row := range []string{"- - - - X", "- - - X -"} {
		s := minutes(row)
		assert.Equal(t, types.StateValueOk, a.Evaluate(s, len(s)-1, cloudwatch.Reading{WideRange: true}, types.StateValueOk), row)
	}
}

func TestEvaluationRangeAndPublicationDelay(t *testing.T) {
	a := unhealthyAlarm(t, 2, 2, cloudwatch.TreatNotBreaching)
	s := minutes("X X")
	// Published at once: both minutes breach at the end of minute 1.
	assert.Equal(t, types.StateValueAlarm, a.Evaluate(s, 1, cloudwatch.Reading{}, types.StateValueOk))
	// Newest minute missing: only minute 0 is visible at the end of minute
	// 1; one breaching datapoint, the other filled as not breaching.
	late := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	assert.Equal(t, types.StateValueOk, a.Evaluate(s, 1, late, types.StateValueOk))
	// A minute later both are visible, and the missing newest minute is
	// skipped: the two most recent real datapoints decide.
	s = append(s, cloudwatch.Sample{Targets: 2, Unhealthy: 1})
	assert.Equal(t, types.StateValueAlarm, a.Evaluate(s, 2, late, types.StateValueOk))
	// Real datapoints older than the range are not retrieved: with the
	// narrow range (N+1 = 3) the two breaching minutes 0 and 1 are out of
	// reach at the end of minute 4 when minutes 2 to 4 are empty.
	s = minutes("X X - - -")
	assert.Equal(t, types.StateValueOk, a.Evaluate(s, 4, cloudwatch.Reading{}, types.StateValueAlarm))
	assert.Equal(t, types.StateValueOk, a.Evaluate(s, 4, cloudwatch.Reading{WideRange: true}, types.StateValueAlarm))
	assert.Equal(t, types.StateValueAlarm, a.Evaluate(minutes("X X - -"), 3, cloudwatch.Reading{WideRange: true}, types.StateValueOk),
		"the wide range (4) still reaches minute 0")
}

func TestUnHealthyHostCountStatistics(t *testing.T) {
	// One node sees a target unhealthy, the others do not.
	s := []cloudwatch.Sample{{Targets: 2, Unhealthy: 0, UnhealthyAnyNode: 1}}
	for stat, want := range map[string]float64{"Minimum": 0, "Maximum": 1} {
		a, err := cloudwatch.Compile(&cw.PutMetricAlarmInput{
			AlarmName: aws.String("u"), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
			Threshold: aws.Float64(0), EvaluationPeriods: aws.Int32(1),
			Metrics: []types.MetricDataQuery{returned(metricQuery("u", cloudwatch.MetricUnHealthyHostCount, stat, 60))},
		})
		require.NoError(t, err)
		v, ok := a.Datapoint(s, 0, 0, cloudwatch.Reading{})
		require.True(t, ok)
		assert.Equal(t, want, v, stat)
	}
}

func TestLongerPeriodsAggregateTheirMinutes(t *testing.T) {
	a, err := cloudwatch.Compile(&cw.PutMetricAlarmInput{
		AlarmName: aws.String("share"), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
		Threshold: aws.Float64(5), EvaluationPeriods: aws.Int32(1), TreatMissingData: aws.String(cloudwatch.TreatNotBreaching),
		Metrics: []types.MetricDataQuery{
			metricQuery("requests", cloudwatch.MetricRequestCount, "Sum", 120),
			metricQuery("errors", cloudwatch.MetricTarget5XX, "Sum", 120),
			expression("value", "100 * FILL(errors, 0) / requests"),
		},
	})
	require.NoError(t, err)
	assert.Equal(t, 2, a.PeriodMinutes())
	s := []cloudwatch.Sample{{Requests: 10, Target5XX: 3}, {Requests: 30, Target5XX: 1}}
	v, ok := a.Datapoint(s, 1, 1, cloudwatch.Reading{})
	require.True(t, ok)
	assert.InDelta(t, 10.0, v, 1e-9, "4 errors in 40 requests over the 2-minute period")
	// With the newest minute unpublished, the period holds minute 0 only.
	v, ok = a.Datapoint(s, 1, 1, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})
	require.True(t, ok)
	assert.InDelta(t, 30.0, v, 1e-9)
}

func TestCompileRejectsDefinitionsTheModelWouldMisread(t *testing.T) {
	good := func() *cw.PutMetricAlarmInput {
		return &cw.PutMetricAlarmInput{
			AlarmName: aws.String("a"), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
			Threshold: aws.Float64(1), EvaluationPeriods: aws.Int32(3), DatapointsToAlarm: aws.Int32(2),
			TreatMissingData: aws.String(cloudwatch.TreatNotBreaching),
			Metrics: []types.MetricDataQuery{
				metricQuery("requests", cloudwatch.MetricRequestCount, "Sum", 60),
				expression("value", "FILL(requests, 0)"),
			},
		}
	}
	_, err := cloudwatch.Compile(good())
	require.NoError(t, err)
	for name, breakIt := range map[string]func(*cw.PutMetricAlarmInput){
		"M above N":    func(in *cw.PutMetricAlarmInput) { in.DatapointsToAlarm = aws.Int32(4) },
		"no threshold": func(in *cw.PutMetricAlarmInput) { in.Threshold = nil },
		"anomaly operator": func(in *cw.PutMetricAlarmInput) {
			in.ComparisonOperator = types.ComparisonOperatorGreaterThanUpperThreshold
		},
		"unknown treatment": func(in *cw.PutMetricAlarmInput) { in.TreatMissingData = aws.String("notbreaching") },
		"two returned":      func(in *cw.PutMetricAlarmInput) { in.Metrics[0].ReturnData = nil },
		"none returned":     func(in *cw.PutMetricAlarmInput) { in.Metrics[1].ReturnData = aws.Bool(false) },
		"unknown metric": func(in *cw.PutMetricAlarmInput) {
			in.Metrics[0].MetricStat.Metric.MetricName = aws.String("HTTPCode_ELB_5XX_Count")
		},
		"count as Average":   func(in *cw.PutMetricAlarmInput) { in.Metrics[0].MetricStat.Stat = aws.String("Average") },
		"30 s period":        func(in *cw.PutMetricAlarmInput) { in.Metrics[0].MetricStat.Period = aws.Int32(30) },
		"more than a day":    func(in *cw.PutMetricAlarmInput) { in.EvaluationPeriods = aws.Int32(1441) },
		"unknown id":         func(in *cw.PutMetricAlarmInput) { in.Metrics[1].Expression = aws.String("FILL(reqs, 0)") },
		"unmodelled func":    func(in *cw.PutMetricAlarmInput) { in.Metrics[1].Expression = aws.String("RATE(requests)") },
		"other namespace":    func(in *cw.PutMetricAlarmInput) { in.Metrics[0].MetricStat.Metric.Namespace = aws.String("AWS/ECS") },
		"single-metric form": func(in *cw.PutMetricAlarmInput) { in.Metrics = nil },
	} {
		in := good()
		breakIt(in)
		_, err := cloudwatch.Compile(in)
		assert.Error(t, err, name)
	}
}

func TestReadingsCoverEveryDelayGapAndRange(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range cloudwatch.Readings {
		seen[r.String()] = true
		assert.LessOrEqual(t, max(r.RequestsLate, r.CountsLate), cloudwatch.MaxLateMinutes)
	}
	assert.Len(t, seen, len(cloudwatch.Delays)*4, "distinct readings")
	assert.True(t, seen["requests+1m,counts+1m,gap-missing,range-N+1"], "the newest minute missing")
	assert.True(t, seen["requests+2m,counts+2m,gap-as-zero,range-N+2"])
}
