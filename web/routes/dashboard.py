"""The dashboard: decisions per minute by protocol and result, the top reject reasons,
active sessions, NAS health; as a page (small SVG charts redrawn by a few lines of JS from
``GET /api/v1/dashboard`` every few seconds) and as that API. Also the console's static
scripts (public: they hold no data)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from nac.db import dashboard as stats
from nac.db.types import utcnow
from policy.model import REASON_WORDS, ReasonCode
from web.audit import AuditQuery
from web.deps import ConsoleDep, CurrentAuditor, SessionDep, page
from web.routes.api import _BEARER, ERRORS

Window = Literal["15m", "1h", "6h", "24h"]
WINDOWS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
}
MINUTES = 60  # the per-minute chart: the last hour, the current minute last
QUIET_AFTER = timedelta(minutes=15)  # a NAS heard from less recently is shown as quiet
STATIC = FilePath(__file__).resolve().parent.parent / "static"
_STATIC_NAME = re.compile(r"[a-z][a-z_]{0,40}\.js")

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])


class RateSeries(BaseModel):
    """Decisions per minute of one protocol and result, oldest minute first."""

    protocol: str
    result: str
    counts: list[int]


class RejectReason(BaseModel):
    reason_code: int
    words: str  # what the code means
    example: str  # one reason as logged (it may name the rule or the user)
    count: int
    log_url: str  # the live log of these rejects in the window


class NasHealth(BaseModel):
    """One NAS: a configured client, or a name decisions were logged under (known False)."""

    name: str | None
    known: bool
    addresses: list[str]
    vendor: str | None
    last_seen: datetime | None  # the last request the server had from it
    requests: int  # decisions in the window
    rejects: int
    last_request: datetime | None  # the last decision logged in the window
    state: Literal["ok", "quiet", "never"]  # quiet: nothing for 15 minutes


class Dashboard(BaseModel):
    now: datetime
    window: str
    window_start: datetime
    minutes: list[datetime]  # the start of each minute of ``rates``, oldest first
    rates: list[RateSeries]
    requests: int  # decisions in the window
    rejects: int
    top_rejects: list[RejectReason]
    active_sessions: int  # accounting sessions started and not stopped
    nas: list[NasHealth]


def _words(code: int) -> str:
    try:
        return REASON_WORDS.get(ReasonCode(code), ReasonCode(code).name.lower())
    except ValueError:
        return f"reason {code}"


async def build_dashboard(session: AsyncSession, *, window: str, now: datetime) -> Dashboard:
    """What the dashboard shows at ``now``: the per-minute chart covers the last 60 minutes,
    the reject reasons and the NAS traffic the ``window`` (one of ``WINDOWS``)."""
    span = WINDOWS[window]
    this_minute = now.replace(second=0, microsecond=0)
    first_minute = this_minute - timedelta(minutes=MINUTES - 1)
    until = now + timedelta(seconds=1)  # rows stamped a moment ahead (another node's clock)
    minutes = [first_minute + timedelta(minutes=i) for i in range(MINUTES)]
    index = {m: i for i, m in enumerate(minutes)}
    series: dict[tuple[str, str], list[int]] = {}
    for cell in await stats.decisions_per_minute(session, since=first_minute, until=until):
        slot = index.get(cell.minute)
        if slot is not None:
            counts = series.setdefault((cell.protocol, cell.result), [0] * MINUTES)
            counts[slot] += cell.count
    start = now - span
    rejects = []
    for reason in await stats.top_reject_reasons(session, since=start, until=until):
        query = AuditQuery(result="reject", reason_code=reason.reason_code, since=start)
        rejects.append(
            RejectReason(
                reason_code=reason.reason_code,
                words=_words(reason.reason_code),
                example=reason.example,
                count=reason.count,
                log_url=query.url(),
            )
        )
    traffic = {t.nas_name: t for t in await stats.nas_traffic(session, since=start, until=until)}
    nas = []
    for client in await stats.nas_clients_seen(session):
        seen = traffic.pop(client.name, None)
        nas.append(
            _health(client.name, True, client.addresses, client.vendor, client.last_seen, seen, now)
        )
    for name, seen in sorted(traffic.items(), key=lambda kv: kv[0] or ""):
        nas.append(_health(name, False, [], None, None, seen, now))
    return Dashboard(
        now=now,
        window=window,
        window_start=start,
        minutes=minutes,
        rates=[RateSeries(protocol=p, result=r, counts=c) for (p, r), c in sorted(series.items())],
        requests=sum(n.requests for n in nas),
        rejects=sum(n.rejects for n in nas),
        top_rejects=rejects,
        active_sessions=await stats.count_active_sessions(session),
        nas=nas,
    )


def _health(
    name: str | None,
    known: bool,
    addresses: list[str],
    vendor: str | None,
    last_seen: datetime | None,
    traffic: stats.NasTraffic | None,
    now: datetime,
) -> NasHealth:
    last_request = traffic.last_request if traffic is not None else None
    latest = max((t for t in (last_seen, last_request) if t is not None), default=None)
    if latest is None:
        state: Literal["ok", "quiet", "never"] = "never"
    else:
        state = "ok" if now - latest <= QUIET_AFTER else "quiet"
    return NasHealth(
        name=name,
        known=known,
        addresses=addresses,
        vendor=vendor,
        last_seen=last_seen,
        requests=traffic.requests if traffic is not None else 0,
        rejects=traffic.rejects if traffic is not None else 0,
        last_request=last_request,
        state=state,
    )


WindowQuery = Annotated[
    Window, Query(description="The window of the reject reasons and NAS traffic")
]


@api.get("/dashboard", tags=["dashboard"])
async def dashboard_api(
    _: CurrentAuditor, session: SessionDep, window: WindowQuery = "1h"
) -> Dashboard:
    """Decisions per minute over the last 60 minutes by protocol and result; in the window:
    the top reject reasons (code, words, count) and each NAS's traffic and last request;
    the number of active accounting sessions."""
    return await build_dashboard(session, window=window, now=utcnow())


@pages.get("/dashboard")
async def dashboard_page(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    window: WindowQuery = "1h",
) -> Response:
    """The landing page: the dashboard, drawn from the same data as the API."""
    data = await build_dashboard(session, window=window, now=utcnow())
    response: Response = page(
        console,
        request,
        "dashboard.html",
        {"data": data, "windows": list(WINDOWS), "json": data.model_dump_json()},
    )
    return response


@pages.get("/static/{name}")
async def static_file(name: Annotated[str, Path(max_length=48)]) -> Response:
    """A script of the console pages (web/static; no data, so no login)."""
    path = STATIC / name
    if not _STATIC_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return Response(
        path.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


__all__ = ["WINDOWS", "Dashboard", "api", "build_dashboard", "pages"]
