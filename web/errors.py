"""Errors as pages for the console and as JSON for the API; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.auth import Forbidden, NotAuthenticated, is_api
from web.deps import get_console, page

log = logging.getLogger("nac.web")

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    422: "Invalid request",
    429: "Too many requests",
    500: "Server error",
}


def _error(
    request: Request, status: int, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    if is_api(request):
        return JSONResponse({"detail": jsonable_encoder(detail)}, status, headers=headers)
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
        return _error(request, exc.status_code, exc.detail, dict(exc.headers or {}))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error(request, 422, _validation_detail(exc))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("console: %s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(request, 500, "internal error (logged on the server)")

    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, server_error)
