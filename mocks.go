package main

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The program's one stand-in for the Pulumi engine and the AWS provider:
// the tests run the real program against it, and `go run . declare`
// (declare.go) evaluates a stack's real program with it and writes what the
// program declared. There is no second mock.

// MockAccount is the account id of every ARN the mock makes up: the AWS
// documentation's example account, never a real one.
const MockAccount = "123456789012"

// defaultMockRegion is the region when the stack config sets no aws:region.
const defaultMockRegion = "eu-west-1"

// registered is one resource the program registered, with every option the
// engine would see and the outputs the mock answered with.
type registered struct {
	Type, Name    string
	Inputs        resource.PropertyMap
	Outputs       resource.PropertyMap
	IgnoreChanges []string
	Aliases       []string
	Parent        string
	Dependencies  []string
	URN           string
}

// mocks stands in for the engine and the AWS provider: it records every
// registration and answers with the inputs plus the computed outputs the
// program reads (ids, ARNs, names, the awsx VPC's subnet ids). The ARNs it
// makes up are shaped as AWS shapes each service's ARNs (account
// MockAccount, the stack's region), and deterministic: the same program and
// config always give the same names. Where AWS puts a random id in an ARN
// (a listener's, a rule's), the mock puts the resource's logical name, so a
// reader can tell which resource an ARN names.
type mocks struct {
	mu        sync.Mutex
	resources []registered
	// region of every ARN; defaultMockRegion when empty.
	region string
	// project and stack name the URNs; "tenant-canary" and "dev" when empty.
	project, stack string
	// liveTargetGroup, when set, is where CodeDeploy has since moved the
	// existing tenant rules (what getListenerRule reads back from AWS).
	liveTargetGroup string
}

// Fixed ids where AWS has a random one: the load balancer's, and every
// target group's (target group ARNs still differ, by name).
const (
	mockLoadBalancerID = "50dc6c495c0c9188"
	mockTargetGroupID  = "0123456789abcdef"
)

func (m *mocks) awsRegion() string {
	if m.region == "" {
		return defaultMockRegion
	}
	return m.region
}

// arn is an ARN of service in the mock's region and account.
func (m *mocks) arn(service, resourcePart string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, m.awsRegion(), MockAccount, resourcePart)
}

