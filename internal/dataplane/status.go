package dataplane

import (
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
)

// statisticsPage defines CloudWatch's statistics, percentiles among them.
const statisticsPage = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html"

// TaskSetStatus is what ECS and ELB would say about one task set.
type TaskSetStatus struct {
	Service, ID    string
	TargetGroupArn string
	Desired        int
	// Running counts tasks whose process runs and is registered: ECS's
	// runningCount. A task draining after a scale-down is DEACTIVATING,
	// not RUNNING (taskLifecyclePage), and counts under Draining.
	Running, Draining int
	// Healthy counts running tasks the load balancer reports healthy in the
	// task set's target group (DescribeTargetHealth).
	Healthy int
	// Restarts counts tasks that died and were replaced.
	Restarts int
	// Tasks are the running and draining tasks.
	Tasks []TaskStatus
}

// TaskStatus is one task.
type TaskStatus struct {
	ID   string
	Addr string // 127.0.0.1:port
	PID  int
	// Draining after a scale-down: deregistered, still serving what it had.
	Draining bool
	// Health is the target's health as DescribeTargetHealth reports it; nil
	// once deregistered.
	Health *elbtypes.TargetHealth
}

// TaskSets reports every task set, ordered by service and id.
func (d *DataPlane) TaskSets() []TaskSetStatus {
	health := map[string]map[string]*elbtypes.TargetHealth{} // arn → addr → health
	for arn := range d.groups {
		descs, err := d.lb.DescribeTargetHealth(arn)
		if err != nil {
			continue // every declared group was added in New
		}
		health[arn] = map[string]*elbtypes.TargetHealth{}
		for _, h := range descs {
			addr := net.JoinHostPort(aws.ToString(h.Target.Id), strconv.Itoa(int(aws.ToInt32(h.Target.Port))))
			health[arn][addr] = h.TargetHealth
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []TaskSetStatus
	for _, set := range d.sets {
		st := TaskSetStatus{Service: set.spec.Service, ID: set.spec.ID, TargetGroupArn: set.spec.TargetGroupArn, Desired: set.spec.Desired}
		slots := append(slices.Clone(set.slots), sortedSlots(set.stopping)...)
		for _, s := range slots {
			st.Restarts += s.restarts
			if s.task == nil {
				continue
			}
			ts := TaskStatus{ID: s.taskID, Addr: s.task.Addr, PID: s.task.PID(), Draining: s.draining}
			if !s.draining {
				ts.Health = health[set.spec.TargetGroupArn][s.task.Addr]
			}
			switch {
			case s.draining:
				st.Draining++
			case ts.Health != nil:
				st.Running++
				if ts.Health.State == elbtypes.TargetHealthStateEnumHealthy {
					st.Healthy++
				}
			}
			st.Tasks = append(st.Tasks, ts)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b TaskSetStatus) int {
		return strings.Compare(a.Service+"/"+a.ID, b.Service+"/"+b.ID)
	})
	return out
}

func sortedSlots(m map[*slot]bool) []*slot {
	out := make([]*slot, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *slot) int { return strings.Compare(a.taskID, b.taskID) })
	return out
}

// TargetHealth is DescribeTargetHealth of one target group: the local
// ALB's registered targets, and the tasks draining after a scale-down in
// state draining, reason Target.DeregistrationInProgress, as ELB reports a
// target during its deregistration delay
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
func (d *DataPlane) TargetHealth(arn string) ([]elbtypes.TargetHealthDescription, error) {
	out, err := d.lb.DescribeTargetHealth(arn)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, set := range d.sets {
		if set.spec.TargetGroupArn != arn {
			continue
		}
		for _, s := range sortedSlots(set.stopping) {
			if s.task == nil || s.registered {
				continue
			}
			t, err := target(s.task.Addr)
			if err != nil {
				continue
			}
			out = append(out, elbtypes.TargetHealthDescription{
				Target: &t, HealthCheckPort: aws.String(strconv.Itoa(int(aws.ToInt32(t.Port)))),
				TargetHealth: &elbtypes.TargetHealth{
					State: elbtypes.TargetHealthStateEnumDraining, Reason: elbtypes.TargetHealthReasonEnumDeregistrationInProgress,
					Description: aws.String("Target deregistration is in progress"),
				},
			})
		}
	}
	return out, nil
}

// Samples is what CloudWatch would hold for a target group: one Sample per
// rehearsal minute from the clock's first minute (index 0) to the current
// one (the last, still filling), as internal/cloudwatch's Alarm.Evaluate
// reads them. responseTime is the statistic the alarm reads of
// TargetResponseTime: "Average" or a percentile "pNN" / "pNN.NN".
//
// From the local ALB's minute of the group: Requests is RequestCount,
// Target5XX HTTPCode_Target_5XX_Count, ConnectionErrors
// TargetConnectionErrorCount, ResponseTime the statistic of the minute's
// response times; Targets is the most targets registered at any time in
// the minute. The local ALB is one node that samples its health counts
// many times a minute; the lowest UnHealthyHostCount of the minute stands
// for what every node agrees on (Unhealthy, the Minimum statistic) and the
// highest for what at least one node sees (UnhealthyAnyNode, the Maximum),
// so a target turning unhealthy mid-minute reaches the Maximum in that
// minute and the Minimum in the next.
func (d *DataPlane) Samples(arn, responseTime string) ([]cloudwatch.Sample, error) {
	if _, ok := d.groups[arn]; !ok {
		return nil, fmt.Errorf("target group %q is not one of the declared target groups", arn)
	}
	stat, err := parseStatistic(responseTime)
	if err != nil {
		return nil, err
	}
	clock := d.opts.Clock
	now := clock.Now()
	samples := make([]cloudwatch.Sample, clock.Minute(now)+1)
	for _, m := range d.lb.Metrics().TargetGroups[arn] {
		i := clock.Minute(m.Start)
		if i < 0 || i >= len(samples) {
			continue
		}
		s := &samples[i]
		s.Requests = float64(m.RequestCount)
		s.Target5XX = float64(m.HTTPCodeTarget5XXCount)
		s.ConnectionErrors = float64(m.TargetConnectionErrorCount)
		s.ResponseTime = stat(m.TargetResponseTime)
		if m.HealthSamples > 0 {
			s.Unhealthy = float64(m.UnHealthyHostCountMin)
			s.UnhealthyAnyNode = float64(m.UnHealthyHostCountMax)
		}
	}
	d.mu.Lock()
	history := slices.Clone(d.targets[arn])
	d.mu.Unlock()
	for i := range samples {
		start := clock.Origin().Add(time.Duration(i) * time.Minute)
		samples[i].Targets = float64(maxRegistered(history, start, start.Add(time.Minute)))
	}
	return samples, nil
}

// maxRegistered is the most targets registered at any time in [from, to):
// the count standing at from, or any count set within the interval.
func maxRegistered(history []regEvent, from, to time.Time) int {
	most := 0
	for _, e := range history {
		if !e.at.Before(to) {
			break
		}
		if e.at.Before(from) {
			most = e.n // standing at from, unless a later event replaces it
		} else {
			most = max(most, e.n)
		}
	}
	return most
}

// parseStatistic returns the function computing a TargetResponseTime
// statistic from one minute's response times (seconds).
func parseStatistic(stat string) (func([]float64) float64, error) {
	if stat == "Average" {
		return func(v []float64) float64 {
			if len(v) == 0 {
				return 0
			}
			sum := 0.0
			for _, x := range v {
				sum += x
			}
			return sum / float64(len(v))
		}, nil
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(stat, "p"), 64)
	if !percentilePattern.MatchString(stat) || err != nil || f <= 0 || f > 100 {
		return nil, fmt.Errorf("response time statistic %q: want Average or a percentile pNN.NN above 0 up to 100, such as p99 (%s)", stat, statisticsPage)
	}
	return func(v []float64) float64 { return percentile(v, f) }, nil
}

// percentilePattern is pNN.NN: "any percentile, using up to two decimal
// places" (statisticsPage).
var percentilePattern = regexp.MustCompile(`^p[0-9]{1,3}(\.[0-9]{1,2})?$`)

// percentile is the nearest-rank p-th percentile: the smallest value with
// at least p percent of the values at or below it. statisticsPage says of
// p95 that "95 percent of the data within the period is lower than this
// value and 5 percent of the data is higher" without naming an
// interpolation; nearest rank returns a value that was measured.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
