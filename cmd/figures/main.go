// Command figures regenerates every measured figure the docs quote: it runs
// every benchmark of the module (go test -bench, several runs each), times
// the hook builds the program does on every `pulumi preview`/`up` and,
// with -cold, a cold build of the program and its hooks, measures the sample
// app, runs the protocol explorer at CI's bounds (or deep), and writes one
// generated page, docs/figures.md (FiguresPage): its prose from
// page.md.tmpl, its tables with medians, ranges, the commit, the Go version
// and the machine. It writes no other file.
//
//	make figures                          # or: go run ./cmd/figures
//	make figures FIGURES_FLAGS='-cold 1'  # also a cold build (a few minutes)
//	go run ./cmd/figures -n               # print the page, write nothing
//	go run ./cmd/figures -page-only       # the page from its template, tables kept
//
// The benchmark names the table was generated for are recorded in it; the
// package's test fails when they differ from the benchmarks in the code, so
// CI notices a stale table without timing anything.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// benchtime is the -benchtime of each package's benchmarks; Go's default
// (1s) elsewhere.
var benchtime = map[string]string{
	".":              "20x", // one program run under mocks: tens of milliseconds
	"lambda/e2e":     "10x", // every iteration starts the emulator and a bootstrap
	"lambda/rollout": "10x", // call counts; the time is incidental
	// one exhaustive exploration takes about a second
	"internal/protocol": "3x",
}

// hooks are the hook functions the program can build, in its order
// (internal/contract; smoke only with smokeTest.enabled).
var hooks = func() []string {
	var out []string
	for _, h := range append(slices.Clone(contract.Hooks), contract.HookSmoke) {
		out = append(out, string(h))
	}
	return out
}()

// Keys (first cells) of the rows that are not benchmarks. A row that was
// not measured in this run is carried over from the previous table, with the
// commit it was measured at.
const (
	rowHookBuild = "hook builds of one program run, warm Go build cache"
	rowCold      = "cold build: the program and its hooks"
	rowAppBinary = "sample app binary (`images/app`, linux/amd64)"
	rowAppImage  = "sample app image (`FROM scratch`)"
)

type options struct {
	count   int
	cold    int
	partial bool
	dryRun  bool
	// pageOnly rewrites the page from its template and keeps every table.
	pageOnly bool
	explore  string
	// deepReport renders a deep run's report instead of running it again;
	// deepCommit is the commit that run measured.
	deepReport, deepCommit string
}

