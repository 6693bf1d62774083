package plan

import "fmt"

// ECRLifecyclePolicy keeps the newest keep images and expires the rest.
//
// It counts images, never their age: every push moves the rollout tag, so
// the image `stable` serves the pinned tenants (and the one CodeDeploy rolls
// back to) is untagged and often weeks old — ECR's sinceImagePushed counts
// from the push, not from when the tag moved, so an age rule would delete
// exactly the images a rollback or a `stable` scale-up has to pull. Only
// keep newer pushes can push them out.
func ECRLifecyclePolicy(keep int) string {
	return fmt.Sprintf(`{"rules":[`+
		`{"rulePriority":1,"description":"keep the newest %[1]d images, tagged or not","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":%[1]d},"action":{"type":"expire"}}`+
		`]}`, keep)
}
