package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/sampleapp"
)

// The stack's target groups as declared describes them (account 123456789012).
const (
	tgStable = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/stable-0/0000000000000001"
	tgBlue   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/latest-0/0000000000000002"
	tgGreen  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/latest-1/0000000000000003"
)

// speed 30: a rehearsal minute is 2 s; the 10 s health-check interval is
// 333 ms and the 60 s deregistration delay 2 s of wall time.
const speed = 30

var (
	v1 = sampleapp.Version{Name: "dp-v1", Color: "blue"}
	v2 = sampleapp.Version{Name: "dp-v2", Color: "green"}
)

func bad(t *testing.T, name, spec string) sampleapp.Version {
	t.Helper()
	b, err := badversion.Parse(spec)
	require.NoError(t, err)
	return sampleapp.Version{Name: name, Color: "red", Bad: b}
}

func group(arn, service string, pair int) declared.TargetGroup {
	return declared.TargetGroup{
		Service: service, PairIndex: pair, DeregistrationDelaySeconds: 60,
		TargetGroup: elbtypes.TargetGroup{
			TargetGroupArn: aws.String(arn), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080),
			TargetType: elbtypes.TargetTypeEnumIp, HealthCheckEnabled: aws.Bool(true),
			HealthCheckPath: aws.String("/healthz"), HealthCheckIntervalSeconds: aws.Int32(10),
			HealthCheckTimeoutSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
			UnhealthyThresholdCount: aws.Int32(2), Matcher: &elbtypes.Matcher{HttpCode: aws.String("200")},
			HealthCheckProtocol: elbtypes.ProtocolEnumHttp, HealthCheckPort: aws.String("traffic-port"),
		},
	}
}

var groups = []declared.TargetGroup{group(tgBlue, "latest", 0), group(tgGreen, "latest", 1), group(tgStable, "stable", 0)}

// env is the container environment the task definition sets.
var env = map[string]string{"TENANT_MATCH": "path", "TENANT_PATH_PATTERN": "/app/{tenant}", "HEALTH_CHECK_PATH": "/healthz"}

func forward(weights map[string]int32) []elbtypes.Action {
	fc := &elbtypes.ForwardActionConfig{}
	for _, arn := range []string{tgBlue, tgGreen, tgStable} {
		if w, ok := weights[arn]; ok {
			fc.TargetGroups = append(fc.TargetGroups, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(w)})
		}
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, Order: aws.Int32(1), ForwardConfig: fc}}
}

func pathRule(priority int, values []string, weights map[string]int32) elbtypes.Rule {
	return elbtypes.Rule{
		RuleArn: aws.String("rule-" + strconv.Itoa(priority)), Priority: aws.String(strconv.Itoa(priority)), IsDefault: aws.Bool(false),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: values}}},
		Actions:    forward(weights),
	}
}

func defaultRule(weights map[string]int32) elbtypes.Rule {
	return elbtypes.Rule{RuleArn: aws.String("rule-default"), Priority: aws.String("default"), IsDefault: aws.Bool(true), Actions: forward(weights)}
}

// canaryRules: the pinned tenant acme to stable; everyone else by the
// catch-all, 90 % to latest's blue group and 10 % to its green group.
func canaryRules() []elbtypes.Rule {
	return []elbtypes.Rule{
		pathRule(1, []string{"/app/acme", "/app/acme/*"}, map[string]int32{tgStable: 1}),
		pathRule(2, []string{"/*"}, map[string]int32{tgBlue: 90, tgGreen: 10}),
		defaultRule(map[string]int32{tgBlue: 1}),
	}
}

