package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/fakeaws"
	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// --- the verdict ------------------------------------------------------------

func TestVerdictNamesTheStateAndTheNextCommand(t *testing.T) {
	at := func(d time.Duration) *time.Time { x := testNow.Add(d); return &x }
	v1 := &Image{Tags: []string{"v1"}}
	v2 := &Image{Tags: []string{"v2", "latest"}}
	tenants := []string{"acme", "globex"}
	services := func(latest, stable *Image) []ServiceStatus {
		return []ServiceStatus{{Role: "latest", Image: latest}, {Role: "stable", Image: stable}}
	}
	idle := []DeploymentStatus{{Group: "latest"}, {Group: "stable"}}
	done := &ExecutionStatus{ID: "e-1", Status: "Succeeded", Stage: "Stable", Started: at(-time.Hour)}
	for _, tt := range []struct {
		name   string
		st     Status
		state  string
		reason []string // fragments the reason must contain
		next   string   // a fragment of Next; "" means no next command
	}{
		{"canary on latest", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "InProgress", InFlight: true, Stage: "Latest"}},
			Deployments: []DeploymentStatus{{Group: "latest", InProgress: true, ID: "d-2", Phase: "shifting", TrafficPercent: 10, NextStepAt: at(time.Minute), NextStepInSeconds: 60}, {Group: "stable"}},
			Services:    []ServiceStatus{{Role: "latest", Image: v1, Active: v2}, {Role: "stable", Image: v1}},
			Routing:     RoutingStatus{Pinned: true, PinnedTenants: tenants},
		}, verdictProgressing, []string{"d-2", "everyone but the pinned tenants", "to v2", "10% on the replacement", "next step in 1m0s"}, "status --watch"},
		{"stable stage in termination wait", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "InProgress", InFlight: true, Stage: "Stable"}},
			Deployments: []DeploymentStatus{{Group: "latest"}, {Group: "stable", InProgress: true, ID: "d-3", Phase: "termination-wait", TerminationWaitLeftSeconds: 600}},
			Services:    []ServiceStatus{{Role: "latest", Image: v2}, {Role: "stable", Image: v2, Active: v1}},
		}, verdictProgressing, []string{"d-3", "the pinned tenants to v2", "kept 10m0s more"}, "tenant-canary rollback"},
		{"approval pending", Status{Time: testNow,
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "InProgress", InFlight: true, Stage: "Approve"}},
			Approval:    &ApprovalStatus{State: "pending", AgeSeconds: 600, Expires: at(time.Hour)},
			Deployments: idle, Services: services(v2, v1), Routing: RoutingStatus{Pinned: true, PinnedTenants: tenants},
		}, verdictApproval, []string{"v2 on everyone but the 2 pinned tenants for 10m0s", "expires in 1h0m"}, "tenant-canary approve"},
		{"between stages", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "InProgress", InFlight: true, Stage: "Source"}},
			Deployments: idle, Services: services(v1, v1),
		}, verdictProgressing, []string{"execution e-2 at stage Source"}, "status --watch"},
		{"rejected with hold", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Approve"}},
			Approval:    &ApprovalStatus{State: "rejected", By: "arn:aws:sts::123456789012:assumed-role/oncall/s", AgeSeconds: 60, Summary: "slow"},
			Deployments: idle, Services: services(v2, v1), Routing: RoutingStatus{Pinned: true, PinnedTenants: []string{"acme"}},
		}, verdictHeld, []string{"pinned tenant acme stay on v1, everyone else on v2", `rejected by assumed-role/oncall/s 1m0s ago: "slow"`, "onReject is hold"}, "tenant-canary rollback"},
		{"pinned with nothing in flight", Status{
			Pipeline: PipelineStatus{Execution: done}, Deployments: idle, Services: services(v2, v1),
			Routing: RoutingStatus{Pinned: true, PinnedTenants: tenants},
		}, verdictHeld, []string{"catch-all rule is below the tenant rules", "e-1 Succeeded at Stable"}, "tenant-canary rollback"},
		{"stopped by an alarm", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Latest"}},
			Deployments: []DeploymentStatus{{Group: "latest", Last: &EndedDeployment{ID: "d-2", Status: "Stopped", ErrorCode: "ALARM_ACTIVE", Alarms: []string{"tc-latest-green-5xx"}}}, {Group: "stable"}},
			Services:    services(v1, v1),
		}, verdictRolledBack, []string{"d-2 stopped", "alarm tc-latest-green-5xx", "everyone on v1"}, "tenant-canary history"},
		{"stable stage stopped by an alarm", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Stable"}},
			Deployments: []DeploymentStatus{{Group: "latest"}, {Group: "stable", Last: &EndedDeployment{ID: "d-3", Status: "Stopped", Alarms: []string{"tc-stable-blue-5xx"}}}},
			Services:    services(v2, v2),
		}, verdictRolledBack, []string{"d-3 stopped", "alarm tc-stable-blue-5xx"}, "tenant-canary history"},
		{"failed without an alarm", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Latest"}},
			Deployments: []DeploymentStatus{{Group: "latest", Last: &EndedDeployment{ID: "d-2", Status: "Failed", ErrorCode: "HEALTH_CONSTRAINTS", ErrorMessage: "tasks failed to start"}}, {Group: "stable"}},
			Services:    services(v1, v1),
		}, verdictRolledBack, []string{"d-2 failed", "HEALTH_CONSTRAINTS: tasks failed to start"}, "tenant-canary history"},
		{"rejected and rolled back", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Approve"}},
			Approval:    &ApprovalStatus{State: "rejected", AgeSeconds: 60, Summary: "slow"},
			Deployments: idle, Services: services(v1, v1),
		}, verdictRolledBack, []string{`approval rejected 1m0s ago: "slow"`, "everyone back on v1"}, "tenant-canary history"},
		{"failed at the source", Status{
			Pipeline:    PipelineStatus{Execution: &ExecutionStatus{ID: "e-2", Status: "Failed", Stage: "Source"}},
			Deployments: idle, Services: services(v1, v1),
		}, verdictFailed, []string{"execution e-2 Failed at stage Source"}, "tenant-canary history"},
		{"healthy", Status{Time: testNow, Pipeline: PipelineStatus{Execution: done}, Deployments: idle, Services: services(v1, v1)},
			verdictHealthy, []string{"everyone on v1", "e-1 succeeded 1h0m ago"}, ""},
		{"healthy with an alarm firing", Status{Time: testNow, Pipeline: PipelineStatus{Execution: done}, Deployments: idle, Services: services(v1, v1),
			Alarms: []AlarmStatus{{Name: "tc-latest-blue-5xx", State: "ALARM"}}},
			verdictHealthy, []string{"alarm tc-latest-blue-5xx is in ALARM"}, ""},
		{"never ran", Status{Deployments: idle, Services: services(v1, nil)}, verdictHealthy, []string{"everyone on v1"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := verdictOf(&tt.st)
			assert.Equal(t, tt.state, v.State, v.Reason)
			for _, f := range tt.reason {
				assert.Contains(t, v.Reason, f)
			}
			if tt.next == "" {
				assert.Empty(t, v.Next)
			} else {
				assert.Contains(t, v.Next, tt.next)
			}
		})
	}
}

