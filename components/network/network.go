// Package network is the VPC the service runs in: an awsx VPC over the
// configured number of availability zones with the configured NAT strategy.
package network

import (
	"fmt"

	awsec2 "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/tenant-canary/tenant-canary/components/config"
)

// Args is what the network needs: the validated network config.
type Args struct {
	Network config.Network
	// OwnNatAddresses gives the NAT gateways Elastic IPs this component
	// creates, so their addresses are known to the program (the smoke
	// test's listeners admit only them). Without it awsx allocates them.
	OwnNatAddresses bool
}

// Network is the VPC and the subnets the ALB and the tasks use.
type Network struct {
	pulumi.ResourceState

	// VpcId is the VPC's id.
	VpcId pulumi.StringOutput `pulumi:"vpcId"`
	// PublicSubnetIds hold the ALB (and the tasks when nat is none).
	PublicSubnetIds pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	// TaskSubnetIds are where the Fargate tasks run: private subnets behind
	// NAT, or the public subnets when nat is none.
	TaskSubnetIds pulumi.StringArrayOutput `pulumi:"taskSubnetIds"`
	// TasksNeedPublicIP is true when tasks sit in public subnets with no NAT
	// and so need a public IP to pull images and ship logs.
	TasksNeedPublicIP bool
	// NatPublicIps are the NAT gateways' public addresses, one per NAT
	// gateway; set only with Args.OwnNatAddresses.
	NatPublicIps []pulumi.StringOutput
}

// natStrategies maps the config's NAT strategy onto awsx's.
var natStrategies = map[string]ec2.NatGatewayStrategy{
	config.NatNone:     ec2.NatGatewayStrategyNone,
	config.NatSingle:   ec2.NatGatewayStrategySingle,
	config.NatOnePerAZ: ec2.NatGatewayStrategyOnePerAz,
}

// NewNetwork creates the VPC.
func NewNetwork(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("tenant-canary:network:Network", name, n, opts...); err != nil {
		return nil, fmt.Errorf("register network component: %w", err)
	}
	strategy, ok := natStrategies[args.Network.Nat]
	if !ok {
		return nil, fmt.Errorf("network: unknown NAT strategy %q", args.Network.Nat)
	}
	azs := args.Network.AvailabilityZones
	natConfig := &ec2.NatGatewayConfigurationArgs{Strategy: strategy}
	if args.OwnNatAddresses {
		gateways := 0
		switch args.Network.Nat {
		case config.NatSingle:
			gateways = 1
		case config.NatOnePerAZ:
			gateways = azs
		}
		for i := range gateways {
			eip, err := awsec2.NewEip(ctx, fmt.Sprintf("%s-nat-%d", name, i), &awsec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   pulumi.StringMap{"Name": pulumi.Sprintf("%s-nat-%d", name, i)},
			}, pulumi.Parent(n))
			if err != nil {
				return nil, fmt.Errorf("create NAT address %d: %w", i, err)
			}
			// awsx takes one allocation id per NAT gateway its strategy
			// creates: one, or one per availability zone.
			natConfig.ElasticIpAllocationIds = append(natConfig.ElasticIpAllocationIds, eip.AllocationId)
			n.NatPublicIps = append(n.NatPublicIps, eip.PublicIp)
		}
	}
	vpcArgs := &ec2.VpcArgs{
		NumberOfAvailabilityZones: &azs,
		NatGateways:               natConfig,
		EnableDnsHostnames:        pulumi.Bool(true),
		Tags:                      pulumi.StringMap{"Name": pulumi.String(name)},
	}
	n.TasksNeedPublicIP = args.Network.Nat == config.NatNone
	if n.TasksNeedPublicIP {
		// Without NAT a private subnet has no way out, so there are none:
		// tasks run in the public subnets (their security group still
		// accepts traffic only from the ALB).
		vpcArgs.SubnetSpecs = []ec2.SubnetSpecArgs{{Type: ec2.SubnetTypePublic}}
	}
	vpc, err := ec2.NewVpc(ctx, name, vpcArgs, pulumi.Parent(n))
	if err != nil {
		return nil, fmt.Errorf("create vpc: %w", err)
	}
	n.VpcId = vpc.VpcId
	n.PublicSubnetIds = vpc.PublicSubnetIds
	if n.TasksNeedPublicIP {
		n.TaskSubnetIds = vpc.PublicSubnetIds
	} else {
		n.TaskSubnetIds = vpc.PrivateSubnetIds
	}
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":           n.VpcId,
		"publicSubnetIds": n.PublicSubnetIds,
		"taskSubnetIds":   n.TaskSubnetIds,
	}); err != nil {
		return nil, fmt.Errorf("register network outputs: %w", err)
	}
	return n, nil
}
