package protocol

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
)

// A declared stack the model cannot read is refused with an error that
// names what is wrong, never modelled with a part missing.
func TestReadStackNamesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack string
		spoil func(d *declared.Stack)
		want  []string
	}{
		{"no production listener", "tenants-1", func(d *declared.Stack) {
			d.LoadBalancer.Listeners = d.LoadBalancer.Listeners[1:]
		}, []string{"no production listener"}},
		{"a rule's priority", "tenants-1", func(d *declared.Stack) {
			d.Production().Rules[0].Rule.Priority = aws.String("first")
		}, []string{"priority", `"first"`}},
		{"a pair index", "tenants-1", func(d *declared.Stack) { d.TargetGroups[1].PairIndex = 2 }, []string{"pair index 2"}},
		{"no cluster", "tenants-1", func(d *declared.Stack) { d.ECS.ClusterName = "" }, []string{"names no cluster"}},
		{"no stable service", "tenants-1", func(d *declared.Stack) { d.ECS.Services = d.ECS.Services[:1] }, []string{"names no stable service"}},
		{"no pin function", "tenants-1", func(d *declared.Stack) {
			d.Function(contract.HookPin).Hook = "spare"
		}, []string{"no pin function"}},
		{"onReject", "tenants-1", func(d *declared.Stack) {
			d.Function(contract.HookRollback).Environment[contract.EnvOnReject] = "ignore"
		}, []string{contract.EnvOnReject, `"ignore"`}},
		{"smoke checks", "smoke-1", func(d *declared.Stack) {
			d.Function(contract.HookSmoke).Environment[contract.EnvSmokeChecks] = "{"
		}, []string{"smoke hook", contract.EnvSmokeChecks}},
		{"an alarm the stack does not declare", "tenants-1", func(d *declared.Stack) {
			d.Alarms = d.Alarms[1:]
		}, []string{"names alarm", "does not declare"}},
		{"no termination wait", "tenants-1", func(d *declared.Stack) {
			d.CodeDeploy.Groups[0].Group.BlueGreenDeploymentConfiguration = nil
		}, []string{"declares no termination"}},
	} {
		d, err := LoadStack(filepath.Join("testdata", "stacks", tc.stack+".json"))
		require.NoError(t, err)
		tc.spoil(d)
		_, err = readStack(d)
		require.Error(t, err, tc.name)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w, tc.name)
		}
	}
	_, err := readStack(nil)
	assert.ErrorContains(t, err, "no declared stack")
}
