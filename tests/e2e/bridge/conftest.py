"""Fixtures for the bridge's end-to-end tests: bridges started as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_runner import REAL_UPSTREAM_ENTRY, BridgeFactory


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[BridgeFactory]:
    factory = BridgeFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def real_upstream() -> Path:
    if not REAL_UPSTREAM_ENTRY.is_file():
        pytest.skip(
            f"@azure-devops/mcp is not installed at {REAL_UPSTREAM_ENTRY}: run scripts/setup.sh run"
        )
    return REAL_UPSTREAM_ENTRY
