# Rollout commands for the sample app in images/app (docs/sample-app.md; a
# rollout walked through: docs/operating.md).
#
#   make image VERSION=v2 COLOR=green   build the sample image tenant-canary-app:v2
#   make login                          log docker in to the stack's ECR registry
#   make push VERSION=v2                tag tenant-canary-app:v2 as <repositoryUrl>:<imageTag>
#                                       and push it: this push starts a rollout
#   make watch WATCH_ARGS='-tenants 7,42'
#                                       watch which tenant sees which version
#   make figures                        re-measure every figure and rewrite the
#                                       generated page docs/figures.md (go run
#                                       ./cmd/figures); FIGURES_FLAGS='-cold 1'
#                                       adds a cold build
#
# The repository URL, the rollout tag and the region come from the selected
# Pulumi stack (STACK=prod for another one): stack outputs repositoryUrl and
# imageTag, config aws:region. REPOSITORY_URL, IMAGE_TAG and REGION override
# them, e.g. in CI.

VERSION  ?= v1
COLOR    ?= royalblue
IMAGE    ?= tenant-canary-app
# Fargate runs linux/amd64 unless the task definition asks for ARM64.
PLATFORM ?= linux/amd64
DOCKER   ?= docker
PULUMI   ?= pulumi
AWS      ?= aws
GO       ?= go
STACK    ?=
REPOSITORY_URL ?=
IMAGE_TAG      ?=
REGION         ?=
WATCH_ARGS     ?=
FIGURES_FLAGS  ?=

stack_flag := $(if $(STACK),--stack $(STACK))

# Shell snippets that read one stack value unless it was given; each fails
# with a message naming the value.
repository_url = repo='$(REPOSITORY_URL)'; \
	[ -n "$$repo" ] || repo="$$($(PULUMI) stack output repositoryUrl $(stack_flag))" || \
		{ echo "make: cannot read stack output repositoryUrl (pulumi up done? STACK=$(STACK))" >&2; exit 1; }; \
	[ -n "$$repo" ] || { echo "make: stack output repositoryUrl is empty" >&2; exit 1; }
image_tag = tag='$(IMAGE_TAG)'; \
	[ -n "$$tag" ] || tag="$$($(PULUMI) stack output imageTag $(stack_flag))" || \
		{ echo "make: cannot read stack output imageTag" >&2; exit 1; }; \
	[ -n "$$tag" ] || { echo "make: stack output imageTag is empty" >&2; exit 1; }
region = region='$(REGION)'; \
	[ -n "$$region" ] || region="$$($(PULUMI) config get aws:region $(stack_flag))" || \
		{ echo "make: cannot read config aws:region; set it or pass REGION=" >&2; exit 1; }

.PHONY: image login push watch figures

image:
	$(DOCKER) build --platform $(PLATFORM) \
		--build-arg VERSION=$(VERSION) --build-arg COLOR=$(COLOR) \
		-t $(IMAGE):$(VERSION) images/app

login:
	@set -e; $(repository_url); $(region); \
	registry="$${repo%%/*}"; \
	echo "logging in to $$registry ($$region)"; \
	$(AWS) ecr get-login-password --region "$$region" | \
		$(DOCKER) login --username AWS --password-stdin "$$registry"

push:
	@set -e; \
	$(DOCKER) image inspect $(IMAGE):$(VERSION) >/dev/null 2>&1 || \
		{ echo "make: no local image $(IMAGE):$(VERSION); run: make image VERSION=$(VERSION) COLOR=..." >&2; exit 1; }; \
	$(repository_url); $(image_tag); \
	echo "pushing $(IMAGE):$(VERSION) as $$repo:$$tag (starts a rollout)"; \
	$(DOCKER) tag $(IMAGE):$(VERSION) "$$repo:$$tag"; \
	$(DOCKER) push "$$repo:$$tag"

watch:
	$(GO) run ./cmd/watch $(if $(STACK),-stack $(STACK)) $(WATCH_ARGS)

# The hook benchmarks run the built bootstrap under aws-lambda-rie, which
# `go install` (.ci/install-rie.sh) puts in $(go env GOPATH)/bin.
figures:
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) run ./cmd/figures $(FIGURES_FLAGS)
