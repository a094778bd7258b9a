"""The policy editor's logic, shared by the pages and the API: edits of the stored document (each
a new document, validated by `policy.compile.compile_policy`), the diff between versions, and
"what if" (a hand-made request evaluated against a compiled snapshot, no I/O)."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from nac.db import crud
from nac.db.defaults import default_policy
from nac.db.models import PolicyVersion
from nac.services import changes
from policy.compile import compile_policy
from policy.engine import evaluate, evaluate_device_admin
from policy.errors import PolicyError
from policy.mac import normalize_mac
from policy.model import (
    AccessContext,
    AuthnResult,
    AuthnStatus,
    Decision,
    EndpointInfo,
    Identity,
    NasInfo,
    ReasonCode,
)
from policy.rules import PolicySnapshot, RuleState

# The identity sources `nac.services.identity` knows: a rule naming another one is refused.
IDENTITY_SOURCES = frozenset({"internal_users", "endpoints"})
STATES = tuple(s.value for s in RuleState)


class EditError(Exception):
    """An edit that cannot be made: ``field`` names the form field (``name``, ``condition``,
    ``result``, or "" for the whole form), ``path`` the document path when compilation refused
    it, ``status`` the HTTP status to answer."""

    def __init__(self, field: str, message: str, *, path: str = "", status: int = 422) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.field = field
        self.message = message
        self.path = path
        self.status = status


@dataclass(frozen=True, slots=True)
class Current:
    """The current policy: version 0 is the built-in reject-everything default (none stored)."""

    version: int
    document: dict[str, Any]
    author: str = ""
    comment: str = ""
    created_at: datetime | None = None


def _current(row: PolicyVersion | None) -> Current:
    if row is None:
        return Current(0, default_policy(), "nac", "none stored: the built-in default")
    return Current(
        row.version, copy.deepcopy(row.document), row.author, row.comment, row.created_at
    )


async def load_current(session: AsyncSession) -> Current:
    return _current(await crud.get_policy(session))


async def load_version(session: AsyncSession, version: int) -> PolicyVersion | None:
    return await crud.get_policy(session, version=version)


def validate(document: Any) -> PolicySnapshot:
    """Compile ``document`` as the servers will (and with the known identity sources)."""
    return compile_policy(document, identity_sources=IDENTITY_SOURCES)


async def load_compiled(session: AsyncSession) -> tuple[Current, PolicySnapshot | None, str]:
    """The current policy, its compiled snapshot, and "" (or None and why it does not compile:
    the pages show a stored document that no longer compiles, they do not fail on it)."""
    current = await load_current(session)
    try:
        return current, validate(current.document), ""
    except PolicyError as exc:
        return current, None, str(exc)


def _field_of(path: str, prefix: str) -> str:
    """The form field a compile error at ``path`` belongs to, for a rule at ``prefix``."""
    if path.startswith(prefix):
        rest = path[len(prefix) :].lstrip(".")
        head = rest.split(".", 1)[0].split("[", 1)[0]
        if head in ("name", "condition", "result", "state"):
            return head
    return ""


async def store(
    session: AsyncSession,
    *,
    document: dict[str, Any],
    author: str,
    comment: str,
    rule_path: str = "",
    action: str = "update",
    entry: tuple[str, str, Any, Any] | None = None,
) -> int:
    """Validate ``document`` and store it as the next version (bumping the config version, so
    running servers swap it in at their next poll), with its admin change log entry (``entry``:
    see `nac.services.changes.set_policy`). Raises `EditError`."""
    try:
        validate(document)
    except PolicyError as exc:
        raise EditError(_field_of(exc.path, rule_path), exc.message, path=exc.path) from None
    return await changes.set_policy(
        session, admin=author, document=document, comment=comment, action=action, entry=entry
    )


def check_base(current: Current, base: int | None) -> None:
    """Refuse an edit made on a page showing another version than the current one."""
    if base is not None and base != current.version:
        raise EditError(
            "",
            f"the policy changed since this page was loaded (now version {current.version}); "
            "reload and try again",
            status=409,
        )


# --- edits of one policy set's authorization rules -------------------------------------------


def _rules(document: dict[str, Any], set_index: int) -> tuple[str, list[Any]]:
    sets = document.get("policy_sets")
    if not isinstance(sets, list) or not 0 <= set_index < len(sets):
        raise EditError("", f"no policy set {set_index}", status=404)
    ps = sets[set_index]
    rules = ps.get("authorization") if isinstance(ps, dict) else None
    if not isinstance(rules, list):
        raise EditError("", f"policy set {set_index} has no list of authorization rules")
    return str(ps.get("name", set_index)), rules


def _rule(rules: list[Any], index: int, set_name: str) -> dict[str, Any]:
    if not 0 <= index < len(rules) or not isinstance(rules[index], dict):
        raise EditError("", f"no authorization rule {index} in policy set {set_name}", status=404)
    rule: dict[str, Any] = rules[index]
    return rule


def rule_path(set_index: int, rule_index: int) -> str:
    return f"policy_sets[{set_index}].authorization[{rule_index}]"


def parse_condition(text: str) -> Any:
    """A condition typed as JSON; blank (or ``null``) means "always"."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EditError(
            "condition", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _rule_fields(name: str, condition: str, result: str) -> dict[str, Any]:
    name, result = name.strip(), result.strip()
    if not name:
        raise EditError("name", "required")
    if not result:
        raise EditError("result", "required")
    return {"name": name, "condition": parse_condition(condition), "result": result}


