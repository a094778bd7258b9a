"""Keyword-only async crud over an `AsyncSession`.

Write functions commit their own transaction (and roll back on error). Every function that
changes configuration (clients, users, groups, endpoints, policy) bumps ``config_state.version``
first, in the same transaction: the UPDATE takes the write lock (SQLite) or the row lock
(PostgreSQL) before anything is read, so concurrent config changes serialize, and running
servers reload when they see the version move. Audit, accounting and "client seen" writes are
runtime data and do not bump it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from nac.core.errors import AlreadyExistsError, NotFoundError, SecretError
from nac.core.passwords import hash_password, new_token, token_digest
from nac.core.secrets import (
    PURPOSE_ENABLE_SECRET,
    PURPOSE_NAS_SECRET,
    PURPOSE_TACACS_KEY,
    PURPOSE_USER_PASSWORD,
    SecretBox,
)
from nac.db.defaults import DEFAULT_POLICY_AUTHOR, default_policy
from nac.db.engine import WRITE_GATE
from nac.db.models import (
    AccountingSession,
    Admin,
    AdminChange,
    AdminCreate,
    AdminUpdate,
    ApiToken,
    ApiTokenCreate,
    ApiTokenPublic,
    AuditLog,
    ConfigState,
    Endpoint,
    EndpointCreate,
    EndpointEvent,
    EndpointUpdate,
    Group,
    GroupCreate,
    NasClient,
    NasClientCreate,
    NasClientPublic,
    NasClientUpdate,
    PolicyVersion,
    User,
    UserCreate,
    UserGroup,
    UserPublic,
    UserUpdate,
    check_name,
    normalize_mac,
    role_rank,
)
from nac.db.records import AccountingRecordIn, AcctStatus, AuditRecordIn
from nac.db.runtime import RuntimeClient, RuntimeConfig, RuntimeEndpoint, RuntimeUser
from nac.db.types import utcnow

AUDIT_PAGE_MAX = 500

__all__ = [
    "AccountingResult",
    "RuntimeClient",
    "RuntimeConfig",
    "RuntimeEndpoint",
    "RuntimeUser",
]

_AUDIT = AuditLog.__table__  # type: ignore[attr-defined]
_AUDIT_FIELDS = tuple(f.name for f in fields(AuditRecordIn))
_ACCT = AccountingSession.__table__  # type: ignore[attr-defined]
_CONFIG = ConfigState.__table__  # type: ignore[attr-defined]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@asynccontextmanager
async def _write(session: AsyncSession) -> AsyncIterator[None]:
    """Commit on success, roll back on any error."""
    try:
        yield
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


async def end_read(session: AsyncSession) -> None:
    """End a read-only transaction before writing. On SQLite a transaction that began with a
    read cannot become a writer once another connection (the audit writer process) has
    committed since: SQLite answers "database is locked" at once, busy_timeout or not
    (SQLITE_BUSY_SNAPSHOT). Objects read so far are expired; copy what you need first."""
    if session.in_transaction():
        await session.rollback()


def write_gate(session: AsyncSession) -> AbstractAsyncContextManager[Any]:
    """Hold around a whole write transaction that many requests run at once (posture reports):
    on SQLite the process's writers take turns on one asyncio.Lock instead of polling the
    database lock; elsewhere (PostgreSQL: row locks) it does nothing. Not reentrant."""
    gate = session.info.get(WRITE_GATE)
    return cast(AbstractAsyncContextManager[Any], gate) if gate is not None else nullcontext()


@asynccontextmanager
async def config_change(session: AsyncSession) -> AsyncIterator[int]:
    """A config-changing transaction: bump the version first, commit at the end."""
    async with _write(session):
        yield await bump_config_version(session)


# --- config version ------------------------------------------------------------------------


async def get_config_version(session: AsyncSession) -> int:
    """The current configuration version (0 on a freshly migrated database)."""
    version = await session.scalar(select(_CONFIG.c.version).where(_CONFIG.c.id == 1))
    return int(version or 0)


async def bump_config_version(session: AsyncSession) -> int:
    """Increment the configuration version inside the caller's transaction; returns the new one.

    Does not commit. Every config-changing crud function calls it first.
    """
    result = await session.execute(
        update(_CONFIG)
        .where(_CONFIG.c.id == 1)
        .values(version=_CONFIG.c.version + 1, updated_at=utcnow())
        .returning(_CONFIG.c.version)
    )
    version = result.scalar()
    if version is None:  # a database migrated by hand without the row
        await session.execute(insert(_CONFIG).values(id=1, version=1, updated_at=utcnow()))
        return 1
    return int(version)


# --- policy --------------------------------------------------------------------------------


async def set_policy(
    session: AsyncSession, *, document: dict[str, Any], author: str, comment: str = ""
) -> int:
    """Store ``document`` as the next policy version and return that version number.

    Validation (``policy.compile.compile_policy``) is the caller's job: nac.db does not import
    the policy package. Ends the caller's read transaction first (`end_read`).
    """
    await end_read(session)
    async with config_change(session):
        return await insert_policy(session, document=document, author=author, comment=comment)


async def insert_policy(
    session: AsyncSession, *, document: dict[str, Any], author: str, comment: str
) -> int:
    latest = await session.scalar(select(func.max(col(PolicyVersion.version))))
    version = int(latest or 0) + 1
    session.add(PolicyVersion(version=version, document=document, author=author, comment=comment))
    await session.flush()
    return version


async def get_policy(session: AsyncSession, *, version: int | None = None) -> PolicyVersion | None:
    """The current (highest) policy version, or the given one; None if there is none."""
    stmt = select(PolicyVersion)
    if version is None:
        stmt = stmt.order_by(col(PolicyVersion.version).desc()).limit(1)
    else:
        stmt = stmt.where(col(PolicyVersion.version) == version)
    return (await session.execute(stmt)).scalars().first()


async def list_policy_versions(session: AsyncSession, *, limit: int = 50) -> list[PolicyVersion]:
    """Newest first."""
    stmt = select(PolicyVersion).order_by(col(PolicyVersion.version).desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def get_policy_before(session: AsyncSession, *, version: int) -> PolicyVersion | None:
    """The policy version stored just before ``version`` (None for the first)."""
    stmt = (
        select(PolicyVersion)
        .where(col(PolicyVersion.version) < version)
        .order_by(col(PolicyVersion.version).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def ensure_default_policy(session: AsyncSession) -> int | None:
    """Store the reject-everything policy if no policy exists; returns its version or None."""
    if await get_policy(session) is not None:
        await session.rollback()
        return None
    async with config_change(session):
        if await get_policy(session) is not None:
            return None
        return await insert_policy(
            session,
            document=default_policy(),
            author=DEFAULT_POLICY_AUTHOR,
            comment="default: reject everything until a policy is loaded",
        )


# --- groups --------------------------------------------------------------------------------


async def create_group(session: AsyncSession, *, group: GroupCreate) -> Group:
    async with config_change(session):
        if await _group_by_name(session, group.name) is not None:
            raise AlreadyExistsError(f"group {group.name!r} already exists")
        row = Group.model_validate(group)
        session.add(row)
        await session.flush()
    return row


async def list_groups(session: AsyncSession) -> list[Group]:
    return list((await session.execute(select(Group).order_by(col(Group.name)))).scalars())


async def get_group(session: AsyncSession, *, name: str) -> Group:
    row = await _group_by_name(session, name)
    if row is None:
        raise NotFoundError(f"group {name!r} does not exist")
    return row


async def delete_group(session: AsyncSession, *, name: str) -> None:
    async with config_change(session):
        row = await get_group(session, name=name)
        await session.execute(delete(UserGroup).where(col(UserGroup.group_id) == row.id))
        await session.delete(row)


async def _group_by_name(session: AsyncSession, name: str) -> Group | None:
    stmt = select(Group).where(col(Group.name) == name)
    return (await session.execute(stmt)).scalars().first()


async def _resolve_groups(
    session: AsyncSession, names: Iterable[str], *, create: bool
) -> list[Group]:
    groups = []
    for name in dict.fromkeys(names):
        row = await _group_by_name(session, check_name(name))
        if row is None:
            if not create:
                raise NotFoundError(f"group {name!r} does not exist")
            row = Group(name=name)
            session.add(row)
            await session.flush()
        groups.append(row)
    return groups


# --- users ---------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession, *, user: UserCreate, box: SecretBox, create_groups: bool = False
) -> UserPublic:
    """Create a user; its password is stored encrypted. Missing groups are an error unless
    ``create_groups`` (then they are created)."""
    async with config_change(session):
        if await _user_by_name(session, user.name) is not None:
            raise AlreadyExistsError(f"user {user.name!r} already exists")
        groups = await _resolve_groups(session, user.groups, create=create_groups)
        row = User(
            name=user.name,
            enabled=user.enabled,
            description=user.description,
            password_enc=box.encrypt(user.password, purpose=PURPOSE_USER_PASSWORD),
            enable_secret_enc=_encrypt_optional(box, user.enable_secret, PURPOSE_ENABLE_SECRET),
        )
        session.add(row)
        await session.flush()
        for group in groups:
            session.add(UserGroup(user_id=row.id, group_id=group.id))  # type: ignore[arg-type]
        await session.flush()
    return _user_public(row, [g.name for g in groups])


async def list_users(session: AsyncSession) -> list[UserPublic]:
    rows = list((await session.execute(select(User).order_by(col(User.name)))).scalars())
    groups = await _groups_by_user(session)
    return [_user_public(row, groups.get(row.id or 0, [])) for row in rows]


async def get_user(session: AsyncSession, *, name: str) -> UserPublic:
    row = await _user_by_name(session, name)
    if row is None:
        raise NotFoundError(f"user {name!r} does not exist")
    groups = await _groups_by_user(session, user_id=row.id)
    return _user_public(row, groups.get(row.id or 0, []))


async def update_user(
    session: AsyncSession,
    *,
    name: str,
    update: UserUpdate,
    box: SecretBox,
    create_groups: bool = False,
) -> UserPublic:
    async with config_change(session):
        row = await _user_by_name(session, name)
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        if update.password is not None:
            row.password_enc = box.encrypt(update.password, purpose=PURPOSE_USER_PASSWORD)
        if update.enable_secret is not None:
            row.enable_secret_enc = _encrypt_optional(
                box, update.enable_secret, PURPOSE_ENABLE_SECRET
            )
        if update.enabled is not None:
            row.enabled = update.enabled
        if update.description is not None:
            row.description = update.description
        row.updated_at = utcnow()
        if update.groups is not None:
            groups = await _resolve_groups(session, update.groups, create=create_groups)
            await session.execute(delete(UserGroup).where(col(UserGroup.user_id) == row.id))
            for group in groups:
                session.add(UserGroup(user_id=row.id, group_id=group.id))  # type: ignore[arg-type]
        await session.flush()
        names = (await _groups_by_user(session, user_id=row.id)).get(row.id or 0, [])
    return _user_public(row, names)


async def delete_user(session: AsyncSession, *, name: str) -> None:
    async with config_change(session):
        row = await _user_by_name(session, name)
        if row is None:
            raise NotFoundError(f"user {name!r} does not exist")
        await session.execute(delete(UserGroup).where(col(UserGroup.user_id) == row.id))
        await session.delete(row)


async def _user_by_name(session: AsyncSession, name: str) -> User | None:
    return (await session.execute(select(User).where(col(User.name) == name))).scalars().first()


async def _groups_by_user(
    session: AsyncSession, *, user_id: int | None = None
) -> dict[int, list[str]]:
    stmt = (
        select(col(UserGroup.user_id), col(Group.name))
        .join(Group, col(Group.id) == col(UserGroup.group_id))
        .order_by(col(Group.name))
    )
    if user_id is not None:
        stmt = stmt.where(col(UserGroup.user_id) == user_id)
    out: dict[int, list[str]] = {}
    for uid, group_name in (await session.execute(stmt)).all():
        out.setdefault(uid, []).append(group_name)
    return out


def _user_public(row: User, groups: list[str]) -> UserPublic:
    assert row.id is not None
    return UserPublic(
        id=row.id,
        name=row.name,
        enabled=row.enabled,
        description=row.description,
        groups=sorted(groups),
        has_enable_secret=row.enable_secret_enc is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _encrypt_optional(box: SecretBox, value: str | None, purpose: str) -> bytes | None:
    """None or "" (no secret) -> None; otherwise the encrypted value."""
    return box.encrypt(value, purpose=purpose) if value else None


def _extra_keys_enc(box: SecretBox, keys: list[str]) -> bytes | None:
    return box.encrypt(json.dumps(keys), purpose=PURPOSE_TACACS_KEY) if keys else None


# --- NAS clients ---------------------------------------------------------------------------


async def create_client(
    session: AsyncSession, *, client: NasClientCreate, box: SecretBox
) -> NasClientPublic:
    """Create a NAS client; its RADIUS secret and TACACS+ key are stored encrypted."""
    async with config_change(session):
        if await _client_by_name(session, client.name) is not None:
            raise AlreadyExistsError(f"client {client.name!r} already exists")
        row = NasClient(
            **client.model_dump(
                exclude={"secret", "tacacs_key", "tacacs_extra_keys", "enable_secret"}
            ),
            secret_enc=box.encrypt(client.secret, purpose=PURPOSE_NAS_SECRET),
            tacacs_extra_keys_enc=_extra_keys_enc(box, client.tacacs_extra_keys),
            enable_secret_enc=_encrypt_optional(box, client.enable_secret, PURPOSE_ENABLE_SECRET),
            tacacs_key_enc=(
                box.encrypt(client.tacacs_key, purpose=PURPOSE_TACACS_KEY)
                if client.tacacs_key
                else None
            ),
        )
        session.add(row)
        await session.flush()
    return _client_public(row)


async def list_clients(session: AsyncSession) -> list[NasClientPublic]:
    stmt = select(NasClient).order_by(col(NasClient.name))
    return [_client_public(row) for row in (await session.execute(stmt)).scalars()]


async def get_client(session: AsyncSession, *, name: str) -> NasClientPublic:
    row = await _client_by_name(session, name)
    if row is None:
        raise NotFoundError(f"client {name!r} does not exist")
    return _client_public(row)


async def update_client(
    session: AsyncSession, *, name: str, update: NasClientUpdate, box: SecretBox
) -> NasClientPublic:
    async with config_change(session):
        row = await _client_by_name(session, name)
        if row is None:
            raise NotFoundError(f"client {name!r} does not exist")
        changes = update.model_dump(
            exclude_unset=True,
            exclude={"secret", "tacacs_key", "tacacs_extra_keys", "enable_secret"},
        )
        for field, value in changes.items():
            if value is not None:
                setattr(row, field, value)
        if update.secret is not None:
            row.secret_enc = box.encrypt(update.secret, purpose=PURPOSE_NAS_SECRET)
        if "tacacs_key" in update.model_fields_set:
            row.tacacs_key_enc = (
                box.encrypt(update.tacacs_key, purpose=PURPOSE_TACACS_KEY)
                if update.tacacs_key
                else None
            )
        if update.tacacs_extra_keys is not None:
            row.tacacs_extra_keys_enc = _extra_keys_enc(box, update.tacacs_extra_keys)
        if update.enable_secret is not None:
            row.enable_secret_enc = _encrypt_optional(
                box, update.enable_secret, PURPOSE_ENABLE_SECRET
            )
        row.updated_at = utcnow()
        await session.flush()
    return _client_public(row)


async def delete_client(session: AsyncSession, *, name: str) -> None:
    async with config_change(session):
        row = await _client_by_name(session, name)
        if row is None:
            raise NotFoundError(f"client {name!r} does not exist")
        await session.delete(row)


# The clients known to send Message-Authenticator (the flag update_client_seen keeps), as one
# plain statement for readers that bypass the ORM (nac.db.engine.StateProbe.rows).
MA_SEEN_CLIENTS_SQL = "SELECT name FROM nas_clients WHERE message_authenticator_seen"


async def update_client_seen(
    session: AsyncSession, *, name: str, last_seen: datetime, message_authenticator_seen: bool
) -> None:
    """Record that a client talked to us (runtime state: does not bump the config version).

    ``message_authenticator_seen`` is sticky: once True it stays True. ``last_seen`` only moves
    forward.
    """
    table = NasClient.__table__  # type: ignore[attr-defined]
    async with _write(session):
        await session.execute(
            update(table)
            .where(table.c.name == name)
            .values(
                last_seen=func.coalesce(
                    func.max(table.c.last_seen, last_seen)
                    if _dialect(session) == "sqlite"
                    else func.greatest(table.c.last_seen, last_seen),
                    last_seen,
                ),
                message_authenticator_seen=table.c.message_authenticator_seen
                | message_authenticator_seen,
            )
        )


async def _client_by_name(session: AsyncSession, name: str) -> NasClient | None:
    stmt = select(NasClient).where(col(NasClient.name) == name)
    return (await session.execute(stmt)).scalars().first()


def _client_public(row: NasClient) -> NasClientPublic:
    assert row.id is not None
    return NasClientPublic(
        **row.model_dump(
            exclude={"secret_enc", "tacacs_key_enc", "tacacs_extra_keys_enc", "enable_secret_enc"}
        ),
        has_tacacs_key=row.tacacs_key_enc is not None,
        has_enable_secret=row.enable_secret_enc is not None,
    )


# --- endpoints -----------------------------------------------------------------------------


async def create_endpoint(session: AsyncSession, *, endpoint: EndpointCreate) -> Endpoint:
    async with config_change(session):
        if await _endpoint_by_mac(session, endpoint.mac) is not None:
            raise AlreadyExistsError(f"endpoint {endpoint.mac} already exists")
        row = Endpoint.model_validate(endpoint)
        if row.profile:
            row.profile_source = "admin"  # profiling keeps a profile an admin set
        session.add(row)
        await session.flush()
    return row


async def list_endpoints(session: AsyncSession) -> list[Endpoint]:
    return list((await session.execute(select(Endpoint).order_by(col(Endpoint.mac)))).scalars())


async def get_endpoint(session: AsyncSession, *, mac: str) -> Endpoint:
    row = await _endpoint_by_mac(session, normalize_mac(mac))
    if row is None:
        raise NotFoundError(f"endpoint {mac} does not exist")
    return row


async def update_endpoint(session: AsyncSession, *, mac: str, update: EndpointUpdate) -> Endpoint:
    async with config_change(session):
        row = await get_endpoint(session, mac=mac)
        changes = update.model_dump(exclude_unset=True)
        for field, value in changes.items():
            setattr(row, field, value)
        if "profile" in changes:  # set by an admin: kept by profiling; cleared: profiling's
            row.profile_source = "admin" if changes["profile"] else None
        if changes.get("blocked") is not None:
            row.state_seq = await next_endpoint_seq(session)
        await session.flush()
    return row


async def delete_endpoint(session: AsyncSession, *, mac: str) -> None:
    async with config_change(session):
        row = await get_endpoint(session, mac=mac)
        await session.delete(row)


async def _endpoint_by_mac(session: AsyncSession, mac: str) -> Endpoint | None:
    stmt = select(Endpoint).where(col(Endpoint.mac) == mac)
    return (await session.execute(stmt)).scalars().first()


# --- endpoint state (profile, posture, blocked) ----------------------------------------------
#
# Endpoint state changes often (every DHCP packet, every posture report), so it does not bump
# the configuration version (a full snapshot reload). Each change takes the next number of
# one global sequence (config_state.endpoint_seq) and stamps it on the row; the workers poll
# the sequence and fetch just the rows stamped after the last one they applied.


async def get_endpoint_seq(session: AsyncSession) -> int:
    value = await session.scalar(select(_CONFIG.c.endpoint_seq).where(_CONFIG.c.id == 1))
    return int(value or 0)


_NEXT_ENDPOINT_SEQ = (  # built once: its cache key is computed once (a hot path)
    update(_CONFIG)
    .where(_CONFIG.c.id == 1)
    .values(endpoint_seq=_CONFIG.c.endpoint_seq + 1)
    .returning(_CONFIG.c.endpoint_seq)
)


async def next_endpoint_seq(session: AsyncSession) -> int:
    """Take the next endpoint state number inside the caller's write transaction."""
    result = await session.execute(_NEXT_ENDPOINT_SEQ)
    value = result.scalar()
    if value is None:  # a database migrated by hand without the row
        await session.execute(
            insert(_CONFIG).values(id=1, version=0, endpoint_seq=1, updated_at=utcnow())
        )
        return 1
    return int(value)


