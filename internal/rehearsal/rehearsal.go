// Package rehearsal runs a whole rollout of a declared stack on this
// machine: the control plane is the project's one model of AWS
// (internal/protocol), served over the AWS wire protocols on 127.0.0.1
// (internal/fakeaws), and the data plane is real processes of the sample
// app behind a local load balancer (internal/dataplane), on a clock that
// runs faster by a chosen factor.
//
// What runs for real: the sample app (each ECS task is a process, built
// with the version and colour it is pushed as, bad as told), the load
// balancer's routing by the listener rules the model holds, its health
// checks and the per-target-group metrics they yield, the rollback
// alarms' evaluation of those metrics (internal/cloudwatch, the alarms the
// program declares), and every function the model invokes: the same
// lambda/rollout handlers the bootstraps start (lambda/*/main.go), with the
// function's declared environment and SDK clients pointed at the local
// endpoint, so every call they make goes over the wire.
//
// What the model decides (its readings of the AWS documentation, not AWS):
// CodePipeline's executions and stage locks, CodeDeploy's lifecycle and
// traffic steps, ECS's task sets, EventBridge's deliveries. The loop takes
// only the model's autonomous events, in the model's order — a deployment's
// next step, a pipeline transition, an event delivery — and never a
// shortcut the real stack would not take: a task set turns healthy when the
// load balancer's checks of its processes pass (not by the model's free
// "turns healthy" event), a minute passes when the rehearsal's clock
// leaves it (not when the model would like one to), and a person's
// decisions come only from outside (the CLI's PutApprovalResult over the
// wire, Push). The invariants I1–I6 are checked after every event and
// while functions run; a violation is logged at ERROR and kept
// (Violations).
//
// Time: the dataplane's Clock. CodeDeploy's steps happen at their
// configured minutes of that clock, the load balancer's health checks and
// metric minutes run on it, a function's timeout and poll interval are
// scaled by it: every timer runs on it. The processes' own work does not
// speed up. So a response time the alarms read is the response's wall
// time (the load balancer times it on the rehearsal clock; the rehearsal
// divides by the speed), except the delay a bad version's latency= adds,
// which is a timer: the app is built to sleep latency/speed (latency=3s at
// 60x sleeps 50 ms, a request as long in rehearsal time as on AWS, ending
// within its minute), and the rehearsal counts that sleep as the latency
// it stands for on the target groups the version serves. Timing the whole
// response on the rehearsal clock would multiply every scheduling hiccup by
// the speed (at 60x a 34 ms stall on a busy machine reads as the 2 s at
// which the default latency alarm stops a rollout), so a healthy version
// could be rolled back by the rehearsal's own noise; sleeping the full
// latency on the wall clock would spread one slow request over minutes of
// rehearsal time, past the alarm's evaluation.
package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/cloudwatch"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/dataplane"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/internal/sampleapp"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// InitialVersion is what both services run when a rehearsal starts (the
// model's version 0: every tenant on it).
const InitialVersion = "v1"

// colours are the versions' accents, in push order (the initial version
// first), so a browser shows who is on what.
var colours = []string{"steelblue", "seagreen", "darkorange", "mediumpurple", "teal", "crimson", "goldenrod", "slategray"}

// Options configure a rehearsal.
type Options struct {
	// Stack is what the program declares (`go run . declare`).
	Stack *declared.Stack
	// SourceDir is the repository root (go.mod, images/app): the sample
	// app is built from it.
	SourceDir string
	// CacheDir holds the app's builds (default: sampleapp's).
	CacheDir string
	// Speed is the clock's factor (1 to dataplane.MaxSpeed).
	Speed float64
	// Port is the listener's port on 127.0.0.1 (0: a free one); the AWS
	// endpoint always takes a free one.
	Port int
	// Log receives what happens (default: discarded).
	Log *slog.Logger
	// TaskLogs receives the tasks' request logs (default: discarded).
	TaskLogs io.Writer
}

