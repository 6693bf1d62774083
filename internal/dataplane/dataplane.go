// Package dataplane is what runs on this machine in place of Fargate and the
// Application Load Balancer during a local rehearsal: real processes of the
// sample app as ECS tasks, behind the local ALB of internal/alb, on a clock
// that runs faster by a chosen factor.
//
// A control plane (the model of AWS) drives it through a small seam:
//
//   - Apply(desired): the ECS task sets it wants, each with its service,
//     task-set id, the app version its image stands for, target group,
//     desired count and container environment. The data plane reconciles:
//     it starts and stops processes to match, registers each running task's
//     loopback address in the task set's target group and deregisters a
//     stopping one; a task whose process dies is replaced, as ECS replaces
//     a stopped task of a service.
//   - the listener rules: Options.Rules, read by the ALB at every request
//     and health-check round, so the control plane's rule changes take
//     effect on the next request;
//   - the target groups and their health checks: Options.TargetGroups, as
//     internal/declared describes them;
//   - what ECS and ELB would answer: TaskSets (running and healthy counts,
//     each task's target health as DescribeTargetHealth gives it) and
//     Samples (one cloudwatch.Sample per target group and rehearsal
//     minute, what CloudWatch would get from the load balancer).
//
// Close stops every process and the listener; so does the end of the
// context New was given, and on Linux the death of the process that
// started them. Everything listens on 127.0.0.1 only.
//
// Where it differs from Fargate and ALB:
//
//   - a task is one local process of the sample app, not a container: no
//     image, no isolation, no CPU or memory limits, no awsvpc network
//     interface (its address is 127.0.0.1 and a free port, not the
//     container port), no task metadata endpoint, no log driver;
//   - the data plane does not compute desired counts: the control plane
//     gives each task set's count (ECS derives it from the service's
//     desired count and the task set's scale);
//   - a task that dies is replaced after 200 ms; a task that fails to
//     start is retried after 200 ms doubling to 10 s (wall clock), where
//     ECS's throttle grows to 27 minutes;
//   - draining: the local ALB forgets a deregistered target at once, so no
//     new request reaches it, and the data plane keeps the process serving
//     for the deregistration delay before SIGTERM; ELB ends the delay early
//     when a draining target has no connections left, this never does;
//   - the stop timeout between SIGTERM and SIGKILL is 10 s of wall time
//     (ECS: 30 s by default), not scaled by the clock;
//   - everything the local ALB of internal/alb leaves out (its package
//     doc), and CloudWatch's samples come from its one node: the Minimum
//     and Maximum of UnHealthyHostCount are the minute's lowest and highest
//     readings, not the lowest and highest node;
//   - the clock speeds up the load balancer's time (health-check
//     intervals, timeouts, response times, metric minutes) and the
//     deregistration delay, nothing else: the app's own timers (a bad
//     version's latency, its shutdown timeout) run on the wall clock, so
//     latency=1s reads as Speed seconds of TargetResponseTime.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tenant-canary/tenant-canary/internal/alb"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/sampleapp"
)

// Pages the behaviour follows.
const (
	// The task lifecycle: a stopping task behind a load balancer is
	// DEACTIVATING while it is deregistered, then STOPPING (SIGTERM), then
	// STOPPED.
	taskLifecyclePage = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html"
	// Connection draining: ECS waits for the target to finish draining
	// (the deregistration delay) before it sends the stop signal, then
	// SIGKILL after the stop timeout (30 s by default).
	drainingPage = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/load-balancer-connection-draining.html"
	// The service scheduler replaces a task that stops; when tasks keep
	// failing to reach RUNNING it "incrementally increases" the time
	// between attempts, but "Tasks that stop after reaching RUNNING state"
	// do not start the throttle.
	throttlePage = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-throttle-logic.html"
)

