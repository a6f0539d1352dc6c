#!/usr/bin/env bash
# Install what mcpod needs, idempotently: fast when everything is already there.
#   scripts/setup.sh run    Python package + the pinned upstream MCP server (npm)
#   scripts/setup.sh test   the above + PostgreSQL, Chromium, the Go-built control plane, Helm
set -euo pipefail
mode="${1:-run}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MCPOD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpod}"
mkdir -p "$cache"
t0=$(date +%s)

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
want_apt() { for p in "$@"; do have_pkg "$p" || need_apt+=("$p"); done; }

# keytar (pulled in by @azure-devops/mcp) builds from source here: it needs libsecret headers.
want_apt libsecret-1-dev libsecret-1-0 pkg-config g++ make
if [[ "$mode" == test ]]; then
  want_apt postgresql chromium iproute2 procps
fi
if ((${#need_apt[@]})); then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Python: one distribution, installed editable with its dev extras for tests.
stamp="$cache/pip-$(cat "$root/pyproject.toml" <(python3 --version) | sha256sum | cut -c1-16)-$mode"
installed_at="$(python3 -c 'import pathlib, mcpod_common; print(pathlib.Path(mcpod_common.__file__).resolve().parents[2])' 2>/dev/null || true)"
if [[ ! -f "$stamp" || "$installed_at" != "$root" ]]; then
  extras=""; [[ "$mode" == test ]] && extras="[dev]"
  python3 -m pip install -q --disable-pip-version-check -e "$root$extras"
  touch "$stamp"
fi

# The upstream MCP server, pinned by bridge/upstream/package.json and its lock file.
up="$cache/upstream"
mkdir -p "$up"
if ! cmp -s "$root/bridge/upstream/package.json" "$up/package.json" \
   || [[ ! -f "$up/node_modules/@azure-devops/mcp/dist/index.js" ]]; then
  cp "$root/bridge/upstream/package.json" "$up/package.json"
  if [[ -f "$root/bridge/upstream/package-lock.json" ]]; then
    cp "$root/bridge/upstream/package-lock.json" "$up/package-lock.json"
    (cd "$up" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$up" && npm install --no-audit --no-fund --loglevel=error)
    cp "$up/package-lock.json" "$root/bridge/upstream/package-lock.json"
  fi
fi

if [[ "$mode" == test ]]; then
  "$root/tools/k8s/build.sh"
  if [[ -x "$root/tools/helm/build.sh" ]]; then "$root/tools/helm/build.sh"; fi
fi
echo "setup ($mode) done in $(( $(date +%s) - t0 ))s"
