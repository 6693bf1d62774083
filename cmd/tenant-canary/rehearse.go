package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
	"github.com/tenant-canary/tenant-canary/internal/dataplane"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/protocol"
	"github.com/tenant-canary/tenant-canary/internal/rehearsal"
	"github.com/tenant-canary/tenant-canary/internal/scenario"
)

// stateDir is where a rehearsal writes what the other commands read, in
// the project's directory (gitignored).
const stateDir = ".tenant-canary"

// rehearsalState is stateDir/rehearsal.json: how to reach a running
// rehearsal.
type rehearsalState struct {
	// Endpoint is the AWS endpoint (AWS_ENDPOINT_URL).
	Endpoint string `json:"endpoint"`
	// Listener is the local load balancer.
	Listener string  `json:"listener"`
	Region   string  `json:"region"`
	Stack    string  `json:"stack"`
	Speed    float64 `json:"speed"`
	PID      int     `json:"pid"`
	// Tenants are the pinned tenants' URLs, and one of no pinned tenant.
	Tenants []tenantURL `json:"tenants"`
	// Outputs and Env are the files the other commands read: the stack
	// outputs (--outputs) and the environment to source.
	Outputs string `json:"outputs"`
	Env     string `json:"env"`
}

type tenantURL struct {
	Tenant string `json:"tenant"`
	Pinned bool   `json:"pinned"`
	URL    string `json:"url"`
	// How, if not "": the header or Host the request needs.
	How string `json:"how,omitempty"`
}

// rehearseCmd: `tenant-canary rehearse [flags]` runs a rehearsal until
// interrupted, `rehearse push VERSION` pushes to the running one, and
// `rehearse --scenario NAME --report FILE` runs one story unattended.
func rehearseCmd(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	if len(args) > 0 && args[0] == "push" {
		return rehearsePush(ctx, fs, args[1:], e)
	}
	stack := fs.String("stack", "dev", "the stack to rehearse: Pulumi.<stack>.yaml, evaluated with `go run . declare`")
	declaredFile := fs.String("declared", "", "a declared stack's JSON (from `go run . declare --stack S`) instead of evaluating the program")
	dir := fs.String("dir", ".", "the project's directory (Pulumi.yaml, images/app)")
	speed := fs.Float64("speed", 60, "how many times faster than real time (60: a minute a second; 1 to 600)")
	port := fs.Int("port", 0, "the local listener's port (0: a free one)")
	traffic := fs.Int("traffic", 240, "requests a rehearsal minute, untenanted and for each pinned tenant (0: none): the alarms need their minimum request rate")
	name := fs.String("scenario", "", "run this story unattended and exit: "+strings.Join(scenario.Names(), ", "))
	report := fs.String("report", "", "with --scenario: write the report as JSON to this file")
	verbose := fs.Bool("v", false, "log every function's steps too")
	stateFlag := fs.String("state", "", "where the rehearsal writes what the other commands read (default DIR/"+stateDir+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	base := *stateFlag
	if base == "" {
		base = filepath.Join(*dir, stateDir)
	}
	if *name == "" && *report != "" {
		return usageError("--report goes with --scenario")
	}
	if *name != "" && !slices.Contains(scenario.Names(), *name) {
		return usageError("--scenario %q: want one of %s", *name, strings.Join(scenario.Names(), ", "))
	}
	st, err := loadDeclared(ctx, *dir, base, *stack, *declaredFile, e)
	if err != nil {
		return err
	}
	// The rehearsal's log and the scenario driver's lines come from many
	// goroutines onto one stderr.
	stderr := dataplane.SyncWriter(e.stderr)
	level := slog.LevelInfo
	if !*verbose {
		level = slog.LevelWarn
	}
	log := slog.New(&modelEvents{slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), level})
	if *name != "" {
		return rehearseScenario(ctx, st, *dir, *speed, *name, *report, log, stderr, e)
	}

	r, err := rehearsal.Start(ctx, rehearsal.Options{Stack: st, SourceDir: *dir, Speed: *speed, Port: *port, Log: log})
	if err != nil {
		return err
	}
	defer r.Close()
	state, err := writeState(base, r, st, *speed)
	if err != nil {
		return err
	}
	defer removeState(base)
	printState(e.stdout, state, r)
	go r.Traffic(ctx, *traffic, nil)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "rehearsal stopped")
	if v := r.Violations(); len(v) > 0 {
		return &codeError{exitFailed, "the model's invariants were violated during the rehearsal: " + strings.Join(v, "; ")}
	}
	return nil
}

