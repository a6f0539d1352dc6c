"""Readiness, liveness and startup probes, run against the pod's own address."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import httpx


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for port in container.get("ports", []):
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f"probe names unknown port {value!r}")


async def run_probe(
    probe: Mapping[str, Any],
    *,
    pod_ip: str,
    container: Mapping[str, Any],
    env: Mapping[str, str],
    http: httpx.AsyncClient,
) -> bool:
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            host = get.get("host") or pod_ip
            scheme = get.get("scheme", "HTTP").lower()
            url = f"{scheme}://{host}:{_port(get['port'], container)}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            response = await http.get(url, headers=headers, timeout=timeout)
            return 200 <= response.status_code < 400
        if "tcpSocket" in probe:
            sock = probe["tcpSocket"]
            host = sock.get("host") or pod_ip
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, _port(sock["port"], container)), timeout
            )
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        if "exec" in probe:
            proc = await asyncio.create_subprocess_exec(
                *probe["exec"]["command"],
                env=dict(env),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                return await asyncio.wait_for(proc.wait(), timeout) == 0
            except TimeoutError:
                proc.kill()
                await proc.wait()
                return False
    except (httpx.HTTPError, OSError, TimeoutError, ValueError):
        return False
    return False
