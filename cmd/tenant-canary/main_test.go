package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// testNow is the fixed clock of every test: goldens are deterministic.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeOutputs answers like `pulumi stack output --json`.
type fakeOutputs struct {
	json []byte
	err  error
}

func (f fakeOutputs) Outputs(context.Context, string) ([]byte, error) { return f.json, f.err }

// harness serves stack over the wire to the real SDK clients.
type harness struct {
	clock  time.Time // the CLI's clock; sleeping advances it
	slept  int
	stack  *fakeaws.Stack
	env    *env
	stdout *bytes.Buffer
	stderr *bytes.Buffer
}

func newHarness(t *testing.T, state fakeaws.RolloutState) *harness {
	t.Helper()
	s := fakeaws.NewStack(state, testNow)
	srv := httptest.NewServer(fakeaws.NewServer(s, nil))
	t.Cleanup(srv.Close)
	h := &harness{clock: testNow, stack: s, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	h.env = &env{
		stdout: h.stdout, stderr: h.stderr, stdin: strings.NewReader(""),
		outputs: fakeOutputs{json: fakeaws.OutputsJSON()},
		loadAWS: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{Region: region, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
				})}, nil
		},
		now:  func() time.Time { return h.clock },
		poll: time.Millisecond,
		sleep: func(ctx context.Context, d time.Duration) error {
			h.clock = h.clock.Add(d)
			h.slept++
			return ctx.Err()
		},
	}
	return h
}

func (h *harness) run(args ...string) int {
	h.stdout.Reset()
	h.stderr.Reset()
	return run(context.Background(), args, h.env)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./cmd/tenant-canary -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; go test ./cmd/tenant-canary -update rewrites it", path)
}

func TestStatusScreenInEveryProtocolState(t *testing.T) {
	for _, state := range []fakeaws.RolloutState{fakeaws.StateIdle, fakeaws.StateCanary, fakeaws.StateApproval,
		fakeaws.StateStable, fakeaws.StateRolledBack, fakeaws.StateHeld, fakeaws.StateRejected} {
		t.Run(string(state), func(t *testing.T) {
			h := newHarness(t, state)
			require.Equal(t, exitOK, h.run("status"), h.stderr.String())
			golden(t, "status-"+string(state)+".golden", h.stdout.Bytes())
		})
	}
}

func TestStatusReadsWhatTheStateShows(t *testing.T) {
	h := newHarness(t, fakeaws.StateCanary)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	var st Status
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.True(t, st.Routing.Pinned)
	assert.Equal(t, "50000", st.Routing.CatchAllPriority)
	assert.Equal(t, 10.0, st.Deployments[0].TrafficPercent)
	assert.Equal(t, int64(180), st.Deployments[0].NextStepInSeconds, "canary started 2m ago, 5m interval")
	assert.Equal(t, []string{"v1"}, st.Services[0].Image.Tags)
	assert.Equal(t, []string{"v2", "latest"}, st.Services[0].Active.Tags)
	assert.Nil(t, st.Approval.Expires, "no approval pending")

	h = newHarness(t, fakeaws.StateApproval)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	require.Equal(t, "pending", st.Approval.State)
	assert.Equal(t, int32(fakeaws.ApprovalTimeoutMin), st.Approval.TimeoutMinutes)
	assert.Equal(t, testNow.Add(-25*time.Minute+fakeaws.ApprovalTimeoutMin*time.Minute), *st.Approval.Expires)

	// Without timeoutInMinutes on the action, a manual approval expires after 7 days.
	h = newHarness(t, fakeaws.StateApproval)
	h.stack.Declaration.Stages[2].Actions[0].TimeoutInMinutes = nil
	require.Equal(t, exitOK, h.run("status", "--json"))
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.Equal(t, int32(7*24*60), st.Approval.TimeoutMinutes)

	h = newHarness(t, fakeaws.StateStable)
	require.Equal(t, exitOK, h.run("status", "--json"))
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.Equal(t, "termination-wait", st.Deployments[1].Phase)
	assert.Equal(t, int64(48*60), st.Deployments[1].TerminationWaitLeftSeconds, "60m wait from 12m ago")
}

