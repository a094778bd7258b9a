"""The policy pages: the current policy with its rules (admins edit the authorization rules,
each change a new version), the versions with their diffs and rollback, and "what if"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from nac.db import crud
from policy.rules import PolicySnapshot
from web import policy_doc
from web.deps import ConsoleDep, CurrentAdmin, CurrentAuditor, SessionDep, page
from web.forms import AdminPost, FormPost
from web.policy_doc import Current, EditError, WhatIf, WhatIfAnswer

router = APIRouter(include_in_schema=False)
SetIndex = Annotated[int, Path(ge=0, le=1000)]
RuleIndex = Annotated[int, Path(ge=0, le=100_000)]
Base = Annotated[int | None, Form(ge=0)]
Edit = Callable[[dict[str, Any]], policy_doc.Edited]


def _words(condition: Any) -> str:
    return "always" if condition is None else str(condition.describe())


def _view(current: Current, snapshot: PolicySnapshot | None) -> list[dict[str, Any]]:
    """The policy sets for the template: raw document fields for the forms, words from the
    compiled snapshot (absent when the stored document does not compile)."""
    sets = []
    raw_sets = current.document.get("policy_sets", [])
    for s, raw in enumerate(raw_sets if isinstance(raw_sets, list) else []):
        ps = snapshot.policy_sets[s] if snapshot is not None else None
        authn = []
        for k, rule in enumerate(raw.get("authentication", [])):
            compiled = ps.authentication[k] if ps is not None else None
            authn.append(
                {
                    "name": rule.get("name"),
                    "words": _words(compiled.condition) if compiled else "",
                    "source": rule.get("identity_source"),
                    "state": rule.get("state", "enabled"),
                }
            )
        authz = []
        for k, rule in enumerate(raw.get("authorization", [])):
            compiled_z = ps.authorization[k] if ps is not None else None
            condition = rule.get("condition")
            authz.append(
                {
                    "index": k,
                    "name": rule.get("name"),
                    "words": _words(compiled_z.condition) if compiled_z else "",
                    "result": rule.get("result"),
                    "summary": compiled_z.profile.summary() if compiled_z else "",
                    "state": rule.get("state", "enabled"),
                    "condition": json.dumps(condition) if condition is not None else "",
                }
            )
        sets.append(
            {
                "index": s,
                "name": raw.get("name"),
                "description": raw.get("description", ""),
                "state": raw.get("state", "enabled"),
                "words": _words(ps.condition) if ps is not None else "",
                "authentication": authn,
                "authorization": authz,
                "default_result": raw.get("default_result"),
            }
        )
    return sets


async def _policy_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    current, snapshot, broken = await policy_doc.load_compiled(session)
    summaries: dict[str, dict[str, str]] = {"results": {}, "shell": {}, "commands": {}}
    if snapshot is not None:
        summaries["results"] = {n: p.summary() for n, p in snapshot.results.items()}
        summaries["shell"] = {n: p.summary() for n, p in snapshot.shell_profiles.items()}
        summaries["commands"] = {n: c.summary() for n, c in snapshot.command_sets.items()}
    results = current.document.get("results", {})
    response: Response = page(
        console,
        request,
        "policy.html",
        {
            "current": current,
            "sets": _view(current, snapshot),
            "summaries": summaries,
            "result_names": sorted(results) if isinstance(results, dict) else [],
            "states": policy_doc.STATES,
            "broken": broken,
            "error": error,
        },
        status_code=status,
    )
    return response


async def _apply(
    post: FormPost,
    *,
    base: int | None,
    change: Edit,
    form: str,
    values: dict[str, Any] | None = None,
) -> Response:
    """Make ``change`` to the current document as a new version, or show the page again with
    the error beside the form field it is about."""
    session = post.session
    try:
        current = await policy_doc.load_current(session)
        policy_doc.check_base(current, base)
        document, comment, path = change(current.document)
        if document == current.document:  # nothing changed: no new version
            return RedirectResponse("/policy", status_code=303)
        await policy_doc.store(
            session, document=document, author=post.principal.name, comment=comment, rule_path=path
        )
    except EditError as exc:
        if exc.status == 404:
            raise HTTPException(404, exc.message) from None
        await session.rollback()
        error = {"form": form, "field": exc.field, "message": str(exc), "values": values or {}}
        return await _policy_page(
            post.console, post.request, session, error=error, status=exc.status
        )
    return RedirectResponse("/policy", status_code=303)


@router.get("/policy")
async def policy_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """The current policy: sets, rules in order, results, shell profiles, command sets."""
    return await _policy_page(console, request, session)


@router.post("/policy/sets/{s}/rules")
async def rule_add(
    post: AdminPost,
    s: SetIndex,
    name: Annotated[str, Form(max_length=64)] = "",
    condition: Annotated[str, Form(max_length=20_000)] = "",
    result: Annotated[str, Form(max_length=64)] = "",
    position: Annotated[int | None, Form(ge=1)] = None,
    base: Base = None,
) -> Response:
    """A new authorization rule at ``position`` (1-based; default: last)."""

    def change(document: dict[str, Any]) -> policy_doc.Edited:
        return policy_doc.add(
            document, s, name=name, condition=condition, result=result, position=position
        )

    values = {"name": name, "condition": condition, "result": result}
    return await _apply(
        post,
        base=base,
        change=change,
        form=f"new-{s}",
        values=values,
    )


@router.post("/policy/sets/{s}/rules/{r}")
async def rule_edit(
    post: AdminPost,
    s: SetIndex,
    r: RuleIndex,
    name: Annotated[str, Form(max_length=64)] = "",
    condition: Annotated[str, Form(max_length=20_000)] = "",
    result: Annotated[str, Form(max_length=64)] = "",
    base: Base = None,
) -> Response:
    """Change a rule's name, condition (JSON; blank: always) and result."""

    def change(document: dict[str, Any]) -> policy_doc.Edited:
        return policy_doc.edit(document, s, r, name=name, condition=condition, result=result)

    values = {"name": name, "condition": condition, "result": result}
    return await _apply(
        post,
        base=base,
        change=change,
        form=f"edit-{s}-{r}",
        values=values,
    )