// TaskSet is one ECS task set as the control plane wants it.
type TaskSet struct {
	// Service is the ECS service's name; ID the task set's id. Together
	// they name the task set.
	Service, ID string
	// Version is the sample-app build the task set's image stands for
	// (the rehearsal registers one per pushed image).
	Version sampleapp.Version
	// TargetGroupArn is the target group its tasks are registered in
	// (the task set's load balancer).
	TargetGroupArn string
	// Desired is the number of tasks that should run (ECS's computed
	// desired count of the task set).
	Desired int
	// Environment is the container's environment from the task
	// definition (see ContainerEnvironment). PORT and LISTEN_HOST are the
	// data plane's: each task listens on its own free loopback port, where
	// Fargate gives each task its own address and the container port.
	Environment map[string]string
}

func (ts TaskSet) key() string { return ts.Service + "/" + ts.ID }

// Options configures a data plane.
type Options struct {
	// Builder builds the sample app's versions (required: SourceDir).
	Builder sampleapp.Builder
	// TargetGroups are the stack's target groups with their health checks
	// and deregistration delays, as internal/declared describes them.
	TargetGroups []declared.TargetGroup
	// Rules returns the production listener's rules as DescribeRules
	// would, default rule included; called at every request.
	Rules func() []elbtypes.Rule
	// Clock is the rehearsal's time (required).
	Clock *Clock
	// Port is the listener's port on 127.0.0.1; 0 picks a free one.
	Port int
	// Rand seeds the ALB's weighted choice among target groups (optional).
	Rand *rand.Rand
	// Logs receives the tasks' request logs, one JSON line each (optional).
	Logs io.Writer
	// Log receives the data plane's own events (optional).
	Log *slog.Logger
	// MaxTasks bounds the tasks running at once over all task sets;
	// default 32.
	MaxTasks int
	// StartTimeout bounds one task's start (the app saying it listens),
	// wall clock; default 20 s.
	StartTimeout time.Duration
	// StopTimeout is how long a task has after SIGTERM before it is
	// killed, wall clock; default 10 s (ECS's default is 30 s, drainingPage).
	StopTimeout time.Duration
	// RestartBackoff is the wait before replacing a task that died after
	// it started, and the first wait after a failed start, which doubles
	// per consecutive failed start up to MaxRestartBackoff (throttlePage);
	// wall clock, defaults 200 ms and 10 s.
	RestartBackoff, MaxRestartBackoff time.Duration
}

// DataPlane runs the tasks and the load balancer.
type DataPlane struct {
	opts   Options
	lb     *alb.LoadBalancer
	url    string
	groups map[string]declared.TargetGroup

	applying sync.Mutex // one Apply at a time

	closing   chan struct{}
	closeOnce sync.Once
	workers   sync.WaitGroup

	mu       sync.Mutex // guards below
	sets     map[string]*taskSet
	nextTask int
	targets  map[string][]regEvent // by target group ARN: registered count over time
	closed   bool
}

// taskSet is a task set and its slots: one slot per desired task.
type taskSet struct {
	key    string // spec.key(), immutable: read without the lock
	spec   TaskSet
	binary string
	slots  []*slot
	// stopping are slots scaled away, draining or stopping.
	stopping map[*slot]bool
}

// slot keeps one task of a task set running, replacing it when it dies.
type slot struct {
	set  *taskSet
	stop chan struct{} // closed when the slot is scaled away
	// below: guarded by DataPlane.mu
	task       *sampleapp.Task
	taskID     string
	registered bool // task is a target of the task set's group
	draining   bool
	restarts   int
}

// regEvent is a target group's registered target count from at on.
type regEvent struct {
	at time.Time
	n  int
}