// Rehearsal is a running rehearsal.
type Rehearsal struct {
	opts     Options
	log      *slog.Logger
	clock    *dataplane.Clock
	model    *protocol.Direct
	dp       *dataplane.DataPlane
	srv      *http.Server
	endpoint string
	awsCfg   aws.Config
	env      map[contract.Hook]map[string]string
	timeout  map[contract.Hook]time.Duration
	retries  map[contract.Hook]int
	respStat string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	hooks  sync.WaitGroup
	apply  chan []dataplane.TaskSet
	wake   chan struct{}

	mu       sync.Mutex
	versions map[int]sampleapp.Version // model version → the build it stands for
	// delays are each version's latency= (by name); tgVersion the version
	// each target group's tasks run (observed reads them under the
	// model's lock, so they are kept here).
	delays     map[string]time.Duration
	tgVersion  map[string]string
	violations []string
	running    map[contract.Hook]int // invocations running now
	failures   []string              // functions that returned an error
	traceAt    int
	pushing    sync.Mutex
	nowMu      sync.Mutex
	started    bool
}

// Start builds the initial version, starts the data plane, the AWS
// endpoint and the control loop. Close stops everything; so does the end
// of ctx.
func Start(ctx context.Context, opts Options) (*Rehearsal, error) {
	if opts.Stack == nil {
		return nil, errors.New("rehearsal: Options.Stack is nil: want the declared stack (go run . declare --stack S)")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	clock, err := dataplane.NewClock(opts.Speed)
	if err != nil {
		return nil, err
	}
	sig, respStat, err := signalOf(opts.Stack)
	if err != nil {
		return nil, err
	}
	r := &Rehearsal{
		opts: opts, log: opts.Log, clock: clock, respStat: respStat,
		env: map[contract.Hook]map[string]string{}, timeout: map[contract.Hook]time.Duration{}, retries: map[contract.Hook]int{},
		done: make(chan struct{}), apply: make(chan []dataplane.TaskSet, 1), wake: make(chan struct{}, 1),
		versions: map[int]sampleapp.Version{0: {Name: InitialVersion, Color: colours[0]}},
		running:  map[contract.Hook]int{},
		delays:   map[string]time.Duration{}, tgVersion: map[string]string{},
	}
	sig.Observed = r.observed
	r.model = protocol.NewRehearsal(opts.Stack, sig, clock.Now())
	r.model.TagImage(0, InitialVersion)
	r.model.RunFunction(contract.HookRollback, r.invokeNow(contract.HookRollback))
	for _, f := range opts.Stack.Functions {
		r.timeout[f.Hook] = time.Duration(f.TimeoutSeconds) * time.Second
		r.retries[f.Hook] = f.MaximumRetryAttempts
	}
	r.ctx, r.cancel = context.WithCancel(ctx)

	// Build the initial version before anything runs.
	builder := sampleapp.Builder{SourceDir: opts.SourceDir, CacheDir: opts.CacheDir}
	if _, err := builder.Build(r.ctx, r.versions[0]); err != nil {
		r.cancel()
		return nil, err
	}
	r.dp, err = dataplane.New(r.ctx, dataplane.Options{
		Builder: builder, TargetGroups: opts.Stack.TargetGroups, Rules: r.model.ListenerRules, Clock: clock,
		Port: opts.Port, Logs: opts.TaskLogs, Log: opts.Log.With("part", "dataplane"),
	})
	if err != nil {
		r.cancel()
		return nil, err
	}
	if err := r.serve(); err != nil {
		r.cancel()
		_ = r.dp.Close()
		return nil, err
	}
	for _, h := range []contract.Hook{contract.HookPin, contract.HookUnpin, contract.HookCleanup, contract.HookRollback} {
		r.env[h] = r.functionEnv(h)
	}
	// The initial task sets run before the loop takes any event.
	if err := r.dp.Apply(r.ctx, r.desired()); err != nil {
		_ = r.Close()
		return nil, err
	}
	// The stack starts at rest: its tasks healthy, as after `pulumi up`.
	if err := r.awaitHealthy(); err != nil {
		_ = r.Close()
		return nil, err
	}
	r.started = true
	go r.reconcile()
	go r.loop()
	return r, nil
}

// awaitHealthy waits until every running task set of the model passes its
// health checks on the local load balancer.
func (r *Rehearsal) awaitHealthy() error {
	deadline := time.Now().Add(minInvocation)
	for {
		status := map[string]dataplane.TaskSetStatus{}
		for _, ts := range r.dp.TaskSets() {
			status[ts.Service+"/"+ts.ID] = ts
		}
		var waiting []string
		for _, ts := range r.model.TaskSets() {
			if st := status[ts.Service+"/"+ts.ID]; ts.Running > 0 && st.Healthy < ts.Running {
				waiting = append(waiting, fmt.Sprintf("%s/%s (%d of %d healthy)", ts.Service, ts.ID, st.Healthy, ts.Running))
			}
		}
		if len(waiting) == 0 {
			r.syncHealth()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rehearsal: the initial tasks did not pass their health checks within %s: %s", minInvocation, strings.Join(waiting, ", "))
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signalOf is the signal path of the declared stack — the model reads its
// rollback alarms, the target groups each deployment group's alarms watch
// and the traffic config from the stack itself — and the TargetResponseTime
// statistic the latency alarm reads, which the data plane's samples need.
func signalOf(st *declared.Stack) (*protocol.Signal, string, error) {
	sig := &protocol.Signal{Bad: map[int]string{}}
	respStat := "Average"
	for _, a := range st.Alarms {
		def := a.Definition
		for _, q := range def.Metrics {
			if q.MetricStat != nil && q.MetricStat.Metric != nil && aws.ToString(q.MetricStat.Metric.MetricName) == cloudwatch.MetricTargetResponseTime {
				respStat = aws.ToString(q.MetricStat.Stat)
			}
		}
		if aws.ToString(def.MetricName) == cloudwatch.MetricTargetResponseTime {
			if def.ExtendedStatistic != nil {
				respStat = *def.ExtendedStatistic
			} else if def.Statistic != "" {
				respStat = string(def.Statistic)
			}
		}
	}
	return sig, respStat, nil
}

// functionEnv is a function's declared environment. RELEASE_DELAY_SECONDS
// is the one the hook waits on a wall-clock timer: scaled by the speed
// (rounded up to whole seconds, as the variable holds).
func (r *Rehearsal) functionEnv(h contract.Hook) map[string]string {
	env := map[string]string{}
	for _, f := range r.opts.Stack.Functions {
		if f.Hook == h {
			for k, v := range f.Environment {
				env[k] = v
			}
		}
	}
	if v, ok := env[contract.EnvReleaseDelaySeconds]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			env[contract.EnvReleaseDelaySeconds] = strconv.Itoa(int(math.Ceil(float64(n) / r.clock.Speed())))
		}
	}
	return env
}

// serve starts the AWS endpoint: the model's API over the wire protocols,
// and the rehearsal's own push under /_rehearsal/.
func (r *Rehearsal) serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r.endpoint = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: fakeaws.NewServer(r.model.Operator(), http.HandlerFunc(r.control)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	r.awsCfg = ClientConfig(r.endpoint, r.opts.Stack.Region)
	return nil
}

// ClientConfig is an SDK configuration pointed at a rehearsal's endpoint,
// with the retries the hooks use and credentials that only this endpoint
// accepts (it checks none).
func ClientConfig(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("rehearsal", "rehearsal", ""),
		Retryer:      func() aws.Retryer { return rollout.NewRetryer(rollout.RetryMaxAttempts, rollout.RetryMaxBackoff) },
		HTTPClient:   rollout.CloseSafeHTTPClient{HTTPClient: awshttp.NewBuildableClient()},
	}
}

// PushPath is where the endpoint takes a push: POST with form values
// version and bad.
const PushPath = "/_rehearsal/push"

func (r *Rehearsal) control(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != PushPath || req.Method != http.MethodPost {
		http.Error(w, "not an AWS operation this rehearsal serves, nor "+PushPath, http.StatusNotFound)
		return
	}
	spec, err := badversion.Parse(req.FormValue("bad"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := r.Push(req.Context(), req.FormValue("version"), spec); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = fmt.Fprintf(w, "pushed %s\n", req.FormValue("version"))
}

// Push is `docker build` and `docker push` of version: the app is built
// with the version's name, its colour and the bad spec, then the model
// takes the push, which starts a pipeline execution.
func (r *Rehearsal) Push(ctx context.Context, version string, bad badversion.Spec) error {
	r.pushing.Lock()
	defer r.pushing.Unlock()
	r.mu.Lock()
	n := len(r.versions)
	for _, had := range r.versions {
		if had.Name == version {
			r.mu.Unlock()
			return fmt.Errorf("version %s was pushed before: a rehearsal pushes each version once, name this one differently", version)
		}
	}
	r.mu.Unlock()
	build := bad
	if build.Latency > 0 {
		build.Latency = max(time.Millisecond, r.clock.Wall(bad.Latency)) // a timer: see the package doc
	}
	v := sampleapp.Version{Name: version, Color: colours[n%len(colours)], Bad: build}
	if err := v.Validate(); err != nil {
		return err
	}
	if _, err := (sampleapp.Builder{SourceDir: r.opts.SourceDir, CacheDir: r.opts.CacheDir}).Build(ctx, v); err != nil {
		return err
	}
	next := r.model.NextVersion()
	r.mu.Lock()
	r.versions[next] = v
	r.delays[version] = bad.Latency
	r.mu.Unlock()
	r.model.TagImage(next, version)
	if bad.IsBad() {
		r.model.MarkBad(next, bad.String())
	}
	r.syncNow() // the execution starts now, not at the loop's last tick
	if err := r.model.Do("PUSH "); err != nil {
		r.violation(err)
		return err
	}
	r.log.Info("pushed", "version", version, "bad", bad.String(), "colour", v.Color, "execution", fmt.Sprintf("exec-%d", next))
	r.poke()
	return nil
}

func (r *Rehearsal) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop is the control plane's time: every few milliseconds of wall time it
// lets the minutes the clock has left pass, brings the task sets' health
// from the load balancer, and takes the model's autonomous events.
func (r *Rehearsal) loop() {
	defer close(r.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		case <-r.wake:
		}
		r.advance()
	}
}

// skipped are the model's autonomous events the rehearsal observes instead
// of taking: time, and health.
var skipped = []string{"a minute passes", "turns healthy"}

// syncNow moves the model's clock (its timestamps of what happened) to
// the rehearsal's.
func (r *Rehearsal) syncNow() {
	r.nowMu.Lock()
	defer r.nowMu.Unlock()
	r.model.SetNow(r.clock.Now())
}

func (r *Rehearsal) advance() {
	r.syncNow()
	for r.model.Minute() < r.clock.Minute(r.clock.Now()) {
		if err := r.model.PassMinute(); err != nil {
			r.violation(err)
		}
		// The model's record of calls is for tests; a rehearsal runs
		// for hours.
		r.model.ResetCalls()
	}
	r.syncHealth()
	for range 64 {
		label, ok := r.next()
		if !ok {
			break
		}
		if err := r.model.Do(label); err != nil {
			r.violation(err)
		}
		r.dispatch()
		r.syncHealth()
	}
	r.dispatch()
	if err := r.model.Check(); err != nil {
		r.violation(err)
	}
	r.requestApply()
	r.logTrace()
}

// next is the first enabled event AWS would take by itself.
func (r *Rehearsal) next() (string, bool) {
	for _, e := range r.model.Enabled() {
		if e.External || slices.ContainsFunc(skipped, func(s string) bool { return strings.Contains(e.Label, s) }) {
			continue
		}
		return e.Label, true
	}
	return "", false
}

// syncHealth: a task set is healthy once every one of its running tasks
// passes the target group's health checks on the local load balancer.
func (r *Rehearsal) syncHealth() {
	status := map[string]dataplane.TaskSetStatus{}
	for _, ts := range r.dp.TaskSets() {
		status[ts.Service+"/"+ts.ID] = ts
	}
	r.model.SetHealth(func(service, id string, running int) bool {
		st, ok := status[service+"/"+id]
		return ok && st.Desired == running && st.Healthy >= running
	})
}

// desired is the model's task sets as the data plane runs them.
func (r *Rehearsal) desired() []dataplane.TaskSet {
	sets := r.model.TaskSets()
	r.mu.Lock()
	defer r.mu.Unlock()
	env := dataplane.ContainerEnvironment(firstContainer(r.opts.Stack.ECS.DeployTaskDefinition.ContainerDefinitions))
	var out []dataplane.TaskSet
	for _, ts := range sets {
		if ts.Running > 0 {
			r.tgVersion[ts.TargetGroup] = r.versions[ts.Version].Name
		}
		out = append(out, dataplane.TaskSet{Service: ts.Service, ID: ts.ID, Version: r.versions[ts.Version],
			TargetGroupArn: ts.TargetGroup, Desired: ts.Running, Environment: env})
	}
	return out
}

func (r *Rehearsal) requestApply() {
	want := r.desired()
	select {
	case <-r.apply:
	default:
	}
	r.apply <- want
}

// reconcile applies the newest desired state, one at a time: starting
// processes takes wall time the control loop must not wait for.
func (r *Rehearsal) reconcile() {
	var last []dataplane.TaskSet
	for {
		select {
		case <-r.ctx.Done():
			return
		case want := <-r.apply:
			if slices.EqualFunc(want, last, sameTaskSet) {
				continue
			}
			if err := r.dp.Apply(r.ctx, want); err != nil && r.ctx.Err() == nil {
				r.log.Warn("the data plane could not start every task (it keeps retrying)", "error", err.Error())
			}
			last = want
		}
	}
}

func sameTaskSet(a, b dataplane.TaskSet) bool {
	return a.Service == b.Service && a.ID == b.ID && a.Desired == b.Desired && a.Version == b.Version && a.TargetGroupArn == b.TargetGroupArn
}

// dispatch runs every function the model invoked, each in its own
// goroutine as Lambda runs invocations concurrently.
func (r *Rehearsal) dispatch() {
	for _, inv := range r.model.Invocations() {
		r.hooks.Add(1)
		go func() {
			defer r.hooks.Done()
			r.invoke(inv)
		}()
	}
}

// invoke runs one invocation of a function as Lambda would: the payload as
// JSON through aws-lambda-go's handler (what lambda.Start does in the
// bootstraps), with a deadline of the function's timeout on the rehearsal
// clock. EventBridge's targets (cleanup, rollback) are asynchronous
// invocations Lambda retries on error up to the function's
// MaximumRetryAttempts
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
// CodeDeploy's lifecycle hooks are not retried here.
func (r *Rehearsal) invoke(inv protocol.Invoke) {
	payload, err := json.Marshal(inv.Payload)
	if err != nil {
		r.log.Error("cannot encode a payload", "hook", string(inv.Hook), "error", err.Error())
		return
	}
	attempts := 1
	if inv.Hook == contract.HookCleanup || inv.Hook == contract.HookRollback {
		attempts += r.retries[inv.Hook]
	}
	r.mu.Lock()
	r.running[inv.Hook]++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running[inv.Hook]--
		r.mu.Unlock()
		r.poke()
	}()
	for attempt := 1; attempt <= attempts; attempt++ {
		_, err = r.run(inv.Hook, payload, attempt)
		if err == nil || r.ctx.Err() != nil {
			break
		}
		r.mu.Lock()
		r.failures = append(r.failures, fmt.Sprintf("%s (attempt %d): %v", inv.Hook, attempt, err))
		r.mu.Unlock()
		r.log.Warn("function returned an error", "hook", string(inv.Hook), "attempt", attempt, "error", err.Error())
	}
	if err := r.model.Check(); err != nil {
		r.violation(err)
	}
}

var requestID struct {
	sync.Mutex
	n int
}

func (r *Rehearsal) run(hook contract.Hook, payload []byte, attempt int) ([]byte, error) {
	env := r.env[hook]
	cfg, cfgErr := rollout.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, hook)
	clients := rollout.NewClients(r.awsCfg)
	h := &rollout.Hooks{
		Config: cfg, ConfigErr: cfgErr,
		ECS: clients.ECS, ELB: clients.ELB, CodeDeploy: clients.CodeDeploy, CodePipeline: clients.CodePipeline,
		Logger: slog.New(r.log.Handler()).With("function", string(hook)),
		// The hooks poll at the ALB's shortest health-check interval:
		// that interval on the rehearsal clock.
		PollInterval: max(5*time.Millisecond, r.clock.Wall(rollout.DefaultPollInterval)),
		SafetyMargin: r.clock.Wall(rollout.DefaultSafetyMargin),
	}
	var handler any
	// The bootstraps' handlers (lambda/pin, unpin, cleanup, rollback main.go).
	switch hook {
	case contract.HookPin:
		handler = h.Pin
	case contract.HookUnpin:
		handler = h.Unpin
	case contract.HookCleanup:
		handler = h.CleanupEvent
	case contract.HookRollback:
		handler = h.Rollback
	default:
		return nil, fmt.Errorf("the model invoked %s, which a rehearsal does not run", hook)
	}
	// The function's timeout on the rehearsal clock, but never under
	// minInvocation of wall time: processes start at wall speed.
	timeout := max(r.clock.Wall(r.timeout[hook]), minInvocation)
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	requestID.Lock()
	requestID.n++
	id := fmt.Sprintf("rehearsal-%06d", requestID.n)
	requestID.Unlock()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: id})
	r.log.Info("invoking", "function", string(hook), "attempt", attempt, "payload", string(payload))
	out, err := lambda.NewHandler(handler).Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	r.log.Info("function returned", "function", string(hook), "result", string(out))
	return out, nil
}

