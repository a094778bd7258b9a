"""One endpoint and one network user in full, as pages and REST twins.

``/endpoints/{mac}``: identity (registered, blocked, OUI vendor, randomized MAC), profiling
(hostname, DHCP fingerprint and vendor class, profile with confidence and source, signals),
posture (state, score, failed checks and the report history), live and recent accounting
sessions, the endpoint's events (profile changes, possible MAC spoofing highlighted, posture
changes, CoA results) and its recent decisions. Operators block, unblock and re-authenticate
its live sessions (RFC 5176). ``/users/{name}``: groups, enabled, sessions, recent decisions.
Auditors read. An unknown MAC or user is a 404.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.errors import NotFoundError
from nac.db import crud
from nac.db.models import (
    AccountingSession,
    AuditLog,
    Endpoint,
    EndpointEvent,
    EndpointUpdate,
    normalize_mac,
)
from nac.services import changes, posture_service
from web.deps import ConsoleDep, CurrentAuditor, CurrentOperator, SessionDep, page
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
Mac = Annotated[str, Path(max_length=32)]
Name = Annotated[str, Path(max_length=128)]
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem}}
DECISIONS = 25  # recent decisions shown
SESSIONS = 25  # accounting sessions shown (live ones first)
EVENTS = 100  # endpoint events shown
REPORTS = 20  # posture reports shown
# Events shown as warnings: a profile class change on a known MAC, a CoA that did not work.
ALARMING = frozenset({"possible_spoofing"})
NOTICES = {  # ?done= after an action
    "blocked": "Blocked: its live sessions are being disconnected (RFC 5176).",
    "unblocked": "Unblocked: its next request is decided by the policy again.",
    "reauthenticate": "Re-authentication asked of the NAS of each live session (see Events).",
}


# --- the shapes (REST) ---------------------------------------------------------------------


class DecisionInfo(BaseModel):
    """One decision about this endpoint or user; ``href`` is its page ("why")."""

    id: int
    ts: datetime
    protocol: str
    result: str
    reason_code: int
    reason: str
    username: str | None
    mac: str | None
    nas_name: str | None
    policy_set: str | None
    authorization_rule: str | None
    href: str


class SessionInfo(BaseModel):
    """One accounting session (RFC 2866): live while ``status`` is "active"."""

    id: int
    status: str
    acct_session_id: str
    username: str | None
    mac: str | None
    nas_name: str | None
    nas_ip: str | None
    nas_port_id: str | None
    framed_ip: str | None
    start_time: datetime | None
    last_update: datetime
    stop_time: datetime | None
    session_time: int
    input_octets: int
    output_octets: int
    terminate_cause: str | None


class EventInfo(BaseModel):
    """One endpoint event: profile_change, possible_spoofing, posture_change, coa, ..."""

    id: int
    ts: datetime
    kind: str
    detail: dict[str, Any]
    warning: bool  # possible spoofing, or a CoA that was not acknowledged


class PostureReportInfo(BaseModel):
    id: int
    ts: datetime
    source: str
    state: str
    score: int
    failed: list[str]  # the ids of the failed checks
    failed_checks: list[str]  # the same, in words
    unknown_checks: list[str]
    policy_version: str | None


class PostureInfo(BaseModel):
    state: str  # unknown, compliant, non_compliant, ...
    score: int  # 0-100, higher is riskier
    failed: list[str]
    at: datetime | None
    reports: list[PostureReportInfo]  # newest first


class EndpointDetail(BaseModel):
    mac: str
    description: str
    registered: bool  # known for MAB (an admin said so)
    blocked: bool
    vendor: str | None  # IEEE OUI registry
    randomized: bool  # locally administered bit: a private/random MAC
    hostname: str | None
    dhcp_fingerprint: str | None  # DHCP option 55, in order
    dhcp_vendor_class: str | None  # DHCP option 60
    profile: str | None
    group: str | None
    profile_confidence: int
    profile_source: str | None
    signals: dict[str, Any]
    last_user: str | None
    first_seen: datetime
    last_seen: datetime | None
    posture: PostureInfo
    sessions: list[SessionInfo]  # live first, then the most recently updated
    events: list[EventInfo]  # newest first
    decisions: list[DecisionInfo]  # newest first


class UserDetail(BaseModel):
    name: str
    description: str
    enabled: bool
    groups: list[str]
    has_enable_secret: bool
    created_at: datetime
    updated_at: datetime
    sessions: list[SessionInfo]
    decisions: list[DecisionInfo]


# --- gathering -----------------------------------------------------------------------------


def _decision(row: AuditLog) -> DecisionInfo:
    return DecisionInfo(
        id=row.id or 0,
        ts=row.ts,
        protocol=row.protocol,
        result=row.result,
        reason_code=row.reason_code,
        reason=row.reason,
        username=row.username,
        mac=row.mac,
        nas_name=row.nas_name,
        policy_set=row.policy_set,
        authorization_rule=row.authorization_rule,
        href=f"/log/{row.id}",
    )


def _session(row: AccountingSession) -> SessionInfo:
    return SessionInfo(
        id=row.id or 0,
        status=row.status,
        acct_session_id=row.acct_session_id,
        username=row.username,
        mac=row.mac,
        nas_name=row.nas_name,
        nas_ip=row.nas_ip,
        nas_port_id=row.nas_port_id or (str(row.nas_port) if row.nas_port is not None else None),
        framed_ip=row.framed_ip,
        start_time=row.start_time,
        last_update=row.last_update,
        stop_time=row.stop_time,
        session_time=row.session_time,
        input_octets=row.input_octets,
        output_octets=row.output_octets,
        terminate_cause=row.terminate_cause,
    )


def _event(row: EndpointEvent) -> EventInfo:
    detail = dict(row.detail or {})
    warning = row.kind in ALARMING or (row.kind == "coa" and detail.get("result") != "ack")
    return EventInfo(id=row.id or 0, ts=row.ts, kind=row.kind, detail=detail, warning=warning)


def _words(checks: Any) -> list[str]:
    return [str(c.get("words", c.get("id", ""))) for c in checks or () if isinstance(c, dict)]


def _report(row: Any) -> PostureReportInfo:
    public = posture_service.report_public(row)
    return PostureReportInfo(
        id=public["id"],
        ts=row.ts,
        source=public["source"],
        state=public["state"],
        score=public["score"],
        failed=[str(f) for f in public["failed"]],
        failed_checks=_words(public["failed_checks"]),
        unknown_checks=_words(public["unknown_checks"]),
        policy_version=public["policy_version"],
    )


def _live_first(rows: list[AccountingSession]) -> list[SessionInfo]:
    """Active sessions first, each group most recently updated first (a stable sort)."""
    return [_session(r) for r in sorted(rows, key=lambda r: r.status != "active")]


def _mac(mac: str) -> str:
    try:
        return normalize_mac(mac)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None


async def _endpoint(session: AsyncSession, mac: str) -> Endpoint:
    try:
        return await crud.get_endpoint(session, mac=_mac(mac))
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


async def endpoint_detail(session: AsyncSession, mac: str) -> EndpointDetail:
    """Everything known of one endpoint (404 when unknown, 422 for a malformed MAC)."""
    row = await _endpoint(session, mac)
    mac = row.mac
    reports = await posture_service.history(session, mac=mac, limit=REPORTS)
    sessions = await crud.list_sessions(session, mac=mac, limit=SESSIONS)
    events = await crud.list_endpoint_events(session, mac=mac, limit=EVENTS)
    decisions = await crud.page_audit(session, mac=mac, limit=DECISIONS)
    return EndpointDetail(
        mac=mac,
        description=row.description,
        registered=row.registered,
        blocked=row.blocked,
        vendor=row.vendor,
        randomized=row.randomized,
        hostname=row.hostname,
        dhcp_fingerprint=row.dhcp_fingerprint,
        dhcp_vendor_class=row.dhcp_vendor_class,
        profile=row.profile,
        group=row.group,
        profile_confidence=row.profile_confidence,
        profile_source=row.profile_source,
        signals=dict(row.signals or {}),
        last_user=row.last_user,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        posture=PostureInfo(
            state=row.posture_state,
            score=row.posture_score,
            failed=[str(f) for f in row.posture_failed or ()],
            at=row.posture_at,
            reports=[_report(r) for r in reports],
        ),
        sessions=_live_first(sessions),
        events=[_event(e) for e in events],
        decisions=[_decision(d) for d in decisions],
    )


async def user_detail(session: AsyncSession, name: str) -> UserDetail:
    """One network user with its sessions and recent decisions (404 when unknown)."""
    try:
        user = await crud.get_user(session, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    sessions = await crud.list_sessions(session, username=user.name, limit=SESSIONS)
    decisions = await crud.page_audit(session, username=user.name, limit=DECISIONS)
    return UserDetail(
        name=user.name,
        description=user.description,
        enabled=user.enabled,
        groups=list(user.groups),
        has_enable_secret=user.has_enable_secret,
        created_at=user.created_at,
        updated_at=user.updated_at,
        sessions=_live_first(sessions),
        decisions=[_decision(d) for d in decisions],
    )


# --- pages ---------------------------------------------------------------------------------


@pages.get("/endpoints/{mac}")
async def endpoint_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep, mac: Mac
) -> Response:
    detail = await endpoint_detail(session, mac)
    context = {
        "e": detail,
        "dynauth": console.dynauth is not None,
        "live": sum(1 for s in detail.sessions if s.status == "active"),
        "notice": NOTICES.get(request.query_params.get("done", ""), ""),
    }
    response: Response = page(console, request, "endpoint.html", context)
    return response


async def _set_blocked(
    console: ConsoleDep, session: AsyncSession, admin: str, mac: str, blocked: bool
) -> str:
    key = (await _endpoint(session, mac)).mac  # (the change's commit expires the row)
    await changes.update_endpoint(
        session, admin=admin, mac=key, update=EndpointUpdate(blocked=blocked)
    )
    if blocked and console.dynauth is not None:  # RFC 5176: end its live sessions
        console.dynauth.schedule(
            "endpoint_changed", key, trigger="endpoint-blocked", action="disconnect"
        )
    return key


@pages.post("/endpoints/{mac}/block")
async def endpoint_block(
    principal: CurrentOperator, console: ConsoleDep, session: SessionDep, mac: Mac
) -> Response:
    """Block the endpoint (rejected whatever the policy says); its live sessions are
    disconnected."""
    mac = await _set_blocked(console, session, principal.name, mac, True)
    return RedirectResponse(f"/endpoints/{mac}?done=blocked", status_code=303)


@pages.post("/endpoints/{mac}/unblock")
async def endpoint_unblock(
    principal: CurrentOperator, console: ConsoleDep, session: SessionDep, mac: Mac
) -> Response:
    mac = await _set_blocked(console, session, principal.name, mac, False)
    return RedirectResponse(f"/endpoints/{mac}?done=unblocked", status_code=303)


@pages.post("/endpoints/{mac}/reauthenticate")
async def endpoint_reauthenticate(
    principal: CurrentOperator, console: ConsoleDep, session: SessionDep, mac: Mac
) -> Response:
    """Ask the NAS of each live session of this endpoint to decide it again (RFC 5176); the
    answers are listed with the endpoint's events."""
    if console.dynauth is None:
        raise HTTPException(503, "dynamic authorization is not running in this process")
    key = (await _endpoint(session, mac)).mac
    live = await crud.list_sessions(session, status="active", mac=key, limit=SESSIONS)
    dynauth = console.dynauth
    outcomes = await asyncio.gather(
        *(
            dynauth.session_action(s.id, "reauthenticate", admin=principal.name)
            for s in live
            if s.id is not None
        ),
        return_exceptions=True,  # a session that ended meanwhile: NotFoundError, skipped
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, NotFoundError):
            raise outcome
    return RedirectResponse(f"/endpoints/{key}?done=reauthenticate", status_code=303)


@pages.get("/users/{name}")
async def user_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep, name: Name
) -> Response:
    detail = await user_detail(session, name)
    response: Response = page(console, request, "user.html", {"u": detail})
    return response


# --- REST ----------------------------------------------------------------------------------


@api.get("/endpoints/{mac}/detail", tags=["endpoints"], responses=NOT_FOUND)
async def endpoint_detail_api(_: CurrentAuditor, session: SessionDep, mac: Mac) -> EndpointDetail:
    """The endpoint in full: profiling, posture with its report history, live and recent
    sessions, events (newest first) and recent decisions (each with its /log/ID page)."""
    return await endpoint_detail(session, mac)


@api.get("/users/{name}/detail", tags=["users"], responses=NOT_FOUND)
async def user_detail_api(_: CurrentAuditor, session: SessionDep, name: Name) -> UserDetail:
    """The network user with its groups, sessions and recent decisions (never a secret)."""
    return await user_detail(session, name)
