"""The directory pages: network users and their groups, NAS clients (the RADIUS secret is
generated and shown once), endpoints. Auditors read; operators change endpoints; admins
change users and clients. Errors are shown beside the form field they are about."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from nac.core.errors import NotFoundError
from nac.db import crud
from nac.db.models import (
    AUTO_YES_NO,
    VENDORS,
    EndpointCreate,
    EndpointUpdate,
    NasClientCreate,
    NasClientUpdate,
    UserCreate,
    UserUpdate,
)
from nac.services import changes
from web import forms
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, CurrentOperator, SessionDep, page
from web.directory import field_errors, new_secret, split_list
from web.forms import AdminPost, OperatorPost

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(max_length=128)]
Mac = Annotated[str, Path(max_length=32)]
Text = Annotated[str, Form(max_length=1024)]
Secret = Annotated[str, Form(max_length=256)]


def _error(form: str, fields: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    """What the template shows beside the fields of ``form`` (values never hold a secret)."""
    return {"form": form, "fields": fields, "values": values}


# --- users ---------------------------------------------------------------------------------


async def _users_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    users = await crud.list_users(session)
    groups = await crud.list_groups(session)
    response: Response = page(
        console,
        request,
        "users.html",
        {"users": users, "groups": [g.name for g in groups], "error": error},
        status_code=status,
    )
    return response


@router.get("/users")
async def users_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """Network users with their groups and state (never a password or enable secret)."""
    return await _users_page(console, request, session)


@router.post("/users")
async def user_add(
    post: AdminPost,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Secret = "",
    groups: Text = "",
    enable_secret: Secret = "",
) -> Response:
    async def create() -> None:
        user = UserCreate(
            name=name,
            password=password,
            groups=split_list(groups),
            enable_secret=enable_secret or None,
        )
        box = post.console.secret_box()
        admin = post.principal.name
        await changes.create_user(post.session, admin=admin, user=user, box=box, create_groups=True)

    values = {"name": name, "groups": groups}
    again = post.again(_users_page)
    shown = await forms.created(create, again, values=values, value_field="groups")
    return shown or RedirectResponse("/users", status_code=303)


@router.post("/users/{name}")
async def user_edit(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    enabled: Annotated[str, Form(max_length=8)] = "",
    groups: Text = "",
    password: Secret = "",
) -> Response:
    """Set enabled and the groups (new ones are created); a non-blank password replaces it."""
    values = {"groups": groups, "enabled": bool(enabled)}
    form = f"edit-{name}"
    try:
        update = UserUpdate(
            enabled=bool(enabled), groups=split_list(groups), password=password or None
        )
        await changes.update_user(
            session,
            admin=principal.name,
            name=name,
            update=update,
            box=console.secret_box(),
            create_groups=True,
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValidationError as exc:
        error = _error(form, field_errors(exc), values)
        return await _users_page(console, request, session, error=error, status=422)
    except ValueError as exc:
        error = _error(form, {"groups": str(exc)}, values)
        return await _users_page(console, request, session, error=error, status=422)
    if not update.enabled and console.dynauth is not None:  # RFC 5176: end its sessions
        console.dynauth.schedule("user_changed", name, trigger="user-disabled")
    return RedirectResponse("/users", status_code=303)


async def _deleted(removal: Awaitable[None], back: str) -> Response:
    """Run a crud deletion; back to the list page, or the 404 page for an unknown name."""
    try:
        await removal
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return RedirectResponse(back, status_code=303)


@router.post("/users/{name}/delete")
async def user_delete(principal: CurrentAdmin, session: SessionDep, name: Name) -> Response:
    return await _deleted(changes.delete_user(session, admin=principal.name, name=name), "/users")


# --- NAS clients ---------------------------------------------------------------------------


async def _clients_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    created: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    clients = await crud.list_clients(session)
    response: Response = page(
        console,
        request,
        "clients.html",
        {
            "clients": clients,
            "vendors": VENDORS,
            "modes": AUTO_YES_NO,
            "error": error,
            "created": created,
        },
        status_code=status,
    )
    return response


@router.get("/clients")
async def clients_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """NAS clients (network devices); secrets never shown, only whether a TACACS+ key is set."""
    return await _clients_page(console, request, session)


@router.post("/clients")
async def client_add(
    post: AdminPost,
    name: Annotated[str, Form(max_length=128)] = "",
    addresses: Text = "",
    vendor: Annotated[str, Form(max_length=32)] = "generic",
    device_group: Annotated[str, Form(max_length=128)] = "",
    location: Annotated[str, Form(max_length=128)] = "",
    require_message_authenticator: Annotated[str, Form(max_length=8)] = "auto",
    tacacs_key: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A new client; its RADIUS shared secret is generated and shown on this answer only."""
    values = {
        "name": name,
        "addresses": addresses,
        "vendor": vendor,
        "device_group": device_group,
        "location": location,
        "require_message_authenticator": require_message_authenticator,
    }
    secret = new_secret()

    async def create() -> None:
        client = NasClientCreate(
            name=name,
            addresses=split_list(addresses),
            vendor=vendor,
            device_group=device_group,
            location=location,
            require_message_authenticator=require_message_authenticator,
            secret=secret,
            tacacs_key=tacacs_key or None,
        )
        box = post.console.secret_box()
        await changes.create_client(post.session, admin=post.principal.name, client=client, box=box)

    shown = await forms.created(create, post.again(_clients_page), values=values)
    created = {"name": name, "secret": secret, "what": "created"}
    return shown or await _clients_page(post.console, post.request, post.session, created=created)


