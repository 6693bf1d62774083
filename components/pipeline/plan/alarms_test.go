package plan_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/pipeline/stoptime"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

func alarmsBySignal(t *testing.T, r config.Rollback) map[string]plan.Alarm {
	t.Helper()
	out := map[string]plan.Alarm{}
	for _, a := range plan.RollbackAlarms(r) {
		require.NotContains(t, out, a.Signal, "one alarm per signal")
		out[a.Signal] = a
	}
	return out
}

// compiled is the alarm as the CloudWatch model evaluates it, from the
// same declaration the Pulumi resource is made of.
func compiled(t testing.TB, a plan.Alarm) *cloudwatch.Alarm {
	t.Helper()
	c, err := cloudwatch.Compile(a.Definition("tc-"+a.Signal, "app/alb/50dc6c495c0c9188", "targetgroup/tg/73e2d6bc24d8a067"))
	require.NoError(t, err, a.Signal)
	return c
}

func TestRollbackAlarmsFitCodeDeploysLimitForBothTargetGroups(t *testing.T) {
	alarms := plan.RollbackAlarms(config.Defaults().Rollback)
	assert.Len(t, alarms, len(plan.Signals), "every signal is on by default")
	assert.LessOrEqual(t, 2*len(alarms), plan.MaxAlarmsPerDeploymentGroup, "each group watches both target groups of its pair")
	for _, a := range alarms {
		assert.Equal(t, "notBreaching", a.TreatMissingData, a.Signal)
		assert.Equal(t, types.ComparisonOperatorGreaterThanThreshold, a.ComparisonOperator, a.Signal)
		assert.Equal(t, 4, a.EvaluationPeriods, a.Signal, "evaluationPeriods + 2 periods looked at")
		assert.Equal(t, 2, a.DatapointsToAlarm, a.Signal, "evaluationPeriods of them breaching")
		assert.Equal(t, 60, a.PeriodSeconds, a.Signal)
		returned := 0
		for _, q := range a.Queries {
			if q.ReturnData {
				returned++
				assert.NotEmpty(t, q.Label, a.Signal)
			}
			if q.Expression == "" {
				assert.NotEmpty(t, q.MetricName, a.Signal)
				assert.NotEmpty(t, q.Stat, a.Signal)
			}
		}
		assert.Equal(t, 1, returned, "%s compares exactly one series", a.Signal)
		compiled(t, a) // every id resolves, every metric and statistic is one CloudWatch has
	}
	off := config.Defaults().Rollback
	off.MaxLatencyMs = 0
	assert.NotContains(t, alarmsBySignal(t, off), plan.SignalLatency, "maxLatencyMs 0 turns the latency alarm off")
}

func TestRollbackAlarmMetricsAndThresholds(t *testing.T) {
	r := config.Rollback{Max5xxPercent: 1.5, PeriodSeconds: 120, EvaluationPeriods: 3, MinRequests: 50,
		MaxLatencyMs: 800, LatencyPercentile: "p99.9", MaxUnhealthyTargets: 1, MaxConnectionErrors: 4}
	a := alarmsBySignal(t, r)
	metrics := func(al plan.Alarm) map[string]string {
		m := map[string]string{}
		for _, q := range al.Queries {
			if q.MetricName != "" {
				m[q.MetricName] = q.Stat
			}
		}
		return m
	}
	assert.Equal(t, map[string]string{"HTTPCode_Target_5XX_Count": "Sum", "TargetConnectionErrorCount": "Sum", "RequestCount": "Sum"}, metrics(a[plan.SignalErrors]))
	assert.Equal(t, 1.5, a[plan.SignalErrors].Threshold)
	assert.Equal(t, map[string]string{"TargetConnectionErrorCount": "Sum"}, metrics(a[plan.SignalConnectionErrors]))
	assert.Equal(t, 4.0, a[plan.SignalConnectionErrors].Threshold)
	assert.Equal(t, map[string]string{"TargetResponseTime": "p99.9", "RequestCount": "Sum"}, metrics(a[plan.SignalLatency]))
	assert.Equal(t, 800.0, a[plan.SignalLatency].Threshold, "milliseconds")
	assert.Equal(t, map[string]string{"UnHealthyHostCount": "Minimum"}, metrics(a[plan.SignalUnhealthy]), "the statistic AWS recommends for alarming")
	assert.Equal(t, 1.0, a[plan.SignalUnhealthy].Threshold)
	for _, al := range a {
		assert.Equal(t, 120, al.PeriodSeconds)
		assert.Equal(t, 5, al.EvaluationPeriods)
		assert.Equal(t, 3, al.DatapointsToAlarm)
		def := al.Definition("n", "app/alb/1", "targetgroup/tg/1")
		assert.Equal(t, int32(5), *def.EvaluationPeriods)
		assert.Equal(t, int32(3), *def.DatapointsToAlarm)
		assert.Contains(t, *def.AlarmDescription, "in 3 of 5 periods of 120s")
	}
	// The request count that gates a ratio is never FILLed: a period whose
	// RequestCount is not published yet has no datapoint instead of a 0.
	assert.Equal(t, "IF(requests >= 50, 100 * (FILL(errors, 0) + FILL(connerrors, 0)) / requests, 0)", plan.ErrorShareExpression(50))
	assert.Equal(t, "IF(requests >= 50, 1000 * latency, 0)", plan.LatencyExpression(50))
	assert.Contains(t, plan.ErrorShareExpression(0), ">= 1,", "never divides by zero")
}

