#!/usr/bin/env bash
# Lints what `go vet` cannot see: the GitHub workflows (actionlint, which also
# runs shellcheck on every `run:` block) and the shell scripts (shellcheck).
# Called by .ci/run; runs on a fresh clone with Go, and installs a missing
# ShellCheck with Debian's apt as root (or through sudo).
#
# Stack files are not checked here: `go test ./...` loads every
# Pulumi.<stack>.yaml with Pulumi's own loaders and runs it through the
# program (TestEveryStackFileLoadsAndRuns in main_test.go).
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=v1.7.12
GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "== installing shellcheck (apt)"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "lint: shellcheck is missing and apt needs root; install shellcheck" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq shellcheck >/dev/null
fi
echo "== $(shellcheck --version | sed -n 's/^version: /shellcheck /p')"

# Pinned exactly: a newer actionlint may add checks and fail an unchanged tree.
if [ "$(actionlint -version 2>/dev/null | head -n 1)" != "$ACTIONLINT_VERSION" ]; then
  echo "== installing actionlint ${ACTIONLINT_VERSION}"
  go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
fi

echo "== actionlint .github/workflows"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ "${#workflows[@]}" -gt 0 ]; then
  actionlint -shellcheck "$(command -v shellcheck)" "${workflows[@]}"
fi

echo "== shellcheck"
mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
if [ "${#scripts[@]}" -gt 0 ]; then
  shellcheck "${scripts[@]}"
fi
echo "lint: ok (${#workflows[@]} workflows, ${#scripts[@]} scripts)"