# Fields `set_endpoint_state` may change (the runtime-relevant and profiling columns).
ENDPOINT_STATE_FIELDS = frozenset(
    {"profile", "group", "registered", "blocked", "vendor", "randomized", "hostname"}
    | {"dhcp_fingerprint"}
    | {"dhcp_vendor_class", "profile_confidence", "profile_source", "signals", "last_user"}
    | {"posture_state", "posture_score", "posture_failed", "posture_at", "last_seen"}
)


async def set_endpoint_state(
    session: AsyncSession,
    *,
    mac: str,
    create: bool = True,
    events: Sequence[tuple[str, dict[str, Any]]] = (),
    loaded: Endpoint | None = None,
    **fields: Any,
) -> Endpoint:
    """Change an endpoint's state (creating it when ``create`` and it is new), stamp it with
    the next endpoint sequence number and record ``events`` (kind, detail), in one
    transaction. The workers pick the change up without a configuration reload.
    ``loaded``: the endpoint's row, when the caller has read it in this same transaction
    (it is not read again)."""
    unknown = set(fields) - ENDPOINT_STATE_FIELDS
    if unknown:
        raise ValueError(f"not endpoint state: {', '.join(sorted(unknown))}")
    mac = normalize_mac(mac)
    async with _write(session):
        # The sequence first: its UPDATE takes SQLite's write lock before anything is read
        # (a transaction that read first could not become a writer once the audit writer had
        # committed since: "database is locked" at once, SQLITE_BUSY_SNAPSHOT), and the row's
        # changes below then go out as one UPDATE (or INSERT) with the flush at the end.
        seq = await next_endpoint_seq(session)
        row = loaded if loaded is not None else await _endpoint_by_mac(session, mac)
        if row is None and not create:
            raise NotFoundError(f"endpoint {mac} does not exist")
        if row is None:
            row = Endpoint(mac=mac, registered=False)
            session.add(row)
        for name, value in fields.items():
            setattr(row, name, value)
        row.state_seq = seq
        for kind, detail in events:
            session.add(EndpointEvent(mac=mac, kind=kind, detail=detail))
        await session.flush()
    return row