func start(t *testing.T, rules []elbtypes.Rule) (*DataPlane, *Clock) {
	t.Helper()
	clock, err := NewClock(speed)
	require.NoError(t, err)
	d, err := New(t.Context(), Options{
		Builder:      sampleapp.Builder{SourceDir: "../.."},
		TargetGroups: groups,
		Rules:        func() []elbtypes.Rule { return rules },
		Clock:        clock,
		Rand:         rand.New(rand.NewPCG(1, 2)),
		Logs:         io.Discard,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d, clock
}

func apply(t *testing.T, d *DataPlane, sets ...TaskSet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // first builds of the app
	defer cancel()
	require.NoError(t, d.Apply(ctx, sets))
}

func set(service, id string, v sampleapp.Version, tg string, n int) TaskSet {
	return TaskSet{Service: service, ID: id, Version: v, TargetGroupArn: tg, Desired: n, Environment: env}
}

// waitFor polls cond (bounded: 15 s) and fails with what it last saw.
func waitFor(t *testing.T, what string, cond func() (bool, any)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			require.Failf(t, "timed out", "waiting for %s; last seen: %+v", what, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func status(d *DataPlane, service, id string) TaskSetStatus {
	for _, s := range d.TaskSets() {
		if s.Service == service && s.ID == id {
			return s
		}
	}
	return TaskSetStatus{}
}

func waitHealthy(t *testing.T, d *DataPlane, service, id string, n int) TaskSetStatus {
	t.Helper()
	var st TaskSetStatus
	waitFor(t, service+"/"+id+" healthy", func() (bool, any) {
		st = status(d, service, id)
		return st.Running == n && st.Healthy == n, st
	})
	return st
}

// get sends one request through the load balancer and returns status and
// X-App-Version.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-App-Version")
}

// alive: the process exists and is no zombie (a task whose parent was
// killed is reparented, and this machine's init may never reap it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: trust kill
	}
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func TestRulesServePinnedTenantsAndTheCanarySplitFromRealProcesses(t *testing.T) {
	d, _ := start(t, canaryRules())
	apply(t, d,
		set("stable", "ts-stable", v1, tgStable, 1),
		set("latest", "ts-blue", v1, tgBlue, 1),
		set("latest", "ts-green", v2, tgGreen, 1))
	for _, id := range []string{"ts-blue", "ts-green"} {
		waitHealthy(t, d, "latest", id, 1)
	}
	waitHealthy(t, d, "stable", "ts-stable", 1)

	for i := range 40 {
		code, version := get(t, d.URL()+"/app/acme/page"+strconv.Itoa(i))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, v1.Name, version, "the pinned tenant is served by stable's version only")
	}
	served := map[string]int{}
	for i := range 200 {
		code, version := get(t, d.URL()+"/app/t"+strconv.Itoa(i))
		require.Equal(t, http.StatusOK, code)
		served[version]++
	}
	assert.Equal(t, 200, served[v1.Name]+served[v2.Name], "every answer from one of the two versions: %v", served)
	// 10 % of 200 is 20; a seeded choice, and far from both bounds.
	assert.GreaterOrEqual(t, served[v2.Name], 8, "the canary gets about 10 %%: %v", served)
	assert.LessOrEqual(t, served[v2.Name], 40, "the canary gets about 10 %%: %v", served)

	requests := func(arn string) float64 {
		samples, err := d.Samples(arn, "p99")
		require.NoError(t, err)
		n := 0.0
		for _, s := range samples {
			n += s.Requests
		}
		return n
	}
	assert.Equal(t, 40.0, requests(tgStable), "CloudWatch's RequestCount of stable's group is the tenant's requests")
	assert.Equal(t, float64(served[v2.Name]), requests(tgGreen))
	assert.Equal(t, float64(served[v1.Name]), requests(tgBlue))
}

func TestScalingATaskSetUpAndDownStartsAndDrainsProcesses(t *testing.T) {
	d, clock := start(t, []elbtypes.Rule{defaultRule(map[string]int32{tgBlue: 1})})
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 3))
	st := waitHealthy(t, d, "latest", "ts-blue", 3)
	pids := map[int]bool{}
	for _, task := range st.Tasks {
		pids[task.PID] = true
		assert.True(t, alive(task.PID))
	}
	require.Len(t, pids, 3, "three processes")

	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 3))
	again := status(d, "latest", "ts-blue")
	assert.Equal(t, 3, again.Running, "applying the same state again changes nothing")
	for _, task := range again.Tasks {
		assert.True(t, pids[task.PID], "no task was replaced")
	}

	scaledAt := time.Now()
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 1))
	down := status(d, "latest", "ts-blue")
	assert.Equal(t, 1, down.Running)
	assert.Equal(t, 2, down.Draining, "the two tasks scaled away drain first")
	health, err := d.TargetHealth(tgBlue)
	require.NoError(t, err)
	states := map[elbtypes.TargetHealthStateEnum]int{}
	for _, h := range health {
		states[h.TargetHealth.State]++
	}
	assert.Equal(t, map[elbtypes.TargetHealthStateEnum]int{elbtypes.TargetHealthStateEnumHealthy: 1, elbtypes.TargetHealthStateEnumDraining: 2}, states,
		"DescribeTargetHealth shows the tasks scaled away as draining")
	for _, task := range down.Tasks {
		if task.Draining && time.Since(scaledAt) < clock.Wall(50*time.Second) {
			assert.True(t, alive(task.PID), "a draining task keeps running through the deregistration delay")
			code, version := get(t, "http://"+task.Addr+"/version")
			assert.Equal(t, http.StatusOK, code, "and keeps serving what reaches it")
			assert.Equal(t, v1.Name, version)
		}
	}
	for i := range 20 {
		code, _ := get(t, d.URL()+"/app/t"+strconv.Itoa(i))
		assert.Equal(t, http.StatusOK, code, "no request is lost while tasks drain")
	}
	waitFor(t, "the drained tasks to stop", func() (bool, any) {
		st := status(d, "latest", "ts-blue")
		return st.Draining == 0 && len(st.Tasks) == 1, st
	})
	health, err = d.TargetHealth(tgBlue)
	require.NoError(t, err)
	assert.Len(t, health, 1, "a stopped task is no target")
	assert.GreaterOrEqual(t, time.Since(scaledAt), clock.Wall(60*time.Second), "not before the deregistration delay")
	for pid := range pids {
		if pid != status(d, "latest", "ts-blue").Tasks[0].PID {
			assert.False(t, alive(pid), "process %d stopped", pid)
		}
	}

	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 2))
	waitHealthy(t, d, "latest", "ts-blue", 2)
	apply(t, d) // nothing desired: the task set goes away
	waitFor(t, "the task set to be gone", func() (bool, any) {
		return len(d.TaskSets()) == 0, d.TaskSets()
	})
}