// The JSON schema is the Status type's field names and types; a change
// shows in the golden and must be deliberate (docs/operating.md documents it).
func TestStatusJSONSchemaIsStable(t *testing.T) {
	var b strings.Builder
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				prefix += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ft := f.Type
			kind := ft.String()
			fmt.Fprintf(&b, "%s.%s %s\n", prefix, name, kind)
			walk(ft, prefix+"."+name)
		}
	}
	walk(reflect.TypeOf(Status{}), "")
	golden(t, "status-schema.golden", []byte(b.String()))

	h := newHarness(t, fakeaws.StateCanary)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	golden(t, "status-canary.json.golden", h.stdout.Bytes())
}

func TestApproveAndRejectFindThePendingToken(t *testing.T) {
	for _, tt := range []struct {
		cmd, done string
		status    cptypes.ActionExecutionStatus
	}{{"approve", "approved", cptypes.ActionExecutionStatusSucceeded}, {"reject", "rejected", cptypes.ActionExecutionStatusFailed}} {
		t.Run(tt.cmd, func(t *testing.T) {
			h := newHarness(t, fakeaws.StateApproval)
			require.Equal(t, exitOK, h.run(tt.cmd, "--summary", "checked acme"), h.stderr.String())
			assert.Equal(t, tt.done+" the pending approval of tc-dev-pipeline after 25m0s: \"checked acme\"\n", h.stdout.String())
			assert.Equal(t, []string{"GetPipelineState", "PutApprovalResult"}, h.stack.Ops())
			assert.Equal(t, tt.status, h.stack.Stages[2].ActionStates[0].LatestExecution.Status)

			// Without --summary, CodePipeline's history reads "approved
			// with tenant-canary" or "rejected with tenant-canary".
			h = newHarness(t, fakeaws.StateApproval)
			require.Equal(t, exitOK, h.run(tt.cmd), h.stderr.String())
			assert.Equal(t, tt.done+" with tenant-canary", aws.ToString(h.stack.Stages[2].ActionStates[0].LatestExecution.Summary))
			assert.Equal(t, tt.done+" the pending approval of tc-dev-pipeline after 25m0s: \""+tt.done+" with tenant-canary\"\n", h.stdout.String())

			// Nothing pending any more: a clear line and exit code 3.
			assert.Equal(t, exitNothing, h.run(tt.cmd))
			assert.Equal(t, "tenant-canary "+tt.cmd+": nothing to "+tt.cmd+": no approval is pending in pipeline tc-dev-pipeline\n", h.stderr.String())
		})
	}
}

func TestRollbackFromEveryState(t *testing.T) {
	for _, tt := range []struct {
		state    fakeaws.RolloutState
		code     int
		ops      []string // the writes, in order
		stdout   string
		contains string
	}{
		{fakeaws.StateApproval, exitOK, []string{"PutApprovalResult", "Invoke"},
			"rejected the pending approval\nrollback: deploying d-ROLLBACK: redeploying latest with stable's image " + fakeaws.ImageV1 + "\n  follow it with: tenant-canary status --watch\n", ""},
		{fakeaws.StateCanary, exitOK, []string{"StopDeployment", "Invoke"},
			"stopping deployment d-LATEST2 (latest) with rollback\nwaiting for d-LATEST2 to stop (15m0s left)\nrollback: unpinned: catch-all back above the tenant rules, stable scaled to 0\n", ""},
		{fakeaws.StateStable, exitOK, []string{"StopDeployment", "Invoke"}, "", "rollback: deploying d-ROLLBACK"},
		{fakeaws.StateHeld, exitOK, []string{"Invoke"}, "", "rollback: deploying d-ROLLBACK"},
		{fakeaws.StateIdle, exitNothing, []string{"Invoke"}, "", "nothing to roll back: one version everywhere already"},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			h := newHarness(t, tt.state)
			h.stack.StopAfterPolls = 2
			code := h.run("rollback", "--yes", "--reason", "latency")
			require.Equal(t, tt.code, code, h.stderr.String())
			var writes []string
			for _, c := range h.stack.Calls() {
				switch c.Op {
				case "PutApprovalResult", "StopDeployment", "Invoke":
					writes = append(writes, c.Op)
					switch c.Op {
					case "PutApprovalResult":
						assert.Contains(t, c.Detail, "Rejected")
					case "StopDeployment":
						assert.Contains(t, c.Detail, "autoRollbackEnabled=true")
					case "Invoke":
						assert.Equal(t, fakeaws.RollbackFunction+` {"reason":"latency"}`, c.Detail)
					}
				}
			}
			assert.Equal(t, tt.ops, writes)
			if tt.stdout != "" {
				assert.Equal(t, tt.stdout, h.stdout.String())
			}
			assert.Contains(t, h.stdout.String()+h.stderr.String(), tt.contains)
		})
	}
	h := newHarness(t, fakeaws.StateApproval)
	require.Equal(t, exitOK, h.run("rollback", "--yes", "--reason", "latency"))
	summary := h.stack.Stages[2].ActionStates[0].LatestExecution.Summary
	assert.Equal(t, "tenant-canary rollback: latency", aws.ToString(summary))
}

