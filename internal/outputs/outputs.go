// Package outputs finds a deployed stack's outputs (contract.StackOutputs),
// the names and ARNs the operator commands need, from one of three places:
// `pulumi stack output --json` (the default), a file holding that command's
// output (--outputs FILE), or flags (--output NAME=VALUE, over either). So
// the Pulumi CLI and its state backend are optional for operating a rollout.
//
// Every command that reads outputs says why it cannot in the same words and
// exits with the same code, ExitStack.
package outputs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// ExitStack is the exit code of every command when the stack's outputs
// cannot be had: no stack selected, no such stack, never deployed, an
// output missing, no pulumi CLI, an unreadable outputs file.
const ExitStack = 4

// Stack problems with words of their own.
var (
	ErrPulumiMissing = errors.New("the pulumi CLI is not on PATH to read the stack's outputs: install it, or pass --outputs FILE (written by `pulumi stack output --json > FILE`)")
	ErrNoStack       = errors.New("no stack selected: run `pulumi stack select <name>` or pass --stack")
)

// NoSuchStackError: pulumi knows no stack of that name.
type NoSuchStackError struct{ Stack string }

func (e *NoSuchStackError) Error() string {
	return fmt.Sprintf("no stack named %q: `pulumi stack ls` lists this project's stacks", e.Stack)
}

// MissingError: the outputs were read but lack what the command needs.
type MissingError struct {
	From   string // "stack dev", "the selected stack", "outputs file out.json", "the --output flags"
	Detail string // "has no outputs: it was never deployed", "has no output pipelineName"
	Hint   string
}

func (e *MissingError) Error() string { return fmt.Sprintf("%s %s: %s", e.From, e.Detail, e.Hint) }

// FileError: the outputs file cannot be read or is not outputs JSON.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("outputs file %s: %v (write it with `pulumi stack output --json > %s`)", e.Path, e.Err, e.Path)
}
func (e *FileError) Unwrap() error { return e.Err }

// IsStackProblem reports whether err is one of the problems above: the
// caller exits with ExitStack and prints err as it is.
func IsStackProblem(err error) bool {
	var ns *NoSuchStackError
	var m *MissingError
	var f *FileError
	return errors.Is(err, ErrPulumiMissing) || errors.Is(err, ErrNoStack) || errors.As(err, &ns) || errors.As(err, &m) || errors.As(err, &f)
}

// Source prints a stack's outputs as `pulumi stack output --json` does.
type Source interface {
	Outputs(ctx context.Context, stack string) ([]byte, error)
}

// PulumiCLI runs `pulumi stack output --json [--stack NAME]`.
type PulumiCLI struct{}

// Outputs implements Source.
func (PulumiCLI) Outputs(ctx context.Context, stack string) ([]byte, error) {
	if _, err := exec.LookPath("pulumi"); err != nil {
		return nil, ErrPulumiMissing
	}
	args := []string{"stack", "output", "--json"}
	if stack != "" {
		args = append(args, "--stack", stack)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "pulumi", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, pulumiError(stack, args, stderr.String(), err)
	}
	return out, nil
}

// pulumiError turns pulumi's complaint into a stack problem where it is
// one: its words are "no stack selected" and "no stack named 'x' found".
func pulumiError(stack string, args []string, stderr string, err error) error {
	msg := strings.TrimSpace(stderr)
	switch {
	case strings.Contains(msg, "no stack selected"):
		return ErrNoStack
	case strings.Contains(msg, "no stack named"):
		return &NoSuchStackError{stack}
	}
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("pulumi %s: %s", strings.Join(args, " "), msg)
}

// Settings say where the outputs come from; Register adds their flags.
type Settings struct {
	Stack string
	File  string
	Set   Assignments
}

// Register adds --stack, --outputs and --output to fs.
func (s *Settings) Register(fs *flag.FlagSet) {
	fs.StringVar(&s.Stack, "stack", "", "Pulumi stack whose outputs to read (default: the selected one)")
	fs.StringVar(&s.File, "outputs", "", "read the stack's outputs from `FILE`, written by `pulumi stack output --json > FILE`; no pulumi CLI needed")
	fs.Var(&s.Set, "output", "`NAME=VALUE` sets one output over --outputs or pulumi, e.g. pipelineName=tc-dev-pipeline; repeatable; lists comma-separated; map entries as hookFunctionNames.rollback=NAME")
}

// Read are the outputs found, and where.
type Read struct {
	contract.StackOutputs
	// From names where they came from, in MissingError's words.
	From string
	// Stack is the --stack given ("" for the selected stack or none).
	Stack string
	hint  string
}