func main() {
	var o options
	flag.IntVar(&o.count, "count", 5, "runs of each benchmark and timing; figures are their median and range")
	flag.IntVar(&o.cold, "cold", 0, "cold builds (empty GOCACHE) of the program and its hooks to time; 0 keeps the previous figure")
	flag.BoolVar(&o.partial, "partial", false, "write the tables even when a benchmark gave no result (skipped), saying so")
	flag.BoolVar(&o.dryRun, "n", false, "print the new page instead of writing it")
	flag.BoolVar(&o.pageOnly, "page-only", false, "measure nothing: rewrite "+FiguresPage+" from its template, keeping every table")
	flag.StringVar(&o.deepReport, "deep-report", "", "with -explore deep: the report (TENANT_CANARY_EXPLORE_REPORT) of a deep run to render instead of running it")
	flag.StringVar(&o.deepCommit, "deep-commit", "", "the commit that deep run measured (required with -deep-report)")
	flag.StringVar(&o.explore, "explore", "ci", "protocol explorer tables to regenerate: ci (about a minute), deep (about four minutes), both or none")
	flag.Parse()
	if o.count < 1 || o.cold < 0 || !slices.Contains([]string{"ci", "deep", "both", "none"}, o.explore) {
		fmt.Fprintln(os.Stderr, "figures: -count must be ≥ 1, -cold ≥ 0, -explore one of ci, deep, both, none")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	start := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	// The e2e benchmarks need aws-lambda-rie, which `go install` puts here.
	if gopath, err := goEnv(root, "GOPATH"); err == nil && gopath[0] != "" {
		os.Setenv("PATH", filepath.Join(gopath[0], "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	text, err := readPage(root)
	if err != nil {
		return err
	}
	tables, blocks, err := ParsePage(text)
	if err != nil {
		return err
	}
	if o.pageOnly {
		return emitPage(root, tables, o.dryRun)
	}
	benches, err := Discover(root)
	if err != nil {
		return err
	}
	previous := map[string]string{}
	for _, b := range blocks {
		for _, r := range b.Rows {
			previous[FirstCell(r)] = r
		}
	}
	header, commit, err := describe(root, o.count)
	if err != nil {
		return err
	}
	loadStart := loadAverage()

	rows, missing, err := benchmarkRows(ctx, root, benches, o.count)
	if err != nil {
		return err
	}
	if len(missing) > 0 && !o.partial {
		return fmt.Errorf("no result from %s (skipped? aws-lambda-rie must be on PATH for lambda/e2e); nothing written (-partial writes anyway)", strings.Join(missing, ", "))
	}

	logf("timing the hook builds of one program run (%d runs after a warm-up)", o.count)
	hb, err := hookBuilds(ctx, root, o.count)
	if err != nil {
		return err
	}
	rows = append(rows, Row{Dir: ".", Cells: [3]string{rowHookBuild, FormatStat("ns", hb),
		"what `pulumi preview` and `pulumi up` add to every run: `components/pipeline/build.Hook` for each hook function, one after another as the program does (`go build` for linux/arm64, zip), after one warm-up build; zips in the user cache directory, `~/.cache/tenant-canary/hooks/` on Linux"}})

	stamp := fmt.Sprintf("measured at `%s` on %s", commit, time.Now().UTC().Format("2006-01-02"))
	if o.cold > 0 {
		logf("timing %d cold build(s) of the program and its hooks", o.cold)
		total, prog, hk, err := coldBuilds(ctx, root, o.cold)
		if err != nil {
			return err
		}
		rows = append(rows, Row{Dir: ".", Cells: [3]string{rowCold,
			fmt.Sprintf("%s: program %s, hooks %s", FormatStat("ns", total), FormatStat("ns", prog), FormatStat("ns", hk)),
			fmt.Sprintf("what `pulumi preview` costs on a fresh runner with the modules downloaded but an empty Go build cache: `GOCACHE=<empty dir> go build .` then the build of every hook function (pin, unpin, cleanup, rollback, smoke) with that cache; %d run(s) of `go run ./cmd/figures -cold %d`, %s", o.cold, o.cold, stamp)}})
	} else if r, ok := previous[rowCold]; ok {
		rows = append(rows, Row{Dir: ".", Cells: splitRow(r)})
	} else {
		rows = append(rows, Row{Dir: ".", Cells: [3]string{rowCold, "not measured yet", "`make figures FIGURES_FLAGS='-cold 1'` measures it (a few minutes)"}})
	}

	logf("measuring the sample app (images/measure-size.sh)")
	rows = append(rows, appRows(ctx, root, stamp, previous)...)

	header += fmt.Sprintf(" This run took %s; load average (1 min) %s at its start, %s at its end.",
		time.Since(start).Round(time.Second), loadStart, loadAverage())
	tables.Benchmarks = RenderBlock("", header, benches, rows)
	for _, mode := range []string{"ci", "deep"} {
		if o.explore == mode || o.explore == "both" {
			goVersion, _ := goEnv(root, "GOVERSION")
			explorerStamp := fmt.Sprintf("%s, %s, %d cores (%s); `go run ./cmd/figures -explore %s`.", stamp, strings.Join(goVersion, ""), runtime.NumCPU(), cpuModel(), mode)
			report := ""
			if mode == "deep" && o.deepReport != "" {
				if o.deepCommit == "" {
					return errors.New("-deep-report needs -deep-commit, the commit that run measured")
				}
				report = o.deepReport
				explorerStamp = fmt.Sprintf("measured at `%s`, %s, %d cores (%s); `TENANT_CANARY_EXPLORE=deep go test ./internal/protocol -run TestProtocol` (`go run ./cmd/figures -explore deep` reruns it).",
					o.deepCommit, strings.Join(goVersion, ""), runtime.NumCPU(), cpuModel())
			}
			logf("running the protocol explorer (%s)", mode)
			table, err := exploreTable(ctx, root, mode, explorerStamp, report)
			if err != nil {
				return err
			}
			if mode == "ci" {
				tables.ExplorerCI = table
			} else {
				tables.ExplorerDeep = table
			}
		}
	}
	if err := emitPage(root, tables, o.dryRun); err != nil {
		return err
	}
	logf("done in %s", time.Since(start).Round(time.Second))
	return nil
}

// emitPage renders the page and writes it, or prints it for -n.
func emitPage(root string, tables PageTables, dryRun bool) error {
	page, err := RenderPage(tables)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Print(page)
		return nil
	}
	if err := writePage(root, page); err != nil {
		return err
	}
	logf("wrote %s", FiguresPage)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "figures: "+format+"\n", args...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// splitRow turns a carried-over table line back into cells.
func splitRow(line string) [3]string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
	var out [3]string
	for i := range out {
		if i < len(cells) {
			out[i] = strings.ReplaceAll(strings.TrimSpace(cells[i]), `\|`, "|")
		}
	}
	if len(cells) > 3 {
		out[2] = strings.TrimSpace(strings.Join(cells[2:], " | "))
	}
	return out
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the module (no go.mod found)")
	}
	return filepath.Dir(gomod), nil
}

func goEnv(dir string, names ...string) ([]string, error) {
	cmd := exec.Command("go", append([]string{"env"}, names...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go env %s: %w", strings.Join(names, " "), err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
}

// describe is the block's header: commit, toolchain, machine, method. The
// commit is marked dirty when a tracked file other than the figures page
// (the tool's own output) has uncommitted changes.
func describe(root string, count int) (header, commit string, err error) {
	rev, err := output(root, "git", "rev-parse", "HEAD")
	if err != nil {
		return "", "", err
	}
	commit = rev[:12]
	changed, err := output(root, "git", "diff", "--name-only", "HEAD")
	if err != nil {
		return "", "", err
	}
	for _, path := range strings.Fields(changed) {
		if path != FiguresPage {
			commit += " + uncommitted changes"
			break
		}
	}
	env, err := goEnv(root, "GOVERSION", "GOOS", "GOARCH")
	if err != nil {
		return "", "", err
	}
	var bt []string
	for _, dir := range sortedKeys(benchtime) {
		bt = append(bt, fmt.Sprintf("%s for `%s`", benchtime[dir], dir))
	}
	header = fmt.Sprintf("Generated by `make figures` at commit `%s` on %s with %s %s/%s on %d cores (%s, from /proc/cpuinfo). "+
		"Benchmarks ran one package at a time, `go test -run '^$' -bench . -count %d -benchtime <t> ./<package>` (t = %s, Go's default 1 s elsewhere); "+
		"each figure is the median of the %d runs with the lowest and highest run in brackets, one value where every run agreed. "+
		"The machine is shared with other builds, so times are noisy; counts and sizes are exact. MiB = 2²⁰ bytes.",
		commit, time.Now().UTC().Format("2006-01-02"), env[0], env[1], env[2], runtime.NumCPU(), cpuModel(),
		count, strings.Join(bt, ", "), count)
	return header, commit, nil
}

func output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// loadAverage is the 1-minute load average of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

// benchmarkRows runs each package's benchmarks and returns one row per
// (sub-)benchmark, and the IDs of benchmarks that gave no result.
func benchmarkRows(ctx context.Context, root string, benches []Benchmark, count int) ([]Row, []string, error) {
	byDir := map[string][]Benchmark{}
	for _, b := range benches {
		byDir[b.Dir] = append(byDir[b.Dir], b)
	}
	var rows []Row
	var missing []string
	procs := runtime.GOMAXPROCS(0)
	for _, dir := range sortedKeys(byDir) {
		pkg := "./" + dir
		if dir == "." {
			pkg = "."
		}
		args := []string{"test", "-run", "^$", "-bench", ".", "-count", strconv.Itoa(count)}
		if t, ok := benchtime[dir]; ok {
			args = append(args, "-benchtime", t)
		}
		args = append(args, pkg)
		logf("go %s", strings.Join(args, " "))
		var buf bytes.Buffer
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = cmd.Stdout
		if err := cmd.Run(); err != nil {
			return nil, nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		results, err := ParseBenchOutput(buf.String(), procs)
		if err != nil {
			return nil, nil, err
		}
		series := Group(results)
		for _, b := range byDir[dir] {
			first := true
			for _, s := range series {
				if TopLevel(s.Name) != b.Name {
					continue
				}
				var figs []string
				for _, u := range s.Units {
					figs = append(figs, FormatStat(u, s.Stats[u]))
				}
				how := "same benchmark"
				if first {
					how = "In " + packageName(dir) + "."
					if b.Doc != "" {
						how = b.Doc + " " + how
					}
				}
				rows = append(rows, Row{Dir: dir, Cells: [3]string{"`" + s.Name + "`", strings.Join(figs, "; "), how}})
				first = false
			}
			if first {
				missing = append(missing, b.ID())
				rows = append(rows, Row{Dir: dir, Cells: [3]string{"`" + b.Name + "`", "no result in this run (skipped)", packageName(dir)}})
			}
		}
	}
	return rows, missing, nil
}

func packageName(dir string) string {
	if dir == "." {
		return "the root package"
	}
	return "`./" + dir + "`"
}

// hookBuilds times build.Hook for each hook, one after another as the
// program does, count times after a warm-up; nanoseconds per program run.
func hookBuilds(ctx context.Context, root string, count int) (Stat, error) {
	var runs []float64
	for i := 0; i <= count; i++ {
		start := time.Now()
		for _, h := range hooks {
			if _, err := build.Hook(ctx, root, h); err != nil {
				return Stat{}, err
			}
		}
		if i > 0 {
			runs = append(runs, float64(time.Since(start).Nanoseconds()))
		}
	}
	return Summarize(runs), nil
}

// coldBuilds times `go build .` and the build of every hook function with an empty
// build cache, n times.
func coldBuilds(ctx context.Context, root string, n int) (total, program, hooksOnly Stat, err error) {
	var tot, prog, hk []float64
	oldCache, hadCache := os.LookupEnv("GOCACHE")
	defer func() {
		if hadCache {
			os.Setenv("GOCACHE", oldCache)
		} else {
			os.Unsetenv("GOCACHE")
		}
	}()
	for i := 0; i < n; i++ {
		cache, err := os.MkdirTemp("", "figures-gocache-")
		if err != nil {
			return total, program, hooksOnly, err
		}
		os.Setenv("GOCACHE", cache)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(cache, "program"), ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(cache)
			return total, program, hooksOnly, fmt.Errorf("cold go build: %w\n%s", err, out)
		}
		p := time.Since(start)
		for _, h := range hooks {
			if _, err := build.Hook(ctx, root, h); err != nil {
				os.RemoveAll(cache)
				return total, program, hooksOnly, err
			}
		}
		all := time.Since(start)
		logf("cold build %d/%d: program %s, hooks %s", i+1, n, p.Round(time.Second), (all - p).Round(time.Second))
		tot = append(tot, float64(all.Nanoseconds()))
		prog = append(prog, float64(p.Nanoseconds()))
		hk = append(hk, float64((all - p).Nanoseconds()))
		os.RemoveAll(cache)
	}
	return Summarize(tot), Summarize(prog), Summarize(hk), nil
}

var (
	binaryLine = regexp.MustCompile(`(?m)^binary: (\d+) bytes`)
	imageLine  = regexp.MustCompile(`(?m)^image: +(\d+) bytes`)
)

// appRows measures the sample app with images/measure-size.sh: the binary
// always, the image when podman or a docker engine answers here.
func appRows(ctx context.Context, root, stamp string, previous map[string]string) []Row {
	tool := "none"
	for _, t := range []string{"podman", "docker"} {
		if err := exec.CommandContext(ctx, t, "info").Run(); err == nil {
			tool = t
			break
		}
	}
	cmd := exec.CommandContext(ctx, "bash", "images/measure-size.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IMAGE_TOOL="+tool)
	out, err := cmd.CombinedOutput()
	var rows []Row
	how := "`images/measure-size.sh`: the Dockerfile's `go build` flags, outside the module as the Dockerfile builds it"
	if m := binaryLine.FindSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		rows = append(rows, Row{Dir: "images/app", Cells: [3]string{rowAppBinary, FormatStat("bytes", Stat{Median: v, Min: v, Max: v, N: 1}), how + "; the image's only file"}})
	} else {
		rows = append(rows, Row{Dir: "images/app", Cells: [3]string{rowAppBinary, "not measured", fmt.Sprintf("`images/measure-size.sh` failed: %v", err)}})
	}
	if m := imageLine.FindSubmatch(out); m != nil && err == nil {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		rows = append(rows, Row{Dir: "images/app", Cells: [3]string{rowAppImage, FormatStat("bytes", Stat{Median: v, Min: v, Max: v, N: 1}),
			fmt.Sprintf("`IMAGE_TOOL=%s images/measure-size.sh`: the Dockerfile's final stage around that binary, non-root; `%s image inspect` size; %s", tool, tool, stamp)}})
	} else if r, ok := previous[rowAppImage]; ok && strings.Contains(r, "measured at") {
		rows = append(rows, Row{Dir: "images/app", Cells: splitRow(r)})
	} else {
		rows = append(rows, Row{Dir: "images/app", Cells: [3]string{rowAppImage, "not measured here",
			"needs podman or a running docker engine (`images/measure-size.sh`), and there was none where this table was generated; `docs/sample-app.md` shows an earlier measurement with podman"}})
	}
	return rows
}
