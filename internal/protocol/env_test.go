package protocol

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/lambda/rollout"
)

// The model's function environment is tied to the one definition of it,
// rollout.ConfigFromEnv (which components/pipeline's tests also hold the
// program's environment to): every function accepts it, and each variable
// in it is one some function needs (removing any makes some function
// refuse to start), so it cannot drift into a hand copy with extras.
func TestModelledEnvironmentIsExactlyWhatTheFunctionsRead(t *testing.T) {
	for _, onReject := range []string{contract.OnRejectRollback, contract.OnRejectHold} {
		env := hookEnv(onReject)
		lookup := func(env map[string]string) func(string) (string, bool) {
			return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		}
		for _, hook := range []contract.Hook{contract.HookPin, contract.HookUnpin, contract.HookCleanup, contract.HookRollback} {
			_, err := rollout.ConfigFromEnv(lookup(env), hook)
			require.NoError(t, err, "%s with onReject=%s", hook, onReject)
		}
		for _, key := range slices.Sorted(maps.Keys(env)) {
			without := maps.Clone(env)
			delete(without, key)
			refused := false
			for _, hook := range []contract.Hook{contract.HookPin, contract.HookUnpin, contract.HookCleanup, contract.HookRollback} {
				if _, err := rollout.ConfigFromEnv(lookup(without), hook); err != nil {
					assert.Contains(t, err.Error(), key)
					refused = true
				}
			}
			assert.True(t, refused, "%s is set by the model but no function needs it", key)
		}
	}
}
