"""Root test configuration: tiers are chosen by folder, shared fixtures live in tests/fixtures/."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "cluster", "browser", "e2e", "bench")

# Each tier's shared fixtures are a plugin module in tests/fixtures/.
pytest_plugins = [
    f"fixtures.{p.stem}"
    for p in sorted((Path(__file__).parent / "fixtures").glob("*.py"))
    if p.stem != "__init__"
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the tier of the folder it lives in."""
    root = Path(__file__).parent
    for item in items:
        try:
            tier = Path(item.path).relative_to(root).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
