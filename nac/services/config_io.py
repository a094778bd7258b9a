"""Configuration as code: the whole configuration as ONE YAML document, and its import.

The document (`export_config`, ``nac config export``, ``GET /api/v1/config/export``)::

    format: nac-config/1
    clients: [...]     NAS clients; secrets never exported: ``secret: <not exported>``
    groups: [...]      user groups
    users: [...]       network users; ``password: <not exported>``
    endpoints: [...]   registered endpoints (not the ones profiling merely discovered)
    policy: {...}      the policy document (rules, results, command sets, shell profiles, ...)

Objects are sorted by name (endpoints by MAC) and keys come in a fixed order, so two exports
diff line by line. A key ``tacacs_key`` / ``enable_secret`` appears (as ``<not exported>``)
only when the object has one.

Import (`import_config`, ``nac config import FILE``, ``POST /api/v1/config/import``):

- Everything is validated first (errors name the path: ``clients[2].addresses[0]``); nothing
  is written unless the whole file is good. Then ALL changes are applied in ONE transaction
  (one configuration version, one admin change log entry).
- A section missing from the file is left alone. Objects missing from a section that is in
  the file are kept, unless ``prune``: then they are deleted (for endpoints: the registered
  ones; discovered endpoints are runtime data and stay).
- Secrets: ``<not exported>`` (or no ``secret``/``password`` key) keeps the current value; for a
  new object a strong secret is generated and returned ONCE in the result (``generated``). A
  real value in the file sets it. ``tacacs_key`` / ``enable_secret`` absent, empty or null
  means none (an existing one is removed), as in the export. Further TACACS+ rotation keys
  (``tacacs_extra_keys``) are neither exported nor changed.
- ``dry_run`` reads only: the unified diff of the current export against the export the
  import would give, and the counts (created, changed, deleted per kind).
"""

from __future__ import annotations

import copy
import difflib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from nac.core.errors import NacError
from nac.core.secrets import (
    PURPOSE_ENABLE_SECRET,
    PURPOSE_NAS_SECRET,
    PURPOSE_TACACS_KEY,
    PURPOSE_USER_PASSWORD,
    SecretBox,
)
from nac.db import crud
from nac.db.defaults import default_policy
from nac.db.models import (
    Endpoint,
    EndpointCreate,
    Group,
    GroupCreate,
    NasClient,
    NasClientBase,
    User,
    UserBase,
    UserGroup,
    check_name,
    normalize_cidr,
)
from nac.db.types import utcnow
from policy.compile import compile_policy
from policy.errors import PolicyError

FORMAT = "nac-config/1"
PLACEHOLDER = "<not exported>"
SECTIONS = ("clients", "groups", "users", "endpoints", "policy")
KINDS = ("clients", "groups", "users", "endpoints")
# The identity sources nac.services.identity resolves (web.policy_doc checks the same).
IDENTITY_SOURCES = frozenset({"internal_users", "endpoints"})
MAX_BYTES = 64 * 1024 * 1024

_CLIENT_FIELDS = (
    "vendor",
    "device_group",
    "location",
    "description",
    "require_message_authenticator",
    "limit_proxy_state",
    "tacacs_unencrypted",
    "coa_port",
    "disconnect_port",
    "coa_mode",
)
_CLIENT_KEYS = frozenset({"name", "addresses", "secret", "tacacs_key", "enable_secret"}) | set(
    _CLIENT_FIELDS
)
_USER_KEYS = frozenset({"name", "password", "enable_secret", "enabled", "groups", "description"})
_GROUP_KEYS = frozenset({"name", "description"})
_ENDPOINT_KEYS = frozenset({"mac", "profile", "group", "description", "blocked"})