// invokeNow is Lambda Invoke (RequestResponse) of a function, as
// `tenant-canary rollback` invokes the rollback function: the same
// handler as an event's, over the wire.
func (r *Rehearsal) invokeNow(hook contract.Hook) protocol.Function {
	return func(_ context.Context, payload any) (any, error) {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.running[hook]++
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.running[hook]--
			r.mu.Unlock()
			r.poke()
		}()
		out, err := r.run(hook, b, 1)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(out), nil
	}
}

// minInvocation is the least wall time a function gets: a function's wait
// for tasks to pass their health checks includes starting processes, which
// a faster clock does not speed up.
const minInvocation = 20 * time.Second

func (r *Rehearsal) violation(err error) {
	var v *protocol.Violation
	if !errors.As(err, &v) {
		r.log.Error("the model refused an event", "error", err.Error())
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	what := r.namedLocked(v.Error())
	if len(r.violations) > 0 && r.violations[len(r.violations)-1] == what {
		return
	}
	r.violations = append(r.violations, what)
	r.log.Error("INVARIANT VIOLATED", "invariant", v.Invariant, "what", r.namedLocked(v.What))
}

// modelVersion is how the model names the n-th pushed version.
var modelVersion = regexp.MustCompile(`\bv(\d+)\b`)

// namedLocked writes the model's version numbers (v0 the initial image, vN
// the N-th push) as the versions were pushed, e.g. "v2 (model v1)".
func (r *Rehearsal) namedLocked(s string) string {
	return modelVersion.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.Atoi(m[1:])
		if v, ok := r.versions[n]; err == nil && ok && v.Name != m {
			return v.Name + " (model " + m + ")"
		}
		return m
	})
}