async def put_endpoint_state(
    session: AsyncSession,
    *,
    mac: str,
    seq: int,
    now: datetime,
    events: Sequence[tuple[str, dict[str, Any]]] = (),
    **fields: Any,
) -> None:
    """`set_endpoint_state` for a hot path, in Core statements inside the CALLER's write
    transaction (no commit): ``seq`` from `next_endpoint_seq` in that transaction, ``mac``
    normalized. One UPDATE (an INSERT when the endpoint is new: registered=False) and one
    INSERT per event."""
    unknown = set(fields) - ENDPOINT_STATE_FIELDS
    if unknown:
        raise ValueError(f"not endpoint state: {', '.join(sorted(unknown))}")
    conn = await session.connection()  # Core on the session's connection: no ORM on the way
    # One statement object (its compiled form cached); the SET columns are the keys given.
    result = await conn.execute(_PUT_ENDPOINT, {"b_mac": mac, "state_seq": seq, **fields})
    if not result.rowcount:
        session.add(Endpoint(mac=mac, registered=False, state_seq=seq, **fields))
        await session.flush()
    if events:
        await conn.execute(
            _INSERT_EVENT,
            [{"ts": now, "mac": mac, "kind": kind, "detail": detail} for kind, detail in events],
        )


_ENDPOINTS = Endpoint.__table__  # type: ignore[attr-defined]
_PUT_ENDPOINT = update(_ENDPOINTS).where(_ENDPOINTS.c.mac == bindparam("b_mac"))
_INSERT_EVENT = insert(EndpointEvent.__table__)  # type: ignore[attr-defined]


