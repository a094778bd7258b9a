"""TACACS+ command sets and shell profiles on the console: auditors read, admins add, edit and
delete them; every change is a new policy version (with its author and comment, and the diff
on the versions page), and errors are shown beside the form field they are about."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from policy.errors import PolicyError
from policy.rules import PolicySnapshot
from web import policy_doc, tacacs_doc
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, SessionDep, page
from web.policy_doc import Current, EditError
from web.tacacs_doc import CommandSetIn, Kind, ShellProfileIn

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(max_length=64)]
Base = Annotated[int | None, Form(ge=0)]
Short = Annotated[str, Form(max_length=64)]
Text = Annotated[str, Form(max_length=1024)]
Lines = Annotated[str, Form(max_length=200_000)]


def _view(current: Current, snapshot: PolicySnapshot | None) -> dict[str, Any]:
    doc = current.document
    sets = []
    for name, entry in sorted(tacacs_doc.section(doc, "command_sets").items()):
        compiled = snapshot.command_sets.get(name) if snapshot is not None else None
        sets.append(
            {
                "name": name,
                "description": entry.get("description", ""),
                "default": entry.get("default", "deny"),
                "case_insensitive": bool(entry.get("case_insensitive", False)),
                "rules": tacacs_doc.rules_text(entry),
                "summary": compiled.summary() if compiled is not None else "",
                "used_by": tacacs_doc.users_of(doc, "command_sets", name),
            }
        )
    shells = []
    for name, entry in sorted(tacacs_doc.section(doc, "shell_profiles").items()):
        compiled_s = snapshot.shell_profiles.get(name) if snapshot is not None else None
        shells.append(
            {
                "name": name,
                "description": entry.get("description", ""),
                "priv_lvl": entry.get("priv_lvl", ""),
                "timeout": entry.get("timeout", ""),
                "idle_timeout": entry.get("idle_timeout", ""),
                "autocmd": entry.get("autocmd", ""),
                "custom": tacacs_doc.custom_text(entry),
                "summary": compiled_s.summary() if compiled_s is not None else "",
                "used_by": tacacs_doc.users_of(doc, "shell_profiles", name),
            }
        )
    return {"command_sets": sets, "shell_profiles": shells}


async def _tacacs_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    current = await policy_doc.load_current(session)
    snapshot: PolicySnapshot | None = None
    broken = ""
    try:
        snapshot = policy_doc.validate(current.document)
    except PolicyError as exc:
        broken = str(exc)
    response: Response = page(
        console,
        request,
        "tacacs.html",
        {"current": current, "broken": broken, "error": error, **_view(current, snapshot)},
        status_code=status,
    )
    return response


async def _apply(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    kind: Kind,
    base: int | None,
    change: Callable[[dict[str, Any]], tacacs_doc.Change],
    form: str,
    values: dict[str, Any],
) -> Response:
    try:
        current = await policy_doc.load_current(session)
        made = change(current.document)
        if made[0] == current.document:
            return RedirectResponse("/tacacs", status_code=303)
        await tacacs_doc.save(
            session, current=current, change=made, kind=kind, author=principal.name, base=base
        )
    except ValidationError as exc:
        await session.rollback()
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        error = {"form": form, "field": field, "message": first["msg"], "values": values}
        return await _tacacs_page(console, request, session, error=error, status=422)
    except EditError as exc:
        if exc.status == 404:
            raise HTTPException(404, exc.message) from None
        await session.rollback()
        message = exc.message if exc.field else str(exc)
        error = {"form": form, "field": exc.field, "message": message, "values": values}
        return await _tacacs_page(console, request, session, error=error, status=exc.status)
    return RedirectResponse(f"/tacacs#{form}", status_code=303)


@router.get("/tacacs")
async def tacacs_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """TACACS+ command sets and shell profiles of the current policy, and which results use
    them."""
    return await _tacacs_page(console, request, session)


# --- command sets ----------------------------------------------------------------------------


def _command_set(default: str, case_insensitive: str, description: str, rules: str) -> CommandSetIn:
    if default not in ("permit", "deny"):
        raise EditError("default", "permit or deny")
    return CommandSetIn(
        description=description.strip(),
        default=default,  # type: ignore[arg-type]
        case_insensitive=bool(case_insensitive),
        rules=tacacs_doc.parse_rules(rules),
    )


@router.post("/tacacs/command-sets")
async def command_set_add(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Short = "",
    description: Text = "",
    default: Annotated[str, Form(max_length=8)] = "deny",
    case_insensitive: Annotated[str, Form(max_length=8)] = "",
    rules: Lines = "",
    base: Base = None,
) -> Response:
    """A new command set (rules one per line: ``permit show .*``)."""

    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        data = _command_set(default, case_insensitive, description, rules)
        entry = tacacs_doc.command_set_entry(data)
        return tacacs_doc.put(document, "command_sets", name, entry, create=True)

    values: dict[str, Any] = {"name": name, "description": description, "default": default}
    values["rules"] = rules
    values["case_insensitive"] = bool(case_insensitive)
    return await _apply(
        principal,
        console,
        request,
        session,
        kind="command_sets",
        base=base,
        change=change,
        form="new-command-set",
        values=values,
    )


@router.post("/tacacs/command-sets/{name}")
async def command_set_edit(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    description: Text = "",
    default: Annotated[str, Form(max_length=8)] = "deny",
    case_insensitive: Annotated[str, Form(max_length=8)] = "",
    rules: Lines = "",
    base: Base = None,
) -> Response:
    """Replace a command set's description, default, case sensitivity and rules."""

    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        data = _command_set(default, case_insensitive, description, rules)
        entry = tacacs_doc.command_set_entry(data)
        return tacacs_doc.put(document, "command_sets", name, entry, create=False)

    values: dict[str, Any] = {"description": description, "default": default, "rules": rules}
    values["case_insensitive"] = bool(case_insensitive)
    return await _apply(
        principal,
        console,
        request,
        session,
        kind="command_sets",
        base=base,
        change=change,
        form=f"cs-{name}",
        values=values,
    )


