package fakeaws

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Operations of the release claim (a tag on the catch-all rule).
const (
	OpAddTags      = "AddTags"
	OpRemoveTags   = "RemoveTags"
	OpDescribeTags = "DescribeTags"
)

// MaxTagsPerResource is Elastic Load Balancing's tag limit: "Maximum
// number of tags per resource—50" (Application Load Balancers guide, "Tag
// an Application Load Balancer",
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-tags.html);
// AddTags past it fails with TooManyTags.
const MaxTagsPerResource = 50

// tagState is the part of World the release claim writes and pin reads.
type tagState struct {
	// Tags are the tags of the world's rules, by rule ARN and key.
	Tags map[string]map[string]string
}

// TagsOf returns a copy of the tags of the resource arn.
func (w *World) TagsOf(arn string) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.Tags[arn])
}

// SetTag tags the resource arn with key=value.
func (w *World) SetTag(arn, key, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setTag(arn, key, value)
}

func (w *World) setTag(arn, key, value string) {
	if w.Tags == nil {
		w.Tags = map[string]map[string]string{}
	}
	if w.Tags[arn] == nil {
		w.Tags[arn] = map[string]string{}
	}
	w.Tags[arn][key] = value
}

// checkTaggable answers RuleNotFound for an ARN that is not one of the
// world's rules. Must hold mu.
func (w *World) checkTaggable(arns []string) error {
	if len(arns) == 0 {
		return ValidationError("ResourceArns is required")
	}
	for _, arn := range arns {
		if w.rule(arn) == nil {
			return &APIError{Code: "RuleNotFound", Message: "One or more rules not found", Status: 400}
		}
	}
	return nil
}

// AddTags implements rollout.ELB for the world's rules.
func (w *World) AddTags(_ context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keys []string
	for _, t := range in.Tags {
		keys = append(keys, aws.ToString(t.Key))
	}
	if err := w.begin(OpAddTags, strings.Join(keys, ",")); err != nil {
		return nil, err
	}
	if err := w.checkTaggable(in.ResourceArns); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, ValidationError("Tags is required")
	}
	for _, arn := range in.ResourceArns {
		n := len(w.Tags[arn])
		for _, t := range in.Tags {
			if _, ok := w.Tags[arn][aws.ToString(t.Key)]; !ok {
				n++
			}
		}
		if n > MaxTagsPerResource {
			return nil, &APIError{Code: "TooManyTags", Message: "You've reached the limit on the number of tags for this resource.", Status: 400}
		}
	}
	for _, arn := range in.ResourceArns {
		for _, t := range in.Tags {
			w.setTag(arn, aws.ToString(t.Key), aws.ToString(t.Value))
		}
	}
	return &elbv2.AddTagsOutput{}, nil
}

// RemoveTags implements rollout.ELB for the world's rules.
func (w *World) RemoveTags(_ context.Context, in *elbv2.RemoveTagsInput, _ ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpRemoveTags, strings.Join(in.TagKeys, ",")); err != nil {
		return nil, err
	}
	if err := w.checkTaggable(in.ResourceArns); err != nil {
		return nil, err
	}
	for _, arn := range in.ResourceArns {
		for _, k := range in.TagKeys {
			delete(w.Tags[arn], k)
		}
	}
	return &elbv2.RemoveTagsOutput{}, nil
}

// DescribeTags implements rollout.ELB for the world's rules.
func (w *World) DescribeTags(_ context.Context, in *elbv2.DescribeTagsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.begin(OpDescribeTags, strings.Join(in.ResourceArns, ",")); err != nil {
		return nil, err
	}
	if err := w.checkTaggable(in.ResourceArns); err != nil {
		return nil, err
	}
	out := &elbv2.DescribeTagsOutput{}
	for _, arn := range in.ResourceArns {
		d := elbtypes.TagDescription{ResourceArn: aws.String(arn), Tags: []elbtypes.Tag{}}
		for _, k := range slices.Sorted(maps.Keys(w.Tags[arn])) {
			d.Tags = append(d.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(w.Tags[arn][k])})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}