class ConfigImportError(NacError):
    """The file cannot be imported; ``errors`` holds every (path, message). Nothing changed."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        first = ": ".join(p for p in self.errors[0] if p) if self.errors else "invalid"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"nothing imported: {first}{more}")


@dataclass(frozen=True, slots=True)
class GeneratedSecret:
    """A secret made by the import for a new object (shown once, stored encrypted)."""

    kind: str  # client, user
    name: str
    field: str  # secret, tacacs_key, enable_secret, password
    value: str = dc_field(repr=False)


@dataclass(slots=True)
class ImportPlan:
    """What an import did (or, with ``dry_run``, would do)."""

    dry_run: bool
    prune: bool
    counts: dict[str, dict[str, int]]
    changes: list[str]  # "create client sw2", "change user bob: groups", "delete endpoint ..."
    diff: list[str]  # unified diff: current export -> export after the import
    generated: list[GeneratedSecret] = dc_field(default_factory=list)
    policy_changed: bool = False
    config_version: int | None = None  # the new version (None for a dry run)

    def summary(self) -> str:
        parts = [
            f"{kind}: {c['created']} created, {c['changed']} changed, {c['deleted']} deleted"
            for kind, c in self.counts.items()
        ]
        parts.append(f"policy: {'changed' if self.policy_changed else 'unchanged'}")
        return "; ".join(parts)


# --- export ------------------------------------------------------------------------------------


def _client_out(row: NasClient) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name,
        "addresses": list(row.addresses),
        "secret": PLACEHOLDER,
    }
    if row.tacacs_key_enc is not None:
        out["tacacs_key"] = PLACEHOLDER
    if row.enable_secret_enc is not None:
        out["enable_secret"] = PLACEHOLDER
    for name in _CLIENT_FIELDS:
        out[name] = getattr(row, name)
    return out


def _user_out(row: User, groups: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row.name, "password": PLACEHOLDER}
    if row.enable_secret_enc is not None:
        out["enable_secret"] = PLACEHOLDER
    out.update(enabled=row.enabled, groups=sorted(groups), description=row.description)
    return out


def _endpoint_out(row: Endpoint) -> dict[str, Any]:
    return {
        "mac": row.mac,
        "profile": row.profile,
        "group": row.group,
        "description": row.description,
        "blocked": row.blocked,
    }


@dataclass(slots=True)
class _State:
    """The configuration as stored, read in the caller's transaction."""

    clients: dict[str, NasClient]
    groups: dict[str, Group]
    users: dict[str, User]
    user_groups: dict[int, list[str]]
    endpoints: dict[str, Endpoint]  # all of them, registered or not
    policy: dict[str, Any]

    def export(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "clients": [_client_out(self.clients[n]) for n in sorted(self.clients)],
            "groups": [
                {"name": g.name, "description": g.description}
                for g in (self.groups[n] for n in sorted(self.groups))
            ],
            "users": [
                _user_out(u, self.user_groups.get(u.id or 0, []))
                for u in (self.users[n] for n in sorted(self.users))
            ],
            "endpoints": [
                _endpoint_out(e)
                for e in (self.endpoints[m] for m in sorted(self.endpoints))
                if e.registered
            ],
            "policy": copy.deepcopy(self.policy),
        }


async def _load_state(session: AsyncSession) -> _State:
    clients = {c.name: c for c in (await session.execute(select(NasClient))).scalars()}
    groups = {g.name: g for g in (await session.execute(select(Group))).scalars()}
    users = {u.name: u for u in (await session.execute(select(User))).scalars()}
    user_groups: dict[int, list[str]] = {}
    by_id = {g.id: g.name for g in groups.values()}
    for uid, gid in await session.execute(select(col(UserGroup.user_id), col(UserGroup.group_id))):
        user_groups.setdefault(uid, []).append(by_id[gid])
    endpoints = {e.mac: e for e in (await session.execute(select(Endpoint))).scalars()}
    row = await crud.get_policy(session)
    policy = copy.deepcopy(row.document) if row is not None else default_policy()
    return _State(clients, groups, users, user_groups, endpoints, policy)


async def export_config(session: AsyncSession) -> dict[str, Any]:
    """The whole configuration as one document (no secrets), read in one transaction."""
    try:
        return (await _load_state(session)).export()
    finally:
        await session.rollback()


