package cloudwatch

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gap marks a missing datapoint in the test series.
var gap = math.NaN()

// mathAlarm is an alarm whose queries m1, m2, m3 read test series (one
// datapoint a minute, gap = missing) carried in Requests, Target5XX and
// ConnectionErrors, and whose expression query "e" is src.
func mathAlarm(t *testing.T, src string) *Alarm {
	t.Helper()
	field := func(f func(*Sample) float64) *metric {
		return &metric{read: func(s *Sample) (float64, bool) { v := f(s); return v, !math.IsNaN(v) }, combine: sum}
	}
	a := &Alarm{periodMinutes: 1, n: 1, m: 1, queries: []query{
		{id: "m1", metric: field(func(s *Sample) float64 { return s.Requests })},
		{id: "m2", metric: field(func(s *Sample) float64 { return s.Target5XX })},
		{id: "m3", metric: field(func(s *Sample) float64 { return s.ConnectionErrors })},
		{id: "e"},
	}, ret: 3}
	e, err := compileExpr(src, func(id string) (int, bool) {
		for i, q := range a.queries[:3] {
			if q.id == id {
				return i, true
			}
		}
		return 0, false
	})
	require.NoError(t, err, src)
	a.queries[3].expr = &e
	return a
}

// series evaluates src over the test series, one result per minute; a
// missing result is gap.
func series(t *testing.T, src string, r Reading, m1, m2, m3 []float64) []float64 {
	t.Helper()
	a := mathAlarm(t, src)
	samples := make([]Sample, len(m1))
	for i := range samples {
		samples[i] = Sample{Requests: m1[i], Target5XX: gap, ConnectionErrors: gap}
		if m2 != nil {
			samples[i].Target5XX = m2[i]
		}
		if m3 != nil {
			samples[i].ConnectionErrors = m3[i]
		}
	}
	out := make([]float64, len(samples))
	for m := range samples {
		v, ok := a.Datapoint(samples, len(samples)-1, m, r)
		out[m] = gap
		if ok {
			out[m] = v
		}
	}
	return out
}

func assertSeries(t *testing.T, want, got []float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		if math.IsNaN(want[i]) {
			assert.True(t, math.IsNaN(got[i]), "%s: point %d is %v, want missing", msg, i, got[i])
		} else {
			assert.InDelta(t, want[i], got[i], 1e-9, "%s: point %d", msg, i)
		}
	}
}

// The examples of "Using metric math", reproduced point by point.
func TestMetricMathReproducesTheUserGuideExamples(t *testing.T) {
	var at Reading
	// Comparison and logical operators: metric1 [30, 20, 0, 0],
	// metric2 [20, -, 20, -].
	m1, m2 := []float64{30, 20, 0, 0}, []float64{20, gap, 20, gap}
	assertSeries(t, []float64{0, 0, 1, 0}, series(t, "(m1 < m2)", at, m1, m2, nil), "metric1 < metric2")
	assertSeries(t, []float64{1, 0, 0, 0}, series(t, "(m1 >= 30)", at, m1, m2, nil), "metric1 >= 30")
	assertSeries(t, []float64{1, 0, 0, 0}, series(t, "(m1 > 15 AND m2 > 15)", at, m1, m2, nil), "AND")

	// Using IF expressions: metric1 [1, 1, 0, 0, -], metric2
	// [30, -, 0, 0, 30], metric3 [0, 0, 20, -, 20].
	c, tv, fv := []float64{1, 1, 0, 0, gap}, []float64{30, gap, 0, 0, 30}, []float64{0, 0, 20, gap, 20}
	assertSeries(t, []float64{30, 0, 20, gap, gap}, series(t, "IF(m1, m2, m3)", at, c, tv, fv), "IF(metric1, metric2, metric3)")
	assertSeries(t, []float64{5, 5, 20, gap, gap}, series(t, "IF(m1, 5, m3)", at, c, tv, fv), "IF(metric1, scalar2, metric3)")
	assertSeries(t, []float64{30, 0, 5, 5, gap}, series(t, "IF(m1, m2, 5)", at, c, tv, fv), "IF(metric1, metric2, scalar3)")
	assertSeries(t, []float64{30, 0, gap, gap, gap}, series(t, "IF(m1, m2)", at, c, tv, fv), "IF without falseValue drops false points")
}

func TestMetricMathMissingValues(t *testing.T) {
	var pointwise Reading
	gapZero := Reading{GapAsZero: true}
	m1, m2 := []float64{4, gap, gap, 0}, []float64{gap, 3, gap, 2}
	for _, tc := range []struct {
		expr      string
		pointwise []float64
		gapAsZero []float64
	}{
		// Between two series a missing value counts as 0 where the
		// other has a point; where neither has one there is none.
		{"m1 + m2", []float64{4, 3, gap, 2}, []float64{4, 3, gap, 2}},
		{"m1 - m2", []float64{4, -3, gap, -2}, []float64{4, -3, gap, -2}},
		// Division by zero drops the point.
		{"m2 / m1", []float64{0, gap, gap, gap}, []float64{0, gap, gap, gap}},
		// A series and a scalar: the series' gaps stay gaps, or count
		// as 0 under GapAsZero.
		{"2 * m1", []float64{8, gap, gap, 0}, []float64{8, 0, 0, 0}},
		{"m1 >= 1", []float64{1, gap, gap, 0}, []float64{1, 0, 0, 0}},
		{"-m1", []float64{-4, gap, gap, 0}, []float64{-4, gap, gap, 0}},
		// FILL gives every period a point, whatever the reading.
		{"FILL(m1, 7)", []float64{4, 7, 7, 0}, []float64{4, 7, 7, 0}},
		{"FILL(m1, 0) + FILL(m2, 0)", []float64{4, 3, 0, 2}, []float64{4, 3, 0, 2}},
		// IF: no condition, no point — unless the gap reads as 0 (false).
		{"IF(m1 >= 1, 100 * FILL(m2, 0) / m1, 0)", []float64{0, gap, gap, 0}, []float64{0, 0, 0, 0}},
		// A true condition with a missing trueValue series gives 0.
		{"IF(FILL(m1, 1) >= 1, m2, 9)", []float64{0, 3, 0, 9}, []float64{0, 3, 0, 9}},
		{"IF(FILL(m1, 1) >= 1, 1000 * m2, 9)", []float64{0, 3000, 0, 9}, []float64{0, 3000, 0, 9}},
		// Scalars alone.
		{"m1 + 2 ^ 3 - 10 / 4", []float64{9.5, gap, gap, 5.5}, []float64{9.5, 5.5, 5.5, 5.5}},
		{"(m1 == 4) || (m1 != 0)", []float64{1, gap, gap, 0}, []float64{1, 0, 0, 0}},
	} {
		assertSeries(t, tc.pointwise, series(t, tc.expr, pointwise, m1, m2, nil), tc.expr)
		assertSeries(t, tc.gapAsZero, series(t, tc.expr, gapZero, m1, m2, nil), tc.expr+" (gap as zero)")
	}
}

func TestMetricMathRejectsWhatItDoesNotModel(t *testing.T) {
	resolve := func(id string) (int, bool) { return 0, id == "m1" }
	for _, bad := range []string{
		"MAX(m1)", "1 +", "M1", "(m1", "m1 2", "m9", "FILL(m1, REPEAT)", "FILL(m1, m1)",
		"IF(m1)", "1 + 2", // a scalar result is no alarm
	} {
		_, err := compileExpr(bad, resolve)
		assert.Error(t, err, bad)
	}
}
