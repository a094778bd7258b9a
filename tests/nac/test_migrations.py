from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import nac.db.models  # noqa: F401 - registers the tables
from nac.core.config import Settings
from nac.db.engine import create_sync_engine
from nac.db.migrate import current_revision, head_revision, upgrade_database

TABLES = {
    "nas_clients",
    "groups",
    "users",
    "user_groups",
    "endpoints",
    "policy_versions",
    "config_state",
    "audit_log",
    "accounting_sessions",
}


def _diff(settings: Settings) -> list[object]:
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_fresh_upgrade_twice_and_no_diff(settings: Settings) -> None:
    assert current_revision(settings) is None
    upgrade_database(settings)
    upgrade_database(settings)  # idempotent
    assert current_revision(settings) == head_revision() == "0005"
    engine = create_sync_engine(settings)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            assert conn.execute(text("select id, version from config_state")).all() == [(1, 0)]
    finally:
        engine.dispose()
    assert _diff(settings) == []


def test_compare_detects_drift(migrated: Settings) -> None:
    """The no-diff check above is meaningful: a missing index shows up."""
    engine = create_sync_engine(migrated)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_audit_log_mac"))
    finally:
        engine.dispose()
    assert any("ix_audit_log_mac" in repr(d) for d in _diff(migrated))


def test_sqlite_pragmas(migrated: Settings) -> None:
    if not migrated.database_urls()[0].startswith("sqlite"):
        return
    engine = create_sync_engine(migrated)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    finally:
        engine.dispose()
