"""The operator and gateway images: the Dockerfiles' shape, and their install steps run for real.

No Docker engine runs here, so each Dockerfile keeps its install step in a script
(scripts/images/<component>.sh) and these tests run that script into a temporary prefix.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
IMAGES = ROOT / "scripts" / "images"
COMPONENTS = {"operator": "mcpod-operator", "gateway": "mcpod-gateway"}
LOCK_LINE = re.compile(r"^([a-z0-9_.-]+)==(\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}$", re.M)


def canonical(name: str) -> str:
    """PEP 503 names: metadata may say kubernetes_asyncio where the lock says kubernetes-asyncio."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stages(dockerfile: str) -> list[str]:
    """The text of each build stage (split at FROM)."""
    parts = re.split(r"^FROM ", dockerfile, flags=re.M)
    return ["FROM " + p for p in parts[1:]]


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_dockerfile_is_multi_stage_pinned_and_non_root(component: str) -> None:
    text = (ROOT / f"Dockerfile.{component}").read_text()
    build, runtime = stages(text)
    base = re.search(r"^ARG PYTHON_BASE=(\S+)$", text, re.M)
    assert base, "the base image is one pinned ARG"
    # An exact patch version, never a floating tag.
    assert re.fullmatch(r"python:3\.11\.[0-9]+-slim-bookworm(@sha256:[0-9a-f]{64})?", base[1])
    assert build.startswith("FROM ${PYTHON_BASE} AS build")
    assert f"RUN scripts/images/{component}.sh /opt/mcpod" in build
    assert runtime.startswith("FROM ${PYTHON_BASE}\n")
    assert "COPY --from=build /opt/mcpod/venv /opt/mcpod/venv" in runtime
    # No compiler, package manager install or pip install in the image that runs.
    for tool in ("apt-get", "gcc", "pip install", "npm"):
        assert tool not in runtime
    assert "pip uninstall" in runtime
    user = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert user == ["10001:10001"], "numeric non-root user, as the pods' runAsUser"
    assert f'ENTRYPOINT ["{COMPONENTS[component]}"]' in runtime


def test_dockerfile_base_python_matches_the_locks() -> None:
    """The locks were resolved for one Python minor; the images must run that one."""
    for lock in ("runtime.lock", "build.lock"):
        header = (IMAGES / lock).read_text().splitlines()[1]
        assert "Python 3.11 on linux (x86_64)" in header


def test_locks_pin_every_distribution_by_hash_and_match_what_tests_run() -> None:
    from importlib import metadata

    text = (IMAGES / "runtime.lock").read_text()
    pinned = {canonical(n): ver for n, ver in LOCK_LINE.findall(text)}
    assert len(pinned) == text.count("==") > 20
    for name in ("mcp", "kopf", "fastapi", "asyncpg", "kubernetes-asyncio", "cryptography"):
        assert name in pinned, name
    # The images ship the versions the test suite runs against.
    differ = {
        name: (version, metadata.version(name))
        for name, version in pinned.items()
        if _installed(name) and metadata.version(name) != version
    }
    assert differ == {}, "re-run scripts/images/lock.py"


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_install_step_builds_a_runnable_tool_free_venv(component: str, tmp_path: Path) -> None:
    prefix = tmp_path / "opt-mcpod"
    proc = subprocess.run(
        [str(IMAGES / f"{component}.sh"), str(prefix)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().endswith(f"installed {COMPONENTS[component]} into {prefix}/venv")
    venv = prefix / "venv"
    python = venv / "bin" / "python"
    # No installer or build backend left inside.
    for tool in ("pip", "setuptools"):
        found = subprocess.run(
            [str(python), "-c", f"import importlib.util as u; print(u.find_spec({tool!r}))"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert found.stdout.strip() == "None", f"{tool} is still installed"
    assert not (venv / "bin" / "pip").exists()
    # mcpod is installed as a wheel (not a link back to this checkout), with the locked pins.
    report = subprocess.run(
        [
            str(python),
            "-c",
            "import json, importlib.metadata as m, mcpod_common;"
            "print(json.dumps({'file': mcpod_common.__file__,"
            " 'dists': {d.metadata['Name']: d.version for d in m.distributions()}}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    data = json.loads(report.stdout)
    installed = {canonical(n): ver for n, ver in data["dists"].items()}
    assert data["file"].startswith(str(venv))
    pinned = {
        canonical(n): ver for n, ver in LOCK_LINE.findall((IMAGES / "runtime.lock").read_text())
    }
    for name, version in pinned.items():
        assert installed.get(name) == version, name
    # The console script starts and checks its settings with the image's interpreter.
    command = venv / "bin" / COMPONENTS[component]
    help_text = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert COMPONENTS[component] in help_text


def test_install_step_refuses_a_missing_prefix() -> None:
    proc = subprocess.run(
        [str(IMAGES / "operator.sh")], capture_output=True, text=True, check=False, timeout=30
    )
    assert proc.returncode != 0
    assert "usage: scripts/images/operator.sh PREFIX" in proc.stderr
