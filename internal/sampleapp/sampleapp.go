// Package sampleapp builds the sample app (images/app) for this machine and
// runs it as a process, so a local rehearsal can start each ECS task as a
// real server: the same code the image runs, the version, colour and any
// bad behaviour fixed at build time as `docker build` fixes them (the
// Dockerfile's VERSION, COLOR and BAD_* build arguments are the same -X
// variables), the environment the service's task definition sets.
//
// Binaries go to the user cache directory, never the checkout.
package sampleapp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
)

// Version is one build of the app.
type Version struct {
	// Name is what the app reports in X-App-Version, e.g. v2.
	Name string
	// Color is the page's accent colour (a CSS colour name or #rrggbb).
	Color string
	// Bad makes the build misbehave (the zero Spec is a good build).
	Bad badversion.Spec
}

var (
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	colorPattern = regexp.MustCompile(`^(#[0-9A-Fa-f]{3,8}|[A-Za-z]{1,32})$`)
)

// Validate names what is wrong with v, if anything. The values go into
// -ldflags, which splits on spaces, so only plain tokens are allowed.
func (v Version) Validate() error {
	var problems []error
	if !namePattern.MatchString(v.Name) {
		problems = append(problems, fmt.Errorf("version %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", v.Name))
	}
	if !colorPattern.MatchString(v.Color) {
		problems = append(problems, fmt.Errorf("colour %q: want a CSS colour name such as green or #rgb/#rrggbb", v.Color))
	}
	return errors.Join(problems...)
}

// LDFlags is the -ldflags value of the build: what the Dockerfile passes.
func (v Version) LDFlags() string {
	flags := []string{"-X", "main.version=" + v.Name, "-X", "main.color=" + v.Color}
	return strings.Join(append(flags, v.Bad.LDFlags()...), " ")
}

// Builder builds versions of the app from a checkout.
type Builder struct {
	// SourceDir is the repository root (holding go.mod and images/app).
	SourceDir string
	// CacheDir holds the binaries; default <user cache dir>/tenant-canary/sampleapp
	// (the system temporary directory without a user cache directory).
	CacheDir string
}

// Build compiles v for this machine and returns the binary's path. The
// name is a hash of the app's sources and v, so a build already there is
// reused and a changed source is rebuilt.
func (b Builder) Build(ctx context.Context, v Version) (string, error) {
	if err := v.Validate(); err != nil {
		return "", err
	}
	root, err := filepath.Abs(b.SourceDir)
	if err != nil {
		return "", err
	}
	appDir := filepath.Join(root, "images", "app")
	sum, err := sourceHash(appDir, v)
	if err != nil {
		return "", fmt.Errorf("sample app sources in %s: %w", appDir, err)
	}
	dir := b.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil || base == "" {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "tenant-canary", "sampleapp")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "app-"+v.Name+"-"+sum)
	if info, err := os.Stat(out); err == nil && info.Mode().IsRegular() {
		return out, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the sample app needs the Go toolchain: %w", err)
	}
	tmp := out + ".tmp-" + strconv.Itoa(os.Getpid())
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags", v.LDFlags(), "-o", tmp, "./images/app")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build ./images/app (version %s): %w\n%s", v.Name, err, strings.TrimSpace(output.String()))
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	// Earlier builds of the same version name (older sources, another
	// colour or bad spec) are dropped, so the cache holds one binary per
	// version; a running task keeps its binary until it exits.
	if old, err := filepath.Glob(filepath.Join(dir, "app-"+v.Name+"-*")); err == nil {
		for _, f := range old {
			if f != out && !strings.Contains(filepath.Base(f), ".tmp-") {
				_ = os.Remove(f)
			}
		}
	}
	return out, nil
}

// sourceHash covers the app's non-test sources and the build's values.
func sourceHash(appDir string, v Version) (string, error) {
	files, err := filepath.Glob(filepath.Join(appDir, "*.go"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", v.Name, v.Color, v.Bad)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(data))
		h.Write(data)
		n++
	}
	if n == 0 {
		return "", errors.New("no Go files")
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// Task is one running process of the app: an ECS task of the rehearsal.
type Task struct {
	// Addr is where it listens, host:port on the loopback interface.
	Addr string
	cmd  *exec.Cmd
	done chan error
}

// Start runs binary as a task listening on 127.0.0.1:port (a free port
// when port is 0) with env added to its environment as the service's task
// definition sets it (TENANT_MATCH, HEALTH_CHECK_PATH, …; PORT and
// LISTEN_HOST are set here). It returns once the app says it listens, so
// a version built to fail its health checks or refuse connections starts
// too, and one built to refuse returns once it says so (its Addr then
// refuses every connection); logs (one JSON line per request) go to logs,
// if set. ctx bounds the
// start only; Stop ends the task.
func Start(ctx context.Context, binary string, port int, env map[string]string, logs io.Writer) (*Task, error) {
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	cmd := exec.Command(binary)
	cmd.SysProcAttr = procAttr()
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(port), "LISTEN_HOST=127.0.0.1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	t := &Task{cmd: cmd, done: make(chan error, 1)}

	listening := make(chan string, 1)
	var lastLine string // written before done is sent, read after
	go func() {
		// Every line is read, so the app never blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			// A version built to refuse connections says "refusing"
			// instead: it runs, but never listens.
			if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Msg == "listening" || line.Msg == "refusing") {
				select {
				case listening <- line.Addr:
				default:
				}
			}
			lastLine = sc.Text()
			if logs != nil {
				_, _ = logs.Write(append(sc.Bytes(), '\n'))
			}
		}
		t.done <- cmd.Wait()
	}()

	select {
	case addr := <-listening:
		p := strconv.Itoa(port)
		if _, lp, err := net.SplitHostPort(addr); err == nil {
			p = lp
		}
		t.Addr = net.JoinHostPort("127.0.0.1", p)
		return t, nil
	case err := <-t.done:
		t.done <- err
		return nil, fmt.Errorf("sample app %s exited before listening (%v): %s", binary, err, strings.TrimSpace(lastLine+"\n"+stderr.String()))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("sample app %s did not say it listens on port %d: %w", binary, port, ctx.Err())
	}
}

// PID is the task's process id.
func (t *Task) PID() int { return t.cmd.Process.Pid }

// Wait blocks until the task's process has exited, however it ended, and
// returns what cmd.Wait said; it may be called with Stop and more than once.
func (t *Task) Wait() error {
	err := <-t.done
	t.done <- err
	return err
}

// Stop sends SIGTERM, as ECS does, and waits for the app to exit; after
// grace it is killed, as ECS kills after the container's stopTimeout.
func (t *Task) Stop(grace time.Duration) error {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-t.done:
		t.done <- err
		return err
	case <-time.After(grace):
		_ = t.cmd.Process.Kill()
		err := <-t.done
		t.done <- err
		return fmt.Errorf("sample app did not stop within %s after SIGTERM; killed: %v", grace, err)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
