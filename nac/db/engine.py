"""Async engine and session factory (one `Database` object, passed down)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from nac.core.config import Settings

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)
# Session.info key of the SQLite write gate (see `create_engines`, `nac.db.crud.write_gate`).
WRITE_GATE = "nac_write_gate"


@dataclass(frozen=True, slots=True)
class Database:
    """The async engine, its session factory, and the sync URL Alembic uses."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    sync_url: str = field(repr=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; crud write functions commit themselves, anything left is rolled back."""
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_engines(settings: Settings, **engine_kwargs: Any) -> Database:
    """Build the async engine for ``settings`` (no connection is made yet)."""
    sync_url, async_url = settings.database_urls()
    engine = create_async_engine(async_url, **engine_kwargs)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine.sync_engine)
    # SQLite has one writer at a time. Transactions of this process that would otherwise wait
    # in SQLite's busy handler (sleeps of up to 100 ms, "database is locked" after
    # busy_timeout) queue on one asyncio.Lock instead, shared by every session's ``info``.
    info = {WRITE_GATE: asyncio.Lock()} if engine.dialect.name == "sqlite" else {}
    maker = async_sessionmaker(engine, expire_on_commit=False, info=info)
    return Database(engine=engine, sessionmaker=maker, sync_url=sync_url)


def create_sync_engine(settings: Settings) -> Engine:
    """A sync engine (sqlite3 or psycopg) for Alembic and one-off tools."""
    sync_url, _ = settings.database_urls()
    engine = create_engine(sync_url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    return engine


def configure_sqlite(engine: Engine) -> None:
    """Pragmas on every connection, and real transactions.

    sqlite3's legacy mode does not BEGIN before a SELECT, so a read of several tables would not
    be one snapshot; SQLAlchemy's documented recipe: turn the driver's transaction handling off
    and emit BEGIN ourselves (COMMIT/ROLLBACK still work).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def describe_db_error(exc: BaseException) -> str:
    """One line for a database error: the driver's message without SQL or background links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_STATE_SQL = "SELECT version, endpoint_seq FROM config_state WHERE id = 1"


class StateProbe:
    """The configuration version and the endpoint state sequence, read in one statement
    (``read``), and the other small reads a worker repeats in the background (``rows``: the
    Message-Authenticator sightings, the profiling rules; the statements live beside their
    crud functions).

    Every worker reads the state ten times a second to notice changes. On a SQLite file the read is
    a plain sqlite3 connection in autocommit mode, queried in the event loop: a one-row
    primary-key read under WAL, which does not wait for writers (tens of microseconds). Through
    the async engine the same read runs on aiosqlite's thread, and while the event loop is
    busy that thread must take the interpreter lock from it once per driver call: measured
    under a PAP load, polling that way cost a worker 8-12% of its CPU in lock hand-offs and
    context switches. Elsewhere (PostgreSQL: its async driver has no thread) and whenever the
    direct read fails (file busy, replaced, not migrated yet), one pooled statement is used.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._path: str | None = None
        if db.dialect == "sqlite":
            database = make_url(db.sync_url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._path = database
        self._conn: sqlite3.Connection | None = None
        self.direct_reads = 0
        self.pooled_reads = 0

    async def read(self) -> tuple[int, int]:
        rows = await self.rows(_STATE_SQL)
        return (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Every row of one read-only statement (no parameters), read the same cheap way."""
        if self._path is not None:
            try:
                found = self._read_direct(sql)
            except sqlite3.Error:
                self.close()
            else:
                self.direct_reads += 1
                return found
        async with self._db.engine.connect() as conn:
            result = await conn.execute(text(sql))
            pooled = [tuple(row) for row in result.all()]
        self.pooled_reads += 1
        return pooled

    def _read_direct(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self._conn
        if conn is None:
            assert self._path is not None
            # a busy file (rare under WAL) blocks the event loop 5 ms at most, then the pooled read
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=0.005)
            self._conn = conn
        # fetchall runs the statement to its end: no read transaction stays open to pin the
        # WAL and hold back checkpoints
        return conn.execute(sql).fetchall()

    def close(self) -> None:
        """Close the direct connection (the next read opens it again)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
