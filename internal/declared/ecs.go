package declared

import (
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

type pService struct {
	Cluster              string `json:"cluster"`
	DesiredCount         int32  `json:"desiredCount"`
	LaunchType           string `json:"launchType"`
	TaskDefinition       string `json:"taskDefinition"`
	DeploymentController struct {
		Type string `json:"type"`
	} `json:"deploymentController"`
	LoadBalancers []struct {
		TargetGroupArn string `json:"targetGroupArn"`
		ContainerName  string `json:"containerName"`
		ContainerPort  int32  `json:"containerPort"`
	} `json:"loadBalancers"`
	NetworkConfiguration struct {
		Subnets        []string `json:"subnets"`
		SecurityGroups []string `json:"securityGroups"`
		AssignPublicIP bool     `json:"assignPublicIp"`
	} `json:"networkConfiguration"`
	HealthCheckGracePeriodSeconds *int32 `json:"healthCheckGracePeriodSeconds"`
}

type pTaskDefinition struct {
	Family                  string   `json:"family"`
	Cpu                     string   `json:"cpu"`
	Memory                  string   `json:"memory"`
	NetworkMode             string   `json:"networkMode"`
	RequiresCompatibilities []string `json:"requiresCompatibilities"`
	ExecutionRoleArn        string   `json:"executionRoleArn"`
	TaskRoleArn             string   `json:"taskRoleArn"`
	ContainerDefinitions    string   `json:"containerDefinitions"`
}

func (b *builder) ecs(s *Stack) error {
	cluster, err := b.one(typeCluster)
	if err != nil {
		return err
	}
	s.ECS.ClusterName, s.ECS.ClusterArn = cluster.out("name"), cluster.out("arn")

	td, err := b.one(typeTaskDefinition)
	if err != nil {
		return err
	}
	var p pTaskDefinition
	if err := decode(td.Inputs, &p); err != nil {
		return fmt.Errorf("%s: %w", td.Name, err)
	}
	var containers []ecstypes.ContainerDefinition
	if err := strictDecode([]byte(p.ContainerDefinitions), &containers); err != nil {
		return fmt.Errorf("%s: containerDefinitions: %w", td.Name, err)
	}
	var compat []ecstypes.Compatibility
	for _, c := range p.RequiresCompatibilities {
		compat = append(compat, ecstypes.Compatibility(c))
	}
	s.ECS.PlaceholderTaskDefinition = ecstypes.TaskDefinition{
		TaskDefinitionArn: aws.String(td.out("arn")), Family: aws.String(p.Family), Revision: 1,
		Cpu: aws.String(p.Cpu), Memory: aws.String(p.Memory), NetworkMode: ecstypes.NetworkMode(p.NetworkMode),
		RequiresCompatibilities: compat, ExecutionRoleArn: aws.String(p.ExecutionRoleArn), TaskRoleArn: aws.String(p.TaskRoleArn),
		ContainerDefinitions: containers, Status: ecstypes.TaskDefinitionStatusActive,
	}

	for _, r := range b.byType[typeService] {
		var p pService
		if err := decode(r.Inputs, &p); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		name := r.out("name")
		var role string
		switch name {
		case b.in.Outputs.LatestServiceName:
			role = RoleLatest
		case b.in.Outputs.StableServiceName:
			role = RoleStable
		default:
			return fmt.Errorf("service %s is neither latestServiceName nor stableServiceName", name)
		}
		svc := ecstypes.Service{
			ServiceName: aws.String(name), ServiceArn: aws.String(r.out("arn")), ClusterArn: aws.String(p.Cluster),
			DesiredCount: p.DesiredCount, LaunchType: ecstypes.LaunchType(p.LaunchType), TaskDefinition: aws.String(p.TaskDefinition),
			DeploymentController:          &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerType(p.DeploymentController.Type)},
			HealthCheckGracePeriodSeconds: p.HealthCheckGracePeriodSeconds,
			Status:                        aws.String("ACTIVE"),
		}
		assign := ecstypes.AssignPublicIpDisabled
		if p.NetworkConfiguration.AssignPublicIP {
			assign = ecstypes.AssignPublicIpEnabled
		}
		svc.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: p.NetworkConfiguration.Subnets, SecurityGroups: p.NetworkConfiguration.SecurityGroups, AssignPublicIp: assign,
		}}
		for _, l := range p.LoadBalancers {
			svc.LoadBalancers = append(svc.LoadBalancers, ecstypes.LoadBalancer{
				TargetGroupArn: aws.String(l.TargetGroupArn), ContainerName: aws.String(l.ContainerName), ContainerPort: aws.Int32(l.ContainerPort),
			})
		}
		s.ECS.Services = append(s.ECS.Services, Service{Role: role, Service: svc})
	}
	if len(s.ECS.Services) != 2 {
		return fmt.Errorf("want the latest and stable services, the program registered %d", len(s.ECS.Services))
	}
	sort.Slice(s.ECS.Services, func(i, j int) bool { return s.ECS.Services[i].Role == RoleLatest })
	return nil
}