async def endpoint_changes(
    session: AsyncSession, *, after: int, limit: int = 10_000
) -> tuple[int, list[RuntimeEndpoint]]:
    """The endpoint sequence now, and the endpoints stamped after ``after`` (oldest first,
    at most ``limit``: call again from the last one's ``state_seq`` when that many come)."""
    seq = await get_endpoint_seq(session)
    if seq <= after:
        return seq, []
    stmt = (
        select(Endpoint)
        .where(col(Endpoint.state_seq) > after)
        .order_by(col(Endpoint.state_seq))
        .limit(limit)
    )
    rows = (await session.execute(stmt)).scalars()
    return seq, [runtime_endpoint(e) for e in rows]


async def list_endpoint_events(
    session: AsyncSession,
    *,
    mac: str | None = None,
    kind: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[EndpointEvent]:
    """Newest first; with ``after_id``, the events after it, oldest first (a follower)."""
    if after_id is not None:
        stmt = (
            select(EndpointEvent)
            .where(col(EndpointEvent.id) > after_id)
            .order_by(col(EndpointEvent.id))
            .limit(limit)
        )
    else:
        stmt = select(EndpointEvent).order_by(col(EndpointEvent.id).desc()).limit(limit)
    if mac is not None:
        stmt = stmt.where(col(EndpointEvent.mac) == normalize_mac(mac))
    if kind is not None:
        stmt = stmt.where(col(EndpointEvent.kind) == kind)
    return list((await session.execute(stmt)).scalars())


async def last_endpoint_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(col(EndpointEvent.id)))) or 0)


