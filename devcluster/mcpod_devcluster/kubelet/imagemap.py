"""What an image means to the process kubelet: a local command and environment.

Images are never pulled or run.  An entry follows Docker's model:
`entrypoint` + `cmd` are the image's defaults, a pod's `command` replaces the
entrypoint and its `args` replace `cmd`; `env` are the image's defaults, which
the pod's env overrides.  `node_env` is applied last: it stands in for what a
real pod gets from its own network namespace (e.g. binding to the pod IP).
An entry matches `repo:tag` exactly, else `repo` for any tag.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpod_common import vocabulary as v

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ImageEntry:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    node_env: dict[str, str] = field(default_factory=dict)


class UnknownImageError(LookupError):
    pass


@dataclass
class ImageMap:
    entries: dict[str, ImageEntry]

    def resolve(self, image: str) -> ImageEntry:
        if image in self.entries:
            return self.entries[image]
        repo = _repository(image)
        if repo in self.entries:
            return self.entries[repo]
        raise UnknownImageError(
            f'image "{image}" has no local command (known: {", ".join(sorted(self.entries))})'
        )

    def merged(self, other: ImageMap) -> ImageMap:
        return ImageMap({**self.entries, **other.entries})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageMap:
        entries = {}
        for image, raw in data.items():
            entries[image] = ImageEntry(
                entrypoint=tuple(raw.get("entrypoint", ())),
                cmd=tuple(raw.get("cmd", ())),
                env=dict(raw.get("env", {})),
                node_env=dict(raw.get("nodeEnv", {})),
            )
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> ImageMap:
        return cls.from_json(json.loads(path.read_text()))


def _repository(image: str) -> str:
    """`repo:tag` or `repo@digest` → `repo` (a registry port's colon is kept)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def _tool(name: str) -> str:
    """A console script of this interpreter (not a version-manager shim, which needs $HOME)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name) or name


def default_image_map(upstream_dir: Path) -> ImageMap:
    """Our own images mapped to the installed console scripts.

    `upstream_dir` holds the npm-installed upstream server, as /opt/mcpod/upstream
    does in the connection image.
    """
    fake_upstream = f"{sys.executable} {REPO_ROOT / 'tests' / 'fakes' / 'fake_upstream.py'}"
    listen_8080 = {"MCPOD_LISTEN": "$(POD_IP):8080"}
    return ImageMap(
        {
            f"{v.IMAGE_CONNECTION}:{v.FAKE_SERVER_VERSION}": ImageEntry(
                entrypoint=(_tool("mcpod-bridge"),),
                env={"MCPOD_UPSTREAM_COMMAND": fake_upstream},
                node_env=listen_8080,
            ),
            v.IMAGE_CONNECTION: ImageEntry(
                entrypoint=(_tool("mcpod-bridge"),),
                env={"MCPOD_UPSTREAM_DIR": str(upstream_dir)},
                node_env=listen_8080,
            ),
            v.IMAGE_GATEWAY: ImageEntry(
                entrypoint=(_tool("mcpod-gateway"),),
                cmd=("serve",),
                node_env={"MCPOD_LISTEN": "$(POD_IP):8000"},
            ),
            v.IMAGE_OPERATOR: ImageEntry(entrypoint=(_tool("mcpod-operator"),)),
            # A general-purpose image for tests: the pod's command runs as given.
            "mcpod/process": ImageEntry(),
        }
    )