// mockARN is the ARN AWS would give a resource of type typ with the given
// inputs and physical name; "" for types whose ARN the program never reads.
// Formats: each service's "Resource types" table in the Service
// Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
func (m *mocks) mockARN(typ, name string, in resource.PropertyMap) string {
	str := func(key string) string {
		if v, ok := in[resource.PropertyKey(key)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch typ {
	case "aws:ecs/cluster:Cluster":
		return m.arn("ecs", "cluster/"+name)
	case "aws:ecs/service:Service":
		return m.arn("ecs", "service/"+path.Base(str("cluster"))+"/"+name)
	case "aws:ecs/taskDefinition:TaskDefinition":
		return m.arn("ecs", "task-definition/"+str("family")+":1")
	case "aws:lb/loadBalancer:LoadBalancer":
		return m.arn("elasticloadbalancing", "loadbalancer/app/"+name+"/"+mockLoadBalancerID)
	case "aws:lb/listener:Listener":
		// listener/app/<lb name>/<lb id>/<listener id>
		if lb := str("loadBalancerArn"); strings.Contains(lb, ":loadbalancer/") {
			return strings.Replace(lb, ":loadbalancer/", ":listener/", 1) + "/" + name
		}
		return m.arn("elasticloadbalancing", "listener/app/service/"+mockLoadBalancerID+"/"+name)
	case typeListenerRule:
		// listener-rule/app/<lb name>/<lb id>/<listener id>/<rule id>
		if l := str("listenerArn"); strings.Contains(l, ":listener/") {
			return strings.Replace(l, ":listener/", ":listener-rule/", 1) + "/" + name
		}
		return m.arn("elasticloadbalancing", "listener-rule/app/service/"+mockLoadBalancerID+"/f2f7dc8efc522ab2/"+name)
	case "aws:lb/targetGroup:TargetGroup":
		return m.arn("elasticloadbalancing", "targetgroup/"+name+"/"+mockTargetGroupID)
	case "aws:lambda/function:Function":
		return m.arn("lambda", "function:"+name)
	case "aws:codedeploy/application:Application":
		return m.arn("codedeploy", "application:"+name)
	case "aws:codedeploy/deploymentGroup:DeploymentGroup":
		return m.arn("codedeploy", "deploymentgroup:"+str("appName")+"/"+str("deploymentGroupName"))
	case "aws:codedeploy/deploymentConfig:DeploymentConfig":
		return m.arn("codedeploy", "deploymentconfig:"+str("deploymentConfigName"))
	case "aws:codepipeline/pipeline:Pipeline":
		return m.arn("codepipeline", name)
	case "aws:cloudwatch/eventRule:EventRule":
		return m.arn("events", "rule/"+name)
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		return m.arn("cloudwatch", "alarm:"+name)
	case "aws:cloudwatch/logGroup:LogGroup":
		return m.arn("logs", "log-group:"+name)
	case "aws:cloudwatch/dashboard:Dashboard":
		return fmt.Sprintf("arn:aws:cloudwatch::%s:dashboard/%s", MockAccount, name)
	case "aws:sns/topic:Topic":
		return m.arn("sns", name)
	case "aws:ecr/repository:Repository":
		return m.arn("ecr", "repository/"+name)
	case "aws:iam/role:Role":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", MockAccount, name)
	case "aws:s3/bucketV2:BucketV2":
		return "arn:aws:s3:::" + name
	}
	return ""
}

// physicalName is the name input the program set, else the logical name
// (as the mock answers "name" for names left to the provider).
func physicalName(logical string, in resource.PropertyMap) string {
	if v, ok := in["name"]; ok && v.IsString() && v.StringValue() != "" {
		return v.StringValue()
	}
	return logical
}

// NewResource implements pulumi.MockResourceMonitor.
func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := registered{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs}
	if rpc := args.RegisterRPC; rpc != nil {
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		r.Aliases = rpc.GetAliasURNs()
		for _, a := range rpc.GetAliases() {
			if urn := a.GetUrn(); urn != "" {
				r.Aliases = append(r.Aliases, urn)
			} else if spec := a.GetSpec(); spec != nil && spec.GetName() != "" {
				// A spec names what differs from the resource; type and
				// parent left out stay the resource's own.
				r.Aliases = append(r.Aliases, fmt.Sprintf("name=%s type=%s parent=%s noParent=%v", spec.GetName(), spec.GetType(), spec.GetParentUrn(), spec.GetNoParent()))
			}
		}
	}
	outputs := args.Inputs.Copy()
	set := func(key, value string) {
		if _, ok := outputs[resource.PropertyKey(key)]; !ok {
			outputs[resource.PropertyKey(key)] = resource.NewStringProperty(value)
		}
	}
	id := args.Name + "-id"
	set("name", args.Name)
	if arn := m.mockARN(args.TypeToken, physicalName(args.Name, args.Inputs), args.Inputs); arn != "" {
		set("arn", arn)
	}
	set("arn", fmt.Sprintf("arn:aws:mock:%s:%s:%s/%s", m.awsRegion(), MockAccount, strings.ReplaceAll(args.TypeToken, ":", "."), args.Name))
	switch args.TypeToken {
	case "awsx:ec2:Vpc":
		outputs["vpcId"] = resource.NewStringProperty("vpc-1")
		outputs["publicSubnetIds"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("subnet-pub-a"), resource.NewStringProperty("subnet-pub-b")})
		outputs["privateSubnetIds"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("subnet-priv-a"), resource.NewStringProperty("subnet-priv-b")})
	case "aws:lb/loadBalancer:LoadBalancer":
		set("dnsName", args.Name+"."+m.awsRegion()+".elb.amazonaws.com")
		set("arnSuffix", "app/"+args.Name+"/"+mockLoadBalancerID)
	case "aws:lb/targetGroup:TargetGroup":
		set("arnSuffix", "targetgroup/"+args.Name+"/"+mockTargetGroupID)
	case "aws:ecr/repository:Repository":
		set("repositoryUrl", MockAccount+".dkr.ecr."+m.awsRegion()+".amazonaws.com/"+args.Name)
	case "aws:ecs/taskDefinition:TaskDefinition":
		set("revision", "1")
	case "aws:s3/bucketV2:BucketV2":
		set("bucket", args.Name)
	case "aws:ec2/eip:Eip":
		// Addresses of TEST-NET-3, reserved for documentation (RFC 5737).
		n := len(m.ofType(args.TypeToken))
		set("publicIp", fmt.Sprintf("203.0.113.%d", 10+n))
		set("allocationId", fmt.Sprintf("eipalloc-%d", n))
	}
	project, stack := m.project, m.stack
	if project == "" {
		project = "tenant-canary"
	}
	if stack == "" {
		stack = "dev"
	}
	m.mu.Lock()
	r.Outputs = outputs
	r.URN = string(resource.NewURN(tokens.QName(stack), tokens.PackageName(project), "", tokens.Type(args.TypeToken), args.Name))
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, outputs, nil
}