@router.post("/clients/{name}/rotate-secret")
async def client_rotate(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
) -> Response:
    """A new generated RADIUS secret, shown once; the old one stops working."""
    secret = new_secret()
    try:
        await changes.update_client(
            session,
            admin=principal.name,
            name=name,
            update=NasClientUpdate(secret=secret),
            box=console.secret_box(),
        )
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    created = {"name": name, "secret": secret, "what": "rotated"}
    return await _clients_page(console, request, session, created=created)


@router.post("/clients/{name}/delete")
async def client_delete(principal: CurrentAdmin, session: SessionDep, name: Name) -> Response:
    removal = changes.delete_client(session, admin=principal.name, name=name)
    return await _deleted(removal, "/clients")


# --- endpoints -----------------------------------------------------------------------------


async def _endpoints_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    endpoints = await crud.list_endpoints(session)
    response: Response = page(
        console,
        request,
        "endpoints.html",
        {"endpoints": endpoints, "error": error},
        status_code=status,
    )
    return response


@router.get("/endpoints")
async def endpoints_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    return await _endpoints_page(console, request, session)


@router.post("/endpoints")
async def endpoint_add(
    post: OperatorPost,
    mac: Annotated[str, Form(max_length=64)] = "",
    profile: Annotated[str, Form(max_length=128)] = "",
    group: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A known endpoint by MAC (any notation: aa-bb-..., aabb.ccdd.eeff, aabbccddeeff)."""

    async def create() -> None:
        endpoint = EndpointCreate(mac=mac, profile=profile or None, group=group or None)
        await changes.create_endpoint(post.session, admin=post.principal.name, endpoint=endpoint)

    values = {"mac": mac, "profile": profile, "group": group}
    shown = await forms.created(create, post.again(_endpoints_page), values=values, key="mac")
    return shown or RedirectResponse("/endpoints", status_code=303)


@router.post("/endpoints/{mac}")
async def endpoint_edit(
    principal: CurrentOperator,
    console: ConsoleDep,
    session: SessionDep,
    mac: Mac,
    profile: Annotated[str, Form(max_length=128)] = "",
    group: Annotated[str, Form(max_length=128)] = "",
    blocked: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Set an endpoint's profile and group (blank: none) and, when ``blocked`` is "yes" or
    "no", whether it is blocked (blocking disconnects its live sessions, RFC 5176)."""
    if blocked not in ("", "yes", "no"):
        raise HTTPException(422, [{"loc": ["body", "blocked"], "msg": "must be yes or no"}])
    fields: dict[str, Any] = {"profile": profile or None, "group": group or None}
    if blocked:
        fields["blocked"] = blocked == "yes"
    update = EndpointUpdate(**fields)
    try:
        row = await changes.update_endpoint(session, admin=principal.name, mac=mac, update=update)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None
    if update.blocked and console.dynauth is not None:
        console.dynauth.schedule(
            "endpoint_changed", row.mac, trigger="endpoint-blocked", action="disconnect"
        )
    return RedirectResponse("/endpoints", status_code=303)


@router.post("/endpoints/{mac}/delete")
async def endpoint_delete(principal: CurrentOperator, session: SessionDep, mac: Mac) -> Response:
    try:
        await changes.delete_endpoint(session, admin=principal.name, mac=mac)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, [{"loc": ["path", "mac"], "msg": str(exc)}]) from None
    return RedirectResponse("/endpoints", status_code=303)
