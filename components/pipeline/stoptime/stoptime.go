// Package stoptime computes how long a bad version can serve before a
// rollback alarm stops it: the stack's alarms (plan.RollbackAlarms),
// evaluated by the CloudWatch model (internal/cloudwatch) on the traffic a
// bad version produces at the configured minimum request rate, under every
// reading of when CloudWatch sees the load balancer's datapoints.
package stoptime

import (
	"fmt"
	"math"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/components/pipeline/plan"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

// Fault is how a bad version fails; Healthy is none.
type Fault string

// The faults the rollback alarms exist for (docs/signals.md, "The rollback
// alarms").
const (
	Healthy   Fault = ""
	Fault5xx  Fault = "answers 5xx"
	Refused   Fault = "refuses connections"
	Slow      Fault = "answers slowly"
	Unhealthy Fault = "fails its health checks"
)

// Faults lists every fault.
var Faults = []Fault{Fault5xx, Refused, Slow, Unhealthy}

// HealthyResponseSeconds is a healthy version's response time.
const HealthyResponseSeconds = 0.05

// Minute is one minute of a version with fault f on its target group:
// requests requests, every one of them failing the way f says, and targets
// registered targets. A slow version answers in twice r.MaxLatencyMs; a
// version failing its health checks is unhealthy to every load balancer
// node, and the load balancer still routes to it (it fails open when no
// target is healthy: "Target group health",
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html).
func Minute(f Fault, r config.Rollback, requests, targets int) cloudwatch.Sample {
	n, k := float64(requests), float64(targets)
	s := cloudwatch.Sample{Requests: n, ResponseTime: HealthyResponseSeconds, Targets: k}
	switch f {
	case Fault5xx:
		s.Target5XX = n
	case Refused:
		// The load balancer chose a target (RequestCount counts it) and
		// could not connect; no target answered.
		s.ConnectionErrors = n
		s.ResponseTime = 0
	case Slow:
		s.ResponseTime = 2 * float64(r.MaxLatencyMs) / 1000
	case Unhealthy:
		s.Unhealthy, s.UnhealthyAnyNode = k, k
	}
	return s
}

// MinRequestsPerMinute is the configured minimum request rate: the
// request floor of one period spread over its minutes.
func MinRequestsPerMinute(r config.Rollback) int {
	perPeriod := plan.RequestFloor(r.MinRequests)
	minutes := max(1, r.PeriodSeconds/60)
	return int(math.Ceil(float64(perPeriod) / float64(minutes)))
}

// Before is what the target group served before the bad version: nothing
// (the replacement task set of a blue/green deployment starts on the idle
// group), or a healthy version at the minimum rate.
type Before string

// The histories Compute tries.
const (
	BeforeIdle    Before = "idle"
	BeforeHealthy Before = "healthy"
)

// Row is one alarm's reaction to one fault under one reading.
type Row struct {
	Fault   Fault
	Signal  string
	Reading cloudwatch.Reading
	// Minutes is the worst case, over the histories before the fault,
	// of whole minutes of bad traffic served until the evaluation that
	// sets ALARM (the fault starting on a minute boundary); 0 when the
	// alarm never fires within Horizon minutes.
	Minutes int
}

// Horizon is how many minutes of bad traffic Compute watches.
const Horizon = 60

// history is how many minutes precede the fault.
const history = 10

// Alarm is one rollback alarm of one target group, compiled for the
// CloudWatch model.
type Alarm struct {
	Signal string
	*cloudwatch.Alarm
}

// Alarms are the rollback alarms of one target group under r, as the
// CloudWatch model evaluates them: the declarations the Pulumi program
// creates (plan.RollbackAlarms), through plan.Alarm.Definition.
func Alarms(r config.Rollback) ([]Alarm, error) {
	var out []Alarm
	for _, decl := range plan.RollbackAlarms(r) {
		alarm, err := cloudwatch.Compile(decl.Definition("tc-"+decl.Signal, "app/alb/0123456789abcdef", "targetgroup/tg/0123456789abcdef"))
		if err != nil {
			return nil, fmt.Errorf("rollback alarm %s: %w", decl.Signal, err)
		}
		out = append(out, Alarm{Signal: decl.Signal, Alarm: alarm})
	}
	return out, nil
}

// Compute evaluates every rollback alarm of r on every fault at the
// minimum request rate with targets targets, under every reading.
func Compute(r config.Rollback, targets int) ([]Row, error) {
	rate := MinRequestsPerMinute(r)
	samples := make([]cloudwatch.Sample, history+Horizon)
	alarms, err := Alarms(r)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, alarm := range alarms {
		decl := alarm
		for _, f := range Faults {
			for _, reading := range cloudwatch.Readings {
				row := Row{Fault: f, Signal: decl.Signal, Reading: reading}
				for _, before := range []Before{BeforeIdle, BeforeHealthy} {
					for m := range samples {
						switch {
						case m >= history:
							samples[m] = Minute(f, r, rate, targets)
						case before == BeforeHealthy:
							samples[m] = Minute(Healthy, r, rate, targets)
						default:
							samples[m] = cloudwatch.Sample{}
						}
					}
					t, fired := alarm.FirstAlarm(samples, 0, len(samples)-1, reading)
					if !fired || t < history {
						// An alarm firing before the fault would be a
						// false alarm: report the fault as not caught so
						// no one reads it as a stop.
						row.Minutes = 0
						break
					}
					row.Minutes = max(row.Minutes, t+1-history)
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

// Stop is the worst case for one fault under one publication delay: the
// most minutes of bad traffic, over the readings with that delay, before
// the first of the alarms fires, and which alarm that is in the worst
// reading; Minutes 0 means no alarm fires.
type Stop struct {
	Fault                    Fault
	RequestsLate, CountsLate int
	Minutes                  int
	Signal                   string
}

// Stops summarises rows per fault and per delay (cloudwatch.Delays).
func Stops(rows []Row) []Stop {
	var out []Stop
	for _, f := range Faults {
		for _, d := range cloudwatch.Delays {
			stop := Stop{Fault: f, RequestsLate: d[0], CountsLate: d[1]}
			for _, reading := range cloudwatch.Readings {
				if reading.RequestsLate != d[0] || reading.CountsLate != d[1] {
					continue
				}
				first, signal := 0, ""
				for _, row := range rows {
					if row.Fault == f && row.Reading == reading && row.Minutes > 0 && (first == 0 || row.Minutes < first) {
						first, signal = row.Minutes, row.Signal
					}
				}
				if first == 0 {
					stop.Minutes, stop.Signal = 0, ""
					break
				}
				if first > stop.Minutes {
					stop.Minutes, stop.Signal = first, signal
				}
			}
			out = append(out, stop)
		}
	}
	return out
}
