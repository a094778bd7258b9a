"""Posture over REST: nac-agent's reports (enrollment token or client certificate), an
endpoint's posture history (auditor), and enrollment tokens (admin).

``POST /api/v1/posture/reports`` is authenticated by a per-endpoint enrollment token
(``Authorization: Bearer nacp_...``, from ``nac posture enroll MAC`` or ``POST
/api/v1/posture/tokens``) or, without one, over ``--web-tls`` by a client certificate of the
nac CA that names the endpoint's MAC (``nac pki issue MAC``; nac.services.web_tls), never by a
console session or an admin API token: 401 without a valid one (a revoked or expired
certificate is named), 403 when the report is about another MAC than the token's or the
certificate's, 422 naming the field at
fault (``facts.firewall.enabled``), 413 over 64 KiB. The answer says the state, the score and
the failed checks in words. A state change asks the dynamic authorizer (RFC 5176) to
re-authorize the endpoint's sessions.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.errors import NotFoundError
from nac.db import crud
from nac.db.models import normalize_mac
from nac.db.types import utcnow
from nac.pki import PkiError
from nac.services import posture_service
from nac.services.posture_service import PostureAuthError
from nac.services.web_tls import (
    CertificateEndpoint,
    ClientCertificateAuth,
    ClientCertificateError,
    client_certificate_chain,
)
from posture.model import PostureError
from web.deps import Console, CurrentAdmin, CurrentAuditor, SessionDep
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

log = logging.getLogger("nac.web.posture")

MAX_REPORT_BYTES = 64 * 1024
_ENROLLMENT = HTTPBearer(
    auto_error=False,
    scheme_name="PostureToken",
    description="A posture enrollment token (nac posture enroll MAC); not an admin API token",
)
reports = APIRouter(prefix="/api/v1", tags=["posture"], dependencies=[Depends(_ENROLLMENT)])
api = APIRouter(
    prefix="/api/v1", tags=["posture"], responses=ERRORS, dependencies=[Depends(_BEARER)]
)
Mac = Annotated[str, Path(max_length=32)]


def _field_error(exc: PostureError) -> list[dict[str, Any]]:
    head, _, rest = exc.path.partition(".")
    loc: list[str] = ["body"] + ([head] if head else []) + ([rest] if rest else [])
    return [{"loc": loc, "field": exc.path, "msg": exc.message, "type": "posture_report"}]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="posture"'})


def _certificate(
    request: Request, console: Console, chain: list[x509.Certificate]
) -> CertificateEndpoint:
    """The endpoint a verified client certificate names, or 401 in words."""
    auth = getattr(request.app.state, "posture_certificates", None)
    try:
        if auth is None:
            auth = ClientCertificateAuth.for_settings(console.settings)
            request.app.state.posture_certificates = auth
        return auth.authenticate(chain, now=utcnow())
    except PkiError as exc:
        raise _unauthorized(f"client certificates cannot be checked: {exc}") from None
    except ClientCertificateError as exc:
        raise _unauthorized(exc.detail) from None


@reports.post(
    "/posture/reports",
    status_code=201,
    responses={
        401: {"model": Problem, "description": "No or bad token, no or bad client certificate"},
        403: {"model": Problem, "description": "The token or certificate is another MAC's"},
        413: {"model": Problem},
        422: {"model": Problem, "description": "A malformed report; the field is named"},
    },
)
async def report(request: Request) -> dict[str, Any]:
    """Accept one posture report (schema: README "Posture reports"): evaluated against the
    running policy's posture section; the answer holds the state, score and failed checks."""
    # The hot path of agents: no ConsoleDep (a sync dependency: a thread-pool hop per call)
    # nor SessionDep (a dependency generator); the same console and session, directly.
    console: Console = request.app.state.console
    async with console.db.session() as session:
        return await _report(request, console, session)