func TestAVersionFailingItsHealthChecksNeverBecomesHealthy(t *testing.T) {
	d, clock := start(t, canaryRules())
	apply(t, d, set("latest", "ts-green", bad(t, "dp-sick", "health"), tgGreen, 1))
	var last TaskSetStatus
	waitFor(t, "the target to be unhealthy", func() (bool, any) {
		last = status(d, "latest", "ts-green")
		require.Zero(t, last.Healthy, "never healthy")
		h := last.Tasks
		return len(h) == 1 && h[0].Health != nil && h[0].Health.State == elbtypes.TargetHealthStateEnumUnhealthy, last
	})
	assert.Equal(t, 1, last.Running, "the task runs; only its health checks fail")
	assert.Equal(t, elbtypes.TargetHealthReasonEnumResponseCodeMismatch, last.Tasks[0].Health.Reason)
	// Let the unhealthy state fill a whole minute, then read CloudWatch's view.
	unhealthySince := clock.Minute(clock.Now())
	waitFor(t, "a whole unhealthy minute", func() (bool, any) { return clock.Minute(clock.Now()) > unhealthySince+1, nil })
	samples, err := d.Samples(tgGreen, "Average")
	require.NoError(t, err)
	s := samples[unhealthySince+1]
	assert.Equal(t, 1.0, s.Targets)
	assert.Equal(t, 1.0, s.Unhealthy, "UnHealthyHostCount Minimum")
	assert.Equal(t, 1.0, s.UnhealthyAnyNode, "UnHealthyHostCount Maximum")
	assert.Zero(t, status(d, "latest", "ts-green").Healthy)
}

