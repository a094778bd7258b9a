"""Changes by admins, each with its entry in the admin change log, in ONE transaction.

The crud functions commit their own transactions. Here they run on a session joined to an
outer transaction with ``join_transaction_mode="create_savepoint"``: their commits release
savepoints, and the change log entry (``crud.record_admin_change(commit=False)``) is added
after them; the outer transaction commits both or neither. The first statement of the outer
transaction takes the configuration lock (a no-op UPDATE of ``config_state``), so on SQLite the
transaction is a writer from its start (no SQLITE_BUSY_SNAPSHOT when it reads the "before"
state and then writes) and on PostgreSQL concurrent changes serialize, as crud's own
``config_change`` does.

Every function takes the caller's session (its read transaction is ended first, `crud.end_read`,
so the caller then sees the change) and ``admin``: the console or API admin's name, or
``cli:USER`` for the command line (`cli_admin`). Before/after values are JSON and never hold a
secret: passwords, shared secrets and keys are shown as ``"***"`` (``"*** (changed)"`` when the
change set a new one).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from nac.core.errors import NacError, NotFoundError
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.models import (
    Admin,
    AdminCreate,
    AdminUpdate,
    ApiTokenCreate,
    ApiTokenPublic,
    ConfigState,
    Endpoint,
    EndpointCreate,
    EndpointUpdate,
    Group,
    GroupCreate,
    NasClientCreate,
    NasClientPublic,
    NasClientUpdate,
    UserCreate,
    UserGroup,
    UserPublic,
    UserUpdate,
)

MASKED = "***"
CHANGED = "*** (changed)"
OBJECT_TYPES = (
    "user",
    "group",
    "client",
    "endpoint",
    "policy",
    "command_set",
    "shell_profile",
    "admin",
    "api_token",
)
_CONFIG = ConfigState.__table__  # type: ignore[attr-defined]


class ConflictError(NacError):
    """A change refused because of what else refers to the object (HTTP 409): a group still
    in use, the last admin, an admin demoting themselves."""


def cli_admin() -> str:
    """Who made a change on the command line: ``cli:`` and the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = os.environ.get("USER") or str(os.getuid())
    return f"cli:{user}"


# --- the transaction ---------------------------------------------------------------------------


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("a change needs a session bound to an AsyncEngine")
    return bind


