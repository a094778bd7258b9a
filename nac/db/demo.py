"""The demo seed: a lab switch, four users in four groups, a printer and a small policy."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.passwords import hash_password
from nac.core.secrets import (
    PURPOSE_ENABLE_SECRET,
    PURPOSE_NAS_SECRET,
    PURPOSE_TACACS_KEY,
    PURPOSE_USER_PASSWORD,
    SecretBox,
)
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.models import Admin, Endpoint, Group, NasClient, User, UserGroup

log = logging.getLogger(__name__)

DEMO_SECRET = "testing123"  # noqa: S105 - the well-known lab secret, demo only
DEMO_GROUPS = ("employees", "contractors", "netadmins", "netops")
DEMO_USERS = (  # name, password, group
    ("alice", "alice-pass", "employees"),
    ("bob", "bob-pass", "contractors"),
    ("admin", "admin-pass", "netadmins"),
    ("ops", "ops-pass", "netops"),
)
DEMO_ENDPOINT_MAC = "00:11:22:33:44:55"
DEMO_ENABLE = {"admin": "enable-pass"}  # TACACS+ `enable` secrets
DEMO_CONSOLE_ADMIN = ("admin", "admin-pass")  # the web console's admin (role admin), demo only


async def seed_demo(session: AsyncSession, *, box: SecretBox) -> bool:
    """Seed the demo into an empty database (one transaction). Returns False, changing
    nothing, when the database already holds configuration (see `crud.is_empty`)."""
    if not await crud.is_empty(session):
        await session.rollback()
        log.warning("database is not empty: demo data not loaded")
        return False
    async with crud.config_change(session):
        session.add(
            NasClient(
                name="lab-switch",
                addresses=["127.0.0.0/8", "::1/128"],
                secret_enc=box.encrypt(DEMO_SECRET, purpose=PURPOSE_NAS_SECRET),
                tacacs_key_enc=box.encrypt(DEMO_SECRET, purpose=PURPOSE_TACACS_KEY),
                vendor="generic",
                description="demo: the local lab switch (radtest/radclient on this host)",
            )
        )
        groups = {name: Group(name=name, description="demo") for name in DEMO_GROUPS}
        session.add_all(groups.values())
        await session.flush()
        for name, password, group in DEMO_USERS:
            user = User(
                name=name,
                password_enc=box.encrypt(password, purpose=PURPOSE_USER_PASSWORD),
                enable_secret_enc=(
                    box.encrypt(DEMO_ENABLE[name], purpose=PURPOSE_ENABLE_SECRET)
                    if name in DEMO_ENABLE
                    else None
                ),
                description="demo",
            )
            session.add(user)
            await session.flush()
            session.add(UserGroup(user_id=user.id, group_id=groups[group].id))  # type: ignore[arg-type]
        session.add(
            Endpoint(
                mac=DEMO_ENDPOINT_MAC,
                profile="printer",
                profile_source="admin",
                description="demo printer",
            )
        )
        name, password = DEMO_CONSOLE_ADMIN
        if await crud.find_admin(session, name=name) is None:
            session.add(Admin(name=name, role="admin", password_hash=hash_password(password)))
        await crud.insert_policy(session, document=demo_policy(), author="demo", comment="demo")
    log.info(
        "demo data loaded: client lab-switch, users alice bob admin ops, one printer, "
        "console admin admin"
    )
    return True