// minutes builds one sample per minute (oldest first) from id/value
// pairs: requests, errors, connerrors, latency (seconds), unhealthy.
func minute(kv ...any) cloudwatch.Sample {
	s := cloudwatch.Sample{Targets: 2}
	for i := 0; i < len(kv); i += 2 {
		v := float64(kv[i+1].(int))
		switch kv[i].(string) {
		case "requests":
			s.Requests = v
		case "errors":
			s.Target5XX = v
		case "connerrors":
			s.ConnectionErrors = v
		case "latency":
			s.ResponseTime = v
		case "unhealthy":
			s.Unhealthy, s.UnhealthyAnyNode = v, v
		}
	}
	return s
}

// fires says whether the alarm reaches ALARM while samples are served and
// until the last of them is published, under reading r.
func fires(a *cloudwatch.Alarm, samples []cloudwatch.Sample, r cloudwatch.Reading) bool {
	_, ok := a.FirstAlarm(samples, 0, len(samples)-1+cloudwatch.MaxLateMinutes, r)
	return ok
}

func TestRollbackAlarmsFireOnlyWhenTheyShould(t *testing.T) {
	r := config.Defaults().Rollback // 5 %, 2 of 4 × 60 s, 20 requests, p99 2000 ms, 0 unhealthy, 0 connection errors
	a := alarmsBySignal(t, r)
	s := minute
	for _, tc := range []struct {
		name    string
		signal  string
		samples []cloudwatch.Sample
		want    bool
	}{
		// Error share.
		{"errors: healthy traffic", plan.SignalErrors, []cloudwatch.Sample{s("requests", 1000, "errors", 3), s("requests", 1000, "errors", 4), s("requests", 1000, "errors", 4)}, false},
		{"errors: 10% 5xx twice", plan.SignalErrors, []cloudwatch.Sample{s("requests", 100, "errors", 10), s("requests", 100, "errors", 10)}, true},
		{"errors: 10% 5xx once, then clean", plan.SignalErrors, []cloudwatch.Sample{s("requests", 100, "errors", 10), s("requests", 100), s("requests", 100), s("requests", 100)}, false},
		{"errors: 10% 5xx twice, three clean minutes apart", plan.SignalErrors, []cloudwatch.Sample{s("requests", 100, "errors", 10), s("requests", 100), s("requests", 100), s("requests", 100), s("requests", 100, "errors", 10)}, false},
		{"errors: connection errors count as failures", plan.SignalErrors, []cloudwatch.Sample{s("requests", 100, "connerrors", 6), s("requests", 100, "connerrors", 3, "errors", 3)}, true},
		{"errors: too few requests never fire", plan.SignalErrors, []cloudwatch.Sample{s("requests", 2, "errors", 2), s("requests", 19, "errors", 19), s("requests", 19, "errors", 19)}, false},
		{"errors: exactly the floor counts", plan.SignalErrors, []cloudwatch.Sample{s("requests", 20, "errors", 2), s("requests", 20, "errors", 2)}, true},
		{"errors: no data (idle group)", plan.SignalErrors, []cloudwatch.Sample{{}, {}, {}}, false},
		{"errors: exactly at the threshold", plan.SignalErrors, []cloudwatch.Sample{s("requests", 100, "errors", 5), s("requests", 100, "errors", 5)}, false},
		// Connection errors: no minimum traffic.
		{"connection errors: a dead task set with little traffic", plan.SignalConnectionErrors, []cloudwatch.Sample{s("requests", 2, "connerrors", 2), s("requests", 1, "connerrors", 1)}, true},
		{"connection errors: none published", plan.SignalConnectionErrors, []cloudwatch.Sample{s("requests", 500), s("requests", 500)}, false},
		{"connection errors: one blip", plan.SignalConnectionErrors, []cloudwatch.Sample{s("connerrors", 1), {}, {}}, false},
		// Latency (seconds in, milliseconds compared).
		{"latency: fast", plan.SignalLatency, []cloudwatch.Sample{s("requests", 100, "latency", 0), s("requests", 100, "latency", 1)}, false},
		{"latency: ten times too slow", plan.SignalLatency, []cloudwatch.Sample{s("requests", 100, "latency", 3), s("requests", 100, "latency", 20)}, true},
		{"latency: slow but too few requests", plan.SignalLatency, []cloudwatch.Sample{s("requests", 5, "latency", 30), s("requests", 5, "latency", 30)}, false},
		{"latency: no data", plan.SignalLatency, []cloudwatch.Sample{{}, {}}, false},
		// Unhealthy targets: no minimum traffic.
		{"unhealthy: a crashing task set without traffic", plan.SignalUnhealthy, []cloudwatch.Sample{s("unhealthy", 2), s("unhealthy", 1)}, true},
		{"unhealthy: all healthy", plan.SignalUnhealthy, []cloudwatch.Sample{s("unhealthy", 0), s("unhealthy", 0)}, false},
		{"unhealthy: one period only", plan.SignalUnhealthy, []cloudwatch.Sample{s("unhealthy", 0), s("unhealthy", 2), s(), s()}, false},
		{"unhealthy: one node's view only", plan.SignalUnhealthy, []cloudwatch.Sample{{Targets: 2, UnhealthyAnyNode: 1}, {Targets: 2, UnhealthyAnyNode: 1}}, false},
		{"unhealthy: no targets (stable at zero)", plan.SignalUnhealthy, []cloudwatch.Sample{{}, {}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alarm := compiled(t, a[tc.signal])
			for _, reading := range cloudwatch.Readings {
				assert.Equal(t, tc.want, fires(alarm, tc.samples, reading), reading.String())
			}
		})
	}
}

