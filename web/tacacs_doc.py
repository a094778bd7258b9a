"""TACACS+ command sets and shell profiles as the console edits them: entries of the policy
document's ``command_sets`` and ``shell_profiles`` sections. Each edit gives a new document
(validated by `policy.compile.compile_policy` when stored, so every refusal names the field)
and is stored as a new policy version with its admin change log entry (the object before and
after).

In forms, a command set's rules are one per line, ``permit show .*`` / ``deny reload`` (the
action, one blank, the pattern); a shell profile's custom arguments one per line,
``attribute=value`` (mandatory) or ``attribute*value`` (optional), as RFC 8907 writes them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from web import policy_doc
from web.policy_doc import Current, EditError

Kind = Literal["command_sets", "shell_profiles"]
OBJECT_TYPE: dict[str, str] = {"command_sets": "command_set", "shell_profiles": "shell_profile"}
WORDS: dict[str, str] = {"command_sets": "command set", "shell_profiles": "shell profile"}
_RULE_INDEX = re.compile(r"rules\[(\d+)\]")
_CUSTOM_INDEX = re.compile(r"custom\[(\d+)\]")


# --- API shapes --------------------------------------------------------------------------------


class CommandRuleIn(BaseModel):
    action: Literal["permit", "deny"]
    pattern: str = Field(max_length=256, description="A regular expression for the whole command")
    description: str = Field(default="", max_length=1024)


class CommandSetIn(BaseModel):
    """A command set: the first rule whose pattern matches the whole command decides."""

    description: str = Field(default="", max_length=1024)
    default: Literal["permit", "deny"] = "deny"
    case_insensitive: bool = False
    rules: list[CommandRuleIn] = Field(default_factory=list, max_length=1000)


class CommandSetNew(CommandSetIn):
    name: str = Field(max_length=64)


class ShellAttributeIn(BaseModel):
    attribute: str = Field(max_length=64)
    value: str = Field(max_length=255)
    mandatory: bool = True


class ShellProfileIn(BaseModel):
    """What a TACACS+ shell session gets: privilege level, timeouts (minutes), autocmd and
    custom arguments."""

    description: str = Field(default="", max_length=1024)
    priv_lvl: int = Field(ge=0, le=15)
    timeout: int | None = Field(default=None, ge=0)
    idle_timeout: int | None = Field(default=None, ge=0)
    autocmd: str | None = Field(default=None, max_length=255)
    custom: list[ShellAttributeIn] = Field(default_factory=list, max_length=100)


class ShellProfileNew(ShellProfileIn):
    name: str = Field(max_length=64)


def command_set_entry(data: CommandSetIn) -> dict[str, Any]:
    """The document entry (only the keys that differ from the defaults, like the demo's)."""
    entry: dict[str, Any] = {}
    if data.description:
        entry["description"] = data.description
    entry["default"] = data.default
    if data.case_insensitive:
        entry["case_insensitive"] = True
    rules = []
    for rule in data.rules:
        item: dict[str, Any] = {"action": rule.action, "pattern": rule.pattern}
        if rule.description:
            item["description"] = rule.description
        rules.append(item)
    if rules:
        entry["rules"] = rules
    return entry


def shell_profile_entry(data: ShellProfileIn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if data.description:
        entry["description"] = data.description
    entry["priv_lvl"] = data.priv_lvl
    for key in ("timeout", "idle_timeout", "autocmd"):
        value = getattr(data, key)
        if value is not None and value != "":
            entry[key] = value
    if data.custom:
        entry["custom"] = [c.model_dump() for c in data.custom]
    return entry


# --- forms -------------------------------------------------------------------------------------


def parse_rules(text: str) -> list[CommandRuleIn]:
    """``permit show .*`` per line; blank lines and lines starting with ``#`` are skipped."""
    rules = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        action, _, pattern = line.partition(" ")
        if action not in ("permit", "deny"):
            raise EditError("rules", f"line {n}: start with permit or deny, then the pattern")
        pattern = pattern.strip()
        if not pattern:
            raise EditError("rules", f"line {n}: a pattern after {action}")
        if len(pattern) > 256:
            raise EditError("rules", f"line {n}: the pattern is longer than 256 characters")
        rules.append(CommandRuleIn(action=action, pattern=pattern))  # type: ignore[arg-type]
    return rules


def rules_text(entry: Mapping[str, Any]) -> str:
    rules = entry.get("rules", [])
    return "\n".join(
        f"{r.get('action', '?')} {r.get('pattern', '')}"
        for r in (rules if isinstance(rules, list) else [])
        if isinstance(r, Mapping)
    )


def parse_custom(text: str) -> list[ShellAttributeIn]:
    """``attribute=value`` (mandatory) or ``attribute*value`` (optional) per line."""
    out = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cut = min((i for i in (line.find("="), line.find("*")) if i > 0), default=-1)
        if cut < 0:
            raise EditError("custom", f"line {n}: write attribute=value or attribute*value")
        attribute, value = line[:cut].strip(), line[cut + 1 :].strip()
        if len(attribute) > 64 or len(value) > 255:
            raise EditError("custom", f"line {n}: too long (attribute 64, value 255 characters)")
        out.append(ShellAttributeIn(attribute=attribute, value=value, mandatory=line[cut] == "="))
    return out


def custom_text(entry: Mapping[str, Any]) -> str:
    custom = entry.get("custom", [])
    return "\n".join(
        f"{c.get('attribute')}{'=' if c.get('mandatory', True) else '*'}{c.get('value')}"
        for c in (custom if isinstance(custom, list) else [])
        if isinstance(c, Mapping)
    )


def minutes(field: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise EditError(field, f"a whole number of minutes, got {text!r}")
    return int(text)


def priv_lvl(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or not 0 <= int(text) <= 15:
        raise EditError("priv_lvl", "a privilege level 0..15")
    return int(text)


# --- edits of the document ---------------------------------------------------------------------


def section(document: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    value = document.get(kind, {})
    return dict(value) if isinstance(value, Mapping) else {}


def users_of(document: Mapping[str, Any], kind: Kind, name: str) -> list[str]:
    """The results that reference ``name`` (``results.X.command_set`` / ``.shell_profile``)."""
    key = OBJECT_TYPE[kind]
    results = document.get("results", {})
    return sorted(
        str(result)
        for result, data in (results.items() if isinstance(results, Mapping) else [])
        if isinstance(data, Mapping) and data.get(key) == name
    )


Change = tuple[dict[str, Any], str, tuple[str, str, Any, Any]]  # document, comment, log entry


def put(
    document: Mapping[str, Any], kind: Kind, name: str, entry: dict[str, Any], *, create: bool
) -> Change:
    """The document with ``name`` set to ``entry`` (``create``: it must be new; else it must
    exist)."""
    words = WORDS[kind]
    name = name.strip()
    if not name:
        raise EditError("name", "required")
    doc = copy.deepcopy(dict(document))
    entries = section(doc, kind)
    before = copy.deepcopy(entries.get(name))
    if create and before is not None:
        raise EditError("name", f"{words} {name!r} already exists", status=409)
    if not create and before is None:
        raise EditError("", f"no {words} {name!r}", status=404)
    entries[name] = entry
    doc[kind] = entries
    comment = f"{'added' if create else 'edited'} {words} {name}"
    return doc, comment, (OBJECT_TYPE[kind], name, before, copy.deepcopy(entry))


def remove(document: Mapping[str, Any], kind: Kind, name: str) -> Change:
    """The document without ``name``; refused (409) while a result references it."""
    words = WORDS[kind]
    doc = copy.deepcopy(dict(document))
    entries = section(doc, kind)
    if name not in entries:
        raise EditError("", f"no {words} {name!r}", status=404)
    users = users_of(doc, kind, name)
    if users:
        raise EditError(
            "",
            f"{words} {name} is used by result{'s' if len(users) > 1 else ''} "
            f"{', '.join(users)}: change {'them' if len(users) > 1 else 'it'} first",
            status=409,
        )
    before = entries.pop(name)
    if entries:
        doc[kind] = entries
    else:
        doc.pop(kind, None)
    return doc, f"deleted {words} {name}", (OBJECT_TYPE[kind], name, before, None)


def field_of(path: str, kind: Kind, name: str) -> tuple[str, str]:
    """The form field of a compile error at ``path`` and a message prefix (rule N is line
    N+1 of the rules box)."""
    prefix = f"{kind}.{name}"
    if not path.startswith(prefix):
        return "", ""
    rest = path[len(prefix) :].lstrip(".")
    head = rest.split(".", 1)[0].split("[", 1)[0]
    for pattern, field in ((_RULE_INDEX, "rules"), (_CUSTOM_INDEX, "custom")):
        match = pattern.match(rest)
        if match:
            return field, f"line {int(match.group(1)) + 1}: "
    return (head if head else "name"), ""


async def save(
    session: AsyncSession,
    *,
    current: Current,
    change: Change,
    kind: Kind,
    author: str,
    base: int | None,
) -> int:
    """Store the changed document as a new version (`EditError` with the form field when the
    document does not compile, 409 on a stale ``base``)."""
    policy_doc.check_base(current, base)
    document, comment, entry = change
    try:
        return await policy_doc.store(
            session, document=document, author=author, comment=comment, entry=entry
        )
    except EditError as exc:
        field, prefix = field_of(exc.path, kind, entry[1])
        if field:
            raise EditError(field, prefix + exc.message, path=exc.path) from None
        raise
