// Package build turns the hook functions' Go sources into the zip archives
// Lambda runs, reproducibly: the same sources and toolchain always give the
// same bytes, so `pulumi preview` shows no diff for an unchanged hook. It also
// zips the deploy bundle the same way.
//
// It is plain Go with no Pulumi in it; components/pipeline calls it while the
// program runs (preview and update alike), so `pulumi up` alone builds the
// hooks from source with no separate build step.
package build

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ZipTime is the modification time of every zip entry. A fixed time keeps the
// archive's bytes independent of when it was built; 1980-01-01 is the earliest
// time the zip format's MS-DOS date field can hold.
var ZipTime = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of a zip archive.
type File struct {
	Name string
	Data []byte
	// Mode is the entry's Unix permission bits (0644 when zero).
	Mode fs.FileMode
}

// Zip writes files into a zip archive deterministically: entries sorted by
// name, a fixed modification time, fixed modes, Deflate compression. The same
// files always give the same bytes.
func Zip(files []File) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i, f := range sorted {
		if f.Name == "" || strings.HasPrefix(f.Name, "/") || strings.Contains(f.Name, "..") {
			return nil, fmt.Errorf("zip entry %q: want a relative path", f.Name)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return nil, fmt.Errorf("zip entry %q appears twice", f.Name)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: ZipTime}
		hdr.SetMode(mode)
		fw, err := w.CreateHeader(hdr)
		if err != nil {
			return nil, fmt.Errorf("zip entry %q: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("zip entry %q: %w", f.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close zip: %w", err)
	}
	return buf.Bytes(), nil
}

// SourceCodeHash is the base64-encoded SHA-256 of b: the form Lambda's
// sourceCodeHash (and S3's checksum fields) use.
func SourceCodeHash(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Target platform and flags of every hook build. Lambda's provided.al2023
// runtime runs an executable named bootstrap; lambda.norpc drops the RPC mode
// only the deprecated go1.x runtime used. -trimpath, -buildid= and
// -buildvcs=false remove the build machine's paths, the random build id and
// the git commit/dirty flag, so the binary depends on the sources alone (with
// VCS stamping every commit would change every hook).
const (
	GOOS       = "linux"
	GOARCH     = "arm64"
	Executable = "bootstrap"
)

// BuildArgs are the arguments of `go` that build one hook's main package.
func BuildArgs(out, pkg string) []string {
	return []string{
		"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -buildid=", "-o", out, pkg,
	}
}

// Artifact is a built hook: its zip on disk and the zip's hash.
type Artifact struct {
	// Path is the zip file, in HookDir(sourceDir).
	Path string
	// SourceCodeHash is SourceCodeHash of the zip's bytes.
	SourceCodeHash string
}

// CacheDirName is the directory under the user cache directory
// (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on
// macOS) that holds the hook zips. Nothing is written into the source tree,
// so tests leave the checkout clean and `go test` can cache their results.
const CacheDirName = "tenant-canary"

// HookDir is where the zips of the hooks built from sourceDir go:
// <user cache dir>/tenant-canary/hooks/<first 16 hex digits of the SHA-256 of
// sourceDir's absolute path>, so each checkout has its own directory and
// holds only its current zips. Without a user cache directory (no $HOME) it
// falls back to the system temporary directory. The directory can be
// deleted at any time: every program run rebuilds what it needs.
func HookDir(sourceDir string) (string, error) {
	dir, err := filepath.Abs(sourceDir)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(base, CacheDirName, "hooks", hex.EncodeToString(sum[:8])), nil
}

// Hook builds ./lambda/<hook> in sourceDir for Lambda and zips it into
// HookDir(sourceDir)/<hook>-<first 16 hex digits of the zip's SHA-256>.zip,
// with one entry, bootstrap, mode 0755. The name is the content: a zip that
// is already there is not written again (its modification time stays, which
// keeps `go test`'s cache valid), and older zips of the same hook in that
// directory are removed. It is not cached; see Cache.
func Hook(ctx context.Context, sourceDir, hook string) (Artifact, error) {
	if sourceDir == "" {
		sourceDir = "."
	}
	dir, err := filepath.Abs(sourceDir)
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	pkg := "./lambda/" + hook
	if _, err := os.Stat(filepath.Join(dir, "lambda", hook)); err != nil {
		return Artifact{}, fmt.Errorf("hook %s: no sources at %s: %w", hook, filepath.Join(dir, "lambda", hook), err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: the Go toolchain is needed to build the hook functions: %w", hook, err)
	}
	tmp, err := os.MkdirTemp("", "hook-"+hook+"-")
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, Executable)
	cmd := exec.CommandContext(ctx, goTool, BuildArgs(bin, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+GOOS, "GOARCH="+GOARCH)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return Artifact{}, fmt.Errorf("hook %s: go build %s: %w\n%s", hook, pkg, err, strings.TrimSpace(stderr.String()))
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	archive, err := Zip([]File{{Name: Executable, Data: exe, Mode: 0o755}})
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	outDir, err := HookDir(dir)
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	sum := sha256.Sum256(archive)
	out := filepath.Join(outDir, hook+"-"+hex.EncodeToString(sum[:8])+".zip")
	if info, err := os.Stat(out); err != nil || info.Size() != int64(len(archive)) {
		if err := writeFileAtomic(out, archive); err != nil {
			return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
		}
	}
	removeOlder(outDir, hook, filepath.Base(out))
	return Artifact{Path: out, SourceCodeHash: SourceCodeHash(archive)}, nil
}

// removeOlder deletes the other zips of hook in dir, left by builds of
// earlier sources of the same checkout. Failures are ignored: a stale zip
// only costs disk space.
func removeOlder(dir, hook, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, hook+"-*.zip"))
	for _, p := range old {
		if filepath.Base(p) != keep {
			os.Remove(p)
		}
	}
}

// writeFileAtomic writes b to path through a temporary file and a rename, so
// a concurrent reader never sees half a zip.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Cache builds each (source directory, hook) once per process: a Pulumi
// program run registers each function once, but tests run the program many
// times and three cold arm64 builds cost minutes.
type Cache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	once     sync.Once
	artifact Artifact
	err      error
}

// Default is the process-wide cache components/pipeline uses.
var Default = &Cache{}

// Hook is Hook, run at most once per source directory and hook name.
func (c *Cache) Hook(ctx context.Context, sourceDir, hook string) (Artifact, error) {
	dir, err := filepath.Abs(sourceDir)
	if err != nil {
		return Artifact{}, fmt.Errorf("hook %s: %w", hook, err)
	}
	key := dir + "\x00" + hook
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*cacheEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.artifact, e.err = Hook(ctx, dir, hook) })
	return e.artifact, e.err
}
