//go:build linux

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// RIEInstall is the one supported way to get the emulator; .ci/run runs it.
const RIEInstall = "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildFlags are the pipeline's build flags (docs/design.md §3), for the host
// architecture so the binary runs here.
func buildBootstrap(goarch, hook, out string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w -buildid=", "-o", out, "./lambda/"+hook)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if outb, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./lambda/%s: %v\n%s", hook, err, outb)
	}
	return nil
}

// builtHooks are the hooks the tests build: every hook of contract.Hooks and
// the smoke hook, which the pipeline deploys only with smokeTest.
var builtHooks = append(slices.Clone(contract.Hooks), contract.HookSmoke)

// bootstrap returns the path of the hook's bootstrap, building every hook of
// builtHooks once per test run into a temporary directory.
func bootstrap(t testing.TB, hook string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tenant-canary-hooks-")
		if buildErr != nil {
			return
		}
		for _, h := range builtHooks {
			if buildErr = buildBootstrap(runtime.GOARCH, string(h), filepath.Join(buildDir, string(h), "bootstrap")); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, hook, "bootstrap")
}

// rieBinary finds aws-lambda-rie. Without it the tests skip, except under CI,
// where a missing emulator is a failure.
func rieBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("CI is set but aws-lambda-rie is not on PATH; install it with:\n  %s\nand put $(go env GOPATH)/bin on PATH", RIEInstall)
	}
	t.Skipf("aws-lambda-rie is not on PATH, skipping the real-runtime tests; install it with:\n  %s", RIEInstall)
	return ""
}

// syncBuffer collects the function's output (the emulator forwards it).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// function is one hook running under the emulator.
type function struct {
	url  string
	logs *syncBuffer
	stop func()
	// invocations counts the invocations so far.
	mu          sync.Mutex
	invocations int
}

// freeAddrs finds n distinct loopback addresses free at the time of the
// call. Every listener stays open until all are found: a port closed and
// asked for again can come straight back, and the emulator given the same
// address twice fails to bind its runtime API (while the dial check below
// succeeds on its other server).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// startFunction runs hook's bootstrap under aws-lambda-rie with env, every
// AWS client pointed at world (fakeaws's wire server of the protocol
// model). It returns once the emulator listens on both its addresses.
func startFunction(t testing.TB, hook string, world http.Handler, timeoutSeconds int, env map[string]string) *function {
	t.Helper()
	rie := rieBinary(t)
	bin := bootstrap(t, hook)
	srv := httptest.NewServer(world)
	t.Cleanup(srv.Close)

	cmdEnv := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=us-east-1", // the declared stacks' region
		"AWS_ACCESS_KEY_ID=AKIDTESTTESTTEST",
		"AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_ENDPOINT_URL=" + srv.URL,
		"AWS_EC2_METADATA_DISABLED=true",
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", timeoutSeconds),
		"AWS_LAMBDA_FUNCTION_NAME=tenant-canary-" + hook,
	}
	for k, v := range env {
		cmdEnv = append(cmdEnv, k+"="+v)
	}
	// A port freeAddrs found free may be taken (by any process's outgoing
	// connection, which draws from the same ephemeral range) before the
	// emulator binds it; the emulator then never listens there, and the
	// bootstrap dies with "connection refused" on the runtime API. So a
	// start counts only once both addresses accept connections, and is
	// retried on fresh ports otherwise.
	var lastErr string
	for attempt := 1; attempt <= 3; attempt++ {
		fn, err := tryStartFunction(t, rie, bin, cmdEnv)
		if err == nil {
			return fn
		}
		lastErr = err.Error()
		t.Logf("aws-lambda-rie start %d failed, retrying on other ports: %v", attempt, err)
	}
	t.Fatalf("aws-lambda-rie did not start: %s", lastErr)
	return nil
}

