"""The dev cluster's state directory: what `up` leaves for `env`, `down` and tests."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


def default_state_dir() -> Path:
    override = os.environ.get("MCPOD_DEV_CLUSTER_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mcpod" / "dev-cluster"


@dataclass(frozen=True)
class ClusterState:
    pid: int
    cluster_id: str
    server: str
    kubeconfig: str
    api_ready_s: float
    up_s: float

    @property
    def path(self) -> Path:
        return Path(self.kubeconfig).parent / "state.json"

    def write(self, state_dir: Path) -> None:
        tmp = state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(state_dir / "state.json")

    @classmethod
    def read(cls, state_dir: Path) -> ClusterState | None:
        try:
            return cls(**json.loads((state_dir / "state.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def pod_log(state_dir: Path, namespace: str, pod: str, container: str) -> str:
    """The newest log file of a container of the named pod (restarts append to it)."""
    candidates = sorted(
        (state_dir / "pods").glob(f"{namespace}_{pod}_*/logs/{container}.log"),
        key=lambda p: p.stat().st_mtime,
    )
    return candidates[-1].read_text(errors="replace") if candidates else ""