@asynccontextmanager
async def change_session(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A session on the engine of ``session`` whose commits are savepoints of one outer
    transaction, committed when the block ends without an error (rolled back otherwise)."""
    await crud.end_read(session)
    engine = _engine(session)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.connect() as conn:
        await conn.begin()
        await conn.execute(
            update(_CONFIG).where(_CONFIG.c.id == 1).values(version=_CONFIG.c.version)
        )
        inner = maker(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield inner
            await inner.commit()
            await conn.commit()
        except BaseException:
            await inner.rollback()
            await conn.rollback()
            raise
        finally:
            await inner.close()


async def _log(
    session: AsyncSession,
    admin: str,
    action: str,
    object_type: str,
    object_key: str,
    *,
    before: Any = None,
    after: Any = None,
    comment: str = "",
) -> None:
    """The change log entry: ``admin`` did ``action`` to ``object_type`` ``object_key``."""
    await crud.record_admin_change(
        session,
        admin=admin,
        action=action,
        object_type=object_type,
        object_key=object_key[:253],
        before=before,
        after=after,
        comment=comment[:1024],
        commit=False,
    )


# --- how objects appear in the log (JSON, secrets masked) -----------------------------------


def user_view(user: UserPublic, *, password_changed: bool = False) -> dict[str, Any]:
    return {
        "name": user.name,
        "enabled": user.enabled,
        "description": user.description,
        "groups": list(user.groups),
        "password": CHANGED if password_changed else MASKED,
        "enable_secret": MASKED if user.has_enable_secret else None,
    }


def client_view(client: NasClientPublic, *, secret_changed: bool = False) -> dict[str, Any]:
    data = client.model_dump(
        mode="json",
        exclude={
            "id",
            "created_at",
            "updated_at",
            "last_seen",
            "message_authenticator_seen",
            "has_tacacs_key",
            "has_enable_secret",
            "tacacs_extra_key_count",
        },
    )
    data["secret"] = CHANGED if secret_changed else MASKED
    data["tacacs_key"] = MASKED if client.has_tacacs_key else None
    data["tacacs_extra_keys"] = MASKED if client.tacacs_extra_key_count else None
    data["enable_secret"] = MASKED if client.has_enable_secret else None
    return data


_ENDPOINT_FIELDS = ("mac", "profile", "group", "description", "registered", "blocked")


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    return {name: getattr(endpoint, name, None) for name in _ENDPOINT_FIELDS}


def admin_view(admin: Admin, *, password_changed: bool = False) -> dict[str, Any]:
    return {
        "name": admin.name,
        "role": admin.role,
        "disabled": admin.disabled,
        "password": CHANGED if password_changed else MASKED,
    }


def token_view(token: ApiTokenPublic) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "admin": token.admin,
        "revoked": token.revoked,
        "token": MASKED,
    }


def token_key(token: ApiTokenPublic) -> str:
    return f"{token.id} ({token.admin}/{token.name})"


async def _user(session: AsyncSession, name: str) -> UserPublic:
    return await crud.get_user(session, name=name)


async def _log_new_groups(s: AsyncSession, admin: str, groups: list[str], user: str) -> None:
    """Groups a user change created on the way (``create_groups``)."""
    for group in groups:
        await _log(
            s,
            admin,
            "create",
            "group",
            group,
            after={"name": group, "description": ""},
            comment=f"created for user {user}",
        )


# --- users ---------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    admin: str,
    user: UserCreate,
    box: SecretBox,
    create_groups: bool = False,
) -> UserPublic:
    async with change_session(session) as s:
        known = {g.name for g in await crud.list_groups(s)}
        created = await crud.create_user(s, user=user, box=box, create_groups=create_groups)
        await _log_new_groups(s, admin, [g for g in created.groups if g not in known], user.name)
        await _log(s, admin, "create", "user", user.name, after=user_view(created))
    return created


async def update_user(
    session: AsyncSession,
    *,
    admin: str,
    name: str,
    update: UserUpdate,
    box: SecretBox,
    create_groups: bool = False,
) -> UserPublic:
    async with change_session(session) as s:
        before = await _user(s, name)
        known = {g.name for g in await crud.list_groups(s)}
        after = await crud.update_user(
            s, name=name, update=update, box=box, create_groups=create_groups
        )
        view = user_view(after, password_changed=update.password is not None)
        if update.enable_secret is not None and after.has_enable_secret:
            view["enable_secret"] = CHANGED
        await _log_new_groups(s, admin, [g for g in after.groups if g not in known], name)
        await _log(s, admin, "update", "user", name, before=user_view(before), after=view)
    return after


async def delete_user(session: AsyncSession, *, admin: str, name: str) -> None:
    async with change_session(session) as s:
        before = await _user(s, name)
        await crud.delete_user(s, name=name)
        await _log(s, admin, "delete", "user", name, before=user_view(before))


# --- groups --------------------------------------------------------------------------------


def _group_view(group: Group, members: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"name": group.name, "description": group.description}
    if members is not None:
        view["members"] = members
    return view


async def member_counts(session: AsyncSession) -> dict[str, int]:
    """Users per group name (groups without users are absent)."""
    stmt = (
        select(col(Group.name), func.count(col(UserGroup.user_id)))
        .join(UserGroup, col(UserGroup.group_id) == col(Group.id))
        .group_by(col(Group.name))
    )
    return {name: int(n) for name, n in (await session.execute(stmt)).all()}


def _names_group(condition: Any, group: str) -> bool:
    """Whether a condition tree has a ``user.groups`` leaf whose value is ``group`` (or a list
    holding it)."""
    if isinstance(condition, Mapping):
        if condition.get("attr") == "user.groups":
            value = condition.get("value")
            ci = condition.get("case_insensitive") is True
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str) and (v == group or (ci and v.casefold() == group.casefold())):
                    return True
        return any(
            _names_group(v, group) for k, v in condition.items() if k in ("all", "any", "not")
        )
    if isinstance(condition, list):
        return any(_names_group(item, group) for item in condition)
    return False


def rules_naming_group(document: Mapping[str, Any], group: str) -> list[str]:
    """``policy set X, authorization rule Y`` for every rule (and set) whose condition names
    ``group`` in a ``user.groups`` condition."""
    found: list[str] = []
    sets = document.get("policy_sets")
    for ps in sets if isinstance(sets, list) else []:
        if not isinstance(ps, Mapping):
            continue
        set_name = ps.get("name", "?")
        if _names_group(ps.get("condition"), group):
            found.append(f"policy set {set_name} (its condition)")
        for stage in ("authentication", "authorization"):
            rules = ps.get(stage)
            for rule in rules if isinstance(rules, list) else []:
                if isinstance(rule, Mapping) and _names_group(rule.get("condition"), group):
                    found.append(f"policy set {set_name}, {stage} rule {rule.get('name', '?')}")
    return found


async def create_group(session: AsyncSession, *, admin: str, group: GroupCreate) -> Group:
    async with change_session(session) as s:
        row = await crud.create_group(s, group=group)
        await _log(s, admin, "create", "group", row.name, after=_group_view(row))
    return row


async def update_group(session: AsyncSession, *, admin: str, name: str, description: str) -> Group:
    """Change a group's description (its name is what users and rules refer to)."""
    if len(description) > 1024:
        raise ValueError("at most 1024 characters")
    async with change_session(session) as s:
        async with crud.config_change(s):
            row = await crud.get_group(s, name=name)
            before = _group_view(row)
            row.description = description
            s.add(row)
            await s.flush()
        await _log(s, admin, "update", "group", name, before=before, after=_group_view(row))
    return row


async def delete_group(session: AsyncSession, *, admin: str, name: str) -> None:
    """Delete a group no user is a member of and no policy rule names
    (`ConflictError` otherwise, saying who still refers to it)."""
    async with change_session(session) as s:
        row = await crud.get_group(s, name=name)
        before = _group_view(row)
        members = (await member_counts(s)).get(name, 0)
        policy = await crud.get_policy(s)
        rules = rules_naming_group(policy.document, name) if policy is not None else []
        problems = []
        if members:
            problems.append(f"{members} user{'s' if members != 1 else ''} still member of it")
        if rules:
            version = policy.version if policy is not None else 0
            problems.append(f"policy version {version} names it in: {'; '.join(rules)}")
        if problems:
            raise ConflictError(f"group {name!r} is in use: {'; '.join(problems)}")
        await crud.delete_group(s, name=name)
        await _log(s, admin, "delete", "group", name, before=before)


# --- NAS clients ---------------------------------------------------------------------------


async def create_client(
    session: AsyncSession, *, admin: str, client: NasClientCreate, box: SecretBox
) -> NasClientPublic:
    async with change_session(session) as s:
        created = await crud.create_client(s, client=client, box=box)
        await _log(s, admin, "create", "client", client.name, after=client_view(created))
    return created


async def update_client(
    session: AsyncSession, *, admin: str, name: str, update: NasClientUpdate, box: SecretBox
) -> NasClientPublic:
    """Change a client; a new ``update.secret`` is logged as action ``rotate``."""
    rotate = update.secret is not None
    async with change_session(session) as s:
        before = await crud.get_client(s, name=name)
        after = await crud.update_client(s, name=name, update=update, box=box)
        view = client_view(after, secret_changed=rotate)
        fields = update.model_fields_set
        if "tacacs_key" in fields and after.has_tacacs_key:
            view["tacacs_key"] = CHANGED
        if update.tacacs_extra_keys:
            view["tacacs_extra_keys"] = CHANGED
        if update.enable_secret:
            view["enable_secret"] = CHANGED
        await _log(
            s,
            admin,
            "rotate" if rotate else "update",
            "client",
            name,
            before=client_view(before),
            after=view,
            comment="RADIUS shared secret rotated" if rotate else "",
        )
    return after


async def delete_client(session: AsyncSession, *, admin: str, name: str) -> None:
    async with change_session(session) as s:
        before = await crud.get_client(s, name=name)
        await crud.delete_client(s, name=name)
        await _log(s, admin, "delete", "client", name, before=client_view(before))


# --- endpoints -----------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession, *, admin: str, endpoint: EndpointCreate
) -> Endpoint:
    async with change_session(session) as s:
        row = await crud.create_endpoint(s, endpoint=endpoint)
        await _log(s, admin, "create", "endpoint", row.mac, after=endpoint_view(row))
    return row


