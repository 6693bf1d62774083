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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/outputs"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
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

// harness serves the model, at a state a rollout reached, over the wire
// to the real SDK clients of the CLI.
type harness struct {
	clock  time.Time // the CLI's clock; sleeping advances it
	slept  int
	script *script
	d      *protocol.Direct
	o      contract.StackOutputs
	srv    *httptest.Server
	env    *env
	stdout *bytes.Buffer
	stderr *bytes.Buffer
}

func newHarness(t *testing.T, state rolloutState) *harness {
	t.Helper()
	return harnessOf(t, reach(t, loadStack(t, fixtureOf(state)), state))
}

// harnessOf serves the script's model to the CLI.
func harnessOf(t *testing.T, s *script) *harness {
	t.Helper()
	srv := httptest.NewServer(s.d.Handler())
	t.Cleanup(srv.Close)
	h := &harness{clock: testNow, script: s, d: s.d, o: s.stack.Outputs, srv: srv, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	h.env = &env{
		stdout: h.stdout, stderr: h.stderr, stdin: strings.NewReader(""),
		outputs: fakeOutputs{json: outputsJSON(t, h.o)},
		loadAWS: func(_ context.Context, region string) (aws.Config, error) {
			return aws.Config{Region: region, BaseEndpoint: aws.String(srv.URL), Retryer: fakeaws.Retryer,
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

// meanwhile takes event, once the CLI has polled a stopped deployment
// once (CodeDeploy finishing the rollback the CLI waits for).
func (h *harness) meanwhile(t *testing.T, event string) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	polledOnce := func() bool {
		stopped, polls := false, 0
		for _, c := range h.d.Calls() {
			stopped = stopped || c.Op == "StopDeployment"
			if stopped && c.Op == "ListDeployments" {
				polls++
			}
		}
		return polls >= 2 // both groups
	}
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if polledOnce() && h.d.Do(event) == nil {
				return
			}
		}
	}()
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
	for _, state := range allStates {
		t.Run(string(state), func(t *testing.T) {
			h := newHarness(t, state)
			require.Equal(t, exitOK, h.run("status"), h.stderr.String())
			golden(t, "status-"+string(state)+".golden", h.stdout.Bytes())
		})
	}
}

func TestStatusReadsWhatTheStateShows(t *testing.T) {
	h := newHarness(t, stateCanary)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	var st Status
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.True(t, st.Routing.Pinned)
	assert.Equal(t, h.d.Env(contract.HookPin)[contract.EnvCatchAllPriorityPinned], st.Routing.CatchAllPriority)
	assert.Equal(t, h.o.PinnedTenants, st.Routing.PinnedTenants)
	assert.Equal(t, 10.0, st.Deployments[0].TrafficPercent)
	assert.Equal(t, int64(180), st.Deployments[0].NextStepInSeconds, "canary shifted 2m ago, 5m interval")
	assert.Equal(t, []string{"v1"}, st.Services[0].Image.Tags)
	assert.Equal(t, []string{"v2", h.o.ImageTag}, st.Services[0].Active.Tags)
	assert.Equal(t, "approved", st.Approval.State, "v1's approval is the last")
	assert.Nil(t, st.Approval.Expires, "no approval pending")

	// The fixtures' Approve action sets no timeoutInMinutes: a manual
	// approval expires after 7 days.
	h = newHarness(t, stateApproval)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	require.Equal(t, "pending", st.Approval.State)
	assert.Equal(t, int32(7*24*60), st.Approval.TimeoutMinutes)
	assert.Equal(t, testNow.Add(-30*time.Minute+7*24*time.Hour), *st.Approval.Expires)

	// A stack whose Approve action sets one: the approval expires then.
	stack := loadStack(t, "tenants-2")
	for i, stage := range stack.Pipeline.Declaration.Stages {
		if aws.ToString(stage.Name) == contract.StageApprove {
			stack.Pipeline.Declaration.Stages[i].Actions[0].TimeoutInMinutes = aws.Int32(1440)
		}
	}
	h = harnessOf(t, reach(t, stack, stateApproval))
	require.Equal(t, exitOK, h.run("status", "--json"))
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.Equal(t, int32(1440), st.Approval.TimeoutMinutes)
	assert.Equal(t, testNow.Add(-30*time.Minute+24*time.Hour), *st.Approval.Expires)

	h = newHarness(t, stateStable)
	require.Equal(t, exitOK, h.run("status", "--json"))
	st = Status{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	assert.Equal(t, "termination-wait", st.Deployments[1].Phase)
	assert.Equal(t, int64(2*60), st.Deployments[1].TerminationWaitLeftSeconds, "5m wait from 3m ago")
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

	h := newHarness(t, stateCanary)
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	golden(t, "status-canary.json.golden", h.stdout.Bytes())
}

// statusOf is `status --json` now.
func (h *harness) statusOf(t *testing.T) Status {
	t.Helper()
	require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
	var st Status
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
	return st
}

func TestApproveAndRejectFindThePendingToken(t *testing.T) {
	for _, tt := range []struct{ cmd, done string }{{"approve", "approved"}, {"reject", "rejected"}} {
		t.Run(tt.cmd, func(t *testing.T) {
			h := newHarness(t, stateApproval)
			require.Equal(t, exitOK, h.run(tt.cmd, "--summary", "checked t0"), h.stderr.String())
			assert.Equal(t, tt.done+" the pending approval of "+h.o.PipelineName+" after 30m0s: \"checked t0\"\n", h.stdout.String())
			// The pipeline records the decision, who made it and why.
			st := h.statusOf(t)
			require.NotNil(t, st.Approval)
			assert.Equal(t, tt.done, st.Approval.State)
			assert.Equal(t, "checked t0", st.Approval.Summary)
			assert.Equal(t, h.d.Caller(), st.Approval.By)

			// Without --summary, CodePipeline's history reads "approved
			// with tenant-canary" or "rejected with tenant-canary".
			h = newHarness(t, stateApproval)
			require.Equal(t, exitOK, h.run(tt.cmd), h.stderr.String())
			assert.Equal(t, tt.done+" the pending approval of "+h.o.PipelineName+" after 30m0s: \""+tt.done+" with tenant-canary\"\n", h.stdout.String())
			assert.Equal(t, tt.done+" with tenant-canary", h.statusOf(t).Approval.Summary)

			// Nothing pending any more: a clear line and exit code 3.
			assert.Equal(t, exitNothing, h.run(tt.cmd))
			assert.Equal(t, "tenant-canary "+tt.cmd+": nothing to "+tt.cmd+": no approval is pending in pipeline "+h.o.PipelineName+"\n", h.stderr.String())
		})
	}
}

func TestRollbackFromEveryState(t *testing.T) {
	for _, tt := range []struct {
		state rolloutState
		code  int
		// stdout holds these, in order; after is the verdict once
		// CodeDeploy and the functions have done what the rollback asked.
		stdout []string
		after  string
	}{
		{stateApproval, exitOK, []string{"rejected the pending approval\n", "rollback: deploying d-4: latest is being redeployed with ", "\n  follow it with: tenant-canary status --watch\n"}, verdictRolledBack},
		{stateCanary, exitOK, []string{"stopping deployment d-3 (tenant-canary-tenants-2-pipeline-latest) with rollback\n", "waiting for d-3 to stop (15m0s left)\n", "rollback: "}, verdictRolledBack},
		{stateStable, exitOK, []string{"stopping deployment d-4 (tenant-canary-tenants-2-pipeline-stable) with rollback\n", "rollback: deploying d-5: "}, verdictRolledBack},
		{stateHeld, exitOK, []string{"rollback: deploying d-4: "}, verdictRolledBack},
		// The function finds one version everywhere and makes sure the
		// tenants are released.
		{stateIdle, exitOK, []string{"rollback: unpinned: latest already served stable's image: everyone is on it\n"}, verdictHealthy},
	} {
		t.Run(string(tt.state), func(t *testing.T) {
			h := newHarness(t, tt.state)
			h.meanwhile(t, "traffic back on the original task set")
			code := h.run("rollback", "--yes", "--reason", "latency")
			require.Equal(t, tt.code, code, h.stdout.String()+h.stderr.String())
			out := h.stdout.String()
			for _, want := range tt.stdout {
				i := strings.Index(out, want)
				require.GreaterOrEqual(t, i, 0, "%q not in %q", want, out)
				out = out[i+len(want):]
			}
			// CodeDeploy finishes what the rollback started.
			h.script.clock(0)
			for _, e := range []string{"CodeDeploy starts", "creates the replacement", "shifts the canary", "shifts all traffic", "termination wait ends"} {
				if h.d.Do(e) == nil {
					require.NoError(t, h.d.RunQueued(context.Background()))
				}
			}
			h.script.deliver()
			st := h.statusOf(t)
			assert.Equal(t, tt.after, st.Verdict.State, st.Verdict.Reason)
			assert.False(t, st.Routing.Pinned, "everyone on one version")
			for _, svc := range st.Services {
				if svc.Image != nil {
					assert.Contains(t, svc.Image.Tags, "v1", svc.Role)
				}
			}
		})
	}
	h := newHarness(t, stateApproval)
	require.Equal(t, exitOK, h.run("rollback", "--yes", "--reason", "latency"))
	assert.Equal(t, "tenant-canary rollback: latency", h.statusOf(t).Approval.Summary)
}

func TestRollbackAsksFirstAndWaitsBounded(t *testing.T) {
	h := newHarness(t, stateApproval)
	h.env.stdin = strings.NewReader("n\n")
	assert.Equal(t, exitDeclined, h.run("rollback"))
	assert.Contains(t, h.stderr.String(), "[y/N]")
	assert.Contains(t, h.stderr.String(), "tenant-canary rollback: not confirmed; nothing changed\n")
	assert.Equal(t, "pending", h.statusOf(t).Approval.State, "nothing changed")

	h.env.stdin = strings.NewReader("y\n")
	assert.Equal(t, exitOK, h.run("rollback"), h.stderr.String())
	assert.Equal(t, "rejected", h.statusOf(t).Approval.State)

	// A deployment that does not stop within --wait: exit 5, the
	// function not invoked.
	h = newHarness(t, stateCanary)
	clock := testNow
	h.env.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	assert.Equal(t, exitBusy, h.run("rollback", "--yes", "--wait", "3m"))
	assert.Contains(t, h.stderr.String(), "d-3 still in progress after 3m0s")
	assert.NotContains(t, h.d.Ops(), "Invoke")

	// The function answers busy: exit 5.
	h = newHarness(t, stateIdle)
	h.d.RunFunction(contract.HookRollback, func(context.Context, any) (any, error) {
		return map[string]string{"outcome": "busy", "detail": "a rollout is starting"}, nil
	})
	assert.Equal(t, exitBusy, h.run("rollback", "--yes"))
	assert.Equal(t, "tenant-canary rollback: the rollback function is busy: a rollout is starting; try again shortly\n", h.stderr.String())

	// The function fails: its error message, exit 1.
	h.d.RunFunction(contract.HookRollback, func(context.Context, any) (any, error) { return nil, errors.New("boom") })
	assert.Equal(t, exitError, h.run("rollback", "--yes"))
	assert.Contains(t, h.stderr.String(), "rollback function "+h.o.HookFunctionNames["rollback"]+" failed (Unhandled): boom")
}

func TestEveryCommandFailsWithOneClearLine(t *testing.T) {
	h := newHarness(t, stateApproval)
	noRollback := h.o
	noRollback.HookFunctionNames = map[string]string{"pin": "p", "unpin": "u", "cleanup": "c"}
	for _, cmd := range [][]string{{"status"}, {"approve"}, {"reject"}, {"rollback", "--yes"}} {
		t.Run(cmd[0], func(t *testing.T) {
			prefix := "tenant-canary " + cmd[0] + ": "
			h.env.outputs = fakeOutputs{err: outputs.ErrNoStack}
			assert.Equal(t, exitStack, h.run(cmd...))
			assert.Equal(t, prefix+"no stack selected: run `pulumi stack select <name>` or pass --stack\n", h.stderr.String())

			h.env.outputs = fakeOutputs{json: []byte("{}")}
			assert.Equal(t, exitStack, h.run(append(cmd, "--stack", "staging")...))
			assert.Equal(t, prefix+"stack staging has no outputs: it was never deployed: run `pulumi up` first\n", h.stderr.String())

			h.env.outputs = fakeOutputs{json: outputsJSON(t, h.o)}
			h.d.FailNext("GetPipelineState", &fakeaws.APIError{Code: "AccessDeniedException", Message: "User is not\nauthorized"})
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
			h.env.loadAWS = inner

			assert.Equal(t, exitUsage, h.run(append(cmd, "stray")...))
			assert.Equal(t, 1, strings.Count(h.stderr.String(), "\n"), h.stderr.String())
		})
	}
	h.d.ResetCalls()
	h.env.outputs = fakeOutputs{json: outputsJSON(t, noRollback)}
	assert.Equal(t, exitStack, h.run("rollback", "--yes"))
	assert.Equal(t, "tenant-canary rollback: the selected stack has no output hookFunctionNames.rollback (deployed before the server-side rollback existed?): run `pulumi up` first\n", h.stderr.String())
	assert.Empty(t, h.d.Ops(), "nothing reached AWS")

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
	h := newHarness(t, stateIdle)
	t.Setenv("AWS_ENDPOINT_URL", h.srv.URL)
	h.env.loadAWS = loadAWS
	assert.Equal(t, exitCredentials, h.run("status"))
	assert.Contains(t, h.stderr.String(), "tenant-canary status: no AWS credentials: ")
	assert.Equal(t, 1, strings.Count(h.stderr.String(), "\n"), h.stderr.String())
	assert.Empty(t, h.d.Ops(), "nothing reached AWS unsigned")
}

func TestWatchIsASubcommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-App-Version", "v1")
	}))
	defer srv.Close()
	h := newHarness(t, stateIdle)
	code := h.run("watch", "-url", srv.URL, "-pinned", "", "-tenants", "7", "-duration", "300ms", "-refresh", "100ms")
	require.Equal(t, exitOK, code, h.stderr.String())
	assert.Contains(t, h.stdout.String(), "summary:")

	assert.Equal(t, exitUsage, h.run("watch", "-url", "ftp://alb"))
}

func TestStatusWatchWithoutATerminalPrintsCopiesUntilInterrupted(t *testing.T) {
	h := newHarness(t, stateIdle)
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