func TestTarget5xxAreCountedInTheMinuteTheyWereServed(t *testing.T) {
	d, clock := start(t, []elbtypes.Rule{defaultRule(map[string]int32{tgBlue: 1})})
	apply(t, d, set("latest", "ts-bad", bad(t, "dp-5xx", "5xx=100%"), tgBlue, 1))
	waitHealthy(t, d, "latest", "ts-bad", 1) // health checks are exempt from the errors

	// Send the requests early in a minute, so they all land in one.
	waitFor(t, "the start of a minute", func() (bool, any) {
		now := clock.Now()
		return now.Sub(now.Truncate(time.Minute)) < 15*time.Second, now
	})
	minute := clock.Minute(clock.Now())
	for range 30 {
		code, version := get(t, d.URL()+"/app/t1")
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Equal(t, "dp-5xx", version)
	}
	require.Equal(t, minute, clock.Minute(clock.Now()), "30 loopback requests took more than 45 s of rehearsal time")
	waitFor(t, "the next minute", func() (bool, any) { return clock.Minute(clock.Now()) > minute, nil })

	samples, err := d.Samples(tgBlue, "p99")
	require.NoError(t, err)
	for i, s := range samples {
		if i == minute {
			assert.Equal(t, 30.0, s.Requests)
			assert.Equal(t, 30.0, s.Target5XX, "every answer of the minute was a target 5xx")
			assert.Zero(t, s.ConnectionErrors)
			assert.Positive(t, s.ResponseTime)
			assert.Equal(t, 1.0, s.Targets)
		} else {
			assert.Zero(t, s.Requests, "minute %d", i)
			assert.Zero(t, s.Target5XX, "minute %d", i)
		}
	}
}

func TestATaskWhoseProcessDiesIsReplaced(t *testing.T) {
	d, _ := start(t, canaryRules())
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 1))
	before := waitHealthy(t, d, "latest", "ts-blue", 1)
	dead := before.Tasks[0]
	require.NoError(t, syscall.Kill(dead.PID, syscall.SIGKILL))

	var after TaskSetStatus
	waitFor(t, "a replacement task", func() (bool, any) {
		after = status(d, "latest", "ts-blue")
		return after.Healthy == 1 && after.Tasks[0].PID != dead.PID, after
	})
	assert.Equal(t, 1, after.Restarts)
	assert.NotEqual(t, dead.ID, after.Tasks[0].ID, "a replacement is a new task")
	assert.NotEqual(t, dead.Addr, after.Tasks[0].Addr)
	health, err := d.TargetHealth(tgBlue)
	require.NoError(t, err)
	assert.Len(t, health, 1, "the dead task was deregistered")
	code, version := get(t, d.URL()+"/app/t1")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, v1.Name, version)
}

func TestCloseAndContextEndLeaveNoProcess(t *testing.T) {
	for _, how := range []string{"Close", "context"} {
		t.Run(how, func(t *testing.T) {
			clock, err := NewClock(speed)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			d, err := New(ctx, Options{
				Builder: sampleapp.Builder{SourceDir: "../.."}, TargetGroups: groups,
				Rules: canaryRules, Clock: clock, Logs: io.Discard,
			})
			require.NoError(t, err)
			defer func() { _ = d.Close() }()
			apply(t, d, set("latest", "ts-blue", v1, tgBlue, 3), set("stable", "ts-stable", v1, tgStable, 1))
			waitHealthy(t, d, "latest", "ts-blue", 3)
			apply(t, d, set("latest", "ts-blue", v1, tgBlue, 2), set("stable", "ts-stable", v1, tgStable, 1)) // one draining
			var pids []int
			for _, s := range d.TaskSets() {
				for _, task := range s.Tasks {
					pids = append(pids, task.PID)
				}
			}
			require.Len(t, pids, 4)

			if how == "Close" {
				require.NoError(t, d.Close())
				for _, pid := range pids {
					assert.False(t, alive(pid), "process %d outlived Close", pid)
				}
			} else {
				cancel()
				waitFor(t, "every process to stop", func() (bool, any) {
					for _, pid := range pids {
						if alive(pid) {
							return false, pid
						}
					}
					return true, nil
				})
			}
			_, err = http.Get(d.URL())
			assert.Error(t, err, "the listener is closed")
			assert.Error(t, d.Apply(t.Context(), []TaskSet{set("latest", "ts-blue", v1, tgBlue, 1)}), "a closed data plane starts nothing")
		})
	}
}