// Every status screen starts with its verdict, and --json carries it.
func TestStatusStartsWithTheVerdict(t *testing.T) {
	for state, want := range map[rolloutState]string{
		stateIdle: verdictHealthy, stateCanary: verdictProgressing, stateApproval: verdictApproval,
		stateStable: verdictProgressing, stateRolledBack: verdictRolledBack, stateHeld: verdictHeld,
		stateRejected: verdictRolledBack,
	} {
		h := newHarness(t, state)
		require.Equal(t, exitOK, h.run("status"), h.stderr.String())
		lines := strings.Split(h.stdout.String(), "\n")
		assert.True(t, strings.HasPrefix(lines[2], "status         "+strings.ToUpper(strings.ReplaceAll(want, "-", " "))+": "), "%s: %q", state, lines[2])
		assert.True(t, strings.HasPrefix(lines[3], "next           "), "%s: %q", state, lines[3])

		require.Equal(t, exitOK, h.run("status", "--json"), h.stderr.String())
		var st Status
		require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &st))
		assert.Equal(t, want, st.Verdict.State, string(state))
	}
	// Who rejected, and the alarm that stopped a stage, are on the screen.
	h := newHarness(t, stateHeld)
	require.Equal(t, exitOK, h.run("status"))
	assert.Contains(t, h.stdout.String(), "last rejected by assumed-role/release-manager/console 10m0s ago")
	h = newHarness(t, stateRolledBack)
	require.Equal(t, exitOK, h.run("status"))
	assert.Contains(t, h.stdout.String(), "deploy latest  none in progress; last d-3 stopped 30m0s ago: ALARM_ACTIVE: one or more of the deployment group's alarms went into ALARM")
}