func TestRollbackAsksFirstAndWaitsBounded(t *testing.T) {
	h := newHarness(t, fakeaws.StateApproval)
	h.env.stdin = strings.NewReader("n\n")
	assert.Equal(t, exitDeclined, h.run("rollback"))
	assert.Contains(t, h.stderr.String(), "[y/N]")
	assert.Contains(t, h.stderr.String(), "tenant-canary rollback: not confirmed; nothing changed\n")
	assert.NotContains(t, h.stack.Ops(), "PutApprovalResult")

	h.env.stdin = strings.NewReader("y\n")
	assert.Equal(t, exitOK, h.run("rollback"), h.stderr.String())
	assert.Contains(t, h.stack.Ops(), "Invoke")

	// A deployment that does not stop within --wait: exit 5, no invoke.
	h = newHarness(t, fakeaws.StateCanary)
	h.stack.StopAfterPolls = 1000
	clock := testNow
	h.env.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	assert.Equal(t, exitBusy, h.run("rollback", "--yes", "--wait", "3m"))
	assert.Contains(t, h.stderr.String(), "d-LATEST2 still in progress after 3m0s")
	assert.NotContains(t, h.stack.Ops(), "Invoke")

	// The function answers busy: exit 5.
	h = newHarness(t, fakeaws.StateIdle)
	h.stack.Functions[fakeaws.RollbackFunction] = func([]byte) ([]byte, error) {
		return []byte(`{"outcome":"busy","detail":"a rollout is starting"}`), nil
	}
	assert.Equal(t, exitBusy, h.run("rollback", "--yes"))
	assert.Equal(t, "tenant-canary rollback: the rollback function is busy: a rollout is starting; try again shortly\n", h.stderr.String())

	// The function fails: its error message, exit 1.
	h.stack.Functions[fakeaws.RollbackFunction] = func([]byte) ([]byte, error) { return nil, errors.New("boom") }
	assert.Equal(t, exitError, h.run("rollback", "--yes"))
	assert.Contains(t, h.stderr.String(), "rollback function tc-dev-pipeline-rollback failed (Unhandled): boom")
}