func (r *Rehearsal) logTrace() {
	r.mu.Lock()
	from := r.traceAt
	r.mu.Unlock()
	lines, end := r.model.Trace(from)
	r.mu.Lock()
	r.traceAt = end
	r.mu.Unlock()
	for _, l := range lines {
		if strings.HasPrefix(l, "a minute passes") {
			continue // every minute; the trace keeps them
		}
		r.mu.Lock()
		l = r.namedLocked(strings.TrimSpace(l))
		r.mu.Unlock()
		r.log.Info("model", "event", l, "minute", r.model.Minute())
	}
}

// observed is a target group's minute as the load balancer measured it,
// its response times in the processes' own (wall) seconds: the package
// doc says why.
func (r *Rehearsal) observed(tg string, minute int) cloudwatch.Sample {
	samples, err := r.dp.Samples(tg, r.respStat)
	if err != nil || minute < 0 || minute >= len(samples) {
		return cloudwatch.Sample{}
	}
	s := samples[minute]
	// Wall seconds: a percentile or an average scales with its values.
	s.ResponseTime /= r.clock.Speed()
	r.mu.Lock()
	d := r.delays[r.tgVersion[tg]]
	r.mu.Unlock()
	if d > 0 && s.Requests > 0 {
		// The sleep of latency/speed in it stands for latency.
		s.ResponseTime += (d - r.clock.Wall(d)).Seconds()
	}
	return s
}

