"""The import page: users and endpoints from CSV, the configuration document (YAML) with a dry
run first. Operators import endpoints; admins everything. Bad rows are listed with their line,
column and reason, and nothing is imported then."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from nac.services import config_io
from nac.services.bulk_import import ImportRejected
from nac.services.config_io import ConfigImportError
from web.deps import ConsoleDep, CurrentAdmin, CurrentOperator, SessionDep, page
from web.forms import AdminPost, FormPost, OperatorPost
from web.routes.bulk_api import import_csv, read_upload

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


async def _import_csv(
    post: FormPost, kind: Literal["users", "endpoints"], file: UploadFile, update: str
) -> Response:
    admin = post.principal.name
    try:
        result = await import_csv(
            kind, post.console, post.session, file, admin=admin, update=bool(update)
        )
    except ImportRejected as exc:
        return _page(post.console, post.request, {"rejected": _rejected(kind, exc)}, 422)
    return _page(post.console, post.request, {"imported": result})


@router.post("/import/users")
async def import_users(post: AdminPost, file: Upload, update: Flag = "") -> Response:
    return await _import_csv(post, "users", file, update)


@router.post("/import/endpoints")
async def import_endpoints(post: OperatorPost, file: Upload, update: Flag = "") -> Response:
    return await _import_csv(post, "endpoints", file, update)


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
