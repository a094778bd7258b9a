"""Keyword-only async queries behind the console's dashboard: decisions per minute, the top
reject reasons, traffic per NAS, active sessions.

Every audit query is bounded by a time window on ``audit_log.ts`` (indexed), so its cost
follows the rows in the window, not the size of the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from nac.db.models import AccountingSession, AuditLog, NasClient

_AUDIT = AuditLog.__table__  # type: ignore[attr-defined]
_ACCT = AccountingSession.__table__  # type: ignore[attr-defined]
_CLIENTS = NasClient.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MinuteCount:
    minute: datetime  # the minute's start, UTC
    protocol: str
    result: str
    count: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason_code: int
    example: str  # one of the stored reasons (the words may name a user or a rule)
    count: int


@dataclass(frozen=True, slots=True)
class NasTraffic:
    nas_name: str | None
    requests: int
    rejects: int
    last_request: datetime


@dataclass(frozen=True, slots=True)
class NasSeen:
    name: str
    addresses: list[str]
    vendor: str
    last_seen: datetime | None


def _utc(value: object) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _window(since: datetime, until: datetime) -> Any:
    ts = _AUDIT.c.ts
    return (ts >= since) & (ts < until)


async def decisions_per_minute(
    session: AsyncSession, *, since: datetime, until: datetime
) -> list[MinuteCount]:
    """How many decisions each minute in ``[since, until)`` had, per protocol and result
    (minutes without any are absent)."""
    a = _AUDIT.c
    if session.get_bind().dialect.name == "postgresql":
        minute = func.date_trunc("minute", a.ts.op("AT TIME ZONE")(literal_column("'UTC'")))
    else:  # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC): the first 16 characters
        minute = func.substr(a.ts, 1, 16)
    stmt = (
        select(minute.label("minute"), a.protocol, a.result, func.count())
        .where(_window(since, until))
        .group_by(minute, a.protocol, a.result)
    )
    rows: Any = (await session.execute(stmt)).all()
    return [
        MinuteCount(_utc(m if isinstance(m, datetime) else f"{m}:00"), p, r, int(n))
        for m, p, r, n in rows
    ]


async def top_reject_reasons(
    session: AsyncSession, *, since: datetime, until: datetime, limit: int = 10
) -> list[ReasonCount]:
    """The reason codes of rejects in ``[since, until)``, most frequent first."""
    a = _AUDIT.c
    n = func.count().label("n")
    # SQLite: "+result" keeps the planner on the ts index (the result index would visit
    # every reject ever logged); PostgreSQL plans from statistics.
    is_reject = (
        a.result == "reject"
        if session.get_bind().dialect.name == "postgresql"
        else literal_column("+result") == "reject"
    )
    stmt = (
        select(a.reason_code, func.max(a.reason), n)
        .where(_window(since, until) & is_reject)
        .group_by(a.reason_code)
        .order_by(n.desc(), a.reason_code)
        .limit(limit)
    )
    rows: Any = await session.execute(stmt)
    return [ReasonCount(int(c), str(r or ""), int(k)) for c, r, k in rows]


async def nas_traffic(
    session: AsyncSession, *, since: datetime, until: datetime
) -> list[NasTraffic]:
    """Decisions and rejects per NAS (by the name the server knew it as) in the window."""
    a = _AUDIT.c
    rejects = func.sum(case((a.result == "reject", 1), else_=0).cast(Integer))
    stmt = (
        select(a.nas_name, func.count(), rejects, func.max(a.ts))
        .where(_window(since, until))
        .group_by(a.nas_name)
    )
    rows: Any = await session.execute(stmt)
    return [NasTraffic(name, int(n), int(r or 0), _utc(last)) for name, n, r, last in rows]


async def nas_clients_seen(session: AsyncSession) -> list[NasSeen]:
    """Every NAS client with the last time a request came from it (None: never)."""
    c = _CLIENTS.c
    stmt = select(c.name, c.addresses, c.vendor, c.last_seen).order_by(c.name)
    out = []
    rows: Any = await session.execute(stmt)
    for name, addresses, vendor, last_seen in rows:
        seen = _utc(last_seen) if last_seen is not None else None
        out.append(NasSeen(str(name), list(addresses or []), str(vendor), seen))
    return out


async def count_active_sessions(session: AsyncSession) -> int:
    """Accounting sessions started and not stopped (``status`` active, indexed)."""
    stmt = select(func.count()).select_from(_ACCT).where(_ACCT.c.status == "active")
    return int((await session.execute(stmt)).scalar_one())
