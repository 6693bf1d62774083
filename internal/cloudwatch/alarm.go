package cloudwatch

import (
	"errors"
	"fmt"

	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// TreatMissingData values (PutMetricAlarm; "Configuring how CloudWatch
// alarms treat missing data",
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data).
// The SDK has no enum for them.
const (
	TreatMissing      = "missing"
	TreatNotBreaching = "notBreaching"
	TreatBreaching    = "breaching"
	TreatIgnore       = "ignore"
)

// MaxEvaluationSeconds: "The number of evaluation periods for an alarm
// multiplied by the length of each evaluation period can't exceed one day"
// ("Using Amazon CloudWatch alarms", common features).
const MaxEvaluationSeconds = 86400

// Alarm is a compiled metric alarm, ready to evaluate.
type Alarm struct {
	name      string
	queries   []query
	ret       int // the query whose result the alarm compares
	op        types.ComparisonOperator
	threshold float64
	// periodMinutes: the alarm's period in minutes.
	periodMinutes int
	n, m          int // EvaluationPeriods, DatapointsToAlarm
	treat         string
}

type query struct {
	id     string
	metric *metric // a metric query
	expr   *expr   // an expression query
}

// Name is the alarm's name.
func (a *Alarm) Name() string { return a.name }

// EvaluationPeriods and DatapointsToAlarm are the alarm's N and M.
func (a *Alarm) EvaluationPeriods() int { return a.n }

// DatapointsToAlarm is how many breaching datapoints within the last
// EvaluationPeriods put the alarm in ALARM.
func (a *Alarm) DatapointsToAlarm() int { return a.m }

// PeriodMinutes is the alarm's period in minutes.
func (a *Alarm) PeriodMinutes() int { return a.periodMinutes }

// Compile checks an alarm definition as PutMetricAlarm would for the parts
// the model covers, and compiles it. It accepts metric-query alarms
// (Metrics set) on the modelled ALB metrics only.
func Compile(in *cw.PutMetricAlarmInput) (*Alarm, error) {
	if in == nil {
		return nil, errors.New("cloudwatch: no alarm definition")
	}
	a := &Alarm{name: deref(in.AlarmName), op: in.ComparisonOperator, ret: -1}
	fail := func(format string, args ...any) (*Alarm, error) {
		return nil, fmt.Errorf("alarm %q: %s", a.name, fmt.Sprintf(format, args...))
	}
	switch a.op {
	case types.ComparisonOperatorGreaterThanThreshold, types.ComparisonOperatorGreaterThanOrEqualToThreshold,
		types.ComparisonOperatorLessThanThreshold, types.ComparisonOperatorLessThanOrEqualToThreshold:
	default:
		return fail("comparison operator %q is not modelled (the four static-threshold operators)", a.op)
	}
	if in.Threshold == nil {
		return fail("no threshold")
	}
	a.threshold = *in.Threshold
	if in.EvaluationPeriods == nil || *in.EvaluationPeriods < 1 {
		return fail("EvaluationPeriods must be at least 1")
	}
	a.n = int(*in.EvaluationPeriods)
	a.m = a.n // DatapointsToAlarm defaults to EvaluationPeriods.
	if in.DatapointsToAlarm != nil {
		a.m = int(*in.DatapointsToAlarm)
	}
	if a.m < 1 || a.m > a.n {
		return fail("DatapointsToAlarm %d must be from 1 to EvaluationPeriods %d", a.m, a.n)
	}
	a.treat = TreatMissing // "The default behavior is missing."
	if in.TreatMissingData != nil {
		a.treat = *in.TreatMissingData
	}
	switch a.treat {
	case TreatMissing, TreatNotBreaching, TreatBreaching, TreatIgnore:
	default:
		return fail("TreatMissingData %q is not one of missing, notBreaching, breaching, ignore", a.treat)
	}
	if len(in.Metrics) == 0 {
		return fail("only alarms on metric queries (Metrics) are modelled")
	}
	// "A math expression used for an alarm can include as many as 10
	// metrics. Each metric must be using the same period."
	ids := map[string]int{}
	for i, q := range in.Metrics {
		id := deref(q.Id)
		if id == "" {
			return fail("query %d has no id", i)
		}
		if _, dup := ids[id]; dup {
			return fail("two queries have the id %q", id)
		}
		ids[id] = i
		// ReturnData: "If you omit this, the default of true is used."
		if q.ReturnData == nil || *q.ReturnData {
			if a.ret >= 0 {
				return fail("more than one query returns data; an alarm compares exactly one")
			}
			a.ret = i
		}
	}
	if a.ret < 0 {
		return fail("no query returns data")
	}
	a.queries = make([]query, len(in.Metrics))
	metrics := 0
	for i, q := range in.Metrics {
		a.queries[i].id = deref(q.Id)
		switch {
		case q.MetricStat != nil && q.Expression == nil:
			metrics++
			ms := q.MetricStat
			if ms.Metric == nil || deref(ms.Metric.Namespace) != ALBNamespace {
				return fail("query %q: only %s metrics are modelled", a.queries[i].id, ALBNamespace)
			}
			m, err := lookupMetric(deref(ms.Metric.MetricName), deref(ms.Stat))
			if err != nil {
				return fail("query %q: %v", a.queries[i].id, err)
			}
			if ms.Period == nil || *ms.Period < 60 || *ms.Period%60 != 0 {
				return fail("query %q: period must be a multiple of 60 seconds (the load balancer publishes every 60 seconds)", a.queries[i].id)
			}
			p := int(*ms.Period) / 60
			if a.periodMinutes != 0 && a.periodMinutes != p {
				return fail("every metric must use the same period")
			}
			a.periodMinutes = p
			a.queries[i].metric = &m
		case q.Expression != nil && q.MetricStat == nil:
		default:
			return fail("query %q must have exactly one of MetricStat and Expression", a.queries[i].id)
		}
	}
	if metrics == 0 || metrics > 10 {
		return fail("a math expression used for an alarm includes 1 to 10 metrics, not %d", metrics)
	}
	if a.n*a.periodMinutes*60 > MaxEvaluationSeconds {
		return fail("EvaluationPeriods × period exceeds one day")
	}
	for i, q := range in.Metrics {
		if q.Expression == nil {
			continue
		}
		e, err := compileExpr(*q.Expression, func(id string) (int, bool) {
			j, ok := ids[id]
			return j, ok && j != i
		})
		if err != nil {
			return fail("query %q: %v", a.queries[i].id, err)
		}
		a.queries[i].expr = &e
	}
	if err := a.checkAcyclic(); err != nil {
		return fail("%v", err)
	}
	return a, nil
}

