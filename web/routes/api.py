"""The REST API under /api/v1 (session cookie + X-CSRF-Token, or Authorization: Bearer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.security import HTTPBearer

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.db import crud
from nac.db.models import ApiTokenCreate, ApiTokenPublic, Endpoint, EndpointCreate, role_rank
from nac.services import changes
from nac.services.audit_view import render_audit
from web.audit import AuditQuery, audit_query, fetch_page, summary
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, CurrentOperator, SessionDep
from web.schemas import AuditPage, AuditRecord, Me, Problem, TokenCreated

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not authenticated"},
    403: {"model": Problem, "description": "Role too low, or CSRF token missing"},
}
# Documents the bearer scheme in the OpenAPI schema; `Require` does the checking.
_BEARER = HTTPBearer(auto_error=False, description="An API token from /tokens")
router = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]


@router.get("/me", tags=["session"])
async def me(principal: CurrentAuditor) -> Me:
    """Who the caller is (and the CSRF token for API calls made with the session cookie)."""
    return Me(
        name=principal.name, role=principal.role, via=principal.via, csrf_token=principal.csrf
    )


@router.get("/audit", tags=["audit"])
async def audit_list(_: CurrentAuditor, session: SessionDep, query: AuditQueryDep) -> AuditPage:
    """Decisions, newest first; page on with ``before=next_before``."""
    found = await fetch_page(session, query)
    return AuditPage(
        items=[summary(r) for r in found.rows],
        next_before=found.next_before,
        searched_from=found.searched_from,
    )


@router.get("/audit/{id}", tags=["audit"], responses={404: {"model": Problem}})
async def audit_record(
    _: CurrentAuditor,
    console: ConsoleDep,
    session: SessionDep,
    id: Annotated[int, Path(ge=1)],
) -> AuditRecord:
    """One decision: request and reply attributes (secrets masked) and the replayed trace."""
    try:
        row = await crud.get_audit(session, id=id)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    (rendered,) = await render_audit(console.renderer, session, [row])
    return AuditRecord.model_validate({**rendered, "ts": row.ts})


@router.get("/tokens", tags=["tokens"])
async def token_list(_: CurrentAdmin, session: SessionDep) -> list[ApiTokenPublic]:
    return await crud.list_api_tokens(session)


@router.post("/tokens", tags=["tokens"], status_code=201)
async def token_create(
    principal: CurrentAdmin, session: SessionDep, token: ApiTokenCreate
) -> TokenCreated:
    """A token for the caller, its role at most the caller's; the token is shown only here."""
    if role_rank(token.role) > role_rank(principal.role):
        raise HTTPException(403, f"a token's role cannot exceed yours ({principal.role})")
    info, secret = await changes.create_api_token(
        session, admin=principal.name, owner=principal.name, token=token
    )
    return TokenCreated(token=secret, info=info)


@router.delete("/tokens/{token_id}", tags=["tokens"], responses={404: {"model": Problem}})
async def token_revoke(
    principal: CurrentAdmin, session: SessionDep, token_id: Annotated[int, Path(ge=1)]
) -> ApiTokenPublic:
    try:
        return await changes.revoke_api_token(session, admin=principal.name, token_id=token_id)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/endpoints", tags=["endpoints"])
async def endpoint_list(_: CurrentAuditor, session: SessionDep) -> list[Endpoint]:
    return await crud.list_endpoints(session)


@router.post("/endpoints", tags=["endpoints"], status_code=201, responses={409: {"model": Problem}})
async def endpoint_create(
    principal: CurrentOperator, session: SessionDep, endpoint: EndpointCreate
) -> Endpoint:
    try:
        return await changes.create_endpoint(session, admin=principal.name, endpoint=endpoint)
    except AlreadyExistsError as exc:
        raise HTTPException(409, str(exc)) from None


@router.delete(
    "/endpoints/{mac}", tags=["endpoints"], status_code=204, responses={404: {"model": Problem}}
)
async def endpoint_delete(
    principal: CurrentOperator, session: SessionDep, mac: Annotated[str, Path(max_length=32)]
) -> None:
    try:
        await changes.delete_endpoint(session, admin=principal.name, mac=mac)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None


@router.get("/openapi.json", tags=["meta"], include_in_schema=False)
async def openapi(_: CurrentAuditor, request: Request) -> dict[str, Any]:
    """The OpenAPI schema of this API (signed-in callers only)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