Edited = tuple[dict[str, Any], str, str]  # the new document, the comment, the rule's path


def move(document: dict[str, Any], s: int, r: int, direction: str) -> Edited:
    doc = copy.deepcopy(document)
    set_name, rules = _rules(doc, s)
    rule = _rule(rules, r, set_name)
    if direction not in ("up", "down"):
        raise EditError("direction", "must be up or down")
    to = r - 1 if direction == "up" else r + 1
    if not 0 <= to < len(rules):
        where = "first" if direction == "up" else "last"
        raise EditError("direction", f"rule {rule.get('name')} is already the {where}", status=400)
    rules[r], rules[to] = rules[to], rules[r]
    comment = (
        f"moved authorization rule {rule.get('name')} {direction} "
        f"(to position {to + 1}) in policy set {set_name}"
    )
    return doc, comment, rule_path(s, to)


def set_state(document: dict[str, Any], s: int, r: int, state: str) -> Edited:
    doc = copy.deepcopy(document)
    set_name, rules = _rules(doc, s)
    rule = _rule(rules, r, set_name)
    if state not in STATES:
        raise EditError("state", f"must be one of {', '.join(STATES)}")
    if state == RuleState.ENABLED:
        rule.pop("state", None)
    else:
        rule["state"] = state
    comment = f"set authorization rule {rule.get('name')} in policy set {set_name} to {state}"
    return doc, comment, rule_path(s, r)


def delete(document: dict[str, Any], s: int, r: int) -> Edited:
    doc = copy.deepcopy(document)
    set_name, rules = _rules(doc, s)
    rule = _rule(rules, r, set_name)
    del rules[r]
    return doc, f"deleted authorization rule {rule.get('name')} from policy set {set_name}", ""


def edit(
    document: dict[str, Any], s: int, r: int, *, name: str, condition: str, result: str
) -> Edited:
    doc = copy.deepcopy(document)
    set_name, rules = _rules(doc, s)
    rule = _rule(rules, r, set_name)
    new = _rule_fields(name, condition, result)
    changed = [k for k in ("name", "condition", "result") if rule.get(k) != new[k]]
    old_name = rule.get("name")
    rule.update(new)
    what = ", ".join(changed) if changed else "nothing"
    renamed = f" (now {new['name']})" if "name" in changed else ""
    comment = f"edited authorization rule {old_name}{renamed} in policy set {set_name}: {what}"
    return doc, comment, rule_path(s, r)


def add(
    document: dict[str, Any],
    s: int,
    *,
    name: str,
    condition: str,
    result: str,
    position: int | None = None,
) -> Edited:
    """The document with a new rule at 1-based ``position`` (default: last)."""
    doc = copy.deepcopy(document)
    set_name, rules = _rules(doc, s)
    new = _rule_fields(name, condition, result)
    if position is None:
        index = len(rules)
    elif 1 <= position <= len(rules) + 1:
        index = position - 1
    else:
        raise EditError("position", f"must be 1..{len(rules) + 1}")
    rules.insert(index, new)
    comment = f"added authorization rule {new['name']} at position {index + 1} in {set_name}"
    return doc, comment, rule_path(s, index)


# --- versions ----------------------------------------------------------------------------------


def pretty(document: Mapping[str, Any]) -> list[str]:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff(before: PolicyVersion | None, after: PolicyVersion) -> list[str]:
    """A unified diff of the pretty-printed documents (``before`` None: all lines added)."""
    old = pretty(before.document) if before is not None else []
    name = f"version {before.version}" if before is not None else "(nothing)"
    return list(
        difflib.unified_diff(
            old, pretty(after.document), name, f"version {after.version}", lineterm=""
        )
    )


# --- what if -------------------------------------------------------------------------------------


