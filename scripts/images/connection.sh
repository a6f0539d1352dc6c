#!/usr/bin/env bash
# The connection image's install step: scripts/images/connection.sh PREFIX [SERVER_VERSION]
# (Dockerfile.connection runs it with PREFIX=/opt/mcpod; tests run it into a temporary prefix.)
#
#   PREFIX/upstream  @azure-devops/mcp at SERVER_VERSION (default: the version pinned, with its
#                    lock file, in bridge/upstream/), its native keytar module built from source
#   PREFIX/venv      mcpod-bridge: the mcpod wheel with its hash-locked dependencies
#
# Needs node and npm (Node 20+), a C++ toolchain, make, pkg-config and libsecret-1-dev.
set -euo pipefail
prefix="${1:?usage: scripts/images/connection.sh PREFIX [SERVER_VERSION]}"
version="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pinned_dir="$root/bridge/upstream"
pinned="$(node -p "require('$pinned_dir/package.json').dependencies['@azure-devops/mcp']")"
version="${version:-$pinned}"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "connection.sh: SERVER_VERSION must be an exact version such as 2.10.0, got '$version'" >&2
  exit 2
fi

install_upstream() {
  local dir="$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  if [[ "$version" == "$pinned" ]]; then
    # The tested version: installed exactly as locked.
    cp "$pinned_dir/package.json" "$pinned_dir/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  else
    # Another version asked for by the build argument: pinned exactly, resolved at build time.
    node -e "
      const p = require('$pinned_dir/package.json');
      p.dependencies['@azure-devops/mcp'] = process.argv[1];
      require('fs').writeFileSync(process.argv[2], JSON.stringify(p, null, 2));
    " "$version" "$dir/package.json"
    (cd "$dir" && npm install --omit=dev --no-audit --no-fund --loglevel=error)
  fi
  local entry="$dir/node_modules/@azure-devops/mcp/dist/index.js"
  [[ -f "$entry" ]] || { echo "connection.sh: $entry is missing" >&2; exit 1; }
  # The upstream loads keytar eagerly, even with PAT auth: its native build must be there.
  (cd "$dir" && node -e "require('keytar')") || {
    echo "connection.sh: keytar's native module did not build (need libsecret-1-dev, pkg-config, g++)" >&2
    exit 1
  }
  local installed
  installed="$(node -p "require('$dir/node_modules/@azure-devops/mcp/package.json').version")"
  [[ "$installed" == "$version" ]] || {
    echo "connection.sh: installed @azure-devops/mcp $installed, wanted $version" >&2
    exit 1
  }
  # Build leftovers the runtime never reads.
  find "$dir/node_modules" -type d \( -name obj.target -o -name .deps \) -prune -exec rm -rf {} +
  echo "installed @azure-devops/mcp $installed into $dir"
}

install_upstream "$prefix/upstream"
# shellcheck source=scripts/images/python-app.sh
source "$here/python-app.sh"
install_python_app "$prefix" mcpod-bridge
