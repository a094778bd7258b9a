"""The console's app factory: ``create_app(settings, db=..., store=...)``, nothing at import."""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import FastAPI
from fastapi.templating import Jinja2Templates

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db.engine import Database
from nac.services.audit_view import audit_renderer
from nac.services.snapshot import SnapshotStore
from web.auth import LoginLimiter, SessionStore
from web.deps import Console
from web.errors import install_error_handlers
from web.routes import (
    api,
    directory_api,
    directory_pages,
    metrics,
    pages,
    policy_api,
    policy_pages,
)

TEMPLATES = Path(__file__).with_name("templates")


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings,
    *,
    db: Database,
    store: SnapshotStore | None = None,
    sessions: SessionStore | None = None,
    limiter: LoginLimiter | None = None,
    box: SecretBox | None = None,
) -> FastAPI:
    """The web console and REST API over ``db`` (``store``: the running snapshot, shown in
    the header when given). The OpenAPI schema is at /api/v1/openapi.json, for signed-in
    callers; there are no unauthenticated docs pages."""
    app = FastAPI(
        title="nac console API",
        version="1",
        description=(
            "Network access control: the decision log, the policy, API tokens, users, "
            "NAS clients, endpoints."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.console = Console(
        settings=settings,
        db=db,
        store=store,
        sessions=sessions or SessionStore(),
        limiter=limiter or LoginLimiter(),
        renderer=audit_renderer(),
        templates=_templates(),
        box=box,
    )
    install_error_handlers(app)
    app.include_router(pages.router)
    app.include_router(policy_pages.router)
    app.include_router(directory_pages.router)
    app.include_router(api.router)
    app.include_router(policy_api.router)
    app.include_router(directory_api.router)
    app.include_router(metrics.router)
    return app
