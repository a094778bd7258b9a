"""The import page: users and endpoints from CSV, the configuration document (YAML) with a dry
run first. Operators import endpoints; admins everything. Bad rows are listed with their line,
column and reason, and nothing is imported then."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from nac.services import bulk_import, config_io
from nac.services.bulk_import import ImportRejected
from nac.services.config_io import ConfigImportError
from web.deps import ConsoleDep, CurrentAdmin, CurrentOperator, SessionDep, page
from web.routes.bulk_api import read_upload

router = APIRouter(include_in_schema=False)
Upload = Annotated[UploadFile, File()]
Flag = Annotated[str, Form(max_length=8)]
SHOWN_ERRORS = 500


def _page(
    console: ConsoleDep, request: Request, context: dict[str, Any], status: int = 200
) -> Response:
    response: Response = page(console, request, "import.html", context, status_code=status)
    return response


@router.get("/import")
async def import_page(_: CurrentOperator, console: ConsoleDep, request: Request) -> Response:
    return _page(console, request, {})


def _rejected(form: str, exc: ImportRejected) -> dict[str, Any]:
    return {
        "form": form,
        "errors": exc.errors[:SHOWN_ERRORS],
        "more": max(0, len(exc.errors) - SHOWN_ERRORS),
    }


@router.post("/import/users")
async def import_users(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    file: Upload,
    update: Flag = "",
) -> Response:
    data = await read_upload(file)
    try:
        result = await bulk_import.import_users(
            session,
            data,
            box=console.secret_box(),
            admin=principal.name,
            source=file.filename or "upload.csv",
            update=bool(update),
        )
    except ImportRejected as exc:
        return _page(console, request, {"rejected": _rejected("users", exc)}, 422)
    return _page(console, request, {"imported": result})


@router.post("/import/endpoints")
async def import_endpoints(
    principal: CurrentOperator,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    file: Upload,
    update: Flag = "",
) -> Response:
    data = await read_upload(file)
    try:
        result = await bulk_import.import_endpoints(
            session,
            data,
            admin=principal.name,
            source=file.filename or "upload.csv",
            update=bool(update),
        )
    except ImportRejected as exc:
        return _page(console, request, {"rejected": _rejected("endpoints", exc)}, 422)
    return _page(console, request, {"imported": result})


@router.post("/import/config")
async def import_config(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    file: Upload,
    apply: Flag = "",
    prune: Flag = "",
) -> Response:
    """Without ``apply``: a dry run (the diff and the counts). With it: applied at once."""
    data = await read_upload(file)
    try:
        plan = await config_io.import_config(
            session,
            data,
            box=console.secret_box(),
            admin=principal.name,
            dry_run=not apply,
            prune=bool(prune),
            source=file.filename or "upload.yaml",
        )
    except ConfigImportError as exc:
        invalid = {"form": "config", "problems": exc.errors[:SHOWN_ERRORS]}
        return _page(console, request, {"invalid": invalid}, 422)
    return _page(console, request, {"plan": plan})
