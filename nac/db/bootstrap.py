"""Open storage the way `nac init` and `nac serve` both need it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.config import Settings
from nac.core.errors import StorageError
from nac.core.passwords import generate_password
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.demo import seed_demo
from nac.db.engine import Database, create_engines, describe_db_error
from nac.db.migrate import upgrade_database
from nac.db.models import AdminCreate
from nac.db.profiles import seed_profile_rules


@dataclass(frozen=True, slots=True)
class Storage:
    db: Database
    box: SecretBox
    notes: tuple[str, ...] = field(default=())  # what was done, one line each, for the operator


def prepare_data_dir(settings: Settings) -> None:
    """Create ``data_dir`` (mode 0700) if needed."""
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create data directory {settings.data_dir}: {exc.strerror or exc}"
        ) from None


FIRST_ADMIN = "admin"


async def ensure_console_admin(session: AsyncSession) -> str | None:
    """With no console admin at all, create ``admin`` (role admin) with a generated password
    and return that password (to be shown once); None when there is one already."""
    if await crud.count_admins(session):
        return None
    password = generate_password()
    await crud.create_admin(
        session, admin=AdminCreate(name=FIRST_ADMIN, role="admin", password=password)
    )
    return password


async def open_storage(settings: Settings, *, migrate: bool = True, demo: bool = False) -> Storage:
    """Data dir, key file, migrations (``upgrade head``), then the demo seed or, on a database
    without any policy, the reject-everything default. Idempotent. The caller disposes
    ``storage.db``."""
    prepare_data_dir(settings)
    box = SecretBox.open(settings.data_dir)
    notes = []
    if migrate:
        await asyncio.to_thread(upgrade_database, settings)
    db = create_engines(settings)
    try:
        async with db.session() as session:
            if demo:
                if await seed_demo(session, box=box):
                    notes.append(
                        "demo data loaded (client lab-switch; its secrets are in the README)"
                    )
                else:
                    notes.append("database is not empty: demo data not loaded")
            password = await ensure_console_admin(session)
            if password is not None:
                notes.append(
                    f"console admin {FIRST_ADMIN!r} created with the one-time password "
                    f"{password} (shown once: log in and change it)"
                )
            version = await crud.ensure_default_policy(session)
            if version is not None:
                notes.append(
                    f"default policy stored as version {version}: every request is rejected"
                )
            # Once per start, by whoever migrates (not by each forked worker).
            added = await seed_profile_rules(session) if migrate else 0
            if added:
                notes.append(f"{added} built-in profiling rules stored")
    except SQLAlchemyError as exc:
        await db.dispose()
        raise StorageError(
            f"database {settings.redacted_database_url()}: {describe_db_error(exc)}"
        ) from None
    except BaseException:
        await db.dispose()
        raise
    return Storage(db=db, box=box, notes=tuple(notes))
