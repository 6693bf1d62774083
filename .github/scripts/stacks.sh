#!/usr/bin/env bash
# Lists the Pulumi stacks of this project from its Pulumi.<stack>.yaml files,
# so a new stack file joins the CI matrix without a workflow edit.
#
#   stacks.sh matrix          JSON for strategy.matrix.include:
#                             [{"stack":"dev","region":"eu-west-1"}, ...]
#   stacks.sh region STACK    the stack's aws:region
#
# Run from the project root. Needs jq. The region is read with sed, not a
# YAML parser, so `aws:region` must be written as a plain `key: value` line
# (as `pulumi config set aws:region …` writes it).
set -euo pipefail

region_of() {
  local file="Pulumi.$1.yaml"
  [ -f "$file" ] || { echo "stacks.sh: no $file" >&2; return 1; }
  local region
  region=$(sed -n 's/^[[:space:]]*aws:region:[[:space:]]*["'\'']\{0,1\}\([a-z0-9-]*\).*$/\1/p' "$file" | head -n 1)
  [ -n "$region" ] || { echo "stacks.sh: $file sets no aws:region" >&2; return 1; }
  printf '%s\n' "$region"
}

matrix() {
  local file stack
  local -a entries=()
  shopt -s nullglob
  for file in Pulumi.*.yaml; do
    stack=${file#Pulumi.}
    stack=${stack%.yaml}
    entries+=("$(jq -cn --arg stack "$stack" --arg region "$(region_of "$stack")" '{stack: $stack, region: $region}')")
  done
  [ "${#entries[@]}" -gt 0 ] || { echo "stacks.sh: no Pulumi.<stack>.yaml files here" >&2; return 1; }
  printf '%s\n' "${entries[@]}" | jq -cs .
}

case "${1:-}" in
  matrix) matrix ;;
  region) [ -n "${2:-}" ] || { echo "usage: stacks.sh region STACK" >&2; exit 2; }; region_of "$2" ;;
  *) echo "usage: stacks.sh matrix | stacks.sh region STACK" >&2; exit 2 ;;
esac
