package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tenant-canary/tenant-canary/internal/protocol"
)

// The protocol explorer's figures are two tables of the figures page,
// between `<!-- explorer:ci:begin -->` … `<!-- explorer:ci:end -->` (and
// deep): the states TestProtocol visits per scenario, the depth to which
// every interleaving was checked, and the time. They are measured by running
// the test itself, as CI does.

// NotMeasuredPrefix starts the deep block while no deep run has been
// rendered at a commit whose model and hooks are the current ones: the
// page then says so instead of keeping figures of code that has changed.
const NotMeasuredPrefix = "Not measured at this commit:"

// exploreTable runs TestProtocol in mode ("ci" or "deep") and renders its
// report as a Markdown table; with report set, it renders that report of
// an earlier run instead (a deep run takes about four minutes).
func exploreTable(ctx context.Context, root, mode, stamp, report string) (string, error) {
	if report == "" {
		dir, err := os.MkdirTemp("", "figures-explore")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		report = filepath.Join(dir, "report.jsonl")
		if err := runExplorer(ctx, root, mode, report); err != nil {
			return "", err
		}
	}
	return renderExplorer(report, stamp)
}

func runExplorer(ctx context.Context, root, mode, report string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestProtocol$", "-timeout", "4h", "./internal/protocol")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), protocol.ReportEnv+"="+report)
	if mode == "deep" {
		cmd.Env = append(cmd.Env, "TENANT_CANARY_EXPLORE=deep")
	} else {
		cmd.Env = append(cmd.Env, "TENANT_CANARY_EXPLORE=")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("TestProtocol (%s): %v\n%s", mode, err, out)
	}
	return nil
}

func renderExplorer(report, stamp string) (string, error) {
	f, err := os.Open(report)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", stamp)
	b.WriteString("| scenario | reading of the docs | states | every interleaving up to | deepest state | random walks past the cap | time | states/s |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	total, seconds := 0, 0.0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l protocol.ReportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return "", fmt.Errorf("explorer report: %w", err)
		}
		if l.Violation != "" {
			return "", fmt.Errorf("the explorer found a violation in %q: %s", l.Scenario, l.Violation)
		}
		states := Number(float64(l.States))
		if l.Exhausted {
			states += " (all)"
		}
		if l.KnownFinding != "" {
			states += " (known finding: " + escapeCell(l.KnownFinding) + ")"
		}
		walks := ""
		if l.Walks > 0 {
			walks = fmt.Sprintf("%s (%s events)", Number(float64(l.Walks)), Number(float64(l.WalkEvents)))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d events | %d | %s | %.1f s | %s |\n", escapeCell(l.Scenario), l.Reading, states, l.CompleteDepth, l.MaxDepth, walks, l.Seconds, Number(l.StatesPerSecond))
		total += l.States
		seconds += l.Seconds
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	perSecond := 0.0
	if seconds > 0 {
		perSecond = float64(total) / seconds
	}
	fmt.Fprintf(&b, "| **all** | | **%s** | | | | **%.0f s** | **%s** |\n", Number(float64(total)), seconds, Number(perSecond))
	return b.String(), nil
}
