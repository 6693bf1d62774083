// Package scenario runs a rollout story end to end — push, canary, approve
// or reject, newest push wins — against a backend, with real HTTP traffic
// through the listener, and judges it from what was observed.
//
// The same driver runs against a local rehearsal and against a real AWS
// stack: it talks to its Backend only through the stack's outputs
// (contract.StackOutputs), the AWS SDK (CodePipeline, CodeDeploy, ECS,
// Elastic Load Balancing, CloudWatch) built from the Backend's aws.Config,
// HTTP to the listener, and Backend.Push for `docker push`. It never reads
// or sets anything the real stack would not expose. Package awsstack is the
// Backend for a real stack and holds the acceptance run against AWS.
//
// The AWS operations it calls, all a backend must serve: CodePipeline
// ListPipelineExecutions, GetPipelineExecution, GetPipelineState,
// ListActionExecutions, PutApprovalResult; CodeDeploy GetDeploymentGroup, ListDeployments,
// GetDeployment, ListDeploymentTargets, GetDeploymentTarget; ECS DescribeServices,
// DescribeTaskDefinition; Elastic Load Balancing DescribeRules; CloudWatch
// DescribeAlarms.
//
// A scenario is data (Scenario, Step): a list of pushes, approvals,
// rejections and waits. The driver runs in ticks of the Backend's clock:
// each tick it sends one round of requests (one per pinned tenant, per
// sample tenant and untenanted), and every Options.PollEvery rounds it
// polls AWS once, records what changed and tests the current step's
// condition. Every wait is bounded twice: by the step's Within (on the
// backend's clock, so a sped-up rehearsal waits less wall time) and by the
// run's deadline (Options.Timeout on the wall clock, and the caller's
// context). A wait that runs out ends the run with an error naming what
// did not happen and what was last seen. Traffic is bounded too: at most
// Options.MaxRequests requests while waiting and Options.FinalRounds rounds
// at the end, and only to a loopback address or the stack's own ALB
// (albUrl).
//
// The checks (checks.go) are pure functions of the Report, so they are
// table-tested over synthetic reports and give the same verdict on a
// rehearsal's report and an AWS run's.
//
// # Report
//
// Run returns, and the caller writes as JSON, a Report:
//
//	{
//	  "scenario": "happy",                  // Scenario.Name
//	  "started": "2026-…Z", "ended": "…",   // backend clock, RFC 3339
//	  "stack": {"clusterName": "…", "latestServiceName": "…", "stableServiceName": "…",
//	            "latestDeploymentGroupName": "…", "stableDeploymentGroupName": "…", "anchorRuleArn": "…"},
//	  "pinnedTenants": ["acme"],            // from the stack's outputs: the allow-list
//	  "sampleTenants": ["7", "42"],         // unpinned tenants the driver sent requests for
//	  "initialVersion": "v1",               // what every target was served before the first push
//	  "pushes": [{"version": "v2", "bad": "5xx=50%", "time": "…"}],
//	  "responses": [                        // one per request, in the order sent
//	    {"time": "…", "tenant": "acme", "pinned": true,
//	     "version": "v1",                   // the X-App-Version header ("" if none)
//	     "status": 200,                     // 0 when no HTTP answer came
//	     "error": "…"}                      // transport error or timeout, if any
//	  ],
//	  "events": [                           // what the driver observed through the SDK, on change
//	    {"time": "…", "kind": "stage",      // a pipeline stage's latest execution
//	     "stage": "Latest", "status": "InProgress", "executionId": "…", "version": "v2"},
//	    {"time": "…", "kind": "execution",  // a pipeline execution started by a push of the run
//	     "executionId": "…", "version": "v2", "status": "InProgress",
//	     "revisions": ["Image: sha256:…", "Bundle: …"]},  // its source revisions
//	    {"time": "…", "kind": "approval",   // the Approve action of an execution
//	     "executionId": "…", "version": "v2",
//	     "status": "pending" | "approved" | "rejected",
//	     "summary": "…", "by": "driver" | "other"},
//	    {"time": "…", "kind": "deployment", // a CodeDeploy deployment created during the run
//	     "group": "…", "deploymentId": "d-…", "status": "InProgress" | "Succeeded" | "Failed" | "Stopped" | …,
//	     "errorCode": "ALARM_ACTIVE", "message": "…",
//	     "rollbackDeploymentId": "…", "rollbackTriggeringDeploymentId": "…",
//	     "targetIds": ["cluster:service"]},
//	    {"time": "…", "kind": "alarm", "alarm": "…", "state": "ALARM", "message": "…"},
//	    {"time": "…", "kind": "rules",      // the listener's rules, when any changed
//	     "rules": [{"arn": "…", "priority": "1", "role": "catch-all" | "anchor" | "tenant" | "default" | "other",
//	                "forward": [{"targetGroupArn": "…", "weight": 100}]}]},
//	    {"time": "…", "kind": "service",    // an ECS service's task definition, desired count or task sets
//	     "service": "…", "taskDefinition": "arn:…", "desiredCount": 2, "images": ["…@sha256:…"],
//	     "taskSets": [{"id": "ecs-svc/…", "status": "PRIMARY", "taskDefinition": "arn:…"}]},
//	                                        // also read again right after one of its deployments is seen ending
//	    {"time": "…", "kind": "target",     // an unfinished deployment's ECS target, when its task sets changed
//	     "group": "…", "deploymentId": "d-…",
//	     "taskSets": [{"id": "…", "status": "…", "label": "Blue" | "Green", "desiredCount": 2}]},
//	    {"time": "…", "kind": "step", "message": "push v2"},   // the driver's own steps
//	    {"time": "…", "kind": "settled"}    // nothing in flight; the final round follows
//	  ],
//	  "error": "…",                         // what did not happen, when the run failed
//	  "checks": [{"name": "pinned-never-unapproved", "passed": true, "detail": "…"}]
//	}
//
// An execution's version is the version of the last push made before the
// execution started: pushes are the only thing that starts the pipeline.
package scenario
