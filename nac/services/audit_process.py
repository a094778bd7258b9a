"""The audit log's writer process: database inserts off the request process entirely.

The request process renders each decision into a plain tuple (``AUDIT_FIELDS`` order) and
sends batches down a pipe without ever blocking (the event loop's pipe transport buffers;
past a bound, batches are dropped and counted). A separate process, started with ``spawn``,
reads the batches and inserts them with SQLAlchemy Core, retrying through short database
outages. Database work, its locks and its threads never compete with packet handling for
the interpreter lock.

Shutdown: closing the pipe is the signal; the writer inserts what it has and exits, and the
request process waits for it, so every decision made before SIGTERM is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import struct
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from nac.core.config import Settings
from nac.db.records import AuditRecordIn

log = logging.getLogger("nac.audit")

AUDIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditRecordIn))
_TS = AUDIT_FIELDS.index("ts")
MAX_BUFFER = 64 * 1024 * 1024  # bytes waiting in the pipe transport before batches are dropped


class AuditPipe:
    """The request-process end: ``send(rows)`` never blocks."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings
        self._process: Any = None
        self._transport: asyncio.WriteTransport | None = None
        self._writer_conn: Connection | None = None  # kept so its descriptor stays open
        self.sent = 0
        self.dropped = 0

    async def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        reader, writer = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=writer_main,
            args=(reader, self._settings),
            name="nac-audit-writer",
            daemon=False,
        )
        self._process.start()
        reader.close()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, writer)
        self._transport = transport
        self._writer_conn = writer

    def send(self, rows: Sequence[tuple[Any, ...]]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self.dropped += len(rows)
            return
        if transport.get_write_buffer_size() > MAX_BUFFER:
            self.dropped += len(rows)
            log.error("audit writer is behind: %d records dropped", len(rows))
            return
        payload = pickle.dumps(list(rows), protocol=pickle.HIGHEST_PROTOCOL)
        # multiprocessing.Connection framing: a 4-byte big-endian length, then the bytes.
        transport.write(struct.pack("!i", len(payload)) + payload)
        self.sent += len(rows)

    async def close(self, wait_seconds: float = 30.0) -> None:
        """Flush the pipe, let the writer insert everything, wait for it to exit."""
        transport = self._transport
        if transport is not None:
            while transport.get_write_buffer_size() > 0 and self.alive():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            transport.close()
            self._transport = None
        if self._process is not None:
            await asyncio.to_thread(self._process.join, wait_seconds)
            if self._process.is_alive():
                log.error("audit writer did not finish in %.0f s; stopping it", wait_seconds)
                self._process.terminate()
            self._process = None

    def alive(self) -> bool:
        return self._process is not None and bool(self._process.is_alive())


def _items(batch: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for row in batch:
        item = dict(zip(AUDIT_FIELDS, row, strict=True))
        item["ts"] = datetime.fromtimestamp(row[_TS], UTC)
        out.append(item)
    return out


def writer_main(conn: Connection, settings: Settings) -> None:  # pragma: no cover
    """Entry point of the writer process (covered by the interop tests, in a subprocess)."""
    import signal

    from sqlalchemy import insert

    from nac.core.logging import setup_logging
    from nac.db.engine import create_sync_engine
    from nac.db.models import AuditLog

    # The parent decides when to stop (it closes the pipe); a Ctrl-C on the terminal must not
    # make this process drop what it still holds.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Batch work: when the cores are contended, packets come first.
    with contextlib.suppress(OSError):
        os.nice(10)
    setup_logging(settings.log_level, settings.log_format)
    engine = create_sync_engine(settings)
    stmt = insert(AuditLog.__table__)  # type: ignore[attr-defined]
    pending: list[dict[str, Any]] = []
    failures = 0
    eof = False
    while not eof or pending:
        if not eof:
            try:
                batch: list[tuple[Any, ...]] = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own pipe
            except EOFError:
                eof = True
                batch = []
            pending += _items(batch)
            # Take whatever else is already waiting, for larger transactions.
            while not eof and len(pending) < 5000 and conn.poll(0):
                try:
                    more = pickle.loads(conn.recv_bytes())  # noqa: S301 - our own pipe
                except EOFError:
                    eof = True
                    break
                pending += _items(more)
        if not pending:
            continue
        try:
            with engine.begin() as connection:
                connection.execute(stmt, pending)
        except Exception as exc:
            failures += 1
            log.error("audit insert of %d records failed (%d): %s", len(pending), failures, exc)
            if failures >= 60 or len(pending) > 1_000_000:
                log.error("audit writer gave up: %d records dropped", len(pending))
                pending, failures = [], 0
            time.sleep(0.5)
            continue
        pending, failures = [], 0
    engine.dispose()
