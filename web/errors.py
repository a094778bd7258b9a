"""Errors as pages for the console and as JSON for the API; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from nac.db.models import Admin
from web.auth import SESSION_COOKIE, Forbidden, NotAuthenticated, Principal, is_api
from web.deps import get_console, page

log = logging.getLogger("nac.web")

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid request",
    429: "Too many requests",
    500: "Server error",
}


def _error(
    request: Request, status: int, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    if is_api(request):
        content = _printable({"detail": jsonable_encoder(_typed(status, detail))})
        return JSONResponse(content, status, headers=headers)
    items = detail if isinstance(detail, list) else [detail]
    messages = [_field_message(d) for d in items]
    response: Response = page(
        get_console(request),
        request,
        "error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "messages": messages},
        status_code=status,
    )
    if headers:
        response.headers.update(headers)
    return response


async def _signed_in(request: Request) -> None:
    """For a page no route answered (404, 405): who is signed in, so the error page keeps the
    console's navigation. Best effort: any failure leaves the page without it."""
    if is_api(request) or getattr(request.state, "principal", None) is not None:
        return
    console = get_console(request)
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return
    try:
        async with console.db.session() as s:
            admin = await s.get(Admin, session.admin_id)
    except Exception:  # the database is down: still answer the error page
        return
    if admin is not None and not admin.disabled and admin.id is not None:
        request.state.principal = Principal(
            admin.id, admin.name, admin.role, "session", session.csrf
        )


def _typed(status: int, detail: Any) -> Any:
    """A route's own 422 list in the shape the schema documents (FastAPI's ValidationError:
    ``loc``, ``msg`` and ``type`` required)."""
    if status != 422 or not isinstance(detail, list):
        return detail
    return [
        {"loc": [], "msg": "", "type": "value_error", **d} if isinstance(d, dict) else d
        for d in detail
    ]


def _printable(value: Any) -> Any:
    """Lone surrogates (JSON ``"\\ud800"`` escapes echoed in a message) made printable:
    UTF-8 cannot encode them, and the answer must not become a 500."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


_INT32 = 2**31 - 1


def _unstorable_detail(request: Request) -> list[dict[str, Any]]:
    """The database refused a value the request gave (PostgreSQL: a NUL character in text, an
    integer beyond its column): a 422 naming the parameter, never a 500."""
    out = []
    values = [("query", k, v) for k, v in request.query_params.multi_items()]
    values += [("path", k, str(v)) for k, v in request.path_params.items()]
    for where, name, value in values:
        if "\x00" in value:
            out.append(
                {"loc": [where, name], "msg": "contains a NUL character", "type": "value_error"}
            )
        elif value.lstrip("-").isdigit() and abs(int(value)) > _INT32:
            out.append({"loc": [where, name], "msg": "number out of range", "type": "value_error"})
    return out or [
        {"loc": ["body"], "msg": "a value the database cannot store", "type": "value_error"}
    ]


def _field_message(error: Any) -> str:
    if isinstance(error, dict):
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        where = ".".join(loc)
        return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))
    return str(error)


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's error list without the echoed input (it could be a password) or a ctx."""
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def not_authenticated(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotAuthenticated)
        if is_api(request):
            return JSONResponse({"detail": exc.detail}, 401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        return _error(request, 403, exc.detail)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405):
            await _signed_in(request)
        return _error(request, exc.status_code, exc.detail, dict(exc.headers or {}))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(request, 422, _validation_detail(exc))

    async def unstorable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DataError)
        return _error(request, 422, _unstorable_detail(request))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("console: %s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(request, 500, "internal error (logged on the server)")

    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(DataError, unstorable)
    app.add_exception_handler(Exception, server_error)
