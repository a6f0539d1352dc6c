#!/usr/bin/env bash
# Build the Helm CLI from Go modules (the version pinned by go.mod's tool directive).
# Idempotent: the binary is cached outside the repo, keyed by go.mod + go.sum + Go version,
# so a second run with nothing changed returns at once. The last line names the binary
# after " at ".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
helm_version="$(grep -oE '^[[:space:]]*helm\.sh/helm/v4 v[0-9]+\.[0-9]+\.[0-9]+' "$here/go.mod" | head -1 | awk '{print $2}')"
[[ -n "$helm_version" ]] || { echo "build.sh: no helm.sh/helm/v4 version in go.mod" >&2; exit 1; }
cache_root="${MCPOD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpod}"
key="$(cat "$here/go.mod" "$here/go.sum" <(go version) | sha256sum | cut -c1-16)"
out="$cache_root/helm/$helm_version-$key"

if [[ -f "$out/.complete" && -x "$out/helm" ]]; then
  echo "helm $helm_version cached at $out/helm"
  exit 0
fi
mkdir -p "$out"
start=$(date +%s)
cd "$here"
# Without -X the binary reports only the major.minor of the module version.
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" \
  -o "$out/helm.tmp" helm.sh/helm/v4/cmd/helm
mv "$out/helm.tmp" "$out/helm"
echo "$helm_version" > "$out/.complete"
echo "helm $helm_version built in $(( $(date +%s) - start ))s at $out/helm"
