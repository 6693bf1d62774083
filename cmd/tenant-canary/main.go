// Command tenant-canary operates a rollout of the stack: its status on one
// screen, approve or reject the pending approval, roll everyone back to the
// last approved version, wait for a rollout in CI, its history, what the
// tenants see, and an offline check of a stack's config.
//
//	go run ./cmd/tenant-canary status [--watch] [--json]
//	go run ./cmd/tenant-canary approve|reject [--summary TEXT]
//	go run ./cmd/tenant-canary rollback [--yes] [--reason TEXT]
//	go run ./cmd/tenant-canary wait [--for approval|done] [--timeout D]
//	go run ./cmd/tenant-canary history [--limit N] [--json]
//	go run ./cmd/tenant-canary watch [watch flags]
//	go run ./cmd/tenant-canary check [--stack NAME]
//	go run ./cmd/tenant-canary rehearse [--stack NAME] [--speed N]
//	go run ./cmd/tenant-canary rehearse push VERSION [--bad SPEC]
//	go run ./cmd/tenant-canary rehearse --scenario NAME --report FILE
//
// Names and ARNs come from the stack's outputs (internal/outputs: `pulumi
// stack output --json`, a file of it, or flags); AWS credentials and region
// from the SDK's usual chain. The exit codes are the constants below, the
// same for every command (docs/operating.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
	"github.com/tenant-canary/tenant-canary/internal/watch"
)

// Exit codes, one table for every command (docs/operating.md).
const (
	exitOK          = 0
	exitError       = 1 // an AWS error or anything unexpected
	exitUsage       = 2
	exitNothing     = 3                 // nothing pending to approve or reject; nothing to roll back
	exitStack       = outputs.ExitStack // 4: no stack selected, no such stack, never deployed, an output missing, no pulumi CLI, a bad outputs file; check: no Pulumi.<stack>.yaml
	exitBusy        = 5                 // rollback: a deployment did not stop in time, or the function answered busy
	exitCredentials = 6
	exitDeclined    = 7  // rollback not confirmed
	exitFailed      = 8  // wait: the rollout failed, rolled back, was rejected or is held
	exitTimeout     = 9  // wait: --timeout ran out first
	exitInvalid     = 10 // check: the stack's config is invalid (or, with --strict, has warnings)
)

// env is everything a command touches outside itself, injectable for tests.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	terminal       bool
	outputs        outputs.Source
	loadAWS        func(ctx context.Context, region string) (aws.Config, error)
	now            func() time.Time
	poll           time.Duration // rollback's wait between deployment checks
	sleep          func(ctx context.Context, d time.Duration) error
	dir            string // check: where Pulumi.yaml is ("" the working directory)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A rehearsal's env file names its clock: times and waits are then in
	// its minutes (rehearse.go).
	now, speed := clockFromEnv(os.Getenv(clockEnv), os.Stderr)
	code := run(ctx, os.Args[1:], &env{
		stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, terminal: isTerminal(os.Stdout),
		outputs: outputs.PulumiCLI{}, loadAWS: loadAWS, now: now, poll: time.Duration(float64(15*time.Second) / speed),
		sleep: func(ctx context.Context, d time.Duration) error { return sleep(ctx, time.Duration(float64(d)/speed)) },
	})
	stop()
	os.Exit(code)
}

