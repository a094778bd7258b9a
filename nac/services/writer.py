"""Batched background writers: the hot path appends, a task commits in batches.

Two kinds of submission:

* ``submit(item)``: fire and forget (audit records). The request never waits for the
  database. A failed batch is retried with backoff so nothing is lost to a short outage;
  only when the bounded queue is full are records dropped, and then they are counted.
* ``submit_wait(item)``: returns a future resolved after the batch holding the item has
  been committed (accounting: the Accounting-Response is sent only after that). A failed
  batch fails its futures, so the NAS gets no answer and retransmits: nothing that was
  acknowledged is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("nac.writer")

T = TypeVar("T")


@dataclass(slots=True)
class WriterStats:
    submitted: int = 0
    written: int = 0
    batches: int = 0
    failed_batches: int = 0
    dropped: int = 0


class BatchWriter(Generic[T]):
    """Collects items and hands them to ``flush`` in batches from one background task."""

    def __init__(
        self,
        *,
        name: str,
        flush: Callable[[Sequence[T]], Awaitable[None]],
        max_batch: int = 1000,
        max_delay: float = 0.05,
        max_queue: int = 200_000,
        retry_delays: Sequence[float] = (0.1, 0.5, 1.0, 2.0, 5.0),
    ) -> None:
        self.name = name
        self._flush = flush
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queue = max_queue
        self._retry_delays = tuple(retry_delays)
        self._items: list[T] = []
        self._futures: list[asyncio.Future[None] | None] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = WriterStats()

    @property
    def depth(self) -> int:
        """Items waiting to be written (for metrics)."""
        return len(self._items)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def submit(self, item: T) -> None:
        if self._closing or len(self._items) >= self._max_queue:
            self.stats.dropped += 1
            return
        self._items.append(item)
        self._futures.append(None)
        self.stats.submitted += 1
        if not self._wake.is_set():
            self._wake.set()

    def submit_wait(self, item: T) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closing or len(self._items) >= self._max_queue:
            self.stats.dropped += 1
            fut.set_exception(RuntimeError(f"{self.name} writer is full or closing"))
            return fut
        self._items.append(item)
        self._futures.append(fut)
        self.stats.submitted += 1
        if not self._wake.is_set():
            self._wake.set()
        return fut

    async def close(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is None and self._items:
            self.start()  # never started: still write what was queued
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._items:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing and len(self._items) < self._max_batch:
                    # Let a batch build up; bounded latency for waiting submitters.
                    await asyncio.sleep(self._max_delay)
            items = self._items[: self._max_batch]
            futures = self._futures[: self._max_batch]
            del self._items[: self._max_batch]
            del self._futures[: self._max_batch]
            await self._write(items, futures)

    async def _write(self, items: list[T], futures: list[asyncio.Future[None] | None]) -> None:
        waited = any(f is not None for f in futures)
        attempt = 0
        while True:
            try:
                await self._flush(items)
            except Exception as exc:  # the database may be briefly away; never die
                self.stats.failed_batches += 1
                log.error("%s writer: batch of %d failed: %s", self.name, len(items), exc)
                if waited:
                    for fut in futures:
                        if fut is not None and not fut.done():
                            fut.set_exception(exc)
                    # Fire-and-forget items of the same batch are retried on their own.
                    keep = [i for i, f in zip(items, futures, strict=True) if f is None]
                    items, futures, waited = keep, [None] * len(keep), False
                    if not items:
                        return
                if attempt >= len(self._retry_delays):
                    self.stats.dropped += len(items)
                    log.error("%s writer: gave up on %d records", self.name, len(items))
                    return
                await asyncio.sleep(self._retry_delays[attempt])
                attempt += 1
                continue
            self.stats.batches += 1
            self.stats.written += len(items)
            for fut in futures:
                if fut is not None and not fut.done():
                    fut.set_result(None)
            return
