package plan

import (
	"fmt"
	"strings"

	"github.com/tenant-canary/tenant-canary/components/config"
	"github.com/tenant-canary/tenant-canary/internal/contract"
)

// SmokeChecks renders the smoke hook's requests from the stack's smokeTest
// config: every path, with the smoke tenant impersonated the way tenantMatch
// recognises tenants, so the application attributes the requests to it as
// it would a real one (the test listener itself has no tenant rules).
func SmokeChecks(st config.SmokeTest, paths []string, match config.TenantMatch) contract.SmokeChecks {
	c := contract.SmokeChecks{
		Count: st.Requests, ExpectStatus: st.ExpectStatus, ExpectBody: st.ExpectBody, TimeoutSeconds: st.TimeoutSeconds,
	}
	for _, p := range paths {
		r := contract.SmokeRequest{Path: p}
		if st.Tenant != "" {
			rendered := strings.ReplaceAll(match.Pattern, config.TenantPlaceholder, st.Tenant)
			switch match.Type {
			case config.MatchPath:
				// Under the tenant's path: /app/acme + /healthz.
				r.Path = strings.TrimSuffix(rendered, "/") + p
			case config.MatchHeader:
				r.Headers = map[string]string{match.Name: rendered}
			case config.MatchHost:
				r.Host = rendered
			}
		}
		c.Requests = append(c.Requests, r)
	}
	return c
}

// DeploymentGroupArn is a CodeDeploy deployment group's ARN, known from the
// application's and group's names before the group exists.
func (s Stack) DeploymentGroupArn(application, group string) string {
	return s.Arn("codedeploy", "deploymentgroup:"+application+"/"+group)
}

// SmokeHookRole is what the smoke hook may touch: read its own deployments
// and report on them, write its logs, and run in the VPC.
type SmokeHookRole struct {
	Stack Stack
	// DeploymentGroupArns are both deployment groups; the hook runs in both
	// stages.
	DeploymentGroupArns []string
	LogGroupName        string
	// SubnetIDs and SecurityGroupID are the function's VPC configuration.
	SubnetIDs       []string
	SecurityGroupID string
}

// Policy is the smoke hook role's inline policy.
func (s SmokeHookRole) Policy() (PolicyDocument, error) {
	if len(s.DeploymentGroupArns) == 0 || len(s.SubnetIDs) == 0 || s.SecurityGroupID == "" || s.LogGroupName == "" {
		return PolicyDocument{}, fmt.Errorf("smoke hook policy: deployment groups, subnets, security group and log group are required")
	}
	eni := s.Stack.Arn("ec2", "network-interface/*")
	create := []string{eni, s.Stack.Arn("ec2", "security-group/"+s.SecurityGroupID)}
	for _, id := range sorted(s.SubnetIDs...) {
		create = append(create, s.Stack.Arn("ec2", "subnet/"+id))
	}
	groups := sorted(s.DeploymentGroupArns...)
	return Doc(
		Allow("WriteOwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, s.Stack.LogGroupArns(s.LogGroupName)...),
		// GetDeployment takes the deploymentgroup resource type (Service
		// Authorization Reference, "Actions defined by AWS CodeDeploy"):
		// the hook reads which group its deployment belongs to, then
		// reports on it, which is unscoped (see UnscopedActions).
		Allow("ReadOwnDeployments", []string{"codedeploy:GetDeployment"}, groups...),
		Allow("ReportLifecycleHook", []string{"codedeploy:PutLifecycleEventHookExecutionStatus"}, "*"),
		// Unscoped (see UnscopedActions): the size of the deployment's
		// replacement task set, read from its ECS target (a Stable
		// deployment while no tenant is pinned has nothing to test).
		Allow("ReadReplacementTaskSet", []string{"codedeploy:GetDeploymentTarget", "codedeploy:ListDeploymentTargets"}, "*"),
		// Lambda creates and deletes the function's network interfaces in
		// its VPC with the execution role (Lambda developer guide,
		// "Giving Lambda functions access to resources in an Amazon VPC":
		// CreateNetworkInterface, DeleteNetworkInterface,
		// AssignPrivateIpAddresses, UnassignPrivateIpAddresses, and
		// DescribeNetworkInterfaces, which "only works if it's allowed on
		// all resources"). Interfaces only in the function's subnets with
		// its security group, of this account and region.
		Allow("CreateFunctionInterfaces", []string{"ec2:CreateNetworkInterface"}, create...),
		Allow("ManageFunctionInterfaces", []string{"ec2:AssignPrivateIpAddresses", "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"}, eni),
		// Unscoped (see UnscopedActions).
		Allow("DescribeVpcNetwork", []string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, "*"),
	), nil
}