def runtime_endpoint(e: Endpoint) -> RuntimeEndpoint:
    return RuntimeEndpoint(
        mac=e.mac,
        profile=e.profile,
        group=e.group,
        registered=e.registered,
        blocked=e.blocked,
        posture_state=e.posture_state,
        posture_score=e.posture_score,
        posture_failed=tuple(e.posture_failed or ()),
        posture_at=e.posture_at,
        first_seen=e.first_seen,
        vendor=e.vendor,
        randomized=e.randomized,
        state_seq=e.state_seq,
    )


# --- audit ---------------------------------------------------------------------------------


async def add_audit_records(session: AsyncSession, *, records: Sequence[AuditRecordIn]) -> int:
    """Insert a batch of audit records in one transaction (Core executemany). Returns the count."""
    if not records:
        return 0
    names = _AUDIT_FIELDS
    rows = [{n: getattr(record, n) for n in names} for record in records]  # no deep copies
    async with _write(session):
        await session.execute(insert(_AUDIT), rows)
    return len(records)


async def rule_hits(session: AsyncSession) -> list[tuple[str, str, str, int]]:
    """How often each rule decided a request, from the audit log: (policy set, stage, rule,
    count), stage "authz" for the authorization rule that applied, "authn" for the
    authentication rule that rejected (no authorization rule)."""
    a = _AUDIT.c
    stmt = (
        select(a.policy_set, a.authentication_rule, a.authorization_rule, func.count())
        .where(a.policy_set.is_not(None))
        .group_by(a.policy_set, a.authentication_rule, a.authorization_rule)
    )
    out: dict[tuple[str, str, str], int] = {}
    for row in (await session.execute(stmt)).all():
        policy_set, authn, authz, n = str(row[0]), row[1], row[2], cast(int, row[3])
        key = (policy_set, "authz", str(authz)) if authz else (policy_set, "authn", str(authn))
        out[key] = out.get(key, 0) + int(n)
    return sorted((k[0], k[1], k[2], n) for k, n in out.items())


async def list_audit(
    session: AsyncSession,
    *,
    limit: int = 100,
    since_id: int | None = None,
    username: str | None = None,
    mac: str | None = None,
    result: str | None = None,
    nas_name: str | None = None,
    protocol: str | None = None,
    since: datetime | None = None,
) -> list[AuditLog]:
    """Audit rows in ascending id order.

    Without ``since_id``: the newest ``limit`` matching rows (for ``tail``). With it: the first
    ``limit`` matching rows with ``id > since_id`` (for ``--follow`` and paging forward).
    """
    stmt = select(AuditLog)
    if username is not None:
        stmt = stmt.where(col(AuditLog.username) == username)
    if mac is not None:
        stmt = stmt.where(col(AuditLog.mac) == normalize_mac(mac))
    if result is not None:
        stmt = stmt.where(col(AuditLog.result) == result)
    if nas_name is not None:
        stmt = stmt.where(col(AuditLog.nas_name) == nas_name)
    if protocol is not None:
        stmt = stmt.where(col(AuditLog.protocol) == protocol)
    if since is not None:
        stmt = stmt.where(col(AuditLog.ts) >= since)
    if since_id is not None:
        stmt = stmt.where(col(AuditLog.id) > since_id).order_by(col(AuditLog.id)).limit(limit)
        return list((await session.execute(stmt)).scalars())
    stmt = stmt.order_by(col(AuditLog.id).desc()).limit(limit)
    return list(reversed((await session.execute(stmt)).scalars().all()))


# The live log's streams (``page_audit(stream=...)``): TACACS+ rows carry their kind in
# ``method`` ("author": one command authorized, "acct": accounting, anything else an
# authentication); dynamic authorization (RFC 5176) rows have protocol "coa".
AUDIT_STREAMS: tuple[str, ...] = ("radius", "tacacs-authen", "tacacs-author", "tacacs-acct", "coa")
# Where the SSID sits in a RADIUS row's ``context`` JSON array: the time first, then
# nac.services.audit.CONTEXT_FIELDS in order (a test holds the two together).
AUDIT_CONTEXT_SSID = 10


def _stream_clause(stream: str) -> Any:
    a = _AUDIT.c
    tacacs_kinds = ("author", "acct")
    match stream:
        case "radius" | "coa":
            return a.protocol == stream
        case "tacacs-authen":
            return (a.protocol == "tacacs") & (a.method.is_(None) | a.method.not_in(tacacs_kinds))
        case "tacacs-author" | "tacacs-acct":
            return (a.protocol == "tacacs") & (a.method == stream.removeprefix("tacacs-"))
    raise ValueError(f"unknown stream {stream!r} (one of {', '.join(AUDIT_STREAMS)})")


def _ssid_clause(session: AsyncSession, ssid: str) -> Any:
    """RADIUS rows whose context holds this SSID (from Called-Station-Id): a cheap LIKE on
    the JSON text first, then the exact array element (JSON functions differ by backend)."""
    a = _AUDIT.c
    quoted = json.dumps(ssid).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if _dialect(session) == "postgresql":
        element = func.json_extract_path_text(
            a.context.cast(postgresql.JSON), str(AUDIT_CONTEXT_SSID)
        )
    else:
        element = func.json_extract(a.context, f"$[{AUDIT_CONTEXT_SSID}]")
    return (a.protocol == "radius") & a.context.like(f"%{quoted}%", escape="\\") & (element == ssid)


