package declared

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tenant-canary/tenant-canary/components/routing"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// Resource is one resource the program registered: its Pulumi type token,
// logical name, inputs and the outputs the engine (here, the mock)
// answered with, as plain values (a PropertyMap's Mappable form).
type Resource struct {
	Type    string
	Name    string
	Inputs  map[string]any
	Outputs map[string]any
}

// Input is what Build reads: the registered resources, the resolved stack
// outputs, and the facts the resources do not carry.
type Input struct {
	Project, Stack, Region, Account string
	Resources                       []Resource
	Outputs                         contract.StackOutputs
	// TenantMatch is the stack's tenantMatch, to tell which pinned
	// tenants a tenant rule's values belong to.
	TenantMatch routing.Match
}

// Pulumi type tokens of the resources Build reads.
const (
	typeLoadBalancer     = "aws:lb/loadBalancer:LoadBalancer"
	typeListener         = "aws:lb/listener:Listener"
	typeListenerRule     = "aws:lb/listenerRule:ListenerRule"
	typeTargetGroup      = "aws:lb/targetGroup:TargetGroup"
	typeCluster          = "aws:ecs/cluster:Cluster"
	typeService          = "aws:ecs/service:Service"
	typeTaskDefinition   = "aws:ecs/taskDefinition:TaskDefinition"
	typeApplication      = "aws:codedeploy/application:Application"
	typeDeploymentConfig = "aws:codedeploy/deploymentConfig:DeploymentConfig"
	typeDeploymentGroup  = "aws:codedeploy/deploymentGroup:DeploymentGroup"
	typeMetricAlarm      = "aws:cloudwatch/metricAlarm:MetricAlarm"
	typePipeline         = "aws:codepipeline/pipeline:Pipeline"
	typeBucketObject     = "aws:s3/bucketObjectv2:BucketObjectv2"
	typeEventRule        = "aws:cloudwatch/eventRule:EventRule"
	typeEventTarget      = "aws:cloudwatch/eventTarget:EventTarget"
	typeFunction         = "aws:lambda/function:Function"
	typeInvokeConfig     = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
)

// Service roles, as the stack outputs key them.
const (
	RoleLatest = "latest"
	RoleStable = "stable"
)

// PredefinedAllAtOnce is CodeDeploy's predefined ECS config that shifts all
// traffic at once ("Deployment configurations on an Amazon ECS compute
// platform", https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html).
const PredefinedAllAtOnce = "CodeDeployDefault.ECSAllAtOnce"

// Build reads what the program registered into a Stack. It fails, naming
// the resource, on anything it cannot place (a rule or listener that plays
// no known part, an alarm no deployment group watches), so a change to the
// program that the declaration does not describe is noticed.
func Build(in Input) (*Stack, error) {
	b := &builder{in: in, byType: map[string][]Resource{}}
	for _, r := range in.Resources {
		b.byType[r.Type] = append(b.byType[r.Type], r)
	}
	s := &Stack{
		Version: Version, Project: in.Project, Stack: in.Stack, Region: in.Region, Account: in.Account,
		Outputs: in.Outputs,
	}
	for _, step := range []struct {
		what string
		run  func(*Stack) error
	}{
		{"load balancer", b.loadBalancer},
		{"target groups", b.targetGroups},
		{"ecs", b.ecs},
		{"codedeploy", b.codeDeploy},
		{"listeners", b.listeners},
		{"alarms", b.alarms},
		{"pipeline", b.pipeline},
		{"functions", b.functions},
		{"event rules", b.eventRules},
	} {
		if err := step.run(s); err != nil {
			return nil, fmt.Errorf("declared %s: %w", step.what, err)
		}
	}
	return s, nil
}

type builder struct {
	in     Input
	byType map[string][]Resource
}

// decode turns plain values into v through JSON (Pulumi's property names
// are the json tags of the private shapes below).
func decode(from any, v any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// strictDecode is decode that rejects fields v does not have: for AWS's
// own JSON (container definitions, taskdef.json) read into the SDK's
// types, whose field names must match AWS's.
func strictDecode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (r Resource) out(key string) string {
	if v, ok := r.Outputs[key].(string); ok {
		return v
	}
	return ""
}

func (b *builder) one(typ string) (Resource, error) {
	rs := b.byType[typ]
	if len(rs) != 1 {
		return Resource{}, fmt.Errorf("want exactly one %s, the program registered %d", typ, len(rs))
	}
	return rs[0], nil
}
