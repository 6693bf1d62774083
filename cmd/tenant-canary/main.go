// Command tenant-canary operates a rollout of the stack: its status on one
// screen, approve or reject the pending approval, roll everyone back to the
// last approved version, and watch what the tenants see.
//
//	go run ./cmd/tenant-canary status [--watch] [--json]
//	go run ./cmd/tenant-canary approve|reject [--summary TEXT]
//	go run ./cmd/tenant-canary rollback [--yes] [--reason TEXT]
//	go run ./cmd/tenant-canary watch [watch flags]
//
// Names and ARNs come from the stack's outputs (`pulumi stack output
// --json`); AWS credentials and region from the SDK's usual chain. Exit
// codes are listed in docs/operating.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"

	"github.com/tenant-canary/tenant-canary/internal/watch"
)

// Exit codes (docs/operating.md, "Exit codes").
const (
	exitOK          = 0
	exitError       = 1 // an AWS error or anything unexpected
	exitUsage       = 2
	exitNothing     = 3 // nothing pending to approve or reject; nothing to roll back
	exitStack       = 4 // no stack selected, never deployed, an output missing, no pulumi CLI
	exitBusy        = 5 // rollback: a deployment did not stop in time, or the function answered busy
	exitCredentials = 6
	exitDeclined    = 7 // rollback not confirmed
)

// env is everything a command touches outside itself, injectable for tests.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	terminal       bool
	outputs        outputsSource
	loadAWS        func(ctx context.Context, region string) (aws.Config, error)
	now            func() time.Time
	poll           time.Duration // rollback's wait between deployment checks
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, terminal: isTerminal(os.Stdout),
		outputs: pulumiCLI{}, loadAWS: loadAWS, now: time.Now, poll: 15 * time.Second,
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
  watch      what the tenants see: versions, errors and latency per tenant

Every command takes --stack NAME (default: the selected Pulumi stack).
`

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
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
	case "watch":
		// The watcher keeps its own flags and exit codes (0, 1, 2).
		return watch.Run(args, e.stdout, e.stderr, e.terminal, watch.PulumiCLI())
	default:
		fmt.Fprintf(e.stderr, "tenant-canary: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("tenant-canary "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
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
	var nd *notDeployedError
	var cred *credentialsError
	var apiErr smithy.APIError
	var opErr *smithy.OperationError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return "", exitUsage
	case errors.As(err, &ce):
		return ce.msg, ce.code
	case errors.Is(err, errNoStack), errors.Is(err, errPulumiMissing), errors.As(err, &nd):
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

// connect reads the stack's outputs and builds the AWS clients; --stack is
// registered on fs by the caller.
func connect(ctx context.Context, e *env, stack string) (*stackOutputs, *clients, error) {
	out, err := readOutputs(ctx, e.outputs, stack)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := e.loadAWS(ctx, out.region())
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
