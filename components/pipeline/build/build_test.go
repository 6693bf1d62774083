package build_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/pipeline/build"
)

func TestZipIsDeterministicWhateverTheInputOrder(t *testing.T) {
	a, err := build.Zip([]build.File{{Name: "taskdef.json", Data: []byte("{}")}, {Name: "appspec-latest.yaml", Data: []byte("x")}})
	require.NoError(t, err)
	b, err := build.Zip([]build.File{{Name: "appspec-latest.yaml", Data: []byte("x")}, {Name: "taskdef.json", Data: []byte("{}")}})
	require.NoError(t, err)
	assert.Equal(t, a, b)

	r, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	require.NoError(t, err)
	require.Len(t, r.File, 2)
	assert.Equal(t, "appspec-latest.yaml", r.File[0].Name, "entries sorted by name")
	for _, f := range r.File {
		assert.True(t, f.Modified.Equal(build.ZipTime), "fixed modification time, got %s", f.Modified)
		assert.Equal(t, os.FileMode(0o644), f.Mode().Perm())
	}
}

func TestZipRejectsDuplicateAndEscapingNames(t *testing.T) {
	_, err := build.Zip([]build.File{{Name: "a"}, {Name: "a"}})
	assert.Error(t, err)
	_, err = build.Zip([]build.File{{Name: "../a"}})
	assert.Error(t, err)
}

func TestBuildArgsAreReproducible(t *testing.T) {
	args := build.BuildArgs("/tmp/x/bootstrap", "./lambda/pin")
	for _, want := range []string{"-trimpath", "-buildvcs=false", "lambda.norpc", "-s -w -buildid="} {
		assert.Contains(t, args, want)
	}
}

// Building the same hook twice gives the same zip, byte for byte, and the zip
// holds one executable bootstrap for linux/arm64.
func TestHookBuildTwiceGivesIdenticalBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go binary")
	}
	src := copyFixture(t)
	ctx := context.Background()
	first, err := build.Hook(ctx, src, "hello")
	require.NoError(t, err)
	firstBytes, err := os.ReadFile(first.Path)
	require.NoError(t, err)
	dir, err := build.HookDir(src)
	require.NoError(t, err)
	assert.Equal(t, dir, filepath.Dir(first.Path), "zips go to the user cache, not the source tree")
	assert.Regexp(t, `^hello-[0-9a-f]{16}\.zip$`, filepath.Base(first.Path), "named by hook and content")
	assert.NotContains(t, first.Path, src)

	second, err := build.Hook(ctx, src, "hello")
	require.NoError(t, err)
	secondBytes, err := os.ReadFile(second.Path)
	require.NoError(t, err)
	assert.Equal(t, firstBytes, secondBytes, "two builds of the same sources must give the same zip")
	assert.Equal(t, first.Path, second.Path)
	sum := sha256.Sum256(secondBytes)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), second.SourceCodeHash)

	r, err := zip.NewReader(bytes.NewReader(firstBytes), int64(len(firstBytes)))
	require.NoError(t, err)
	require.Len(t, r.File, 1)
	f := r.File[0]
	assert.Equal(t, "bootstrap", f.Name)
	assert.Equal(t, os.FileMode(0o755), f.Mode().Perm(), "Lambda must be able to execute bootstrap")
	assert.True(t, f.Mode().IsRegular())
	rc, err := f.Open()
	require.NoError(t, err)
	exe, err := io.ReadAll(rc)
	require.NoError(t, err)
	bin, err := elf.NewFile(bytes.NewReader(exe))
	require.NoError(t, err, "bootstrap is a Linux ELF executable")
	assert.Equal(t, elf.EM_AARCH64, bin.Machine, "built for arm64")
	assert.NotContains(t, string(exe), src, "-trimpath keeps the build machine's paths out")
}

func TestCacheBuildsEachHookOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go binary")
	}
	src := copyFixture(t)
	var c build.Cache
	a, err := c.Hook(context.Background(), src, "hello")
	require.NoError(t, err)
	require.NoError(t, os.Remove(a.Path))
	b, err := c.Hook(context.Background(), src, "hello")
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.NoFileExists(t, b.Path, "the second call reused the first build")
}

// A rebuild from changed sources replaces the hook's zip in the checkout's
// directory; other checkouts have directories of their own.
func TestHookKeepsOnlyTheCurrentZipOfEachCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go binary")
	}
	src := copyFixture(t)
	ctx := context.Background()
	first, err := build.Hook(ctx, src, "hello")
	require.NoError(t, err)
	main := filepath.Join(src, "lambda", "hello", "main.go")
	require.NoError(t, os.WriteFile(main, []byte("package main\n\nfunc main() { println(2) }\n"), 0o644))
	second, err := build.Hook(ctx, src, "hello")
	require.NoError(t, err)
	assert.NotEqual(t, first.Path, second.Path)
	assert.NoFileExists(t, first.Path, "the older zip is removed")
	assert.FileExists(t, second.Path)

	other := copyFixture(t)
	a, err := build.HookDir(src)
	require.NoError(t, err)
	b, err := build.HookDir(other)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestHookWithoutSourcesSaysWhere(t *testing.T) {
	_, err := build.Hook(context.Background(), t.TempDir(), "pin")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join("lambda", "pin"))
}

// copyFixture copies the fixture main into a fresh module in a temporary
// directory (nothing is written into the source tree) and points the user
// cache directory, where the zips go, at another temporary directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	// The go command derives its build cache from the same variables: keep
	// it where it is, or every build here would be a cold one.
	env, err := exec.Command("go", "env", "GOCACHE", "GOPATH").Output()
	require.NoError(t, err)
	vars := strings.Fields(string(env))
	require.Len(t, vars, 2)
	t.Setenv("GOCACHE", vars[0])
	t.Setenv("GOPATH", vars[1])
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache) // os.UserCacheDir on Linux and BSDs
	t.Setenv("HOME", cache)           // on macOS
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "fixture", "lambda", "hello", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "lambda", "hello"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lambda", "hello", "main.go"), src, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fixture\n\ngo 1.22\n"), 0o644))
	return dir
}