// --- status --watch outlasts transient errors -------------------------------

func TestStatusWatchOutlastsTransientErrorsAndSaysSo(t *testing.T) {
	h := newHarness(t, stateIdle)
	h.d.FailNext("GetPipelineState", nil, fakeaws.Throttling("GetPipelineState"), fakeaws.ServerError())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAfter{screens: 2, cancel: cancel}
	h.env.stdout = out
	code := run(ctx, []string{"status", "--watch", "--interval", "5s"}, h.env)
	require.Equal(t, exitOK, code, h.stderr.String())
	text := out.String()
	assert.Contains(t, text, "12:00:05: AWS did not answer (AWS CodePipeline GetPipelineState: ThrottlingException: Rate exceeded); showing the last status, retrying in 5s (1/5)")
	assert.Contains(t, text, "12:00:10: AWS did not answer (AWS CodePipeline GetPipelineState: InternalFailure: We encountered an internal error. Please try again.); showing the last status, retrying in 5s (2/5)")
	assert.Equal(t, 2, strings.Count(text, "tenant-canary (selected stack) at"), "a screen before and after the errors")

	// A permanent error ends it at once, with its line and code.
	h = newHarness(t, stateIdle)
	h.d.FailNext("GetPipelineState", nil, fakeaws.AccessDenied("GetPipelineState"))
	assert.Equal(t, exitError, h.run("status", "--watch"))
	assert.Equal(t, "tenant-canary status: AWS CodePipeline GetPipelineState: AccessDeniedException: User is not authorized to perform this action\n", h.stderr.String())
	assert.Equal(t, 1, strings.Count(h.stdout.String(), "tenant-canary (selected stack) at"))

	// A transient error that persists: it gives up, and says after how many.
	h = newHarness(t, stateIdle)
	var errs []error
	for range maxTransientFailures + 1 {
		errs = append(errs, fakeaws.Throttling("GetPipelineState"))
	}
	h.d.FailNext("GetPipelineState", errs...)
	assert.Equal(t, exitError, h.run("status", "--watch"))
	assert.Equal(t, "tenant-canary status: giving up after 6 failed refreshes in a row: AWS CodePipeline GetPipelineState: ThrottlingException: Rate exceeded\n", h.stderr.String())
	assert.Equal(t, 5, strings.Count(h.stdout.String(), "AWS did not answer"))
}

func TestTransientIsWhatTheSDKWouldRetry(t *testing.T) {
	status := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"throttling", fakeaws.Throttling("GetPipelineState"), true},
		{"elb throttling", fakeaws.Throttling("DescribeRules"), true},
		{"503", status(503), true},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"access denied", fakeaws.AccessDenied("GetPipelineState"), false},
		{"404", status(404), false},
		{"no credentials", &credentialsError{errors.New("no EC2 IMDS role found")}, false},
		{"interrupted", context.Canceled, false},
	} {
		assert.Equal(t, tt.want, transient(tt.err), tt.name)
	}
}

// --- wait --------------------------------------------------------------------