def dump_yaml(document: Mapping[str, Any]) -> str:
    """The document as YAML, keys in the document's order."""
    text: str = yaml.dump(
        dict(document),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key (``key:\\n  - item``): easier on the eye in diffs."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


# --- validation --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Spec:
    """One validated object of the file: its export form and the secrets it gives."""

    key: str
    out: dict[str, Any]
    secrets: dict[str, str | None]  # field -> value; PLACEHOLDER: keep or generate; None: none


@dataclass(slots=True)
class _Parsed:
    sections: dict[str, list[_Spec]]
    policy: dict[str, Any] | None


def _path(base: str, loc: Sequence[Any]) -> str:
    out = base
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _pydantic(exc: ValidationError, base: str, errors: list[tuple[str, str]]) -> None:
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append((_path(base, error.get("loc", ())), message))


def _mapping(value: Any, path: str, keys: frozenset[str], errors: list[tuple[str, str]]) -> bool:
    if not isinstance(value, dict):
        errors.append((path, f"must be a mapping, got {_type(value)}"))
        return False
    for key in value:
        if key not in keys:
            errors.append((f"{path}.{key}", f"unknown field (known: {', '.join(sorted(keys))})"))
    return True


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _secret(
    item: dict[str, Any], key: str, path: str, errors: list[tuple[str, str]], *, default: Any
) -> str | None:
    value = item.get(key, default)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append((f"{path}.{key}", f"must be a string, got {_type(value)}"))
        return None
    if len(value) > 256:
        errors.append((f"{path}.{key}", "at most 256 characters"))
    return value


def _strings(
    items: list[Any], path: str, errors: list[tuple[str, str]], check: Callable[[str], str]
) -> list[str]:
    """The items of a list, each a string that ``check`` normalizes (or an error at its
    index)."""
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, str):
            errors.append((f"{path}[{n}]", f"must be a string, got {_type(item)}"))
            continue
        try:
            out.append(check(item))
        except ValueError as exc:
            errors.append((f"{path}[{n}]", str(exc)))
    return out


def _client_spec(item: Any, path: str, errors: list[tuple[str, str]]) -> _Spec | None:
    if not _mapping(item, path, _CLIENT_KEYS, errors):
        return None
    before = len(errors)
    addresses = item.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        errors.append((f"{path}.addresses", "a list of at least one IP address or CIDR"))
        addresses = []
    normalized = _strings(addresses, f"{path}.addresses", errors, normalize_cidr)
    fields = {k: item[k] for k in _CLIENT_FIELDS if k in item}
    try:
        base = NasClientBase.model_validate(
            {"name": item.get("name"), "addresses": ["0.0.0.0/32"], **fields}
        )
    except ValidationError as exc:
        _pydantic(exc, path, errors)
        return None
    given = {
        "secret": _secret(item, "secret", path, errors, default=PLACEHOLDER) or PLACEHOLDER,
        "tacacs_key": _secret(item, "tacacs_key", path, errors, default=None),
        "enable_secret": _secret(item, "enable_secret", path, errors, default=None),
    }
    if len(errors) > before:
        return None
    out: dict[str, Any] = {
        "name": base.name,
        "addresses": list(dict.fromkeys(normalized)),
        "secret": PLACEHOLDER,
    }
    for key in ("tacacs_key", "enable_secret"):
        if given[key] is not None:
            out[key] = PLACEHOLDER
    for name in _CLIENT_FIELDS:
        out[name] = getattr(base, name)
    return _Spec(base.name, out, given)


def _group_spec(item: Any, path: str, errors: list[tuple[str, str]]) -> _Spec | None:
    if not _mapping(item, path, _GROUP_KEYS, errors):
        return None
    try:
        group = GroupCreate.model_validate({"description": "", **item})
    except ValidationError as exc:
        _pydantic(exc, path, errors)
        return None
    return _Spec(group.name, {"name": group.name, "description": group.description}, {})


