"""TACACS+ command sets and shell profiles under /api/v1/tacacs: read (auditor), create,
replace and delete (admin). Each change stores a new policy version; ``base_version`` refuses
(409) a change made on a stale read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.security import HTTPBearer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from web import policy_doc, tacacs_doc
from web.deps import CurrentAdmin, CurrentAuditor, SessionDep
from web.policy_doc import EditError
from web.routes.api import ERRORS
from web.schemas import Problem
from web.tacacs_doc import CommandSetIn, CommandSetNew, Kind, ShellProfileIn, ShellProfileNew

_BEARER = HTTPBearer(auto_error=False, description="An API token from /tokens")
router = APIRouter(
    prefix="/api/v1/tacacs", tags=["tacacs"], responses=ERRORS, dependencies=[Depends(_BEARER)]
)
Name = Annotated[str, Path(max_length=64)]
BaseVersion = Annotated[
    int | None, Query(ge=0, description="Refuse (409) unless this is still the current version")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
_CHANGE: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "Exists already, still used, or a stale base_version"},
    422: {"model": Problem, "description": "The policy would not compile (detail names the field)"},
}


class CommandSetOut(CommandSetNew):
    version: int  # the policy version it was read from
    summary: str
    used_by: list[str]  # results that name it


class ShellProfileOut(ShellProfileNew):
    version: int
    summary: str
    used_by: list[str]


def _problem(exc: EditError) -> HTTPException:
    if exc.status != 422:
        return HTTPException(exc.status, exc.message)
    where = exc.path or exc.field
    detail = [{"loc": ["body", where] if where else ["body"], "msg": exc.message, "type": "policy"}]
    return HTTPException(422, detail)


async def _read(session: AsyncSession, kind: Kind) -> list[Any]:
    current, snapshot, broken = await policy_doc.load_compiled(session)
    if snapshot is None:
        raise HTTPException(409, f"the stored policy does not compile: {broken}")
    doc = current.document
    out: list[Any] = []
    for name, entry in sorted(tacacs_doc.section(doc, kind).items()):
        used_by = tacacs_doc.users_of(doc, kind, name)
        data = {**entry, "name": name, "version": current.version, "used_by": used_by}
        try:
            if kind == "command_sets":
                data["summary"] = snapshot.command_sets[name].summary()
                out.append(CommandSetOut.model_validate(data))
            else:
                data["summary"] = snapshot.shell_profiles[name].summary()
                out.append(ShellProfileOut.model_validate(data))
        except ValidationError as exc:  # a stored entry the API shapes cannot carry
            raise HTTPException(409, f"{kind}.{name} cannot be shown: {exc}") from None
    return out


async def _one(session: AsyncSession, kind: Kind, name: str) -> Any:
    for item in await _read(session, kind):
        if item.name == name:
            return item
    raise HTTPException(404, f"no {tacacs_doc.WORDS[kind]} {name!r}")


async def _change(
    principal: CurrentAdmin,
    session: AsyncSession,
    kind: Kind,
    name: str,
    entry: dict[str, Any] | None,
    *,
    create: bool,
    base: int | None,
) -> None:
    try:
        current = await policy_doc.load_current(session)
        if entry is None:
            made = tacacs_doc.remove(current.document, kind, name)
        else:
            made = tacacs_doc.put(current.document, kind, name, entry, create=create)
        if made[0] != current.document:
            await tacacs_doc.save(
                session, current=current, change=made, kind=kind, author=principal.name, base=base
            )
    except EditError as exc:
        raise _problem(exc) from None


# --- command sets ------------------------------------------------------------------------------


@router.get("/command-sets")
async def command_sets(_: CurrentAuditor, session: SessionDep) -> list[CommandSetOut]:
    """The command sets of the current policy, with the results that use them."""
    return await _read(session, "command_sets")


@router.get("/command-sets/{name}", responses=_NOT_FOUND)
async def command_set(_: CurrentAuditor, session: SessionDep, name: Name) -> CommandSetOut:
    out: CommandSetOut = await _one(session, "command_sets", name)
    return out


@router.post("/command-sets", status_code=201, responses=_CHANGE)
async def command_set_create(
    principal: CurrentAdmin,
    session: SessionDep,
    body: CommandSetNew,
    base_version: BaseVersion = None,
) -> CommandSetOut:
    """A new command set, stored as a new policy version."""
    entry = tacacs_doc.command_set_entry(body)
    await _change(
        principal, session, "command_sets", body.name, entry, create=True, base=base_version
    )
    out: CommandSetOut = await _one(session, "command_sets", body.name.strip())
    return out


@router.put("/command-sets/{name}", responses=_CHANGE)
async def command_set_replace(
    principal: CurrentAdmin,
    session: SessionDep,
    name: Name,
    body: CommandSetIn,
    base_version: BaseVersion = None,
) -> CommandSetOut:
    """Replace a command set (its name stays), as a new policy version."""
    entry = tacacs_doc.command_set_entry(body)
    await _change(principal, session, "command_sets", name, entry, create=False, base=base_version)
    out: CommandSetOut = await _one(session, "command_sets", name)
    return out


@router.delete("/command-sets/{name}", status_code=204, responses=_CHANGE)
async def command_set_delete(
    principal: CurrentAdmin, session: SessionDep, name: Name, base_version: BaseVersion = None
) -> None:
    """Delete a command set no result uses (409 names the results that do)."""
    await _change(principal, session, "command_sets", name, None, create=False, base=base_version)


# --- shell profiles ----------------------------------------------------------------------------


@router.get("/shell-profiles")
async def shell_profiles(_: CurrentAuditor, session: SessionDep) -> list[ShellProfileOut]:
    """The shell profiles of the current policy, with the results that use them."""
    return await _read(session, "shell_profiles")


@router.get("/shell-profiles/{name}", responses=_NOT_FOUND)
async def shell_profile(_: CurrentAuditor, session: SessionDep, name: Name) -> ShellProfileOut:
    out: ShellProfileOut = await _one(session, "shell_profiles", name)
    return out


@router.post("/shell-profiles", status_code=201, responses=_CHANGE)
async def shell_profile_create(
    principal: CurrentAdmin,
    session: SessionDep,
    body: ShellProfileNew,
    base_version: BaseVersion = None,
) -> ShellProfileOut:
    """A new shell profile, stored as a new policy version."""
    entry = tacacs_doc.shell_profile_entry(body)
    await _change(
        principal, session, "shell_profiles", body.name, entry, create=True, base=base_version
    )
    out: ShellProfileOut = await _one(session, "shell_profiles", body.name.strip())
    return out


@router.put("/shell-profiles/{name}", responses=_CHANGE)
async def shell_profile_replace(
    principal: CurrentAdmin,
    session: SessionDep,
    name: Name,
    body: ShellProfileIn,
    base_version: BaseVersion = None,
) -> ShellProfileOut:
    """Replace a shell profile (its name stays), as a new policy version."""
    entry = tacacs_doc.shell_profile_entry(body)
    await _change(
        principal, session, "shell_profiles", name, entry, create=False, base=base_version
    )
    out: ShellProfileOut = await _one(session, "shell_profiles", name)
    return out


@router.delete("/shell-profiles/{name}", status_code=204, responses=_CHANGE)
async def shell_profile_delete(
    principal: CurrentAdmin, session: SessionDep, name: Name, base_version: BaseVersion = None
) -> None:
    """Delete a shell profile no result uses (409 names the results that do)."""
    await _change(principal, session, "shell_profiles", name, None, create=False, base=base_version)