func TestWaitEndsWithTheDocumentedExitCodes(t *testing.T) {
	for _, tt := range []struct {
		state rolloutState
		args  []string
		code  int
	}{
		{stateApproval, []string{"--for", "approval"}, exitOK},
		{stateIdle, []string{"--for", "done"}, exitOK},
		{stateIdle, []string{"--for", "approval"}, exitOK}, // already past it
		{stateApproval, []string{"--for", "done", "--timeout", "2m"}, exitTimeout},
		{stateCanary, []string{"--timeout", "1m"}, exitTimeout},
		{stateRolledBack, nil, exitFailed},
		{stateHeld, []string{"--for", "approval"}, exitFailed},
		{stateRejected, nil, exitFailed},
		// Another push's execution is not the one waited for.
		{stateApproval, []string{"--for", "approval", "--revision", "sha256:" + strings.Repeat("9", 64), "--timeout", "1m"}, exitTimeout},
		{stateApproval, []string{"--for", "soon"}, exitUsage},
		{stateApproval, []string{"--timeout", "0s"}, exitUsage},
	} {
		t.Run(string(tt.state)+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			h := newHarness(t, tt.state)
			assert.Equal(t, tt.code, h.run(append([]string{"wait"}, tt.args...)...), h.stdout.String()+h.stderr.String())
		})
	}

	h := newHarness(t, stateCanary)
	assert.Equal(t, exitTimeout, h.run("wait", "--timeout", "1m", "--interval", "15s"))
	assert.Equal(t, 4, h.slept, "checks every 15s for 1m")
	assert.Equal(t, "tenant-canary wait: --for done not reached after 1m0s; last: progressing: deployment d-3 moving everyone but the pinned tenants to v2: shifting traffic, 10% on the replacement, next step in 2m0s\n", h.stderr.String())
	assert.Equal(t, 1, strings.Count(h.stdout.String(), "\n"), "one line per change of verdict: %s", h.stdout.String())

	h = newHarness(t, stateRolledBack)
	assert.Equal(t, exitFailed, h.run("wait"))
	assert.Equal(t, "tenant-canary wait: the rollout will not get there: rolled-back: deployment d-3 stopped: ALARM_ACTIVE: one or more of the deployment group's alarms went into ALARM; everyone on v1\n", h.stderr.String())
}

// The canary finishes while wait watches: a line for each verdict, and
// the approval ends the wait.
func TestWaitFollowsTheRolloutToTheApproval(t *testing.T) {
	h := newHarness(t, stateCanary)
	h.d.FailNext("GetPipelineState", nil, fakeaws.ServerError()) // a blip on the second check
	sleep := h.env.sleep
	h.env.sleep = func(ctx context.Context, d time.Duration) error {
		if h.slept == 2 { // the canary is done: Latest succeeds, the approval waits
			h.script.do("shifts all traffic", "termination wait ends", "enters Approve")
		}
		return sleep(ctx, d)
	}
	require.Equal(t, exitOK, h.run("wait", "--for", "approval"), h.stderr.String())
	lines := strings.Split(strings.TrimSpace(h.stdout.String()), "\n")
	require.Len(t, lines, 3, h.stdout.String())
	assert.Contains(t, lines[0], "12:00:00 progressing: deployment d-3")
	assert.Contains(t, lines[1], "12:00:15 AWS did not answer (AWS CodePipeline GetPipelineState: InternalFailure")
	assert.Contains(t, lines[2], "12:00:45 waiting-for-approval: ")
}

// --- history -----------------------------------------------------------------