// modelEvents lets the model's events and the warnings through, and the
// functions' info lines when verbose.
type modelEvents struct {
	slog.Handler
	level slog.Level
}

func (h *modelEvents) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, l)
}

func (h *modelEvents) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < h.level && rec.Message != "model" && rec.Message != "pushed" {
		return nil
	}
	return h.Handler.Handle(ctx, rec)
}

func (h *modelEvents) WithAttrs(as []slog.Attr) slog.Handler {
	return &modelEvents{h.Handler.WithAttrs(as), h.level}
}

func (h *modelEvents) WithGroup(g string) slog.Handler {
	return &modelEvents{h.Handler.WithGroup(g), h.level}
}

// loadDeclared reads the declared stack from file, or evaluates the
// program for stack (`go run . declare`, under the Pulumi SDK's mocks: no
// Pulumi CLI, no AWS) and keeps what it declared in stateDir.
func loadDeclared(ctx context.Context, dir, base, stack, file string, e *env) (*declared.Stack, error) {
	if file == "" {
		if err := os.MkdirAll(base, 0o755); err != nil {
			return nil, err
		}
		file = filepath.Join(base, "declared-"+stack+".json")
		fmt.Fprintf(e.stderr, "evaluating the program for stack %s (go run . declare --stack %s)…\n", stack, stack)
		cmd := exec.CommandContext(ctx, "go", "run", ".", "declare", "--stack", stack)
		cmd.Dir = dir
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			// `go run` exits 1 whatever the program's code, and says the
			// code on its last line: declare's 4 (no such stack) and 10
			// (invalid config) are this command's too.
			msg := strings.TrimSpace(errOut.String())
			code := exitError
			if i := strings.LastIndex(msg, "\nexit status "); i >= 0 {
				if n, err := strconv.Atoi(msg[i+len("\nexit status "):]); err == nil && (n == exitStack || n == exitInvalid) {
					code = n
				}
				msg = msg[:i]
			}
			return nil, &codeError{code, fmt.Sprintf("go run . declare --stack %s: %s", stack, oneLine(msg))}
		}
		if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	st, err := protocol.LoadStack(file)
	if err != nil {
		return nil, &codeError{exitStack, err.Error()}
	}
	return st, nil
}