async def page_audit(
    session: AsyncSession,
    *,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
    username: str | None = None,
    mac: str | None = None,
    nas: str | None = None,
    result: str | None = None,
    reason_code: int | None = None,
    protocol: str | None = None,
    stream: str | None = None,
    ssid: str | None = None,
    policy_set: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditLog]:
    """A page of audit rows, newest first: at most ``limit`` matching rows with
    ``id < before`` (keyset paging on the primary key; the next page is ``before=`` the last
    id) and ``id > after`` (what is new since a row seen). ``nas`` matches the NAS name or
    its IP address; ``stream`` is one of ``AUDIT_STREAMS``; ``until`` is exclusive."""
    stmt = select(col(AuditLog.id))
    if username is not None:
        stmt = stmt.where(col(AuditLog.username) == username)
    if mac is not None:
        stmt = stmt.where(col(AuditLog.mac) == normalize_mac(mac))
    if nas is not None:
        stmt = stmt.where((col(AuditLog.nas_name) == nas) | (col(AuditLog.nas_ip) == nas))
    if result is not None:
        stmt = stmt.where(col(AuditLog.result) == result)
    if reason_code is not None:
        stmt = stmt.where(col(AuditLog.reason_code) == reason_code)
    if protocol is not None:
        stmt = stmt.where(col(AuditLog.protocol) == protocol)
    if stream is not None:
        stmt = stmt.where(_stream_clause(stream))
    if ssid is not None:
        stmt = stmt.where(_ssid_clause(session, ssid))
    if policy_set is not None:
        stmt = stmt.where(col(AuditLog.policy_set) == policy_set)
    if since is not None:
        stmt = stmt.where(col(AuditLog.ts) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditLog.ts) < until)
    if before is not None:
        stmt = stmt.where(col(AuditLog.id) < before)
    if after is not None:
        stmt = stmt.where(col(AuditLog.id) > after)
    limit = max(1, min(limit, AUDIT_PAGE_MAX))
    # The ids first, then their rows: a time range then sorts ids read from the ts index
    # alone (SQLite: 1 day of 1M rows in ~15 ms instead of ~180 ms sorting whole rows).
    ids = stmt.order_by(col(AuditLog.id).desc()).limit(limit)
    rows = select(AuditLog).where(col(AuditLog.id).in_(ids.scalar_subquery()))
    return list((await session.execute(rows.order_by(col(AuditLog.id).desc()))).scalars())


async def newest_audit_id(session: AsyncSession) -> int:
    """The largest audit id (0: none yet)."""
    return int((await session.execute(select(func.max(col(AuditLog.id))))).scalar_one() or 0)


async def get_audit(session: AsyncSession, *, id: int) -> AuditLog:
    row = await session.get(AuditLog, id)
    if row is None:
        raise NotFoundError(f"audit record {id} does not exist")
    return row


# --- accounting ----------------------------------------------------------------------------


@dataclass(slots=True)
class AccountingResult:
    """What one `apply_accounting` batch did."""

    started: int = 0
    updated: int = 0
    stopped: int = 0
    closed_by_nas: int = 0
    ignored: int = 0


_COUNTERS = ("session_time", "input_octets", "output_octets", "input_packets", "output_packets")
_DESCRIPTIVE = ("username", "mac", "calling_station_id", "nas_port_id", "framed_ip", "class_")


async def apply_accounting(
    session: AsyncSession, *, records: Sequence[AccountingRecordIn]
) -> AccountingResult:
    """Apply accounting records in order, in one transaction; idempotent and order-tolerant.

    - Start inserts a session if its ``unique_key`` is new; a re-sent Start is ignored.
    - Interim-Update refreshes counters and ``last_update`` of an active session (creating it if
      the Start was lost); it never reopens a stopped session nor goes back in time.
    - Stop closes the session with stop time, cause and final counters (creating it, stopped, if
      nothing was seen before); a re-sent Stop changes nothing.
    - Accounting-On / -Off close every active session of that NAS (matched on ``nas_ip`` and
      ``nas_name``, those last updated no later than the event) with cause NAS-Reboot /
      NAS-Request.
    """
    outcome = AccountingResult()
    if not records:
        return outcome
    insert_ignore = _insert_ignore_factory(_dialect(session))
    async with _write(session):
        for record in records:
            match record.status_type:
                case AcctStatus.START:
                    inserted = await _inserted(
                        session, insert_ignore(_session_row(record, status="active"))
                    )
                    if inserted:
                        outcome.started += 1
                    else:
                        outcome.ignored += 1
                case AcctStatus.INTERIM_UPDATE:
                    changed = await _rowcount(
                        session,
                        update(_ACCT)
                        .where(
                            _ACCT.c.unique_key == record.unique_key,
                            _ACCT.c.status == "active",
                            _ACCT.c.last_update <= record.event_time,
                        )
                        .values(last_update=record.event_time, **_changes(record)),
                    )
                    if not changed:
                        changed = await _inserted(
                            session, insert_ignore(_session_row(record, status="active"))
                        )
                    if changed:
                        outcome.updated += 1
                    else:
                        outcome.ignored += 1
                case AcctStatus.STOP:
                    changed = await _rowcount(
                        session,
                        update(_ACCT)
                        .where(_ACCT.c.unique_key == record.unique_key, _ACCT.c.status == "active")
                        .values(
                            status="stopped",
                            stop_time=record.event_time,
                            last_update=func.coalesce(record.event_time, _ACCT.c.last_update),
                            terminate_cause=record.terminate_cause,
                            **_changes(record),
                        ),
                    )
                    if not changed:
                        changed = await _inserted(
                            session, insert_ignore(_session_row(record, status="stopped"))
                        )
                    if changed:
                        outcome.stopped += 1
                    else:
                        outcome.ignored += 1
                case AcctStatus.ACCOUNTING_ON | AcctStatus.ACCOUNTING_OFF:
                    if record.nas_ip is None and record.nas_name is None:
                        outcome.ignored += 1
                        continue
                    cause = (
                        "NAS-Reboot"
                        if record.status_type == AcctStatus.ACCOUNTING_ON
                        else "NAS-Request"
                    )
                    stmt = update(_ACCT).where(
                        _ACCT.c.status == "active", _ACCT.c.last_update <= record.event_time
                    )
                    if record.nas_ip is not None:
                        stmt = stmt.where(_ACCT.c.nas_ip == record.nas_ip)
                    if record.nas_name is not None:
                        stmt = stmt.where(_ACCT.c.nas_name == record.nas_name)
                    outcome.closed_by_nas += await _rowcount(
                        session,
                        stmt.values(
                            status="stopped",
                            stop_time=record.event_time,
                            last_update=record.event_time,
                            terminate_cause=cause,
                        ),
                    )
                case _:
                    outcome.ignored += 1
    return outcome


