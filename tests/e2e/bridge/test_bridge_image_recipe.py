"""The connection image: Dockerfile.connection's shape, and its install step run for real.

No Docker engine runs here, so the Dockerfile keeps its install step in
scripts/images/connection.sh and this test runs it into a temporary prefix, then serves the
real upstream from that prefix with nothing written outside a scratch directory - as in a pod
with a read-only root filesystem and an emptyDir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bridge_runner import BRIDGE_TOKEN, PAT_SENTINEL, RunningBridge, free_port

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "images" / "connection.sh"
DOCKERFILE = ROOT / "Dockerfile.connection"


def stages(text: str) -> list[str]:
    return ["FROM " + part for part in re.split(r"^FROM ", text, flags=re.M)[1:]]


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    python_base = re.search(r"^ARG PYTHON_BASE=(\S+)$", text, re.M)
    node_base = re.search(r"^ARG NODE_BASE=(\S+)$", text, re.M)
    assert python_base
    assert node_base
    assert re.fullmatch(
        r"python:3\.11\.[0-9]+-slim-bookworm(@sha256:[0-9a-f]{64})?", python_base[1]
    )
    assert re.fullmatch(
        r"node:20\.[0-9]+\.[0-9]+-bookworm-slim(@sha256:[0-9a-f]{64})?", node_base[1]
    )
    node, build, runtime = stages(text)
    assert node.startswith("FROM ${NODE_BASE} AS node")
    assert "ARG MCPOD_SERVER_VERSION=2.10.0" in build
    assert 'RUN scripts/images/connection.sh /opt/mcpod "${MCPOD_SERVER_VERSION}"' in build
    assert "libsecret-1-dev" in build
    # The image that runs: keytar's library, no compiler or installer.
    assert "libsecret-1-0" in runtime
    for tool in ("g++", "libsecret-1-dev", "npm ", "/npm", "pip install"):
        assert tool not in runtime
    assert "COPY --from=build /opt/mcpod/upstream /opt/mcpod/upstream" in runtime
    assert "COPY --from=build /opt/mcpod/venv /opt/mcpod/venv" in runtime
    assert "COPY --from=node /usr/local/bin/node /usr/local/bin/node" in runtime
    assert re.findall(r"^USER (\S+)$", runtime, re.M) == ["10001:10001"]
    assert "MCPOD_SCRATCH_DIR=/scratch" in runtime
    assert "EXPOSE 8080" in runtime
    assert 'ENTRYPOINT ["mcpod-bridge"]' in runtime
    # The default pinned version is the one the lock file holds.
    pinned = json.loads((ROOT / "bridge/upstream/package.json").read_text())
    assert pinned["dependencies"]["@azure-devops/mcp"] == "2.10.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "usage: scripts/images/connection.sh PREFIX"), (["/tmp/x", "latest"], "exact version")],
)
def test_install_step_refuses_bad_arguments(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not Path("/tmp/x/upstream").exists()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to run the install step")
    prefix = tmp_path_factory.mktemp("image") / "opt-mcpod"
    proc = subprocess.run(
        [str(SCRIPT), str(prefix)], capture_output=True, text=True, timeout=1200, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"installed @azure-devops/mcp 2.10.0 into {prefix}/upstream" in proc.stdout
    assert proc.stdout.strip().endswith(f"installed mcpod-bridge into {prefix}/venv")
    return prefix


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in root.rglob("*")
        if not p.is_symlink()
    }


def test_installed_bridge_serves_the_installed_upstream_read_only(
    installed: Path, tmp_path: Path
) -> None:
    venv = installed / "venv"
    assert not (venv / "bin" / "pip").exists()
    before = snapshot(installed)
    scratch = tmp_path / "scratch"  # the emptyDir
    scratch.mkdir()
    port = free_port()
    node_dir = str(Path(shutil.which("node") or "node").parent)
    env = {
        "PATH": f"{venv / 'bin'}:{node_dir}:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MCPOD_SCRATCH_DIR": str(scratch),
        "MCPOD_UPSTREAM_DIR": str(installed / "upstream"),
        "MCPOD_ORGANIZATION": "contoso",
        "MCPOD_PAT": PAT_SENTINEL,
        "MCPOD_BRIDGE_TOKEN": BRIDGE_TOKEN,
        "MCPOD_LISTEN": f"127.0.0.1:{port}",
    }
    log = tmp_path / "bridge.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "mcpod-bridge")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=scratch,
        )
    bridge = RunningBridge(process, port, log, env, scratch, tmp_path / "unused.pid")
    try:
        bridge.wait_ready(timeout=60)
        response = bridge.post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        assert response.status_code == 200
        assert len(response.json()["result"]["tools"]) == 40
        child = bridge.upstream_pid()
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        assert (
            argv[1]
            == str(installed / "upstream/node_modules/@azure-devops/mcp/dist/index.js").encode()
        )
    finally:
        assert bridge.stop() == 0
    # Nothing was written under the image's prefix: a read-only root filesystem suffices.
    assert snapshot(installed) == before
    assert PAT_SENTINEL not in log.read_text()
    assert os.access(scratch, os.W_OK)
