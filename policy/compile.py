"""Plain policy documents (JSON-able) in, an immutable `PolicySnapshot` out.

Every mistake is a `PolicyError` whose path names the field, e.g.
``policy_sets[0].authorization[2].condition.op: unknown operator 'equal'``. Top-level keys other
than ``results``, ``policy_sets``, ``shell_profiles``, ``command_sets`` and ``posture`` are left
alone (kept in `PolicySnapshot.document`) so later sections can be added without breaking older
compilers' documents.

TACACS+ device administration adds two optional sections that accepting results reference by
name (``"shell_profile": "admin-15"``, ``"command_set": "netops"``)::

    "shell_profiles": {"admin-15": {"priv_lvl": 15, "idle_timeout": 30, "timeout": 480,
                       "autocmd": "show clock",
                       "custom": [{"attribute": "shell:roles", "value": "network-admin",
                                   "mandatory": false}]}},
    "command_sets": {"netops": {"default": "deny", "case_insensitive": false,
                     "rules": [{"action": "permit", "pattern": "show .*"},
                               {"action": "deny", "pattern": "reload"}]}}

Patterns are regular expressions compiled here and matched against the whole of one normalised
command (see `policy.commands`); nested unbounded repetition such as ``(a+)+`` is refused.

Posture adds an optional ``posture`` section (`posture.checks.compile_requirements`): the checks
posture reports are evaluated against and the grace period of ``posture.grace``::

    "posture": {"grace_seconds": 86400,
                "requirements": [{"id": "firewall", "fact": "firewall.enabled",
                                  "op": "is_true", "weight": 80}]}
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable, Collection, Container, Mapping
from typing import Any, Final, TypeVar

from policy.conditions import Condition, compile_condition
from policy.errors import PolicyError, type_name
from policy.model import (
    AuthorizationProfile,
    CommandAction,
    CommandRule,
    CommandSet,
    Outcome,
    ShellAttribute,
    ShellProfile,
)
from policy.rules import (
    AuthenticationRule,
    AuthorizationRule,
    FailAction,
    PolicySet,
    PolicySnapshot,
    RuleState,
)
from posture.checks import compile_requirements
from posture.model import PostureError, PostureRequirements

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
    | {"shell_profile", "command_set"}
)
_REJECT_KEYS: Final = frozenset({"decision", "description", "reply_message"})
_SHELL_KEYS: Final = frozenset(
    {"description", "priv_lvl", "timeout", "idle_timeout", "autocmd", "custom"}
)
_SHELL_CUSTOM_KEYS: Final = frozenset({"attribute", "value", "mandatory"})
_COMMAND_SET_KEYS: Final = frozenset({"description", "default", "case_insensitive", "rules"})
_COMMAND_RULE_KEYS: Final = frozenset({"description", "action", "pattern"})
MAX_ARGUMENT: Final = 255  # one TACACS+ argument, "name=value" (RFC 8907 6.1: a one-octet length)
MAX_PATTERN: Final = 256
MAX_COMMAND_RULES: Final = 1000
_PRIV_LVL_MAX: Final = 15
# Arguments a shell profile sets through its own fields, or that belong to the request.
_RESERVED_ARGUMENTS: Final[Mapping[str, str]] = {
    "priv-lvl": "set it with priv_lvl",
    "timeout": "set it with timeout",
    "idletime": "set it with idle_timeout",
    "autocmd": "set it with autocmd",
    "service": "it belongs to the request",
    "protocol": "it belongs to the request",
    "cmd": "it belongs to the request",
    "cmd-arg": "it belongs to the request",
}

E = TypeVar("E", RuleState, FailAction, Outcome, CommandAction)
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
    try:
        posture = compile_requirements(document.get("posture"), "posture")
    except PostureError as exc:
        raise PolicyError(exc.path, exc.message) from None
    compiler.posture = posture
    shells = _named(document.get("shell_profiles", {}), "shell_profiles", _shell_profile)
    command_sets = _named(document.get("command_sets", {}), "command_sets", _command_set)
    compiler.shell_profiles, compiler.command_sets = shells, command_sets
    results = compiler.results(_required(document, "results", ""), "results")
    raw_sets = _list(_required(document, "policy_sets", ""), "policy_sets")
    names = _Names("policy_sets")
    sets = []
    for n, raw in enumerate(raw_sets):
        sets.append(compiler.policy_set(raw, n, results, names))
    return PolicySnapshot(
        results=results,
        policy_sets=tuple(sets),
        document=copy.deepcopy(dict(document)),
        shell_profiles=shells,
        command_sets=command_sets,
        posture=posture,
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


def _whole(value: object, path: str, low: int, high: int, unit: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(path, f"expected a whole number{unit}, got {type_name(value)}")
    if not low <= value <= high:
        raise PolicyError(path, f"expected {low}..{high}{unit}, got {value}")
    return value


def _flag(data: Mapping[Any, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{path}.{key}", f"expected true or false, got {value!r}")
    return value


def _printable(value: object, path: str, max_bytes: int) -> str:
    text = _text(value, path, max_bytes=max_bytes)
    if not text.isprintable():
        raise PolicyError(path, f"must be printable text, got {text!r}")
    return text


T = TypeVar("T", ShellProfile, CommandSet)


def _named(value: object, path: str, one: Callable[[str, object, str], T]) -> dict[str, T]:
    """An object of named entries (``shell_profiles``, ``command_sets``), each compiled by `one`."""
    if not isinstance(value, Mapping):
        raise PolicyError(path, f"expected an object of named entries, got {type_name(value)}")
    out: dict[str, T] = {}
    for key, raw in value.items():
        shown = key if isinstance(key, str) else repr(key)
        name = _name(key, f"{path}.{shown}")
        out[name] = one(name, raw, f"{path}.{name}")
    return out


def _shell_profile(name: str, raw: object, path: str) -> ShellProfile:
    data = _object(raw, path, _SHELL_KEYS)
    _description(data, path)
    priv = _whole(_required(data, "priv_lvl", path), f"{path}.priv_lvl", 0, _PRIV_LVL_MAX, "")
    minutes: dict[str, int] = {}
    for key in ("timeout", "idle_timeout"):
        if key in data:
            minutes[key] = _whole(data[key], f"{path}.{key}", 0, MAX_TIMEOUT, " minutes")
    autocmd = None
    if "autocmd" in data:
        autocmd = _printable(data["autocmd"], f"{path}.autocmd", MAX_ARGUMENT - len("autocmd="))
    custom: list[ShellAttribute] = []
    if "custom" in data:
        cpath = f"{path}.custom"
        for n, item in enumerate(_list(data["custom"], cpath)):
            custom.append(_shell_attribute(item, f"{cpath}[{n}]"))
    return ShellProfile(
        name=name,
        priv_lvl=priv,
        timeout=minutes.get("timeout"),
        idle_timeout=minutes.get("idle_timeout"),
        autocmd=autocmd,
        custom=tuple(custom),
    )


def _shell_attribute(raw: object, path: str) -> ShellAttribute:
    item = _object(raw, path, _SHELL_CUSTOM_KEYS)
    apath = f"{path}.attribute"
    attribute = _text(_required(item, "attribute", path), apath)
    if _ATTRIBUTE_NAME.fullmatch(attribute) is None:
        raise PolicyError(apath, f"not an argument name: {attribute!r}")
    if attribute in _RESERVED_ARGUMENTS:
        raise PolicyError(apath, f"{attribute!r} is reserved: {_RESERVED_ARGUMENTS[attribute]}")
    value = _printable(_required(item, "value", path), f"{path}.value", MAX_ARGUMENT)
    if len(f"{attribute}={value}".encode()) > MAX_ARGUMENT:
        raise PolicyError(path, f"the argument {attribute}=... is longer than {MAX_ARGUMENT} bytes")
    return ShellAttribute(attribute, value, _flag(item, "mandatory", path, True))


def _command_set(name: str, raw: object, path: str) -> CommandSet:
    data = _object(raw, path, _COMMAND_SET_KEYS)
    _description(data, path)
    default = _choice(data, "default", path, CommandAction, CommandAction.DENY)
    ci = _flag(data, "case_insensitive", path, False)
    rpath = f"{path}.rules"
    raw_rules = _list(data.get("rules", []), rpath)
    if len(raw_rules) > MAX_COMMAND_RULES:
        raise PolicyError(rpath, f"more than {MAX_COMMAND_RULES} rules")
    rules = []
    for n, item in enumerate(raw_rules):
        ipath = f"{rpath}[{n}]"
        rule = _object(item, ipath, _COMMAND_RULE_KEYS)
        _description(rule, ipath)
        action = _choice(rule, "action", ipath, CommandAction, None)
        pattern, regex = _command_pattern(_required(rule, "pattern", ipath), f"{ipath}.pattern", ci)
        rules.append(CommandRule(number=n + 1, action=action, pattern=pattern, regex=regex))
    return CommandSet(name=name, rules=tuple(rules), default=default, case_insensitive=ci)


def _command_pattern(value: object, path: str, ci: bool) -> tuple[str, re.Pattern[str]]:
    """A rule's pattern, compiled to match one whole normalised command (``fullmatch``)."""
    pattern = _text(value, path, max_bytes=MAX_PATTERN)
    if pattern != pattern.strip():
        msg = "leading or trailing blanks never match (commands are normalised)"
        raise PolicyError(path, msg)
    try:
        regex = re.compile(pattern, re.IGNORECASE if ci else 0)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise PolicyError(path, f"invalid regular expression {pattern!r}: {exc}") from None
    nested = _nested_repeat(pattern, regex.flags)
    if nested:
        raise PolicyError(
            path,
            f"nested unbounded repetition in {pattern!r} can backtrack catastrophically;"
            " use a possessive quantifier (*+, ++) or an atomic group (?>...)",
        )
    return pattern, regex