const usage = `usage: tenant-canary <command> [flags]

commands:
  status     the rollout on one screen (--watch redraws, --json for scripts)
  approve    approve the pending approval (--summary TEXT)
  reject     reject the pending approval (--summary TEXT)
  rollback   everyone back to the last approved version now (--yes, --reason TEXT)
  wait       wait for the approval or the end of the rollout, for CI (--for approval|done, --timeout D)
  history    the last pipeline executions and deployments: who approved, what rolled back and why
  watch      what the tenants see: versions, errors and latency per tenant
  check      validate a stack's config offline (Pulumi.<stack>.yaml), no AWS, no pulumi CLI
  rehearse   a whole rollout on this machine: the model of AWS, the real hooks, real tasks and traffic
             (rehearse push VERSION [--bad SPEC]; rehearse --scenario NAME --report FILE)

Every command but check reads the stack's outputs: --stack NAME (default: the
selected Pulumi stack), or --outputs FILE (from pulumi stack output --json > FILE)
without the pulumi CLI, or --output NAME=VALUE. "tenant-canary <command> -h" lists
a command's flags; "tenant-canary --version" prints the version.
`

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	case "-version", "--version", "version":
		fmt.Fprintln(e.stdout, versionText(readBuildInfo()))
		return exitOK
	}
	name, args := args[0], args[1:]
	var cmd func(context.Context, *flag.FlagSet, []string, *env) error
	switch name {
	case "status":
		cmd = statusCmd
	case "approve":
		cmd = decideCmd(true)
	case "reject":
		cmd = decideCmd(false)
	case "rollback":
		cmd = rollbackCmd
	case "wait":
		cmd = waitCmd
	case "history":
		cmd = historyCmd
	case "check":
		cmd = checkCmd
	case "rehearse":
		cmd = rehearseCmd
	case "watch":
		// The watcher keeps its own flags; a stack problem is exit 4 with
		// the same line as every other command.
		return watch.RunAs("tenant-canary watch", args, e.stdout, e.stderr, e.terminal, e.outputs)
	default:
		fmt.Fprintf(e.stderr, "tenant-canary: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("tenant-canary "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if wantsHelp(args) {
		fs.SetOutput(e.stdout) // asked for: help is the answer, on stdout
	}
	err := cmd(ctx, fs, args, e)
	if err == nil {
		return exitOK
	}
	line, code := describe(err)
	if code == exitUsage && errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if line != "" {
		fmt.Fprintf(e.stderr, "tenant-canary %s: %s\n", name, line)
	}
	return code
}

// wantsHelp: -h or --help among the flags (before a "--").
func wantsHelp(args []string) bool {
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" })
}

// exitError carries a code and a line of its own.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

func usageError(format string, a ...any) error {
	return &codeError{exitUsage, fmt.Sprintf(format, a...)}
}

// describe turns an error into its one line and exit code.
func describe(err error) (string, int) {
	var ce *codeError
	var cred *credentialsError
	var apiErr smithy.APIError
	var opErr *smithy.OperationError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return "", exitUsage
	case errors.As(err, &ce):
		return ce.msg, ce.code
	case outputs.IsStackProblem(err):
		return err.Error(), exitStack
	case errors.As(err, &cred):
		return "no AWS credentials: " + oneLine(cred.err.Error()) + " (set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", exitCredentials
	case errors.As(err, &apiErr):
		where := ""
		if errors.As(err, &opErr) {
			where = opErr.ServiceID + " " + opErr.OperationName + ": "
		}
		return fmt.Sprintf("AWS %s%s: %s", where, apiErr.ErrorCode(), oneLine(apiErr.ErrorMessage())), exitError
	case errors.As(err, &opErr):
		return fmt.Sprintf("AWS %s %s: %s", opErr.ServiceID, opErr.OperationName, oneLine(opErr.Err.Error())), exitError
	}
	return oneLine(err.Error()), exitError
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// connect reads the stack's outputs and builds the AWS clients; the
// caller registered where's flags.
func connect(ctx context.Context, e *env, where outputs.Settings) (*outputs.Read, *clients, error) {
	out, err := outputs.Load(ctx, where, e.outputs)
	if err != nil {
		return nil, nil, err
	}
	if err := out.Require(operatorOutputs...); err != nil {
		return nil, nil, err
	}
	cfg, err := e.loadAWS(ctx, region(out))
	if err != nil {
		return nil, nil, err
	}
	return out, newClients(cfg), nil
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &codeError{exitUsage, ""} // the flag package printed the problem
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q: all settings are flags, see -h", fs.Args())
	}
	return nil
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
