#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and etcd from Go modules.
# Idempotent: binaries are cached outside the repo, keyed by go.sum + Go version,
# so a second run with nothing changed returns at once.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
k8s_version="$(grep -oE 'k8s\.io/kubernetes v[0-9]+\.[0-9]+\.[0-9]+' "$here/go.mod" | head -1 | cut -d' ' -f2)"
[[ -n "$k8s_version" ]] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
cache_root="${MCPOD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpod}"
key="$(cat "$here/go.mod" "$here/go.sum" <(go version) | sha256sum | cut -c1-16)"
out="$cache_root/k8s/$k8s_version-$key"
bins=(kube-apiserver kube-controller-manager etcd)

if [[ -f "$out/.complete" ]]; then
  echo "control plane $k8s_version cached at $out"
  exit 0
fi
mkdir -p "$out"
major="${k8s_version#v}"; major="${major%%.*}"
minor="${k8s_version#v*.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
start_all=$(date +%s)
cd "$here"
for b in "${bins[@]}"; do
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "./cmd/$b"
  mv "$out/$b.tmp" "$out/$b"
  echo "built $b in $(( $(date +%s) - start ))s" | tee -a "$out/build-times.txt"
done
echo "$k8s_version" > "$out/.complete"
echo "control plane $k8s_version built in $(( $(date +%s) - start_all ))s at $out"
