"""Posture reports in, endpoint posture state out: enrollment tokens, evaluation, history.

``nac posture enroll MAC`` (or the admin API) makes a per-endpoint token; nac-agent posts a
report with it (``Authorization: Bearer nacp_...``). `accept_report` checks the token,
validates the report (`posture.report.parse_report`), evaluates it against the running
policy's ``posture`` section (`posture.evaluate.evaluate`, smoothed against the endpoint's
previous score) and, in ONE transaction, stores a PostureReport row (the history), sets the
endpoint's posture_* fields (stamping the endpoint sequence, so running workers apply it
within ~100 ms) and records a "posture_change" EndpointEvent when the state moved. The
caller then asks the dynamic authorizer (RFC 5176) to re-authorize the endpoint's sessions.
A report is the hot path of every agent: a few prebuilt Core statements in that one
transaction (the sequence, the token joined with its endpoint, the report, the endpoint, the
event), the token's last_used stamped at most once a minute.

Only the SHA-256 of a token is stored. Tokens are not admin API tokens: a posture token opens
only the report route, and an admin token is refused there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from nac.core.errors import NacError, NotFoundError
from nac.db import crud
from nac.db.defaults import default_policy
from nac.db.models import Endpoint, PostureReport, PostureToken, normalize_mac
from nac.services.snapshot import SnapshotStore
from policy.compile import compile_policy
from posture.evaluate import evaluate
from posture.model import FailedCheck, PostureError, PostureRequirements, PostureState
from posture.report import PostureReport as PostureReportIn
from posture.report import parse_report

__all__ = [
    "TOKEN_PREFIX",
    "AcceptedReport",
    "PostureAuthError",
    "accept_report",
    "current_requirements",
    "enroll",
    "history",
    "list_tokens",
    "new_posture_token",
    "revoke_tokens",
]

TOKEN_PREFIX: Final = "nacp_"  # noqa: S105 - a prefix, not a secret
# Reserved keys of PostureReport.facts (fact keys never start with "_"): the report's unknown
# top-level fields, its collected_at, and the evaluation's words.
EXTRA_KEY: Final = "_extra"
COLLECTED_KEY: Final = "_collected_at"
RESULT_KEY: Final = "_result"
_DUMMY_DIGEST: Final = hashlib.sha256(b"no such posture token").hexdigest()


class PostureAuthError(NacError):
    """A report that is not allowed: ``status`` 401 (no or bad token) or 403 (another MAC)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def new_posture_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- tokens --------------------------------------------------------------------------------


async def enroll(
    session: AsyncSession, *, mac: str, admin: str | None = None
) -> tuple[PostureToken, str]:
    """A new token for ``mac`` (the endpoint is recorded if new: its posture grace period
    starts now). Returns the row and the token, which is shown only this once. ``admin``:
    who asked, for the admin change log (in the same transaction)."""
    mac = normalize_mac(mac)
    token = new_posture_token()
    row = PostureToken(mac=mac, token_hash=_digest(token))
    await crud.end_read(session)
    session.add(row)
    if admin is not None:
        await crud.record_admin_change(
            session,
            admin=admin,
            action="create",
            object_type="posture_token",
            object_key=mac,
            after={"mac": mac, "token": "***"},
            commit=False,
        )
    # set_endpoint_state commits the token with the endpoint (one transaction).
    await crud.set_endpoint_state(session, mac=mac, create=True, events=[("posture_enrolled", {})])
    return row, token


async def list_tokens(session: AsyncSession, *, mac: str | None = None) -> list[PostureToken]:
    stmt = select(PostureToken).order_by(col(PostureToken.id))
    if mac is not None:
        stmt = stmt.where(col(PostureToken.mac) == normalize_mac(mac))
    return list((await session.execute(stmt)).scalars())


async def revoke_tokens(
    session: AsyncSession,
    *,
    mac: str | None = None,
    token_id: int | None = None,
    admin: str | None = None,
) -> int:
    """Revoke every token of ``mac``, or the token ``token_id``; how many were revoked
    (NotFoundError when nothing matched)."""
    stmt = update(PostureToken).where(col(PostureToken.revoked).is_(False))
    if token_id is not None:
        stmt = stmt.where(col(PostureToken.id) == token_id)
    if mac is not None:
        mac = normalize_mac(mac)
        stmt = stmt.where(col(PostureToken.mac) == mac)
    await crud.end_read(session)
    try:
        result: Any = await session.execute(stmt.values(revoked=True))
        count = int(result.rowcount or 0)
        if count and admin is not None:
            await crud.record_admin_change(
                session,
                admin=admin,
                action="revoke",
                object_type="posture_token",
                object_key=mac or f"token {token_id}",
                before={"revoked": False},
                after={"revoked": True, "count": count},
                commit=False,
            )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    if count == 0:
        what = f"token {token_id}" if token_id is not None else f"MAC {mac}"
        raise NotFoundError(f"no active posture token for {what}")
    return count


