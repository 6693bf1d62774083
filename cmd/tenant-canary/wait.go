package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// waitOutcome is where a rollout stands for `wait --for target`.
type waitOutcome int

const (
	waitPending waitOutcome = iota // keep waiting
	waitReached                    // exit 0
	waitFailed                     // exit exitFailed
)

// outcomeOf decides a wait from one status; it is a pure function of it.
// With a revision, only the execution of that push counts: until it is the
// one status shows, the wait goes on.
func outcomeOf(target, revision string, st *Status) waitOutcome {
	if revision != "" && (st.Pipeline.Execution == nil || st.Pipeline.Execution.Revision != revision) {
		return waitPending
	}
	switch st.Verdict.State {
	case verdictHeld, verdictRolledBack, verdictFailed:
		return waitFailed
	case verdictHealthy:
		return waitReached // done; for an approval: already past it, or the pipeline has none
	case verdictApproval:
		if target == "approval" {
			return waitReached
		}
	}
	return waitPending
}

func waitCmd(ctx context.Context, fs *flag.FlagSet, args []string, e *env) error {
	var where outputs.Settings
	where.Register(fs)
	target := fs.String("for", "done", "approval: until an approval is pending (or the rollout is past it); done: until the rollout has finished")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long (exit 9)")
	interval := fs.Duration("interval", 15*time.Second, "time between checks")
	revision := fs.String("revision", "", "the pushed image's digest (sha256:…): wait for the pipeline execution of this push, not whichever is newest")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *target != "approval" && *target != "done":
		return usageError("--for %q: want approval or done", *target)
	case *timeout <= 0:
		return usageError("--timeout %s: want more than 0", *timeout)
	case *interval < time.Second:
		return usageError("--interval %s: want at least 1s", *interval)
	case *revision != "" && !strings.HasPrefix(*revision, "sha256:"):
		return usageError("--revision %q: want the image digest, sha256:…", *revision)
	}
	o, c, err := connect(ctx, e, where)
	if err != nil {
		return err
	}
	deadline := e.now().Add(*timeout)
	failures, said, last := 0, "", "no answer from AWS yet"
	for {
		st, err := collect(ctx, o, c, e.now())
		switch {
		case err == nil:
			failures = 0
			v := st.Verdict
			last = v.State + ": " + v.Reason
			// A line per step of the rollout, for a CI log.
			if key := progressKey(st); key != said {
				fmt.Fprintf(e.stdout, "%s %s\n", e.now().UTC().Format("15:04:05"), last)
				said = key
			}
			switch outcomeOf(*target, *revision, st) {
			case waitReached:
				return nil
			case waitFailed:
				return &codeError{exitFailed, fmt.Sprintf("the rollout will not get there: %s: %s", v.State, v.Reason)}
			}
		case ctx.Err() != nil:
			return &codeError{exitError, "interrupted"}
		case transient(err) && failures < maxTransientFailures:
			failures++
			line, _ := describe(err)
			fmt.Fprintf(e.stdout, "%s AWS did not answer (%s); retrying (%d/%d)\n", e.now().UTC().Format("15:04:05"), line, failures, maxTransientFailures)
		default:
			return giveUp(err, failures)
		}
		left := deadline.Sub(e.now())
		if left <= 0 {
			return &codeError{exitTimeout, fmt.Sprintf("--for %s not reached after %s; last: %s", *target, *timeout, last)}
		}
		if e.sleep(ctx, min(*interval, left)) != nil {
			return &codeError{exitError, "interrupted"}
		}
	}
}

// progressKey changes when the rollout takes a step: its verdict, or a
// deployment's phase or traffic share; not with every countdown.
func progressKey(st *Status) string {
	key := st.Verdict.State
	for _, d := range st.Deployments {
		if d.InProgress {
			key += fmt.Sprintf(" %s/%s/%g", d.ID, d.Phase, d.TrafficPercent)
		}
	}
	return key
}
