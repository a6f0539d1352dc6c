"""Starting the upstream process - deliberately free of heavy imports.

The bridge spawns its child before it imports the MCP SDK and the web server: node needs
~0.7 s to answer `initialize` and Python ~1 s to import the SDK, and on two cores the two
overlap instead of adding up.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: str


def spawn_upstream(spec: UpstreamSpec) -> subprocess.Popen[bytes]:
    """Start the child with pipes on all three standard streams, in its own session so a
    signal meant for it reaches its whole process group."""
    return subprocess.Popen(
        spec.argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=spec.env,
        cwd=spec.cwd,
        start_new_session=True,
    )