// evaluationPeriods breaching periods need not be consecutive while the
// datapoints arrive in time; when the newest two minutes are missing and
// read as 0, only evaluationPeriods of the last evaluationPeriods + 2 are
// real, so the breaches must be consecutive. Either way a version that
// keeps failing is stopped; an intermittent one is caught only in the
// first case.
func TestNonConsecutiveBreachesFireOnlyWhileMinutesArriveInTime(t *testing.T) {
	alarm := compiled(t, alarmsBySignal(t, config.Defaults().Rollback)[plan.SignalErrors])
	s := minute
	gapped := []cloudwatch.Sample{s("requests", 100, "errors", 10), s("requests", 100), s("requests", 100, "errors", 10)}
	assert.True(t, fires(alarm, gapped, cloudwatch.Reading{}))
	assert.True(t, fires(alarm, gapped, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}))
	assert.False(t, fires(alarm, gapped, cloudwatch.Reading{RequestsLate: 2, CountsLate: 2, GapAsZero: true}))
}

// Today's alarms before the redesign, literally as PutMetricAlarm took
// them for the default config: every metric FILLed, and 2 of 2 periods.
func oldAlarms() map[string]*cw.PutMetricAlarmInput {
	metric := func(id, name, stat string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(name)},
			Period: aws.Int32(60), Stat: aws.String(stat)}}
	}
	value := func(expr string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String("value"), Expression: aws.String(expr), ReturnData: aws.Bool(true)}
	}
	alarm := func(threshold float64, q ...types.MetricDataQuery) *cw.PutMetricAlarmInput {
		return &cw.PutMetricAlarmInput{AlarmName: aws.String("old"), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
			Threshold: aws.Float64(threshold), EvaluationPeriods: aws.Int32(2), DatapointsToAlarm: aws.Int32(2),
			TreatMissingData: aws.String("notBreaching"), Metrics: q}
	}
	return map[string]*cw.PutMetricAlarmInput{
		plan.SignalErrors: alarm(5,
			metric("errors", "HTTPCode_Target_5XX_Count", "Sum"), metric("connerrors", "TargetConnectionErrorCount", "Sum"), metric("requests", "RequestCount", "Sum"),
			value("IF(FILL(requests, 0) >= 20, 100 * (FILL(errors, 0) + FILL(connerrors, 0)) / FILL(requests, 0), 0)")),
		plan.SignalConnectionErrors: alarm(0, metric("connerrors", "TargetConnectionErrorCount", "Sum"), value("FILL(connerrors, 0)")),
		plan.SignalLatency: alarm(2000, metric("latency", "TargetResponseTime", "p99"), metric("requests", "RequestCount", "Sum"),
			value("IF(FILL(requests, 0) >= 20, 1000 * FILL(latency, 0), 0)")),
		plan.SignalUnhealthy: alarm(0, metric("unhealthy", "UnHealthyHostCount", "Maximum"), value("FILL(unhealthy, 0)")),
	}
}

