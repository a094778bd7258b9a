"""TACACS+ command sets and shell profiles on the console: auditors read, admins add, edit and
delete them; every change is a new policy version (with its author and comment, and the diff
on the versions page), and errors are shown beside the form field they are about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from policy.rules import PolicySnapshot
from web import policy_doc, tacacs_doc
from web.deps import ConsoleDep, CurrentAuditor, SessionDep, page
from web.forms import AdminPost, FormPost
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
    current, snapshot, broken = await policy_doc.load_compiled(session)
    response: Response = page(
        console,
        request,
        "tacacs.html",
        {"current": current, "broken": broken, "error": error, **_view(current, snapshot)},
        status_code=status,
    )
    return response


async def _apply(
    post: FormPost,
    *,
    kind: Kind,
    base: int | None,
    change: Callable[[dict[str, Any]], tacacs_doc.Change],
    form: str,
    values: dict[str, Any],
) -> Response:
    session = post.session
    try:
        current = await policy_doc.load_current(session)
        made = change(current.document)
        if made[0] == current.document:
            return RedirectResponse("/tacacs", status_code=303)
        author = post.principal.name
        await tacacs_doc.save(
            session, current=current, change=made, kind=kind, author=author, base=base
        )
    except ValidationError as exc:
        await session.rollback()
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        error = {"form": form, "field": field, "message": first["msg"], "values": values}
        return await _tacacs_page(post.console, post.request, session, error=error, status=422)
    except EditError as exc:
        if exc.status == 404:
            raise HTTPException(404, exc.message) from None
        await session.rollback()
        message = exc.message if exc.field else str(exc)
        error = {"form": form, "field": exc.field, "message": message, "values": values}
        return await _tacacs_page(
            post.console, post.request, session, error=error, status=exc.status
        )
    return RedirectResponse(f"/tacacs#{form}", status_code=303)


async def _put(
    post: FormPost,
    kind: Kind,
    name: str,
    fields: _Fields,
    *,
    create: bool,
    base: int | None,
    form: str,
) -> Response:
    """Add (``create``) or replace the ``kind`` entry ``name`` with what the form's fields
    make (their errors are shown beside the field, as the policy's are)."""

    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        return tacacs_doc.put(document, kind, name, fields.entry(), create=create)

    values = {"name": name, **fields.values()} if create else fields.values()
    return await _apply(post, kind=kind, base=base, change=change, form=form, values=values)


async def _delete(
    post: FormPost, kind: Kind, name: str, *, base: int | None, form: str
) -> Response:
    def change(document: dict[str, Any]) -> tacacs_doc.Change:
        return tacacs_doc.remove(document, kind, name)

    return await _apply(post, kind=kind, base=base, change=change, form=form, values={})


@router.get("/tacacs")
async def tacacs_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """TACACS+ command sets and shell profiles of the current policy, and which results use
    them."""
    return await _tacacs_page(console, request, session)


# --- command sets ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fields:
    """A form's fields as posted (text), made into a policy entry by ``entry``."""

    def entry(self) -> dict[str, Any]:
        raise NotImplementedError

    def values(self) -> dict[str, Any]:
        """What the form shows again beside an error (the field names of the template)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _CommandSetForm(_Fields):
    description: str
    default: str
    case_insensitive: str
    rules: str

    def entry(self) -> dict[str, Any]:
        if self.default not in ("permit", "deny"):
            raise EditError("default", "permit or deny")
        data = CommandSetIn(
            description=self.description.strip(),
            default=self.default,  # type: ignore[arg-type]
            case_insensitive=bool(self.case_insensitive),
            rules=tacacs_doc.parse_rules(self.rules),
        )
        return tacacs_doc.command_set_entry(data)

    def values(self) -> dict[str, Any]:
        return {**_Fields.values(self), "case_insensitive": bool(self.case_insensitive)}


def _command_set_form(
    description: Text = "",
    default: Annotated[str, Form(max_length=8)] = "deny",
    case_insensitive: Annotated[str, Form(max_length=8)] = "",
    rules: Lines = "",
) -> _CommandSetForm:
    return _CommandSetForm(description, default, case_insensitive, rules)


CommandSetForm = Annotated[_CommandSetForm, Depends(_command_set_form)]


@router.post("/tacacs/command-sets")
async def command_set_add(
    post: AdminPost,
    fields: CommandSetForm,
    name: Short = "",
    base: Base = None,
) -> Response:
    """A new command set (rules one per line: ``permit show .*``)."""
    return await _put(
        post, "command_sets", name, fields, create=True, base=base, form="new-command-set"
    )


@router.post("/tacacs/command-sets/{name}")
async def command_set_edit(
    post: AdminPost,
    name: Name,
    fields: CommandSetForm,
    base: Base = None,
) -> Response:
    """Replace a command set's description, default, case sensitivity and rules."""
    return await _put(
        post, "command_sets", name, fields, create=False, base=base, form=f"cs-{name}"
    )


@router.post("/tacacs/command-sets/{name}/delete")
async def command_set_delete(
    post: AdminPost,
    name: Name,
    base: Base = None,
) -> Response:
    """Delete a command set no result uses."""
    return await _delete(post, "command_sets", name, base=base, form=f"cs-{name}")


# --- shell profiles --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ShellProfileForm(_Fields):
    description: str
    priv_lvl: str
    timeout: str
    idle_timeout: str
    autocmd: str
    custom: str

    def entry(self) -> dict[str, Any]:
        data = ShellProfileIn(
            description=self.description.strip(),
            priv_lvl=tacacs_doc.priv_lvl(self.priv_lvl),
            timeout=tacacs_doc.minutes("timeout", self.timeout),
            idle_timeout=tacacs_doc.minutes("idle_timeout", self.idle_timeout),
            autocmd=self.autocmd.strip() or None,
            custom=tacacs_doc.parse_custom(self.custom),
        )
        return tacacs_doc.shell_profile_entry(data)


def _shell_profile_form(
    description: Text = "",
    priv_lvl: Annotated[str, Form(max_length=8)] = "",
    session_timeout: Annotated[str, Form(alias="timeout", max_length=16)] = "",
    idle_timeout: Annotated[str, Form(max_length=16)] = "",
    autocmd: Annotated[str, Form(max_length=255)] = "",
    custom: Lines = "",
) -> _ShellProfileForm:
    return _ShellProfileForm(description, priv_lvl, session_timeout, idle_timeout, autocmd, custom)


ShellProfileForm = Annotated[_ShellProfileForm, Depends(_shell_profile_form)]


@router.post("/tacacs/shell-profiles")
async def shell_profile_add(
    post: AdminPost,
    fields: ShellProfileForm,
    name: Short = "",
    base: Base = None,
) -> Response:
    """A new shell profile (custom arguments one per line: ``attr=value`` or ``attr*value``)."""
    return await _put(
        post, "shell_profiles", name, fields, create=True, base=base, form="new-shell-profile"
    )


@router.post("/tacacs/shell-profiles/{name}")
async def shell_profile_edit(
    post: AdminPost,
    name: Name,
    fields: ShellProfileForm,
    base: Base = None,
) -> Response:
    """Replace a shell profile's fields."""
    return await _put(
        post, "shell_profiles", name, fields, create=False, base=base, form=f"sp-{name}"
    )


@router.post("/tacacs/shell-profiles/{name}/delete")
async def shell_profile_delete(
    post: AdminPost,
    name: Name,
    base: Base = None,
) -> Response:
    """Delete a shell profile no result uses."""
    return await _delete(post, "shell_profiles", name, base=base, form=f"sp-{name}")
