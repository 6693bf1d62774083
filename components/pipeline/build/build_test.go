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
	"path/filepath"
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
	assert.Equal(t, filepath.Join(src, ".build", "hooks", "hello.zip"), first.Path)

	second, err := build.Hook(ctx, src, "hello")
	require.NoError(t, err)
	secondBytes, err := os.ReadFile(second.Path)
	require.NoError(t, err)
	assert.Equal(t, firstBytes, secondBytes, "two builds of the same sources must give the same zip")
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

func TestHookWithoutSourcesSaysWhere(t *testing.T) {
	_, err := build.Hook(context.Background(), t.TempDir(), "pin")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join("lambda", "pin"))
}

// copyFixture copies the fixture main into a fresh directory inside this
// module (so `go build ./lambda/hello` resolves against go.mod) and returns it.
func copyFixture(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("testdata", "run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join("testdata", "fixture", "lambda", "hello", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(abs, "lambda", "hello"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(abs, "lambda", "hello", "main.go"), src, 0o644))
	return abs
}