// New starts the load balancer with the declared target groups, serving on
// 127.0.0.1. When ctx ends, the data plane closes itself.
func New(ctx context.Context, opts Options) (*DataPlane, error) {
	if opts.Clock == nil {
		return nil, errors.New("dataplane.Options.Clock is nil: the data plane needs the rehearsal's clock")
	}
	if opts.Rules == nil {
		return nil, errors.New("dataplane.Options.Rules is nil: the load balancer needs the listener's rules")
	}
	if opts.Builder.SourceDir == "" {
		return nil, errors.New("dataplane.Options.Builder.SourceDir is empty: want the repository root, which holds images/app")
	}
	if opts.MaxTasks == 0 {
		opts.MaxTasks = 32
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 20 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.RestartBackoff == 0 {
		opts.RestartBackoff = 200 * time.Millisecond
	}
	if opts.MaxRestartBackoff == 0 {
		opts.MaxRestartBackoff = 10 * time.Second
	}
	if opts.Logs != nil {
		opts.Logs = &lockedWriter{w: opts.Logs}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	// Health checks are due every Interval of rehearsal time: poll often
	// enough on the wall clock to send each on time.
	poll := 50 * time.Millisecond
	// The tasks are the sample app, whose health path is never slowed
	// (images/app/bad.go: a bad build answers it at once, 503 or 200), so a
	// check that overruns its timeout on the sped-up clock within half a
	// second of wall time was held up by this machine's load, not by the
	// task: at 60x the 5 s default timeout is 83 ms of wall time.
	lb, err := alb.New(alb.Options{Rules: opts.Rules, Clock: opts.Clock, Rand: opts.Rand, HealthCheckPoll: poll, HealthCheckSlack: 500 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	d := &DataPlane{
		opts: opts, lb: lb, groups: map[string]declared.TargetGroup{},
		closing: make(chan struct{}), sets: map[string]*taskSet{}, targets: map[string][]regEvent{},
	}
	for _, tg := range opts.TargetGroups {
		arn := aws.ToString(tg.TargetGroup.TargetGroupArn)
		hc, err := HealthCheck(tg)
		if err != nil {
			return nil, err
		}
		if tg.DeregistrationDelaySeconds < 0 || tg.DeregistrationDelaySeconds > 3600 {
			return nil, fmt.Errorf("target group %s: deregistration_delay.timeout_seconds %d: want 0 to 3600", arn, tg.DeregistrationDelaySeconds)
		}
		if err := lb.AddTargetGroup(arn, hc); err != nil {
			return nil, err
		}
		d.groups[arn] = tg
	}
	d.url, err = lb.Start(opts.Port)
	if err != nil {
		return nil, err
	}
	// Not one of d.workers: Close waits for those.
	go func() {
		select {
		case <-ctx.Done():
			_ = d.Close()
		case <-d.closing:
		}
	}()
	return d, nil
}

// HealthCheck is the local ALB's health check for a declared target group.
// The local ALB checks over HTTP on the traffic port only, which is what
// the program declares.
func HealthCheck(tg declared.TargetGroup) (alb.HealthCheck, error) {
	g := tg.TargetGroup
	arn := aws.ToString(g.TargetGroupArn)
	if g.HealthCheckEnabled != nil && !*g.HealthCheckEnabled {
		return alb.HealthCheck{}, fmt.Errorf("target group %s: HealthCheckEnabled false: an ip target group's health checks cannot be disabled, want true", arn)
	}
	if p := g.HealthCheckProtocol; p != "" && p != elbtypes.ProtocolEnumHttp {
		return alb.HealthCheck{}, fmt.Errorf("target group %s: HealthCheckProtocol %q: the local ALB checks over HTTP only", arn, p)
	}
	if p := aws.ToString(g.HealthCheckPort); p != "" && p != "traffic-port" {
		return alb.HealthCheck{}, fmt.Errorf("target group %s: HealthCheckPort %q: the local ALB checks on traffic-port only", arn, p)
	}
	hc := alb.HealthCheck{
		Path:                    aws.ToString(g.HealthCheckPath),
		Interval:                time.Duration(aws.ToInt32(g.HealthCheckIntervalSeconds)) * time.Second,
		Timeout:                 time.Duration(aws.ToInt32(g.HealthCheckTimeoutSeconds)) * time.Second,
		HealthyThresholdCount:   int(aws.ToInt32(g.HealthyThresholdCount)),
		UnhealthyThresholdCount: int(aws.ToInt32(g.UnhealthyThresholdCount)),
	}
	if g.Matcher != nil {
		hc.Matcher = aws.ToString(g.Matcher.HttpCode)
	}
	return hc, nil
}

// ContainerEnvironment is a container definition's environment as a map,
// what TaskSet.Environment wants.
func ContainerEnvironment(c ecstypes.ContainerDefinition) map[string]string {
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	return env
}

// URL is the load balancer's listener, http://127.0.0.1:port.
func (d *DataPlane) URL() string { return d.url }

// Apply makes the running tasks match desired, the whole desired state: a
// task set it does not name is scaled to 0 and forgotten once its tasks
// have stopped. It builds each new version (cached), starts the tasks a
// task set lacks and waits until each has started or failed its first
// start (a failed task keeps being retried, as ECS does), and begins
// draining the tasks a task set has too many of. Calling it again with the
// same state changes nothing.
//
// A task set's version, target group and environment are fixed when it is
// created, as a task set's task definition and load balancer are; changing
// them under the same id is an error.
func (d *DataPlane) Apply(ctx context.Context, desired []TaskSet) error {
	d.applying.Lock()
	defer d.applying.Unlock()
	seen := map[string]bool{}
	total := 0
	for _, ts := range desired {
		if ts.Service == "" || ts.ID == "" {
			return fmt.Errorf("task set %q/%q: want a service name and a task set id", ts.Service, ts.ID)
		}
		if seen[ts.key()] {
			return fmt.Errorf("task set %s named twice in the desired state", ts.key())
		}
		seen[ts.key()] = true
		if ts.Desired < 0 {
			return fmt.Errorf("task set %s: desired count %d: want 0 or more", ts.key(), ts.Desired)
		}
		if _, ok := d.groups[ts.TargetGroupArn]; !ok {
			return fmt.Errorf("task set %s: target group %q: want one of the declared target groups %v", ts.key(), ts.TargetGroupArn, slices.Sorted(maps.Keys(d.groups)))
		}
		total += ts.Desired
	}
	if total > d.opts.MaxTasks {
		return fmt.Errorf("desired state asks for %d tasks: the data plane runs at most %d (Options.MaxTasks)", total, d.opts.MaxTasks)
	}
	// Builds happen before the lock: they take seconds the first time.
	binaries := map[string]string{}
	for _, ts := range desired {
		d.mu.Lock()
		old := d.sets[ts.key()]
		d.mu.Unlock()
		if old != nil {
			if err := sameDefinition(old.spec, ts); err != nil {
				return err
			}
			continue
		}
		bin, err := d.opts.Builder.Build(ctx, ts.Version)
		if err != nil {
			return fmt.Errorf("task set %s: %w", ts.key(), err)
		}
		binaries[ts.key()] = bin
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("data plane is closed")
	}
	var started, stopped []*slot
	for _, ts := range desired {
		set := d.sets[ts.key()]
		if set == nil {
			set = &taskSet{key: ts.key(), spec: ts, binary: binaries[ts.key()], stopping: map[*slot]bool{}}
			set.spec.Environment = maps.Clone(ts.Environment)
			d.sets[ts.key()] = set
		}
		set.spec.Desired = ts.Desired
		added, removed := d.scaleLocked(set, ts.Desired)
		started, stopped = append(started, added...), append(stopped, removed...)
	}
	for key, set := range d.sets {
		if !seen[key] {
			set.spec.Desired = 0
			_, removed := d.scaleLocked(set, 0)
			stopped = append(stopped, removed...)
			d.forgetIfEmptyLocked(set)
		}
	}
	firsts := make([]chan error, len(started))
	for i, s := range started {
		firsts[i] = make(chan error, 1)
		d.workers.Go(func() { d.run(s, firsts[i]) })
	}
	d.mu.Unlock()
	// A task scaled away receives no new request once Apply returns.
	for _, s := range stopped {
		d.deregister(s)
	}

	var errs []error
	for _, first := range firsts {
		if err := <-first; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sameDefinition(old, now TaskSet) error {
	switch {
	case old.Version != now.Version:
		return fmt.Errorf("task set %s: version %s/%s changed to %s/%s: a task set's task definition is fixed, create a new task set", now.key(), old.Version.Name, old.Version.Color, now.Version.Name, now.Version.Color)
	case old.TargetGroupArn != now.TargetGroupArn:
		return fmt.Errorf("task set %s: target group %s changed to %s: a task set's load balancer is fixed, create a new task set", now.key(), old.TargetGroupArn, now.TargetGroupArn)
	case !maps.Equal(old.Environment, now.Environment):
		return fmt.Errorf("task set %s: container environment changed: a task set's task definition is fixed, create a new task set", now.key())
	}
	return nil
}

// scaleLocked adds or removes slots to reach n and returns the new ones
// (the caller starts them) and the removed ones (the caller deregisters
// them; their goroutines drain and stop them). The newest slots go first.
func (d *DataPlane) scaleLocked(set *taskSet, n int) (added, removed []*slot) {
	for len(set.slots) < n {
		s := &slot{set: set, stop: make(chan struct{})}
		set.slots = append(set.slots, s)
		added = append(added, s)
	}
	for len(set.slots) > n {
		s := set.slots[len(set.slots)-1]
		set.slots = set.slots[:len(set.slots)-1]
		set.stopping[s] = true
		s.draining = true
		close(s.stop)
		removed = append(removed, s)
	}
	return added, removed
}

func (d *DataPlane) forgetIfEmptyLocked(set *taskSet) {
	if len(set.slots) == 0 && len(set.stopping) == 0 && set.spec.Desired == 0 {
		if d.sets[set.key] == set {
			delete(d.sets, set.key)
		}
	}
}

// run keeps the slot's task running until the slot is scaled away (then it
// drains and stops the task) or the data plane closes (then it stops it at
// once). first receives the outcome of the first start.
func (d *DataPlane) run(s *slot, first chan<- error) {
	set := s.set
	backoff := d.opts.RestartBackoff
	defer func() {
		d.mu.Lock()
		delete(set.stopping, s)
		d.forgetIfEmptyLocked(set)
		d.mu.Unlock()
	}()
	for {
		task, id, err := d.start(s)
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			d.opts.Log.Warn("task failed to start", "taskSet", set.key, "error", err.Error(), "retryIn", backoff.String())
			if !d.sleep(s, backoff) {
				return
			}
			backoff = min(2*backoff, d.opts.MaxRestartBackoff)
			continue
		}
		exited := make(chan struct{})
		go func() { _ = task.Wait(); close(exited) }()
		select {
		case <-exited:
			// The task stopped by itself: ECS deregisters it and the
			// service scheduler starts a replacement (throttlePage).
			d.deregister(s)
			d.opts.Log.Warn("task exited; replacing it", "taskSet", set.key, "task", id, "in", d.opts.RestartBackoff.String())
			d.mu.Lock()
			s.task, s.taskID = nil, ""
			s.restarts++
			d.mu.Unlock()
			// It had reached RUNNING: no throttle (throttlePage), only
			// the short wait that bounds a task crashing at once.
			backoff = d.opts.RestartBackoff
			if !d.sleep(s, backoff) {
				return
			}
		case <-s.stop:
			d.drainAndStop(s, task)
			return
		case <-d.closing:
			d.deregister(s)
			_ = task.Stop(min(d.opts.StopTimeout, 2*time.Second))
			return
		}
	}
}

// start starts one task of the slot's task set and registers it.
func (d *DataPlane) start(s *slot) (*sampleapp.Task, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.StartTimeout)
	defer cancel()
	go func() {
		select {
		case <-d.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	set := s.set
	task, err := sampleapp.Start(ctx, set.binary, 0, set.spec.Environment, d.opts.Logs)
	if err != nil {
		return nil, "", fmt.Errorf("task set %s: %w", set.key, err)
	}
	d.mu.Lock()
	d.nextTask++
	id := fmt.Sprintf("%s-%d", set.spec.ID, d.nextTask)
	closed := d.closed
	if !closed {
		s.task, s.taskID = task, id
	}
	d.mu.Unlock()
	if closed {
		_ = task.Stop(time.Second)
		return nil, "", errors.New("data plane is closed")
	}
	if err := d.registerSlot(s); err != nil {
		d.mu.Lock()
		s.task, s.taskID = nil, ""
		d.mu.Unlock()
		_ = task.Stop(time.Second)
		return nil, "", err
	}
	d.opts.Log.Info("task started", "taskSet", set.key, "task", id, "addr", task.Addr, "pid", task.PID())
	return task, id, nil
}

// drainAndStop deregisters the task, keeps it serving in-flight requests
// for the target group's deregistration delay (on the rehearsal clock), then
// stops it (SIGTERM, SIGKILL after StopTimeout), as ECS does
// (taskLifecyclePage, drainingPage). The local ALB forgets a deregistered
// target at once, so no new request reaches it while it drains. ELB
// completes a deregistration early when the target has no in-flight
// requests and no active connections
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay);
// the full delay here is the longest ECS can wait, the safe reading for a
// rollout that must not count on a task being gone sooner.
func (d *DataPlane) drainAndStop(s *slot, task *sampleapp.Task) {
	d.deregister(s)
	delay := d.opts.Clock.Wall(time.Duration(d.groups[s.set.spec.TargetGroupArn].DeregistrationDelaySeconds) * time.Second)
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-d.closing:
		t.Stop()
	}
	_ = task.Stop(d.opts.StopTimeout)
	d.mu.Lock()
	s.task, s.taskID = nil, ""
	d.mu.Unlock()
}

// sleep waits d unless the slot is stopped or the data plane closes; false
// means stop.
func (d *DataPlane) sleep(s *slot, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	case <-d.closing:
		return false
	}
}

func target(addr string) (elbtypes.TargetDescription, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return elbtypes.TargetDescription{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return elbtypes.TargetDescription{}, err
	}
	return elbtypes.TargetDescription{Id: aws.String(host), Port: aws.Int32(int32(p))}, nil
}

// registerSlot registers the slot's task in its target group.
func (d *DataPlane) registerSlot(s *slot) error {
	d.mu.Lock()
	task := s.task
	d.mu.Unlock()
	if task == nil {
		return nil
	}
	t, err := target(task.Addr)
	if err != nil {
		return err
	}
	arn := s.set.spec.TargetGroupArn
	if err := d.lb.RegisterTargets(arn, t); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s.registered = true
	d.countTargetsLocked(arn, +1)
	return nil
}

// deregister takes the slot's task out of its target group, once: Apply
// does it for a task scaled away, the slot's goroutine for a task that
// died, drains or stops.
func (d *DataPlane) deregister(s *slot) {
	d.mu.Lock()
	task := s.task
	if task == nil || !s.registered {
		d.mu.Unlock()
		return
	}
	s.registered = false
	arn := s.set.spec.TargetGroupArn
	d.countTargetsLocked(arn, -1)
	d.mu.Unlock()
	t, err := target(task.Addr)
	if err == nil {
		err = d.lb.DeregisterTargets(arn, t)
	}
	if err != nil {
		d.opts.Log.Warn("deregistering a task failed", "taskSet", s.set.key, "addr", task.Addr, "error", err.Error())
	}
}

// countTargetsLocked records a change of the group's registered targets
// for Samples' Targets.
func (d *DataPlane) countTargetsLocked(arn string, delta int) {
	h := d.targets[arn]
	n := 0
	if len(h) > 0 {
		n = h[len(h)-1].n
	}
	d.targets[arn] = append(h, regEvent{at: d.opts.Clock.Now(), n: n + delta})
}

// Close stops every task (SIGTERM, then SIGKILL after at most 2 s) and the
// load balancer, and waits for them. It is safe to call more than once.
func (d *DataPlane) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.closing)
		d.workers.Wait()
		err = d.lb.Close()
	})
	return err
}

// SyncWriter serialises writes to w from several goroutines: every task's
// log lines, or a rehearsal's log beside a scenario driver's lines.
func SyncWriter(w io.Writer) io.Writer { return &lockedWriter{w: w} }

// lockedWriter lets every task write its log lines to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
