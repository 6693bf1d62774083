package protocol

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/stoptime"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
	"github.com/tenant-canary/tenant-canary/internal/declared"
)

// ciMetricReadings are the CloudWatch readings the CI run explores the
// signal path under: every datapoint at once; the newest minute missing
// (hole 1's reading); and both counts two minutes late with gaps read as
// 0 over the wide evaluation range. The deep run takes every reading of
// cloudwatch.Readings.
var ciMetricReadings = []cloudwatch.Reading{
	{},
	{RequestsLate: 1, CountsLate: 1},
	{RequestsLate: 2, CountsLate: 2, GapAsZero: true, WideRange: true},
}

// trafficStacks are the declared stacks of the three traffic types: the
// program's default canary, linear and all-at-once
// (protocol_fixtures_test.go); the model reads each one's deployment
// config, termination wait and alarms from the stack.
var trafficStacks = []string{"tenants-1", "linear", "all-at-once"}

// programSignal is the signal path of a declared stack: its rollback
// alarms and traffic as the stack declares them, a bad version's minutes
// as stoptime models them for the default rollback thresholds, and
// traffic at the rate where the first step's share meets the alarms'
// minimum request rate.
func programSignal(t testing.TB, d *declared.Stack, bad map[int]string, metrics cloudwatch.Reading) *Signal {
	t.Helper()
	return newSignal(config.Defaults().Rollback, stackOf(d).firstStep(), bad, metrics, nil)
}

// newSignal is a signal path with the stack's alarms (alarms nil) or
// alarms of its own.
func newSignal(r config.Rollback, firstStep int, bad map[int]string, metrics cloudwatch.Reading, alarms []*cloudwatch.Alarm) *Signal {
	rate := (stoptime.MinRequestsPerMinute(r)*100 + firstStep - 1) / firstStep
	return &Signal{
		Alarms: alarms,
		Sample: func(fault string, requests, targets int) cloudwatch.Sample {
			return stoptime.Minute(stoptime.Fault(fault), r, requests, targets)
		},
		HealthFault:       string(stoptime.Unhealthy),
		RequestsPerMinute: rate,
		Bad:               bad,
		Metrics:           metrics,
	}
}

// signalScenarios are TestProtocol's scenarios of the signal path, each
// run to exhaustion: a bad push with each fault, under each traffic type
// and each reading (ciMetricReadings at CI depth, every reading deep), one
// tenant pinned; I6 must hold on every interleaving and the rollout come
// to rest back on v0 (I3). The deep run adds a second push after the bad
// one, and a hook fault, under the newest-minute-missing reading.
// deepCap bounds each capped search of the deep run (protocol_test.go's
// scenarios take the same).
const deepCap = 50000

// deepWalks is the walks each capped scenario of the deep run takes.
const deepWalks = 500

func signalScenarios(t testing.TB, deep bool) []Scenario {
	readings := ciMetricReadings
	if deep {
		readings = cloudwatch.Readings
	}
	var out []Scenario
	for _, name := range trafficStacks {
		d := fixture(name)
		for _, f := range stoptime.Faults {
			for _, m := range readings {
				out = append(out, Scenario{
					Name:  fmt.Sprintf("bad push (%s), %s, %s", f, stackOf(d).traffic.Type, m),
					Stack: d, Pushes: 1, Depth: 200,
					Signal: programSignal(t, d, map[int]string{1: string(f)}, m),
				})
			}
		}
	}
	if deep {
		newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
		for _, f := range stoptime.Faults {
			out = append(out,
				Scenario{Name: fmt.Sprintf("bad push (%s), good push, canary", f), Stack: fixture("tenants-1"), Pushes: 2, Depth: 400, MaxStates: deepCap, Walks: deepWalks, Known: knownFindings,
					Signal: programSignal(t, fixture("tenants-1"), map[int]string{1: string(f)}, newestMissing)},
				Scenario{Name: fmt.Sprintf("bad push (%s), hook fault, canary", f), Stack: fixture("tenants-1"), Pushes: 1, Faults: 1, Depth: 400, MaxStates: deepCap, Walks: deepWalks, Known: knownFindings,
					Signal: programSignal(t, fixture("tenants-1"), map[int]string{1: string(f)}, newestMissing)})
		}
	}
	return out
}

// A healthy push is never stopped by the program's alarms: with an
// approval the rollout ends with everyone on it (I3's target).
func TestHealthyPushIsNotStoppedByTheAlarms(t *testing.T) {
	for _, name := range trafficStacks {
		traffic := stackOf(fixture(name)).traffic
		s := Scenario{Name: "good push, " + traffic.Type, Stack: fixture(name), Pushes: 1,
			Signal: programSignal(t, fixture(name), nil, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})}
		sc := newScript(t, s)
		sc.do("PUSH v1")
		sc.settle()
		sc.do("APPROVE exec-1")
		sc.settle()
		for _, d := range sc.w.Deployments {
			assert.Equal(t, DepSucceeded, d.Status, "%s: %s", traffic.Type, d.ID)
		}
		assert.Equal(t, "Succeeded", sc.w.Executions[0].Status, traffic.Type)
		assert.Positive(t, sc.w.clock, "minutes passed")
	}
}

