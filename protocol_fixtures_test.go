package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Regenerate the model's declared stacks after changing the program:
//
//go:generate go test -run TestProtocolFixturesAreWhatTheProgramDeclares -update-protocol-fixtures .
var updateProtocolFixtures = flag.Bool("update-protocol-fixtures", false,
	"rewrite internal/protocol/testdata/stacks from what the program declares now")

// protocolFixtures are the stacks internal/protocol's scenarios are built
// from: stack name → the config keys its Pulumi.<stack>.yaml sets (JSON is
// YAML). Each file is `go run . declare --stack NAME` of that stack file.
var protocolFixtures = map[string]map[string]string{
	"tenants-0": {"aws:region": "us-east-1", "pinnedTenants": `[]`},
	"tenants-1": {"aws:region": "us-east-1", "pinnedTenants": `["t0"]`},
	"tenants-2": {"aws:region": "us-east-1", "pinnedTenants": `["t0","t1"]`},
	"linear": {"aws:region": "us-east-1", "pinnedTenants": `["t0"]`,
		"traffic": `{"type":"linear","percentage":10,"intervalMinutes":1}`},
	"all-at-once": {"aws:region": "us-east-1", "pinnedTenants": `["t0"]`, "traffic": `{"type":"all-at-once"}`},
	"hold": {"aws:region": "us-east-1", "pinnedTenants": `["t0"]`,
		"approval": `{"required":true,"onReject":"hold"}`},
	// smokeTest on: the smoke function and its checks.
	"smoke-0": {"aws:region": "us-east-1", "pinnedTenants": `[]`, "smokeTest": `{"enabled":true,"paths":["/healthz"]}`},
	"smoke-1": {"aws:region": "us-east-1", "pinnedTenants": `["t0"]`, "smokeTest": `{"enabled":true,"paths":["/healthz"]}`},
}

// The declared stacks internal/protocol builds its worlds from are what
// the program declares now, byte for byte: a change to the program that
// changes a name, a priority, a deployment config or a function's
// environment fails here until the fixtures are regenerate (go generate).
func TestProtocolFixturesAreWhatTheProgramDeclares(t *testing.T) {
	dir := filepath.Join("internal", "protocol", "testdata", "stacks")
	for name, cfg := range protocolFixtures {
		t.Run(name, func(t *testing.T) {
			decl, err := declareStack(projectWith(t, name, cfg), name)
			require.NoError(t, err)
			out, err := json.MarshalIndent(decl, "", "  ")
			require.NoError(t, err)
			out = append(out, '\n')
			path := filepath.Join(dir, name+".json")
			if *updateProtocolFixtures {
				require.NoError(t, os.WriteFile(path, out, 0o644))
				return
			}
			have, err := os.ReadFile(path)
			require.NoError(t, err, "regenerate with: go generate ./protocol_fixtures_test.go")
			require.True(t, bytes.Equal(have, out),
				"%s differs from what the program declares for %v; regenerate with: go generate ./protocol_fixtures_test.go", path, cfg)
		})
	}
}