// faultOf is the fault each signal's alarm exists for.
var faultOf = map[string]stoptime.Fault{
	plan.SignalErrors:           stoptime.Fault5xx,
	plan.SignalConnectionErrors: stoptime.Refused,
	plan.SignalLatency:          stoptime.Slow,
	plan.SignalUnhealthy:        stoptime.Unhealthy,
}

// badFor is an hour of a version with fault f at the minimum request rate.
func badFor(f stoptime.Fault, r config.Rollback, targets int) []cloudwatch.Sample {
	out := make([]cloudwatch.Sample, 60)
	for m := range out {
		out[m] = stoptime.Minute(f, r, stoptime.MinRequestsPerMinute(r), targets)
	}
	return out
}

// Hole 1: with every metric FILLed and DatapointsToAlarm equal to
// EvaluationPeriods, a newest minute the load balancer has not published
// yet reads as 0 at every evaluation ("Using metric math", FILL: "stuck in
// either OK state or ALARM state"), so an hour of 100 % bad answers never
// fires. The redesigned alarms fire under the same reading.
func TestHole1AlarmsStuckInOKWhenTheNewestMinuteIsLate(t *testing.T) {
	r := config.Defaults().Rollback
	newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	now := alarmsBySignal(t, r)
	for signal, def := range oldAlarms() {
		old, err := cloudwatch.Compile(def)
		require.NoError(t, err, signal)
		bad := badFor(faultOf[signal], r, 2)
		_, firesAtOnce := old.FirstAlarm(bad, 0, len(bad)-1, cloudwatch.Reading{})
		assert.True(t, firesAtOnce, "%s: the old alarm works when every minute is published at once", signal)
		_, firesLate := old.FirstAlarm(bad, 0, len(bad)-1, newestMissing)
		assert.False(t, firesLate, "%s: the old alarm stays OK for an hour of bad answers when the newest minute is late", signal)
		t.Logf("%s: old alarm stuck in OK for %d minutes of a version that %s", signal, len(bad), faultOf[signal])

		minute, firesNow := compiled(t, now[signal]).FirstAlarm(bad, 0, len(bad)-1, newestMissing)
		assert.True(t, firesNow, "%s: the new alarm fires", signal)
		assert.LessOrEqual(t, minute+1, r.EvaluationPeriods+2, signal)
	}
}

