"""Console pages (server-rendered HTML): login, logout, the live log, a record, API tokens."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from nac.core.errors import NotFoundError
from nac.core.passwords import DummyHash, hash_password, needs_rehash, verify_password
from nac.db import crud
from nac.db.models import ADMIN_ROLES, AdminUpdate, ApiTokenCreate, role_rank
from nac.db.types import utcnow
from nac.services.audit_view import render_audit
from web.audit import AuditQuery, audit_query
from web.auth import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, client_ip
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, SessionDep, page

router = APIRouter(include_in_schema=False)
AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]
_DUMMY = DummyHash()


def _safe_next(value: str | None) -> str:
    """Only a local path (no scheme, no //host): no open redirect after login."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/log"


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
    next_: str = "/log",
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
async def login_form(console: ConsoleDep, request: Request, next: str = "/log") -> Response:
    return _login_page(console, request, next_=next)


@router.post("/login")
async def login(
    console: ConsoleDep,
    request: Request,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/log",
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
    return RedirectResponse("/log", status_code=303)


@router.get("/log")
async def live_log(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    query: AuditQueryDep,
) -> Response:
    """Decisions newest first, filtered; ``before=ID`` pages to older ones."""
    rows = await crud.page_audit(session, **query.crud_filters())
    next_before = rows[-1].id if len(rows) == query.limit else None
    response: Response = page(
        console,
        request,
        "log.html",
        {
            "rows": rows,
            "query": query,
            "next_params": query.params(before=next_before) if next_before else None,
            "first_params": query.params(before=None) if query.before else None,
        },
    )
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
    response: Response = page(console, request, "record.html", {"row": row, "record": record})
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
        _, secret = await crud.create_api_token(session, admin_name=principal.name, token=token)
    return await _tokens_page(console, request, created=secret)


@router.post("/tokens/{token_id}/revoke")
async def token_revoke(
    _: CurrentAdmin, console: ConsoleDep, token_id: Annotated[int, Path(ge=1)]
) -> Response:
    async with console.db.session() as session:
        try:
            await crud.revoke_api_token(session, token_id=token_id)
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
        await crud.update_admin(session, name=principal.name, update=update)
    console.sessions.drop_admin(principal.admin_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = ["CSRF_FIELD", "router"]
