#!/bin/sh
# Installs AWS's Lambda Runtime Interface Emulator at the exact version the
# hook tests (lambda/e2e) are written against. The emulator lands in
# $(go env GOPATH)/bin, which must be on PATH for `go test ./...`.
set -eu
go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
command -v aws-lambda-rie >/dev/null 2>&1 || echo "note: add $(go env GOPATH)/bin to PATH" >&2
