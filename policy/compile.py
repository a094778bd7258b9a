"""Plain policy documents (JSON-able) in, an immutable `PolicySnapshot` out.

Every mistake is a `PolicyError` whose path names the field, e.g.
``policy_sets[0].authorization[2].condition.op: unknown operator 'equal'``. Top-level keys other
than ``results`` and ``policy_sets`` are left alone (kept in `PolicySnapshot.document`) so later
sections such as ``device_admin`` can be added without breaking older compilers' documents.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Container, Mapping
from typing import Any, Final, TypeVar

from policy.conditions import Condition, compile_condition
from policy.errors import PolicyError, type_name
from policy.model import AuthorizationProfile, Outcome
from policy.rules import (
    AuthenticationRule,
    AuthorizationRule,
    FailAction,
    PolicySet,
    PolicySnapshot,
    RuleState,
)

__all__ = ["PolicyError", "compile_policy"]

MAX_NAME: Final = 64
MAX_TEXT: Final = 253  # one RADIUS attribute value
MAX_TIMEOUT: Final = 2**32 - 1
_VLAN_ID: Final = re.compile(r"[1-9][0-9]{0,3}")
_VLAN_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_ATTRIBUTE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

_SET_KEYS: Final = frozenset(
    {"name", "description", "state", "condition", "authentication", "authorization"}
    | {"default_result"}
)
_AUTHN_KEYS: Final = frozenset(
    {"name", "description", "state", "condition", "identity_source"}
    | {"if_not_found", "if_failed", "if_error"}
)
_AUTHZ_KEYS: Final = frozenset({"name", "description", "state", "condition", "result"})
_ACCEPT_KEYS: Final = frozenset(
    {"decision", "description", "vlan", "filter_id", "acl", "vendor_role", "session_timeout"}
    | {"idle_timeout", "reauth", "redirect_url", "reply_message", "custom"}
)
_REJECT_KEYS: Final = frozenset({"decision", "description", "reply_message"})

E = TypeVar("E", RuleState, FailAction, Outcome)
R = TypeVar("R", AuthenticationRule, AuthorizationRule)


def compile_policy(
    document: Mapping[str, Any],
    *,
    identity_sources: Collection[str] | None = None,
    attribute_names: Container[str] | None = None,
) -> PolicySnapshot:
    """Compile `document` or raise `PolicyError`.

    `identity_sources` (names the resolver knows) and `attribute_names` (dictionary names usable
    as ``radius.<Name>``), when given, are checked too; without them any well-formed name passes.
    """
    if not isinstance(document, Mapping):
        raise PolicyError("", f"a policy document is an object, got {type(document).__name__}")
    compiler = _Compiler(identity_sources, attribute_names)
    results = compiler.results(_required(document, "results", ""), "results")
    raw_sets = _list(_required(document, "policy_sets", ""), "policy_sets")
    names = _Names("policy_sets")
    sets = []
    for n, raw in enumerate(raw_sets):
        sets.append(compiler.policy_set(raw, n, results, names))
    return PolicySnapshot(
        results=results, policy_sets=tuple(sets), document=copy.deepcopy(dict(document))
    )


# --- small checkers ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _required(data: Mapping[Any, Any], key: str, path: str) -> object:
    if key not in data:
        raise PolicyError(_join(path, key), "required")
    return data[key]


def _object(value: object, path: str, allowed: Collection[str]) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(path, f"expected an object, got {type_name(value)}")
    for key in value:
        if key not in allowed:
            shown = key if isinstance(key, str) else repr(key)
            raise PolicyError(f"{path}.{shown}", f"unknown key (use {', '.join(sorted(allowed))})")
    return value


def _list(value: object, path: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise PolicyError(path, f"expected a list, got {type_name(value)}")
    return value


def _text(value: object, path: str, *, max_bytes: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise PolicyError(path, f"expected a string, got {type_name(value)}")
    if not value:
        raise PolicyError(path, "must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise PolicyError(path, f"longer than {max_bytes} bytes")
    return value


def _name(value: object, path: str) -> str:
    name = _text(value, path, max_bytes=MAX_NAME)
    if name != name.strip() or "/" in name or not name.isprintable():
        raise PolicyError(path, f"invalid name {name!r} (printable, no '/', no outer blanks)")
    return name


def _description(data: Mapping[Any, Any], path: str) -> str:
    value = data.get("description", "")
    if not isinstance(value, str):
        raise PolicyError(f"{path}.description", f"expected a string, got {type_name(value)}")
    return value


def _choice(data: Mapping[Any, Any], key: str, path: str, enum: type[E], default: E | None) -> E:
    if key not in data:
        if default is None:
            raise PolicyError(f"{path}.{key}", "required")
        return default
    value = data[key]
    for member in enum:
        if value == member.value and isinstance(value, str):
            return member
    use = ", ".join(repr(m.value) for m in enum)
    raise PolicyError(f"{path}.{key}", f"expected one of {use}, got {value!r}")


def _timeout(value: object, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(path, f"expected a whole number of seconds, got {type_name(value)}")
    if not 0 < value <= MAX_TIMEOUT:
        raise PolicyError(path, f"expected 1..{MAX_TIMEOUT} seconds, got {value}")
    return value


def _vlan(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(path, f'expected a string such as "100" or a VLAN name, got {value!r}')
    if value.isdigit():
        if _VLAN_ID.fullmatch(value) is None or int(value) > 4094:
            raise PolicyError(path, f"VLAN id must be 1..4094, got {value!r}")
    elif _VLAN_NAME.fullmatch(value) is None:
        raise PolicyError(path, f"invalid VLAN name {value!r} (1-32 of A-Z a-z 0-9 _ . -)")
    return value


class _Names:
    """Duplicate-name detection within one list."""

    def __init__(self, list_path: str) -> None:
        self._seen: dict[str, int] = {}
        self._list_path = list_path

    def add(self, name: str, index: int, path: str) -> None:
        if name in self._seen:
            first = f"{self._list_path}[{self._seen[name]}]"
            raise PolicyError(path, f"duplicate name {name!r} (first used at {first})")
        self._seen[name] = index


# --- the compiler -----------------------------------------------------------------------------


class _Compiler:
    def __init__(
        self, identity_sources: Collection[str] | None, attribute_names: Container[str] | None
    ) -> None:
        self.identity_sources = identity_sources
        self.attribute_names = attribute_names

    def condition(self, data: Mapping[Any, Any], path: str) -> Condition | None:
        raw = data.get("condition")
        if raw is None:
            return None
        return compile_condition(raw, f"{path}.condition", attribute_names=self.attribute_names)

    def results(self, value: object, path: str) -> Mapping[str, AuthorizationProfile]:
        if not isinstance(value, Mapping):
            raise PolicyError(path, f"expected an object of named results, got {type_name(value)}")
        results: dict[str, AuthorizationProfile] = {}
        for key, raw in value.items():
            shown = key if isinstance(key, str) else repr(key)
            name = _name(key, f"{path}.{shown}")
            results[name] = self.profile(name, raw, f"{path}.{name}")
        return results

    def profile(self, name: str, raw: object, path: str) -> AuthorizationProfile:
        data = _object(raw, path, _ACCEPT_KEYS)
        decision = _choice(data, "decision", path, Outcome, None)
        _description(data, path)
        if decision is Outcome.REJECT:
            _object(data, path, _REJECT_KEYS)
        kw: dict[str, Any] = {}
        if "vlan" in data:
            kw["vlan"] = _vlan(data["vlan"], f"{path}.vlan")
        for key in ("filter_id", "acl", "vendor_role", "reply_message", "redirect_url"):
            if key in data:
                kw[key] = _text(data[key], f"{path}.{key}")
        url = kw.get("redirect_url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise PolicyError(f"{path}.redirect_url", f"expected an http(s) URL, got {url!r}")
        for key in ("session_timeout", "idle_timeout"):
            if key in data:
                kw[key] = _timeout(data[key], f"{path}.{key}")
        if "reauth" in data:
            if not isinstance(data["reauth"], bool):
                raise PolicyError(
                    f"{path}.reauth", f"expected true or false, got {data['reauth']!r}"
                )
            kw["reauth"] = data["reauth"]
        if "custom" in data:
            kw["custom"] = self.custom(data["custom"], f"{path}.custom")
        return AuthorizationProfile(name=name, decision=decision, **kw)

    def custom(self, value: object, path: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for n, raw in enumerate(_list(value, path)):
            item = _object(raw, f"{path}[{n}]", {"attribute", "value"})
            attribute = _text(
                _required(item, "attribute", f"{path}[{n}]"), f"{path}[{n}].attribute"
            )
            if _ATTRIBUTE_NAME.fullmatch(attribute) is None:
                raise PolicyError(f"{path}[{n}].attribute", f"not an attribute name: {attribute!r}")
            if self.attribute_names is not None and attribute not in self.attribute_names:
                raise PolicyError(f"{path}[{n}].attribute", f"unknown attribute {attribute!r}")
            text = _text(_required(item, "value", f"{path}[{n}]"), f"{path}[{n}].value")
            pairs.append((attribute, text))
        return tuple(pairs)

    def policy_set(
        self,
        raw: object,
        index: int,
        results: Mapping[str, AuthorizationProfile],
        names: _Names,
    ) -> PolicySet:
        path = f"policy_sets[{index}]"
        data = _object(raw, path, _SET_KEYS)
        name = _name(_required(data, "name", path), f"{path}.name")
        names.add(name, index, f"{path}.name")
        authn = self.rules(data, "authentication", path, name, results, self.authentication_rule)
        if not authn:
            raise PolicyError(f"{path}.authentication", "needs at least one rule")
        authz = self.rules(data, "authorization", path, name, results, self.authorization_rule)
        default = self.result_ref(_required(data, "default_result", path), path, results)
        return PolicySet(
            name=name,
            key=name,
            condition=self.condition(data, path),
            authentication=authn,
            authorization=authz,
            default_profile=default,
            state=_choice(data, "state", path, RuleState, RuleState.ENABLED),
            description=_description(data, path),
        )

    def rules(
        self,
        data: Mapping[Any, Any],
        section: str,
        path: str,
        set_name: str,
        results: Mapping[str, AuthorizationProfile],
        one: Callable[[object, str, str, Mapping[str, AuthorizationProfile]], R],
    ) -> tuple[R, ...]:
        lpath = f"{path}.{section}"
        names = _Names(lpath)
        rules = []
        for n, raw in enumerate(_list(_required(data, section, path), lpath)):
            rpath = f"{lpath}[{n}]"
            rule = one(raw, rpath, set_name, results)
            names.add(rule.name, n, f"{rpath}.name")
            rules.append(rule)
        return tuple(rules)

    def authentication_rule(
        self,
        raw: object,
        path: str,
        set_name: str,
        results: Mapping[str, AuthorizationProfile],
    ) -> AuthenticationRule:
        data = _object(raw, path, _AUTHN_KEYS)
        name = _name(_required(data, "name", path), f"{path}.name")
        spath = f"{path}.identity_source"
        source = _name(_required(data, "identity_source", path), spath)
        if self.identity_sources is not None and source not in self.identity_sources:
            known = ", ".join(sorted(self.identity_sources))
            raise PolicyError(spath, f"unknown identity source {source!r} (known: {known})")
        reject = FailAction.REJECT
        return AuthenticationRule(
            name=name,
            key=f"{set_name}/authn/{name}",
            condition=self.condition(data, path),
            identity_source=source,
            if_not_found=_choice(data, "if_not_found", path, FailAction, reject),
            if_failed=_choice(data, "if_failed", path, FailAction, reject),
            if_error=_choice(data, "if_error", path, FailAction, reject),
            state=_choice(data, "state", path, RuleState, RuleState.ENABLED),
            description=_description(data, path),
        )

    def authorization_rule(
        self,
        raw: object,
        path: str,
        set_name: str,
        results: Mapping[str, AuthorizationProfile],
    ) -> AuthorizationRule:
        data = _object(raw, path, _AUTHZ_KEYS)
        name = _name(_required(data, "name", path), f"{path}.name")
        return AuthorizationRule(
            name=name,
            key=f"{set_name}/authz/{name}",
            condition=self.condition(data, path),
            profile=self.result_ref(_required(data, "result", path), path, results, "result"),
            state=_choice(data, "state", path, RuleState, RuleState.ENABLED),
            description=_description(data, path),
        )

    def result_ref(
        self,
        value: object,
        path: str,
        results: Mapping[str, AuthorizationProfile],
        key: str = "default_result",
    ) -> AuthorizationProfile:
        rpath = f"{path}.{key}"
        if not isinstance(value, str):
            raise PolicyError(rpath, f"expected a result name, got {type_name(value)}")
        if value not in results:
            known = ", ".join(results) or "none defined"
            raise PolicyError(rpath, f"unknown result {value!r} (known: {known})")
        return results[value]
