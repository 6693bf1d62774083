package sampleapp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/badversion"
)

func TestBuildRunGetVersionAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cache := t.TempDir()
	b := Builder{SourceDir: "../..", CacheDir: cache}
	bin, err := b.Build(ctx, Version{Name: "v7", Color: "green"})
	require.NoError(t, err)
	assert.Equal(t, cache, filepath.Dir(bin), "built into the cache, not the checkout")
	again, err := b.Build(ctx, Version{Name: "v7", Color: "green"})
	require.NoError(t, err)
	assert.Equal(t, bin, again, "the same version is built once")
	recoloured, err := b.Build(ctx, Version{Name: "v7", Color: "teal"})
	require.NoError(t, err)
	assert.NotEqual(t, bin, recoloured)
	assert.NoFileExists(t, bin, "an earlier build of the same version is dropped from the cache")
	bin, err = b.Build(ctx, Version{Name: "v7", Color: "green"})
	require.NoError(t, err)

	task, err := Start(ctx, bin, 0, map[string]string{"TENANT_MATCH": "path", "TENANT_PATH_PATTERN": "/t/{tenant}"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(task.Addr, "127.0.0.1:"), task.Addr)

	resp, err := http.Get("http://" + task.Addr + "/t/acme/version")
	require.NoError(t, err)
	_ = resp.Body.Close()
	resp, err = http.Get("http://" + task.Addr + "/version")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	assert.Equal(t, "v7", resp.Header.Get("X-App-Version"))
	var got struct{ Version, Color, TenantMatch string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, "v7", got.Version)
	assert.Equal(t, "green", got.Color)
	assert.Equal(t, "path /t/{tenant}", got.TenantMatch, "the task got the service's environment")

	require.NoError(t, task.Stop(10*time.Second), "SIGTERM stops it cleanly")
	_, err = http.Get("http://" + task.Addr + "/version")
	assert.Error(t, err, "nothing listens after Stop")
}

// The bad spec reaches the binary: the -X names match the app's variables.
func TestABadBuildMisbehavesAsAsked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec, err := badversion.Parse("5xx=100%,health")
	require.NoError(t, err)
	bin, err := Builder{SourceDir: "../..", CacheDir: t.TempDir()}.Build(ctx, Version{Name: "v8", Color: "red", Bad: spec})
	require.NoError(t, err)
	var logs strings.Builder
	task, err := Start(ctx, bin, 0, map[string]string{"HEALTH_CHECK_PATH": "/ready"}, &logs)
	require.NoError(t, err)
	defer func() { _ = task.Stop(10 * time.Second) }()

	for path, want := range map[string]int{"/app/7": 500, "/ready": 503} {
		resp, err := http.Get("http://" + task.Addr + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
		assert.Equal(t, "v8", resp.Header.Get("X-App-Version"))
	}
	require.NoError(t, task.Stop(10*time.Second))
	assert.Contains(t, logs.String(), `"bad":"5xx=100%,health"`, "the app says at start how it was built")
}

func TestARefusingBuildRunsButRefusesConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := Builder{SourceDir: "../..", CacheDir: t.TempDir()}.Build(ctx, Version{Name: "v10", Color: "gray", Bad: badversion.Spec{Refuse: true}})
	require.NoError(t, err)
	task, err := Start(ctx, bin, 0, nil, io.Discard)
	require.NoError(t, err)
	_, err = http.Get("http://" + task.Addr + "/healthz")
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "want the connection refused, got %v", err)
	require.NoError(t, task.Stop(10*time.Second), "it still stops cleanly on SIGTERM")
}

func TestBadVersionValuesAreRejectedBeforeBuilding(t *testing.T) {
	for _, v := range []Version{{Name: "v 2", Color: "green"}, {Name: "", Color: "green"}, {Name: "v2", Color: "light green"}, {Name: "v2", Color: "#12"}} {
		_, err := Builder{SourceDir: "../..", CacheDir: t.TempDir()}.Build(context.Background(), v)
		require.Error(t, err, "%+v", v)
	}
	_, err := Builder{SourceDir: t.TempDir(), CacheDir: t.TempDir()}.Build(context.Background(), Version{Name: "v2", Color: "green"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "images/app")
}

func TestStartSaysWhenTheAppExitsBeforeListening(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := Builder{SourceDir: "../..", CacheDir: t.TempDir()}.Build(ctx, Version{Name: "v9", Color: "blue"})
	require.NoError(t, err)
	_, err = Start(ctx, bin, 0, map[string]string{"TENANT_MATCH": "cookie"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before listening")
	assert.Contains(t, err.Error(), `TENANT_MATCH \"cookie\"`, "the app's own reason is in the error")
	_ = os.Remove(bin)
}
