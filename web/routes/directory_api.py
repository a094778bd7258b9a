"""REST for the directory: network users (admin changes), NAS clients (admin changes; the
RADIUS secret is generated and returned once) and endpoint updates (operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import ValidationError

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.db import crud
from nac.db.models import (
    Endpoint,
    EndpointUpdate,
    NasClientCreate,
    NasClientPublic,
    NasClientUpdate,
    UserCreate,
    UserPublic,
    UserUpdate,
    normalize_mac,
)
from nac.services import changes
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, CurrentOperator, SessionDep
from web.directory import api_detail, field_errors, new_secret
from web.routes.api import _BEARER, ERRORS
from web.schemas import ClientChange, ClientNew, ClientSecret, Problem

router = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
Name = Annotated[str, Path(max_length=128)]
Mac = Annotated[str, Path(max_length=32)]
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem}}
CONFLICT: dict[int | str, dict[str, object]] = {409: {"model": Problem}}


def _invalid(exc: ValidationError | ValueError, field: str) -> HTTPException:
    if isinstance(exc, ValidationError):
        return HTTPException(422, api_detail(field_errors(exc)))
    return HTTPException(422, api_detail({field: str(exc)}))


# --- users ---------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
async def user_list(_: CurrentAuditor, session: SessionDep) -> list[UserPublic]:
    """Network users with their groups (never a password or enable secret)."""
    return await crud.list_users(session)


@router.post("/users", tags=["users"], status_code=201, responses=CONFLICT)
async def user_create(
    principal: CurrentAdmin, console: ConsoleDep, session: SessionDep, user: UserCreate
) -> UserPublic:
    """A user; groups not yet known are created."""
    try:
        return await changes.create_user(
            session, admin=principal.name, user=user, box=console.secret_box(), create_groups=True
        )
    except AlreadyExistsError as exc:
        raise HTTPException(409, str(exc)) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise _invalid(exc, "groups") from None


@router.get("/users/{name}", tags=["users"], responses=NOT_FOUND)
async def user_get(_: CurrentAuditor, session: SessionDep, name: Name) -> UserPublic:
    try:
        return await crud.get_user(session, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.patch("/users/{name}", tags=["users"], responses=NOT_FOUND)
async def user_update(
    principal: CurrentAdmin,
    console: ConsoleDep,
    session: SessionDep,
    name: Name,
    update: UserUpdate,
) -> UserPublic:
    """Change enabled, description, groups (the whole list; new ones are created), password or
    enable secret ("" removes it)."""
    try:
        user = await changes.update_user(
            session,
            admin=principal.name,
            name=name,
            update=update,
            box=console.secret_box(),
            create_groups=True,
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise _invalid(exc, "groups") from None
    if update.enabled is False and console.dynauth is not None:  # RFC 5176: end its sessions
        console.dynauth.schedule("user_changed", name, trigger="user-disabled")
    return user


@router.delete("/users/{name}", tags=["users"], status_code=204, responses=NOT_FOUND)
async def user_delete(principal: CurrentAdmin, session: SessionDep, name: Name) -> None:
    try:
        await changes.delete_user(session, admin=principal.name, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


# --- NAS clients ---------------------------------------------------------------------------


@router.get("/clients", tags=["clients"])
async def client_list(_: CurrentAuditor, session: SessionDep) -> list[NasClientPublic]:
    """NAS clients (network devices); never a secret or key, only whether one is set."""
    return await crud.list_clients(session)


@router.post("/clients", tags=["clients"], status_code=201, responses=CONFLICT)
async def client_create(
    principal: CurrentAdmin, console: ConsoleDep, session: SessionDep, client: ClientNew
) -> ClientSecret:
    """A NAS client with a generated RADIUS shared secret, returned only in this answer."""
    secret = new_secret()
    try:  # defaults are not validated by ClientNew: an omitted address list fails only here
        create = NasClientCreate.model_validate(
            {**client.model_dump(), "secret": secret, "tacacs_key": client.tacacs_key or None}
        )
    except ValidationError as exc:
        raise _invalid(exc, "") from None
    try:
        info = await changes.create_client(
            session, admin=principal.name, client=create, box=console.secret_box()
        )
    except AlreadyExistsError as exc:
        raise HTTPException(409, str(exc)) from None
    return ClientSecret(secret=secret, client=info)


@router.get("/clients/{name}", tags=["clients"], responses=NOT_FOUND)
async def client_get(_: CurrentAuditor, session: SessionDep, name: Name) -> NasClientPublic:
    try:
        return await crud.get_client(session, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.patch("/clients/{name}", tags=["clients"], responses=NOT_FOUND)
async def client_update(
    principal: CurrentAdmin,
    console: ConsoleDep,
    session: SessionDep,
    name: Name,
    change: ClientChange,
) -> NasClientPublic:
    """Change addresses, vendor, group, location, modes or the TACACS+ key ("" removes it);
    the RADIUS secret changes only by rotate-secret."""
    try:
        update = NasClientUpdate.model_validate(change.model_dump(exclude_unset=True))
    except ValidationError as exc:
        raise _invalid(exc, "") from None
    try:
        return await changes.update_client(
            session, admin=principal.name, name=name, update=update, box=console.secret_box()
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.post("/clients/{name}/rotate-secret", tags=["clients"], responses=NOT_FOUND)
async def client_rotate(
    principal: CurrentAdmin, console: ConsoleDep, session: SessionDep, name: Name
) -> ClientSecret:
    """A new generated RADIUS secret, returned only here; the old one stops working."""
    secret = new_secret()
    try:
        info = await changes.update_client(
            session,
            admin=principal.name,
            name=name,
            update=NasClientUpdate(secret=secret),
            box=console.secret_box(),
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return ClientSecret(secret=secret, client=info)


@router.delete("/clients/{name}", tags=["clients"], status_code=204, responses=NOT_FOUND)
async def client_delete(principal: CurrentAdmin, session: SessionDep, name: Name) -> None:
    try:
        await changes.delete_client(session, admin=principal.name, name=name)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


# --- endpoints (list, create and delete are in web.routes.api) ------------------------------


def _mac(mac: str) -> str:
    try:
        return normalize_mac(mac)
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None


@router.get("/endpoints/{mac}", tags=["endpoints"], responses=NOT_FOUND)
async def endpoint_get(_: CurrentAuditor, session: SessionDep, mac: Mac) -> Endpoint:
    try:
        return await crud.get_endpoint(session, mac=_mac(mac))
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.patch("/endpoints/{mac}", tags=["endpoints"], responses=NOT_FOUND)
async def endpoint_update(
    principal: CurrentOperator,
    console: ConsoleDep,
    session: SessionDep,
    mac: Mac,
    update: EndpointUpdate,
) -> Endpoint:
    """Change an endpoint's profile, group, description or blocked flag (blocking one
    disconnects its live sessions, RFC 5176)."""
    try:
        endpoint = await changes.update_endpoint(
            session, admin=principal.name, mac=_mac(mac), update=update
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    if update.blocked and console.dynauth is not None:
        console.dynauth.schedule(
            "endpoint_changed", _mac(mac), trigger="endpoint-blocked", action="disconnect"
        )
    return endpoint
