package cloudwatch

import "fmt"

// MaxLateMinutes is the latest publication the Readings model: a minute's
// datapoints visible to the alarm evaluation two minutes after the one at
// the end of that minute. AWS documents no bound ("Using metric math",
// FILL: "if your metrics are being published with a slight delay, and the
// most recent minute never has data"); an alarm designed with this model
// tolerates exactly what it was proven under.
const MaxLateMinutes = 2

// Reading is one interpretation of what the CloudWatch pages leave open.
// The zero Reading: every datapoint visible at once, a gap in a series is
// missing for metric math, the narrowest evaluation range.
type Reading struct {
	// RequestsLate and CountsLate: how many evaluations after the one at
	// the end of minute m the datapoints of minute m are first visible —
	// RequestsLate for RequestCount, CountsLate for every other metric.
	// 0: published at once; 1: the newest minute is missing at each
	// evaluation; 2: two minutes late. Different values model a load
	// balancer publishing one metric of a minute before another.
	RequestsLate, CountsLate int
	// GapAsZero: metric math between a series and a scalar (and an IF
	// condition) treats a period where the series has no datapoint as 0,
	// reading "Missing values in a time series are treated as 0" ("Using
	// metric math", basic arithmetic) over every period the alarm
	// evaluates; otherwise such a period has no point, as in the page's
	// comparison table.
	GapAsZero bool
	// WideRange: the evaluation range holds EvaluationPeriods + 2 periods
	// (the page's example: 5 for 3 evaluation periods); otherwise
	// EvaluationPeriods + 1, the fewest that is "a higher number of data
	// points than the number specified as Evaluation Periods" ("Using
	// Amazon CloudWatch alarms", how alarm state is evaluated when data is
	// missing). The exact number "depends on the length of the alarm
	// period".
	WideRange bool
}

func (r Reading) String() string {
	gap, rng := "gap-missing", "range-N+1"
	if r.GapAsZero {
		gap = "gap-as-zero"
	}
	if r.WideRange {
		rng = "range-N+2"
	}
	return fmt.Sprintf("requests+%dm,counts+%dm,%s,%s", r.RequestsLate, r.CountsLate, gap, rng)
}

// rangeExtra is how many periods beyond EvaluationPeriods the range holds.
func (r Reading) rangeExtra() int {
	if r.WideRange {
		return 2
	}
	return 1
}

// Delays are the publication delays the Readings cover: at once, the
// newest minute missing, two minutes late, and the requests and the other
// counts of a minute published a minute apart either way.
var Delays = [][2]int{{0, 0}, {1, 1}, {2, 2}, {0, 1}, {1, 0}}

// Readings is every reading: each delay of Delays, with and without
// GapAsZero, with the narrow and the wide evaluation range.
var Readings = func() []Reading {
	var out []Reading
	for _, d := range Delays {
		for _, gap := range []bool{false, true} {
			for _, wide := range []bool{false, true} {
				out = append(out, Reading{RequestsLate: d[0], CountsLate: d[1], GapAsZero: gap, WideRange: wide})
			}
		}
	}
	return out
}()
