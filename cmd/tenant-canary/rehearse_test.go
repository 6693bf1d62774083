package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// fixture is the program's one-tenant stack as `go run . declare` writes
// it (kept so by the root package's tests).
const fixture = "../../internal/protocol/testdata/stacks/tenants-1.json"

// lockedBuffer is written by a command running in a goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A user's session, as the rehearsal prints it: start it, source the env
// file it writes, and the usual commands — the built binary, in the
// environment the env file makes — work against it with --outputs: push,
// wait for the approval, approve, wait for the end; status then says
// everyone is on the new version, and the pinned tenant's printed URL
// serves it. Ctrl-C stops it and removes what it wrote for the others.
func TestARehearsalIsOperatedWithTheUsualCommands(t *testing.T) {
	// In parallel with the other tests that run the binary: the rollout
	// waits on its clock most of the time. Not with `rehearse --scenario`
	// (not parallel): both push a v2 of their own to the default build
	// directory, which keeps one build of a version name.
	t.Parallel()
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"rehearse", "--declared", fixture, "--dir", "../..", "--state", state, "--speed", "60"},
			&env{stdout: &out, stderr: &errs, stdin: strings.NewReader(""), outputs: outputs.PulumiCLI{}, loadAWS: loadAWS, now: time.Now, sleep: sleep})
	}()
	statePath := filepath.Join(state, "rehearsal.json")
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := os.Stat(statePath); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("rehearse ended with %d before it was ready: %s", code, errs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "the rehearsal did not start: %s", errs.String())
		time.Sleep(50 * time.Millisecond)
	}
	bin := buildCLI(t) // built meanwhile (TestMain)
	var st rehearsalState
	b, err := os.ReadFile(statePath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Contains(t, out.String(), st.Listener)
	assert.Contains(t, out.String(), ". "+st.Env)

	// `. .tenant-canary/env`: this environment with the file's exports
	// on top, and no profile or session token of the user's to mix in.
	sourced := map[string]string{}
	f, err := os.Open(st.Env)
	require.NoError(t, err)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kv, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			sourced[k] = strings.Trim(v, "'")
		}
	}
	require.NoError(t, f.Close())
	require.Contains(t, sourced, clockEnv)
	_, speed := clockFromEnv(sourced[clockEnv], os.Stderr)
	require.Equal(t, 60.0, speed)
	var environ []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := sourced[k]; !set && k != "AWS_PROFILE" && k != "AWS_SESSION_TOKEN" {
			environ = append(environ, kv)
		}
	}
	for k, v := range sourced {
		environ = append(environ, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cli := func(args ...string) int {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = environ, &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		require.NoError(t, err)
		return exitOK
	}

	require.Equal(t, exitOK, cli("rehearse", "push", "v2", "--state", state), stderr.String())
	require.Equal(t, exitOK, cli("wait", "--for", "approval", "--outputs", st.Outputs, "--timeout", "60m"), stdout.String()+stderr.String())
	require.Equal(t, exitOK, cli("status", "--outputs", st.Outputs), stderr.String())
	assert.Contains(t, stdout.String(), "WAITING FOR APPROVAL: v2 on everyone but the pinned tenant t0")
	require.Equal(t, exitOK, cli("approve", "--outputs", st.Outputs, "--summary", "rehearsed"), stderr.String())
	require.Equal(t, exitOK, cli("wait", "--for", "done", "--outputs", st.Outputs, "--timeout", "60m"), stdout.String()+stderr.String())
	require.Equal(t, exitOK, cli("status", "--outputs", st.Outputs), stderr.String())
	assert.Contains(t, stdout.String(), "HEALTHY: everyone on v2")
	for _, tenant := range st.Tenants {
		resp, err := http.Get(tenant.URL)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, "v2", resp.Header.Get("X-App-Version"), "%s at %s", tenant.Tenant, tenant.URL)
	}

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, errs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("rehearse did not stop when interrupted")
	}
	_, err = os.Stat(statePath)
	assert.ErrorIs(t, err, os.ErrNotExist, "a stopped rehearsal leaves no endpoint for the others")
	assert.NotContains(t, errs.String(), "INVARIANT VIOLATED")
}

// `rehearse --scenario` runs one story, writes its report and exits 0
// when it passed.
func TestRehearseScenarioWritesItsReport(t *testing.T) {
	h := newHarness(t, "idle")
	path := filepath.Join(t.TempDir(), "report.json")
	code := h.run("rehearse", "--declared", fixture, "--dir", "../..", "--speed", "60", "--scenario", "bad-image", "--report", path)
	require.Equal(t, exitOK, code, h.stdout.String()+h.stderr.String())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var rep scenario.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "bad-image", rep.Scenario)
	assert.True(t, rep.Passed(), "%+v", rep.Checks)
	assert.NotEmpty(t, rep.Responses)
	assert.Contains(t, h.stdout.String(), "scenario bad-image passed")
}

func TestRehearseRefusesWhatItCannotDo(t *testing.T) {
	h := newHarness(t, "idle")
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"rehearse", "--report", "r.json"}, exitUsage, "--report goes with --scenario"},
		{[]string{"rehearse", "--scenario", "sunny"}, exitUsage, `--scenario "sunny": want one of bad-image, happy, newest-push-wins, reject`},
		{[]string{"rehearse", "push"}, exitUsage, "want the version to push"},
		{[]string{"rehearse", "push", "v2", "--bad", "5xx=200%"}, exitUsage, `5xx="200%"`},
		{[]string{"rehearse", "push", "v2", "--state", t.TempDir()}, exitStack, "no running rehearsal"},
		{[]string{"rehearse", "--declared", filepath.Join(t.TempDir(), "none.json")}, exitStack, "none.json"},
	} {
		assert.Equal(t, tc.code, h.run(tc.args...), "%v: %s", tc.args, h.stderr.String())
		assert.Contains(t, h.stderr.String(), tc.says, tc.args)
	}
}

// The rehearsal's clock reaches the other commands through the env file.
func TestTheRehearsalClockRunsAtItsSpeed(t *testing.T) {
	wall := time.Now().Add(-time.Second)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now, speed := clockFromEnv(at.Format(time.RFC3339Nano)+" "+wall.Format(time.RFC3339Nano)+" 60", os.Stderr)
	assert.Equal(t, 60.0, speed)
	assert.WithinDuration(t, at.Add(time.Minute), now(), 30*time.Second, "a wall second is a rehearsal minute")
	var warn bytes.Buffer
	now, speed = clockFromEnv("yesterday", &warn)
	assert.Equal(t, 1.0, speed)
	assert.WithinDuration(t, time.Now(), now(), time.Second)
	assert.Contains(t, warn.String(), `TENANT_CANARY_CLOCK="yesterday": want`)
}
