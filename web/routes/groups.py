"""User groups: the page /groups and /api/v1/groups. Auditors read (with member counts);
admins create, edit the description and delete; a group still in use (a member, or a policy
rule naming it in a ``user.groups`` condition) is not deleted: 409 saying who uses it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.db import crud
from nac.db.models import GroupCreate
from nac.services import changes
from web import forms, policy_doc
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, SessionDep, page
from web.directory import api_detail
from web.forms import AdminPost
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
Name = Annotated[str, Path(max_length=128)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


class GroupInfo(BaseModel):
    name: str
    description: str
    members: int  # users in the group
    rules: list[str]  # policy rules whose user.groups condition names it


class GroupChange(BaseModel):
    description: str = Field(max_length=1024)


async def _groups(session: AsyncSession) -> list[GroupInfo]:
    counts = await changes.member_counts(session)
    document = (await policy_doc.load_current(session)).document
    return [
        GroupInfo(
            name=g.name,
            description=g.description,
            members=counts.get(g.name, 0),
            rules=changes.rules_naming_group(document, g.name),
        )
        for g in await crud.list_groups(session)
    ]


async def _group(session: AsyncSession, name: str) -> GroupInfo:
    for group in await _groups(session):
        if group.name == name:
            return group
    raise HTTPException(404, f"group {name!r} does not exist")


# --- the page ----------------------------------------------------------------------------------


async def _page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    response: Response = page(
        console,
        request,
        "groups.html",
        {"groups": await _groups(session), "error": error},
        status_code=status,
    )
    return response


@router.get("/groups")
async def groups_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """Groups with how many users are in each and the policy rules that name them."""
    return await _page(console, request, session)


@router.post("/groups")
async def group_add(
    post: AdminPost,
    name: Annotated[str, Form(max_length=128)] = "",
    description: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    async def create() -> None:
        group = GroupCreate(name=name, description=description)
        await changes.create_group(post.session, admin=post.principal.name, group=group)

    values = {"name": name, "description": description}
    shown = await forms.created(create, post.again(_page), values=values)
    return shown or RedirectResponse("/groups", status_code=303)


@router.post("/groups/{name}")
async def group_edit(
    principal: CurrentAdmin,
    session: SessionDep,
    name: Name,
    description: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change a group's description."""
    try:
        await changes.update_group(
            session, admin=principal.name, name=name, description=description.strip()
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return RedirectResponse("/groups", status_code=303)


@router.post("/groups/{name}/delete")
async def group_delete(post: AdminPost, name: Name) -> Response:
    try:
        await changes.delete_group(post.session, admin=post.principal.name, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except changes.ConflictError as exc:
        error = {"form": f"edit-{name}", "fields": {"delete": str(exc)}, "values": {}}
        return await post.again(_page)(error, 409)
    return RedirectResponse("/groups", status_code=303)


# --- the API -----------------------------------------------------------------------------------


@api.get("/groups", tags=["groups"])
async def group_list(_: CurrentAuditor, session: SessionDep) -> list[GroupInfo]:
    """Groups with their member counts and the policy rules that name them."""
    return await _groups(session)


@api.post("/groups", tags=["groups"], status_code=201, responses={409: {"model": Problem}})
async def group_create(
    principal: CurrentAdmin, session: SessionDep, group: GroupCreate
) -> GroupInfo:
    try:
        await changes.create_group(session, admin=principal.name, group=group)
    except AlreadyExistsError as exc:
        raise HTTPException(409, str(exc)) from None
    return await _group(session, group.name)


@api.get("/groups/{name}", tags=["groups"], responses=_NOT_FOUND)
async def group_get(_: CurrentAuditor, session: SessionDep, name: Name) -> GroupInfo:
    return await _group(session, name)


@api.patch("/groups/{name}", tags=["groups"], responses=_NOT_FOUND)
async def group_update(
    principal: CurrentAdmin, session: SessionDep, name: Name, change: GroupChange
) -> GroupInfo:
    """Change the description (the name is what users and rules refer to)."""
    try:
        await changes.update_group(
            session, admin=principal.name, name=name, description=change.description
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, api_detail({"description": str(exc)})) from None
    return await _group(session, name)


@api.delete(
    "/groups/{name}",
    tags=["groups"],
    status_code=204,
    responses=_NOT_FOUND | {409: {"model": Problem, "description": "Still in use (says by whom)"}},
)
async def group_delete_api(principal: CurrentAdmin, session: SessionDep, name: Name) -> None:
    try:
        await changes.delete_group(session, admin=principal.name, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except changes.ConflictError as exc:
        raise HTTPException(409, str(exc)) from None
