"""nac.services.writer.BatchWriter: batching, waiting submitters, retries, close, overflow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from nac.services.writer import BatchWriter


class Sink:
    """A flush target that fails its first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.failures = failures

    async def __call__(self, items: Sequence[str]) -> None:
        self.calls.append(list(items))
        if len(self.calls) <= self.failures:
            raise OSError("database away")


def writer(sink: Sink, **kw: object) -> BatchWriter[str]:
    kw.setdefault("max_delay", 0)
    kw.setdefault("retry_delays", (0, 0, 0))
    return BatchWriter(name="test", flush=sink, **kw)  # type: ignore[arg-type]


async def test_items_are_flushed_in_batches() -> None:
    sink = Sink()
    w = writer(sink, max_batch=2)
    for item in "abcde":
        w.submit(item)
    assert w.depth == 5
    w.start()
    await w.close()
    assert sink.calls == [["a", "b"], ["c", "d"], ["e"]]
    assert (w.stats.submitted, w.stats.written, w.stats.batches) == (5, 5, 3)
    assert w.depth == 0


async def test_running_writer_flushes_without_close() -> None:
    sink = Sink()
    w = writer(sink)
    w.start()
    w.submit("a")
    fut = w.submit_wait("b")
    await asyncio.wait_for(fut, 1)
    assert sink.calls == [["a", "b"]]
    await w.close()


async def test_submit_wait_resolves_only_after_the_flush() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()
    flushed: list[list[str]] = []

    async def slow_flush(items: Sequence[str]) -> None:
        flushed.append(list(items))
        entered.set()
        await gate.wait()

    w: BatchWriter[str] = BatchWriter(name="test", flush=slow_flush, max_delay=0)
    w.start()
    fut = w.submit_wait("acct")
    await asyncio.wait_for(entered.wait(), 1)
    assert flushed == [["acct"]]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not fut.done()
    gate.set()
    assert await asyncio.wait_for(fut, 1) is None
    await w.close()


async def test_failed_flush_fails_waiters_and_retries_fire_and_forget() -> None:
    sink = Sink(failures=2)
    w = writer(sink)
    w.submit("audit-1")
    fut = w.submit_wait("acct-1")
    w.submit("audit-2")
    w.start()
    with pytest.raises(OSError, match="database away"):
        await asyncio.wait_for(fut, 1)
    await w.close()
    assert sink.calls == [
        ["audit-1", "acct-1", "audit-2"],
        ["audit-1", "audit-2"],
        ["audit-1", "audit-2"],
    ]
    assert (w.stats.failed_batches, w.stats.batches, w.stats.written) == (2, 1, 2)
    assert w.stats.dropped == 0


async def test_only_waiters_in_a_failed_batch_are_not_retried() -> None:
    sink = Sink(failures=1)
    w = writer(sink)
    futs = [w.submit_wait("acct-1"), w.submit_wait("acct-2")]
    w.start()
    await w.close()
    assert sink.calls == [["acct-1", "acct-2"]]
    for fut in futs:
        assert isinstance(fut.exception(), OSError)
    assert (w.stats.written, w.stats.dropped) == (0, 0)


async def test_gives_up_after_the_last_retry_and_counts_the_loss() -> None:
    sink = Sink(failures=100)
    w = writer(sink, retry_delays=(0, 0))
    w.submit("audit-1")
    w.submit("audit-2")
    w.start()
    await w.close()
    assert len(sink.calls) == 3  # the first try and two retries
    assert (w.stats.failed_batches, w.stats.dropped, w.stats.written) == (3, 2, 0)


async def test_close_writes_everything_queued() -> None:
    sink = Sink()
    w = writer(sink, max_batch=1000, max_delay=0.01)
    w.start()
    await asyncio.sleep(0)
    items = [f"r{i}" for i in range(2500)]
    futs = []
    for i, item in enumerate(items):
        if i % 100 == 0:
            futs.append(w.submit_wait(item))
        else:
            w.submit(item)
    await w.close()
    assert [i for batch in sink.calls for i in batch] == items
    assert all(len(batch) <= 1000 for batch in sink.calls)
    assert all(f.done() and f.exception() is None for f in futs)
    assert w.stats.written == 2500


async def test_submit_wait_after_close_is_refused() -> None:
    sink = Sink()
    w = writer(sink)
    w.start()
    await w.close()
    fut = w.submit_wait("late")
    with pytest.raises(RuntimeError, match="full or closing"):
        await fut
    assert w.stats.dropped == 1
    assert sink.calls == []


async def test_submit_after_close_is_counted_as_dropped() -> None:
    sink = Sink()
    w = writer(sink)
    w.start()
    await w.close()
    w.submit("late")
    assert w.stats.dropped == 1


async def test_full_queue_drops_and_counts() -> None:
    sink = Sink()
    w = writer(sink, max_queue=2)
    w.submit("a")
    w.submit("b")
    w.submit("c")
    fut = w.submit_wait("d")
    assert fut.done()
    assert isinstance(fut.exception(), RuntimeError)
    assert (w.stats.submitted, w.stats.dropped, w.depth) == (2, 2, 2)
    w.start()
    await w.close()
    assert sink.calls == [["a", "b"]]
    assert w.stats.written == 2
