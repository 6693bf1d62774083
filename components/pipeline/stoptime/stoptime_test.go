package stoptime_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/components/pipeline/stoptime"
)

func stopsOf(t *testing.T, r config.Rollback) map[string]stoptime.Stop {
	t.Helper()
	rows, err := stoptime.Compute(r, 2)
	require.NoError(t, err)
	out := map[string]stoptime.Stop{}
	for _, s := range stoptime.Stops(rows) {
		out[fmt.Sprintf("%s %d/%d", s.Fault, s.RequestsLate, s.CountsLate)] = s
	}
	return out
}

func TestABadVersionServesEvaluationPeriodsPlusItsDelay(t *testing.T) {
	r := config.Defaults().Rollback // 2 of 4 one-minute periods
	stops := stopsOf(t, r)
	for _, f := range stoptime.Faults {
		assert.Equal(t, 2, stops[string(f)+" 0/0"].Minutes, "%s, published at once: 2 breaching minutes", f)
		assert.Equal(t, 3, stops[string(f)+" 1/1"].Minutes, "%s, newest minute missing", f)
		assert.Equal(t, 4, stops[string(f)+" 2/2"].Minutes, "%s, two minutes late", f)
		for _, d := range []string{"0/1", "1/0"} {
			assert.LessOrEqual(t, stops[string(f)+" "+d].Minutes, 3, "%s, %s", f, d)
			assert.NotZero(t, stops[string(f)+" "+d].Minutes, "%s, %s", f, d)
		}
	}
	assert.Equal(t, plan.SignalUnhealthy, stops[string(stoptime.Unhealthy)+" 0/0"].Signal)
	assert.Equal(t, plan.SignalLatency, stops[string(stoptime.Slow)+" 0/0"].Signal)
}

func TestWhatNoAlarmCatches(t *testing.T) {
	r := config.Defaults().Rollback
	r.MaxLatencyMs = 0
	stops := stopsOf(t, r)
	assert.Zero(t, stops[string(stoptime.Slow)+" 1/1"].Minutes, "no latency alarm, nothing stops a slow version")

	// More connection errors tolerated than the minimum rate can produce:
	// the error share still counts refused connections.
	r = config.Defaults().Rollback
	r.MaxConnectionErrors = 100
	stops = stopsOf(t, r)
	assert.Equal(t, plan.SignalErrors, stops[string(stoptime.Refused)+" 1/1"].Signal)
	assert.Equal(t, 3, stops[string(stoptime.Refused)+" 1/1"].Minutes)
}

// With periods longer than a minute, a period whose newest minutes are not
// yet published holds fewer requests than the floor and counts as not
// breaching, so a late minute can cost a whole period: the bound is
// (evaluationPeriods + LatePeriods) periods.
func TestLongerPeriodsStopWithinTheLookedAtPeriods(t *testing.T) {
	for _, seconds := range []int{60, 120, 300} {
		r := config.Defaults().Rollback
		r.PeriodSeconds = seconds
		for key, s := range stopsOf(t, r) {
			assert.NotZero(t, s.Minutes, "%ds: %s", seconds, key)
			assert.LessOrEqual(t, s.Minutes, (r.EvaluationPeriods+config.LatePeriods)*seconds/60, "%ds: %s", seconds, key)
		}
	}
}
