"""tools/helm/build.sh: the pinned Helm, cached, named on the last line after " at "."""

from __future__ import annotations

import re
import subprocess

from fixtures.helm import BUILD_SCRIPT, Helm


def test_helm_is_the_version_pinned_by_go_mod(helm: Helm) -> None:
    go_mod = (BUILD_SCRIPT.parent / "go.mod").read_text()
    pinned = re.search(r"^\s*helm\.sh/helm/v4 (v\S+)", go_mod, re.M)
    assert pinned
    assert "tool helm.sh/helm/v4/cmd/helm" in go_mod
    assert helm.run("version", "--short").stdout.strip().startswith(pinned[1])
    # Cached outside the repository, keyed by version.
    assert f"/helm/{pinned[1]}-" in str(helm.binary)
    assert not str(helm.binary).startswith(str(BUILD_SCRIPT.parents[2]))


def test_a_second_build_is_a_cache_hit(helm: Helm) -> None:
    proc = subprocess.run(
        [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=120, check=True
    )
    last = proc.stdout.strip().splitlines()[-1]
    assert " cached at " in last
    assert last.rsplit(" at ", 1)[1] == str(helm.binary)
