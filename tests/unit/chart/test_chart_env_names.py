"""Every MCPOD_* variable the chart sets is one the component reads.

The gateway's settings ignore unknown variables (pydantic `extra="ignore"`), so a misspelt
name in a template would be silently dropped: this test is what catches it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from fixtures.helm import REPO_ROOT, RenderChart

VALUES_DIR = Path(__file__).parent / "values"


def chart_env(objects: list[dict[str, Any]], component: str) -> set[str]:
    names: set[str] = set()
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith(f"-{component}"):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in container["env"] if e["name"].startswith("MCPOD_")}
    return names


def gateway_reads() -> set[str]:
    from mcpod_gateway.mcp.settings import McpSettings
    from mcpod_gateway.settings import Settings

    fields = set(Settings.model_fields) | set(McpSettings.model_fields)
    return {f"MCPOD_{name.upper()}" for name in fields}


def operator_reads() -> set[str]:
    source = (REPO_ROOT / "operator" / "mcpod_operator" / "settings.py").read_text()
    return set(re.findall(r'"(MCPOD_[A-Z_]+)"', source))


def test_gateway_env_names_are_settings_the_gateway_reads(render_chart: RenderChart) -> None:
    full = yaml.safe_load((VALUES_DIR / "full.yaml").read_text())
    sqlite = yaml.safe_load((VALUES_DIR / "sqlite.yaml").read_text())
    used = set()
    for values in ({}, full, sqlite):
        used |= chart_env(render_chart(values), "gateway")
    # extraEnv in full.yaml is the admin's own choice, checked the same way.
    unknown = used - gateway_reads()
    assert unknown == set()
    assert {"MCPOD_BACKEND", "MCPOD_DATABASE_URL", "MCPOD_DATA_DIR", "MCPOD_ROUTING_KEY"} <= used


def test_operator_env_names_are_settings_the_operator_reads(render_chart: RenderChart) -> None:
    full = yaml.safe_load((VALUES_DIR / "full.yaml").read_text())
    used = chart_env(render_chart(), "operator") | chart_env(render_chart(full), "operator")
    used.discard("MCPOD_EXTRA_SETTING")  # full.yaml's example extraEnv entry
    unknown = used - operator_reads()
    assert unknown == set()
    assert {"MCPOD_NAMESPACE", "MCPOD_ROUTING_KEY", "MCPOD_LEASE_NAME"} <= used