func (a *Alarm) checkAcyclic() error {
	state := make([]uint8, len(a.queries)) // 0 new, 1 visiting, 2 done
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("query %q refers to itself through other expressions", a.queries[i].id)
		case 2:
			return nil
		}
		state[i] = 1
		if e := a.queries[i].expr; e != nil {
			for _, n := range e.nodes {
				if n.op == opRef {
					if err := visit(n.ref); err != nil {
						return err
					}
				}
			}
		}
		state[i] = 2
		return nil
	}
	for i := range a.queries {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// period is one period of one evaluation: the minutes [lo, hi] of the
// samples the alarm can see at the evaluation at the end of minute t.
type period struct {
	a       *Alarm
	samples []Sample
	t       int
	lo, hi  int
	reading Reading
}

// query is query i's point in the period.
func (p *period) query(i int) point {
	q := &p.a.queries[i]
	if q.expr != nil {
		return q.expr.eval(q.expr.root, p)
	}
	late := p.reading.CountsLate
	if q.metric.requests {
		late = p.reading.RequestsLate
	}
	var acc point
	for m := max(p.lo, 0); m <= p.hi && m < len(p.samples); m++ {
		if m+late > p.t {
			break // not yet published at this evaluation
		}
		v, ok := q.metric.read(&p.samples[m])
		if !ok {
			continue
		}
		if acc.ok {
			acc.v = q.metric.combine(acc.v, v)
		} else {
			acc = point{v, true}
		}
	}
	return acc
}

func (a *Alarm) breaches(v float64) bool {
	switch a.op {
	case types.ComparisonOperatorGreaterThanThreshold:
		return v > a.threshold
	case types.ComparisonOperatorGreaterThanOrEqualToThreshold:
		return v >= a.threshold
	case types.ComparisonOperatorLessThanThreshold:
		return v < a.threshold
	default:
		return v <= a.threshold
	}
}

// Datapoint is the alarm's value in the period ending with minute end as
// the evaluation at the end of minute t sees it; ok is false when the
// period has no datapoint.
func (a *Alarm) Datapoint(samples []Sample, t, end int, r Reading) (float64, bool) {
	p := period{a: a, samples: samples, t: t, lo: end - a.periodMinutes + 1, hi: end, reading: r}
	pt := p.query(a.ret)
	return pt.v, pt.ok
}

// Evaluate is the state the alarm takes when CloudWatch evaluates it at
// the end of minute t, with samples[m] the target group's traffic in
// minute m, under reading r, prev being its state before.
//
// "For any period of one minute or longer, an alarm is evaluated every
// minute and the evaluation is based on the window of time defined by the
// Period and Evaluation Periods" — the periods end with minute t
// ("at the end of minute 6, the alarm is evaluated based on the data from
// minutes 2 to 6"). CloudWatch "attempts to retrieve a higher number of
// data points than the number specified as Evaluation Periods" (the
// evaluation range, see Reading.WideRange), then, from "How alarm state is
// evaluated when data is missing"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data):
//
//   - with at least EvaluationPeriods real datapoints in the range, the
//     most recent EvaluationPeriods of them decide, and TreatMissingData
//     is not used;
//   - with fewer, every real datapoint in the range counts and the
//     missing ones are filled by TreatMissingData "as few times as
//     possible": notBreaching and breaching fill them; with ignore the
//     alarm keeps its state unless the real datapoints decide (its table:
//     a non-breaching datapoint gives OK, too few breaching ones keep the
//     state); with missing, no real datapoint gives INSUFFICIENT_DATA, and
//     "Avoiding premature transitions to alarm state": ALARM "when the
//     oldest available breaching datapoint during the Evaluation Periods
//     number of data points is at least as old as the value of Datapoints
//     to Alarm, and all other more recent data points are breaching or
//     missing". Where the page names no state (breaching datapoints too
//     recent to alarm, nothing non-breaching), the model keeps the state.
//
// Both of the page's tables (3 of 3 and 2 of 3, range 5) are tests of this
// function.
func (a *Alarm) Evaluate(samples []Sample, t int, r Reading, prev types.StateValue) types.StateValue {
	rng := a.n + r.rangeExtra()
	present, counted, breaching := 0, 0, 0
	nonBreaching := false
	allBreaching := true
	oldestBreachingAge := 0 // within the last N periods, 1 = newest
	p := period{a: a, samples: samples, t: t, reading: r}
	for j := 0; j < rng; j++ {
		p.hi = t - j*a.periodMinutes
		p.lo = p.hi - a.periodMinutes + 1
		pt := p.query(a.ret)
		if !pt.ok {
			continue
		}
		present++
		b := a.breaches(pt.v)
		if !b {
			allBreaching = false
		}
		if present <= a.n {
			counted++
			if b {
				breaching++
				if j < a.n {
					oldestBreachingAge = j + 1
				}
			} else {
				nonBreaching = true
			}
		}
	}
	state := func(alarm bool) types.StateValue {
		if alarm {
			return types.StateValueAlarm
		}
		return types.StateValueOk
	}
	if present >= a.n {
		return state(breaching >= a.m)
	}
	switch a.treat {
	case TreatNotBreaching:
		return state(breaching >= a.m)
	case TreatBreaching:
		return state(breaching+(a.n-counted) >= a.m)
	}
	// ignore and missing.
	if present == 0 {
		if a.treat == TreatMissing {
			return types.StateValueInsufficientData
		}
		return prev
	}
	if a.treat == TreatMissing && allBreaching && oldestBreachingAge >= a.m {
		return types.StateValueAlarm
	}
	switch {
	case breaching >= a.m:
		return types.StateValueAlarm
	case nonBreaching:
		return types.StateValueOk
	}
	return prev
}

// FirstAlarm evaluates the alarm at the end of every minute from `from`
// to `to` (inclusive), starting in INSUFFICIENT_DATA as a new alarm does,
// and returns the first minute whose evaluation sets ALARM.
func (a *Alarm) FirstAlarm(samples []Sample, from, to int, r Reading) (int, bool) {
	state := types.StateValueInsufficientData
	for t := from; t <= to; t++ {
		state = a.Evaluate(samples, t, r, state)
		if state == types.StateValueAlarm {
			return t, true
		}
	}
	return 0, false
}