_TOKENS = PostureToken.__table__  # type: ignore[attr-defined]
_ENDPOINTS = Endpoint.__table__  # type: ignore[attr-defined]
_REPORTS = PostureReport.__table__  # type: ignore[attr-defined]
# A token's last_used is stamped at most this often (one write fewer per report).
TOUCH_EVERY: Final = timedelta(minutes=1)
# The hot path's statements, built once (SQLAlchemy then caches their compiled form by a key
# it need not compute again per report).
_TOUCH_TOKEN: Final = (
    update(_TOKENS).where(_TOKENS.c.id == bindparam("b_id")).values(last_used=bindparam("b_now"))
)
_ENDPOINT_POSTURE: Final = select(
    _ENDPOINTS.c.posture_state, _ENDPOINTS.c.posture_score, _ENDPOINTS.c.posture_at
).where(_ENDPOINTS.c.mac == bindparam("b_mac"))
_INSERT_REPORT: Final = insert(_REPORTS)
# A report's token with its endpoint's posture (NULLs when the endpoint row is missing).
# A read before the write transaction: an unknown or revoked token is refused without ever
# taking the database's write lock (an unauthenticated flood must not queue the writers).
_TOKEN_VALID: Final = select(_TOKENS.c.revoked).where(_TOKENS.c.token_hash == bindparam("b_digest"))
_TOKEN_AND_ENDPOINT: Final = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.mac,
        _TOKENS.c.token_hash,
        _TOKENS.c.revoked,
        _TOKENS.c.last_used,
        _ENDPOINTS.c.posture_state,
        _ENDPOINTS.c.posture_score,
        _ENDPOINTS.c.posture_at,
    )
    .select_from(_TOKENS.outerjoin(_ENDPOINTS, _ENDPOINTS.c.mac == _TOKENS.c.mac))
    .where(_TOKENS.c.token_hash == bindparam("b_digest"))
)


# --- the posture policy --------------------------------------------------------------------


async def current_requirements(
    session: AsyncSession, store: SnapshotStore | None
) -> tuple[PostureRequirements, int]:
    """The running policy's posture section and its policy version: the snapshot's when a
    store runs, else compiled from the stored current policy."""
    if store is not None and store.current is not None:
        return store.current.policy.posture, store.current.policy_version
    row = await crud.get_policy(session)
    document = row.document if row is not None else default_policy()
    return compile_policy(document).posture, row.version if row is not None else 0


# --- reports -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptedReport:
    id: int
    mac: str
    state: PostureState
    score: int
    previous_state: str
    failed: tuple[FailedCheck, ...]
    unknown: tuple[FailedCheck, ...]
    at: datetime
    source: str = "token"  # or "certificate"

    @property
    def changed(self) -> bool:
        return self.state.value != self.previous_state

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mac": self.mac,
            "state": self.state.value,
            "previous_state": self.previous_state,
            "changed": self.changed,
            "score": self.score,
            "failed": [_failed(f) for f in self.failed],
            "unknown": [_failed(u) for u in self.unknown],
            "at": self.at.isoformat(),
            "source": self.source,
        }


def _failed(f: FailedCheck) -> dict[str, Any]:
    return {"id": f.id, "fact": f.fact, "weight": f.weight, "words": f.words}


async def accept_report(
    session: AsyncSession,
    *,
    token: str | None = None,
    certificate_mac: str | None = None,
    data: Callable[[], object],
    requirements: PostureRequirements,
    now: datetime,
    policy_version: int = 0,
) -> AcceptedReport:
    """Authenticate (the presented enrollment ``token``, or the MAC of the verified client
    certificate: ``certificate_mac``), validate, authorize, evaluate and store one report,
    in ONE transaction; the row's ``source`` is "token" or "certificate". ``data()`` gives
    the report's JSON; what it raises (a body too large, not JSON) is raised once the sender
    is authenticated, not before. Raises PostureAuthError (401: no, bad or revoked token;
    403: another MAC's report) or PostureError (422, naming the field)."""
    if token is None and certificate_mac is None:
        raise PostureAuthError(401, "a posture enrollment token or client certificate is needed")
    digest = None  # a certificate's report
    if token is not None:
        digest = _digest(token) if token.startswith(TOKEN_PREFIX) else _DUMMY_DIGEST
    report: PostureReportIn | None = None
    refused: BaseException | None = None
    try:  # pure work before the transaction; its errors wait until the sender is known
        report = parse_report(data())
    except Exception as exc:  # re-raised below, after authentication
        refused = exc
    if digest is not None:
        conn = await session.connection()
        known = (await conn.execute(_TOKEN_VALID, {"b_digest": digest})).first()
        if known is None or known.revoked:  # checked again, under the lock, below
            await crud.end_read(session)
            raise PostureAuthError(
                401,
                "posture token revoked"
                if known is not None
                else "invalid posture token (enroll with 'nac posture enroll MAC')",
            )
    await crud.end_read(session)  # SQLite: the transaction below must start with its write
    async with crud.write_gate(session):
        try:
            return await _store_report(
                session,
                digest,
                certificate_mac,
                report,
                refused,
                requirements,
                now,
                policy_version,
            )
        except BaseException:
            await session.rollback()
            raise


