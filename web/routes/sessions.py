"""Live sessions (from accounting) and RFC 5176 actions on them: the console page with
"Re-authenticate" and "Disconnect" buttons and each session's CoA history, and the REST
equivalents under /api/v1/sessions. Auditors read; operators act."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from nac.core.errors import NotFoundError
from nac.db import crud
from nac.db.models import AccountingSession
from nac.services.dynauth import CoaOutcome
from web.deps import Console, ConsoleDep, CurrentAuditor, CurrentOperator, SessionDep, page
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
SessionId = Annotated[int, Path(ge=1)]
ACTIONS = ("reauthenticate", "disconnect")
HISTORY = 500  # CoA events read for the page (newest first)


class CoaResult(BaseModel):
    """One dynamic authorization exchange (RFC 5176) and its answer."""

    session_id: int | None
    mac: str | None
    username: str | None
    nas: str | None
    nas_ip: str | None
    action: str
    request: str
    result: str  # ack | nak | timeout | skipped | error
    reason: str
    error_causes: list[int]
    attempts: int
    latency_ms: float
    trigger: str


def _result(outcome: CoaOutcome) -> CoaResult:
    return CoaResult.model_validate(dataclasses.asdict(outcome))


async def _act(console: Console, session_id: int, action: str, admin: str) -> CoaOutcome:
    if console.dynauth is None:
        raise HTTPException(503, "dynamic authorization is not running in this process")
    try:
        return await console.dynauth.session_action(session_id, action, admin=admin)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


async def _history(session: Any, rows: list[AccountingSession]) -> dict[int, list[Any]]:
    """CoA events per session id (newest first), from the endpoints' event log."""
    wanted = {r.id for r in rows}
    out: dict[int, list[Any]] = {}
    for event in await crud.list_endpoint_events(session, kind="coa", limit=HISTORY):
        sid = (event.detail or {}).get("session_id")
        if isinstance(sid, int) and sid in wanted:
            out.setdefault(sid, []).append(event)
    return out


@pages.get("/sessions")
async def sessions_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """Active accounting sessions, with their CoA history and (operators) the actions."""
    rows = await crud.list_sessions(session, status="active", limit=200)
    history = await _history(session, rows)
    response: Response = page(
        console,
        request,
        "sessions.html",
        {"sessions": rows, "history": history, "dynauth": console.dynauth is not None},
    )
    return response


@pages.post("/sessions/{id}/reauthenticate")
async def session_reauthenticate_form(
    principal: CurrentOperator, console: ConsoleDep, id: SessionId
) -> Response:
    await _act(console, id, "reauthenticate", principal.name)
    return RedirectResponse(f"/sessions#session-{id}", status_code=303)


@pages.post("/sessions/{id}/disconnect")
async def session_disconnect_form(
    principal: CurrentOperator, console: ConsoleDep, id: SessionId
) -> Response:
    await _act(console, id, "disconnect", principal.name)
    return RedirectResponse(f"/sessions#session-{id}", status_code=303)


@api.get("/sessions", tags=["sessions"])
async def session_list(
    _: CurrentAuditor,
    session: SessionDep,
    mac: Annotated[str | None, Query(max_length=32)] = None,
    username: Annotated[str | None, Query(max_length=253)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccountingSession]:
    """Active accounting sessions, most recently updated first."""
    try:
        return await crud.list_sessions(
            session, status="active", mac=mac, username=username, limit=limit
        )
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["query", "mac"], "msg": str(exc)}]) from None


@api.post(
    "/sessions/{id}/reauthenticate",
    tags=["sessions"],
    responses={404: {"model": Problem}, 503: {"model": Problem}},
)
async def session_reauthenticate(
    principal: CurrentOperator, console: ConsoleDep, id: SessionId
) -> CoaResult:
    """Ask the session's NAS to decide the session again (RFC 5176: a CoA-Request where the
    NAS can re-authenticate in place, else a Disconnect-Request); the answer is returned and
    audited."""
    return _result(await _act(console, id, "reauthenticate", principal.name))


@api.post(
    "/sessions/{id}/disconnect",
    tags=["sessions"],
    responses={404: {"model": Problem}, 503: {"model": Problem}},
)
async def session_disconnect(
    principal: CurrentOperator, console: ConsoleDep, id: SessionId
) -> CoaResult:
    """Send the session's NAS a Disconnect-Request (RFC 5176); the answer is returned and
    audited."""
    return _result(await _act(console, id, "disconnect", principal.name))
