"""Posture reports in, endpoint posture state out: enrollment tokens, evaluation, history.

``nac posture enroll MAC`` (or the admin API) makes a per-endpoint token; nac-agent posts a
report with it (``Authorization: Bearer nacp_...``). `accept_report` validates the report
(`posture.report.parse_report`), evaluates it against the running policy's ``posture`` section
(`posture.evaluate.evaluate`, smoothed against the endpoint's previous score) and, in ONE
transaction, stores a PostureReport row (the history), sets the endpoint's posture_* fields
(stamping the endpoint sequence, so running workers apply it within ~100 ms) and records a
"posture_change" EndpointEvent when the state moved. The caller then asks the dynamic
authorizer (RFC 5176) to re-authorize the endpoint's sessions.

Only the SHA-256 of a token is stored. Tokens are not admin API tokens: a posture token opens
only the report route, and an admin token is refused there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update
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
    "authenticate_token",
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


async def authenticate_token(session: AsyncSession, *, token: str) -> PostureToken:
    """The active token row for a presented token, or PostureAuthError 401."""
    digest = _digest(token) if token.startswith(TOKEN_PREFIX) else _DUMMY_DIGEST
    row = (
        await session.execute(select(PostureToken).where(col(PostureToken.token_hash) == digest))
    ).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise PostureAuthError(401, "invalid posture token (enroll with 'nac posture enroll MAC')")
    if row.revoked:
        raise PostureAuthError(401, "posture token revoked")
    return row


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
    token: PostureToken | None = None,
    certificate_mac: str | None = None,
    data: object,
    requirements: PostureRequirements,
    now: datetime,
    policy_version: int = 0,
) -> AcceptedReport:
    """Validate, authorize (the MAC of the token, or of the verified client certificate:
    ``certificate_mac``), evaluate and store one report in one transaction; the row's
    ``source`` is "token" or "certificate". Raises PostureError (422, naming the field) or
    PostureAuthError (403)."""
    report = parse_report(data)  # PostureError: nothing read or written yet
    if token is not None:
        owner, token_id, source = token.mac, token.id, "token"
    elif certificate_mac is not None:
        owner, token_id, source = normalize_mac(certificate_mac), None, "certificate"
    else:
        raise PostureAuthError(401, "a posture enrollment token or client certificate is needed")
    mac = owner
    if report.mac is not None:
        try:
            mac = normalize_mac(report.mac)
        except ValueError:
            raise PostureError("mac", f"not a MAC address: {report.mac!r}") from None
        if mac != owner:
            raise PostureAuthError(403, f"this {source} was issued for {owner}, not for {mac}")
    await crud.end_read(session)  # SQLite: the transaction below must start with its write
    async with crud.write_gate(session):
        return await _store_report(
            session, token_id, mac, report, requirements, now, policy_version, source
        )


async def _store_report(
    session: AsyncSession,
    token_id: int | None,
    mac: str,
    report: PostureReportIn,
    requirements: PostureRequirements,
    now: datetime,
    policy_version: int,
    source: str,
) -> AcceptedReport:
    try:
        # The first statement takes the write lock (SQLite) / the token's row lock
        # (PostgreSQL): two reports of one endpoint are evaluated one after the other.
        # A certificate has no token row: the endpoint's row lock (PostgreSQL) stands in.
        endpoint = select(Endpoint).where(col(Endpoint.mac) == mac)
        if token_id is not None:
            await session.execute(
                update(PostureToken).where(col(PostureToken.id) == token_id).values(last_used=now)
            )
        else:
            endpoint = endpoint.with_for_update()
        row = (await session.execute(endpoint)).scalar_one_or_none()
        previous_state = row.posture_state if row is not None else PostureState.UNKNOWN.value
        previous_score = row.posture_score if row is not None and row.posture_at else None
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
        entry = PostureReport(
            ts=now,
            mac=mac,
            source=source,
            facts=stored,
            state=result.state.value,
            score=result.score,
            failed=list(result.failed_ids),
            policy=str(policy_version),
        )
        session.add(entry)
        events: list[tuple[str, dict[str, Any]]] = []
        if result.state.value != previous_state:
            detail = {
                "from": previous_state,
                "to": result.state.value,
                "score": result.score,
                "failed": [f.words for f in result.failed],
            }
            events.append(("posture_change", detail))
        # Commits the report, the token's last_used, the endpoint and the event together.
        await crud.set_endpoint_state(
            session,
            mac=mac,
            create=True,
            events=events,
            loaded=row,
            posture_state=result.state.value,
            posture_score=result.score,
            posture_failed=list(result.failed_ids),
            posture_at=now,
        )
    except BaseException:
        await session.rollback()
        raise
    assert entry.id is not None
    return AcceptedReport(
        id=entry.id,
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