async def _report(request: Request, console: Console, session: AsyncSession) -> dict[str, Any]:
    header = request.headers.get("authorization", "")
    token: str | None = None
    certificate: CertificateEndpoint | None = None
    if header[:7].lower() == "bearer " and header[7:].strip():
        token = header[7:].strip()  # checked by accept_report, in the report's transaction
    elif chain := client_certificate_chain(request.scope):
        certificate = _certificate(request, console, chain)
    else:
        raise _unauthorized(
            "a posture enrollment token (Authorization: Bearer) or a client certificate "
            "of the nac CA (nac pki issue MAC, over https) is required"
        )
    body = await request.body()

    def data() -> object:  # called once the sender is authenticated: 401 comes first
        if len(body) > MAX_REPORT_BYTES:
            raise HTTPException(413, f"a report is at most {MAX_REPORT_BYTES} bytes")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            detail = [{"loc": ["body"], "field": "", "msg": f"not JSON: {exc}", "type": "json"}]
            raise HTTPException(422, detail) from None

    requirements, version = await posture_service.current_requirements(session, console.store)
    try:
        accepted = await posture_service.accept_report(
            session,
            token=token,
            certificate_mac=certificate.mac if certificate is not None else None,
            data=data,
            requirements=requirements,
            now=utcnow(),
            policy_version=version,
        )
    except PostureError as exc:
        raise HTTPException(422, _field_error(exc)) from None
    except PostureAuthError as exc:
        if exc.status == 401:
            raise _unauthorized(exc.detail) from None
        raise HTTPException(exc.status, exc.detail) from None
    dynauth = getattr(console, "dynauth", None)
    if accepted.changed and dynauth is not None:
        dynauth.schedule(
            "endpoint_changed",
            accepted.mac,
            trigger="posture",
            detail=f"{accepted.previous_state} -> {accepted.state.value}",
        )
    log.info(
        "posture report for %s: %s (score %d)", accepted.mac, accepted.state.value, accepted.score
    )
    return accepted.public()


def _mac(mac: str) -> str:
    try:
        return normalize_mac(mac)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None


@api.get("/endpoints/{mac}/posture", responses={404: {"model": Problem}})
async def posture_history(
    _: CurrentAuditor,
    session: SessionDep,
    mac: Mac,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The endpoint's current posture and its reports, newest first (facts as reported,
    unknown fields kept, failed checks in words)."""
    mac = _mac(mac)
    try:
        endpoint = await crud.get_endpoint(session, mac=mac)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    rows = await posture_service.history(session, mac=mac, limit=limit)
    events = await crud.list_endpoint_events(session, mac=mac, kind="posture_change", limit=limit)
    return {
        "mac": mac,
        "state": endpoint.posture_state,
        "score": endpoint.posture_score,
        "failed": list(endpoint.posture_failed or ()),
        "at": endpoint.posture_at.isoformat() if endpoint.posture_at else None,
        "first_seen": endpoint.first_seen.isoformat(),
        "reports": [posture_service.report_public(r) for r in rows],
        "changes": [{"ts": e.ts.isoformat(), **e.detail} for e in events],
    }


class Enroll(BaseModel):
    mac: str = Field(max_length=32)


class TokenInfo(BaseModel):
    id: int
    mac: str
    created_at: str
    last_used: str | None
    revoked: bool


class Enrolled(BaseModel):
    token: str  # shown only in this answer
    info: TokenInfo


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        mac=row.mac,
        created_at=row.created_at.isoformat(),
        last_used=row.last_used.isoformat() if row.last_used else None,
        revoked=row.revoked,
    )


@api.post("/posture/tokens", status_code=201)
async def token_enroll(principal: CurrentAdmin, session: SessionDep, body: Enroll) -> Enrolled:
    """A new enrollment token for an endpoint (recorded if new); the token is shown only here."""
    mac = _mac(body.mac)
    row, token = await posture_service.enroll(session, mac=mac, admin=principal.name)
    return Enrolled(token=token, info=_info(row))


@api.get("/posture/tokens")
async def token_list(
    _: CurrentAdmin, session: SessionDep, mac: Annotated[str | None, Query(max_length=32)] = None
) -> list[TokenInfo]:
    """Enrollment tokens (never the token itself)."""
    rows = await posture_service.list_tokens(session, mac=_mac(mac) if mac else None)
    return [_info(r) for r in rows]


@api.delete("/posture/tokens/{token_id}", responses={404: {"model": Problem}})
async def token_revoke(
    principal: CurrentAdmin, session: SessionDep, token_id: Annotated[int, Path(ge=1)]
) -> dict[str, int]:
    """Revoke one enrollment token: its agent's reports are refused from now on."""
    try:
        count = await posture_service.revoke_tokens(
            session, token_id=token_id, admin=principal.name
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"revoked": count}
