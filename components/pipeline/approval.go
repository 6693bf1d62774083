package pipeline

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// approvalTopic is the SNS topic the Manual approval action notifies.
func (b *builder) approvalTopic() error {
	if !b.args.Approval.Required {
		return nil
	}
	topic, err := sns.NewTopic(b.ctx, b.child("approval"), &sns.TopicArgs{
		// Encrypted with the AWS-managed SNS key: the pipeline role
		// publishes through SNS, which the managed key's policy allows for
		// principals of this account, so no key policy is needed. (The
		// publisher is the pipeline's role, not a service principal, so no
		// topic policy is needed either.)
		KmsMasterKeyId: pulumi.String("alias/aws/sns"),
	}, b.parent)
	if err != nil {
		return fmt.Errorf("create approval topic: %w", err)
	}
	b.topic = topic
	for i, email := range b.args.Approval.NotifyEmails {
		if _, err := sns.NewTopicSubscription(b.ctx, b.child(fmt.Sprintf("approval-email-%d", i)), &sns.TopicSubscriptionArgs{
			Topic:    topic.Arn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(email),
		}, b.parent); err != nil {
			return fmt.Errorf("subscribe %s to approval topic: %w", email, err)
		}
	}
	return nil
}
