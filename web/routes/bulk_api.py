"""Bulk import (CSV) and configuration as code (YAML) under /api/v1.

``POST /users/import`` (admin) and ``POST /endpoints/import`` (operator) take a CSV upload
(multipart field ``file``); ``GET /config/export`` and ``POST /config/import`` (admin) the whole
configuration as one YAML document. All or nothing: a bad row or value is a 422 naming it
(``line``/``column``, or the document ``path``), and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from nac.services import bulk_import, config_io
from nac.services.bulk_import import ImportRejected, ImportResult
from nac.services.config_io import ConfigImportError, ImportPlan
from web.deps import Console, ConsoleDep, CurrentAdmin, CurrentOperator, SessionDep
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

router = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
MAX_UPLOAD = bulk_import.MAX_BYTES
_REJECTED: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "The file is too large"},
    422: {"model": Problem, "description": "Bad rows or values: nothing was imported"},
}
CsvFile = Annotated[UploadFile, File(description="The CSV file (header line first), UTF-8")]
Update = Annotated[
    bool, Query(description="Change existing users/endpoints instead of refusing them")
]


class CsvImported(BaseModel):
    """What a CSV import did (all rows, in one transaction)."""

    kind: str
    rows: int
    created: int
    updated: int
    groups_created: list[str]
    config_version: int


class GeneratedSecret(BaseModel):
    """A secret the import generated for a new client or user: shown only in this answer."""

    kind: str
    name: str
    field: str
    secret: str


class ConfigImported(BaseModel):
    dry_run: bool
    prune: bool
    counts: dict[str, dict[str, int]]  # kind -> created / changed / deleted
    policy_changed: bool
    changes: list[str]
    diff: list[str]  # unified diff of the current export against the export after the import
    generated: list[GeneratedSecret]
    config_version: int | None  # None for a dry run


async def read_upload(file: UploadFile, limit: int = MAX_UPLOAD) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"the file is larger than {limit // 2**20} MiB")
    return data


async def read_body(request: Request, limit: int = MAX_UPLOAD) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the document is larger than {limit // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


async def import_csv(
    kind: Literal["users", "endpoints"],
    console: Console,
    session: AsyncSession,
    file: UploadFile,
    *,
    admin: str,
    update: bool,
) -> ImportResult:
    """Import the uploaded CSV of users or endpoints (`ImportRejected`: nothing written)."""
    data = await read_upload(file)
    source = file.filename or "upload.csv"
    if kind == "users":
        box = console.secret_box()
        return await bulk_import.import_users(
            session, data, box=box, admin=admin, source=source, update=update
        )
    return await bulk_import.import_endpoints(
        session, data, admin=admin, source=source, update=update
    )


def rejected(exc: ImportRejected) -> HTTPException:
    return HTTPException(
        422,
        [
            {
                "loc": ["body", "file"],
                "line": e.line,
                "column": e.column,
                "msg": str(e),
                "type": "csv_row",
            }
            for e in exc.errors
        ],
    )


def invalid(exc: ConfigImportError) -> HTTPException:
    return HTTPException(
        422,
        [
            {"loc": ["body", path] if path else ["body"], "msg": message, "type": "config"}
            for path, message in exc.errors
        ],
    )


def csv_answer(result: ImportResult) -> CsvImported:
    return CsvImported(
        kind=result.kind,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        groups_created=result.groups_created,
        config_version=result.config_version,
    )


def plan_answer(plan: ImportPlan) -> ConfigImported:
    return ConfigImported(
        dry_run=plan.dry_run,
        prune=plan.prune,
        counts=plan.counts,
        policy_changed=plan.policy_changed,
        changes=plan.changes,
        diff=plan.diff,
        generated=[
            GeneratedSecret(kind=g.kind, name=g.name, field=g.field, secret=g.value)
            for g in plan.generated
        ],
        config_version=plan.config_version,
    )


@router.post("/users/import", tags=["users"], responses=_REJECTED)
async def users_import(
    principal: CurrentAdmin,
    console: ConsoleDep,
    session: SessionDep,
    file: CsvFile,
    update: Update = False,
) -> CsvImported:
    """Users from CSV: ``name,password,groups,enabled,description,enable_secret`` (groups
    ``;``-separated, created if new). Every bad row is listed (line, column, reason) and
    nothing is imported unless all rows are good."""
    try:
        result = await import_csv(
            "users", console, session, file, admin=principal.name, update=update
        )
    except ImportRejected as exc:
        raise rejected(exc) from None
    return csv_answer(result)


@router.post("/endpoints/import", tags=["endpoints"], responses=_REJECTED)
async def endpoints_import(
    principal: CurrentOperator,
    console: ConsoleDep,
    session: SessionDep,
    file: CsvFile,
    update: Update = False,
) -> CsvImported:
    """Endpoints from CSV: ``mac,profile,group,description,blocked``; registers them (known for
    MAB). All rows or none."""
    try:
        result = await import_csv(
            "endpoints", console, session, file, admin=principal.name, update=update
        )
    except ImportRejected as exc:
        raise rejected(exc) from None
    return csv_answer(result)


_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "format": {"type": "string", "enum": [config_io.FORMAT]},
        "clients": {"type": "array", "items": {"type": "object"}},
        "groups": {"type": "array", "items": {"type": "object"}},
        "users": {"type": "array", "items": {"type": "object"}},
        "endpoints": {"type": "array", "items": {"type": "object"}},
        "policy": {"type": "object"},
    },
}


@router.get(
    "/config/export",
    tags=["config"],
    response_class=Response,
    responses={
        200: {
            "description": "The configuration (no secrets)",
            "content": {"application/yaml": {"schema": _DOCUMENT_SCHEMA}},
        }
    },
)
async def config_export(_: CurrentAdmin, session: SessionDep) -> Response:
    """The whole configuration as one YAML document: clients (secrets shown as ``<not
    exported>``), groups, users (no passwords), registered endpoints and the policy."""
    text = config_io.dump_yaml(await config_io.export_config(session))
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": 'attachment; filename="nac-config.yaml"'},
    )


@router.post(
    "/config/import",
    tags=["config"],
    responses=_REJECTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A document as GET /config/export gives it (YAML; JSON is YAML too)",
            "content": {
                "application/yaml": {"schema": _DOCUMENT_SCHEMA},
                "application/json": {"schema": _DOCUMENT_SCHEMA},
            },
        }
    },
)
async def config_import(
    principal: CurrentAdmin,
    console: ConsoleDep,
    session: SessionDep,
    request: Request,
    dry_run: Annotated[bool, Query(description="Only show the diff and the counts")] = False,
    prune: Annotated[
        bool, Query(description="Delete objects missing from a section of the document")
    ] = False,
) -> ConfigImported:
    """Validate the document, then apply all of it in one transaction (or with ``dry_run``
    only show what would change). Objects missing from the document are kept unless
    ``prune``; sections missing from it are never touched. New clients and users without a
    secret in the document get generated ones, returned only in this answer."""
    data = await read_body(request)
    try:
        plan = await config_io.import_config(
            session,
            data,
            box=console.secret_box(),
            admin=principal.name,
            dry_run=dry_run,
            prune=prune,
            source="api",
        )
    except ConfigImportError as exc:
        raise invalid(exc) from None
    return plan_answer(plan)
