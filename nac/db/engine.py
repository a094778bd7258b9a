"""Async engine and session factory (one `Database` object, passed down)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
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


_STATE_SQL = text("SELECT version, endpoint_seq FROM config_state WHERE id = 1")


class StateProbe:
    """The configuration version and the endpoint state sequence, read in one statement.

    Every worker reads them ten times a second to notice changes: one statement on a pooled
    connection, without an ORM session. (A direct read-only sqlite3 connection in the event
    loop was tried: under load it made other processes' writes fail with "database is
    locked".)
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self) -> tuple[int, int]:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(_STATE_SQL)).first()
        return (int(row[0] or 0), int(row[1] or 0)) if row is not None else (0, 0)

    def close(self) -> None:
        """Nothing held between reads (kept for the poller's shutdown)."""