def _user_spec(item: Any, path: str, errors: list[tuple[str, str]]) -> _Spec | None:
    if not _mapping(item, path, _USER_KEYS, errors):
        return None
    before = len(errors)
    groups = item.get("groups", [])
    if groups is None:
        groups = []
    if not isinstance(groups, list):
        errors.append((f"{path}.groups", f"must be a list, got {_type(groups)}"))
        groups = []
    names = _strings(groups, f"{path}.groups", errors, check_name)
    fields = {k: item[k] for k in ("name", "enabled", "description") if k in item}
    try:
        base = UserBase.model_validate(fields)
    except ValidationError as exc:
        _pydantic(exc, path, errors)
        return None
    given = {
        "password": _secret(item, "password", path, errors, default=PLACEHOLDER) or PLACEHOLDER,
        "enable_secret": _secret(item, "enable_secret", path, errors, default=None),
    }
    if len(errors) > before:
        return None
    out: dict[str, Any] = {"name": base.name, "password": PLACEHOLDER}
    if given["enable_secret"] is not None:
        out["enable_secret"] = PLACEHOLDER
    out.update(
        enabled=base.enabled,
        groups=sorted(set(names)),
        description=base.description,
    )
    return _Spec(base.name, out, given)


def _endpoint_spec(item: Any, path: str, errors: list[tuple[str, str]]) -> _Spec | None:
    if not _mapping(item, path, _ENDPOINT_KEYS, errors):
        return None
    blocked = item.get("blocked", False)
    if not isinstance(blocked, bool):
        errors.append((f"{path}.blocked", f"must be true or false, got {_type(blocked)}"))
        return None
    try:
        endpoint = EndpointCreate.model_validate(
            {k: item[k] for k in ("mac", "profile", "group", "description") if k in item}
        )
    except ValidationError as exc:
        _pydantic(exc, path, errors)
        return None
    out = {
        "mac": endpoint.mac,
        "profile": endpoint.profile or None,
        "group": endpoint.group or None,
        "description": endpoint.description,
        "blocked": blocked,
    }
    return _Spec(endpoint.mac, out, {})


_SPECS: dict[str, Callable[[Any, str, list[tuple[str, str]]], _Spec | None]] = {
    "clients": _client_spec,
    "groups": _group_spec,
    "users": _user_spec,
    "endpoints": _endpoint_spec,
}