_UNBOUNDED: Final = 1000  # a repeat that may run this often or more counts as unbounded
_REPEATS: Final = frozenset({"MAX_REPEAT", "MIN_REPEAT"})
_NO_BACKTRACK: Final = frozenset({"POSSESSIVE_REPEAT", "ATOMIC_GROUP"})


def _nested_repeat(pattern: str, flags: int) -> bool:
    """Whether a repeat holds another one that can split the same text many ways: an unbounded
    repeat in any repeat (``(a+)+``, ``(a*){2,9}``) or a variable one in an unbounded repeat
    (``(a{1,3})*``), the shapes of catastrophic backtracking. Possessive quantifiers and atomic
    groups never backtrack and pass. Read from the stdlib's own parse of the pattern
    (``re._parser``); when that is not there, the check is skipped (the pattern compiled)."""
    try:
        parser: Any = importlib.import_module("re._parser")
        tree = parser.parse(pattern, flags)
    except Exception:  # a private module: skip the heuristic rather than fail on it
        return False
    return _walk(tree, False, False)


def _walk(items: Any, in_repeat: bool, in_unbounded: bool) -> bool:
    """`in_repeat`: inside a repeat that may run more than once; `in_unbounded`: unbounded."""
    for op, av in items:
        name = str(op)
        if name in _REPEATS:
            low, high, body = av
            unbounded = high >= _UNBOUNDED
            if (unbounded and in_repeat) or (in_unbounded and low != high and high > 1):
                return True
            if _walk(body, in_repeat or high > 1, in_unbounded or unbounded):
                return True
        elif name in _NO_BACKTRACK:
            body = av[2] if name == "POSSESSIVE_REPEAT" else av
            if _walk(body, False, False):
                return True
        elif name == "SUBPATTERN":
            if _walk(av[3], in_repeat, in_unbounded):
                return True
        elif name == "BRANCH":
            if any(_walk(branch, in_repeat, in_unbounded) for branch in av[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT") and _walk(av[1], in_repeat, in_unbounded):
            return True
    return False


def _reference(value: object, path: str, what: str, known: Mapping[str, T]) -> T:
    if not isinstance(value, str):
        raise PolicyError(path, f"expected a {what} name, got {type_name(value)}")
    if value not in known:
        names = ", ".join(known) or "none defined"
        raise PolicyError(path, f"unknown {what} {value!r} (known: {names})")
    return known[value]


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
        self.shell_profiles: Mapping[str, ShellProfile] = {}
        self.command_sets: Mapping[str, CommandSet] = {}
        self.posture = PostureRequirements()

    def condition(self, data: Mapping[Any, Any], path: str) -> Condition | None:
        raw = data.get("condition")
        if raw is None:
            return None
        return compile_condition(
            raw, f"{path}.condition", attribute_names=self.attribute_names, posture=self.posture
        )

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
        if "shell_profile" in data:
            kw["shell_profile"] = _reference(
                data["shell_profile"], f"{path}.shell_profile", "shell profile", self.shell_profiles
            )
        if "command_set" in data:
            cpath = f"{path}.command_set"
            kw["command_set"] = _reference(
                data["command_set"], cpath, "command set", self.command_sets
            )
            if "shell_profile" not in data:
                msg = "needs a shell_profile too (command sets apply to shell sessions)"
                raise PolicyError(cpath, msg)
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