// Load reads the outputs as s says: the file, else pulumi unless every
// output came from flags (--output alone never runs pulumi).
func Load(ctx context.Context, s Settings, pulumi Source) (*Read, error) {
	r := &Read{Stack: s.Stack}
	var raw []byte
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, &FileError{s.File, errors.Unwrap(err)}
		}
		raw, r.From, r.hint = b, "outputs file "+s.File, "write it with `pulumi stack output --json` from a deployed stack, or pass --output NAME=VALUE"
	case len(s.Set) > 0:
		raw, r.From, r.hint = []byte("{}"), "the --output flags", "pass --output NAME=VALUE for it, or --outputs FILE"
	default:
		b, err := pulumi.Outputs(ctx, s.Stack)
		if err != nil {
			return nil, err
		}
		raw, r.hint = b, "run `pulumi up` first"
		r.From = "the selected stack"
		if s.Stack != "" {
			r.From = "stack " + s.Stack
		}
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		if s.File != "" {
			return nil, &FileError{s.File, fmt.Errorf("not the JSON of `pulumi stack output --json`: %w", err)}
		}
		return nil, fmt.Errorf("reading the stack outputs: %w", err)
	}
	if len(all) == 0 && len(s.Set) == 0 {
		return nil, &MissingError{r.From, "has no outputs: it was never deployed", r.hint}
	}
	for _, a := range s.Set {
		a.apply(all)
	}
	merged, _ := json.Marshal(all)
	if err := json.Unmarshal(merged, &r.StackOutputs); err != nil {
		if s.File != "" {
			return nil, &FileError{s.File, err}
		}
		return nil, fmt.Errorf("reading the stack outputs: %w", err)
	}
	return r, nil
}

// Require fails with a MissingError naming the first of names (output
// names; "hookFunctionNames.rollback" for a map entry) that is empty.
func (r *Read) Require(names ...string) error {
	b, _ := json.Marshal(r.StackOutputs)
	var all map[string]any
	_ = json.Unmarshal(b, &all)
	for _, name := range names {
		top, key, nested := strings.Cut(name, ".")
		v := all[top]
		if nested {
			m, _ := v.(map[string]any)
			v = m[key]
		}
		if v == nil || v == "" {
			return &MissingError{r.From, "has no output " + name, r.hint}
		}
	}
	return nil
}

// Assignments are --output NAME=VALUE flags, in order.
type Assignments []Assignment

// Assignment is one --output.
type Assignment struct {
	Name, Key string // Key: the map entry of a dotted name
	Value     any
}

func (as *Assignments) String() string {
	var parts []string
	for _, a := range *as {
		parts = append(parts, a.Name)
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value: the name must be an output of the contract;
// a list output takes comma-separated values, a map output a dotted name.
func (as *Assignments) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want NAME=VALUE, e.g. pipelineName=tc-dev-pipeline", s)
	}
	top, key, nested := strings.Cut(name, ".")
	kind, known := outputKinds()[top]
	if !known {
		return fmt.Errorf("%q: no output %s; outputs are %s", s, top, strings.Join(Names(), ", "))
	}
	a := Assignment{Name: top, Key: key}
	switch {
	case kind == reflect.Map && nested:
		a.Value = value
	case kind == reflect.Map:
		return fmt.Errorf("%q: %s is a map; set one entry, e.g. %s.rollback=NAME", s, top, top)
	case nested:
		return fmt.Errorf("%q: %s has no entries", s, top)
	case kind == reflect.Slice:
		items := []any{}
		for _, v := range strings.Split(value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				items = append(items, v)
			}
		}
		a.Value = items
	case kind == reflect.String:
		a.Value = value
	default:
		return fmt.Errorf("%q: %s cannot be set by a flag; use --outputs FILE", s, top)
	}
	*as = append(*as, a)
	return nil
}

func (a Assignment) apply(all map[string]any) {
	if a.Key == "" {
		all[a.Name] = a.Value
		return
	}
	m, _ := all[a.Name].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m[a.Key] = a.Value
	all[a.Name] = m
}

// outputKinds maps each output name to its Go kind, from the contract.
func outputKinds() map[string]reflect.Kind {
	t := reflect.TypeOf(contract.StackOutputs{})
	kinds := map[string]reflect.Kind{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		kind := t.Field(i).Type.Kind()
		if kind == reflect.Map && t.Field(i).Type.Elem().Kind() != reflect.String {
			kind = reflect.Invalid // targetGroups: a file's job
		}
		kinds[name] = kind
	}
	return kinds
}

// Names are the contract's output names, sorted.
func Names() []string {
	var names []string
	for name := range outputKinds() {
		names = append(names, name)
	}
	sort.Strings(names)
	return slices.Clip(names)
}
