"""Console administrators (admin role only): the page /admins and /api/v1/admins. Add one
with a role (a one-time password is generated and shown once), change the role, disable or
enable, reset the password (a new one-time one; the admin's sessions end). Refused with 409:
leaving no enabled admin with the admin role, or an admin demoting or disabling themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.core.passwords import generate_password
from nac.db import crud
from nac.db.models import ADMIN_ROLES, Admin, AdminCreate, AdminPublic, AdminRole, AdminUpdate
from nac.services import changes
from web.deps import Console, ConsoleDep, CurrentAdmin, SessionDep, page
from web.directory import field_errors
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
Name = Annotated[str, Path(max_length=128)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "The last admin, or demoting/disabling yourself"},
}


class AdminNew(BaseModel):
    """A console admin to add; the password is generated and returned once."""

    name: str
    role: AdminRole = "auditor"


class AdminChange(BaseModel):
    role: AdminRole | None = None
    disabled: bool | None = None


class AdminPassword(BaseModel):
    password: str  # shown only in this answer; the admin should change it at /account
    admin: AdminPublic


def _public(row: Admin) -> AdminPublic:
    return AdminPublic.model_validate(row, from_attributes=True)


async def _update(
    console: Console, principal: CurrentAdmin, session: SessionDep, name: str, update: AdminUpdate
) -> Admin:
    """Make the change; a disabled admin or a new password ends that admin's sessions."""
    try:
        row = await changes.update_admin(session, admin=principal.name, name=name, update=update)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    if update.disabled or update.password is not None:
        assert row.id is not None
        console.sessions.drop_admin(row.id)
    return row


# --- the page ----------------------------------------------------------------------------------


async def _page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    shown: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    admins = await crud.list_admins(session)
    response: Response = page(
        console,
        request,
        "admins.html",
        {"admins": admins, "roles": ADMIN_ROLES, "error": error, "shown": shown},
        status_code=status,
    )
    return response


@router.get("/admins")
async def admins_page(
    _: CurrentAdmin, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """Console admins, their roles and last logins (never a password hash)."""
    return await _page(console, request, session)


@router.post("/admins")
async def admin_add(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Annotated[str, Form(max_length=128)] = "",
    role: Annotated[str, Form(max_length=16)] = "auditor",
) -> Response:
    """A new admin with a generated one-time password, shown on this answer only."""
    values = {"name": name, "role": role}
    password = generate_password()
    try:
        new = AdminCreate(name=name, role=role, password=password)
        await changes.create_admin(session, admin=principal.name, new=new)
    except ValidationError as exc:
        error = {"form": "new", "fields": field_errors(exc), "values": values}
        return await _page(console, request, session, error=error, status=422)
    except AlreadyExistsError as exc:
        error = {"form": "new", "fields": {"name": str(exc)}, "values": values}
        return await _page(console, request, session, error=error, status=409)
    shown = {"name": name, "password": password, "what": "added"}
    return await _page(console, request, session, shown=shown)


async def _page_change(
    console: ConsoleDep,
    principal: CurrentAdmin,
    request: Request,
    session: SessionDep,
    name: str,
    update: AdminUpdate,
) -> Response:
    try:
        await _update(console, principal, session, name, update)
    except changes.ConflictError as exc:
        error = {"form": f"edit-{name}", "fields": {"admin": str(exc)}, "values": {}}
        return await _page(console, request, session, error=error, status=409)
    return RedirectResponse("/admins", status_code=303)


@router.post("/admins/{name}/role")
async def admin_role(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Change an admin's role (auditor reads, operator acts on sessions and endpoints, admin
    changes everything)."""
    try:
        update = AdminUpdate(role=role)  # type: ignore[arg-type]
    except ValidationError:
        message = f"role must be one of {', '.join(ADMIN_ROLES)}"
        error = {"form": f"edit-{name}", "fields": {"role": message}, "values": {}}
        return await _page(console, request, session, error=error, status=422)
    return await _page_change(console, principal, request, session, name, update)


@router.post("/admins/{name}/disable")
async def admin_disable(
    principal: CurrentAdmin, console: ConsoleDep, request: Request, session: SessionDep, name: Name
) -> Response:
    """Disable an admin: no login, no API token, open sessions end."""
    update = AdminUpdate(disabled=True)
    return await _page_change(console, principal, request, session, name, update)


@router.post("/admins/{name}/enable")
async def admin_enable(
    principal: CurrentAdmin, console: ConsoleDep, request: Request, session: SessionDep, name: Name
) -> Response:
    update = AdminUpdate(disabled=False)
    return await _page_change(console, principal, request, session, name, update)


@router.post("/admins/{name}/reset-password")
async def admin_reset_password(
    principal: CurrentAdmin, console: ConsoleDep, request: Request, session: SessionDep, name: Name
) -> Response:
    """A new generated one-time password, shown once; the admin's sessions end."""
    password = generate_password()
    await _update(console, principal, session, name, AdminUpdate(password=password))
    shown = {"name": name, "password": password, "what": "reset"}
    return await _page(console, request, session, shown=shown)


# --- the API -----------------------------------------------------------------------------------


@api.get("/admins", tags=["admins"])
async def admin_list(_: CurrentAdmin, session: SessionDep) -> list[AdminPublic]:
    """Console admins (never a password hash)."""
    return [_public(a) for a in await crud.list_admins(session)]


@api.post("/admins", tags=["admins"], status_code=201, responses={409: {"model": Problem}})
async def admin_create(
    principal: CurrentAdmin, session: SessionDep, new: AdminNew
) -> AdminPassword:
    """A new admin with a generated one-time password, returned only here."""
    password = generate_password()
    try:
        create = AdminCreate(name=new.name, role=new.role, password=password)
    except ValidationError as exc:
        raise HTTPException(
            422,
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from None
    try:
        row = await changes.create_admin(session, admin=principal.name, new=create)
    except AlreadyExistsError as exc:
        raise HTTPException(409, str(exc)) from None
    return AdminPassword(password=password, admin=_public(row))


@api.get("/admins/{name}", tags=["admins"], responses=_NOT_FOUND)
async def admin_get(_: CurrentAdmin, session: SessionDep, name: Name) -> AdminPublic:
    try:
        return _public(await crud.get_admin(session, name=name))
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@api.patch("/admins/{name}", tags=["admins"], responses=_REFUSED)
async def admin_update(
    principal: CurrentAdmin,
    console: ConsoleDep,
    session: SessionDep,
    name: Name,
    change: AdminChange,
) -> AdminPublic:
    """Change the role or disable/enable (a disabled admin's sessions end at once)."""
    update = AdminUpdate(role=change.role, disabled=change.disabled)
    try:
        row = await _update(console, principal, session, name, update)
    except changes.ConflictError as exc:
        raise HTTPException(409, str(exc)) from None
    return _public(row)


@api.post("/admins/{name}/reset-password", tags=["admins"], responses=_NOT_FOUND)
async def admin_password(
    principal: CurrentAdmin, console: ConsoleDep, session: SessionDep, name: Name
) -> AdminPassword:
    """A new generated one-time password, returned only here; the admin's sessions end."""
    password = generate_password()
    row = await _update(console, principal, session, name, AdminUpdate(password=password))
    return AdminPassword(password=password, admin=_public(row))
