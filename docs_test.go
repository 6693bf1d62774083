package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// The reference pages are where a user looks a name up, so they must name
// exactly what the code has: every config key, stack output and hook
// environment variable, and nothing the code no longer has. Each test
// compares both directions and names the page to edit.

// codeName is a name in backticks at the start of a table cell: `key`.
var codeName = regexp.MustCompile("`([^`]+)`")

// tableNames returns the names in backticks in the first cell of every row
// of the tables under the heading, up to the next heading of that level or
// higher. A cell may name several (`service.cpu` / `service.memory`).
func tableNames(t *testing.T, page, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, heading)
	require.GreaterOrEqual(t, start, 0, "%s has no heading %q", page, heading)
	level := strings.Index(heading, " ")
	var names []string
	fenced := false
	for _, l := range lines[start+1:] {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if fenced {
			continue
		}
		if strings.HasPrefix(l, "#") && strings.Index(l, " ") <= level {
			break
		}
		if !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "| ---") {
			continue
		}
		first := strings.SplitN(strings.TrimPrefix(l, "| "), " | ", 2)[0]
		for _, m := range codeName.FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
	}
	require.NotEmpty(t, names, "%s: no table rows under %q", page, heading)
	return names
}

// configKeys are the leaf keys of the stack config contract, as a user sets
// them with `pulumi config set --path` (json tags of config.Config).
func configKeys(prefix string, typ reflect.Type) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(prefix+name+".", f.Type)...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

func assertSameNames(t *testing.T, what, page string, inCode, inPage []string) {
	t.Helper()
	for _, n := range inCode {
		assert.Contains(t, inPage, n, "%s %s is not in %s: add a row", what, n, page)
	}
	for _, n := range inPage {
		assert.Contains(t, inCode, n, "%s lists %s %s, which the code does not have: remove or rename the row", page, what, n)
	}
}

func TestConfigurationReferenceListsEveryConfigKey(t *testing.T) {
	keys := configKeys("", reflect.TypeFor[config.Config]())
	require.Contains(t, keys, "traffic.terminationWaitMinutes", "configKeys walks nested objects")
	const page = "docs/configuration.md"
	assertSameNames(t, "config key", page, keys, tableNames(t, page, "## Keys"))
}

// exportedOutputs are the names main.go exports (ctx.Export("name", …)).
func exportedOutputs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("main.go")
	require.NoError(t, err)
	var names []string
	for _, m := range regexp.MustCompile(`ctx\.Export\("(\w+)"`).FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	require.NotEmpty(t, names, "main.go exports nothing: the pattern is out of date")
	return names
}

func TestConfigurationReferenceListsEveryStackOutput(t *testing.T) {
	const page = "docs/configuration.md"
	assertSameNames(t, "stack output", page, exportedOutputs(t), tableNames(t, page, "## Stack outputs"))
}

// contractEnvironment is the value of every Env… constant of
// internal/contract: the hook functions' environment.
func contractEnvironment(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "internal/contract/contract.go", nil, 0)
	require.NoError(t, err)
	var names []string
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Env") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok && lit.Kind == token.STRING, "%s is not a string literal", id.Name)
				v, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				names = append(names, v)
			}
		}
	}
	require.Contains(t, names, "CLUSTER_NAME", "the parser found the contract's environment")
	return names
}

func TestHooksReferenceListsEveryEnvironmentVariable(t *testing.T) {
	const page = "docs/hooks.md"
	documented := append(tableNames(t, page, "## Environment contract"), tableNames(t, page, "## The smoke hook")...)
	var variables []string
	for _, n := range documented {
		// The environment tables also name IAM actions and resources.
		if regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`).MatchString(n) {
			variables = append(variables, n)
		}
	}
	assertSameNames(t, "environment variable", page, contractEnvironment(t), variables)
}
