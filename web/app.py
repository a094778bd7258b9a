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
from nac.services.dynauth import DynamicAuthorizer
from nac.services.snapshot import SnapshotStore
from web.auth import LoginLimiter, SessionStore
from web.deps import Console
from web.errors import install_error_handlers
from web.hsts import HstsMiddleware
from web.routes import (
    admins,
    api,
    bulk_api,
    change_log,
    dashboard,
    detail_pages,
    directory_api,
    directory_pages,
    groups,
    import_pages,
    log_export,
    metrics,
    pages,
    policy_api,
    policy_pages,
    posture_api,
    tacacs_api,
    tacacs_pages,
)
from web.routes import sessions as session_routes  # `sessions` is create_app's SessionStore

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
    dynauth: DynamicAuthorizer | None = None,
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
        dynauth=dynauth,
    )
    install_error_handlers(app)
    app.add_middleware(HstsMiddleware)  # HTTPS responses only (nac serve --web-tls)
    app.include_router(pages.router)
    app.include_router(policy_pages.router)
    app.include_router(directory_pages.router)
    app.include_router(detail_pages.pages)
    app.include_router(bulk_api.router)  # before the /{name} and /{mac} routes
    app.include_router(api.router)
    app.include_router(policy_api.router)
    app.include_router(directory_api.router)
    app.include_router(detail_pages.api)
    app.include_router(metrics.router)
    app.include_router(session_routes.pages)
    app.include_router(session_routes.api)
    app.include_router(groups.router)
    app.include_router(groups.api)
    app.include_router(tacacs_pages.router)
    app.include_router(tacacs_api.router)
    app.include_router(admins.router)
    app.include_router(admins.api)
    app.include_router(change_log.router)
    app.include_router(change_log.api)
    app.include_router(dashboard.pages)
    app.include_router(dashboard.api)
    app.include_router(log_export.pages)
    app.include_router(log_export.api)
    app.include_router(posture_api.reports)
    app.include_router(posture_api.api)
    app.include_router(import_pages.router)
    return app
