package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Benchmark is one top-level benchmark function found in a _test.go file.
type Benchmark struct {
	// Dir is the package directory relative to the module root, with
	// slashes: "." for the root package, "lambda/e2e".
	Dir  string
	Name string
	// Doc is the first sentence of the function's doc comment, without the
	// leading function name; empty without a doc comment.
	Doc string
}

// ID is how the figures page records a benchmark: "<dir>:<name>".
func (b Benchmark) ID() string { return b.Dir + ":" + b.Name }

// skipDir reports whether a directory is never walked: VCS data, the go
// tool's ignored directories (testdata, _x, .x) and vendored code.
func skipDir(root, path string, d fs.DirEntry) bool {
	if path == root {
		return false
	}
	name := d.Name()
	if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	// A nested module is not part of this one.
	if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
		return true
	}
	return false
}

// walkFiles calls fn for every file of the module under root whose name
// ends with suffix, skipping the folders skipDir skips.
func walkFiles(root, suffix string, fn func(path string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(root, path, d) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, suffix) {
			return nil
		}
		return fn(path)
	})
}

// Discover parses every _test.go file of the module rooted at root and
// returns its benchmarks (func BenchmarkXxx(b *testing.B)), sorted by ID.
// Build constraints are ignored: a benchmark behind a tag is still one.
func Discover(root string) ([]Benchmark, error) {
	var out []Benchmark
	fset := token.NewFileSet()
	err := walkFiles(root, "_test.go", func(path string) error {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !isBenchmarkName(fn.Name.Name) || !takesTestingB(fn) {
				continue
			}
			out = append(out, Benchmark{Dir: filepath.ToSlash(rel), Name: fn.Name.Name, Doc: firstSentence(fn.Name.Name, fn.Doc.Text())})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// isBenchmarkName is the go tool's rule: "Benchmark" then nothing or a
// character that is not a lower-case letter.
func isBenchmarkName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Benchmark")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// takesTestingB reports whether fn's only parameter is a *testing.B (or
// *<alias>.B for a renamed import).
func takesTestingB(fn *ast.FuncDecl) bool {
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 || fn.Type.Results != nil {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "B"
}

// firstSentence is the doc comment's first sentence on one line, with the
// leading function name dropped ("BenchmarkX measures …" → "measures …").
func firstSentence(name, doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	if doc == "" {
		return ""
	}
	if i := strings.Index(doc, ". "); i >= 0 {
		doc = doc[:i+1]
	}
	if rest, ok := strings.CutPrefix(doc, name+" "); ok {
		r, size := utf8.DecodeRuneInString(rest)
		doc = string(unicode.ToUpper(r)) + rest[size:]
	}
	return doc
}

// Result is one benchmark line of `go test -bench` output.
type Result struct {
	// Name is the full name without the -GOMAXPROCS suffix:
	// "BenchmarkRun/path/148".
	Name    string
	Iters   int
	Metrics map[string]float64 // unit → value, e.g. "ns/op" → 1.2e7
}

var benchLine = regexp.MustCompile(`^(Benchmark\S*)\s+(\d+)\s+(.+)$`)

// ParseBenchOutput reads `go test -bench` output and returns every result
// line, in order. procs is the GOMAXPROCS the benchmarks ran with: the go
// tool appends "-<procs>" to each name when it is not 1.
func ParseBenchOutput(out string, procs int) ([]Result, error) {
	var results []Result
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	suffix := "-" + strconv.Itoa(procs)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			continue // a log line that happens to start like a result
		}
		name := m[1]
		if procs != 1 {
			name = strings.TrimSuffix(name, suffix)
		}
		iters, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: iterations %q: %w", name, m[2], err)
		}
		r := Result{Name: name, Iters: iters, Metrics: map[string]float64{}}
		ok := true
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				ok = false
				break
			}
			r.Metrics[fields[i+1]] = v
		}
		if ok {
			results = append(results, r)
		}
	}
	return results, sc.Err()
}

// TopLevel is the top-level benchmark function of a full benchmark name.
func TopLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// Stat is the median, minimum and maximum of one metric over the runs.
type Stat struct {
	Median, Min, Max float64
	N                int
}

// Summarize takes the runs of one benchmark and returns each metric's
// median and range. The median of an even number of runs is the mean of the
// two middle ones.
func Summarize(values []float64) Stat {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return Stat{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[n-1], N: n}
}

// Series is one (sub-)benchmark's results over all runs, in first-seen
// order of names and of units.
type Series struct {
	Name  string
	Units []string
	Stats map[string]Stat
}

// Group turns result lines (several runs of each name) into one Series per
// name, in the order the names first appear.
func Group(results []Result) []Series {
	var order []string
	values := map[string]map[string][]float64{}
	units := map[string][]string{}
	for _, r := range results {
		if _, ok := values[r.Name]; !ok {
			order = append(order, r.Name)
			values[r.Name] = map[string][]float64{}
		}
		// Units in the order go prints them: ns/op first, then custom
		// metrics sorted by the testing package.
		for _, u := range sortedUnits(r.Metrics) {
			if _, seen := values[r.Name][u]; !seen {
				units[r.Name] = append(units[r.Name], u)
			}
			values[r.Name][u] = append(values[r.Name][u], r.Metrics[u])
		}
	}
	out := make([]Series, 0, len(order))
	for _, name := range order {
		s := Series{Name: name, Units: units[name], Stats: map[string]Stat{}}
		for u, v := range values[name] {
			s.Stats[u] = Summarize(v)
		}
		out = append(out, s)
	}
	return out
}

func sortedUnits(m map[string]float64) []string {
	units := make([]string, 0, len(m))
	for u := range m {
		units = append(units, u)
	}
	sort.Slice(units, func(i, j int) bool {
		if (units[i] == "ns/op") != (units[j] == "ns/op") {
			return units[i] == "ns/op"
		}
		return units[i] < units[j]
	})
	return units
}
