"""Shared fixtures: a database URL (SQLite, or PostgreSQL when NAC_TEST_DATABASE_URL is set)
and Settings pointing at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nac.core.config import Settings

PG_ENV = "NAC_TEST_DATABASE_URL"


def _reset_postgres(url: str) -> None:
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a temp SQLite file, or the PostgreSQL database named by
    NAC_TEST_DATABASE_URL with its public schema dropped and recreated for each test."""
    url = os.environ.get(PG_ENV)
    if url:
        _reset_postgres(url)
        yield url
    else:
        yield f"sqlite:///{tmp_path / 'db' / 'nac.db'}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    (tmp_path / "db").mkdir(exist_ok=True)
    return Settings(data_dir=tmp_path / "data", db=db_url, node_name="test-node")


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    from nac.db.migrate import upgrade_database

    upgrade_database(settings)
    return settings


@pytest.fixture
async def database(migrated: Settings) -> AsyncIterator[object]:
    from nac.db.engine import create_engines

    db = create_engines(migrated)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def box(settings: Settings) -> object:
    from nac.core.secrets import SecretBox

    return SecretBox.open(settings.data_dir)