// Call implements pulumi.MockResourceMonitor: the provider functions the
// program calls.
func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getRegion:getRegion":
		return resource.PropertyMap{"name": resource.NewStringProperty(m.awsRegion()), "id": resource.NewStringProperty(m.awsRegion())}, nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.PropertyMap{
			"accountId": resource.NewStringProperty(MockAccount),
			"arn":       resource.NewStringProperty("arn:aws:iam::" + MockAccount + ":user/ci"),
		}, nil
	case "aws:lb/getListenerRule:getListenerRule":
		return m.liveListenerRule(args.Args["arn"].StringValue())
	case "aws:index/getPartition:getPartition":
		return resource.PropertyMap{"partition": resource.NewStringProperty("aws"), "dnsSuffix": resource.NewStringProperty("amazonaws.com")}, nil
	}
	return resource.PropertyMap{}, nil
}

const typeListenerRule = "aws:lb/listenerRule:ListenerRule"

// liveListenerRule answers getListenerRule as AWS would: the rule's forward
// action with its target groups and weights (DescribeRules always returns a
// ForwardConfig, even for a plain TargetGroupArn action).
func (m *mocks) liveListenerRule(arn string) (resource.PropertyMap, error) {
	for _, r := range m.ofType(typeListenerRule) {
		if !strings.HasSuffix(arn, "/"+r.Name) {
			continue
		}
		// The rule as Pulumi created it, unless CodeDeploy has since moved it.
		action := r.Inputs["actions"].ArrayValue()[0].ObjectValue()
		var groups []resource.PropertyValue
		if tg, ok := action["targetGroupArn"]; ok && tg.IsString() {
			groups = append(groups, resource.NewObjectProperty(resource.PropertyMap{"arn": tg, "weight": resource.NewNumberProperty(1)}))
		} else {
			groups = action["forward"].ObjectValue()["targetGroups"].ArrayValue()
		}
		if m.liveTargetGroup != "" {
			groups = []resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{
				"arn": resource.NewStringProperty(m.liveTargetGroup), "weight": resource.NewNumberProperty(100),
			})}
		}
		forward := resource.PropertyMap{"targetGroups": resource.NewArrayProperty(groups)}
		return resource.PropertyMap{
			"arn": resource.NewStringProperty(arn),
			"actions": resource.NewArrayProperty([]resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{
				"type": resource.NewStringProperty("forward"), "order": resource.NewNumberProperty(1), "forward": resource.NewObjectProperty(forward),
			})}),
		}, nil
	}
	return nil, fmt.Errorf("no listener rule %s", arn)
}

func (m *mocks) ofType(typ string) []registered {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []registered
	for _, r := range m.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}