func TestHistoryShowsWhoDecidedAndWhatRolledBack(t *testing.T) {
	for _, state := range []rolloutState{stateRolledBack, stateHeld} {
		h := newHarness(t, state)
		require.Equal(t, exitOK, h.run("history"), h.stderr.String())
		golden(t, "history-"+string(state)+".golden", h.stdout.Bytes())
	}

	// An approval given with the CLI: history names its identity and summary.
	h := newHarness(t, stateApproval)
	require.Equal(t, exitOK, h.run("approve", "--summary", "t0 fine on v2"))
	require.Equal(t, exitOK, h.run("history", "--json"), h.stderr.String())
	var hist History
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &hist))
	require.Len(t, hist.Executions, 2)
	assert.Equal(t, &HistoryApproval{State: "approved", By: h.d.Caller(), Summary: "t0 fine on v2", At: &testNow}, hist.Executions[0].Approval)
	assert.Equal(t, "v1 fine", hist.Executions[1].Approval.Summary)
	assert.Equal(t, h.d.Caller(), hist.Executions[1].Approval.By)

	h = newHarness(t, stateRolledBack)
	require.Equal(t, exitOK, h.run("history", "--json"))
	hist = History{}
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &hist))
	require.NotEmpty(t, hist.Deployments)
	assert.Equal(t, "d-3", hist.Deployments[0].ID)
	assert.Equal(t, "Stopped", hist.Deployments[0].Status)
	assert.Equal(t, "ALARM_ACTIVE", hist.Deployments[0].ErrorCode)

	assert.Equal(t, exitUsage, h.run("history", "--limit", "0"))
}

// --- outputs from a file or flags, without pulumi ----------------------------

func TestOutputsFromAFileOrFlagsNeedNoPulumi(t *testing.T) {
	h := newHarness(t, stateApproval)
	h.env.outputs = fakeOutputs{err: errors.New("pulumi must not run")}
	file := filepath.Join(t.TempDir(), "outputs.json")
	require.NoError(t, os.WriteFile(file, outputsJSON(t, h.o), 0o644))
	require.Equal(t, exitOK, h.run("status", "--outputs", file), h.stderr.String())
	assert.Contains(t, h.stdout.String(), "tenant-canary (outputs file "+file+") at")
	assert.Contains(t, h.stdout.String(), "WAITING FOR APPROVAL")

	o := h.o
	flags := []string{"approve", "--output", "clusterName=" + o.ClusterName, "--output", "latestServiceName=" + o.LatestServiceName,
		"--output", "stableServiceName=" + o.StableServiceName, "--output", "listenerArn=" + o.ListenerArn,
		"--output", "catchAllRuleArn=" + o.CatchAllRuleArn, "--output", "pipelineName=" + o.PipelineName,
		"--output", "applicationName=" + o.ApplicationName, "--output", "latestDeploymentGroupName=" + o.LatestDeploymentGroupName,
		"--output", "stableDeploymentGroupName=" + o.StableDeploymentGroupName}
	require.Equal(t, exitOK, h.run(flags...), h.stderr.String())
	assert.Contains(t, h.stdout.String(), "approved the pending approval of "+o.PipelineName)

	// A file missing an output: exit 4, the output named.
	var partial map[string]any
	require.NoError(t, json.Unmarshal(outputsJSON(t, o), &partial))
	delete(partial, "pipelineName")
	b, _ := json.Marshal(partial)
	require.NoError(t, os.WriteFile(file, b, 0o644))
	assert.Equal(t, exitStack, h.run("status", "--outputs", file))
	assert.Equal(t, "tenant-canary status: outputs file "+file+" has no output pipelineName: write it with `pulumi stack output --json` from a deployed stack, or pass --output NAME=VALUE\n", h.stderr.String())
	// ... which a flag can fill in.
	assert.Equal(t, exitOK, h.run("status", "--outputs", file, "--output", "pipelineName="+o.PipelineName), h.stderr.String())

	assert.Equal(t, exitStack, h.run("status", "--outputs", filepath.Join(t.TempDir(), "none.json")))
	assert.Contains(t, h.stderr.String(), "tenant-canary status: outputs file ")
	assert.Contains(t, h.stderr.String(), "no such file or directory (write it with `pulumi stack output --json > ")

	assert.Equal(t, exitUsage, h.run("status", "--output", "pipeline=x"))
	assert.Contains(t, h.stderr.String(), `"pipeline=x": no output pipeline; outputs are albUrl, anchorRuleArn,`)
}