func TestEveryCommandFailsWithOneClearLine(t *testing.T) {
	noRollback := fakeaws.Outputs()
	noRollback["hookFunctionNames"] = map[string]string{"pin": "p", "unpin": "u", "cleanup": "c"}
	noRollbackJSON, _ := json.Marshal(noRollback)
	for _, cmd := range [][]string{{"status"}, {"approve"}, {"reject"}, {"rollback", "--yes"}} {
		t.Run(cmd[0], func(t *testing.T) {
			prefix := "tenant-canary " + cmd[0] + ": "
			h := newHarness(t, fakeaws.StateApproval)
			h.env.outputs = fakeOutputs{err: outputs.ErrNoStack}
			assert.Equal(t, exitStack, h.run(cmd...))
			assert.Equal(t, prefix+"no stack selected: run `pulumi stack select <name>` or pass --stack\n", h.stderr.String())

			h.env.outputs = fakeOutputs{json: []byte("{}")}
			assert.Equal(t, exitStack, h.run(append(cmd, "--stack", "staging")...))
			assert.Equal(t, prefix+"stack staging has no outputs: it was never deployed: run `pulumi up` first\n", h.stderr.String())

			h.env.outputs = fakeOutputs{json: fakeaws.OutputsJSON()}
			h.stack.FailNext("GetPipelineState", &fakeaws.APIError{Code: "AccessDeniedException", Message: "User is not\nauthorized"})
			assert.Equal(t, exitError, h.run(cmd...))
			assert.Equal(t, prefix+"AWS CodePipeline GetPipelineState: AccessDeniedException: User is not authorized\n", h.stderr.String())

			inner := h.env.loadAWS
			h.env.loadAWS = func(ctx context.Context, region string) (aws.Config, error) {
				cfg, err := inner(ctx, region)
				cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{}, errors.New("failed to refresh cached credentials, no EC2 IMDS role found")
				})
				return cfg, err
			}
			assert.Equal(t, exitCredentials, h.run(cmd...))
			assert.Equal(t, prefix+"no AWS credentials: failed to refresh cached credentials, no EC2 IMDS role found (set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)\n", h.stderr.String())

			assert.Equal(t, exitUsage, h.run(append(cmd, "stray")...))
			assert.Equal(t, 1, strings.Count(h.stderr.String(), "\n"), h.stderr.String())
		})
	}
	h := newHarness(t, fakeaws.StateApproval)
	h.env.outputs = fakeOutputs{json: noRollbackJSON}
	assert.Equal(t, exitStack, h.run("rollback", "--yes"))
	assert.Equal(t, "tenant-canary rollback: the selected stack has no output hookFunctionNames.rollback (deployed before the server-side rollback existed?): run `pulumi up` first\n", h.stderr.String())
	assert.Empty(t, h.stack.Ops())

	assert.Equal(t, exitUsage, h.run("frobnicate"))
	assert.Equal(t, exitUsage, h.run())
}

// The SDK's own credential chain with nothing to find: the same line.
func TestNoCredentialsFromTheRealChain(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	h := newHarness(t, fakeaws.StateIdle)
	srv := httptest.NewServer(fakeaws.NewServer(h.stack, nil))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	h.env.loadAWS = loadAWS
	assert.Equal(t, exitCredentials, h.run("status"))
	assert.Contains(t, h.stderr.String(), "tenant-canary status: no AWS credentials: ")
	assert.Equal(t, 1, strings.Count(h.stderr.String(), "\n"), h.stderr.String())
	assert.Empty(t, h.stack.Ops(), "nothing reached AWS unsigned")
}

func TestWatchIsASubcommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-App-Version", "v1")
	}))
	defer srv.Close()
	h := newHarness(t, fakeaws.StateIdle)
	code := h.run("watch", "-url", srv.URL, "-pinned", "", "-tenants", "7", "-duration", "300ms", "-refresh", "100ms")
	require.Equal(t, exitOK, code, h.stderr.String())
	assert.Contains(t, h.stdout.String(), "summary:")

	assert.Equal(t, exitUsage, h.run("watch", "-url", "ftp://alb"))
}

func TestStatusWatchWithoutATerminalPrintsCopiesUntilInterrupted(t *testing.T) {
	h := newHarness(t, fakeaws.StateIdle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAfter{screens: 2, cancel: cancel}
	h.env.stdout = out
	code := run(ctx, []string{"status", "--watch", "--interval", "1s"}, h.env)
	require.Equal(t, exitOK, code, h.stderr.String())
	assert.Equal(t, 2, strings.Count(out.String(), "tenant-canary (selected stack) at"))
	assert.NotContains(t, out.String(), clearScreen, "no ANSI codes when stdout is not a terminal")
}

// cancelAfter cancels once it has received that many screens.
type cancelAfter struct {
	bytes.Buffer
	screens int
	cancel  func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	n, err := c.Buffer.Write(p)
	if strings.Count(c.String(), "tenant-canary (selected stack) at") >= c.screens {
		c.cancel()
	}
	return n, err
}
