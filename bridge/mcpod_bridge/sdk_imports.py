"""Load the MCP SDK's modules the bridge uses without its package `__init__` files.

`import mcp.server.lowlevel` first runs `mcp/__init__.py`, which imports the whole client
and server stacks: the HTTP client, the high-level server framework, TLS and OAuth helpers,
the CLI.  The bridge uses the low-level server, the Streamable HTTP transport and the client
session - about 11 MiB less resident memory per connection pod without the rest.  The
modules themselves are imported the normal way; only the three package initialisers are
skipped, by registering bare package objects that point at the same directories.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Final

_PACKAGES: Final = ("mcp", "mcp.client", "mcp.server")


class SdkLayoutError(RuntimeError):
    """The installed SDK is not laid out as the bridge expects."""


def skip_sdk_package_inits() -> None:
    """Call before the first SDK import, in the bridge's own process only.

    A process that already imported the SDK keeps it as it is.  Not for shared processes
    (tests, the gateway): code there may rely on names the package initialisers export.
    """
    if _PACKAGES[0] in sys.modules:
        return
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            raise SdkLayoutError(f"the MCP SDK package {name} is not installed")
        package = types.ModuleType(name)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__package__ = name
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)
