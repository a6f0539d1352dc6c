#!/usr/bin/env bash
# Start mcpod on its embedded default: the gateway with the local backend (one
# bridge subprocess per connection), SQLite under ./.data, on http://localhost:8000.
#
# This is DEVELOPMENT MODE: MCPOD_DEV=1 lets the gateway use built-in, publicly
# known keys for anything not set.  For a real deployment set MCPOD_SECRET_KEY,
# MCPOD_MASTER_KEY and MCPOD_ROUTING_KEY and run `mcpod-gateway serve` without
# MCPOD_DEV (see gateway/README.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MCPOD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpod}"

export MCPOD_DEV=1
export MCPOD_BACKEND="${MCPOD_BACKEND:-local}"
export MCPOD_DATA_DIR="${MCPOD_DATA_DIR:-$root/.data}"
export MCPOD_LISTEN="${MCPOD_LISTEN:-127.0.0.1:8000}"
port="${MCPOD_LISTEN##*:}"
# localhost, not 127.0.0.1: passkeys need a host name as their relying-party id.
export MCPOD_PUBLIC_URL="${MCPOD_PUBLIC_URL:-http://localhost:$port}"
# The upstream server that `scripts/setup.sh run` installed.
if [[ -z "${MCPOD_UPSTREAM_DIR:-}" && -d "$cache/upstream" ]]; then
  export MCPOD_UPSTREAM_DIR="$cache/upstream"
fi
mkdir -p "$MCPOD_DATA_DIR"

cat <<BANNER
==============================================================================
 mcpod — embedded default, DEVELOPMENT MODE (MCPOD_DEV=1: built-in insecure keys)
   data:    $MCPOD_DATA_DIR
   backend: $MCPOD_BACKEND
   portal:  $MCPOD_PUBLIC_URL/
   agents:  $MCPOD_PUBLIC_URL/mcp
 Stop with Ctrl-C.
==============================================================================
BANNER
exec python3 -m mcpod_gateway.cli serve
