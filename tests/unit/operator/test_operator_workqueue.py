"""The work queue: de-duplication, one worker per key, delayed re-queues."""

from __future__ import annotations

import asyncio
import contextlib

from mcpod_operator.workqueue import WorkQueue


async def test_duplicates_collapse() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_a_key_in_progress_is_not_handed_out_twice() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # an event arrives while "a" is being reconciled
    assert len(q) == 0
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    q.done(key)  # ... so it is processed once more afterwards
    assert await asyncio.wait_for(waiter, 1) == "a"


async def test_add_after_fires_once_and_earliest_wins() -> None:
    q: WorkQueue[str] = WorkQueue()
    timer = asyncio.create_task(q.run_timer())
    try:
        q.add_after("a", 60)
        q.add_after("a", 0.05)  # an earlier deadline replaces the later one
        q.add_after("a", 30)  # a later one does not postpone it
        assert q.delayed_count == 1
        assert await asyncio.wait_for(q.get(), 2) == "a"
        q.done("a")
        assert q.delayed_count == 0
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


async def test_forget_drops_a_delayed_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    timer = asyncio.create_task(q.run_timer())
    try:
        q.add_after("gone", 0.02)
        q.forget("gone")
        q.add_after("kept", 0.04)
        assert await asyncio.wait_for(q.get(), 2) == "kept"
        assert len(q) == 0
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


async def test_zero_delay_is_immediate() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add_after("a", 0)
    assert await asyncio.wait_for(q.get(), 1) == "a"


async def test_thousands_of_delayed_keys_use_one_heap() -> None:
    q: WorkQueue[int] = WorkQueue()
    for i in range(5000):
        q.add_after(i, 3600 + i)
    assert q.delayed_count == 5000
