package watch

import (
	"fmt"
	"strings"
	"time"
)

// header describes the run above each table.
type header struct {
	url     string
	match   tenantMatch
	rate    float64
	window  time.Duration
	elapsed time.Duration
}

// renderTable draws one refresh of the live table: per target, requests in
// the window, share per version, failures by kind and latency percentiles.
func renderTable(h header, snap snapshot, targets []target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant-canary watch  %s  tenant %s  %.4g req/s  last %s  elapsed %s\n",
		h.url, h.match, h.rate, h.window, h.elapsed.Truncate(time.Second))
	b.WriteString(formatRows(tableRows(snap, targets)))
	if snap.skipped > 0 {
		fmt.Fprintf(&b, "skipped %d requests: -rate x -timeout requests were already in flight\n", snap.skipped)
	}
	return b.String()
}

func tableRows(snap snapshot, targets []target) [][]string {
	head := []string{"TENANT", "REQS"}
	head = append(head, snap.versions...)
	head = append(head, "NON-2XX", "TIMEOUT", "TRANSPORT", "NO-VERSION", "P50", "P90", "P99")
	rows := [][]string{head}
	for i, t := range targets {
		st := snap.stats[i]
		row := []string{t.label(), fmt.Sprint(st.requests)}
		for _, v := range snap.versions {
			row = append(row, formatShare(st, v))
		}
		row = append(row,
			fmt.Sprint(st.failures[non2xx]), fmt.Sprint(st.failures[timedOut]),
			fmt.Sprint(st.failures[transport]), fmt.Sprint(st.failures[noVersion]))
		for _, p := range []float64{50, 90, 99} {
			row = append(row, formatLatency(percentile(st.latencies, p)))
		}
		rows = append(rows, row)
	}
	return rows
}

// formatRows pads columns to a common width: the first left-aligned, the
// numbers right-aligned.
func formatRows(rows [][]string) string {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			switch {
			case i == 0:
				fmt.Fprintf(&b, "%-*s", widths[i], cell)
			default:
				fmt.Fprintf(&b, "  %*s", widths[i], cell)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func formatShare(st targetStats, version string) string {
	share, ok := st.share(version)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", share*100)
}

func formatLatency(d time.Duration, ok bool) string {
	switch {
	case !ok:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// renderSummary is printed at exit: whole-run totals, then when each
// target was answered by each version, which is the rollout's timeline.
func renderSummary(h header, snap snapshot, targets []target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %s  tenant %s  %s\n", h.url, h.match, h.elapsed.Truncate(time.Second))
	b.WriteString(formatRows(tableRows(snap, targets)))
	if snap.skipped > 0 {
		fmt.Fprintf(&b, "skipped %d requests: -rate x -timeout requests were already in flight\n", snap.skipped)
	}
	total, failed := 0, 0
	for _, st := range snap.stats {
		total += st.requests
		failed += st.errors()
	}
	fmt.Fprintf(&b, "%d requests, errors: %d\n", total, failed)
	if len(snap.versions) == 0 {
		return b.String()
	}
	b.WriteString("versions seen (first - last response):\n")
	width := 0
	for _, t := range targets {
		width = max(width, len(t.label()))
	}
	for i, t := range targets {
		var spans []string
		for _, v := range versionsSeenBy(snap.seen[i], snap.versions) {
			seen := snap.seen[i][v]
			spans = append(spans, fmt.Sprintf("%s %s-%s", v, seen.first.Format(time.TimeOnly), seen.last.Format(time.TimeOnly)))
		}
		if len(spans) == 0 {
			spans = []string{"none"}
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, t.label(), strings.Join(spans, ", "))
	}
	return b.String()
}

// ANSI: cursor home and clear screen, for refreshing the table in place.
const clearScreen = "\x1b[H\x1b[2J"