@router.post("/tacacs/command-sets/{name}/delete")
async def command_set_delete(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    base: Base = None,
) -> Response:
    """Delete a command set no result uses."""
    return await _apply(
        principal,
        console,
        request,
        session,
        kind="command_sets",
        base=base,
        change=lambda document: tacacs_doc.remove(document, "command_sets", name),
        form=f"cs-{name}",
        values={},
    )


# --- shell profiles --------------------------------------------------------------------------


def _shell_profile(
    description: str, priv_lvl: str, timeout: str, idle_timeout: str, autocmd: str, custom: str
) -> ShellProfileIn:
    return ShellProfileIn(
        description=description.strip(),
        priv_lvl=tacacs_doc.priv_lvl(priv_lvl),
        timeout=tacacs_doc.minutes("timeout", timeout),
        idle_timeout=tacacs_doc.minutes("idle_timeout", idle_timeout),
        autocmd=autocmd.strip() or None,
        custom=tacacs_doc.parse_custom(custom),
    )


@router.post("/tacacs/shell-profiles")
async def shell_profile_add(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Short = "",
    description: Text = "",
    priv_lvl: Annotated[str, Form(max_length=8)] = "",
    session_timeout: Annotated[str, Form(alias="timeout", max_length=16)] = "",
    idle_timeout: Annotated[str, Form(max_length=16)] = "",
    autocmd: Annotated[str, Form(max_length=255)] = "",
    custom: Lines = "",
    base: Base = None,
) -> Response:
    """A new shell profile (custom arguments one per line: ``attr=value`` or ``attr*value``)."""
    values = {
        "name": name,
        "description": description,
        "priv_lvl": priv_lvl,
        "timeout": session_timeout,
        "idle_timeout": idle_timeout,
        "autocmd": autocmd,
        "custom": custom,
    }

    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        data = _shell_profile(description, priv_lvl, session_timeout, idle_timeout, autocmd, custom)
        entry = tacacs_doc.shell_profile_entry(data)
        return tacacs_doc.put(document, "shell_profiles", name, entry, create=True)

    return await _apply(
        principal,
        console,
        request,
        session,
        kind="shell_profiles",
        base=base,
        change=change,
        form="new-shell-profile",
        values=values,
    )


@router.post("/tacacs/shell-profiles/{name}")
async def shell_profile_edit(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    description: Text = "",
    priv_lvl: Annotated[str, Form(max_length=8)] = "",
    session_timeout: Annotated[str, Form(alias="timeout", max_length=16)] = "",
    idle_timeout: Annotated[str, Form(max_length=16)] = "",
    autocmd: Annotated[str, Form(max_length=255)] = "",
    custom: Lines = "",
    base: Base = None,
) -> Response:
    """Replace a shell profile's fields."""
    values = {
        "description": description,
        "priv_lvl": priv_lvl,
        "timeout": session_timeout,
        "idle_timeout": idle_timeout,
        "autocmd": autocmd,
        "custom": custom,
    }

    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        data = _shell_profile(description, priv_lvl, session_timeout, idle_timeout, autocmd, custom)
        entry = tacacs_doc.shell_profile_entry(data)
        return tacacs_doc.put(document, "shell_profiles", name, entry, create=False)

    return await _apply(
        principal,
        console,
        request,
        session,
        kind="shell_profiles",
        base=base,
        change=change,
        form=f"sp-{name}",
        values=values,
    )


@router.post("/tacacs/shell-profiles/{name}/delete")
async def shell_profile_delete(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    name: Name,
    base: Base = None,
) -> Response:
    """Delete a shell profile no result uses."""
    return await _apply(
        principal,
        console,
        request,
        session,
        kind="shell_profiles",
        base=base,
        change=lambda document: tacacs_doc.remove(document, "shell_profiles", name),
        form=f"sp-{name}",
        values={},
    )