async def update_endpoint(
    session: AsyncSession, *, admin: str, mac: str, update: EndpointUpdate
) -> Endpoint:
    async with change_session(session) as s:
        before = endpoint_view(await crud.get_endpoint(s, mac=mac))
        row = await crud.update_endpoint(s, mac=mac, update=update)
        await _log(s, admin, "update", "endpoint", row.mac, before=before, after=endpoint_view(row))
    return row


async def delete_endpoint(session: AsyncSession, *, admin: str, mac: str) -> None:
    async with change_session(session) as s:
        row = await crud.get_endpoint(s, mac=mac)
        before, key = endpoint_view(row), row.mac
        await crud.delete_endpoint(s, mac=mac)
        await _log(s, admin, "delete", "endpoint", key, before=before)


# --- policy versions -----------------------------------------------------------------------


async def set_policy(
    session: AsyncSession,
    *,
    admin: str,
    document: dict[str, Any],
    comment: str,
    action: str = "update",
    entry: tuple[str, str, Any, Any] | None = None,
    author: str | None = None,
) -> int:
    """Store ``document`` (validated by the caller) as the next version; the log entry holds the
    version numbers and ``comment``, or, with ``entry`` = (object_type, object_key, before,
    after), that object's before and after (a command set, a shell profile) and the versions
    in the comment. The version's author is ``author`` (default: ``admin``)."""
    async with change_session(session) as s:
        current = await crud.get_policy(s)
        old = current.version if current is not None else 0
        version = await crud.set_policy(
            s, document=document, author=author or admin, comment=comment
        )
        if entry is None:
            await _log(
                s,
                admin,
                action,
                "policy",
                f"version {version}",
                before={"version": old} if old else None,
                after={"version": version, "comment": comment},
                comment=comment,
            )
        else:
            object_type, key, before, after = entry
            kind = "create" if before is None else "delete" if after is None else "update"
            await _log(
                s,
                admin,
                kind,
                object_type,
                key,
                before=before,
                after=after,
                comment=f"policy version {version} (was {old}): {comment}",
            )
    return version


