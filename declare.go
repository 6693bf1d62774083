package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/contract"
	"github.com/tenant-canary/tenant-canary/internal/declared"
	"github.com/tenant-canary/tenant-canary/internal/outputs"
	"github.com/tenant-canary/tenant-canary/internal/stackconfig"
)

// `go run . declare --stack NAME [--dir DIR]` evaluates the stack's real
// program (run, with Pulumi.yaml's defaults under Pulumi.<stack>.yaml's
// values, as `pulumi up` hands them over) under the Pulumi SDK's mocks
// (mocks.go), with no Pulumi CLI and no AWS, and writes what it declares
// as the JSON of internal/declared.Stack on stdout: one document, indented,
// ending in a newline; the same stack and sources give the same bytes.
// Errors go to stderr and nothing to stdout. Exit codes are those of
// `tenant-canary check`: 0 declared, 2 usage, 4 no Pulumi.yaml or no such
// stack file, 10 invalid config, 1 anything else.
//
// The program's own entry point (main) takes this path only when it runs
// without the Pulumi engine: the engine starts the program with
// PULUMI_MONITOR set, so under `pulumi preview` or `pulumi up` the program
// always runs for real, whatever its arguments.

// Exit codes of declare, as cmd/tenant-canary's check uses them.
const (
	exitDeclareError   = 1
	exitDeclareUsage   = 2
	exitDeclareStack   = outputs.ExitStack
	exitDeclareInvalid = 10
)

// declareError is an error with its exit code.
type declareError struct {
	code int
	msg  string
}

func (e *declareError) Error() string { return e.msg }

// declareMain is the declare command: args are what follows "declare".
func declareMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("declare", flag.ContinueOnError)
	flags.SetOutput(stderr)
	stack := flags.String("stack", "", "the stack to declare, Pulumi.<stack>.yaml (required)")
	dir := flags.String("dir", ".", "the project's directory, where Pulumi.yaml and lambda/ are")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run . declare --stack NAME [--dir DIR] > declared.json")
		fmt.Fprintln(stderr, "Evaluates the stack's program under the Pulumi SDK's mocks (no Pulumi CLI, no AWS) and writes what it declares as JSON.")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return exitDeclareUsage
	}
	if *stack == "" || flags.NArg() > 0 {
		flags.Usage()
		return exitDeclareUsage
	}
	// The program resolves ./lambda from its working directory, as Pulumi
	// runs it in the project's directory.
	if err := os.Chdir(*dir); err != nil {
		fmt.Fprintf(stderr, "declare: --dir: %v\n", err)
		return exitDeclareStack
	}
	decl, err := declareStack(".", *stack)
	if err == nil {
		var out []byte
		if out, err = json.MarshalIndent(decl, "", "  "); err == nil {
			_, err = stdout.Write(append(out, '\n'))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "declare: %v\n", err)
		var de *declareError
		if errors.As(err, &de) {
			return de.code
		}
		return exitDeclareError
	}
	return 0
}

// declareStack loads stack name of the project in dir and declares it.
// Bad config is reported as `tenant-canary check` reports it, one line per
// problem naming key, value and what is allowed, before the program runs.
func declareStack(dir, name string) (*declared.Stack, error) {
	available, err := stackconfig.Names(dir)
	if err != nil {
		return nil, err
	}
	s, err := stackconfig.Load(dir, name)
	switch {
	case errors.Is(err, stackconfig.ErrNoProject):
		return nil, &declareError{exitDeclareStack, fmt.Sprintf("%v: run declare in the project's directory or pass --dir", err)}
	case errors.Is(err, fs.ErrNotExist):
		list := "none"
		if len(available) > 0 {
			list = strings.Join(available, ", ")
		}
		return nil, &declareError{exitDeclareStack, fmt.Sprintf("no Pulumi.%s.yaml in %s; stacks with a file: %s", name, dir, list)}
	case err != nil:
		return nil, &declareError{exitDeclareInvalid, err.Error()}
	}
	var problems config.Problems
	if _, err := s.Config(); err != nil && !errors.As(err, &problems) {
		return nil, err
	}
	if len(problems) > 0 {
		lines := []string{fmt.Sprintf("Pulumi.%s.yaml: INVALID, %d problem(s); nothing declared", name, len(problems))}
		for _, p := range problems {
			lines = append(lines, "  error: "+p.String())
		}
		return nil, &declareError{exitDeclareInvalid, strings.Join(lines, "\n")}
	}
	return declareValues(config.Namespace, name, s.Values)
}

// declareValues runs the real program under the mock with the stack's
// config values ("namespace:key" → text, defaults applied) and builds the
// declaration from what it registered and exported.
func declareValues(project, stack string, values map[string]string) (*declared.Stack, error) {
	cfg, err := config.Load(func(key string) (string, bool) {
		v, ok := values[config.Namespace+":"+key]
		return v, ok
	})
	if err != nil {
		return nil, &declareError{exitDeclareInvalid, err.Error()}
	}
	m := &mocks{region: values["aws:region"], project: project, stack: stack}
	var (
		mu       sync.Mutex
		resolved map[string]any
	)
	withConfig := func(info *pulumi.RunInfo) { info.Config = maps.Clone(values) }
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		if err := run(ctx); err != nil {
			return err
		}
		exports := ctx.GetCurrentExportMap()
		keys := slices.Sorted(maps.Keys(exports))
		ins := make([]any, len(keys))
		for i, k := range keys {
			ins[i] = exports[k]
		}
		pulumi.All(ins...).ApplyT(func(vals []any) error {
			mu.Lock()
			defer mu.Unlock()
			resolved = map[string]any{}
			for i, k := range keys {
				resolved[k] = vals[i]
			}
			return nil
		})
		return nil
	}, withConfig, pulumi.WithMocks(project, stack, m))
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if resolved == nil {
		return nil, fmt.Errorf("the program's stack outputs never resolved")
	}
	raw, err := json.Marshal(resolved)
	if err != nil {
		return nil, fmt.Errorf("stack outputs: %w", err)
	}
	// Exactly the outputs of the contract: an extra one fails the decode
	// below, a missing one here.
	typ := reflect.TypeOf(contract.StackOutputs{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if _, ok := resolved[name]; !ok {
			return nil, fmt.Errorf("the program exports no %s, an output of contract.StackOutputs", name)
		}
	}
	var outs contract.StackOutputs
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(&outs); err != nil {
		return nil, fmt.Errorf("stack outputs are not contract.StackOutputs: %w", err)
	}

	m.mu.Lock()
	resources := make([]declared.Resource, 0, len(m.resources))
	for _, r := range m.resources {
		resources = append(resources, declared.Resource{Type: r.Type, Name: r.Name, Inputs: r.Inputs.Mappable(), Outputs: r.Outputs.Mappable()})
	}
	m.mu.Unlock()
	return declared.Build(declared.Input{
		Project: project, Stack: stack, Region: m.awsRegion(), Account: MockAccount,
		Resources: resources, Outputs: outs, TenantMatch: cfg.TenantMatch,
	})
}
