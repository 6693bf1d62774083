package protocol

import (
	"context"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Tags on a listener rule: the release claim on the catch-all rule
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_AddTags.html).
// "Tags for your listeners and rules"
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rule-tags.html):
// tag keys are unique per rule and adding a key the rule has updates its
// value; a rule holds at most 50 tags, and AddTags beyond that answers
// TooManyTags (the AddTags page's errors). The model counts every tag
// against the limit (none it serves has the reserved aws: prefix) and
// adds nothing from a call that would pass it.
//
// A tag's value is a claim's expiry, kept and answered as it was set. In
// the explorer a claim's value is its invocation's deadline (an hour from
// its launch, clock.go) plus a minute, so no claim is expired by the
// clock there: a claim left by an invocation that ended expires by the
// "claim expires" event instead.
const maxTagsPerRule = 50

func (r *Rule) tag(key, value string, owner int) {
	if r.Tags == nil {
		r.Tags, r.TagValues = map[string]int{}, map[string]string{}
	}
	r.Tags[key], r.TagValues[key] = owner, value
}

func (r *Rule) untag(key string) {
	delete(r.Tags, key)
	delete(r.TagValues, key)
}

func (c *client) AddTags(ctx context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	return do(c, ctx, "AddTags", "", func(w *World) (*elbv2.AddTagsOutput, error) {
		seen := map[string]bool{}
		for _, t := range in.Tags {
			if seen[aws.ToString(t.Key)] {
				return nil, apiErr("DuplicateTagKeys", "A tag key was specified more than once.")
			}
			seen[aws.ToString(t.Key)] = true
		}
		for _, arn := range in.ResourceArns {
			r := must(w.findRule(arn))
			n := len(r.Tags)
			for key := range seen {
				if _, ok := r.Tags[key]; !ok {
					n++
				}
			}
			if n > maxTagsPerRule {
				return nil, apiErr("TooManyTags", "You've reached the limit on the number of tags for this resource.")
			}
		}
		owner := 0 // a caller outside the explorer
		if c.inv != nil {
			owner = c.inv.N
		}
		for _, arn := range in.ResourceArns {
			r := w.rule(arn)
			for _, t := range in.Tags {
				r.tag(aws.ToString(t.Key), aws.ToString(t.Value), owner)
			}
		}
		return &elbv2.AddTagsOutput{}, nil
	})
}

// RemoveTags removes the keys from every rule named; a rule that does not
// exist is RuleNotFound, and then no rule changes
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RemoveTags.html).
func (c *client) RemoveTags(ctx context.Context, in *elbv2.RemoveTagsInput, _ ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	return do(c, ctx, "RemoveTags", "", func(w *World) (*elbv2.RemoveTagsOutput, error) {
		var rules []*Rule
		for _, arn := range in.ResourceArns {
			rules = append(rules, must(w.findRule(arn)))
		}
		for _, r := range rules {
			for _, k := range in.TagKeys {
				r.untag(k)
			}
		}
		return &elbv2.RemoveTagsOutput{}, nil
	})
}

// DescribeTags answers each tag with the value it was set to.
func (c *client) DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	return do(c, ctx, "DescribeTags", "", func(w *World) (*elbv2.DescribeTagsOutput, error) {
		out := &elbv2.DescribeTagsOutput{}
		for _, arn := range in.ResourceArns {
			r := must(w.findRule(arn))
			d := elbtypes.TagDescription{ResourceArn: aws.String(arn)}
			for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
				d.Tags = append(d.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(r.TagValues[k])})
			}
			out.TagDescriptions = append(out.TagDescriptions, d)
		}
		return out, nil
	})
}
