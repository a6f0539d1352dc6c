"""scripts/kind-e2e.sh says why it is skipped where no Docker engine runs, and exits 0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fixtures.helm import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "kind-e2e.sh"


def run_with_path(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    # Only the tools the script's first lines need, so "docker" is whatever bin_dir holds.
    for tool in ("dirname", "date"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_skips_without_a_docker_command(tmp_path: Path) -> None:
    proc = run_with_path(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kind-e2e: SKIPPED: no docker command on this machine")
    assert "python3 -m pytest tests/cluster/chart" in proc.stdout


def test_skips_when_the_docker_engine_does_not_answer(tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    proc = run_with_path(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kind-e2e: SKIPPED: docker is installed but no Docker engine")


def test_runs_the_same_install_test_as_the_dev_cluster() -> None:
    text = SCRIPT.read_text()
    assert "python3 -m pytest tests/cluster/chart/test_chart_install.py" in text
    assert (REPO_ROOT / "tests" / "cluster" / "chart" / "test_chart_install.py").exists()
    # The environment the test's KindTarget reads.
    for name in ("MCPOD_E2E_KUBECONFIG", "MCPOD_E2E_VALUES", "MCPOD_E2E_DATABASE_URL"):
        assert f"export {name}=" in text
