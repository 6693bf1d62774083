package watch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/outputs"
)

// fakePulumi answers like `pulumi stack output --json`.
type fakePulumi struct {
	json  string
	err   error
	asked []string
}

func (f *fakePulumi) Outputs(_ context.Context, stack string) ([]byte, error) {
	f.asked = append(f.asked, stack)
	return []byte(f.json), f.err
}

func TestURLAndPinnedTenantsComeFromTheStackWhenNotGiven(t *testing.T) {
	stack := &fakePulumi{json: `{"albUrl": "http://tenant-canary-dev-1.eu-west-1.elb.amazonaws.com\n", "pinnedTenants": ["123","acme"]}`}
	o, err := parseOptions([]string{"-stack", "dev", "-tenants", "7,42"}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(context.Background(), stack, io.Discard, "watch"))
	assert.Equal(t, "http://tenant-canary-dev-1.eu-west-1.elb.amazonaws.com", o.url)
	assert.Equal(t, []string{"123", "acme"}, o.pinned)
	assert.Equal(t, []string{"dev"}, stack.asked)

	p, err := o.plan()
	require.NoError(t, err)
	assert.Equal(t, []target{{tenant: "123", pinned: true}, {tenant: "acme", pinned: true}, {tenant: "7"}, {tenant: "42"}, {}}, p.targets)
}

func TestURLAndPinnedTenantsComeFromAnOutputsFileWithoutPulumi(t *testing.T) {
	file := filepath.Join(t.TempDir(), "outputs.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"albUrl": "http://alb.example", "pinnedTenants": ["acme"]}`), 0o644))
	stack := &fakePulumi{err: errors.New("pulumi must not run")}
	o, err := parseOptions([]string{"-outputs", file}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(context.Background(), stack, io.Discard, "watch"))
	assert.Equal(t, "http://alb.example", o.url)
	assert.Equal(t, []string{"acme"}, o.pinned)
	assert.Empty(t, stack.asked)
}

func TestFlagsWinOverTheStack(t *testing.T) {
	stack := &fakePulumi{}
	o, err := parseOptions([]string{"-url", "http://alb", "-pinned", ""}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(context.Background(), stack, io.Discard, "watch"))
	assert.Empty(t, stack.asked, "an explicit -pinned, even empty, means: do not ask the stack")
	assert.Empty(t, o.pinned)
}

func TestMissingPinnedOutputIsAWarningNotAFailure(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseOptions([]string{"-url", "http://alb"}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(context.Background(), &fakePulumi{err: outputs.ErrPulumiMissing}, &stderr, "watch"))
	assert.Contains(t, stderr.String(), "pinnedTenants")
	assert.Contains(t, stderr.String(), "-pinned")
}

// Without a URL, the stack's problem is the command's: exit 4 and the
// words every tenant-canary command uses.
func TestNoURLAndNoStackIsAStackProblem(t *testing.T) {
	for _, tt := range []struct {
		pulumi *fakePulumi
		line   string
	}{
		{&fakePulumi{err: outputs.ErrPulumiMissing}, "watch: " + outputs.ErrPulumiMissing.Error() + "\n"},
		{&fakePulumi{err: outputs.ErrNoStack}, "watch: no stack selected: run `pulumi stack select <name>` or pass --stack\n"},
		{&fakePulumi{json: `{"clusterName": "c"}`}, "watch: the selected stack has no output albUrl: run `pulumi up` first\n"},
	} {
		var stderr bytes.Buffer
		code := watch("watch", nil, io.Discard, &stderr, false, tt.pulumi)
		assert.Equal(t, outputs.ExitStack, code)
		assert.Equal(t, tt.line, stderr.String())
	}
}

func TestEveryBadOptionIsReported(t *testing.T) {
	o, err := parseOptions([]string{"-url", "ftp://alb", "-rate", "500", "-timeout", "0s", "-window", "10ms",
		"-match", "header", "-header", "", "-tenants", "a/b"}, io.Discard)
	require.NoError(t, err)
	_, err = o.plan()
	require.Error(t, err)
	for _, want := range []string{"scheme must be http or https", "-rate 500", "-timeout 0s", "-window 10ms", "-header", `tenant "a/b"`} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestDefaultsAreSaneForProduction(t *testing.T) {
	o, err := parseOptions([]string{"-url", "http://alb"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10.0, o.rate)
	assert.Equal(t, "5s", o.timeout.String())
	assert.Equal(t, "1h0m0s", o.duration.String(), "a forgotten watcher stops by itself")
	assert.True(t, o.preflight)
	_, err = o.plan()
	assert.NoError(t, err)
}

func TestStrayArgumentsAreRejected(t *testing.T) {
	_, err := parseOptions([]string{"http://alb"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "all settings are flags")
}
