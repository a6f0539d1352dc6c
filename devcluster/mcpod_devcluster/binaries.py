"""Locating the control-plane binaries built by tools/k8s/build.sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "k8s" / "build.sh"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager")


class BinariesMissingError(RuntimeError):
    pass


def control_plane_bin_dir() -> Path:
    """The directory holding etcd, kube-apiserver and kube-controller-manager.

    MCPOD_K8S_BIN_DIR wins; otherwise the build script is run, which returns at
    once when its cache is warm and builds (minutes) when it is cold.
    """
    override = os.environ.get("MCPOD_K8S_BIN_DIR")
    if override:
        bin_dir = Path(override)
    else:
        if not BUILD_SCRIPT.exists():
            raise BinariesMissingError(f"{BUILD_SCRIPT} not found; set MCPOD_K8S_BIN_DIR")
        result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BinariesMissingError(f"{BUILD_SCRIPT} failed:\n{result.stdout}{result.stderr}")
        last = result.stdout.strip().splitlines()[-1]
        bin_dir = Path(last.rsplit(" at ", 1)[-1])
    missing = [n for n in NAMES if not (bin_dir / n).is_file()]
    if missing:
        raise BinariesMissingError(f"{bin_dir} lacks {', '.join(missing)}")
    return bin_dir
