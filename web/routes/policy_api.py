"""The policy under /api/v1/policy: read (auditor), replace and roll back (admin), what if."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query
from fastapi.security import HTTPBearer

from nac.db import crud
from nac.db.models import PolicyVersion
from web import policy_doc
from web.deps import CurrentAdmin, CurrentAuditor, SessionDep
from web.policy_doc import EditError, WhatIf, WhatIfAnswer
from web.routes.api import ERRORS
from web.schemas import PolicyDocument, PolicyVersionDetail, PolicyVersionInfo, Problem

_BEARER = HTTPBearer(auto_error=False, description="An API token from /tokens")
router = APIRouter(
    prefix="/api/v1/policy", tags=["policy"], responses=ERRORS, dependencies=[Depends(_BEARER)]
)
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "The document does not compile (detail names the path)"}
}


def _problem(exc: EditError) -> HTTPException:
    if exc.status != 422:
        return HTTPException(exc.status, exc.message)
    where = exc.path or exc.field
    detail = [{"loc": ["body", where] if where else ["body"], "msg": exc.message, "type": "policy"}]
    return HTTPException(422, detail)


def _document(row: PolicyVersion) -> PolicyDocument:
    return PolicyDocument.model_validate(row, from_attributes=True)


async def _stored(session: SessionDep, version: int) -> PolicyDocument:
    row = await crud.get_policy(session, version=version)
    assert row is not None  # just stored, same session
    return _document(row)


@router.get("")
async def policy_current(_: CurrentAuditor, session: SessionDep) -> PolicyDocument:
    """The current policy document and its version (0 when none is stored: reject all)."""
    current = await policy_doc.load_current(session)
    return PolicyDocument(
        version=current.version,
        author=current.author,
        comment=current.comment,
        created_at=current.created_at,
        document=current.document,
    )


@router.put("", responses=_INVALID | {409: {"model": Problem}})
async def policy_replace(
    principal: CurrentAdmin,
    session: SessionDep,
    document: Annotated[dict[str, Any], Body(description="The whole policy document")],
    comment: Annotated[str, Query(max_length=1024)] = "",
    base_version: Annotated[
        int | None, Query(ge=0, description="Refuse (409) unless this is still the current one")
    ] = None,
) -> PolicyDocument:
    """Validate ``document`` and store it as the new current version (servers pick it up
    within a second)."""
    try:
        policy_doc.check_base(await policy_doc.load_current(session), base_version)
        version = await policy_doc.store(
            session, document=document, author=principal.name, comment=comment or "via the API"
        )
    except EditError as exc:
        raise _problem(exc) from None
    return await _stored(session, version)


@router.get("/versions")
async def policy_versions(
    _: CurrentAuditor, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[PolicyVersionInfo]:
    """Stored versions, newest first."""
    rows = await crud.list_policy_versions(session, limit=limit)
    return [PolicyVersionInfo.model_validate(r, from_attributes=True) for r in rows]


@router.get("/versions/{n}", responses={404: {"model": Problem}})
async def policy_version(
    _: CurrentAuditor, session: SessionDep, n: Annotated[int, Path(ge=1)]
) -> PolicyVersionDetail:
    """One stored version, with the diff against the version before it."""
    row = await crud.get_policy(session, version=n)
    if row is None:
        raise HTTPException(404, f"no policy version {n}")
    before = await crud.get_policy_before(session, version=n)
    return PolicyVersionDetail(
        **_document(row).model_dump(),
        previous=before.version if before is not None else None,
        diff=policy_doc.diff(before, row),
    )


@router.post("/rollback/{n}", responses=_INVALID | {404: {"model": Problem}})
async def policy_rollback(
    principal: CurrentAdmin, session: SessionDep, n: Annotated[int, Path(ge=1)]
) -> PolicyDocument:
    """Store version ``n`` again as the new current version."""
    try:
        version = await policy_doc.rollback(session, version=n, author=principal.name)
    except EditError as exc:
        raise _problem(exc) from None
    return await _stored(session, version)


@router.post("/whatif", responses=_INVALID | {404: {"model": Problem}})
async def policy_whatif(_: CurrentAuditor, session: SessionDep, request: WhatIf) -> WhatIfAnswer:
    """Evaluate a hand-made request (the user simulated as authenticated with ``groups``)
    against the current policy or a stored ``version``, with the full trace. Stores nothing."""
    try:
        return await policy_doc.what_if_in(session, request)
    except EditError as exc:
        raise _problem(exc) from None
