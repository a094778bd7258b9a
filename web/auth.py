"""Who is asking: console sessions (server-side, in memory), API tokens, CSRF, roles, and the
login rate limit.

A page request carries the ``nac_session`` cookie: an opaque random id naming a session held
here (the admin, a CSRF token, when it was last used). A state-changing request made with the
cookie must also carry that CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
``/api/v1/*`` also accepts ``Authorization: Bearer <token>`` (no CSRF: a browser never sends it
by itself); the token's role is capped at its owner's current role.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from fastapi import Request

from nac.db import crud
from nac.db.engine import Database
from nac.db.models import ADMIN_ROLES, Admin, role_rank
from nac.db.types import utcnow

SESSION_COOKIE = "nac_session"
LOGIN_COOKIE = "nac_login"  # double-submit CSRF token of the login form (no session yet)
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)


class NotAuthenticated(Exception):
    """No valid session or token: 401 for the API, a redirect to /login for pages."""

    def __init__(self, detail: str = "not authenticated") -> None:
        super().__init__(detail)
        self.detail = detail


class Forbidden(Exception):
    """Authenticated, but the role (or the CSRF token) does not allow this request."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    admin_id: int
    name: str
    role: str
    via: Literal["session", "token"]
    csrf: str | None = field(default=None, repr=False)  # the session's CSRF token

    def may(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)


@dataclass(slots=True)
class ConsoleSession:
    admin_id: int
    csrf: str = field(repr=False)
    created: float
    last_seen: float


class SessionStore:
    """Console sessions in memory (the console runs in one process: worker 0)."""

    def __init__(
        self,
        *,
        idle: float = 8 * 3600,
        absolute: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: dict[str, ConsoleSession] = {}
        self._idle = idle
        self._absolute = absolute
        self._clock = clock

    def create(self, admin_id: int) -> tuple[str, ConsoleSession]:
        self._expire()
        now = self._clock()
        sid = secrets.token_urlsafe(32)
        session = ConsoleSession(admin_id, secrets.token_urlsafe(32), now, now)
        self._sessions[sid] = session
        return sid, session

    def get(self, sid: str | None) -> ConsoleSession | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle or now - session.created > self._absolute:
            del self._sessions[sid]
            return None
        session.last_seen = now
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def drop_admin(self, admin_id: int) -> None:
        for sid in [s for s, v in self._sessions.items() if v.admin_id == admin_id]:
            del self._sessions[sid]

    def _expire(self) -> None:
        now = self._clock()
        for sid in [
            s
            for s, v in self._sessions.items()
            if now - v.last_seen > self._idle or now - v.created > self._absolute
        ]:
            del self._sessions[sid]


class LoginLimiter:
    """At most ``limit`` failed logins per ``window`` seconds per client address and per name."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and now - q[0] > self._window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def blocked(self, ip: str, name: str) -> float:
        """Seconds to wait before the next try (0: allowed)."""
        wait = 0.0
        now = self._clock()
        for key in (f"ip:{ip}", f"name:{name.lower()}"):
            q = self._recent(key)
            if len(q) >= self._limit:
                wait = max(wait, self._window - (now - q[0]))
        return wait

    def failed(self, ip: str, name: str) -> None:
        if len(self._failures) > 100_000:
            self._failures.clear()
        now = self._clock()
        for key in (f"ip:{ip}", f"name:{name.lower()}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.lower()}", None)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_api(request: Request) -> bool:
    """API routes (401 JSON, bearer tokens) rather than pages (login redirect): ``/api/`` and
    the Prometheus endpoint ``/metrics``."""
    path = request.url.path
    return path.startswith("/api/") or path == "/metrics"


async def _csrf_ok(request: Request, expected: str | None) -> bool:
    if expected is None:
        return False
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def authenticate(request: Request, db: Database, sessions: SessionStore) -> Principal:
    """The principal of ``request`` (CSRF checked for state-changing session requests)."""
    header = request.headers.get("authorization", "")
    if is_api(request) and header[:7].lower() == "bearer ":
        return await _token_principal(db, header[7:].strip())
    sid = request.cookies.get(SESSION_COOKIE)
    session = sessions.get(sid)
    if session is None:
        raise NotAuthenticated("not authenticated: log in, or send an API token")
    async with db.session() as s:
        admin = await s.get(Admin, session.admin_id)
    if admin is None or admin.disabled:
        sessions.drop(sid)
        raise NotAuthenticated("session ended: the admin is disabled or gone")
    principal = Principal(admin.id, admin.name, admin.role, "session", session.csrf)  # type: ignore[arg-type]
    if request.method not in SAFE_METHODS and not await _csrf_ok(request, session.csrf):
        raise Forbidden(f"CSRF token missing or wrong (form field {CSRF_FIELD} or {CSRF_HEADER})")
    return principal


async def _token_principal(db: Database, token: str) -> Principal:
    async with db.session() as s:
        found = await crud.find_api_token(s, token=token) if token else None
        if found is None:
            raise NotAuthenticated("invalid API token")
        row, admin = found
        if row.revoked or admin.disabled:
            raise NotAuthenticated("API token revoked, or its admin disabled")
        now = utcnow()
        if row.last_used is None or now - row.last_used > TOKEN_TOUCH_INTERVAL:
            await crud.touch_api_token(s, token_id=row.id, when=now)  # type: ignore[arg-type]
    role = ADMIN_ROLES[min(role_rank(row.role), role_rank(admin.role))]
    return Principal(admin.id, admin.name, role, "token")  # type: ignore[arg-type]
