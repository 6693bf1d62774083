// Package plan holds the pipeline component's pure decisions: every IAM
// policy document, the EventBridge patterns (and an evaluator of their
// exact-match semantics, so tests run real sample events through them), the
// CodeDeploy deployment config derived from the traffic config, the rollback
// alarms (with an evaluator of their metric math), the dashboard body and the
// physical names. It is plain Go; components/pipeline only
// turns its results into resources.
package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// PolicyDocument is an IAM policy document. Every policy the pipeline
// component attaches is built as one, so tests can walk them all.
type PolicyDocument struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string     `json:"Sid,omitempty"`
	Effect    string     `json:"Effect"`
	Principal *Principal `json:"Principal,omitempty"`
	Action    []string   `json:"Action"`
	Resource  []string   `json:"Resource,omitempty"`
	// Condition is operator → key → values, e.g.
	// {"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}}.
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// Principal names who a resource or trust policy applies to.
type Principal struct {
	Service []string `json:"Service,omitempty"`
	AWS     []string `json:"AWS,omitempty"`
}

// IAM policy language version.
const policyVersion = "2012-10-17"

// JSON marshals the document; it cannot fail for these types.
func (d PolicyDocument) JSON() string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("marshal policy document: %v", err))
	}
	return string(b)
}

// Doc builds a policy document from statements.
func Doc(statements ...Statement) PolicyDocument {
	return PolicyDocument{Version: policyVersion, Statement: statements}
}

// Allow is an Allow statement of actions on resources.
func Allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: resources}
}

// AssumeRolePolicy lets one AWS service assume a role.
func AssumeRolePolicy(service string) PolicyDocument {
	return Doc(Statement{
		Effect: "Allow", Principal: &Principal{Service: []string{service}},
		Action: []string{"sts:AssumeRole"},
	})
}

// Service principals.
const (
	ServiceCodePipeline = "codepipeline.amazonaws.com"
	ServiceCodeDeploy   = "codedeploy.amazonaws.com"
	ServiceEvents       = "events.amazonaws.com"
	ServiceLambda       = "lambda.amazonaws.com"
	ServiceECSTasks     = "ecs-tasks.amazonaws.com"
)

// UnscopedActions is the explicit allow-list of actions that may be granted
// on Resource "*": AWS does not support resource-level permissions for them
// (Service Authorization Reference: the action's "Resource types" column is
// empty), so no ARN can narrow them. Any other action on "*" is a defect,
// and the tests fail on it.
var UnscopedActions = map[string]string{
	// CodeDeployToECS registers a new revision of the task definition from
	// taskdef.json and reads it back; neither action takes a resource ARN.
	"ecs:RegisterTaskDefinition": "ECS: no resource-level permissions",
	"ecs:DescribeTaskDefinition": "ECS: no resource-level permissions",
	// ELB's Describe* calls are account-wide reads without resource types.
	"elasticloadbalancing:DescribeRules":        "ELB Describe*: no resource-level permissions",
	"elasticloadbalancing:DescribeTargetHealth": "ELB Describe*: no resource-level permissions",
	"elasticloadbalancing:DescribeListeners":    "ELB Describe*: no resource-level permissions",
	"elasticloadbalancing:DescribeTargetGroups": "ELB Describe*: no resource-level permissions",
	"elasticloadbalancing:DescribeTags":         "ELB Describe*: no resource-level permissions",
	// CodeDeploy's deployment-target reads. The Service Authorization
	// Reference ("Actions, resources, and condition keys for AWS
	// CodeDeploy", https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodedeploy.html)
	// lists no resource type for GetDeploymentTarget and
	// ListDeploymentTargets, so only "*" matches them; the CodeDeploy User
	// Guide's older permissions reference names the deploymentgroup ARN.
	// Granted on "*", a policy works under either reading; both are reads
	// of deployment progress, and a deployment id is needed to ask.
	"codedeploy:GetDeploymentTarget":   "CodeDeploy: no resource type in the Service Authorization Reference",
	"codedeploy:ListDeploymentTargets": "CodeDeploy: no resource type in the Service Authorization Reference",
	// The same two references disagree on the hooks' status report: the
	// Service Authorization Reference lists no resource type for
	// PutLifecycleEventHookExecutionStatus, the user guide's table the
	// deploymentgroup ARN. Under the first reading a grant on the group's
	// ARN is denied, no hook can report, and every deployment waits an hour
	// for its hook and fails. "*" works under both; the call needs the
	// execution id CodeDeploy hands the hook it invokes.
	"codedeploy:PutLifecycleEventHookExecutionStatus": "CodeDeploy: no resource type in the Service Authorization Reference",
	// CodeDeploy reads the state of the deployment group's alarms.
	"cloudwatch:DescribeAlarms": "CloudWatch DescribeAlarms: no resource-level permissions",
	// The tasks' execution role logs in to ECR before pulling; the token is
	// registry-wide (the pulls themselves are scoped to the repository).
	"ecr:GetAuthorizationToken": "ECR: no resource-level permissions",
	// The smoke hook runs in the VPC: Lambda describes the network
	// interfaces and subnets with its role; EC2 Describe* actions take no
	// resource ARN ("DescribeNetworkInterfaces – This action only works if
	// it's allowed on all resources", Lambda developer guide).
	"ec2:DescribeNetworkInterfaces": "EC2 Describe*: no resource-level permissions",
	"ec2:DescribeSubnets":           "EC2 Describe*: no resource-level permissions",
}