func TestApplyRefusesWhatECSWouldNot(t *testing.T) {
	d, _ := start(t, canaryRules())
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 1))
	for name, tc := range map[string]struct {
		sets []TaskSet
		want string
	}{
		"unknown target group": {[]TaskSet{set("latest", "ts-x", v1, "arn:nope", 1)}, `target group "arn:nope": want one of the declared target groups`},
		"negative count":       {[]TaskSet{set("latest", "ts-x", v1, tgBlue, -1)}, "desired count -1: want 0 or more"},
		"twice":                {[]TaskSet{set("latest", "ts-x", v1, tgBlue, 1), set("latest", "ts-x", v1, tgBlue, 1)}, "named twice"},
		"too many":             {[]TaskSet{set("latest", "ts-x", v1, tgBlue, 33)}, "at most 32"},
		"no id":                {[]TaskSet{set("latest", "", v1, tgBlue, 1)}, "want a service name and a task set id"},
		"new image, same set":  {[]TaskSet{set("latest", "ts-blue", v2, tgBlue, 1)}, "a task set's task definition is fixed"},
		"new group, same set":  {[]TaskSet{set("latest", "ts-blue", v1, tgGreen, 1)}, "a task set's load balancer is fixed"},
		"bad version":          {[]TaskSet{set("latest", "ts-y", sampleapp.Version{Name: "v 1", Color: "red"}, tgBlue, 1)}, `version "v 1"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := d.Apply(t.Context(), tc.sets)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.Equal(t, 1, status(d, "latest", "ts-blue").Running, "a refused state changes nothing")
}

// concurrent readers while tasks start and stop: run with -race.
func TestStatusAndSamplesAreSafeWhileReconciling(t *testing.T) {
	d, _ := start(t, canaryRules())
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = d.TaskSets()
			_, err := d.Samples(tgBlue, "p50")
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 2))
	apply(t, d, set("latest", "ts-blue", v1, tgBlue, 0))
	close(stop)
	readers.Wait()
	assert.Equal(t, 0, status(d, "latest", "ts-blue").Running)
}

// childEnv makes the test binary a rehearsal that TestNoTaskOutlivesAKilledRehearsal kills.
const childEnv = "DATAPLANE_TEST_KILLED_REHEARSAL"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(killedRehearsal())
	}
	os.Exit(m.Run())
}

// killedRehearsal starts one task, prints its pid, and waits (at most a
// minute) to be killed.
func killedRehearsal() int {
	clock, err := NewClock(speed)
	if err == nil {
		var d *DataPlane
		d, err = New(context.Background(), Options{Builder: sampleapp.Builder{SourceDir: "../.."}, TargetGroups: groups, Rules: canaryRules, Clock: clock})
		if err == nil {
			defer d.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err = d.Apply(ctx, []TaskSet{set("latest", "ts-blue", v1, tgBlue, 1)}); err == nil {
				fmt.Printf("pid %d\n", d.TaskSets()[0].Tasks[0].PID)
				time.Sleep(time.Minute)
				return 0
			}
		}
	}
	fmt.Println("error", err)
	return 1
}

func TestNoTaskOutlivesAKilledRehearsal(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("only Linux ties a task's life to the rehearsal's (no /proc here)")
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=1")
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	pidText, ok := strings.CutPrefix(strings.TrimSpace(line), "pid ")
	require.True(t, ok, "the rehearsal said %q", line)
	pid, err := strconv.Atoi(pidText)
	require.NoError(t, err)
	require.True(t, alive(pid), "the task runs")

	require.NoError(t, child.Process.Signal(syscall.SIGKILL), "kill the rehearsal: no deferred Close runs")
	_ = child.Wait()
	waitFor(t, "the task to die with its rehearsal", func() (bool, any) { return !alive(pid), pid })
}

func TestATaskThatCannotStartIsReportedAndRetriedUntilScaledAway(t *testing.T) {
	d, _ := start(t, canaryRules())
	broken := set("latest", "ts-broken", v1, tgBlue, 1)
	broken.Environment = map[string]string{"HEALTH_CHECK_PATH": "healthz"} // the app refuses it at start
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := d.Apply(ctx, []TaskSet{broken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before listening")
	assert.Contains(t, err.Error(), `HEALTH_CHECK_PATH \"healthz\"`, "the app's own reason reaches the caller")
	st := status(d, "latest", "ts-broken")
	assert.Equal(t, 1, st.Desired)
	assert.Zero(t, st.Running)

	broken.Desired = 0
	require.NoError(t, d.Apply(ctx, []TaskSet{broken}), "scaling to 0 ends the retries")
	waitFor(t, "no task left", func() (bool, any) {
		st := status(d, "latest", "ts-broken")
		return len(st.Tasks) == 0 && st.Running == 0, st
	})
}
