package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The generated tables must describe the benchmarks the code has: each
// block records the benchmark IDs it was generated for, and they must equal
// the benchmarks in its scope now; and no row may name a benchmark that no
// longer exists. Nothing here runs a benchmark or looks at a time.
func TestFiguresTablesNameTheBenchmarksTheCodeHas(t *testing.T) {
	root := testModuleRoot(t)
	benches, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(benches) == 0 {
		t.Fatal("found no benchmark in the module: Discover is broken")
	}
	text, err := os.ReadFile(filepath.Join(root, FiguresPage))
	if err != nil {
		t.Fatal(err)
	}
	_, blocks, err := ParsePage(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 {
		t.Fatalf("%s has no `<!-- figures:begin -->` … `<!-- figures:end -->` block", FiguresPage)
	}
	names := map[string]bool{}
	for _, b := range benches {
		names[b.Name] = true
	}
	const fix = "regenerate the tables with `make figures` (go run ./cmd/figures)"
	b := blocks[0]
	where := fmt.Sprintf("%s:%d", FiguresPage, b.Begin+1)
	if b.Benchmarks == nil {
		t.Fatalf("%s: the block records no benchmarks (no `%s … -->` line): %s", where, benchmarksMarker, fix)
	}
	var want []string
	for _, bench := range benches {
		want = append(want, bench.ID())
	}
	added, removed := diff(want, b.Benchmarks)
	if len(added) > 0 {
		t.Errorf("%s: benchmarks in the code but not in the table: %s; %s", where, strings.Join(added, ", "), fix)
	}
	if len(removed) > 0 {
		t.Errorf("%s: the table was generated for benchmarks the code no longer has: %s; %s", where, strings.Join(removed, ", "), fix)
	}
	for _, row := range b.Rows {
		for _, n := range RowBenchmarks(row) {
			if !names[n] {
				t.Errorf("%s: a row names %s, which no _test.go file defines: %s\n  %s", where, n, fix, row)
			}
		}
	}
}

// `make figures` writes one page and nothing else, so generated tables must
// live there and nowhere else: a block in a hand-written page would go stale
// (the command no longer rewrites it) or, worse, invite the command back into
// prose.
func TestOnlyTheFiguresPageHoldsGeneratedBlocks(t *testing.T) {
	files, err := FilesWithGeneratedBlocks(testModuleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, " ") != FiguresPage {
		t.Errorf("files with a figures or explorer block = %v, want only %s: move the table there (its prose lives in cmd/figures/page.md.tmpl)", files, FiguresPage)
	}
}

// The page is generated as a whole: its prose is the template's, so an edit
// made to the page by hand (or to the template without regenerating) is
// caught here, and the three tables survive a round trip through
// ParsePage and RenderPage unchanged.
func TestFiguresPageIsItsTemplateAroundItsTables(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(testModuleRoot(t), FiguresPage))
	if err != nil {
		t.Fatal(err)
	}
	tables, _, err := ParsePage(string(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, table := range map[string]string{"benchmarks": tables.Benchmarks, "explorer ci": tables.ExplorerCI, "explorer deep": tables.ExplorerDeep} {
		// The deep run takes minutes, not seconds: until it is re-run at a
		// commit, its block says so (NotMeasuredPrefix) rather than keep
		// figures of code that has changed since.
		if name == "explorer deep" && strings.HasPrefix(strings.TrimSpace(table), NotMeasuredPrefix) {
			continue
		}
		if !strings.Contains(table, "| --- |") {
			t.Errorf("%s: the %s table is missing", FiguresPage, name)
		}
	}
	page, err := RenderPage(tables)
	if err != nil {
		t.Fatal(err)
	}
	if page != string(text) {
		t.Errorf("%s is not its template (cmd/figures/page.md.tmpl) around its tables: edit the template, not the page, then run `go run ./cmd/figures -page-only`\n%s", FiguresPage, firstDifference(string(text), page))
	}
}

// firstDifference names the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  page:     %q\n  template: %q", i+1, gl, wl)
		}
	}
	return "no line differs"
}

