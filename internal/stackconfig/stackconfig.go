// Package stackconfig reads a stack's config offline the way `pulumi up`
// hands it to the program: Pulumi.yaml and Pulumi.<stack>.yaml loaded with
// the Pulumi SDK's own workspace loaders, the stack's values over the
// project's declared defaults. The program's tests and `tenant-canary
// check` both read stacks through it.
package stackconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	pconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// Stack is one stack's config as the program sees it.
type Stack struct {
	Name string
	File string
	// Values maps "namespace:key" to the value's text (objects and lists
	// as JSON), the project's defaults filled in.
	Values map[string]string
	// Undeclared are the keys of the project's namespace the stack sets
	// but Pulumi.yaml does not declare; the Pulumi CLI refuses them.
	Undeclared []string
}

// ErrNoProject: dir has no Pulumi.yaml.
var ErrNoProject = errors.New("no Pulumi.yaml")

// Names are the stacks with a Pulumi.<stack>.yaml in dir, sorted.
func Names(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	sort.Strings(names)
	return names, nil
}

// Load reads stack name of the project in dir. A missing stack file is an
// os.ErrNotExist error.
func Load(dir, name string) (*Stack, error) {
	projectFile := filepath.Join(dir, "Pulumi.yaml")
	if _, err := os.Stat(projectFile); err != nil {
		return nil, fmt.Errorf("%s: %w", projectFile, ErrNoProject)
	}
	project, err := workspace.LoadProject(projectFile)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "Pulumi."+name+".yaml")
	if _, err := os.Stat(file); err != nil {
		return nil, err
	}
	sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
	stack, err := workspace.LoadProjectStack(sink, project, file)
	if err != nil {
		return nil, err
	}
	s := &Stack{Name: name, File: file, Values: map[string]string{}}
	namespace := string(project.Name)
	for key, decl := range project.Config {
		if decl.Default == nil {
			continue
		}
		text, err := valueText(decl.Default)
		if err != nil {
			return nil, fmt.Errorf("Pulumi.yaml: default of %s: %w", key, err)
		}
		s.Values[namespace+":"+key] = text
	}
	// Secure values stay encrypted: offline there is no key to open them.
	decrypted, err := stack.Config.Decrypt(pconfig.NopDecrypter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for k, v := range decrypted {
		if k.Namespace() == namespace {
			if _, declared := project.Config[k.Name()]; !declared {
				s.Undeclared = append(s.Undeclared, k.String())
			}
		}
		s.Values[k.String()] = v
	}
	sort.Strings(s.Undeclared)
	return s, nil
}

// Lookup looks a key of namespace up, as components/config.Load wants.
func (s *Stack) Lookup(namespace string) func(key string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := s.Values[namespace+":"+key]
		return v, ok
	}
}

func valueText(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// Config validates the stack's tenant-canary config as the program does
// (components/config.Load) and adds a problem for each key Pulumi.yaml does
// not declare: every problem at once, as config.Problems. `tenant-canary
// check` and `go run . declare` both report what it finds.
func (s *Stack) Config() (config.Config, error) {
	var problems config.Problems
	for _, key := range s.Undeclared {
		problems = append(problems, config.Problem{Key: strings.TrimPrefix(key, config.Namespace+":"), Value: "(set)",
			Allowed: "a key Pulumi.yaml declares: " + strings.Join(config.Keys, ", ")})
	}
	cfg, err := config.Load(s.Lookup(config.Namespace))
	var ps config.Problems
	switch {
	case errors.As(err, &ps):
		problems = append(problems, ps...)
	case err != nil:
		return config.Config{}, err
	}
	if len(problems) > 0 {
		return config.Config{}, problems
	}
	return cfg, nil
}
