package outputs

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakePulumi struct {
	json string
	err  error
	runs int
}

func (f *fakePulumi) Outputs(context.Context, string) ([]byte, error) {
	f.runs++
	return []byte(f.json), f.err
}

func settings(t *testing.T, args ...string) Settings {
	t.Helper()
	var s Settings
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.Register(fs)
	require.NoError(t, fs.Parse(args))
	return s
}

func TestPulumisComplaintsBecomeStackProblems(t *testing.T) {
	args := []string{"stack", "output", "--json", "--stack", "nosuch"}
	err := pulumiError("nosuch", args, "error: no stack named 'nosuch' found\n", errors.New("exit status 255"))
	assert.Equal(t, &NoSuchStackError{"nosuch"}, err)
	assert.True(t, IsStackProblem(err))
	assert.Equal(t, ErrNoStack, pulumiError("", args, "error: no stack selected; please use `pulumi stack select`", errors.New("exit status 255")))
	// Anything else is pulumi's last line, not a stack problem.
	err = pulumiError("", args, "warning: x\nerror: failed to decrypt", errors.New("exit status 255"))
	assert.Equal(t, "pulumi stack output --json --stack nosuch: error: failed to decrypt", err.Error())
	assert.False(t, IsStackProblem(err))
}

func TestFlagsOverAFileOverPulumi(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "outputs.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"pipelineName": "from-file", "tenantRuleArns": ["a"], "hookFunctionNames": {"pin": "p"}}`), 0o644))
	p := &fakePulumi{json: `{"pipelineName": "from-pulumi"}`}

	r, err := Load(context.Background(), settings(t, "--stack", "dev"), p)
	require.NoError(t, err)
	assert.Equal(t, "from-pulumi", r.PipelineName)
	assert.Equal(t, "stack dev", r.From)

	r, err = Load(context.Background(), settings(t, "--outputs", file, "--output", "tenantRuleArns=x, y", "--output", "hookFunctionNames.rollback=rb"), p)
	require.NoError(t, err)
	assert.Equal(t, "from-file", r.PipelineName)
	assert.Equal(t, []string{"x", "y"}, r.TenantRuleArns)
	assert.Equal(t, map[string]string{"pin": "p", "rollback": "rb"}, r.HookFunctionNames)
	assert.Equal(t, 1, p.runs, "a file means no pulumi")

	r, err = Load(context.Background(), settings(t, "--output", "pipelineName=from-flag"), p)
	require.NoError(t, err)
	assert.Equal(t, "from-flag", r.PipelineName)
	assert.Equal(t, 1, p.runs, "flags alone mean no pulumi")
	err = r.Require("pipelineName", "clusterName")
	assert.Equal(t, "the --output flags has no output clusterName: pass --output NAME=VALUE for it, or --outputs FILE", err.Error())
	assert.True(t, IsStackProblem(err))
}

func TestBadOutputsSayWhatIsWrong(t *testing.T) {
	_, err := Load(context.Background(), settings(t), &fakePulumi{json: `{}`})
	assert.Equal(t, "the selected stack has no outputs: it was never deployed: run `pulumi up` first", err.Error())

	file := filepath.Join(t.TempDir(), "outputs.json")
	require.NoError(t, os.WriteFile(file, []byte(`Current stack outputs (2):`), 0o644))
	_, err = Load(context.Background(), settings(t, "--outputs", file), nil)
	assert.True(t, IsStackProblem(err))
	assert.Contains(t, err.Error(), "not the JSON of `pulumi stack output --json`")

	var s Settings
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.Register(fs)
	for arg, want := range map[string]string{
		"pipelinename=x":      "no output pipelinename; outputs are albUrl,",
		"pipelineName":        "want NAME=VALUE",
		"hookFunctionNames=x": "hookFunctionNames is a map; set one entry, e.g. hookFunctionNames.rollback=NAME",
		"pipelineName.x=y":    "pipelineName has no entries",
		"targetGroups=[]":     "targetGroups cannot be set by a flag; use --outputs FILE",
	} {
		err := fs.Parse([]string{"--output", arg})
		require.Error(t, err, arg)
		assert.Contains(t, err.Error(), want, arg)
	}
}