# --- console admins and API tokens ---------------------------------------------------------


async def _admins_left(s: AsyncSession, *, without: str) -> int:
    """Enabled admins with role admin other than ``without``."""
    return sum(
        1
        for a in await crud.list_admins(s)
        if a.role == "admin" and not a.disabled and a.name != without
    )


async def create_admin(session: AsyncSession, *, admin: str, new: AdminCreate) -> Admin:
    async with change_session(session) as s:
        row = await crud.create_admin(s, admin=new)
        await _log(s, admin, "create", "admin", row.name, after=admin_view(row))
    return row


async def update_admin(
    session: AsyncSession, *, admin: str, name: str, update: AdminUpdate
) -> Admin:
    """Change a console admin's role, disabled flag or password. Refused (`ConflictError`)
    when it would leave no enabled admin with role admin, or when ``admin`` would demote or
    disable themselves."""
    async with change_session(session) as s:
        row = await crud.get_admin(s, name=name)
        before = admin_view(row)
        losing = (update.role is not None and update.role != "admin") or update.disabled is True
        if row.role == "admin" and not row.disabled and losing:
            if name == admin:
                what = "disable" if update.disabled else "demote"
                raise ConflictError(
                    f"you cannot {what} yourself: another admin must do it, so that "
                    "someone with the admin role remains"
                )
            if await _admins_left(s, without=name) == 0:
                raise ConflictError(
                    f"{name} is the last enabled admin: give another admin the admin role first"
                )
        row = await crud.update_admin(s, name=name, update=update)
        after = admin_view(row, password_changed=update.password is not None)
        changed = [k for k in ("role", "disabled", "password") if before[k] != after[k]]
        await _log(
            s,
            admin,
            "update",
            "admin",
            name,
            before=before,
            after=after,
            comment=", ".join(f"{k} changed" for k in changed),
        )
    return row


async def create_api_token(
    session: AsyncSession, *, admin: str, owner: str, token: ApiTokenCreate
) -> tuple[ApiTokenPublic, str]:
    async with change_session(session) as s:
        info, secret = await crud.create_api_token(s, admin_name=owner, token=token)
        await _log(s, admin, "create", "api_token", token_key(info), after=token_view(info))
    return info, secret


async def revoke_api_token(session: AsyncSession, *, admin: str, token_id: int) -> ApiTokenPublic:
    async with change_session(session) as s:
        before = next((t for t in await crud.list_api_tokens(s) if t.id == token_id), None)
        if before is None:
            raise NotFoundError(f"API token {token_id} does not exist")
        info = await crud.revoke_api_token(s, token_id=token_id)
        await _log(
            s,
            admin,
            "revoke",
            "api_token",
            token_key(info),
            before=token_view(before),
            after=token_view(info),
        )
    return info
