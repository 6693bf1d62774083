package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Markers of a generated block. The begin marker may name a scope, a package
// directory prefix: `<!-- figures:begin scope=lambda/ -->` holds only the
// figures of packages under lambda/; without one the block holds them all.
const (
	beginMarker      = "<!-- figures:begin"
	endMarker        = "<!-- figures:end -->"
	benchmarksMarker = "<!-- figures:benchmarks"
)

// Block is one generated block in a Markdown file.
type Block struct {
	File  string // relative to the module root, slashes
	Scope string
	// Begin and End are the line indexes of the markers.
	Begin, End int
	// Benchmarks are the IDs recorded in the benchmarks marker; nil when the
	// block has none (never generated).
	Benchmarks []string
	// Rows are the block's table rows, without header and separator.
	Rows []string
}

// InScope reports whether a figure of package directory dir belongs in a
// block of the given scope.
func InScope(scope, dir string) bool {
	return scope == "" || strings.HasPrefix(dir+"/", scope)
}

var scopeAttr = regexp.MustCompile(`^<!-- figures:begin(?: scope=(\S+))? -->$`)

// FindBlocks returns the generated blocks of one Markdown file's text.
func FindBlocks(file, text string) ([]Block, error) {
	lines := strings.Split(text, "\n")
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, beginMarker) {
			continue
		}
		m := scopeAttr.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: malformed marker %q (want `<!-- figures:begin -->` or `<!-- figures:begin scope=dir/ -->`)", file, i+1, line)
		}
		b := Block{File: file, Scope: m[1], Begin: i, End: -1}
		for j := i + 1; j < len(lines); j++ {
			l := strings.TrimSpace(lines[j])
			if strings.HasPrefix(l, beginMarker) {
				return nil, fmt.Errorf("%s:%d: figures block opened at line %d is not closed before another opens", file, j+1, i+1)
			}
			if l == endMarker {
				b.End = j
				break
			}
			if rest, ok := strings.CutPrefix(l, benchmarksMarker); ok {
				ids := strings.Fields(strings.TrimSuffix(strings.TrimSpace(rest), "-->"))
				b.Benchmarks = append([]string{}, ids...)
				continue
			}
			if strings.HasPrefix(l, "|") && !strings.HasPrefix(l, "| ---") && !strings.HasPrefix(l, "|---") {
				b.Rows = append(b.Rows, l)
			}
		}
		if b.End < 0 {
			return nil, fmt.Errorf("%s:%d: figures block has no %s", file, i+1, endMarker)
		}
		if len(b.Rows) > 0 {
			b.Rows = b.Rows[1:] // the header
		}
		blocks = append(blocks, b)
		i = b.End
	}
	return blocks, nil
}

// FilesWithGeneratedBlocks returns the .md files of the module (walked like
// Discover) that hold a figures or explorer marker.
func FilesWithGeneratedBlocks(root string) ([]string, error) {
	var out []string
	err := walkFiles(root, ".md", func(path string) error {
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(text), beginMarker) && !strings.Contains(string(text), "<!-- explorer:") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

// benchmarkRef finds the benchmark names a row mentions.
var benchmarkRef = regexp.MustCompile(`\bBenchmark[A-Z0-9_][A-Za-z0-9_]*`)

// RowBenchmarks returns the top-level benchmark names a table row names.
func RowBenchmarks(row string) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range benchmarkRef.FindAllString(row, -1) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// FirstCell is a table row's first cell, trimmed: the key under which a
// figure that was not measured again is carried over.
func FirstCell(row string) string {
	cells := strings.Split(strings.Trim(row, "| "), " | ")
	return strings.TrimSpace(cells[0])
}

// ---- formatting ----

// FormatStat formats one metric: "12.8 ms (12.1–13.5)" for times,
// "4,005,088 bytes (3.82 MiB)" for byte counts, "6 calls/op" for counts. The
// range is left out when every run gave the same value.
func FormatStat(unit string, s Stat) string {
	switch {
	case unit == "ns/op" || unit == "ns":
		scale, name := timeUnit(s.Median)
		v := sig3(s.Median / scale)
		if s.Min == s.Max {
			if s.N == 1 {
				return v + " " + name + perOp(unit) + " (one run)"
			}
			return v + " " + name + perOp(unit)
		}
		return fmt.Sprintf("%s %s%s (%s–%s)", v, name, perOp(unit), sig3(s.Min/scale), sig3(s.Max/scale))
	case unit == "bytes" || strings.HasPrefix(unit, "bytes-") || strings.HasPrefix(unit, "bytes/"):
		what := strings.TrimPrefix(strings.TrimPrefix(unit, "bytes"), "-")
		label := "bytes"
		if what != "" && !strings.HasPrefix(what, "/") {
			label = "bytes (" + what + ")"
		}
		v := fmt.Sprintf("%s %s, %s MiB", Number(s.Median), label, sig3(s.Median/(1<<20)))
		if s.Min == s.Max {
			return v
		}
		return fmt.Sprintf("%s (%s–%s)", v, Number(s.Min), Number(s.Max))
	default:
		if s.Min == s.Max {
			return Number(s.Median) + " " + unit
		}
		return fmt.Sprintf("%s %s (%s–%s)", Number(s.Median), unit, Number(s.Min), Number(s.Max))
	}
}

func perOp(unit string) string {
	if unit == "ns/op" {
		return "/op"
	}
	return ""
}

// timeUnit picks the unit a duration in nanoseconds reads best in.
func timeUnit(ns float64) (float64, string) {
	switch a := math.Abs(ns); {
	case a >= 1e9:
		return 1e9, "s"
	case a >= 1e6:
		return 1e6, "ms"
	case a >= 1e3:
		return 1e3, "µs"
	default:
		return 1, "ns"
	}
}

// sig3 formats v with three significant digits, without an exponent.
func sig3(v float64) string {
	if v == 0 {
		return "0"
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits < 0 {
		digits = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// Number formats an integral value with thousands separators and any other
// value with three significant digits.
func Number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		s := strconv.FormatInt(int64(math.Abs(v)), 10)
		var b strings.Builder
		if v < 0 {
			b.WriteByte('-')
		}
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	return sig3(v)
}

// escapeCell keeps a table cell on one line and its pipes literal.
func escapeCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Row is one figure of the generated table.
type Row struct {
	// Dir is the package directory the figure belongs to, for scopes.
	Dir   string
	Cells [3]string
}

func (r Row) String() string {
	return "| " + escapeCell(r.Cells[0]) + " | " + escapeCell(r.Cells[1]) + " | " + escapeCell(r.Cells[2]) + " |"
}

// RenderBlock is the content between a block's markers.
func RenderBlock(scope, header string, benchmarks []Benchmark, rows []Row) string {
	var ids []string
	for _, b := range benchmarks {
		if InScope(scope, b.Dir) {
			ids = append(ids, b.ID())
		}
	}
	sort.Strings(ids)
	var sb strings.Builder
	sb.WriteString("<!-- generated by `make figures` (go run ./cmd/figures): edit the benchmarks or cmd/figures, not this block -->\n")
	sb.WriteString(benchmarksMarker + " " + strings.Join(ids, " ") + " -->\n\n")
	sb.WriteString(header + "\n\n")
	sb.WriteString("| figure | median (lowest–highest run) | what and how |\n| --- | --- | --- |\n")
	var lines []string
	for _, r := range rows {
		if InScope(scope, r.Dir) {
			lines = append(lines, r.String())
		}
	}
	sb.WriteString(strings.Join(lines, "\n"))
	return sb.String()
}
