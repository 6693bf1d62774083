package main

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// The program exports exactly the outputs of contract.StackOutputs, the
// one type the operator CLI, the watcher and the fake AWS stack read: an
// output renamed or added here without the contract (or the reverse)
// fails this test.
func TestExportsAreTheOutputsContract(t *testing.T) {
	cfg, _ := json.Marshal(map[string]string{"aws:region": "eu-west-1"})
	t.Setenv(pulumi.EnvConfig, string(cfg))
	var exported []string
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		err := run(ctx)
		exported = slices.Sorted(maps.Keys(ctx.GetCurrentExportMap()))
		return err
	}, pulumi.WithMocks(config.Namespace, "dev", &mocks{}))
	require.NoError(t, err)

	var contracted []string
	typ := reflect.TypeOf(contract.StackOutputs{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		contracted = append(contracted, name)
	}
	slices.Sort(contracted)
	assert.Equal(t, contracted, exported)
}

// `go run .` without the engine says what the program is and how to check
// a stack offline, instead of exiting 32 without a word.
func TestRunWithoutTheEngineSaysWhatToDo(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	hint, ok := withoutEngine(env(nil))
	assert.True(t, ok)
	assert.Contains(t, hint, "pulumi up")
	assert.Contains(t, hint, "go run ./cmd/tenant-canary check --stack dev")
	_, ok = withoutEngine(env(map[string]string{pulumi.EnvMonitor: "127.0.0.1:4000"}))
	assert.False(t, ok, "under the engine the program runs")
	_, ok = withoutEngine(env(map[string]string{"PULUMI_PLUGINS": "true"}))
	assert.False(t, ok, "the engine asking for plugins")
}
