package appspec_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tenant-canary/tenant-canary/appspec"
)

func sampleValues() appspec.Values {
	return appspec.Values{
		Family: "tenant-canary-dev", Cpu: 512, Memory: 1024,
		ExecutionRoleArn: "arn:aws:iam::000000000000:role/exec",
		TaskRoleArn:      "arn:aws:iam::000000000000:role/task",
		LogGroup:         "/ecs/tenant-canary-dev", Region: "eu-west-1", StreamPrefix: "app",
		ContainerName: "web", ContainerPort: 9090,
		Environment:     map[string]string{"TENANT_MATCH": "path", "A": "b"},
		PinFunctionName: "tc-dev-pin", UnpinFunctionName: "tc-dev-unpin",
	}
}

// appSpec is the part of an ECS AppSpec CodeDeploy reads.
type appSpec struct {
	Version   any `yaml:"version"`
	Resources []map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			TaskDefinition   string `yaml:"TaskDefinition"`
			LoadBalancerInfo struct {
				ContainerName string `yaml:"ContainerName"`
				ContainerPort int    `yaml:"ContainerPort"`
			} `yaml:"LoadBalancerInfo"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
	Hooks []map[string]string `yaml:"Hooks"`
}

func TestAppSpecsRunEachHookOnItsLifecycleEvent(t *testing.T) {
	files, err := appspec.Render(sampleValues())
	require.NoError(t, err)
	for _, tc := range []struct {
		file  string
		hooks []map[string]string
	}{
		// docs/design.md §4: pin before the `latest` replacement exists, unpin
		// after `stable` carries the new version.
		{appspec.FileAppSpecLatest, []map[string]string{{"BeforeInstall": "tc-dev-pin"}}},
		{appspec.FileAppSpecStable, []map[string]string{{"AfterAllowTraffic": "tc-dev-unpin"}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var spec appSpec
			require.NoError(t, yaml.Unmarshal(files[tc.file], &spec), string(files[tc.file]))
			assert.Equal(t, tc.hooks, spec.Hooks)
			require.Len(t, spec.Resources, 1)
			target, ok := spec.Resources[0]["TargetService"]
			require.True(t, ok, "the ECS AppSpec resource is TargetService")
			assert.Equal(t, "AWS::ECS::Service", target.Type)
			assert.Equal(t, appspec.TaskDefinitionPlaceholder, target.Properties.TaskDefinition)
			assert.Equal(t, "web", target.Properties.LoadBalancerInfo.ContainerName)
			assert.Equal(t, 9090, target.Properties.LoadBalancerInfo.ContainerPort)
			assert.Equal(t, 0.0, toFloat(spec.Version), "AppSpec version 0.0")
		})
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return -1
}

func TestTaskDefinitionCarriesTheStackValuesAndTheImagePlaceholder(t *testing.T) {
	files, err := appspec.Render(sampleValues())
	require.NoError(t, err)
	var td struct {
		Family                  string   `json:"family"`
		Cpu                     string   `json:"cpu"`
		Memory                  string   `json:"memory"`
		NetworkMode             string   `json:"networkMode"`
		RequiresCompatibilities []string `json:"requiresCompatibilities"`
		ExecutionRoleArn        string   `json:"executionRoleArn"`
		TaskRoleArn             string   `json:"taskRoleArn"`
		ContainerDefinitions    []struct {
			Name         string `json:"name"`
			Image        string `json:"image"`
			Essential    bool   `json:"essential"`
			PortMappings []struct {
				ContainerPort int    `json:"containerPort"`
				Protocol      string `json:"protocol"`
			} `json:"portMappings"`
			Environment      []appspec.EnvVar `json:"environment"`
			LogConfiguration struct {
				LogDriver string            `json:"logDriver"`
				Options   map[string]string `json:"options"`
			} `json:"logConfiguration"`
		} `json:"containerDefinitions"`
	}
	dec := json.NewDecoder(bytesReader(files[appspec.FileTaskDefinition]))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&td))
	assert.Equal(t, "tenant-canary-dev", td.Family)
	assert.Equal(t, "512", td.Cpu, "task-level cpu is a string in ECS's API")
	assert.Equal(t, "1024", td.Memory)
	assert.Equal(t, "awsvpc", td.NetworkMode)
	assert.Equal(t, []string{"FARGATE"}, td.RequiresCompatibilities)
	assert.Equal(t, "arn:aws:iam::000000000000:role/exec", td.ExecutionRoleArn)
	assert.Equal(t, "arn:aws:iam::000000000000:role/task", td.TaskRoleArn)
	require.Len(t, td.ContainerDefinitions, 1)
	c := td.ContainerDefinitions[0]
	assert.Equal(t, "web", c.Name)
	assert.Equal(t, appspec.ImagePlaceholder, c.Image)
	assert.True(t, c.Essential)
	require.Len(t, c.PortMappings, 1)
	assert.Equal(t, 9090, c.PortMappings[0].ContainerPort)
	assert.Equal(t, []appspec.EnvVar{{Name: "A", Value: "b"}, {Name: "PORT", Value: "9090"}, {Name: "TENANT_MATCH", Value: "path"}}, c.Environment)
	assert.Equal(t, "awslogs", c.LogConfiguration.LogDriver)
	assert.Equal(t, map[string]string{
		"awslogs-group": "/ecs/tenant-canary-dev", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "app",
	}, c.LogConfiguration.Options)
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := appspec.Render(sampleValues())
	require.NoError(t, err)
	for range 20 {
		b, err := appspec.Render(sampleValues())
		require.NoError(t, err)
		assert.Equal(t, a, b)
	}
}

func TestValuesThatWouldBreakTheFilesStayQuoted(t *testing.T) {
	v := sampleValues()
	v.ContainerName = "a: b\n- c"
	v.Family = `x", "evil": "y`
	files, err := appspec.Render(v)
	require.NoError(t, err)
	var spec appSpec
	require.NoError(t, yaml.Unmarshal(files[appspec.FileAppSpecLatest], &spec))
	assert.Equal(t, "a: b\n- c", spec.Resources[0]["TargetService"].Properties.LoadBalancerInfo.ContainerName)
	var td map[string]any
	require.NoError(t, json.Unmarshal(files[appspec.FileTaskDefinition], &td))
	assert.Equal(t, `x", "evil": "y`, td["family"])
	assert.NotContains(t, td, "evil")
}

func TestRenderRejectsMissingValues(t *testing.T) {
	v := sampleValues()
	v.PinFunctionName = ""
	v.ContainerPort = 0
	_, err := appspec.Render(v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PinFunctionName")
	assert.Contains(t, err.Error(), "container port 0")
}

// No account id, region or ARN is written by hand (issue 3): the templates
// carry only placeholders and template actions.
func TestTemplatesNameNoAccountRegionOrArn(t *testing.T) {
	accountID := regexp.MustCompile(`\b\d{12}\b`)
	region := regexp.MustCompile(`\b(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(east|west|north|south|central|northeast|southeast|northwest|southwest)-\d\b`)
	for name, text := range appspec.Templates() {
		assert.NotRegexp(t, accountID, text, name)
		assert.NotRegexp(t, region, text, name)
		assert.NotContains(t, text, "arn:", name)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
