package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"strings"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/stackconfig"
)

// checkCmd validates stacks' config offline: the files loaded as `pulumi
// up` would (internal/stackconfig), then the program's own validation
// (components/config.Load), then configWarnings. No AWS, no pulumi CLI:
// the answer to `go run .` failing without the Pulumi engine.
func checkCmd(_ context.Context, flags *flag.FlagSet, args []string, e *env) error {
	stack := flags.String("stack", "", "the stack to check, Pulumi.<stack>.yaml (default: every Pulumi.*.yaml)")
	dir := flags.String("dir", e.dir, "the project's directory, where Pulumi.yaml is (default: the working directory)")
	strict := flags.Bool("strict", false, "warnings fail the check too (exit 10)")
	if err := parse(flags, args); err != nil {
		return err
	}
	where := *dir
	if where == "" {
		where = "."
	}
	names := []string{*stack}
	available, err := stackconfig.Names(where)
	if err != nil {
		return err
	}
	if *stack == "" {
		names = available
		if len(names) == 0 {
			return &codeError{exitStack, fmt.Sprintf("no Pulumi.<stack>.yaml in %s: run check in the project's directory or pass --dir", where)}
		}
	}
	var invalid, warned []string
	for _, name := range names {
		s, err := stackconfig.Load(where, name)
		switch {
		case errors.Is(err, stackconfig.ErrNoProject):
			return &codeError{exitStack, fmt.Sprintf("%v: run check in the project's directory or pass --dir", err)}
		case errors.Is(err, fs.ErrNotExist):
			return &codeError{exitStack, fmt.Sprintf("no Pulumi.%s.yaml in %s; stacks with a file: %s", name, where, listOrNone(available))}
		case err != nil:
			return &codeError{exitInvalid, oneLine(err.Error())}
		}
		cfg, err := s.Config()
		var problems config.Problems
		if err != nil && !errors.As(err, &problems) {
			return err
		}
		var warnings []config.Problem
		if len(problems) == 0 {
			warnings = configWarnings(cfg)
		}
		status := "ok"
		if len(problems) > 0 {
			status = fmt.Sprintf("INVALID, %d problem(s); `pulumi up` would create nothing", len(problems))
			invalid = append(invalid, name)
		}
		if len(warnings) > 0 {
			status += fmt.Sprintf(", %d warning(s)", len(warnings))
			warned = append(warned, name)
		}
		fmt.Fprintf(e.stdout, "Pulumi.%s.yaml: %s\n", name, status)
		for _, p := range problems {
			fmt.Fprintf(e.stdout, "  error: %s\n", p)
		}
		for _, w := range warnings {
			fmt.Fprintf(e.stdout, "  warning: %s\n", w)
		}
	}
	switch {
	case len(invalid) > 0:
		return &codeError{exitInvalid, "invalid config in stack " + strings.Join(invalid, ", ")}
	case *strict && len(warned) > 0:
		return &codeError{exitInvalid, "warnings in stack " + strings.Join(warned, ", ") + " (--strict)"}
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// configWarnings are what a valid config allows but is probably a mistake;
// a pure function of the config, each naming key, value and why.
func configWarnings(c config.Config) []config.Problem {
	var out []config.Problem
	a := c.Approval
	if a.Required && len(a.NotifyEmails) == 0 {
		wait := "7 days (CodePipeline's default for a manual approval)"
		if a.TimeoutMinutes > 0 {
			wait = fmt.Sprintf("%d minutes (approval.timeoutMinutes)", a.TimeoutMinutes)
		}
		out = append(out, config.Problem{Key: "approval.notifyEmails", Value: "[]",
			Allowed: "approval.required is true and nobody is notified: every push waits at the Approve stage, unseen, for up to " + wait +
				" before it is rejected; add an address, or have CI run `tenant-canary wait --for approval`"})
	}
	if a.Required && c.Traffic.TerminationWaitMinutes == 0 {
		out = append(out, config.Problem{Key: "traffic.terminationWaitMinutes", Value: "0",
			Allowed: "with approval required, CodeDeploy removes the original task set as soon as each stage's traffic has shifted, " +
				"so nothing can be rolled back instantly while the approval is being decided; a rollback then redeploys the old image; set a few minutes or more"})
	}
	return out
}