// stackRollback is the rollback config a stack file gives, through the
// config package's own loader.
func stackRollback(t *testing.T, file string) config.Config {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var stack struct {
		Config map[string]any `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &stack))
	cfg, err := config.Load(func(key string) (string, bool) {
		v, ok := stack.Config[config.Namespace+":"+key]
		if !ok {
			return "", false
		}
		if s, isString := v.(string); isString {
			return s, true
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b), true
	})
	require.NoError(t, err, file)
	return cfg
}

// Every rollback alarm, for the default config and for Pulumi.prod.yaml's,
// under every reading (the newest minute missing among them), reaches
// ALARM within rollback.evaluationPeriods + 2 minutes of a version that
// fails the way the alarm watches for at the configured minimum request
// rate, and stays OK for an hour of a healthy version at that rate and at
// a high one, an idle group and a group below the request floor.
func TestEveryRollbackAlarmStopsABadVersionUnderEveryReading(t *testing.T) {
	prod := stackRollback(t, "../../../Pulumi.prod.yaml")
	require.Equal(t, 3, prod.Rollback.EvaluationPeriods, "Pulumi.prod.yaml as shipped")
	for name, cfg := range map[string]config.Config{"defaults": config.Defaults(), "prod": prod} {
		r := cfg.Rollback
		targets := min(cfg.Service.LatestCount, cfg.Service.StableCount)
		rate := stoptime.MinRequestsPerMinute(r)
		healthy := map[string][]cloudwatch.Sample{
			"healthy at the minimum rate": badFor(stoptime.Healthy, r, targets),
			"healthy at 100 times it":     badFor(stoptime.Healthy, config.Rollback{MinRequests: 100 * rate, PeriodSeconds: 60}, targets),
			"idle group":                  make([]cloudwatch.Sample, 60),
		}
		// Below the floor: one request short, every one a slow 5xx.
		low := badFor(stoptime.Healthy, r, targets)
		for m := range low {
			low[m].Requests = float64(rate - 1)
			low[m].Target5XX = float64(rate - 1)
			low[m].ResponseTime = 60
		}
		healthy["below the request floor, failing"] = low
		for _, decl := range plan.RollbackAlarms(r) {
			alarm := compiled(t, decl)
			for _, reading := range cloudwatch.Readings {
				bad := badFor(faultOf[decl.Signal], r, targets)
				minute, ok := alarm.FirstAlarm(bad, 0, len(bad)-1, reading)
				if assert.True(t, ok, "%s %s under %s never fires", name, decl.Signal, reading) {
					assert.LessOrEqual(t, minute+1, r.EvaluationPeriods+2, "%s %s under %s: minutes of bad traffic before ALARM", name, decl.Signal, reading)
				}
				for what, samples := range healthy {
					if decl.Signal == plan.SignalConnectionErrors || decl.Signal == plan.SignalUnhealthy {
						if strings.HasPrefix(what, "below") {
							continue // no floor: a failing version at any rate is caught
						}
					}
					assert.False(t, fires(alarm, samples, reading), "%s %s under %s: %s", name, decl.Signal, reading, what)
				}
			}
		}
	}
}

// BenchmarkEvaluateOneAlarmAtOneMinute is the cost of one evaluation of
// the error-share alarm (the one with the most metric math) an hour into a
// target group's history.
func BenchmarkEvaluateOneAlarmAtOneMinute(b *testing.B) {
	r := config.Defaults().Rollback
	alarm := compiled(b, plan.RollbackAlarms(r)[0])
	samples := badFor(stoptime.Fault5xx, r, 2)
	reading := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1, WideRange: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		alarm.Evaluate(samples, 59, reading, types.StateValueOk)
	}
}

func TestEvaluatingAnAlarmAllocatesNothing(t *testing.T) {
	r := config.Defaults().Rollback
	samples := badFor(stoptime.Fault5xx, r, 2)
	for _, decl := range plan.RollbackAlarms(r) {
		alarm := compiled(t, decl)
		allocs := testing.AllocsPerRun(100, func() {
			alarm.Evaluate(samples, 30, cloudwatch.Reading{RequestsLate: 2, CountsLate: 2, GapAsZero: true, WideRange: true}, types.StateValueOk)
		})
		assert.Zero(t, allocs, decl.Signal)
	}
}

// TestStopTimesOfTheShippedStacks prints the table docs/signals.md quotes
// ("How long a bad version can serve before it is stopped").
func TestStopTimesOfTheShippedStacks(t *testing.T) {
	prod := stackRollback(t, "../../../Pulumi.prod.yaml")
	for name, cfg := range map[string]config.Config{"defaults": config.Defaults(), "Pulumi.prod.yaml": prod} {
		r := cfg.Rollback
		rows, err := stoptime.Compute(r, min(cfg.Service.LatestCount, cfg.Service.StableCount))
		require.NoError(t, err)
		stops := map[string]stoptime.Stop{}
		for _, s := range stoptime.Stops(rows) {
			stops[fmt.Sprintf("%s %d/%d", s.Fault, s.RequestsLate, s.CountsLate)] = s
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s (evaluationPeriods %d, %d requests/min):\n", name, r.EvaluationPeriods, stoptime.MinRequestsPerMinute(r))
		for _, f := range stoptime.Faults {
			fmt.Fprintf(&b, "  %-24s", f)
			for _, d := range []string{"0/0", "1/1", "2/2", "0/1", "1/0"} {
				s := stops[string(f)+" "+d]
				require.NotZero(t, s.Minutes, "%s %s %s", name, f, d)
				assert.LessOrEqual(t, s.Minutes, r.EvaluationPeriods+2, "%s %s %s", name, f, d)
				fmt.Fprintf(&b, " %s: %d min (%s)", d, s.Minutes, s.Signal)
			}
			b.WriteString("\n")
		}
		t.Log(b.String())
	}
}
