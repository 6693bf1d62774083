#!/usr/bin/env bash
# Measures the size of the sample app's final image stage where base images
# cannot be pulled: builds the static binary with the same flags as the
# Dockerfile's build stage, outside the module (as the Dockerfile does), and
# builds a FROM scratch image around it with podman (or IMAGE_TOOL=docker).
#
#   images/measure-size.sh [VERSION] [COLOR]
#
# IMAGE_TOOL=none measures the binary only (no container engine needed).
set -euo pipefail

version="${1:-v1}"
color="${2:-royalblue}"
tool="${IMAGE_TOOL:-podman}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src" "$work/ctx"
find "$here/app" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$work/src/" \;
(
	cd "$work/src"
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
		-ldflags "-s -w -X main.version=${version} -X main.color=${color}" \
		-o "$work/ctx/app" ./*.go
)

echo "binary: $(stat -c %s "$work/ctx/app") bytes"
if [ "$tool" = none ]; then
	exit 0
fi

# The Dockerfile's final stage, verbatim apart from where the binary comes from.
cat >"$work/ctx/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app"]
CONTAINERFILE

tag="localhost/tenant-canary-app:${version}-size"
"$tool" build --quiet -t "$tag" "$work/ctx" >/dev/null
size="$("$tool" image inspect --format '{{.Size}}' "$tag")"
echo "image:  ${size} bytes ($tool image inspect --format '{{.Size}}' $tag)"
"$tool" image inspect --format 'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} ports={{.Config.ExposedPorts}}' "$tag"
"$tool" rmi "$tag" >/dev/null
