"""The audit log's writer process: database inserts off the request process entirely.

The request process hands over each decision as a plain tuple (``nac.services.audit``
``ITEM_FIELDS``) and sends batches down a pipe without ever blocking (the event loop's pipe
transport buffers; past a bound, batches are dropped and counted). A separate process, started
with ``spawn``, turns the items into rows (secrets removed, see ``stored_row``) and inserts them
with the driver's executemany, retrying through short database outages. Database work, its
locks and its threads never compete with packet handling for the interpreter lock.

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
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine

from nac.core.config import Settings
from nac.services.audit import STORED_COLUMNS, WORDS_COLUMNS, is_words, stored_row, words_row

log = logging.getLogger("nac.audit")

MAX_BUFFER = 64 * 1024 * 1024  # bytes waiting in the pipe transport before batches are dropped
PAUSE_AT = 32 * 1024 * 1024  # ``congested``: TCP listeners stop reading above this ...
RESUME_AT = 30 * 1024 * 1024  # ... and read again below this (short, even pauses)


class AuditWriterProcess:
    """The audit writer process, with one pipe per request process (``--workers`` share one
    writer, so one SQLite file has one writer). Started by whoever forks the workers."""

    def __init__(self, *, settings: Settings, pipes: int = 1) -> None:
        self._settings = settings
        self._pipes = pipes
        self._process: Any = None

    def start(self) -> list[Connection]:
        """Start the process; returns the write ends, one per request process."""
        ctx = multiprocessing.get_context("spawn")
        pairs = [ctx.Pipe(duplex=False) for _ in range(self._pipes)]
        self._process = ctx.Process(
            target=writer_main,
            args=([r for r, _ in pairs], self._settings),
            name="nac-audit-writer",
            daemon=False,
        )
        self._process.start()
        for reader, _ in pairs:
            reader.close()
        return [w for _, w in pairs]

    def join(self, wait_seconds: float = 30.0) -> None:
        """Wait for the writer to insert what it holds and exit (after every pipe closed)."""
        if self._process is None:
            return
        self._process.join(wait_seconds)
        if self._process.is_alive():
            log.error("audit writer did not finish in %.0f s; stopping it", wait_seconds)
            self._process.terminate()
        self._process = None

    def alive(self) -> bool:
        return self._process is not None and bool(self._process.is_alive())


class AuditPipe:
    """The request-process end: ``send(items)`` never blocks.

    Without a ``conn`` it starts its own writer process (one request process); with one (a
    worker's end of a shared writer) it only writes, and the parent waits for the writer.
    """

    def __init__(self, *, settings: Settings, conn: Connection | None = None) -> None:
        self._settings = settings
        self._conn = conn  # kept so its descriptor stays open
        self._own: AuditWriterProcess | None = None
        self._transport: asyncio.WriteTransport | None = None
        self.sent = 0
        self.dropped = 0

    async def start(self) -> None:
        if self._conn is None:
            self._own = AuditWriterProcess(settings=self._settings)
            self._conn = self._own.start()[0]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, self._conn)
        self._transport = transport

    def send(self, items: Sequence[tuple[Any, ...]]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self.dropped += len(items)
            return
        if transport.get_write_buffer_size() > MAX_BUFFER:
            self.dropped += len(items)
            log.error("audit writer is behind: %d records dropped", len(items))
            return
        payload = pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL)
        # multiprocessing.Connection framing: a 4-byte big-endian length, then the bytes.
        transport.write(struct.pack("!i", len(payload)) + payload)
        self.sent += len(items)

    def buffered(self) -> int:
        """Bytes waiting in the pipe transport for the writer process (for metrics)."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def congested(self, high: int = PAUSE_AT) -> bool:
        """True while more than ``high`` bytes wait for the writer: protocols that can slow
        their peers down (TACACS+ over TCP) stop reading until it is False again, so audit
        records are never dropped for them."""
        transport = self._transport
        return transport is not None and transport.get_write_buffer_size() > high

    async def close(self, wait_seconds: float = 30.0) -> None:
        """Flush the pipe and close it; a writer of our own is then waited for."""
        transport = self._transport
        if transport is not None:
            while transport.get_write_buffer_size() > 0 and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            transport.close()
            self._transport = None
        if self._own is not None:
            await asyncio.to_thread(self._own.join, wait_seconds)
            self._own = None


class AuditInserter:
    """Inserts audit items with the DB-API driver's executemany (no ORM, no per-row binds)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        columns = ", ".join(STORED_COLUMNS)
        marks = ", ".join([mark] * len(STORED_COLUMNS))
        self._contexts: dict[Any, str] = {}
        self._words_memo: dict[Any, str] = {}
        self._sql = f"INSERT INTO audit_log ({columns}) VALUES ({marks})"  # noqa: S608 - constants
        # Word records (TACACS+) fill the JSON columns; PostgreSQL wants the text cast.
        json_mark = mark if self._sqlite else f"CAST({mark} AS JSON)"
        # ... request, reply, trace (JSON), context (text)
        word_marks = [mark] * (len(WORDS_COLUMNS) - 4) + [json_mark] * 3 + [mark]
        self._words_sql = (
            f"INSERT INTO audit_log ({', '.join(WORDS_COLUMNS)}) "  # noqa: S608 - constants
            f"VALUES ({', '.join(word_marks)})"
        )

    def rows(self, items: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Rows to insert; a words item's row is wrapped as ``(WORDS_COLUMNS values,)``."""
        sqlite = self._sqlite
        contexts = self._contexts
        return [
            (words_row(item, sqlite=sqlite, memo=self._words_memo),)
            if is_words(item)
            else stored_row(item, sqlite=sqlite, contexts=contexts)
            for item in items
        ]

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        plain = [r for r in rows if len(r) != 1]
        words = [r[0] for r in rows if len(r) == 1]
        with self._engine.begin() as connection:
            if plain:
                connection.exec_driver_sql(self._sql, plain)
            if words:
                connection.exec_driver_sql(self._words_sql, words)


@contextlib.contextmanager
def holding_the_write_lock() -> Iterator[None]:
    """Run at normal priority (nice 10) while a transaction is open, SCHED_IDLE again after.

    The writer reads and decodes at SCHED_IDLE so packets come first, but a transaction holds
    SQLite's one write lock: starved of CPU while holding it (two busy cores are enough), it
    made other processes' writes wait out their busy timeout ("database is locked").
    """
    idle = _scheduler() == getattr(os, "SCHED_IDLE", None)
    if idle:
        _set_scheduler(os.SCHED_OTHER)
    try:
        yield
    finally:
        if idle:
            _set_scheduler(os.SCHED_IDLE)


def _scheduler() -> int | None:
    try:
        return os.sched_getscheduler(0)
    except (OSError, AttributeError):
        return None


def _set_scheduler(policy: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, policy, os.sched_param(0))


def writer_main(conns: list[Connection], settings: Settings) -> None:  # pragma: no cover
    """Entry point of the writer process (covered by the interop tests, in a subprocess).
    Reads every pipe until all of them are closed, inserting in batches."""
    import signal
    from multiprocessing.connection import wait

    from nac.core.logging import setup_logging
    from nac.db.engine import create_sync_engine

    # The parent decides when to stop (it closes the pipe); a Ctrl-C on the terminal must not
    # make this process drop what it still holds.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Batch work: when the cores are contended, packets come first. SCHED_IDLE runs this
    # process only on a core nothing else wants (nice 10 still took whole time slices from
    # the request processes and showed as tens of milliseconds of p99 latency).
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    setup_logging(settings.log_level, settings.log_format)
    engine = create_sync_engine(settings)
    inserter = AuditInserter(engine)
    open_conns: list[Any] = list(conns)
    pending: list[tuple[Any, ...]] = []
    failures = 0
    while open_conns or pending:
        # Block for data only when nothing waits to be inserted; then take what is there.
        ready = wait(open_conns, timeout=None if not pending else 0) if open_conns else []
        for conn in ready:
            while len(pending) < 5000:
                try:
                    batch: list[Any] = pickle.loads(conn.recv_bytes())  # type: ignore[union-attr]  # noqa: S301 - our own pipe
                except EOFError:
                    open_conns.remove(conn)
                    break
                pending += inserter.rows(batch)
                if not conn.poll(0):  # type: ignore[union-attr]
                    break
        if not pending:
            continue
        try:
            with holding_the_write_lock():
                inserter.insert(pending)
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
