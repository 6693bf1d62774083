// Package appspec holds the deploy bundle's templates — the AppSpec of each
// stage and the task definition — and renders them with a stack's real
// values. CodePipeline's CodeDeployToECS action reads the rendered files from
// the bundle, fills the placeholders below and hands them to CodeDeploy.
//
// It is plain Go: components/pipeline calls Render inside an ApplyT over the
// real ARNs and names, so nothing here is ever written by hand.
package appspec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// File names inside the deploy bundle. CodePipeline's action configuration
// (TaskDefinitionTemplatePath, AppSpecTemplatePath) names them.
const (
	FileTaskDefinition = "taskdef.json"
	FileAppSpecLatest  = "appspec-latest.yaml"
	FileAppSpecStable  = "appspec-stable.yaml"
)

// Placeholders CodeDeployToECS replaces: the pushed image's URI (the
// action's Image1ContainerName names this placeholder, brackets removed)
// and the ARN of the task definition it registers
// (docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-ECSbluegreen.html).
const (
	ImagePlaceholder          = "<IMAGE1_NAME>"
	TaskDefinitionPlaceholder = "<TASK_DEFINITION>"
)

// ImagePlaceholderName is the value of the CodeDeployToECS action's
// Image1ContainerName: the image placeholder without its angle brackets.
func ImagePlaceholderName() string {
	return strings.TrimSuffix(strings.TrimPrefix(ImagePlaceholder, "<"), ">")
}

// Lifecycle events the hooks run on (docs/design.md §4).
const (
	// EventPin is when the `Latest` deployment runs the pin hook: before the
	// replacement task set is created, so tenants are pinned before any
	// traffic can reach the new version.
	EventPin = "BeforeInstall"
	// EventUnpin is when the `Stable` deployment runs the unpin hook: after
	// all of stable's production traffic is on the new version.
	EventUnpin = "AfterAllowTraffic"
	// EventSmoke is when both stages run the smoke hook: after CodeDeploy
	// points the test listener at the replacement task set and before any
	// production traffic moves.
	EventSmoke = "AfterAllowTestTraffic"
)

var (
	//go:embed appspec-latest.yaml
	appSpecLatestTemplate string
	//go:embed appspec-stable.yaml
	appSpecStableTemplate string
	//go:embed taskdef.json
	taskDefinitionTemplate string
)

// Templates returns the raw template text of every bundle file, keyed by
// file name (tests check that no account id or region is written in them).
func Templates() map[string]string {
	return map[string]string{
		FileAppSpecLatest:  appSpecLatestTemplate,
		FileAppSpecStable:  appSpecStableTemplate,
		FileTaskDefinition: taskDefinitionTemplate,
	}
}

// Values are the stack's real values the templates are rendered with.
type Values struct {
	// Family is the task definition family the service component registered,
	// so each deployment adds a revision to the same family.
	Family string
	// Cpu and Memory are the Fargate task size (units and MiB).
	Cpu, Memory int
	// ExecutionRoleArn pulls the image and writes logs; TaskRoleArn is the
	// application's own role.
	ExecutionRoleArn, TaskRoleArn string
	// LogGroup, Region and StreamPrefix configure the awslogs driver.
	LogGroup, Region, StreamPrefix string
	// ContainerName and ContainerPort are the service's container: the
	// AppSpec's LoadBalancerInfo must name the same pair the target groups use.
	ContainerName string
	ContainerPort int
	// Environment is the container's environment (PORT is always set from
	// ContainerPort so the application listens where the ALB sends traffic).
	Environment map[string]string
	// PinFunctionName and UnpinFunctionName are the hook Lambda functions.
	PinFunctionName, UnpinFunctionName string
	// SmokeFunctionName, when set, runs at AfterAllowTestTraffic in both
	// AppSpecs.
	SmokeFunctionName string
}

// EnvVar is one entry of a container definition's environment.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EnvironmentList is Environment plus PORT as the sorted list ECS expects;
// sorted so the same values always render the same bytes.
func (v Values) EnvironmentList() []EnvVar {
	env := map[string]string{}
	for k, val := range v.Environment {
		env[k] = val
	}
	env["PORT"] = fmt.Sprint(v.ContainerPort)
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	list := make([]EnvVar, 0, len(names))
	for _, k := range names {
		list = append(list, EnvVar{Name: k, Value: env[k]})
	}
	return list
}

func (v Values) validate() error {
	var missing []string
	for name, s := range map[string]string{
		"Family": v.Family, "ExecutionRoleArn": v.ExecutionRoleArn, "TaskRoleArn": v.TaskRoleArn,
		"LogGroup": v.LogGroup, "Region": v.Region, "StreamPrefix": v.StreamPrefix,
		"ContainerName": v.ContainerName, "PinFunctionName": v.PinFunctionName,
		"UnpinFunctionName": v.UnpinFunctionName,
	} {
		if strings.TrimSpace(s) == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing %s", strings.Join(missing, ", ")))
	}
	if v.Cpu <= 0 || v.Memory <= 0 {
		errs = append(errs, fmt.Errorf("cpu %d and memory %d must be positive", v.Cpu, v.Memory))
	}
	if v.ContainerPort < 1 || v.ContainerPort > 65535 {
		errs = append(errs, fmt.Errorf("container port %d is not 1-65535", v.ContainerPort))
	}
	return errors.Join(errs...)
}

// funcs are the template helpers: json writes any value as JSON, which is
// also a valid YAML flow scalar, so no value can break the file's syntax.
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

var templates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for name, text := range Templates() {
		m[name] = template.Must(template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text))
	}
	return m
}()

// Render renders every bundle file with v, keyed by file name.
func Render(v Values) (map[string][]byte, error) {
	if err := v.validate(); err != nil {
		return nil, fmt.Errorf("deploy bundle values: %w", err)
	}
	files := map[string][]byte{}
	for name, tmpl := range templates {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, v); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	if !json.Valid(files[FileTaskDefinition]) {
		return nil, fmt.Errorf("render %s: result is not valid JSON", FileTaskDefinition)
	}
	return files, nil
}

// WithoutComments drops the comment lines of a rendered AppSpec: what the
// rollback function needs of the Latest AppSpec, small enough for a Lambda
// environment variable (4 KB for all of them together,
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
func WithoutComments(spec []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(spec), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}