@router.post("/policy/sets/{s}/rules/{r}/move")
async def rule_move(
    post: AdminPost,
    s: SetIndex,
    r: RuleIndex,
    direction: Annotated[str, Form(max_length=8)] = "",
    base: Base = None,
) -> Response:
    """Move a rule one place up or down (the first matching enabled rule decides)."""
    return await _apply(
        post,
        base=base,
        change=lambda document: policy_doc.move(document, s, r, direction),
        form=f"rule-{s}-{r}",
    )


@router.post("/policy/sets/{s}/rules/{r}/state")
async def rule_state(
    post: AdminPost,
    s: SetIndex,
    r: RuleIndex,
    state: Annotated[str, Form(max_length=16)] = "",
    base: Base = None,
) -> Response:
    """Enable, disable, or monitor (evaluate and count, never apply) a rule."""
    return await _apply(
        post,
        base=base,
        change=lambda document: policy_doc.set_state(document, s, r, state),
        form=f"rule-{s}-{r}",
    )


@router.post("/policy/sets/{s}/rules/{r}/delete")
async def rule_delete(
    post: AdminPost,
    s: SetIndex,
    r: RuleIndex,
    base: Base = None,
) -> Response:
    return await _apply(
        post,
        base=base,
        change=lambda document: policy_doc.delete(document, s, r),
        form=f"rule-{s}-{r}",
    )


@router.get("/policy/versions")
async def versions_page(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    rows = await crud.list_policy_versions(session, limit=200)
    response: Response = page(console, request, "policy_versions.html", {"rows": rows})
    return response


@router.get("/policy/versions/{n}")
async def version_page(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    n: Annotated[int, Path(ge=1)],
) -> Response:
    """One version: who, when, why, and the diff against the version before it."""
    row = await crud.get_policy(session, version=n)
    if row is None:
        raise HTTPException(404, f"no policy version {n}")
    before = await crud.get_policy_before(session, version=n)
    current = await crud.get_policy(session)
    response: Response = page(
        console,
        request,
        "policy_version.html",
        {
            "row": row,
            "before": before,
            "diff": policy_doc.diff(before, row),
            "is_current": current is not None and current.version == row.version,
        },
    )
    return response


@router.post("/policy/versions/{n}/rollback")
async def version_rollback(
    principal: CurrentAdmin,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    n: Annotated[int, Path(ge=1)],
) -> Response:
    """Store version ``n`` again as a new version."""
    try:
        version = await policy_doc.rollback(session, version=n, author=principal.name)
    except EditError as exc:
        if exc.status == 404:
            raise HTTPException(404, exc.message) from None
        raise HTTPException(exc.status, f"version {n} cannot be used now: {exc}") from None
    return RedirectResponse(f"/policy/versions/{version}", status_code=303)


async def _whatif_page(
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    *,
    form: dict[str, Any],
    answer: WhatIfAnswer | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows = await crud.list_policy_versions(session, limit=200)
    response: Response = page(
        console,
        request,
        "policy_whatif.html",
        {"form": form, "answer": answer, "errors": errors or {}, "versions": rows},
        status_code=status,
    )
    return response


_WHATIF_DEFAULTS: dict[str, Any] = {
    name: field.default if field.default is not None else ""
    for name, field in WhatIf.model_fields.items()
    if name != "groups"
} | {"groups": "", "version": ""}


@router.get("/policy/whatif")
async def whatif_form(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    return await _whatif_page(console, request, session, form=dict(_WHATIF_DEFAULTS))


@router.post("/policy/whatif")
async def whatif_run(
    _: CurrentAuditor, console: ConsoleDep, request: Request, session: SessionDep
) -> Response:
    """Evaluate the form's request; nothing is stored (POST only to keep the form off URLs)."""
    data = await request.form()
    form = dict(_WHATIF_DEFAULTS)
    for key in form:
        value = data.get(key)
        if isinstance(value, str):
            form[key] = value[:2048]
    values: dict[str, Any] = {k: v for k, v in form.items() if k not in ("groups", "version")}
    values["groups"] = policy_doc.split_groups(form["groups"])
    values["version"] = form["version"].strip() or None
    try:
        answer = await policy_doc.what_if_in(session, WhatIf.model_validate(values))
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors() if e.get("loc")}
        return await _whatif_page(console, request, session, form=form, errors=errors, status=422)
    except EditError as exc:
        errors = {exc.field or "version": exc.message}
        status = 422 if exc.status == 404 else exc.status
        return await _whatif_page(
            console, request, session, form=form, errors=errors, status=status
        )
    return await _whatif_page(console, request, session, form=form, answer=answer)