// oldAlarms are the rollback alarms as the program declared them before
// hole 1 was fixed: every metric FILLed with 0 and 2 of 2 periods
// (literal fixture data, as components/pipeline/plan's hole-1 test has
// them).
func oldAlarms(t testing.TB) []*cloudwatch.Alarm {
	metric := func(id, name, stat string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(name)},
			Period: aws.Int32(60), Stat: aws.String(stat)}}
	}
	value := func(expr string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String("value"), Expression: aws.String(expr), ReturnData: aws.Bool(true)}
	}
	alarm := func(name string, threshold float64, q ...types.MetricDataQuery) *cloudwatch.Alarm {
		a, err := cloudwatch.Compile(&cw.PutMetricAlarmInput{AlarmName: aws.String(name), ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold,
			Threshold: aws.Float64(threshold), EvaluationPeriods: aws.Int32(2), DatapointsToAlarm: aws.Int32(2),
			TreatMissingData: aws.String("notBreaching"), Metrics: q})
		require.NoError(t, err)
		return a
	}
	return []*cloudwatch.Alarm{
		alarm("old-errors", 5,
			metric("errors", "HTTPCode_Target_5XX_Count", "Sum"), metric("connerrors", "TargetConnectionErrorCount", "Sum"), metric("requests", "RequestCount", "Sum"),
			value("IF(FILL(requests, 0) >= 20, 100 * (FILL(errors, 0) + FILL(connerrors, 0)) / FILL(requests, 0), 0)")),
		alarm("old-connection-errors", 0, metric("connerrors", "TargetConnectionErrorCount", "Sum"), value("FILL(connerrors, 0)")),
		alarm("old-latency", 2000, metric("latency", "TargetResponseTime", "p99"), metric("requests", "RequestCount", "Sum"),
			value("IF(FILL(requests, 0) >= 20, 1000 * FILL(latency, 0), 0)")),
		alarm("old-unhealthy", 0, metric("unhealthy", "UnHealthyHostCount", "Maximum"), value("FILL(unhealthy, 0)")),
	}
}

// Hole 1 in the explorer: with the old alarms, a canary answering 5xx to
// every request is never stopped when the newest minute is not yet
// published (FILL reads it as 0 and 2 of 2 periods never breach), and
// reaches all unpinned traffic; with the program's alarms I6 holds under
// the same reading. Under the reading where every minute is published at
// once the old alarms do stop it: the hole is the reading.
func TestHole1OldAlarmsLetABadCanaryThroughWhenTheNewestMinuteIsLate(t *testing.T) {
	newestMissing := cloudwatch.Reading{RequestsLate: 1, CountsLate: 1}
	canary := fixture("tenants-1")
	bad := map[int]string{1: string(stoptime.Fault5xx)}
	r := config.Defaults().Rollback

	old := Explore(Scenario{Name: "hole 1, old alarms", Stack: fixture("tenants-1"), Pushes: 1, Depth: 200,
		Signal: newSignal(r, stackOf(canary).firstStep(), bad, newestMissing, oldAlarms(t))})
	require.NotNil(t, old.Violation, "the old alarms under the newest-minute-missing reading")
	assert.Equal(t, I6, old.Violation.Invariant)
	assert.Contains(t, old.Violation.What, "serves all requests of no pinned tenant")
	t.Log(old.Format())

	atOnce := Explore(Scenario{Name: "old alarms, every minute at once", Stack: fixture("tenants-1"), Pushes: 1, Depth: 200,
		Signal: newSignal(r, stackOf(canary).firstStep(), bad, cloudwatch.Reading{}, oldAlarms(t))})
	assert.Nil(t, atOnce.Violation, "the old alarms work when every minute is published at once")

	now := Explore(Scenario{Name: "hole 1, program's alarms", Stack: fixture("tenants-1"), Pushes: 1, Depth: 200,
		Signal: programSignal(t, canary, bad, newestMissing)})
	assert.Nil(t, now.Violation, "the program's alarms")
	assert.True(t, now.Exhausted)
}

// Signal-path bugs re-opened, each caught by the CI-depth explorer with a
// trace: a deployment group whose alarm configuration names no alarm, and
// one whose alarms watch the other service's target groups.
func TestI6CatchesReopenedSignalPathBugs(t *testing.T) {
	canary := fixture("tenants-1")
	bugs := map[string]func(group string) []string{
		"deployment group without alarms": func(string) []string { return nil },
		"alarms on the other pair's target groups": func(group string) []string {
			st := stackOf(fixture("tenants-1"))
			if group == st.latestGroup {
				p := st.pairOf(st.stableGroup)
				return p[:]
			}
			p := st.pairOf(st.latestGroup)
			return p[:]
		},
	}
	for name, watched := range bugs {
		for _, f := range stoptime.Faults {
			sig := programSignal(t, canary, map[int]string{1: string(f)}, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})
			sig.Watched = watched
			r := Explore(Scenario{Name: name, Stack: fixture("tenants-1"), Pushes: 1, Depth: 200, Signal: sig})
			if assert.NotNil(t, r.Violation, "%s, %s", name, f) {
				assert.True(t, r.Violation.Invariant == I6 || r.Violation.Invariant == I3, "%s, %s: %v", name, f, r.Violation)
				t.Logf("%s, %s: %s (trace of %d lines)", name, f, r.Violation, len(r.Trace))
			}
		}
	}
	// All-at-once's weaker promise fails too: without alarms the bad
	// version completes its stage after the termination wait.
	allAtOnce := fixture("all-at-once")
	sig := programSignal(t, allAtOnce, map[int]string{1: string(stoptime.Fault5xx)}, cloudwatch.Reading{RequestsLate: 1, CountsLate: 1})
	sig.Watched = bugs["deployment group without alarms"]
	r := Explore(Scenario{Name: "all-at-once without alarms", Stack: allAtOnce, Pushes: 1, Depth: 200, Signal: sig})
	if assert.NotNil(t, r.Violation) {
		assert.Equal(t, I6, r.Violation.Invariant)
		assert.Contains(t, r.Violation.What, "completed its stage")
	}
}

func TestSignalScenarioNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range signalScenarios(t, true) {
		require.False(t, seen[s.Name], s.Name)
		seen[s.Name] = true
		require.False(t, strings.Contains(s.Name, "\n"))
	}
}
