"""Benchmark: the gateway's authentication costs.

Run directly: ``python3 tests/bench/bench_gateway_auth.py``.  Prints figures and writes
``tests/bench/results/gateway_auth.md``.  All traffic stays on 127.0.0.1; every loop is
bounded in count.

Measures, side by side in one run:
1. bearer check per request (API token → user id): the cached path vs. the hashed
   database lookup, on SQLite and on PostgreSQL;
2. passkey sign-in round trip against a real ``mcpod-gateway serve`` process: HTTP
   only (software authenticator) and in headless Chromium (CDP virtual authenticator);
3. the gateway process's resident memory at rest (after start, and after the load above).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from fixtures.browser import CHROMIUM, CHROMIUM_ARGS, PLATFORM_AUTHENTICATOR  # noqa: E402
from fixtures.gateway import live_gateway  # noqa: E402
from fixtures.passkeys import SoftAuthenticator  # noqa: E402
from fixtures.postgres import (  # noqa: E402
    PostgresUnavailableError,
    create_database,
    running_postgres,
)
from mcpod_gateway import migrations  # noqa: E402
from mcpod_gateway.accounts import create_user  # noqa: E402
from mcpod_gateway.auth.api_tokens import ApiTokenVerifier, create_api_token  # noqa: E402
from mcpod_gateway.db import create_engine, create_sessionmaker  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results" / "gateway_auth.md"
CACHED_CALLS = 20_000
UNCACHED_CALLS = 2_000
HTTP_SIGNINS = 50
BROWSER_SIGNINS = 10


def per_call_us(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered) * 1e6,
        "p95": ordered[int(len(ordered) * 0.95) - 1] * 1e6,
        "mean": statistics.fmean(ordered) * 1e6,
    }


async def time_calls(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def bench_bearer(url: str) -> dict[str, dict[str, float]]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        maker = create_sessionmaker(engine)
        async with maker() as db:
            user = await create_user(db, display_name="bench")
            for i in range(200):  # a populated table, not a single row
                await create_api_token(db, user_id=user.id, name=f"t{i}", expires_at=None)
            _row, token = await create_api_token(db, user_id=user.id, name="bench", expires_at=None)
            await db.commit()
        cached = ApiTokenVerifier(maker, cache_seconds=3600)
        uncached = ApiTokenVerifier(maker, cache_seconds=0)
        assert await cached.verify(token) is not None
        assert await uncached.verify(token) is not None  # also performs the throttled write
        return {
            "cache hit": per_call_us(await time_calls(lambda: cached.verify(token), CACHED_CALLS)),
            "database lookup": per_call_us(
                await time_calls(lambda: uncached.verify(token), UNCACHED_CALLS)
            ),
        }
    finally:
        await engine.dispose()


def sha256_cost_us() -> float:
    token = "mcpod_at_" + "A" * 43
    start = time.perf_counter()
    for _ in range(CACHED_CALLS):
        hashlib.sha256(token.encode()).hexdigest()
    return (time.perf_counter() - start) / CACHED_CALLS * 1e6


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def import_rss_kib(modules: str) -> int:
    """RSS of a fresh interpreter after importing ``modules``: what the code alone costs."""
    import subprocess

    probe = (
        f"import {modules}\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip())


def http_signins(base: str) -> tuple[list[float], SoftAuthenticator]:
    """Sign up once, then time options+assertion+verify round trips over loopback HTTP."""
    authenticator = SoftAuthenticator(origin=base)
    headers = {"origin": base, "sec-fetch-site": "same-origin", "accept": "application/json"}
    with httpx.Client(base_url=f"http://127.0.0.1:{base.rsplit(':', 1)[1]}") as client:
        page = client.get("/signin")
        csrf = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        h = {**headers, "x-csrf-token": csrf}
        start = client.post("/webauthn/signup/options", json={"display_name": "Bench"}, headers=h)
        done = client.post(
            "/webauthn/signup/verify",
            json={"credential": authenticator.create(start.json()["options"])},
            headers=h,
        )
        assert done.status_code == 200, done.text
        samples = []
        for _ in range(HTTP_SIGNINS):
            client.cookies.delete("mcpod_session")
            csrf = client.get("/signin").text.split('name="csrf-token" content="', 1)[1][:43]
            h = {**headers, "x-csrf-token": csrf}
            t0 = time.perf_counter()
            options = client.post("/webauthn/signin/options", json={}, headers=h).json()["options"]
            assertion = authenticator.get(options)
            result = client.post(
                "/webauthn/signin/verify", json={"credential": assertion}, headers=h
            )
            samples.append(time.perf_counter() - t0)
            assert result.status_code == 200, result.text
    return samples, authenticator


def browser_signins(base: str) -> list[float] | str:
    if not CHROMIUM.exists():
        return f"skipped: no Chromium at {CHROMIUM}"
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable", {"enableUI": False})
            cdp.send("WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR})
            page.goto(f"{base}/signup")
            page.get_by_label("Your name").fill("Browser bench")
            page.get_by_role("button", name="Create a passkey").click()
            page.wait_for_url(f"{base}/connections")
            for _ in range(BROWSER_SIGNINS):
                context.clear_cookies()
                page.goto(f"{base}/signin?next=/account")
                t0 = time.perf_counter()
                page.get_by_role("button", name="Sign in with a passkey").click()
                page.wait_for_url(f"{base}/account")
                page.get_by_role("heading", name="Account").wait_for()
                samples.append(time.perf_counter() - t0)
        finally:
            browser.close()
    return samples


def main() -> int:
    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text)
        lines.append(text)

    out("# Gateway authentication benchmark")
    out()
    out(
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}"
    )
    out(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    out()

    out("## Bearer check per request (API token → user id)")
    out()
    out(f"SHA-256 of a token alone: {sha256_cost_us():.2f} µs")
    out()
    out("| database | path | calls | median µs | p95 µs | mean µs |")
    out("|---|---|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp(prefix="mcpod-bench-"))
    databases: list[tuple[str, str]] = [("SQLite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}")]
    pg_context = None
    try:
        pg_context = running_postgres()
        server = pg_context.__enter__()
        databases.append(("PostgreSQL", create_database(server)))
    except PostgresUnavailableError as exc:
        out(f"(PostgreSQL skipped: {exc})")
        pg_context = None
    try:
        ratios = []
        for label, url in databases:
            figures = asyncio.run(bench_bearer(url))
            for path, f in figures.items():
                calls = CACHED_CALLS if path == "cache hit" else UNCACHED_CALLS
                out(
                    f"| {label} | {path} | {calls} | {f['median']:.1f} | {f['p95']:.1f} "
                    f"| {f['mean']:.1f} |"
                )
            ratios.append(
                (label, figures["database lookup"]["median"] / figures["cache hit"]["median"])
            )
        out()
        for label, ratio in ratios:
            out(f"- {label}: the cache makes the check {ratio:.0f} times cheaper (median).")
    finally:
        if pg_context is not None:
            pg_context.__exit__(None, None, None)
    out()

    out("## Sign-in round trip and memory (real `mcpod-gateway serve`, SQLite, loopback)")
    out()
    # A bench client is one address: lift the per-address sign-in rate limit.
    with live_gateway(tmp / "live", MCPOD_AUTH_RATE_PER_MINUTE="100000") as gateway:
        time.sleep(1.0)
        rss_start = rss_kib(gateway.process.pid)
        samples, _ = http_signins(gateway.url)
        f = per_call_us(samples)
        out(
            f"- HTTP only (options → software authenticator → verify), {HTTP_SIGNINS} sign-ins: "
            f"median {f['median'] / 1000:.1f} ms, p95 {f['p95'] / 1000:.1f} ms"
        )
        with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants its own loop
            browser = pool.submit(browser_signins, gateway.url).result()
        if isinstance(browser, str):
            out(f"- Chromium: {browser}")
        else:
            b = per_call_us(browser)
            out(
                f"- headless Chromium + CDP virtual authenticator (click → signed-in page), "
                f"{BROWSER_SIGNINS} sign-ins: median {b['median'] / 1000:.0f} ms, "
                f"p95 {b['p95'] / 1000:.0f} ms"
            )
        time.sleep(2.0)
        rss_after = rss_kib(gateway.process.pid)
        out(
            f"- gateway RSS at rest: {rss_start / 1024:.1f} MiB after start, "
            f"{rss_after / 1024:.1f} MiB after the sign-ins above"
        )
        base = import_rss_kib("fastapi, uvicorn")
        app = import_rss_kib("mcpod_gateway.app")
        out(
            f"- for scale: a fresh interpreter importing fastapi + uvicorn: {base / 1024:.1f} MiB; "
            f"importing the whole gateway (all features) is {app / 1024:.1f} MiB"
        )
    out()
    shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