func rehearseScenario(ctx context.Context, st *declared.Stack, dir string, speed float64, name, report string, log *slog.Logger, stderr io.Writer, e *env) error {
	rep, _, err := rehearsal.RunScenario(ctx, rehearsal.ScenarioRun{Stack: st, SourceDir: dir, Speed: speed, Name: name, Log: stderr, Rehearsal: log})
	if rep != nil && report != "" {
		f, ferr := os.Create(report)
		if ferr != nil {
			return ferr
		}
		werr := rep.WriteJSON(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	if rep != nil {
		for _, c := range rep.Checks {
			mark := "PASS"
			if !c.Passed {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	if err != nil {
		return &codeError{exitFailed, fmt.Sprintf("scenario %s: %s", name, oneLine(err.Error()))}
	}
	fmt.Fprintf(e.stdout, "scenario %s passed\n", name)
	return nil
}

// writeState writes rehearsal.json, outputs.json and env into stateDir.
func writeState(base string, r *rehearsal.Rehearsal, st *declared.Stack, speed float64) (*rehearsalState, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	state := &rehearsalState{Endpoint: r.Endpoint(), Listener: r.ListenerURL(), Region: st.Region, Stack: st.Stack, Speed: speed,
		PID: os.Getpid(), Outputs: filepath.Join(base, "outputs.json"), Env: filepath.Join(base, "env")}
	state.Tenants = append(state.Tenants, tenantURL{Tenant: "(no pinned tenant)", URL: unpinnedURL(r, st)})
	for _, t := range st.Outputs.PinnedTenants {
		u, how := r.TenantURL(t)
		state.Tenants = append(state.Tenants, tenantURL{Tenant: t, Pinned: true, URL: u, How: how})
	}
	outs, err := json.MarshalIndent(r.Outputs(), "", "  ")
	if err != nil {
		return nil, err
	}
	env := fmt.Sprintf("# tenant-canary rehearsal of stack %s: source this file (. %s) to point the AWS SDK at it.\n"+
		"export AWS_ENDPOINT_URL=%s\nexport AWS_REGION=%s\nexport AWS_ACCESS_KEY_ID=rehearsal\nexport AWS_SECRET_ACCESS_KEY=rehearsal\nunset AWS_PROFILE AWS_SESSION_TOKEN\n"+
		"# The rehearsal's clock, so ages and waits read in its minutes.\nexport %s='%s'\n",
		st.Stack, state.Env, r.Endpoint(), st.Region, clockEnv, clockSpec(r.Clock()))
	js, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return nil, err
	}
	for path, b := range map[string][]byte{state.Outputs: append(outs, '\n'), state.Env: []byte(env), filepath.Join(base, "rehearsal.json"): append(js, '\n')} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
	}
	return state, nil
}

func removeState(base string) {
	for _, f := range []string{"rehearsal.json", "outputs.json", "env"} {
		_ = os.Remove(filepath.Join(base, f))
	}
}

// unpinnedURL is a URL of a tenant nobody pinned, in the stack's tenant
// match ("someone" stands for any such tenant), else the listener's root.
func unpinnedURL(r *rehearsal.Rehearsal, st *declared.Stack) string {
	if m, ok := rehearsal.TenantMatch(st); ok && m.Type == "path" {
		return r.ListenerURL() + (&url.URL{Path: m.Values("someone")[0]}).EscapedPath()
	}
	return r.ListenerURL() + "/"
}

func printState(w io.Writer, s *rehearsalState, r *rehearsal.Rehearsal) {
	fmt.Fprintf(w, "Rehearsing stack %s at %gx speed (a minute lasts %s). Everyone is on %s.\n\n", s.Stack, s.Speed,
		r.Clock().Wall(time.Minute).Round(time.Millisecond), rehearsal.InitialVersion)
	fmt.Fprintf(w, "Listener (the ALB):  %s\n", s.Listener)
	for _, t := range s.Tenants {
		pinned := "not pinned"
		if t.Pinned {
			pinned = "pinned"
		}
		line := fmt.Sprintf("  %-20s %-10s %s", t.Tenant, pinned, t.URL)
		if t.How != "" {
			line += "  (with " + t.How + ")"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "AWS endpoint:        %s\nOutputs:             %s\n\n", s.Endpoint, s.Outputs)
	fmt.Fprintf(w, "In another terminal:\n  . %s\n  tenant-canary status --watch --outputs %s\n"+
		"  tenant-canary rehearse push v2            # or: --bad 5xx=50%%, --bad latency=3s\n"+
		"  tenant-canary approve --outputs %s        # reject, rollback, watch: the same --outputs\n\n"+
		"This is a rehearsal: the model's readings of AWS, real processes and real traffic on this machine, not AWS.\n"+
		"Ctrl-C stops it.\n", s.Env, s.Outputs, s.Outputs)
}

// rehearsePush: `tenant-canary rehearse push VERSION [--bad SPEC]` is the
// rehearsal's `docker push`: the running rehearsal builds the version and
// pushes it, which starts a rollout.
func rehearsePush(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	dir := fs.String("dir", ".", "the project's directory, where the running rehearsal wrote "+stateDir+"/rehearsal.json")
	stateFlag := fs.String("state", "", "the running rehearsal's --state (default DIR/"+stateDir+")")
	bad := fs.String("bad", "", "build the version bad: 5xx=<1-100>%, latency=<duration>, health, refuse (comma-separated)")
	var version string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		version, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if version == "" {
		return usageError("rehearse push: want the version to push, e.g. tenant-canary rehearse push v2")
	}
	if _, err := badversion.Parse(*bad); err != nil {
		return usageError("%v", err)
	}
	base := *stateFlag
	if base == "" {
		base = filepath.Join(*dir, stateDir)
	}
	path := filepath.Join(base, "rehearsal.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return &codeError{exitStack, fmt.Sprintf("no running rehearsal: %v; start one with tenant-canary rehearse", err)}
	}
	var s rehearsalState
	if err := json.Unmarshal(b, &s); err != nil {
		return &codeError{exitStack, fmt.Sprintf("%s: %v", path, err)}
	}
	form := url.Values{"version": {version}, "bad": {*bad}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+rehearsal.PushPath, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The rehearsal builds the version before it answers.
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return &codeError{exitStack, fmt.Sprintf("the rehearsal at %s does not answer (%v): is it still running?", s.Endpoint, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return &codeError{exitError, oneLine(string(body))}
	}
	fmt.Fprintf(e.stdout, "pushed %s%s: the pipeline starts (tenant-canary status --watch --outputs %s)\n", version, badSuffix(*bad), s.Outputs)
	return nil
}

func badSuffix(bad string) string {
	if bad == "" {
		return ""
	}
	return " (bad: " + bad + ")"
}

// clockEnv names the rehearsal's clock for the other commands: the
// rehearsal's time runs faster than the wall's, and what the model says
// happened (an execution's start, a deployment's next step) is on it.
const clockEnv = "TENANT_CANARY_CLOCK"

// clockSpec is "<rehearsal time> <wall time> <speed>": the rehearsal's time
// at a wall time (both RFC 3339), and its factor.
func clockSpec(c *dataplane.Clock) string {
	wall := time.Now()
	at := c.Now()
	return at.UTC().Format(time.RFC3339Nano) + " " + wall.UTC().Format(time.RFC3339Nano) + " " + strconv.FormatFloat(c.Speed(), 'g', -1, 64)
}

// clockFromEnv is the commands' clock and its speed: the wall's (1), or a
// rehearsal's when spec (TENANT_CANARY_CLOCK) names one, so "started 3m
// ago" and --interval read in the rehearsal's minutes. A spec it cannot
// read is said on warn and the wall clock is used.
func clockFromEnv(spec string, warn io.Writer) (func() time.Time, float64) {
	if spec == "" {
		return time.Now, 1
	}
	f := strings.Fields(spec)
	if len(f) == 3 {
		at, err1 := time.Parse(time.RFC3339Nano, f[0])
		wall, err2 := time.Parse(time.RFC3339Nano, f[1])
		speed, err3 := strconv.ParseFloat(f[2], 64)
		if err1 == nil && err2 == nil && err3 == nil && speed >= 1 && speed <= dataplane.MaxSpeed {
			return func() time.Time { return at.Add(time.Duration(float64(time.Since(wall)) * speed)) }, speed
		}
	}
	fmt.Fprintf(warn, "tenant-canary: %s=%q: want \"<rehearsal time> <wall time> <speed 1-%d>\" as a rehearsal's env file sets it; using the wall clock\n", clockEnv, spec, dataplane.MaxSpeed)
	return time.Now, 1
}