// Problem is a least-privilege violation found in a policy document.
type Problem struct {
	Statement string
	Reason    string
}

func (p Problem) String() string { return p.Statement + ": " + p.Reason }

// Check walks a policy document and reports every Allow that grants more
// than this project allows: a "*" resource for an action outside
// UnscopedActions, a wildcard action, an anonymous principal, and an
// iam:PassRole that is not limited to ECS tasks by iam:PassedToService.
func Check(doc PolicyDocument) []Problem {
	var problems []Problem
	for i, s := range doc.Statement {
		id := s.Sid
		if id == "" {
			id = fmt.Sprintf("statement %d", i)
		}
		add := func(format string, args ...any) {
			problems = append(problems, Problem{Statement: id, Reason: fmt.Sprintf(format, args...)})
		}
		if s.Effect != "Allow" {
			continue
		}
		if len(s.Action) == 0 {
			add("no actions")
		}
		if s.Principal != nil {
			for _, p := range s.Principal.AWS {
				if p == "*" {
					add("allows any principal")
				}
			}
		}
		star := false
		for _, r := range s.Resource {
			if r == "*" {
				star = true
			}
			if r == "" {
				add("empty resource")
			}
		}
		if len(s.Resource) == 0 && s.Principal == nil {
			add("identity policy statement without resources")
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				add("wildcard action %q", a)
			}
			if star {
				if _, ok := UnscopedActions[a]; !ok {
					add("action %q on resource \"*\" is not in the unscoped allow-list", a)
				}
			}
			if strings.EqualFold(a, "iam:PassRole") {
				vals := s.Condition["StringEquals"]["iam:PassedToService"]
				if len(vals) != 1 || vals[0] != ServiceECSTasks {
					add("iam:PassRole without condition iam:PassedToService = %s", ServiceECSTasks)
				}
				if star {
					add("iam:PassRole on every role")
				}
			}
		}
	}
	return problems
}

// PassTaskRoles lets a principal hand the task execution and task roles to
// ECS, and to nothing else.
func PassTaskRoles(roleArns ...string) Statement {
	s := Allow("PassTaskRolesToEcsTasks", []string{"iam:PassRole"}, roleArns...)
	s.Condition = map[string]map[string][]string{
		"StringEquals": {"iam:PassedToService": {ServiceECSTasks}},
	}
	return s
}

// Stack holds the account-wide facts ARNs are built from.
type Stack struct {
	Partition, Region, Account string
}

// Validate says which fact is missing (each comes from a provider call).
func (s Stack) Validate() error {
	var missing []string
	if s.Partition == "" {
		missing = append(missing, "partition (aws:index/getCallerIdentity:getCallerIdentity arn)")
	}
	if s.Region == "" {
		missing = append(missing, "region (aws:index/getRegion:getRegion)")
	}
	if s.Account == "" {
		missing = append(missing, "account id (aws:index/getCallerIdentity:getCallerIdentity)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("unknown %s", strings.Join(missing, ", "))
	}
	return nil
}

// Arn builds an ARN of this stack's account and region.
func (s Stack) Arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", s.Partition, service, s.Region, s.Account, resource)
}

// PartitionFromArn returns the partition field of an ARN ("" if none).
func PartitionFromArn(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[1]
}

// EcsServiceArns are the ARN of a service of the cluster clusterArn
// (arn:…:cluster/<name>) in the long format, arn:…:service/<cluster>/<service>,
// and the ARN pattern of the task sets CodeDeploy creates in it,
// arn:…:task-set/<cluster>/<service>/*. Built from the cluster's own ARN, so
// its partition, region and account are the cluster's.
func EcsServiceArns(clusterArn, service string) (serviceArn, taskSets string, err error) {
	const marker = ":cluster/"
	i := strings.Index(clusterArn, marker)
	if i < 0 || !strings.HasPrefix(clusterArn, "arn:") || service == "" {
		return "", "", fmt.Errorf("%q is not an ECS cluster ARN (or the service name is empty)", clusterArn)
	}
	prefix, cluster := clusterArn[:i], clusterArn[i+len(marker):]
	return prefix + ":service/" + cluster + "/" + service, prefix + ":task-set/" + cluster + "/" + service + "/*", nil
}

// CodeDeployConfigArn is the ARN of a deployment config (predefined or custom).
func (s Stack) CodeDeployConfigArn(name string) string {
	return s.Arn("codedeploy", "deploymentconfig:"+name)
}

// ListenerRulesArn is the ARN pattern of every rule of a listener: a
// listener arn:…:listener/app/<lb>/<id>/<listener-id> has its rules at
// arn:…:listener-rule/app/<lb>/<id>/<listener-id>/<rule-id>.
func ListenerRulesArn(listenerArn string) (string, error) {
	const from, to = ":listener/", ":listener-rule/"
	if !strings.Contains(listenerArn, from) {
		return "", fmt.Errorf("%q is not a load balancer listener ARN", listenerArn)
	}
	return strings.Replace(listenerArn, from, to, 1) + "/*", nil
}

// LogGroupArns are a log group's ARN and its streams' ARN pattern.
func (s Stack) LogGroupArns(logGroup string) []string {
	arn := s.Arn("logs", "log-group:"+logGroup)
	return []string{arn, arn + ":log-stream:*"}
}

func sorted(xs ...string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
