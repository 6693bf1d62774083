//go:build linux || darwin

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// fakePulumiDir holds a `pulumi` that prints the stack's outputs, or fails
// like pulumi does without a selected stack when PULUMI_FAKE_NO_STACK is set.
func fakePulumiDir(t *testing.T, o contract.StackOutputs) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "outputs.json"), outputsJSON(t, o), 0o644))
	script := "#!/bin/sh\n" +
		"if [ -n \"$PULUMI_FAKE_NO_STACK\" ]; then echo 'error: no stack selected; please use `pulumi stack select` to choose one' >&2; exit 255; fi\n" +
		// pulumi's words for a --stack it does not know (pkg/cmd/pulumi: "no stack named '%s' found").
		"case \"$*\" in *'--stack nosuch'*) echo \"error: no stack named 'nosuch' found\" >&2; exit 255;; esac\n" +
		"cat '" + filepath.Join(dir, "outputs.json") + "'\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pulumi"), []byte(script), 0o755))
	return dir
}

func cliEnv(pulumiDir, endpoint string, extra ...string) []string {
	return append([]string{
		"PATH=" + pulumiDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + pulumiDir, "AWS_CONFIG_FILE=" + filepath.Join(pulumiDir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(pulumiDir, "none"),
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_ENDPOINT_URL=" + endpoint,
	}, extra...)
}

// The real binary under a pseudo-terminal: status --watch clears the
// screen and redraws in place, and stops cleanly on Ctrl-C.
func TestStatusWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	h := newHarness(t, stateCanary)

	cmd := exec.Command(bin, "status", "--watch", "--interval", "1s")
	cmd.Env = cliEnv(fakePulumiDir(t, h.o), h.srv.URL)
	tty, err := pty.Start(cmd)
	require.NoError(t, err)
	defer tty.Close()

	var screen bytes.Buffer
	buf := make([]byte, 4096)
	deadline := time.Now().Add(30 * time.Second)                                         // a bound, not a timing assertion
	for strings.Count(screen.String(), clearScreen) < 3 && time.Now().Before(deadline) { // two whole frames
		_ = tty.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := tty.Read(buf)
		screen.Write(buf[:n])
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "exit 0 after Ctrl-C")
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("status --watch did not stop on SIGINT")
	}

	out := screen.String()
	require.GreaterOrEqual(t, strings.Count(out, clearScreen), 3, "%q", out)
	frames := strings.Split(out, clearScreen)[1:]
	for _, f := range frames[:2] {
		assert.Contains(t, f, "shifting traffic: 10% on the replacement")
		assert.Contains(t, f, "PINNED to stable")
	}
}

// The real binary reads the outputs with pulumi and says why it cannot.
func TestBinaryReadsOutputsWithPulumi(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	h := newHarness(t, stateApproval)
	srv := h.srv
	dir := fakePulumiDir(t, h.o)

	cmd := exec.Command(bin, "status", "--json")
	cmd.Env = cliEnv(dir, srv.URL)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"state": "pending"`)

	cmd = exec.Command(bin, "approve")
	cmd.Env = cliEnv(dir, srv.URL, "PULUMI_FAKE_NO_STACK=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, exitStack, exit.ExitCode())
	assert.Equal(t, "tenant-canary approve: no stack selected: run `pulumi stack select <name>` or pass --stack\n", stderr.String())

	// A --stack pulumi does not know: exit 4 as for every stack problem,
	// from every command that reads outputs (watch too).
	for _, args := range [][]string{{"status", "--stack", "nosuch"}, {"watch", "--stack", "nosuch"}} {
		cmd = exec.Command(bin, args...)
		cmd.Env = cliEnv(dir, srv.URL)
		stderr.Reset()
		cmd.Stderr = &stderr
		err = cmd.Run()
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, exitStack, exit.ExitCode(), args)
		assert.Equal(t, "tenant-canary "+args[0]+": no stack named \"nosuch\": `pulumi stack ls` lists this project's stacks\n", stderr.String())
	}

	// Without pulumi on PATH, a file of its output does.
	file := filepath.Join(dir, "outputs.json")
	cmd = exec.Command(bin, "status", "--json", "--outputs", file)
	cmd.Env = cliEnv(t.TempDir(), srv.URL)
	out, err = cmd.Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"state": "waiting-for-approval"`)
}

// The built binary names its version; help is on stdout.
func TestBinaryVersionAndHelp(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Regexp(t, `^tenant-canary \S+ \(.*go1\.\d+`, string(out))
	// go build stamps the checkout's commit unless -buildvcs=false (go
	// help buildvcs); when it did, --version shows that commit.
	if strings.Contains(string(out), "commit ") {
		rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "commit "+string(rev[:12]))
	}
	out, err = exec.Command(bin, "--help").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "usage: tenant-canary <command>")
}
