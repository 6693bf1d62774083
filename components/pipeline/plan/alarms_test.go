package plan_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
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

func TestRollbackAlarmsFitCodeDeploysLimitForBothTargetGroups(t *testing.T) {
	alarms := plan.RollbackAlarms(config.Defaults().Rollback)
	assert.Len(t, alarms, len(plan.Signals), "every signal is on by default")
	assert.LessOrEqual(t, 2*len(alarms), plan.MaxAlarmsPerDeploymentGroup, "each group watches both target groups of its pair")
	for _, a := range alarms {
		assert.Equal(t, "notBreaching", a.TreatMissingData, a.Signal)
		assert.Equal(t, "GreaterThanThreshold", a.ComparisonOperator, a.Signal)
		assert.Equal(t, 2, a.EvaluationPeriods, a.Signal)
		assert.Equal(t, 2, a.DatapointsToAlarm, a.Signal, "N consecutive breaching periods")
		assert.Equal(t, 60, a.PeriodSeconds, a.Signal)
		returned := 0
		for _, q := range a.Queries {
			if q.ReturnData {
				returned++
				require.NotEmpty(t, q.Expression, a.Signal)
				// Every id an expression uses is a query of the alarm.
				_, _, err := a.Value(plan.Period{})
				require.NoError(t, err, a.Signal)
			} else {
				assert.NotEmpty(t, q.MetricName, a.Signal)
				assert.NotEmpty(t, q.Stat, a.Signal)
			}
		}
		assert.Equal(t, 1, returned, "%s compares exactly one series", a.Signal)
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
	assert.Equal(t, map[string]string{"UnHealthyHostCount": "Maximum"}, metrics(a[plan.SignalUnhealthy]))
	assert.Equal(t, 1.0, a[plan.SignalUnhealthy].Threshold)
	for _, al := range a {
		assert.Equal(t, 120, al.PeriodSeconds)
		assert.Equal(t, 3, al.EvaluationPeriods)
		assert.Equal(t, 3, al.DatapointsToAlarm)
	}
	assert.Equal(t, "IF(FILL(requests, 0) >= 50, 100 * (FILL(errors, 0) + FILL(connerrors, 0)) / FILL(requests, 0), 0)", plan.ErrorShareExpression(50))
	assert.Equal(t, "IF(FILL(requests, 0) >= 50, 1000 * FILL(latency, 0), 0)", plan.LatencyExpression(50))
	assert.Contains(t, plan.ErrorShareExpression(0), ">= 1,", "never divides by zero")
}

// Each alarm's real expression, run over sample periods (oldest first) as
// CloudWatch evaluates it. p(...) builds a period from id/value pairs; an id
// left out had no data point.
func p(kv ...any) plan.Period {
	out := plan.Period{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = float64(kv[i+1].(int))
	}
	return out
}

func TestRollbackAlarmsFireOnlyWhenTheyShould(t *testing.T) {
	r := config.Defaults().Rollback // 5 %, 2 × 60 s, 20 requests, p99 2000 ms, 0 unhealthy, 0 connection errors
	a := alarmsBySignal(t, r)
	for _, tc := range []struct {
		name    string
		signal  string
		periods []plan.Period
		want    bool
	}{
		// Error share.
		{"errors: healthy traffic", plan.SignalErrors, []plan.Period{p("requests", 1000, "errors", 3), p("requests", 1000, "errors", 4)}, false},
		{"errors: 10% 5xx twice", plan.SignalErrors, []plan.Period{p("requests", 100, "errors", 10), p("requests", 100, "errors", 10)}, true},
		{"errors: 10% 5xx once, then clean", plan.SignalErrors, []plan.Period{p("requests", 100, "errors", 10), p("requests", 100)}, false},
		{"errors: connection errors count as failures", plan.SignalErrors, []plan.Period{p("requests", 100, "connerrors", 6), p("requests", 100, "connerrors", 3, "errors", 3)}, true},
		{"errors: too few requests never fire", plan.SignalErrors, []plan.Period{p("requests", 2, "errors", 2), p("requests", 19, "errors", 19)}, false},
		{"errors: exactly the floor counts", plan.SignalErrors, []plan.Period{p("requests", 20, "errors", 2), p("requests", 20, "errors", 2)}, true},
		{"errors: no data (idle group)", plan.SignalErrors, []plan.Period{{}, {}}, false},
		{"errors: exactly at the threshold", plan.SignalErrors, []plan.Period{p("requests", 100, "errors", 5), p("requests", 100, "errors", 5)}, false},
		// Connection errors: no minimum traffic.
		{"connection errors: a dead task set with little traffic", plan.SignalConnectionErrors, []plan.Period{p("requests", 2, "connerrors", 2), p("requests", 1, "connerrors", 1)}, true},
		{"connection errors: none published", plan.SignalConnectionErrors, []plan.Period{p("requests", 500), p("requests", 500)}, false},
		{"connection errors: one blip", plan.SignalConnectionErrors, []plan.Period{p("connerrors", 1), {}}, false},
		// Latency (seconds in, milliseconds compared).
		{"latency: fast", plan.SignalLatency, []plan.Period{p("requests", 100, "latency", 0), p("requests", 100, "latency", 1)}, false},
		{"latency: ten times too slow", plan.SignalLatency, []plan.Period{p("requests", 100, "latency", 3), p("requests", 100, "latency", 20)}, true},
		{"latency: slow but too few requests", plan.SignalLatency, []plan.Period{p("requests", 5, "latency", 30), p("requests", 5, "latency", 30)}, false},
		{"latency: no data", plan.SignalLatency, []plan.Period{{}, {}}, false},
		// Unhealthy targets: no minimum traffic.
		{"unhealthy: a crashing task set without traffic", plan.SignalUnhealthy, []plan.Period{p("unhealthy", 2), p("unhealthy", 1)}, true},
		{"unhealthy: all healthy", plan.SignalUnhealthy, []plan.Period{p("unhealthy", 0), p("unhealthy", 0)}, false},
		{"unhealthy: one period only", plan.SignalUnhealthy, []plan.Period{p("unhealthy", 0), p("unhealthy", 2)}, false},
		{"unhealthy: no targets (stable at zero)", plan.SignalUnhealthy, []plan.Period{{}, {}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a[tc.signal].Fires(tc.periods)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRollbackAlarmValues(t *testing.T) {
	a := alarmsBySignal(t, config.Defaults().Rollback)
	v, ok, err := a[plan.SignalErrors].Value(p("requests", 200, "errors", 6, "connerrors", 4))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.InDelta(t, 5.0, v, 1e-9, "10 failures in 200 requests")
	v, _, err = a[plan.SignalLatency].Value(plan.Period{"requests": 40, "latency": 0.25})
	require.NoError(t, err)
	assert.InDelta(t, 250.0, v, 1e-9, "seconds to milliseconds")
}

func TestEvalExpression(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		period plan.Period
		want   float64
		ok     bool
	}{
		{"1 + 2 * 3", nil, 7, true},
		{"(1 + 2) * 3", nil, 9, true},
		{"10 / 4 - 1", nil, 1.5, true},
		{"a >= 2", plan.Period{"a": 2}, 1, true},
		{"a > 2", plan.Period{"a": 2}, 0, true},
		{"IF(a, 5, 6)", plan.Period{"a": 0}, 6, true},
		{"a + 1", nil, 0, false},
		{"FILL(a, 3) + 1", nil, 4, true},
		{"a / b", plan.Period{"a": 1, "b": 0}, 0, false},
		{"IF(a > 1, b, 0)", plan.Period{"a": 2}, 0, false},
	} {
		got, ok, err := plan.EvalExpression(tc.expr, tc.period)
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.ok, ok, tc.expr)
		assert.InDelta(t, tc.want, got, 1e-9, tc.expr)
	}
	for _, bad := range []string{"MAX(a)", "1 +", "A", "(1", "1 2"} {
		_, _, err := plan.EvalExpression(bad, nil)
		assert.Error(t, err, bad)
	}
}