func TestRenderPageRoundTrips(t *testing.T) {
	in := PageTables{
		Benchmarks:   "<!-- figures:benchmarks .:BenchmarkA -->\n\n| figure | median | how |\n| --- | --- | --- |\n| `BenchmarkA` | 1 ms/op | x |",
		ExplorerCI:   "ci stamp\n\n| scenario | states |\n| --- | --- |\n| a | 1 |",
		ExplorerDeep: "deep stamp\n\n| scenario | states |\n| --- | --- |\n| b | 2 |",
	}
	page, err := RenderPage(in)
	if err != nil {
		t.Fatal(err)
	}
	out, blocks, err := ParsePage(page)
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("ParsePage(RenderPage(t)) = %+v, want %+v", out, in)
	}
	if len(blocks) != 1 || len(blocks[0].Benchmarks) != 1 || len(blocks[0].Rows) != 1 || FirstCell(blocks[0].Rows[0]) != "`BenchmarkA`" {
		t.Errorf("blocks = %+v", blocks)
	}
	// A first run starts from no page at all.
	empty, blocks, err := ParsePage("")
	if err != nil || empty != (PageTables{}) || len(blocks) != 0 {
		t.Errorf("ParsePage(\"\") = %+v, %v, %v", empty, blocks, err)
	}
	if _, _, err := ParsePage("<!-- explorer:ci:end -->\n<!-- explorer:ci:begin -->"); err == nil {
		t.Error("markers in the wrong order are an error")
	}
}