def _insert_ignore_factory(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (unique_key) DO NOTHING RETURNING id``: a row back means
    inserted (rowcount is not reliable with RETURNING on every driver)."""
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return lambda row: (
        insert_fn(_ACCT)
        .values(row)
        .on_conflict_do_nothing(index_elements=["unique_key"])
        .returning(_ACCT.c.id)
    )


async def _inserted(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt)
    return 1 if result.first() is not None else 0


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt)
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


def _changes(record: AccountingRecordIn) -> dict[str, Any]:
    """Counters and descriptive fields the record carries (None means "not sent")."""
    values = {name: getattr(record, name) for name in _COUNTERS + _DESCRIPTIVE}
    return {name: value for name, value in values.items() if value is not None}


def _session_row(record: AccountingRecordIn, *, status: str) -> dict[str, Any]:
    start = record.event_time
    if record.status_type != AcctStatus.START and record.session_time:
        start = record.event_time - timedelta(seconds=record.session_time)
    row: dict[str, Any] = {
        "unique_key": record.unique_key,
        "acct_session_id": record.acct_session_id,
        "nas_name": record.nas_name,
        "nas_ip": record.nas_ip,
        "nas_port": record.nas_port,
        "status": status,
        "start_time": start,
        "last_update": record.event_time,
        "stop_time": record.event_time if status == "stopped" else None,
        "terminate_cause": record.terminate_cause if status == "stopped" else None,
        "username": None,
        "mac": None,
        "calling_station_id": None,
        "nas_port_id": None,
        "framed_ip": None,
        "class_": None,
        "session_time": 0,
        "input_octets": 0,
        "output_octets": 0,
        "input_packets": 0,
        "output_packets": 0,
    }
    row.update(_changes(record))
    return row


async def list_sessions(
    session: AsyncSession,
    *,
    status: str | None = None,
    username: str | None = None,
    mac: str | None = None,
    nas_name: str | None = None,
    limit: int = 100,
) -> list[AccountingSession]:
    """Accounting sessions, most recently updated first."""
    stmt = select(AccountingSession)
    if status is not None:
        stmt = stmt.where(col(AccountingSession.status) == status)
    if username is not None:
        stmt = stmt.where(col(AccountingSession.username) == username)
    if mac is not None:
        stmt = stmt.where(col(AccountingSession.mac) == normalize_mac(mac))
    if nas_name is not None:
        stmt = stmt.where(col(AccountingSession.nas_name) == nas_name)
    stmt = stmt.order_by(
        col(AccountingSession.last_update).desc(), col(AccountingSession.id).desc()
    ).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def get_accounting_session(session: AsyncSession, *, id: int) -> AccountingSession:
    row = await session.get(AccountingSession, id)
    if row is None:
        raise NotFoundError(f"session {id} does not exist")
    return row


async def record_coa(
    session: AsyncSession, *, audit: AuditRecordIn, mac: str | None, detail: dict[str, Any]
) -> None:
    """One dynamic authorization exchange (RFC 5176): its audit row and, for an endpoint, an
    EndpointEvent of kind "coa", in one transaction."""
    async with _write(session):
        await session.execute(insert(_AUDIT), [{n: getattr(audit, n) for n in _AUDIT_FIELDS}])
        if mac is not None:
            session.add(EndpointEvent(mac=normalize_mac(mac), kind="coa", detail=detail))
            await session.flush()


# --- the runtime snapshot ------------------------------------------------------------------


async def load_runtime_config(session: AsyncSession, *, box: SecretBox) -> RuntimeConfig:
    """Everything the servers need, decrypted, read in ONE transaction (one snapshot).

    PostgreSQL reads at REPEATABLE READ; SQLite reads inside one explicit BEGIN (see
    `nac.db.engine.configure_sqlite`). Without a stored policy, the default (reject everything)
    is returned with ``policy_version`` 0. Raises `SecretError` naming the row that does not
    decrypt.
    """
    if _dialect(session) == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        version = await get_config_version(session)
        policy_row = await get_policy(session)
        clients = []
        for c in (await session.execute(select(NasClient).order_by(col(NasClient.name)))).scalars():
            clients.append(
                RuntimeClient(
                    name=c.name,
                    addresses=tuple(c.addresses),
                    secret=_decrypt(box, c.secret_enc, PURPOSE_NAS_SECRET, f"client {c.name}"),
                    tacacs_key=(
                        _decrypt(box, c.tacacs_key_enc, PURPOSE_TACACS_KEY, f"client {c.name}")
                        if c.tacacs_key_enc is not None
                        else None
                    ),
                    tacacs_extra_keys=(
                        tuple(
                            json.loads(
                                _decrypt(
                                    box,
                                    c.tacacs_extra_keys_enc,
                                    PURPOSE_TACACS_KEY,
                                    f"client {c.name}",
                                )
                            )
                        )
                        if c.tacacs_extra_keys_enc is not None
                        else ()
                    ),
                    tacacs_unencrypted=c.tacacs_unencrypted,
                    enable_secret=_decrypt_optional(
                        box, c.enable_secret_enc, PURPOSE_ENABLE_SECRET, f"client {c.name}"
                    ),
                    vendor=c.vendor,
                    device_group=c.device_group,
                    location=c.location,
                    require_message_authenticator=c.require_message_authenticator,
                    limit_proxy_state=c.limit_proxy_state,
                    coa_port=c.coa_port,
                    disconnect_port=c.disconnect_port,
                    coa_mode=c.coa_mode,
                )
            )
        groups = await _groups_by_user(session)
        users = tuple(
            RuntimeUser(
                name=u.name,
                password=_decrypt(box, u.password_enc, PURPOSE_USER_PASSWORD, f"user {u.name}"),
                enabled=u.enabled,
                groups=tuple(groups.get(u.id or 0, ())),
                enable_secret=_decrypt_optional(
                    box, u.enable_secret_enc, PURPOSE_ENABLE_SECRET, f"user {u.name}"
                ),
            )
            for u in (await session.execute(select(User).order_by(col(User.name)))).scalars()
        )
        endpoints = tuple(runtime_endpoint(e) for e in await list_endpoints(session))
        endpoint_seq = await get_endpoint_seq(session)
        return RuntimeConfig(
            version=version,
            policy=policy_row.document if policy_row is not None else default_policy(),
            policy_version=policy_row.version if policy_row is not None else 0,
            clients=tuple(clients),
            users=users,
            endpoints=endpoints,
            endpoint_seq=endpoint_seq,
        )
    finally:
        await session.rollback()  # end the read transaction (expires the ORM rows read)


def _decrypt_optional(box: SecretBox, blob: bytes | None, purpose: str, what: str) -> str | None:
    return None if blob is None else _decrypt(box, blob, purpose, what)


def _decrypt(box: SecretBox, blob: bytes, purpose: str, what: str) -> str:
    try:
        return box.decrypt(blob, purpose=purpose)
    except SecretError as exc:
        raise SecretError(f"{what}: {exc}") from None


async def is_empty(session: AsyncSession) -> bool:
    """True when there are no clients, users, groups or endpoints, and no policy other than
    the untouched built-in default."""
    for model in (NasClient, User, Group, Endpoint):
        if await session.scalar(select(func.count()).select_from(model)):
            return False
    for row in await list_policy_versions(session, limit=1000):
        if row.author != DEFAULT_POLICY_AUTHOR or row.document != default_policy():
            return False
    return True


# --- console admins and API tokens ---------------------------------------------------------
# Runtime data for the console, not network configuration: no config version bump.


async def create_admin(session: AsyncSession, *, admin: AdminCreate) -> Admin:
    """Store a console admin with an argon2id hash of ``admin.password``."""
    async with _write(session):
        if await find_admin(session, name=admin.name) is not None:
            raise AlreadyExistsError(f"admin {admin.name!r} already exists")
        row = Admin(
            name=admin.name,
            role=admin.role,
            disabled=admin.disabled,
            password_hash=hash_password(admin.password),
        )
        session.add(row)
        await session.flush()
    return row


async def find_admin(session: AsyncSession, *, name: str) -> Admin | None:
    stmt = select(Admin).where(col(Admin.name) == name)
    return (await session.execute(stmt)).scalars().first()


async def get_admin(session: AsyncSession, *, name: str) -> Admin:
    row = await find_admin(session, name=name)
    if row is None:
        raise NotFoundError(f"admin {name!r} does not exist")
    return row


async def list_admins(session: AsyncSession) -> list[Admin]:
    return list((await session.execute(select(Admin).order_by(col(Admin.name)))).scalars())


async def count_admins(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Admin)) or 0)


async def update_admin(session: AsyncSession, *, name: str, update: AdminUpdate) -> Admin:
    async with _write(session):
        row = await get_admin(session, name=name)
        if update.password is not None:
            row.password_hash = hash_password(update.password)
        if update.role is not None:
            row.role = update.role
        if update.disabled is not None:
            row.disabled = update.disabled
        session.add(row)
    return row


async def record_admin_login(
    session: AsyncSession, *, admin_id: int, when: datetime, password_hash: str | None = None
) -> None:
    """Note a successful login (and store a rehashed password when the parameters moved).
    Ends the caller's read transaction first (`end_read`)."""
    await end_read(session)
    values: dict[str, Any] = {"last_login": when}
    if password_hash is not None:
        values["password_hash"] = password_hash
    async with _write(session):
        await session.execute(update(Admin).where(col(Admin.id) == admin_id).values(**values))


async def create_api_token(
    session: AsyncSession, *, admin_name: str, token: ApiTokenCreate
) -> tuple[ApiTokenPublic, str]:
    """A new bearer token for ``admin_name``; returns it in the clear (show it once) with its
    public form. The scope may not exceed the owner's role."""
    async with _write(session):
        owner = await get_admin(session, name=admin_name)
        if role_rank(token.role) > role_rank(owner.role):
            raise ValueError(f"a {owner.role} cannot create a token with role {token.role}")
        secret = new_token()
        row = ApiToken(
            name=token.name,
            role=token.role,
            admin_id=owner.id,  # type: ignore[arg-type]
            token_hash=token_digest(secret),
        )
        session.add(row)
        await session.flush()
    return _token_public(row, owner.name), secret


async def list_api_tokens(session: AsyncSession) -> list[ApiTokenPublic]:
    stmt = (
        select(ApiToken, Admin)
        .join(Admin, col(Admin.id) == col(ApiToken.admin_id))
        .order_by(col(ApiToken.id))
    )
    return [_token_public(t, a.name) for t, a in (await session.execute(stmt)).all()]


async def find_api_token(session: AsyncSession, *, token: str) -> tuple[ApiToken, Admin] | None:
    """The token row and its owner for a presented bearer token (revoked ones included)."""
    stmt = (
        select(ApiToken, Admin)
        .join(Admin, col(Admin.id) == col(ApiToken.admin_id))
        .where(col(ApiToken.token_hash) == token_digest(token))
    )
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0], found[1])


