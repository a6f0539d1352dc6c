"""Settings of ``/mcp`` and the connection backends (``MCPOD_*`` environment variables).

Kept apart from the core :class:`~mcpod_gateway.settings.Settings` so this part
can evolve without touching it; both read the same environment.  Documented in
gateway/README.md.
"""

from __future__ import annotations

from typing import Annotated

from mcpod_common.vocabulary import parse_duration
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class McpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MCPOD_", extra="ignore", frozen=True)

    # Longer than the bridge's own call timeout (60 s), so its clearer message wins.
    mcp_call_timeout_seconds: float = Field(default=70.0, gt=0, le=600)
    # How long a tools/call waits for a connection that was idle to become ready.
    mcp_wake_timeout_seconds: float = Field(default=90.0, gt=0, le=600)
    mcp_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Origins (scheme://host[:port]) allowed besides MCPOD_PUBLIC_URL, comma-separated.
    mcp_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    mcp_session_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    activity_throttle_seconds: float = Field(default=30.0, ge=0, le=3600)
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    # The local backend's default idle timeout (the operator has the same setting).
    idle_timeout: str = "10m"
    local_reap_seconds: float = Field(default=5.0, gt=0, le=600)
    # Extra environment variable names the local backend passes on to its bridges.
    local_bridge_env: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The kubernetes backend's kubeconfig context/file come from the usual places
    # (in-cluster service account, else KUBECONFIG).

    @field_validator("mcp_allowed_origins", "local_bridge_env", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("mcp_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(
                    f"MCPOD_MCP_ALLOWED_ORIGINS: {origin!r} is not an origin like https://host:port"
                )
        return [o.lower().rstrip("/") for o in value]

    @field_validator("idle_timeout")
    @classmethod
    def _check_idle(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("MCPOD_IDLE_TIMEOUT must be longer than zero")
        return value
