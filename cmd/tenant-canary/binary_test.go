package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built is the command's binary, built once for the package's tests (go
// build of the package takes seconds; every test that runs the binary
// used to build its own) into a temporary directory TestMain removes.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildCLI is the path of the binary `go build` makes of this package.
func buildCLI(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "tenant-canary-cli-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "tenant-canary")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}
