"""Console pages (server-rendered HTML): login, logout, the live log, a record, API tokens."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from nac.core.errors import NotFoundError
from nac.core.passwords import DummyHash, hash_password, needs_rehash, verify_password
from nac.db import crud
from nac.db.models import ADMIN_ROLES, AdminUpdate, ApiTokenCreate, role_rank
from nac.db.types import utcnow
from nac.services import changes
from nac.services.audit_view import render_audit
from web.audit import (
    RESULTS,
    STREAM_TITLES,
    AuditPageRows,
    AuditQuery,
    LogLine,
    QueryInvalid,
    collapse,
    endpoint_href,
    fetch_page,
    parse_audit_query,
    repeats_url,
    ssid_of,
    stream_of,
    user_href,
)
from web.auth import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, client_ip
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, SessionDep, page

router = APIRouter(include_in_schema=False)
LANDING = "/dashboard"  # where a login lands unless it was sent from a page
_DUMMY = DummyHash()


def _safe_next(value: str | None) -> str:
    """Only a local path (no scheme, no //host): no open redirect after login."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return LANDING


def _set_cookie(request: Request, response: Response, name: str, value: str, **kw: object) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        **kw,  # type: ignore[arg-type]
    )


def _login_page(
    console: ConsoleDep,
    request: Request,
    *,
    error: str = "",
    next_: str = LANDING,
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    response: Response = page(
        console,
        request,
        "login.html",
        {"error": error, "next": _safe_next(next_), "csrf_token": token},
        status_code=status,
    )
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
async def login_form(console: ConsoleDep, request: Request, next: str = LANDING) -> Response:
    return _login_page(console, request, next_=next)


@router.post("/login")
async def login(
    console: ConsoleDep,
    request: Request,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = LANDING,
) -> Response:
    """Check the password (argon2id; an unknown name costs the same), rate limited per client
    address and per name; on success a new session and its cookie."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(
            console, request, error="The form expired; please try again.", next_=next, status=403
        )
    ip = client_ip(request)
    wait = console.limiter.blocked(ip, name)
    if wait > 0:
        response = _login_page(
            console,
            request,
            error=f"Too many failed logins; try again in {int(wait) + 1} seconds.",
            next_=next,
            status=429,
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    async with console.db.session() as session:
        admin = await crud.find_admin(session, name=name)
        if admin is None:
            await asyncio.to_thread(_DUMMY.verify, password)
            ok = False
        else:
            ok = await asyncio.to_thread(verify_password, admin.password_hash, password)
        if not ok or admin is None or admin.disabled:
            console.limiter.failed(ip, name)
            return _login_page(
                console, request, error="Wrong name or password.", next_=next, status=401
            )
        rehashed = hash_password(password) if needs_rehash(admin.password_hash) else None
        admin_id: int = admin.id  # type: ignore[assignment]  # (the write expires the row)
        await crud.record_admin_login(
            session, admin_id=admin_id, when=utcnow(), password_hash=rehashed
        )
    console.limiter.succeeded(name)
    console.sessions.drop(request.cookies.get(SESSION_COOKIE))  # no session fixation
    sid, _ = console.sessions.create(admin_id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, sid)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(_: CurrentAuditor, console: ConsoleDep, request: Request) -> Response:
    console.sessions.drop(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(_: CurrentAuditor) -> Response:
    return RedirectResponse(LANDING, status_code=303)


def _log_context(
    query: AuditQuery, found: AuditPageRows, *, form: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    rows = found.rows
    lines = collapse(rows) if query.collapse else [LogLine(r) for r in rows]
    filters = query.filters()
    next_before = found.next_before
    return {
        "lines": lines,
        "shown": len(rows),
        "query": query,
        "form": form,
        "errors": errors,
        "results": RESULTS,
        "streams": [
            (name, title, query.url(stream=name, before=None, after_id=None))
            for name, title in (("", "All"), *STREAM_TITLES.items())
        ],
        "next_url": query.url(before=next_before, after_id=None) if next_before else None,
        "searched_from": found.searched_from,
        "newest_url": query.url(before=None, after_id=None)
        if query.before or query.after_id
        else None,
        "csv_url": "/log.csv" + (f"?{urlencode(filters)}" if filters else ""),
        "collapse_url": query.url(collapse="1" if not query.collapse else "0"),
        # Polled for new rows only on the newest page with no end time.
        "live": query.before is None and query.until is None and query.after_id is None,
        "newest_id": rows[0].id if rows else 0,
        "poll_filters": {k: v for k, v in filters.items() if k != "collapse"},
        "user_href": user_href,
        "endpoint_href": endpoint_href,
        "repeats_url": lambda line: repeats_url(query, line),
        "ssid_of": ssid_of,
        "stream_of": stream_of,
    }


@router.get("/log")
async def live_log(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
) -> Response:
    """Decisions newest first, filtered (errors beside the form, 422); ``before=ID`` pages
    to older ones; repeats collapsed unless ``collapse=0``; new rows polled by the page."""
    raw = {k: v[:256] for k, v in request.query_params.items()}
    try:
        query = parse_audit_query(raw, now=utcnow())
    except QueryInvalid as exc:
        nothing = AuditPageRows([], None, None)
        context = _log_context(AuditQuery(), nothing, form=raw, errors=exc.fields())
        context["live"] = False
        return page(console, request, "log.html", context, status_code=422)  # type: ignore[no-any-return]
    found = await fetch_page(session, query)
    context = _log_context(query, found, form=query.params(), errors={})
    response: Response = page(console, request, "log.html", context)
    return response


@router.get("/log/{id}")
async def log_record(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    id: Annotated[int, Path(ge=1)],
) -> Response:
    """One decision in full: "why was I rejected?"."""
    try:
        row = await crud.get_audit(session, id=id)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    (record,) = await render_audit(console.renderer, session, [row])
    context = {
        "row": row,
        "record": record,
        "ssid": ssid_of(row),
        "stream": STREAM_TITLES.get(stream_of(row) or "", row.protocol),
        "user_href": user_href,
        "endpoint_href": endpoint_href,
    }
    response: Response = page(console, request, "record.html", context)
    return response


async def _tokens_page(
    console: ConsoleDep,
    request: Request,
    *,
    created: str | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    async with console.db.session() as session:
        tokens = await crud.list_api_tokens(session)
    principal = request.state.principal
    roles = [r for r in ADMIN_ROLES if role_rank(r) <= role_rank(principal.role)]
    response: Response = page(
        console,
        request,
        "tokens.html",
        {"tokens": tokens, "created": created, "error": error, "roles": roles},
        status_code=status,
    )
    return response


@router.get("/tokens")
async def tokens(_: CurrentAdmin, console: ConsoleDep, request: Request) -> Response:
    return await _tokens_page(console, request)


@router.post("/tokens")
async def token_create(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    name: Annotated[str, Form(max_length=128)] = "",
    role: Annotated[str, Form(max_length=16)] = "auditor",
) -> Response:
    try:
        token = ApiTokenCreate(name=name, role=role)
    except ValidationError as exc:
        error = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return await _tokens_page(console, request, error=error, status=422)
    if role_rank(token.role) > role_rank(principal.role):
        return await _tokens_page(console, request, error="role above yours", status=403)
    async with console.db.session() as session:
        _, secret = await changes.create_api_token(
            session, admin=principal.name, owner=principal.name, token=token
        )
    return await _tokens_page(console, request, created=secret)


@router.post("/tokens/{token_id}/revoke")
async def token_revoke(
    principal: CurrentAdmin, console: ConsoleDep, token_id: Annotated[int, Path(ge=1)]
) -> Response:
    async with console.db.session() as session:
        try:
            await changes.revoke_api_token(session, admin=principal.name, token_id=token_id)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
    return RedirectResponse("/tokens", status_code=303)


@router.get("/account")
async def account(_: CurrentAuditor, console: ConsoleDep, request: Request) -> Response:
    response: Response = page(console, request, "account.html", {"error": ""})
    return response


@router.post("/account/password")
async def change_password(
    principal: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    current: Annotated[str, Form(max_length=256)] = "",
    new: Annotated[str, Form(max_length=256)] = "",
    again: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Change one's own password (the current one is asked again); every session of this
    admin ends, this one too."""

    def refused(error: str, status: int) -> Response:
        response: Response = page(
            console, request, "account.html", {"error": error}, status_code=status
        )
        return response

    async with console.db.session() as session:
        admin = await crud.get_admin(session, name=principal.name)
        if not await asyncio.to_thread(verify_password, admin.password_hash, current):
            return refused("The current password is wrong.", 400)
        if new != again:
            return refused("The new passwords differ.", 422)
        try:
            update = AdminUpdate(password=new)
        except ValidationError:
            return refused("new: at least 8 characters.", 422)
        await changes.update_admin(
            session, admin=principal.name, name=principal.name, update=update
        )
    console.sessions.drop_admin(principal.admin_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = ["CSRF_FIELD", "router"]