func tryStartFunction(t testing.TB, rie, bin string, env []string) (*function, error) {
	a := freeAddrs(t, 2)
	addr, apiAddr := a[0], a[1]
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		"--log-level", "error",
		bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = env
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Own process group, so the emulator and the bootstrap it started stop together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		})
	}
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range []string{addr, apiAddr} {
		for {
			c, err := net.DialTimeout("tcp", a, 100*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				return nil, fmt.Errorf("aws-lambda-rie exited before it listened on %s: %v\n%s", a, err, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("aws-lambda-rie did not listen on %s: %v\n%s", a, err, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("function output:\n%s", logs.String())
		}
	})
	return &function{url: "http://" + addr + "/2015-03-31/functions/function/invocations", logs: logs, stop: stop}, nil
}

// invoke posts an event the way the emulator expects and returns the
// function's response body (an aws-lambda-go error object on failure).
func (f *function) invoke(t testing.TB, event string) string {
	t.Helper()
	body, err := f.post(event)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// post is invoke for any goroutine: the error instead of a failed test.
func (f *function) post(event string) (string, error) {
	resp, err := http.Post(f.url, "application/json", strings.NewReader(event))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	f.mu.Lock()
	f.invocations++
	n := f.invocations
	f.mu.Unlock()
	f.awaitReport(n)
	return string(body), nil
}

// awaitReport waits until the emulator has printed the REPORT line of every
// invocation so far. The response can arrive before the function's last log
// lines have passed through the emulator's output pipe; they come before
// the REPORT line, so a test that reads logs right after invoke sees them
// all. Bounded: a missing REPORT line shows up as a failed log assertion.
func (f *function) awaitReport(n int) {
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(f.logs.String(), "REPORT RequestId:") < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// zipSize is the size of the deployment package: bootstrap alone in a zip,
// deflated, as the pipeline ships it.
func zipSize(t testing.TB, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, ExternalAttrs: 0o755 << 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// world is the one model of AWS (internal/protocol's Direct, started from
// a declared stack the program's own declaration keeps in step) served
// over the wire to the real bootstraps: a test takes the model's own
// events (the labels the explorer's traces use) to reach a state, every
// function the model invokes meanwhile runs under the emulator, and the
// model's invariants are checked after each; the function under test is
// then invoked and the outcome read off the model.
type world struct {
	t testing.TB
	d *protocol.Direct
	// fns are the functions started with their declared environment, one
	// emulator per function for the whole test.
	fns map[contract.Hook]*function
	// holding: invocations of these functions are kept for take.
	holding map[contract.Hook]bool
	held    []protocol.Invoke
	// ran counts the invocations run under the emulator, per function.
	ran map[contract.Hook]int
	// smoke: the smoke hook's checks, when the AppSpecs name it.
	smoke *contract.SmokeChecks
}

// fixture is a declared stack of internal/protocol/testdata/stacks.
func fixture(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join("..", "..", "internal", "protocol", "testdata", "stacks", name+".json")
}

func newWorld(t testing.TB, stack string, sc protocol.Scenario) *world {
	t.Helper()
	rieBinary(t)
	st, err := protocol.LoadStack(fixture(t, stack))
	require.NoError(t, err)
	w := &world{t: t, d: protocol.NewDirectFromStack(st, sc),
		fns: map[contract.Hook]*function{}, holding: map[contract.Hook]bool{}, ran: map[contract.Hook]int{}}
	// The smoke hook's checks, as the stack declares them (smokeTest on).
	if v, ok := w.d.Env(contract.HookSmoke)[contract.EnvSmokeChecks]; ok {
		var c contract.SmokeChecks
		require.NoError(t, json.Unmarshal([]byte(v), &c), "the smoke function's declared %s", contract.EnvSmokeChecks)
		w.smoke = &c
	}
	return w
}

// env is the declared value of key in hook's environment.
func (w *world) env(hook contract.Hook, key string) string { return w.d.Env(hook)[key] }

// group is the declared deployment group of "latest" or "stable".
func (w *world) group(role string) string {
	if role == "latest" {
		return w.env(contract.HookPin, contract.EnvLatestDeploymentGroupName)
	}
	return w.env(contract.HookPin, contract.EnvStableDeploymentGroupName)
}

// fn is function hook under the emulator with its declared environment.
func (w *world) fn(hook contract.Hook) *function {
	if f, ok := w.fns[hook]; ok {
		return f
	}
	var env map[string]string
	if hook == contract.HookSmoke {
		require.NotNil(w.t, w.smoke, "the model ran the smoke hook without checks")
		env = w.smokeEnv(*w.smoke, nil)
	}
	f := w.start(hook, env, 60)
	w.fns[hook] = f
	return f
}

// start starts function hook afresh: its declared environment with the
// changes in set ("" unsets), Lambda's timeout in seconds.
func (w *world) start(hook contract.Hook, set map[string]string, timeout int) *function {
	env := w.d.Env(hook)
	if env == nil {
		env = map[string]string{}
	}
	for k, v := range set {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return startFunction(w.t, string(hook), fakeaws.NewServer(w.d.API(), nil), timeout, env)
}

// do takes each event and runs every function the model invokes.
func (w *world) do(events ...string) {
	w.t.Helper()
	for _, ev := range events {
		require.NoError(w.t, w.d.Do(ev), "event %q", ev)
		w.run()
	}
}

// deliverAll delivers every EventBridge event waiting, in order.
func (w *world) deliverAll() {
	w.t.Helper()
	for w.d.Do("deliver ") == nil {
		w.run()
	}
}

func (w *world) run() {
	w.t.Helper()
	for _, inv := range w.d.Invocations() {
		if w.holding[inv.Hook] {
			w.held = append(w.held, inv)
			continue
		}
		body := w.send(w.fn(inv.Hook), inv)
		require.True(w.t, body == "null" || strings.HasPrefix(body, `{"outcome"`), "%s answered %s", inv.Hook, body)
		w.ran[inv.Hook]++
		require.NoError(w.t, w.d.Check(), "the model's invariants after %s", inv.Hook)
	}
}

// send invokes f with the invocation's payload, as Lambda would.
func (w *world) send(f *function, inv protocol.Invoke) string {
	w.t.Helper()
	payload, err := json.Marshal(inv.Payload)
	require.NoError(w.t, err)
	return f.invoke(w.t, string(payload))
}

// hold keeps the invocations of hook for take.
func (w *world) hold(hook contract.Hook) { w.holding[hook] = true }

// take is the first held invocation of hook.
func (w *world) take(hook contract.Hook) protocol.Invoke {
	w.t.Helper()
	for i, inv := range w.held {
		if inv.Hook == hook {
			w.held = append(w.held[:i], w.held[i+1:]...)
			return inv
		}
	}
	w.t.Fatalf("no invocation of %s held", hook)
	return protocol.Invoke{}
}

// next takes event and returns the invocation of hook it caused, not run.
func (w *world) next(event string, hook contract.Hook) protocol.Invoke {
	w.t.Helper()
	w.hold(hook)
	w.do(event)
	delete(w.holding, hook)
	return w.take(hook)
}

// The labels of deployment id's steps, as the model names them.
func canary(id string) []string {
	return []string{"CodeDeploy starts " + id, "CodeDeploy " + id + " creates the replacement", "CodeDeploy " + id + " shifts the canary"}
}

func stage(id string) []string {
	return append(canary(id), "CodeDeploy "+id+" shifts all traffic", "CodeDeploy "+id+": termination wait ends")
}

// toApproval: push v1, its Latest deployment succeeds (and its end reaches
// cleanup), it waits at Approve.
func (w *world) toApproval() {
	w.t.Helper()
	w.do("PUSH v1", "exec-1 (v1) enters Latest")
	w.do(stage("d-1")...)
	w.deliverAll()
	w.do("exec-1 (v1) enters Approve")
}

// Reading the outcome.

func (w *world) catchAllPinned() (pinned bool) {
	w.d.Inspect(func(m *protocol.World) { pinned = m.CatchAllPinned() })
	return pinned
}

func (w *world) stableDesired() (n int) {
	w.d.Inspect(func(m *protocol.World) { n = m.StableService().Desired })
	return n
}

func (w *world) stableCount() int {
	n, err := strconv.Atoi(w.env(contract.HookPin, contract.EnvStableDesiredCount))
	require.NoError(w.t, err)
	return n
}

// served is each requester's versions ("" a request of no pinned tenant).
func (w *world) served() map[string][]int {
	var tenants []string
	w.d.Inspect(func(m *protocol.World) { tenants = m.Tenants() })
	out := map[string][]int{"": w.d.Versions("")}
	for _, t := range tenants {
		out[t] = w.d.Versions(t)
	}
	return out
}

// everyoneOn: everyone is served v, the catch-all is above the tenant
// rules, stable runs no task.
func (w *world) everyoneOn(v int) {
	w.t.Helper()
	for who, vs := range w.served() {
		require.Equal(w.t, []int{v}, vs, "served to %q", who)
	}
	require.False(w.t, w.catchAllPinned(), "the catch-all is above the tenant rules")
	require.Zero(w.t, w.stableDesired(), "stable runs no task")
}

// split: pinned tenants on pinnedV, everyone else on latestV, stable up.
func (w *world) split(pinnedV, latestV int) {
	w.t.Helper()
	for who, vs := range w.served() {
		want := pinnedV
		if who == "" {
			want = latestV
		}
		require.Equal(w.t, []int{want}, vs, "served to %q", who)
	}
	require.True(w.t, w.catchAllPinned(), "the catch-all is below the tenant rules")
	require.Equal(w.t, w.stableCount(), w.stableDesired(), "stable keeps serving")
}

func (w *world) deployments() (n int) {
	w.d.Inspect(func(m *protocol.World) { n = len(m.Deployments) })
	return n
}

func (w *world) execution(id string) (status string) {
	w.d.Inspect(func(m *protocol.World) {
		for _, e := range m.Executions {
			if e.ID == id {
				status = e.Status
			}
		}
	})
	return status
}

// claims are the tag keys on the catch-all rule.
func (w *world) claims() (keys []string) {
	w.d.Inspect(func(m *protocol.World) {
		for _, r := range m.Rules {
			if r.Kind == protocol.KindCatchAll {
				for k := range r.Tags {
					keys = append(keys, k)
				}
			}
		}
	})
	return keys
}

// reports are the statuses CodeDeploy accepted from the functions.
func (w *world) reports() []string {
	var out []string
	for _, r := range w.d.Reports() {
		out = append(out, r.Status)
	}
	return out
}

// smokeEnv is the smoke hook's environment: its checks, and each
// deployment group's test listener — the local server targets names for
// the group, else the model's own test listener (modelTestListener).
func (w *world) smokeEnv(checks contract.SmokeChecks, targets map[string]string) map[string]string {
	all := map[string]string{}
	for group := range w.d.SmokeTargets() {
		if url, ok := targets[group]; ok {
			all[group] = url
		} else {
			all[group] = w.modelTestListener(group, time.Duration(checks.TimeoutSeconds)*time.Second).URL
		}
	}
	t, err := json.Marshal(all)
	require.NoError(w.t, err)
	c, err := json.Marshal(checks)
	require.NoError(w.t, err)
	return map[string]string{contract.EnvSmokeTargets: string(t), contract.EnvSmokeChecks: string(c)}
}

// modelTestListener serves the model's test listener of a deployment
// group on a local address (the bootstrap sends real HTTP): each request
// is answered by the version behind the listener in the model's state at
// that moment; one the model leaves unanswered in time is held until the
// client gives up.
func (w *world) modelTestListener(group string, timeout time.Duration) *httptest.Server {
	base := w.d.SmokeTargets()[group]
	rt := w.d.TestListeners(timeout)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), nil)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header, req.Host = r.Header.Clone(), r.Host
		res, err := rt.RoundTrip(req)
		if err != nil {
			<-r.Context().Done()
			return
		}
		defer res.Body.Close()
		for k, vs := range res.Header {
			rw.Header()[k] = vs
		}
		rw.WriteHeader(res.StatusCode)
		_, _ = io.Copy(rw, res.Body)
	}))
	w.t.Cleanup(srv.Close)
	return srv
}
