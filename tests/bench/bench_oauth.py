"""Benchmark: the OAuth authorization server's costs.

Run directly: ``python3 tests/bench/bench_oauth.py``.  Prints figures and writes
``tests/bench/results/oauth.md``.  In-process (the app over httpx's ASGI transport,
no sockets); every loop is bounded in count.

Measures, side by side in one run, on SQLite and PostgreSQL:
1. ``POST /token`` with an authorization code (+ PKCE S256), and with a refresh token
   (rotation), end to end through authlib's core in its worker thread;
2. the ``/mcp`` bearer check for an OAuth access token: cache hit vs database lookup,
   next to the same for an API token.
"""

from __future__ import annotations

import asyncio
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.gateway import running_gateway  # noqa: E402
from fixtures.passkeys import SoftAuthenticator  # noqa: E402
from fixtures.postgres import (  # noqa: E402
    PostgresUnavailableError,
    create_database,
    running_postgres,
)
from mcpod_gateway.auth.api_tokens import ApiTokenVerifier  # noqa: E402
from mcpod_gateway.oauth.tokens import OAuthAccessTokenVerifier  # noqa: E402
from support.oauth_flow import (  # noqa: E402
    AuthRequest,
    approve,
    exchange_code,
    new_auth_request,
    redirect_query,
    refresh,
    register_client,
)

RESULTS = ROOT / "tests" / "bench" / "results" / "oauth.md"
CODE_EXCHANGES = 100
REFRESHES = 100
CACHED_CALLS = 20_000
UNCACHED_CALLS = 2_000
REDIRECT = "http://127.0.0.1:41234/callback"


def stats_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered) * 1e3,
        "p95": ordered[max(int(len(ordered) * 0.95) - 1, 0)] * 1e3,
    }


def stats_us(samples: list[float]) -> dict[str, float]:
    return {k: v * 1e3 for k, v in stats_ms(samples).items()}


async def time_calls(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def bench_database(url: str, data_dir: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    async with running_gateway(url, data_dir, oauth_rate_per_minute=100_000) as gw:
        await gw.sign_up(SoftAuthenticator(), "bench")
        client_id = (await register_client(gw.client, [REDIRECT])).json()["client_id"]
        # Codes first (consent is not what is measured), then their exchanges.
        pending: list[tuple[AuthRequest, str]] = []
        for _ in range(CODE_EXCHANGES):
            auth = new_auth_request(client_id, REDIRECT)
            answer = await approve(gw.client, auth.url())
            pending.append((auth, redirect_query(answer)["code"]))
        exchange_times, refresh_token = [], ""
        for auth, code in pending:
            start = time.perf_counter()
            answer = await exchange_code(gw.client, auth, code)
            exchange_times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
            refresh_token = answer.json()["refresh_token"]
        results["token: authorization code"] = stats_ms(exchange_times)
        refresh_times = []
        for _ in range(REFRESHES):
            start = time.perf_counter()
            answer = await refresh(gw.client, client_id, refresh_token)
            refresh_times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
            refresh_token = answer.json()["refresh_token"]
            access_token = answer.json()["access_token"]
        results["token: refresh (rotation)"] = stats_ms(refresh_times)

        api_token = await gw.create_token("bench")
        maker = gw.app.state.sessionmaker
        resource = gw.app.state.oauth.config.resource
        oauth_cached = OAuthAccessTokenVerifier(maker, resource=resource, cache_seconds=3600)
        oauth_uncached = OAuthAccessTokenVerifier(maker, resource=resource, cache_seconds=0)
        api_cached = ApiTokenVerifier(maker, cache_seconds=3600)
        api_uncached = ApiTokenVerifier(maker, cache_seconds=0)
        for verifier, token in ((oauth_cached, access_token), (api_cached, api_token)):
            assert await verifier.verify(token) is not None  # warm and prove it works
        results["verify: OAuth access token, cache hit"] = stats_us(
            await time_calls(lambda: oauth_cached.verify(access_token), CACHED_CALLS)
        )
        results["verify: OAuth access token, database"] = stats_us(
            await time_calls(lambda: oauth_uncached.verify(access_token), UNCACHED_CALLS)
        )
        results["verify: API token, cache hit"] = stats_us(
            await time_calls(lambda: api_cached.verify(api_token), CACHED_CALLS)
        )
        results["verify: API token, database"] = stats_us(
            await time_calls(lambda: api_uncached.verify(api_token), UNCACHED_CALLS)
        )
    return results


def table(name: str, results: dict[str, dict[str, float]]) -> list[str]:
    lines = [f"### {name}", "", "| what | unit | median | p95 |", "|---|---|---|---|"]
    for what, figures in results.items():
        unit = "µs" if what.startswith("verify") else "ms"
        lines.append(f"| {what} | {unit} | {figures['median']:.1f} | {figures['p95']:.1f} |")
    hit = results["verify: OAuth access token, cache hit"]["median"]
    miss = results["verify: OAuth access token, database"]["median"]
    api_miss = results["verify: API token, database"]["median"]
    lines += [
        "",
        f"- the cache makes the OAuth access-token check {miss / hit:.0f} times cheaper (median);",
        f"- an uncached OAuth check costs {miss / api_miss:.2f} times an uncached API-token check "
        "(one join to the client for its name, plus the audience comparison).",
        "",
    ]
    return lines


async def main() -> None:
    runs: dict[str, dict[str, dict[str, float]]] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        runs["SQLite"] = await bench_database(f"sqlite+aiosqlite:///{tmp / 'b.db'}", tmp)
        try:
            server = stack.enter_context(running_postgres())
            runs["PostgreSQL"] = await bench_database(create_database(server), tmp)
        except PostgresUnavailableError as exc:
            print(f"PostgreSQL skipped: {exc}")
    lines = [
        "# OAuth benchmark",
        "",
        f"- machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs "
        f"(shared), Python {platform.python_version()}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- in-process (ASGI transport); {CODE_EXCHANGES} code exchanges, {REFRESHES} refreshes, "
        f"{CACHED_CALLS} cached and {UNCACHED_CALLS} uncached checks per row",
        "",
    ]
    for name, results in runs.items():
        lines += table(name, results)
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    asyncio.run(main())