async def _store_report(
    session: AsyncSession,
    digest: str | None,
    certificate_mac: str | None,
    report: PostureReportIn | None,
    refused: BaseException | None,
    requirements: PostureRequirements,
    now: datetime,
    policy_version: int,
) -> AcceptedReport:
    """One transaction of Core statements: the endpoint sequence, the token with its
    endpoint's posture (or the endpoint's), [the token's last_used], the report row, the
    endpoint, [the event]; the caller rolls back on any error."""
    # The first statement is a write: on SQLite it takes the write lock (a transaction that
    # began with a read could not write once another process committed); on PostgreSQL the
    # sequence row's lock puts reports one after the other, so two reports of one endpoint
    # are evaluated in turn (each sees the other's score).
    seq = await crud.next_endpoint_seq(session)
    conn = await session.connection()
    row: Any = None  # the token with its endpoint's posture, or the endpoint's posture
    if digest is not None:
        row = (await conn.execute(_TOKEN_AND_ENDPOINT, {"b_digest": digest})).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise PostureAuthError(
                401, "invalid posture token (enroll with 'nac posture enroll MAC')"
            )
        if row.revoked:
            raise PostureAuthError(401, "posture token revoked")
        owner, source = str(row.mac), "token"
    else:
        assert certificate_mac is not None
        owner, source = normalize_mac(certificate_mac), "certificate"
    if refused is not None:
        raise refused
    assert report is not None
    mac = owner
    if report.mac is not None:
        try:
            mac = normalize_mac(report.mac)
        except ValueError:
            raise PostureError("mac", f"not a MAC address: {report.mac!r}") from None
        if mac != owner:
            raise PostureAuthError(403, f"this {source} was issued for {owner}, not for {mac}")
    if digest is not None:
        if row.last_used is None or now - row.last_used >= TOUCH_EVERY:
            await conn.execute(_TOUCH_TOKEN, {"b_id": row.id, "b_now": now})
    else:
        row = (await conn.execute(_ENDPOINT_POSTURE, {"b_mac": mac})).first()
    known = row is not None and row.posture_state is not None  # the endpoint's row exists
    previous_state = row.posture_state if known else PostureState.UNKNOWN.value
    previous_score = row.posture_score if known and row.posture_at else None
    result = evaluate(report.facts, requirements, now, previous_score)
    stored: dict[str, Any] = dict(report.facts)
    if report.extra:
        stored[EXTRA_KEY] = dict(report.extra)
    if report.collected_at is not None:
        stored[COLLECTED_KEY] = report.collected_at.isoformat()
    stored[RESULT_KEY] = {
        "failed": [_failed(f) for f in result.failed],
        "unknown": [_failed(u) for u in result.unknown],
        "raw_score": result.raw_score,
    }
    inserted = await conn.execute(
        _INSERT_REPORT,
        {
            "ts": now,
            "mac": mac,
            "source": source,
            "facts": stored,
            "state": result.state.value,
            "score": result.score,
            "failed": list(result.failed_ids),
            "policy": str(policy_version),
        },
    )
    key = inserted.inserted_primary_key  # SQLite: lastrowid; PostgreSQL: RETURNING
    assert key is not None
    report_id = int(key[0])
    events: list[tuple[str, dict[str, Any]]] = []
    if result.state.value != previous_state:
        detail = {
            "from": previous_state,
            "to": result.state.value,
            "score": result.score,
            "failed": [f.words for f in result.failed],
        }
        events.append(("posture_change", detail))
    # posture_at moves with every report (policy conditions on the report's age read it):
    # the endpoint is stamped with the sequence every time, the event only on a change.
    await crud.put_endpoint_state(
        session,
        mac=mac,
        seq=seq,
        now=now,
        events=events,
        posture_state=result.state.value,
        posture_score=result.score,
        posture_failed=list(result.failed_ids),
        posture_at=now,
    )
    await session.commit()  # the report, the token, the endpoint and the event together
    return AcceptedReport(
        id=report_id,
        mac=mac,
        state=result.state,
        score=result.score,
        previous_state=previous_state,
        failed=result.failed,
        unknown=result.unknown,
        at=now,
        source=source,
    )


def report_public(row: PostureReport) -> dict[str, Any]:
    """A stored report as the history shows it: facts, kept unknown fields, the result."""
    facts = dict(row.facts or {})
    extra = facts.pop(EXTRA_KEY, {})
    collected = facts.pop(COLLECTED_KEY, None)
    result = facts.pop(RESULT_KEY, {})
    return {
        "id": row.id,
        "ts": row.ts.isoformat(),
        "mac": row.mac,
        "source": row.source,
        "state": row.state,
        "score": row.score,
        "failed": list(row.failed or ()),
        "failed_checks": result.get("failed", []),
        "unknown_checks": result.get("unknown", []),
        "facts": facts,
        "extra": extra,
        "collected_at": collected,
        "policy_version": row.policy,
    }


async def history(session: AsyncSession, *, mac: str, limit: int = 50) -> Sequence[PostureReport]:
    """The endpoint's reports, newest first."""
    stmt = (
        select(PostureReport)
        .where(col(PostureReport.mac) == normalize_mac(mac))
        .order_by(col(PostureReport.id).desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
