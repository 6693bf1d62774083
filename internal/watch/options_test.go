package watch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePulumi answers stack output requests from a map.
type fakePulumi struct {
	installed bool
	outputs   map[string]string
	asked     []string
}

func (f *fakePulumi) available() bool { return f.installed }

func (f *fakePulumi) output(stack, name string, asJSON bool) ([]byte, error) {
	f.asked = append(f.asked, fmt.Sprintf("%s %s json=%v", stack, name, asJSON))
	v, ok := f.outputs[name]
	if !ok {
		return nil, errors.New("current stack does not have output property " + name)
	}
	return []byte(v), nil
}

func TestURLAndPinnedTenantsComeFromTheStackWhenNotGiven(t *testing.T) {
	stack := &fakePulumi{installed: true, outputs: map[string]string{
		"albUrl":        "http://tenant-canary-dev-1.eu-west-1.elb.amazonaws.com\n",
		"pinnedTenants": `["123","acme"]`,
	}}
	o, err := parseOptions([]string{"-stack", "dev", "-tenants", "7,42"}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(stack, io.Discard))
	assert.Equal(t, "http://tenant-canary-dev-1.eu-west-1.elb.amazonaws.com", o.url)
	assert.Equal(t, []string{"123", "acme"}, o.pinned)
	assert.Equal(t, []string{"dev albUrl json=false", "dev pinnedTenants json=true"}, stack.asked)

	p, err := o.plan()
	require.NoError(t, err)
	assert.Equal(t, []target{{tenant: "123", pinned: true}, {tenant: "acme", pinned: true}, {tenant: "7"}, {tenant: "42"}, {}}, p.targets)
}

func TestFlagsWinOverTheStack(t *testing.T) {
	stack := &fakePulumi{installed: true}
	o, err := parseOptions([]string{"-url", "http://alb", "-pinned", ""}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(stack, io.Discard))
	assert.Empty(t, stack.asked, "an explicit -pinned, even empty, means: do not ask the stack")
	assert.Empty(t, o.pinned)
}

func TestMissingPinnedOutputIsAWarningNotAFailure(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseOptions([]string{"-url", "http://alb"}, io.Discard)
	require.NoError(t, err)
	require.NoError(t, o.resolveFromStack(&fakePulumi{installed: true}, &stderr))
	assert.Contains(t, stderr.String(), "pinnedTenants")
	assert.Contains(t, stderr.String(), "-pinned")
}

func TestNoURLAndNoPulumiIsAClearError(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	require.NoError(t, err)
	err = o.resolveFromStack(&fakePulumi{installed: false}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no -url given and the pulumi CLI is not on PATH")

	err = o.resolveFromStack(&fakePulumi{installed: true}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "albUrl")
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