// watch's stack problems: exit 4 and the other commands' words.
func TestWatchSaysStackProblemsLikeEveryCommand(t *testing.T) {
	h := newHarness(t, stateIdle)
	for _, err := range []error{outputs.ErrNoStack, outputs.ErrPulumiMissing, &outputs.NoSuchStackError{Stack: "staging"}} {
		h.env.outputs = fakeOutputs{err: err}
		assert.Equal(t, exitStack, h.run("watch"))
		watchLine := strings.TrimPrefix(h.stderr.String(), "tenant-canary watch: ")
		assert.Equal(t, exitStack, h.run("status"))
		assert.Equal(t, strings.TrimPrefix(h.stderr.String(), "tenant-canary status: "), watchLine)
	}
}

// --- help and version --------------------------------------------------------

func TestHelpGoesToStdoutAndExitsZero(t *testing.T) {
	h := newHarness(t, stateIdle)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		assert.Equal(t, exitOK, h.run(args...))
		assert.Contains(t, h.stdout.String(), "usage: tenant-canary <command>")
		assert.Empty(t, h.stderr.String())
	}
	for _, cmd := range []string{"status", "approve", "reject", "rollback", "wait", "history", "check", "watch"} {
		assert.Equal(t, exitOK, h.run(cmd, "-h"), cmd)
		assert.Contains(t, h.stdout.String(), "-stack", cmd)
		assert.Empty(t, h.stderr.String(), cmd)
	}
	// Asked for nothing: usage on stderr, exit 2.
	assert.Equal(t, exitUsage, h.run())
	assert.Empty(t, h.stdout.String())
	assert.Contains(t, h.stderr.String(), "usage: tenant-canary <command>")
	assert.Empty(t, h.d.Ops(), "help reads no AWS")
}

func TestVersionNamesTheBuild(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: "github.com/tenant-canary/tenant-canary", Version: version}}
		for i := 0; i < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tt := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{info("v1.2.0"), "tenant-canary v1.2.0 (go1.25.0)"},
		{info("(devel)", "vcs.revision", "6f7fe3f0123456789abcdef", "vcs.time", "2026-12-06T21:00:00Z", "vcs.modified", "false"),
			"tenant-canary (devel) (commit 6f7fe3f01234, 2026-12-06T21:00:00Z, go1.25.0)"},
		{info("", "vcs.revision", "6f7fe3f0123456789abcdef", "vcs.modified", "true"), "tenant-canary (devel) (commit 6f7fe3f01234+dirty, go1.25.0)"},
		{nil, "tenant-canary (unknown version: built without module information)"},
	} {
		assert.Equal(t, tt.want, versionText(tt.info))
	}
	h := newHarness(t, stateIdle)
	assert.Equal(t, exitOK, h.run("--version"))
	assert.Regexp(t, `^tenant-canary \S+ \(.*go1\.\d+.*\)\n$`, h.stdout.String())
}

// --- check -------------------------------------------------------------------

// project writes Pulumi.yaml (the repository's own) and the given stack
// files into a fresh directory.
func project(t *testing.T, stacks map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	yaml, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), yaml, 0o644))
	for name, text := range stacks {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi."+name+".yaml"), []byte(text), 0o644))
	}
	return dir
}