func firstContainer(cs []ecstypes.ContainerDefinition) ecstypes.ContainerDefinition {
	if len(cs) == 0 {
		return ecstypes.ContainerDefinition{}
	}
	return cs[0]
}

// Violations are the invariants found violated, in order.
func (r *Rehearsal) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.violations)
}

// FunctionErrors are the invocations that returned an error.
func (r *Rehearsal) FunctionErrors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}

// Busy: a function is running.
func (r *Rehearsal) Busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.running {
		if n > 0 {
			return true
		}
	}
	return false
}

// ListenerURL is the local load balancer's listener.
func (r *Rehearsal) ListenerURL() string { return r.dp.URL() }

// Endpoint is the AWS endpoint (AWS_ENDPOINT_URL for the SDK and the CLI).
func (r *Rehearsal) Endpoint() string { return r.endpoint }

// AWSConfig configures SDK clients against the rehearsal.
func (r *Rehearsal) AWSConfig() aws.Config { return r.awsCfg }

// Clock is the rehearsal's time.
func (r *Rehearsal) Clock() *dataplane.Clock { return r.clock }

// Model is the model of AWS the rehearsal runs.
func (r *Rehearsal) Model() *protocol.Direct { return r.model }

// DataPlane is the tasks and the load balancer.
func (r *Rehearsal) DataPlane() *dataplane.DataPlane { return r.dp }

