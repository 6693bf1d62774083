package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// built is the command's binary, built once for the package's tests into a
// temporary directory TestMain removes. The build starts with the package
// (go build of this command takes seconds, tens of seconds on a busy
// machine), so it runs while the serial tests do; the tests that run the
// binary wait for it (buildCLI).
var built struct {
	done chan struct{}
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The parallel tests run the binary or a rehearsal and mostly wait:
	// -test.parallel's default (GOMAXPROCS, 2 on a two-core machine)
	// would queue the rehearsal session, the longest, behind the others.
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
	ctx, cancel := context.WithCancel(context.Background())
	built.done = make(chan struct{})
	go func() {
		defer close(built.done)
		built.dir, built.err = os.MkdirTemp("", "tenant-canary-cli-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "tenant-canary")
		built.out, built.err = exec.CommandContext(ctx, "go", "build", "-o", built.path, ".").CombinedOutput()
	}()
	code := m.Run()
	cancel() // a run of tests that needed no binary does not wait for it
	<-built.done
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildCLI is the path of the binary `go build` makes of this package.
func buildCLI(t *testing.T) string {
	t.Helper()
	<-built.done
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}