def parse_config(text: str | bytes) -> _Parsed:
    """Parse and validate a configuration document; raises `ConfigImportError` with every
    problem found (the database is not consulted)."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ConfigImportError([("", f"larger than {MAX_BYTES // 2**20} MiB")])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigImportError([("", "not UTF-8 text")]) from None
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigImportError([("", f"not valid YAML: {where}{problem}")]) from None
    errors: list[tuple[str, str]] = []
    if not isinstance(document, dict):
        raise ConfigImportError([("", f"the document must be a mapping, got {_type(document)}")])
    _check_text(document, "", errors)  # before anything echoes a key or value
    if errors:
        raise ConfigImportError(errors)
    for key in document:
        if key not in (*SECTIONS, "format"):
            errors.append((str(key), f"unknown section (known: format, {', '.join(SECTIONS)})"))
    if document.get("format", FORMAT) != FORMAT:
        errors.append(("format", f"must be {FORMAT} (got {document.get('format')!r})"))
    sections: dict[str, list[_Spec]] = {}
    for kind in KINDS:
        if kind not in document:
            continue
        items = document[kind]
        if items is None:
            items = []
        if not isinstance(items, list):
            errors.append((kind, f"must be a list, got {_type(items)}"))
            continue
        specs: list[_Spec] = []
        first: dict[str, int] = {}
        for n, item in enumerate(items):
            spec = _SPECS[kind](item, f"{kind}[{n}]", errors)
            if spec is None:
                continue
            if spec.key in first:
                what = "mac" if kind == "endpoints" else "name"
                errors.append((f"{kind}[{n}].{what}", f"duplicate of {kind}[{first[spec.key]}]"))
                continue
            first[spec.key] = n
            specs.append(spec)
        sections[kind] = specs
    policy = document.get("policy")
    if "policy" in document:
        if not isinstance(policy, dict):
            errors.append(("policy", f"must be a mapping, got {_type(policy)}"))
            policy = None
        else:
            try:
                compile_policy(policy, identity_sources=IDENTITY_SOURCES)
            except PolicyError as exc:
                errors.append((f"policy.{exc.path}" if exc.path else "policy", exc.message))
    if errors:
        raise ConfigImportError(errors)
    return _Parsed(sections, policy)


def _check_text(value: Any, path: str, errors: list[tuple[str, str]]) -> None:
    """Strings must be text UTF-8 can store: YAML's and JSON's ``\\ud800`` escapes give lone
    surrogates, which no database column accepts."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            errors.append((path, "not valid Unicode text (a lone surrogate escape)"))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_text(item, f"{path}[{n}]", errors)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                safe = key.encode("utf-8", "backslashreplace").decode()
                errors.append((f"{path}.{safe}" if path else safe, "not valid Unicode text"))
                continue
            _check_text(item, where, errors)


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps and the like as plain strings."""


# Its own copy of the table (assigning to the inherited one would change every SafeLoader).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# --- planning and applying ---------------------------------------------------------------------


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def _decrypt(box: SecretBox, blob: bytes | None, purpose: str) -> str | None:
    return None if blob is None else box.decrypt(blob, purpose=purpose)


@dataclass(slots=True)
class _Work:
    """The plan against one `_State`: per kind the specs to create/change and keys to delete."""

    create: dict[str, list[_Spec]]
    change: dict[str, list[tuple[_Spec, list[str]]]]
    delete: dict[str, list[str]]
    after: dict[str, Any]  # the export the import gives


_PURPOSES = {
    ("client", "secret"): PURPOSE_NAS_SECRET,
    ("client", "tacacs_key"): PURPOSE_TACACS_KEY,
    ("client", "enable_secret"): PURPOSE_ENABLE_SECRET,
    ("user", "password"): PURPOSE_USER_PASSWORD,
    ("user", "enable_secret"): PURPOSE_ENABLE_SECRET,
}
_ENC_COLUMN = {
    "secret": "secret_enc",
    "tacacs_key": "tacacs_key_enc",
    "enable_secret": "enable_secret_enc",
    "password": "password_enc",
}


def _secret_changes(kind: str, spec: _Spec, row: Any, box: SecretBox) -> list[str]:
    """The secret fields an import of ``spec`` would change on ``row``."""
    out = []
    for name, value in spec.secrets.items():
        blob = getattr(row, _ENC_COLUMN[name])
        if value == PLACEHOLDER:
            if blob is None:
                out.append(name)  # none yet: one is generated
        elif value is None:
            if blob is not None:
                out.append(name)  # removed
        elif _decrypt(box, blob, _PURPOSES[(kind, name)]) != value:
            out.append(name)
    return out


def _plan(state: _State, parsed: _Parsed, box: SecretBox, prune: bool) -> _Work:
    current = state.export()
    work = _Work({k: [] for k in KINDS}, {k: [] for k in KINDS}, {k: [] for k in KINDS}, {})
    errors: list[tuple[str, str]] = []
    keyed: dict[str, tuple[dict[str, dict[str, Any]], Mapping[str, Any], str | None]] = {
        "clients": ({c["name"]: c for c in current["clients"]}, state.clients, "client"),
        "groups": ({g["name"]: g for g in current["groups"]}, state.groups, None),
        "users": ({u["name"]: u for u in current["users"]}, state.users, "user"),
        "endpoints": ({e["mac"]: e for e in current["endpoints"]}, state.endpoints, None),
    }
    after = copy.deepcopy(current)
    for kind, specs in parsed.sections.items():
        now, rows, secret_kind = keyed[kind]
        merged = {} if prune else dict(now)
        for spec in specs:
            merged[spec.key] = spec.out
            if spec.key not in now:
                work.create[kind].append(spec)
                continue
            fields = _changed_fields(now[spec.key], spec.out)
            if secret_kind is not None:
                fields += [
                    f
                    for f in _secret_changes(secret_kind, spec, rows[spec.key], box)
                    if f not in fields
                ]
            if fields:
                work.change[kind].append((spec, fields))
        if prune:
            in_file = {s.key for s in specs}
            work.delete[kind] = sorted(k for k in now if k not in in_file)
        after[kind] = [merged[k] for k in sorted(merged)]
    # The groups a user names must be there after the import.
    if "users" in parsed.sections:
        groups_after = {g["name"] for g in after["groups"]}
        for n, spec in enumerate(parsed.sections["users"]):
            for m, name in enumerate(spec.out["groups"]):
                if name not in groups_after:
                    errors.append(
                        (
                            f"users[{n}].groups[{m}]",
                            f"group {name!r} is not in groups"
                            + ("" if prune and "groups" in parsed.sections else " nor stored"),
                        )
                    )
    if errors:
        raise ConfigImportError(errors)
    # Users that stay but lose a pruned group: the export after the import shows that too.
    if work.delete["groups"]:
        gone = set(work.delete["groups"])
        for user in after["users"]:
            user["groups"] = [g for g in user["groups"] if g not in gone]
    if parsed.policy is not None:
        after["policy"] = copy.deepcopy(parsed.policy)
    work.after = after
    return work


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return list(
        difflib.unified_diff(
            dump_yaml(before).splitlines(),
            dump_yaml(after).splitlines(),
            "current",
            "after import",
            lineterm="",
        )
    )


def _result(
    work: _Work, state: _State, parsed: _Parsed, *, dry_run: bool, prune: bool
) -> ImportPlan:
    singular = {"clients": "client", "groups": "group", "users": "user", "endpoints": "endpoint"}
    counts: dict[str, dict[str, int]] = {}
    changes: list[str] = []
    for kind in KINDS:
        counts[kind] = {
            "created": len(work.create[kind]),
            "changed": len(work.change[kind]),
            "deleted": len(work.delete[kind]),
        }
        changes += [f"create {singular[kind]} {s.key}" for s in work.create[kind]]
        changes += [
            f"change {singular[kind]} {s.key}: {', '.join(f)}" for s, f in work.change[kind]
        ]
        changes += [f"delete {singular[kind]} {k}" for k in work.delete[kind]]
    policy_changed = parsed.policy is not None and parsed.policy != state.policy
    if policy_changed:
        changes.append("change policy")
    return ImportPlan(
        dry_run=dry_run,
        prune=prune,
        counts=counts,
        changes=changes,
        diff=_diff(state.export(), work.after),
        policy_changed=policy_changed,
    )


def _new_secret() -> str:
    return secrets.token_urlsafe(18)  # 144 bits, as the console's generated secrets


def _set_secrets(
    kind: str,
    spec: _Spec,
    row: Any,
    box: SecretBox,
    generated: list[GeneratedSecret],
    *,
    new: bool,
) -> None:
    for name, value in spec.secrets.items():
        column = _ENC_COLUMN[name]
        purpose = _PURPOSES[(kind, name)]
        if value == PLACEHOLDER:
            if new or getattr(row, column) is None:
                value = _new_secret()
                generated.append(GeneratedSecret(kind, spec.key, name, value))
            else:
                continue
        setattr(row, column, None if value is None else box.encrypt(value, purpose=purpose))


async def _apply(
    session: AsyncSession,
    state: _State,
    parsed: _Parsed,
    work: _Work,
    box: SecretBox,
    *,
    author: str,
    comment: str,
) -> list[GeneratedSecret]:
    generated: list[GeneratedSecret] = []
    now = utcnow()
    # Groups first (users name them), deletions of users and groups before creations.
    for name in work.delete["users"]:
        user = state.users[name]
        await session.execute(delete(UserGroup).where(col(UserGroup.user_id) == user.id))
        await session.delete(user)
    for name in work.delete["groups"]:
        group = state.groups[name]
        await session.execute(delete(UserGroup).where(col(UserGroup.group_id) == group.id))
        await session.delete(group)
    for name in work.delete["clients"]:
        await session.delete(state.clients[name])
    for mac in work.delete["endpoints"]:
        await session.delete(state.endpoints[mac])
    await session.flush()

    groups = {n: g for n, g in state.groups.items() if n not in set(work.delete["groups"])}
    for spec in work.create["groups"]:
        group = Group(name=spec.key, description=spec.out["description"])
        session.add(group)
        groups[spec.key] = group
    for spec, _ in work.change["groups"]:
        groups[spec.key].description = spec.out["description"]
    await session.flush()

    for spec in work.create["clients"]:
        client = NasClient(
            name=spec.key,
            addresses=spec.out["addresses"],
            secret_enc=b"",
            **{k: spec.out[k] for k in _CLIENT_FIELDS},
        )
        _set_secrets("client", spec, client, box, generated, new=True)
        session.add(client)
    for spec, _ in work.change["clients"]:
        client = state.clients[spec.key]
        client.addresses = spec.out["addresses"]
        for k in _CLIENT_FIELDS:
            setattr(client, k, spec.out[k])
        _set_secrets("client", spec, client, box, generated, new=False)
        client.updated_at = now

    async def set_groups(user: User, names: Sequence[str]) -> None:
        await session.execute(delete(UserGroup).where(col(UserGroup.user_id) == user.id))
        for name in names:
            session.add(UserGroup(user_id=user.id, group_id=groups[name].id))  # type: ignore[arg-type]

    for spec in work.create["users"]:
        user = User(
            name=spec.key,
            enabled=spec.out["enabled"],
            description=spec.out["description"],
            password_enc=b"",
        )
        _set_secrets("user", spec, user, box, generated, new=True)
        session.add(user)
        await session.flush()
        await set_groups(user, spec.out["groups"])
    for spec, fields in work.change["users"]:
        user = state.users[spec.key]
        user.enabled = spec.out["enabled"]
        user.description = spec.out["description"]
        _set_secrets("user", spec, user, box, generated, new=False)
        user.updated_at = now
        if "groups" in fields:
            await set_groups(user, spec.out["groups"])

    for spec in work.create["endpoints"]:
        values = {k: spec.out[k] for k in ("profile", "group", "description", "blocked")}
        existing = state.endpoints.get(spec.key)
        if existing is not None:  # discovered by profiling: now registered
            for k, v in values.items():
                setattr(existing, k, v)
            existing.registered = True
        else:
            session.add(Endpoint(mac=spec.key, registered=True, **values))
    for spec, _ in work.change["endpoints"]:
        endpoint = state.endpoints[spec.key]
        for k in ("profile", "group", "description", "blocked"):
            setattr(endpoint, k, spec.out[k])
    await session.flush()

    if parsed.policy is not None and parsed.policy != state.policy:
        await crud.insert_policy(
            session, document=copy.deepcopy(parsed.policy), author=author, comment=comment
        )
    return generated


async def import_config(
    session: AsyncSession,
    text: str | bytes,
    *,
    box: SecretBox,
    admin: str,
    dry_run: bool = False,
    prune: bool = False,
    source: str = "config.yaml",
) -> ImportPlan:
    """Validate ``text`` and (unless ``dry_run``) apply it in one transaction; raises
    `ConfigImportError` (nothing changed) when anything in it is wrong."""
    parsed = parse_config(text)
    if dry_run:
        try:
            state = await _load_state(session)
            work = _plan(state, parsed, box, prune)
            return _result(work, state, parsed, dry_run=True, prune=prune)
        finally:
            await session.rollback()
    await crud.end_read(session)
    comment = f"config import from {source}"[:1024]
    async with crud.config_change(session) as version:
        state = await _load_state(session)
        work = _plan(state, parsed, box, prune)
        plan = _result(work, state, parsed, dry_run=False, prune=prune)
        plan.generated = await _apply(
            session, state, parsed, work, box, author=admin, comment=comment
        )
        plan.config_version = version
        await crud.record_admin_change(
            session,
            admin=admin,
            action="import",
            object_type="config",
            object_key=source[:253],
            after={"counts": plan.counts, "policy_changed": plan.policy_changed, "prune": prune},
            comment=comment,
            commit=False,
        )
    return plan
