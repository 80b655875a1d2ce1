#!/usr/bin/env bash
# Build Apache Beam's Prism runner from the Go module at the tag matching the installed Python SDK.
# No internet here except package registries: the Python SDK cannot download Prism's release binary,
# but the Go module proxy serves github.com/apache/beam/sdks/v2, so we compile it.
# Usage: scripts/build-prism.sh [PYTHON]   -> .tools/prism/prism (prints the build time)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
BEAM_VERSION="$("$PY" -c 'import apache_beam; print(apache_beam.__version__)')"
GOBIN="$(pwd)/.tools/prism"
mkdir -p "$GOBIN"
echo "building prism v${BEAM_VERSION} with $(go version) into ${GOBIN}"
start=$(date +%s)
# GOFLAGS=-mod=mod: build from the module proxy only, independent of any go.work around us.
GOBIN="$GOBIN" GOFLAGS=-mod=mod GOWORK=off \
  go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v${BEAM_VERSION}"
end=$(date +%s)
echo "built ${GOBIN}/prism in $((end - start)) s"
"$GOBIN/prism" --help 2>&1 | head -3 || true