class WhatIf(BaseModel):
    """A hand-made request. The identity source is simulated: the user is authenticated, with
    ``groups``. TACACS+ with a ``command`` authorizes that command for the user."""

    protocol: Literal["radius", "tacacs"] = "radius"
    auth_method: str = Field("pap", max_length=32)
    username: str = Field("", max_length=253)
    groups: list[str] = Field(default_factory=list, max_length=100)
    nas_name: str = Field("what-if", max_length=128)
    nas_ip: str = Field("", max_length=64)
    device_group: str = Field("", max_length=128)
    location: str = Field("", max_length=128)
    mac: str = Field("", max_length=64)
    endpoint_profile: str = Field("", max_length=64)
    service_type: str = Field("", max_length=64)
    ssid: str = Field("", max_length=64)
    tacacs_service: str = Field("shell", max_length=64)
    command: str = Field("", max_length=1024)
    version: int | None = Field(None, ge=1, description="A stored version [default: current]")


class WhatIfAnswer(BaseModel):
    version: int
    outcome: str
    reason_code: int
    reason: str
    policy_set: str | None
    authentication_rule: str | None
    authorization_rule: str | None
    result: str | None
    result_summary: str | None
    trace: list[str]


def split_groups(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip()]


class _Simulated:
    """An IdentityResolver that says yes: the request's user, with the groups given."""

    def __init__(self, identity: Identity | None) -> None:
        self.identity = identity

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult:
        if self.identity is None:
            return AuthnResult(
                AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_USER, "what-if: no user name", None
            )
        identity = Identity(self.identity.name, source, self.identity.groups, {})
        return AuthnResult(
            AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED, "simulated", identity
        )


def _context(request: WhatIf, now: datetime) -> AccessContext:
    mac: str | None = None
    if request.mac.strip():
        mac = normalize_mac(request.mac)
        if mac is None:
            raise EditError("mac", f"not a MAC address: {request.mac!r}")
    endpoint = None
    if mac is not None:
        profile = request.endpoint_profile.strip() or None
        endpoint = EndpointInfo(mac=mac, known=profile is not None, profile=profile)
    tacacs = request.protocol == "tacacs"
    return AccessContext(
        protocol=request.protocol,
        now=now,
        nas=NasInfo(
            name=request.nas_name.strip() or "what-if",
            ip=request.nas_ip.strip(),
            device_group=request.device_group.strip(),
            location=request.location.strip(),
        ),
        auth_method=request.auth_method.strip() or "pap",
        username=request.username.strip() or None,
        mac=mac,
        endpoint=endpoint,
        service_type=request.service_type.strip() or None,
        calling_station_id=mac,
        ssid=request.ssid.strip() or None,
        tacacs_service=(request.tacacs_service.strip() or None) if tacacs else None,
    )


def what_if(
    snapshot: PolicySnapshot, request: WhatIf, *, version: int, now: datetime | None = None
) -> WhatIfAnswer:
    """Evaluate ``request`` against ``snapshot``: pure, nothing is stored."""
    ctx = _context(request, now or datetime.now(UTC))
    name = request.username.strip() or ctx.mac or ""  # MAB: the MAC is the user name
    identity = (
        Identity(name, "internal_users", frozenset(g.strip() for g in request.groups if g), {})
        if name
        else None
    )
    decision: Decision
    if request.protocol == "tacacs" and request.command.strip():
        decision = evaluate_device_admin(snapshot, ctx, identity, command=request.command.strip())
    else:
        decision = evaluate(snapshot, ctx, _Simulated(identity))
    profile = decision.profile
    return WhatIfAnswer(
        version=version,
        outcome=decision.outcome.value,
        reason_code=int(decision.reason_code),
        reason=decision.reason,
        policy_set=decision.policy_set,
        authentication_rule=decision.authentication_rule,
        authorization_rule=decision.authorization_rule,
        result=profile.name if profile is not None else None,
        result_summary=profile.summary() if profile is not None else None,
        trace=decision.trace_lines(),
    )


async def what_if_in(session: AsyncSession, request: WhatIf) -> WhatIfAnswer:
    """``request`` against the current policy or its chosen ``version`` (`EditError` 404 when
    there is no such version, 422 when the stored document no longer compiles)."""
    if request.version is None:
        current = await load_current(session)
        version, document = current.version, current.document
    else:
        row = await load_version(session, request.version)
        if row is None:
            raise EditError("version", f"no policy version {request.version}", status=404)
        version, document = row.version, row.document
    try:
        snapshot = validate(document)
    except PolicyError as exc:
        raise EditError("version", f"version {version} does not compile: {exc}") from None
    return what_if(snapshot, request, version=version)


async def rollback(session: AsyncSession, *, version: int, author: str) -> int:
    """Store version ``version`` again as the next version (`EditError` 404: no such version)."""
    row = await load_version(session, version)
    if row is None:
        raise EditError("", f"no policy version {version}", status=404)
    return await store(
        session,
        document=copy.deepcopy(row.document),
        author=author,
        comment=f"rolled back to version {version}",
        action="rollback",
    )