async def touch_api_token(session: AsyncSession, *, token_id: int, when: datetime) -> None:
    async with _write(session):
        await session.execute(
            update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used=when)
        )


async def revoke_api_token(session: AsyncSession, *, token_id: int) -> ApiTokenPublic:
    async with _write(session):
        row = await session.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"API token {token_id} does not exist")
        row.revoked = True
        session.add(row)
        owner = await session.get(Admin, row.admin_id)
    return _token_public(row, owner.name if owner else "?")


def _token_public(row: ApiToken, owner: str) -> ApiTokenPublic:
    return ApiTokenPublic(
        id=row.id,  # type: ignore[arg-type]
        name=row.name,
        role=row.role,
        admin=owner,
        created_at=row.created_at,
        last_used=row.last_used,
        revoked=row.revoked,
    )


# --- the admin change log -------------------------------------------------------------------


async def record_admin_change(
    session: AsyncSession,
    *,
    admin: str,
    action: str,
    object_type: str,
    object_key: str,
    before: Any = None,
    after: Any = None,
    comment: str = "",
    commit: bool = True,
) -> AdminChange:
    """Log one change by ``admin`` (``before``/``after``: JSON-able, secrets already masked).

    With ``commit=False`` the row joins the caller's open transaction, so the change and its
    log entry commit together; otherwise it is written on its own."""
    row = AdminChange(
        admin=admin,
        action=action,
        object_type=object_type,
        object_key=object_key,
        before=before,
        after=after,
        comment=comment,
    )
    if not commit:
        session.add(row)
        return row
    async with _write(session):
        session.add(row)
        await session.flush()
    return row


async def list_admin_changes(
    session: AsyncSession,
    *,
    admin: str | None = None,
    object_type: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AdminChange]:
    """Newest first; ``before_id`` pages back (keyset)."""
    stmt = select(AdminChange).order_by(col(AdminChange.id).desc()).limit(limit)
    if admin is not None:
        stmt = stmt.where(col(AdminChange.admin) == admin)
    if object_type is not None:
        stmt = stmt.where(col(AdminChange.object_type) == object_type)
    if before_id is not None:
        stmt = stmt.where(col(AdminChange.id) < before_id)
    return list((await session.execute(stmt)).scalars())