// diff returns what is in want but not in got, and in got but not in want.
func diff(want, got []string) (added, removed []string) {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	for s := range w {
		if !g[s] {
			added = append(added, s)
		}
	}
	for s := range g {
		if !w[s] {
			removed = append(removed, s)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// testModuleRoot walks up from the package directory to go.mod (no `go`
// command, so the test stays cheap).
func testModuleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func TestDiscoverFindsBenchmarksByTheGoToolsRules(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n")
	write("a_test.go", `//go:build linux

package x

import "testing"

// BenchmarkAlpha measures alpha. It says more.
func BenchmarkAlpha(b *testing.B) {}
func Benchmarkbeta(b *testing.B)  {} // lower case after Benchmark: not a benchmark
func BenchmarkHelper(n int)       {} // wrong signature
func Benchmark(b *testing.B)      {}
var _ = "func BenchmarkInAString(b *testing.B) {}"
`)
	write("sub/pkg/b_test.go", "package pkg\nimport tt \"testing\"\nfunc Benchmark_X(b *tt.B) {}\n")
	write("sub/pkg/b.go", "package pkg\nfunc BenchmarkNotATestFile(b *testing.B) {}\n")
	write("sub/testdata/c_test.go", "package c\nimport \"testing\"\nfunc BenchmarkInTestdata(b *testing.B) {}\n")
	write("nested/go.mod", "module y\n")
	write("nested/d_test.go", "package d\nimport \"testing\"\nfunc BenchmarkOtherModule(b *testing.B) {}\n")

	got, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range got {
		ids = append(ids, b.ID())
	}
	want := []string{".:Benchmark", ".:BenchmarkAlpha", "sub/pkg:Benchmark_X"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("Discover = %v, want %v", ids, want)
	}
	if got[1].Doc != "Measures alpha." {
		t.Errorf("doc = %q", got[1].Doc)
	}
}

func TestParseBenchOutputGroupsRunsAndStripsProcs(t *testing.T) {
	out := `goos: linux
pkg: github.com/tenant-canary/tenant-canary
BenchmarkRun/path/1-2         	      20	  12800000 ns/op	         1.000 tenant-rules
BenchmarkRun/path/1-2         	      20	  14000000 ns/op	         1.000 tenant-rules
BenchmarkRun/path/1-2         	      20	  12000000 ns/op	         1.000 tenant-rules
    bench_test.go:12: BenchmarkRun 3 is a log line
BenchmarkCalls/rules=1-2-2     	      10	      1000 ns/op	         6.000 calls/op
--- SKIP: BenchmarkColdStart
PASS
`
	results, err := ParseBenchOutput(out, 2)
	if err != nil {
		t.Fatal(err)
	}
	series := Group(results)
	if len(series) != 2 {
		t.Fatalf("series = %+v", series)
	}
	run := series[0]
	if run.Name != "BenchmarkRun/path/1" || TopLevel(run.Name) != "BenchmarkRun" {
		t.Errorf("name = %q", run.Name)
	}
	if s := run.Stats["ns/op"]; s.Median != 12800000 || s.Min != 12000000 || s.Max != 14000000 || s.N != 3 {
		t.Errorf("ns/op = %+v", s)
	}
	if got := FormatStat("ns/op", run.Stats["ns/op"]); got != "12.8 ms/op (12.0–14.0)" {
		t.Errorf("FormatStat = %q", got)
	}
	if got := FormatStat("tenant-rules", run.Stats["tenant-rules"]); got != "1 tenant-rules" {
		t.Errorf("FormatStat = %q", got)
	}
	if series[1].Name != "BenchmarkCalls/rules=1-2" {
		t.Errorf("only the -GOMAXPROCS suffix is stripped: %q", series[1].Name)
	}
}

func TestFormatNamesUnitsExactly(t *testing.T) {
	for _, tt := range []struct {
		unit string
		s    Stat
		want string
	}{
		{"bytes-zip", Stat{Median: 4005088, Min: 4005088, Max: 4005088}, "4,005,088 bytes (zip), 3.82 MiB"},
		{"bytes", Stat{Median: 9060446, Min: 9060446, Max: 9060446}, "9,060,446 bytes, 8.64 MiB"},
		{"ns", Stat{Median: 95e9, Min: 90e9, Max: 130e9}, "95.0 s (90.0–130)"},
		{"ns/op", Stat{Median: 2150, Min: 2150, Max: 2150, N: 5}, "2.15 µs/op"},
		{"ns", Stat{Median: 406e9, Min: 406e9, Max: 406e9, N: 1}, "406 s (one run)"},
		{"calls/op", Stat{Median: 6.5, Min: 6, Max: 7}, "6.50 calls/op (6–7)"},
	} {
		if got := FormatStat(tt.unit, tt.s); got != tt.want {
			t.Errorf("FormatStat(%q, %+v) = %q, want %q", tt.unit, tt.s, got, tt.want)
		}
	}
	if s := Summarize([]float64{4, 1, 3, 2}); s.Median != 2.5 || s.Min != 1 || s.Max != 4 {
		t.Errorf("Summarize = %+v", s)
	}
}

func TestBlocksAreFoundAndReplacedBetweenTheMarkers(t *testing.T) {
	text := strings.Join([]string{
		"# t", "",
		"<!-- figures:begin scope=lambda/ -->",
		"<!-- figures:benchmarks lambda/e2e:BenchmarkA lambda/rollout:BenchmarkB -->",
		"| figure | median | how |", "| --- | --- | --- |",
		"| `BenchmarkA/x` | 1 ms/op | \\| piped |",
		"| cold build | 2 s | measured at `abc` |",
		"<!-- figures:end -->", "", "after",
	}, "\n")
	blocks, err := FindBlocks("x.md", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 {
		t.Fatalf("blocks = %+v", blocks)
	}
	b := blocks[0]
	if b.Scope != "lambda/" || len(b.Benchmarks) != 2 || len(b.Rows) != 2 {
		t.Fatalf("block = %+v", b)
	}
	if got := RowBenchmarks(b.Rows[0]); len(got) != 1 || got[0] != "BenchmarkA" {
		t.Errorf("RowBenchmarks = %v", got)
	}
	if FirstCell(b.Rows[1]) != "cold build" {
		t.Errorf("FirstCell = %q", FirstCell(b.Rows[1]))
	}
	if c := splitRow(b.Rows[0]); c[2] != "| piped" {
		t.Errorf("splitRow = %q", c)
	}
	if !InScope("lambda/", "lambda/e2e") || InScope("lambda/", ".") || !InScope("", ".") {
		t.Error("InScope")
	}

	if _, err := FindBlocks("x.md", "<!-- figures:begin -->\nno end"); err == nil {
		t.Error("an unclosed block is an error")
	}
}
