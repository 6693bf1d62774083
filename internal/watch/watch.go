// Package watch shows a canary rollout as the ALB's users see it: it sends a
// steady, bounded stream of requests for pinned tenants, a few unpinned
// tenants and untenanted traffic, and shows per stream which version
// (X-App-Version) answered over a sliding window, the errors and latencies.
//
//	go run ./cmd/tenant-canary watch -pinned 123,acme -tenants 7,42
//	go run ./cmd/watch -pinned 123,acme -tenants 7,42      (the same)
//
// Without -url it reads the stack's albUrl (and, without -pinned, its
// pinnedTenants) from the stack's outputs (internal/outputs).
package watch

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

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// RunAs is the whole watcher (`tenant-canary watch`, `go run ./cmd/watch`),
// its messages prefixed with prog; it returns the exit code: 0 done, 1 the
// URL does not answer as the app, 2 bad flags, outputs.ExitStack (4) the
// stack's outputs cannot be had, as for every tenant-canary command.
func RunAs(prog string, args []string, stdout, stderr io.Writer, terminal bool, stack outputs.Source) int {
	return watch(prog, args, stdout, stderr, terminal, stack)
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return isTerminal(f) }

// watch is the whole command; it returns the exit code.
func watch(prog string, args []string, stdout, stderr io.Writer, terminal bool, stack outputs.Source) int {
	helpOut := stderr
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			helpOut = stdout // asked for: help is the answer, on stdout
		}
	}
	opts, err := parseOptions(args, helpOut)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = opts.resolveFromStack(context.Background(), stack, stderr, prog)
		if outputs.IsStackProblem(err) {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return outputs.ExitStack
		}
	}
	var p plan
	if err == nil {
		p, err = opts.plan()
	}
	if err != nil {
		// errors.Join puts one problem per line; each gets the prefix.
		fmt.Fprintln(stderr, prog+": "+strings.ReplaceAll(err.Error(), "\n", "\n"+prog+": "))
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.duration)
		defer cancel()
	}

	limit := maxInFlight(opts.rate, opts.timeout)
	client := newClient(opts.timeout, limit)
	if opts.preflight {
		if err := preflight(ctx, client, p); err != nil {
			fmt.Fprintln(stderr, prog+":", err)
			return 1
		}
	}

	refresh := opts.refresh
	if refresh == 0 {
		// A terminal redraws in place; a log (CI, a file) gets fewer copies.
		refresh = map[bool]time.Duration{true: time.Second, false: 10 * time.Second}[terminal]
	}
	h := header{url: p.base.String(), match: p.match, rate: opts.rate, window: opts.window}
	rec := newRecorder(len(p.targets), opts.window)
	start := time.Now()

	ticker := time.NewTicker(interval(opts.rate))
	defer ticker.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, client, p, rec, ticker.C, limit, time.Now)
	}()

	redraw := time.NewTicker(refresh)
	defer redraw.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case now := <-redraw.C:
			h.elapsed = now.Sub(start)
			table := renderTable(h, rec.windowSnapshot(now), p.targets)
			if terminal {
				fmt.Fprint(stdout, clearScreen+table)
			} else {
				fmt.Fprintf(stdout, "%s\n%s\n", now.Format(time.RFC3339), table)
			}
		}
	}
	<-done
	h.elapsed = time.Since(start)
	fmt.Fprint(stdout, "\n"+renderSummary(h, rec.totalSnapshot(time.Now()), p.targets))
	return 0
}

// isTerminal reports whether f is a character device, the standard
// library's way to tell a terminal from a pipe or file.
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
