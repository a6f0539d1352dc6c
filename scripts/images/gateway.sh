#!/usr/bin/env bash
# The gateway image's install step: scripts/images/gateway.sh PREFIX
# (Dockerfile.gateway runs it with PREFIX=/opt/mcpod; tests run it into a temporary prefix.)
set -euo pipefail
prefix="${1:?usage: scripts/images/gateway.sh PREFIX}"
# shellcheck source=scripts/images/python-app.sh
source "$(dirname "$0")/python-app.sh"
install_python_app "$prefix" mcpod-gateway
