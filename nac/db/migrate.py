"""Alembic, run programmatically: ``upgrade_database(settings)`` is ``alembic upgrade head``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from nac.core.config import Settings
from nac.core.errors import StorageError
from nac.db.engine import create_sync_engine, describe_db_error

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade_database(settings: Settings) -> None:
    """Create or upgrade the schema to the newest revision (idempotent, synchronous).

    For SQLite the database file's directory is created. Call from async code with
    ``await asyncio.to_thread(upgrade_database, settings)``.
    """
    _ensure_sqlite_dir(settings)
    engine = create_sync_engine(settings)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot migrate database {settings.redacted_database_url()}: {describe_db_error(exc)}"
        ) from None
    finally:
        engine.dispose()


def current_revision(settings: Settings) -> str | None:
    """The database's Alembic revision (None for an empty database)."""
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot open database {settings.redacted_database_url()}: {describe_db_error(exc)}"
        ) from None
    finally:
        engine.dispose()


def _ensure_sqlite_dir(settings: Settings) -> None:
    sync_url, _ = settings.database_urls()
    if sync_url.startswith("sqlite:///") and sync_url != "sqlite:///:memory:":
        path = Path(sync_url.removeprefix("sqlite:///").split("?", 1)[0])
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