// Outputs are the declared stack's outputs, albUrl being the local
// listener: what `pulumi stack output --json` would print for this stack.
func (r *Rehearsal) Outputs() contract.StackOutputs {
	o := r.opts.Stack.Outputs
	o.AlbURL = r.ListenerURL()
	return o
}

// TenantURL is a URL that reaches pinned tenant t's rule, from the
// declared rule's conditions: a path, or the listener URL with the header
// or host the rule matches (how=header:NAME=VALUE or host:VALUE).
func (r *Rehearsal) TenantURL(t string) (u, how string) {
	prod := r.opts.Stack.Production()
	if prod == nil {
		return r.ListenerURL(), ""
	}
	for _, rule := range prod.Rules {
		if rule.Role != declared.RuleTenant || !slices.Contains(rule.Tenants, t) {
			continue
		}
		for _, c := range rule.Rule.Conditions {
			switch {
			case c.PathPatternConfig != nil:
				for _, v := range c.PathPatternConfig.Values {
					if strings.Contains(v, t) && !strings.ContainsAny(v, "*?") {
						return r.ListenerURL() + (&url.URL{Path: v}).EscapedPath(), ""
					}
				}
			case c.HttpHeaderConfig != nil && len(c.HttpHeaderConfig.Values) > 0:
				return r.ListenerURL(), "header " + aws.ToString(c.HttpHeaderConfig.HttpHeaderName) + ": " + c.HttpHeaderConfig.Values[0]
			case c.HostHeaderConfig != nil && len(c.HostHeaderConfig.Values) > 0:
				return r.ListenerURL(), "Host: " + c.HostHeaderConfig.Values[0]
			}
		}
	}
	return r.ListenerURL(), ""
}

// Close stops the loop, the functions, the endpoint and every task.
func (r *Rehearsal) Close() error {
	r.cancel()
	if r.started {
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
		}
	}
	r.hooks.Wait()
	var errs []error
	if r.srv != nil {
		errs = append(errs, r.srv.Close())
	}
	if r.dp != nil {
		errs = append(errs, r.dp.Close())
	}
	return errors.Join(errs...)
}
