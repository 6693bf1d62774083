package alb

import (
	"maps"
	"slices"
	"time"
)

// metricsPage defines every metric recorded here.
const metricsPage = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html"

// Minute is what the load balancer measured for one target group in one
// minute of its clock: the raw material of the AWS/ApplicationELB metrics
// with the TargetGroup dimension (metricsPage). Which of them CloudWatch
// would publish for the minute (several are reported only when nonzero) is
// the consumer's decision; here every count is kept, zeros included.
type Minute struct {
	// Start is the minute's first instant on the load balancer's clock.
	Start time.Time

	// RequestCount: requests for which a target of the group was chosen
	// ("only incremented for requests where the load balancer node was able
	// to choose a target"), whatever happened next.
	RequestCount int
	// HTTPCodeTarget5XXCount: responses with a 5XX code from the targets
	// (HTTPCode_Target_5XX_Count), not the load balancer's own.
	HTTPCodeTarget5XXCount int
	// TargetConnectionErrorCount: connections to a target that could not be
	// established; each was answered 502 (or 504 on a connect timeout).
	TargetConnectionErrorCount int
	// TargetResponseTime: one sample per response a target sent, in
	// seconds on the load balancer's clock from the request leaving the
	// load balancer to the response headers arriving, in arrival order; a
	// consumer computes Average or pNN.NN from them.
	TargetResponseTime []float64

	// HealthSamples is how many health samples the minute holds (one per
	// CheckHealth); the four counts below are meaningful only when it is
	// not 0.
	HealthSamples int
	// HealthyHostCount / UnHealthyHostCount over the minute's samples:
	// targets in state healthy / unhealthy (initial targets count as
	// neither).
	HealthyHostCountMin, HealthyHostCountMax     int
	UnHealthyHostCountMin, UnHealthyHostCountMax int
}

// LoadBalancerMinute counts the answers the load balancer made itself in one
// minute (HTTPCode_ELB_502_Count, _503_, _504_; their sum is
// HTTPCode_ELB_5XX_Count), which CloudWatch reports per load balancer, not
// per target group (metricsPage).
type LoadBalancerMinute struct {
	Start                                                         time.Time
	HTTPCodeELB502Count, HTTPCodeELB503Count, HTTPCodeELB504Count int
}

// Snapshot is everything recorded so far. Minutes in which nothing was
// recorded are absent; each slice is in time order.
type Snapshot struct {
	TargetGroups map[string][]Minute // by target group ARN
	LoadBalancer []LoadBalancerMinute
}

// recorder keeps the per-minute records; the LoadBalancer's mutex guards it.
type recorder struct {
	groups map[string]map[time.Time]*Minute
	elb    map[time.Time]*LoadBalancerMinute
}

func newRecorder() recorder {
	return recorder{groups: map[string]map[time.Time]*Minute{}, elb: map[time.Time]*LoadBalancerMinute{}}
}

func (m *recorder) minute(arn string, at time.Time) *Minute {
	start := at.Truncate(time.Minute)
	byMinute := m.groups[arn]
	if byMinute == nil {
		byMinute = map[time.Time]*Minute{}
		m.groups[arn] = byMinute
	}
	rec := byMinute[start]
	if rec == nil {
		rec = &Minute{Start: start}
		byMinute[start] = rec
	}
	return rec
}

// elbAnswered counts a 502, 503 or 504 the load balancer sent itself.
func (m *recorder) elbAnswered(at time.Time, status int) {
	start := at.Truncate(time.Minute)
	rec := m.elb[start]
	if rec == nil {
		rec = &LoadBalancerMinute{Start: start}
		m.elb[start] = rec
	}
	switch status {
	case 502:
		rec.HTTPCodeELB502Count++
	case 503:
		rec.HTTPCodeELB503Count++
	case 504:
		rec.HTTPCodeELB504Count++
	}
}

func (m *recorder) sampleHealth(arn string, at time.Time, healthy, unhealthy int) {
	rec := m.minute(arn, at)
	if rec.HealthSamples == 0 {
		rec.HealthyHostCountMin, rec.HealthyHostCountMax = healthy, healthy
		rec.UnHealthyHostCountMin, rec.UnHealthyHostCountMax = unhealthy, unhealthy
	}
	rec.HealthSamples++
	rec.HealthyHostCountMin = min(rec.HealthyHostCountMin, healthy)
	rec.HealthyHostCountMax = max(rec.HealthyHostCountMax, healthy)
	rec.UnHealthyHostCountMin = min(rec.UnHealthyHostCountMin, unhealthy)
	rec.UnHealthyHostCountMax = max(rec.UnHealthyHostCountMax, unhealthy)
}

func (m *recorder) snapshot() Snapshot {
	s := Snapshot{TargetGroups: map[string][]Minute{}}
	for arn, byMinute := range m.groups {
		for _, start := range slices.SortedFunc(maps.Keys(byMinute), time.Time.Compare) {
			rec := *byMinute[start]
			rec.TargetResponseTime = slices.Clone(rec.TargetResponseTime)
			s.TargetGroups[arn] = append(s.TargetGroups[arn], rec)
		}
	}
	for _, start := range slices.SortedFunc(maps.Keys(m.elb), time.Time.Compare) {
		s.LoadBalancer = append(s.LoadBalancer, *m.elb[start])
	}
	return s
}

// Metrics returns a copy of everything recorded so far.
func (lb *LoadBalancer) Metrics() Snapshot {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.metrics.snapshot()
}
