//go:build linux

package e2e

import (
	"archive/zip"
	"bytes"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
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
	invocations int
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startFunction runs hook's bootstrap under aws-lambda-rie with env, every
// AWS client pointed at world (a *fakeaws.World, the smoke hook's
// *fakeaws.Deployments, or a fakeaws.Server of the protocol model). It
// returns once the emulator listens on both its addresses.
func startFunction(t testing.TB, hook string, world http.Handler, timeoutSeconds int, env map[string]string) *function {
	t.Helper()
	rie := rieBinary(t)
	bin := bootstrap(t, hook)
	srv := httptest.NewServer(world)
	t.Cleanup(srv.Close)

	cmdEnv := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=" + fakeaws.Region,
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
	// A port freeAddr found free may be taken (by any process's outgoing
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
	addr, apiAddr := freeAddr(t), freeAddr(t)
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
	resp, err := http.Post(f.url, "application/json", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	f.invocations++
	f.awaitReport()
	return string(body)
}

// awaitReport waits until the emulator has printed the REPORT line of every
// invocation so far. The response can arrive before the function's last log
// lines have passed through the emulator's output pipe; they come before
// the REPORT line, so a test that reads logs right after invoke sees them
// all. Bounded: a missing REPORT line shows up as a failed log assertion.
func (f *function) awaitReport() {
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(f.logs.String(), "REPORT RequestId:") < f.invocations && time.Now().Before(deadline) {
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
