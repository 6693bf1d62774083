package appspec_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tenant-canary/tenant-canary/appspec"
)

// With the smoke test on, both stages run the smoke hook at
// AfterAllowTestTraffic, in CodeDeploy's order of ECS lifecycle events
// (BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic,
// AfterAllowTraffic); without it the files are byte for byte what they were.
func TestSmokeHookRunsAfterTestTrafficInBothStages(t *testing.T) {
	v := sampleValues()
	v.SmokeFunctionName = "tc-dev-smoke"
	files, err := appspec.Render(v)
	require.NoError(t, err)
	for file, want := range map[string][]map[string]string{
		appspec.FileAppSpecLatest: {{appspec.EventPin: "tc-dev-pin"}, {appspec.EventSmoke: "tc-dev-smoke"}},
		appspec.FileAppSpecStable: {{appspec.EventSmoke: "tc-dev-smoke"}, {appspec.EventUnpin: "tc-dev-unpin"}},
	} {
		var spec appSpec
		require.NoError(t, yaml.Unmarshal(files[file], &spec), string(files[file]))
		assert.Equal(t, want, spec.Hooks, file)
	}

	off, err := appspec.Render(sampleValues())
	require.NoError(t, err)
	for _, file := range []string{appspec.FileAppSpecLatest, appspec.FileAppSpecStable} {
		assert.NotContains(t, string(off[file]), "tc-dev-smoke")
		assert.NotContains(t, string(off[file]), "\n  - "+appspec.EventSmoke)
		assert.True(t, strings.HasSuffix(string(off[file]), "\n"), file)
	}
}
