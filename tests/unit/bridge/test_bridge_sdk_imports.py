"""The bridge loads the SDK's server and client modules without the package initialisers."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a fresh interpreter: this test process has the whole SDK imported already.
_PROBE = """
import json, sys
from mcpod_bridge.sdk_imports import skip_sdk_package_inits
skip_sdk_package_inits()
import uvicorn
from mcpod_bridge.app import BridgeApp
from mcpod_bridge.mcp_server import BridgeServer
from mcpod_bridge.upstream import Upstream
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(probe: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout))


def test_bridge_modules_import_without_the_sdk_package_inits() -> None:
    modules = loaded_modules(_PROBE)
    assert {"mcp.server.lowlevel.server", "mcp.client.session", "mcp_types"} <= modules
    # What `mcp/__init__.py` and `mcp/client/__init__.py` would have pulled in.
    for heavy in ("mcp.client.client", "mcp.server.mcpserver", "mcp.client.streamable_http"):
        assert heavy not in modules, heavy


def test_the_full_sdk_still_loads_those_modules() -> None:
    # The comparison that keeps the first test honest: without the skip they are loaded.
    modules = loaded_modules(_PROBE.replace("skip_sdk_package_inits()", ""))
    assert "mcp.client.client" in modules
    assert "mcp.server.mcpserver" in modules


def test_a_process_that_already_imported_the_sdk_keeps_it() -> None:
    import mcp
    from mcpod_bridge.sdk_imports import skip_sdk_package_inits

    before = sys.modules["mcp"]
    skip_sdk_package_inits()
    assert sys.modules["mcp"] is before is mcp
    assert hasattr(sys.modules["mcp"], "ClientSession")
