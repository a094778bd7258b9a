"""What every route gets: the console state, a database session, the principal with a role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db.engine import Database
from nac.services.audit import AuditRenderer
from nac.services.dynauth import DynamicAuthorizer
from nac.services.snapshot import SnapshotStore
from web.auth import Forbidden, LoginLimiter, Principal, SessionStore, authenticate


@dataclass(slots=True)
class Console:
    """Everything the routes share, made by ``create_app`` (one per app, no globals)."""

    settings: Settings
    db: Database
    store: SnapshotStore | None
    sessions: SessionStore
    limiter: LoginLimiter
    renderer: AuditRenderer
    templates: Jinja2Templates
    box: SecretBox | None = None  # opened from settings.data_dir on first use
    # The RFC 5176 CoA client (worker 0 of `nac serve`); None: changes send no CoA.
    dynauth: DynamicAuthorizer | None = None

    def secret_box(self) -> SecretBox:
        """The key that encrypts user passwords and NAS secrets in the database."""
        if self.box is None:
            self.box = SecretBox.open(self.settings.data_dir)
        return self.box


def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


async def get_session(console: ConsoleDep) -> AsyncIterator[AsyncSession]:
    async with console.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class Require:
    """A dependency: the request's principal, refused unless it holds ``role`` or higher."""

    def __init__(self, role: str) -> None:
        self.role = role

    async def __call__(self, request: Request, console: ConsoleDep) -> Principal:
        principal = await authenticate(request, console.db, console.sessions)
        if not principal.may(self.role):
            raise Forbidden(f"this needs role {self.role} (you are {principal.role})")
        request.state.principal = principal
        return principal


CurrentAuditor = Annotated[Principal, Depends(Require("auditor"))]
CurrentOperator = Annotated[Principal, Depends(Require("operator"))]
CurrentAdmin = Annotated[Principal, Depends(Require("admin"))]


def page(
    console: Console,
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Any:
    """Render a template with the principal (if any) and the version of the running config."""
    principal = getattr(request.state, "principal", None)
    version = console.store.current.version if console.store and console.store.current else None
    full = {"principal": principal, "config_version": version, **(context or {})}
    return console.templates.TemplateResponse(request, name, full, status_code=status_code)