func TestCheckValidatesAStackOfflineWithTheProgramsRules(t *testing.T) {
	h := newHarness(t, stateIdle)
	h.env.outputs = fakeOutputs{err: errors.New("check must not read outputs")}

	// The repository's own stacks pass; dev (approval required, nobody
	// notified) gets its warning.
	require.Equal(t, exitOK, h.run("check", "--dir", filepath.Join("..", "..")), h.stdout.String()+h.stderr.String())
	assert.Contains(t, h.stdout.String(), "Pulumi.dev.yaml: ok, 1 warning(s)\n  warning: tenant-canary:approval.notifyEmails = []: approval.required is true and nobody is notified")
	assert.Contains(t, h.stdout.String(), "up to 7 days")

	dir := project(t, map[string]string{
		"good": "config:\n  tenant-canary:approval:\n    required: true\n    notifyEmails: [oncall@example.com]\n",
		"bad": "config:\n  tenant-canary:traffic:\n    type: canary\n    percentage: 150\n  tenant-canary:pinnedTenant:\n    - acme\n" +
			"  tenant-canary:network:\n    nat: two\n",
		"risky": "config:\n  tenant-canary:approval:\n    required: true\n    timeoutMinutes: 60\n  tenant-canary:traffic:\n    terminationWaitMinutes: 0\n",
	})
	require.Equal(t, exitOK, h.run("check", "--dir", dir, "--stack", "good"), h.stdout.String()+h.stderr.String())
	assert.Equal(t, "Pulumi.good.yaml: ok\n", h.stdout.String())

	assert.Equal(t, exitInvalid, h.run("check", "--dir", dir, "--stack", "bad"))
	out := h.stdout.String()
	assert.Contains(t, out, "Pulumi.bad.yaml: INVALID, 3 problem(s); `pulumi up` would create nothing\n")
	assert.Contains(t, out, "  error: tenant-canary:pinnedTenant = (set): a key Pulumi.yaml declares: pinnedTenants, ")
	assert.Contains(t, out, "  error: tenant-canary:traffic.percentage = 150: ")
	assert.Contains(t, out, "  error: tenant-canary:network.nat = ")
	assert.Equal(t, "tenant-canary check: invalid config in stack bad\n", h.stderr.String())

	assert.Equal(t, exitOK, h.run("check", "--dir", dir, "--stack", "risky"))
	assert.Contains(t, h.stdout.String(), "Pulumi.risky.yaml: ok, 2 warning(s)\n")
	assert.Contains(t, h.stdout.String(), "up to 60 minutes (approval.timeoutMinutes)")
	assert.Contains(t, h.stdout.String(), "  warning: tenant-canary:traffic.terminationWaitMinutes = 0: with approval required")
	assert.Equal(t, exitInvalid, h.run("check", "--dir", dir, "--stack", "risky", "--strict"))

	// Every stack at once: one bad stack fails the check.
	assert.Equal(t, exitInvalid, h.run("check", "--dir", dir))
	assert.Contains(t, h.stdout.String(), "Pulumi.good.yaml: ok\n")

	assert.Equal(t, exitStack, h.run("check", "--dir", dir, "--stack", "staging"))
	assert.Equal(t, "tenant-canary check: no Pulumi.staging.yaml in "+dir+"; stacks with a file: bad, good, risky\n", h.stderr.String())
	assert.Equal(t, exitStack, h.run("check", "--dir", t.TempDir()))
	assert.Empty(t, h.d.Ops(), "check reads no AWS")
}

func TestConfigWarnings(t *testing.T) {
	base := config.Defaults()
	base.Approval.NotifyEmails = []string{"oncall@example.com"}
	for _, tt := range []struct {
		name string
		edit func(*config.Config)
		keys []string
	}{
		{"defaults with someone notified", func(*config.Config) {}, nil},
		{"nobody notified", func(c *config.Config) { c.Approval.NotifyEmails = nil }, []string{"approval.notifyEmails"}},
		{"nobody notified, no approval", func(c *config.Config) { c.Approval.NotifyEmails, c.Approval.Required = nil, false }, nil},
		{"no termination wait with approval", func(c *config.Config) { c.Traffic.TerminationWaitMinutes = 0 }, []string{"traffic.terminationWaitMinutes"}},
		{"no termination wait without approval", func(c *config.Config) { c.Traffic.TerminationWaitMinutes, c.Approval.Required = 0, false }, nil},
	} {
		c := base
		c.Approval.NotifyEmails = append([]string(nil), base.Approval.NotifyEmails...)
		tt.edit(&c)
		var keys []string
		for _, w := range configWarnings(c) {
			keys = append(keys, w.Key)
			assert.NotEmpty(t, w.Value, tt.name)
			assert.NotEmpty(t, w.Allowed, tt.name)
		}
		assert.Equal(t, tt.keys, keys, tt.name)
	}
}
