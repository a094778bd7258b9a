"""Condition trees: plain data in, precompiled closures out.

A condition document is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a leaf
``{"attr": NAME, "op": OP, "value": V[, "case_insensitive": true]}``. `compile_condition` checks
it completely (names, operators, value types, regular expressions, CIDRs, time zones) and returns
a `Condition` whose `test(ctx, identity)` is a closure that does no parsing and no formatting;
`explain(ctx, identity)` recomputes the same answer with the words of why.

Device administration (TACACS+) uses the same names: ``protocol`` ("tacacs"), ``user.name``,
``user.groups``, ``nas.name``, ``nas.group``, ``nas.location``, ``auth.method`` (the authen_type),
``tacacs.service`` ("shell", "ppp", ...; absent for RADIUS) and ``time`` with ``time_window`` for
time of day and day of week (UTC unless a ``tz`` is given).

Posture and endpoint facts: ``posture.state`` (unknown, compliant, non_compliant),
``posture.score`` (0-100, higher is riskier; absent until a report was evaluated) with the
numeric operators ``less_than``, ``at_most``, ``at_least``, ``greater_than`` (and ``equals``,
``not_equals``, ``exists``), ``posture.failed`` (the set of failed check ids), ``posture.grace``
(true while the state is unknown and the endpoint was first seen less than the policy's
``posture.grace_seconds`` ago; an endpoint nac has not recorded yet, or a request without a
MAC, is at the start of its grace period), ``endpoint.blocked``, ``endpoint.randomized``
(a locally administered MAC) and ``endpoint.vendor`` (the IEEE OUI owner). The words of a
condition on ``posture.*`` name the failed checks and what each requires.

Semantics worth knowing:
- Multi-valued attributes (``user.groups``, ``radius.*``) match when any value matches; on
  ``user.groups``, ``contains`` is membership and ``in`` is "member of any of these".
- ``not_equals`` is the negation of ``equals``: an absent attribute is "not equal".
- ``time_window`` days name the day a window starts on: ``fri 22:00-06:00`` covers Saturday 03:00.
  The window is half-open, ``[start, end)``, with minute resolution; ``end`` may be ``24:00``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policy.errors import PolicyError, type_name
from policy.mac import mac_prefix, normalize_mac
from policy.model import AccessContext, Identity
from posture.model import PostureRequirements, PostureState

__all__ = [
    "ATTRIBUTES",
    "CERT_ATTRIBUTES",
    "MAX_DEPTH",
    "OPERATORS",
    "SECRET_ATTRIBUTES",
    "AllOf",
    "AnyOf",
    "Condition",
    "Leaf",
    "Not",
    "compile_condition",
]

Test = Callable[[AccessContext, Identity | None], bool]
Show = Callable[[AccessContext, Identity | None], str]
TextGetter = Callable[[AccessContext, Identity | None], str | None]
ManyGetter = Callable[[AccessContext, Identity | None], Collection[str]]
BoolGetter = Callable[[AccessContext, Identity | None], bool]
TimeGetter = Callable[[AccessContext, Identity | None], datetime]
NumberGetter = Callable[[AccessContext, Identity | None], int | float | None]
StrTest = Callable[[str], bool]

MAX_DEPTH: Final = 32
_NO_GROUPS: Final[frozenset[str]] = frozenset()
_NO_VALUES: Final[tuple[str, ...]] = ()
_RADIUS_PREFIX: Final = "radius."
# Fields of a verified EAP-TLS client certificate (AccessContext.certificate), multi-valued.
CERT_ATTRIBUTES: Final = frozenset(
    {"cert.subject", "cert.cn", "cert.issuer", "cert.issuer_cn", "cert.email", "cert.upn"}
    | {"cert.dns", "cert.ou", "cert.serial", "cert.not_after", "cert.days_to_expiry"}
    | {"cert.sha256"}
)
_RADIUS_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# Attributes that carry credentials: a condition on them would copy secrets into trace words.
SECRET_ATTRIBUTES: Final = frozenset(
    {"User-Password", "CHAP-Password", "MS-CHAP-Response", "MS-CHAP2-Response", "EAP-Message"}
    | {"Message-Authenticator", "Tunnel-Password", "MS-CHAP-Challenge", "CHAP-Challenge"}
)


# ---------------------------------------------------------------------------------------------
# The attribute namespace


class Kind(Enum):
    TEXT = "text"  # one optional string
    MANY = "many"  # several strings (radius.*), any may match
    SET = "set"  # a set of strings (user.groups)
    BOOL = "bool"
    TIME = "time"
    NUMBER = "number"  # one optional number (posture.score)


def _user_name(c: AccessContext, i: Identity | None) -> str | None:
    return i.name if i is not None else c.username


def _endpoint_mac(c: AccessContext, i: Identity | None) -> str | None:
    if c.mac is not None:
        return c.mac
    return c.endpoint.mac if c.endpoint is not None else None


_TEXT: Final[Mapping[str, TextGetter]] = {
    "protocol": lambda c, i: c.protocol,
    "auth.method": lambda c, i: c.auth_method,
    "user.name": _user_name,
    "user.source": lambda c, i: i.source if i is not None else None,
    "request.username": lambda c, i: c.username,
    "endpoint.mac": _endpoint_mac,
    "endpoint.profile": lambda c, i: c.endpoint.profile if c.endpoint is not None else None,
    "endpoint.group": lambda c, i: c.endpoint.group if c.endpoint is not None else None,
    "nas.name": lambda c, i: c.nas.name,
    "nas.ip": lambda c, i: c.nas.ip,
    "nas.group": lambda c, i: c.nas.device_group or None,
    "nas.location": lambda c, i: c.nas.location or None,
    "nas.vendor": lambda c, i: c.nas.vendor,
    "service_type": lambda c, i: c.service_type,
    "nas_port_type": lambda c, i: c.nas_port_type,
    "nas_port_id": lambda c, i: c.nas_port_id,
    "called_station_id": lambda c, i: c.called_station_id,
    "calling_station_id": lambda c, i: c.calling_station_id,
    "ssid": lambda c, i: c.ssid,
    "posture.state": lambda c, i: c.posture,
    "tacacs.service": lambda c, i: c.tacacs_service,
    "endpoint.vendor": lambda c, i: c.endpoint.vendor if c.endpoint is not None else None,
}
_SETS: Final[Mapping[str, ManyGetter]] = {
    "user.groups": lambda c, i: i.groups if i is not None else _NO_GROUPS,
    "posture.failed": lambda c, i: (
        c.endpoint.posture_failed if c.endpoint is not None else _NO_GROUPS
    ),
}
_BOOLS: Final[Mapping[str, BoolGetter]] = {
    "endpoint.known": lambda c, i: c.endpoint is not None and c.endpoint.known,
    "endpoint.blocked": lambda c, i: c.endpoint is not None and c.endpoint.blocked,
    "endpoint.randomized": lambda c, i: c.endpoint is not None and c.endpoint.randomized,
    # Replaced at compile time by a getter holding the policy's grace period (_grace_getter).
    "posture.grace": lambda c, i: False,
}


def _posture_score(c: AccessContext, i: Identity | None) -> int | None:
    ep = c.endpoint
    if ep is None or ep.posture_at is None:
        return None  # no report evaluated yet
    return ep.posture_score


_NUMBERS: Final[Mapping[str, NumberGetter]] = {"posture.score": _posture_score}
_TIMES: Final[Mapping[str, TimeGetter]] = {"time": lambda c, i: c.now}
# Values a few attributes can take: a typo there is a compile error, not a rule that never matches.
_CHOICES: Final[Mapping[str, frozenset[str]]] = {
    "protocol": frozenset({"radius", "tacacs"}),
    "posture.state": frozenset(s.value for s in PostureState),
}

ATTRIBUTES: Final[tuple[str, ...]] = (
    *_TEXT,
    *_SETS,
    *_BOOLS,
    *_TIMES,
    *_NUMBERS,
    *sorted(CERT_ATTRIBUTES),
    "radius.<Attribute-Name>",
)

_STRING_OPS: Final = (
    "equals",
    "not_equals",
    "in",
    "contains",
    "matches",
    "starts_with",
    "ends_with",
)
_NUMBER_OPS: Final = ("less_than", "at_most", "at_least", "greater_than")
_OPS_BY_KIND: Final[Mapping[Kind, tuple[str, ...]]] = {
    Kind.TEXT: (*_STRING_OPS, "mac_in", "ip_in_cidr", "exists"),
    Kind.MANY: (*_STRING_OPS, "mac_in", "ip_in_cidr", "exists"),
    Kind.SET: ("equals", "in", "contains", "matches", "starts_with", "ends_with", "exists"),
    Kind.BOOL: ("equals", "not_equals", "exists"),
    Kind.TIME: ("time_window", "exists"),
    Kind.NUMBER: ("equals", "not_equals", *_NUMBER_OPS, "exists"),
}
OPERATORS: Final[tuple[str, ...]] = (
    *_STRING_OPS,
    "mac_in",
    "ip_in_cidr",
    "time_window",
    *_NUMBER_OPS,
    "exists",
)


@dataclass(frozen=True, slots=True)
class _Env:
    """What compilation needs beyond the document: dictionary names, the posture policy."""

    names: Container[str] | None
    posture: PostureRequirements


# ---------------------------------------------------------------------------------------------
# Compiled conditions


class Condition:
    """A compiled condition. `test` is the hot path; `explain` says why, `describe` what."""

    __slots__ = ()
    test: Test

    def explain(self, ctx: AccessContext, identity: Identity | None = None) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def evaluate(self, ctx: AccessContext, identity: Identity | None = None) -> tuple[bool, str]:
        """(matched, why), e.g. ``(False, "user.groups contains 'x': no (user.groups: y)")``."""
        return self.test(ctx, identity), self.explain(ctx, identity)


def _yes(matched: bool) -> str:
    return "yes" if matched else "no"


@dataclass(frozen=True, slots=True)
class Leaf(Condition):
    attr: str
    op: str
    text: str  # the leaf in words, e.g. "user.groups contains 'employees'"
    test: Test
    show: Show  # the actual value in words

    def explain(self, ctx: AccessContext, identity: Identity | None = None) -> str:
        matched = self.test(ctx, identity)
        return f"{self.text}: {_yes(matched)} ({self.attr}: {self.show(ctx, identity)})"

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    children: tuple[Condition, ...]
    test: Test

    def explain(self, ctx: AccessContext, identity: Identity | None = None) -> str:
        parts = "; ".join(c.explain(ctx, identity) for c in self.children)
        return f"all of [{parts}]: {_yes(self.test(ctx, identity))}"

    def describe(self) -> str:
        return "all of [" + "; ".join(c.describe() for c in self.children) + "]"


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    children: tuple[Condition, ...]
    test: Test

    def explain(self, ctx: AccessContext, identity: Identity | None = None) -> str:
        parts = "; ".join(c.explain(ctx, identity) for c in self.children)
        return f"any of [{parts}]: {_yes(self.test(ctx, identity))}"

    def describe(self) -> str:
        return "any of [" + "; ".join(c.describe() for c in self.children) + "]"


@dataclass(frozen=True, slots=True)
class Not(Condition):
    child: Condition
    test: Test

    def explain(self, ctx: AccessContext, identity: Identity | None = None) -> str:
        return f"not [{self.child.explain(ctx, identity)}]: {_yes(self.test(ctx, identity))}"

    def describe(self) -> str:
        return f"not [{self.child.describe()}]"


def _all_test(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda c, i: a(c, i) and b(c, i)

    def test(c: AccessContext, i: Identity | None) -> bool:
        for t in tests:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not t(c, i):
                return False
        return True

    return test


def _any_test(tests: tuple[Test, ...]) -> Test:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda c, i: a(c, i) or b(c, i)

    def test(c: AccessContext, i: Identity | None) -> bool:
        for t in tests:  # noqa: SIM110 - a loop is faster than any() over a generator
            if t(c, i):
                return True
        return False

    return test


def _not_test(t: Test) -> Test:
    return lambda c, i: not t(c, i)


# ---------------------------------------------------------------------------------------------
# Compilation


def compile_condition(
    data: object,
    path: str = "condition",
    *,
    attribute_names: Container[str] | None = None,
    posture: PostureRequirements | None = None,
) -> Condition:
    """Compile a condition document or raise `PolicyError` naming the faulty field.

    `attribute_names`, when given, is the set of dictionary names ``radius.<Name>`` may use;
    `posture` the compiled posture section (its grace period, and the checks whose words a
    condition on ``posture.*`` shows).
    """
    env = _Env(attribute_names, posture if posture is not None else _NO_POSTURE)
    return _compile(data, path, 0, env)


_NO_POSTURE: Final = PostureRequirements()


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _compile(data: object, path: str, depth: int, names: _Env) -> Condition:
    if depth >= MAX_DEPTH:
        raise PolicyError(path, f"conditions nest deeper than {MAX_DEPTH} levels")
    if not isinstance(data, Mapping):
        raise PolicyError(path, f"expected an object, got {type_name(data)}")
    kinds = [k for k in ("all", "any", "not", "attr") if k in data]
    if len(kinds) != 1:
        raise PolicyError(path, "expected exactly one of 'all', 'any', 'not' or a leaf with 'attr'")
    kind = kinds[0]
    if kind == "attr":
        return _compile_leaf(data, path, names)
    _no_other_keys(data, path, {kind})
    inner = data[kind]
    sub = f"{path}.{kind}"
    if kind == "not":
        child = _compile(inner, sub, depth + 1, names)
        return Not(child, _not_test(child.test))
    if not isinstance(inner, list | tuple):
        raise PolicyError(sub, f"expected a list of conditions, got {type_name(inner)}")
    if not inner:
        raise PolicyError(sub, "must not be empty")
    children = tuple(_compile(c, f"{sub}[{n}]", depth + 1, names) for n, c in enumerate(inner))
    tests = tuple(c.test for c in children)
    if kind == "all":
        return AllOf(children, _all_test(tests))
    return AnyOf(children, _any_test(tests))


def _no_other_keys(data: Mapping[Any, Any], path: str, allowed: Collection[str]) -> None:
    for key in data:
        if key not in allowed:
            shown = key if isinstance(key, str) else repr(key)
            raise PolicyError(f"{path}.{shown}", "unknown key" + _suggest(str(key), [*allowed]))


_LEAF_KEYS: Final = frozenset({"attr", "op", "value", "case_insensitive"})


def _compile_leaf(data: Mapping[Any, Any], path: str, env: _Env) -> Leaf:
    _no_other_keys(data, path, _LEAF_KEYS)
    attr = data["attr"]
    if not isinstance(attr, str):
        raise PolicyError(f"{path}.attr", f"expected a string, got {type_name(attr)}")
    kind = _kind_of(attr, f"{path}.attr", env.names)
    op = data.get("op")
    if not isinstance(op, str):
        raise PolicyError(f"{path}.op", f"expected a string, got {type_name(op)}")
    if op not in OPERATORS:
        raise PolicyError(f"{path}.op", f"unknown operator {op!r}" + _suggest(op, OPERATORS))
    allowed = _OPS_BY_KIND[kind]
    if op not in allowed:
        use = ", ".join(allowed)
        msg = f"operator {op!r} does not apply to {attr} (use one of {use})"
        raise PolicyError(f"{path}.op", msg)
    ci = data.get("case_insensitive", False)
    if not isinstance(ci, bool):
        raise PolicyError(f"{path}.case_insensitive", f"expected true or false, got {ci!r}")
    if ci and op not in _STRING_OPS:
        raise PolicyError(f"{path}.case_insensitive", f"does not apply to operator {op!r}")
    if "value" not in data and op != "exists":
        raise PolicyError(f"{path}.value", "required")
    value = data.get("value", True)
    vpath = f"{path}.value"

    leaf: Leaf
    if op == "exists":
        if not isinstance(value, bool):
            raise PolicyError(vpath, f"expected true or false, got {type_name(value)}")
        leaf = _exists_leaf(attr, kind, value, env)
    elif kind is Kind.BOOL:
        leaf = _bool_leaf(attr, op, value, vpath, env)
    elif kind is Kind.TIME:
        return _time_window_leaf(attr, _TIMES[attr], value, vpath)
    elif kind is Kind.NUMBER:
        leaf = _number_leaf(attr, op, value, vpath)
    else:
        leaf = _string_leaf(attr, kind, op, value, ci, vpath)
    if attr.startswith("posture."):
        return _with_posture_words(leaf, env)
    return leaf


def _string_leaf(attr: str, kind: Kind, op: str, value: object, ci: bool, vpath: str) -> Leaf:
    pred, shown = _string_predicate(op, value, ci, vpath, _CHOICES.get(attr))
    text = f"{attr} {op} {shown}" + (" (case-insensitive)" if ci else "")
    if kind is Kind.TEXT:
        getter = _TEXT[attr]
        direct = _DIRECT_EQUALS.get(attr)
        if direct is not None and op == "equals" and not ci and isinstance(value, str):
            test = direct(value)
        else:
            test = _text_test(op, getter, pred, value, ci)
        return Leaf(attr, op, text, test, lambda c, i: _show_text(getter(c, i)))
    many = _SETS[attr] if kind is Kind.SET else _many_getter(attr)
    if kind is Kind.SET and op in ("equals", "contains"):
        pred, _ = _string_predicate("equals", value, ci, vpath, None)  # membership
    test = _many_test(op, kind, many, pred, value, ci)
    show = _show_set if kind is Kind.SET else _show_many
    return Leaf(attr, op, text, test, lambda c, i: show(many(c, i)))


def _kind_of(attr: str, path: str, names: Container[str] | None) -> Kind:
    if attr in _TEXT:
        return Kind.TEXT
    if attr in _SETS:
        return Kind.SET
    if attr in _BOOLS:
        return Kind.BOOL
    if attr in _TIMES:
        return Kind.TIME
    if attr in CERT_ATTRIBUTES:
        return Kind.MANY
    if attr.startswith(_RADIUS_PREFIX):
        name = attr[len(_RADIUS_PREFIX) :]
        if _RADIUS_NAME.fullmatch(name) is None:
            raise PolicyError(path, f"not a dictionary attribute name: {name!r}")
        if name in SECRET_ATTRIBUTES:
            raise PolicyError(path, f"{name} carries credentials and cannot be used in conditions")
        if names is not None and name not in names:
            raise PolicyError(path, f"unknown RADIUS attribute {name!r}")
        return Kind.MANY
    if attr in _NUMBERS:
        return Kind.NUMBER
    known = [*_TEXT, *_SETS, *_BOOLS, *_TIMES, *_NUMBERS]
    raise PolicyError(path, f"unknown attribute {attr!r}" + _suggest(attr, known))


def _radius_getter(name: str) -> ManyGetter:
    return lambda c, i: c.attributes.get(name, _NO_VALUES)


def _many_getter(attr: str) -> ManyGetter:
    """``radius.NAME`` from the request, ``cert.*`` from the client certificate."""
    if attr in CERT_ATTRIBUTES:
        return lambda c, i: c.certificate.get(attr, _NO_VALUES)
    return _radius_getter(attr[len(_RADIUS_PREFIX) :])


def _show_text(value: str | None) -> str:
    if value is None:
        return "absent"
    return value if value else "''"


def _show_many(values: Collection[str]) -> str:
    return ", ".join(values) if values else "absent"


def _show_set(values: Collection[str]) -> str:
    return ", ".join(sorted(values)) if values else "none"


# --- exists and booleans ---------------------------------------------------------------------


def _exists_leaf(attr: str, kind: Kind, want: bool, env: _Env) -> Leaf:
    text = f"{attr} exists" if want else f"{attr} does not exist"
    test: Test
    show: Show
    if kind is Kind.NUMBER:
        n = _NUMBERS[attr]
        show = lambda c, i: _show_number(n(c, i))  # noqa: E731
        test = (lambda c, i: n(c, i) is not None) if want else (lambda c, i: n(c, i) is None)
    elif kind is Kind.TEXT:
        g = _TEXT[attr]
        show = lambda c, i: _show_text(g(c, i))  # noqa: E731
        test = (lambda c, i: g(c, i) is not None) if want else (lambda c, i: g(c, i) is None)
    elif kind in (Kind.SET, Kind.MANY):
        m = _SETS[attr] if kind is Kind.SET else _many_getter(attr)
        show = lambda c, i: _show_many(m(c, i))  # noqa: E731
        test = (lambda c, i: len(m(c, i)) > 0) if want else (lambda c, i: len(m(c, i)) == 0)
    else:  # booleans and the clock are always there
        show = lambda c, i: "present"  # noqa: E731
        test = (lambda c, i: True) if want else (lambda c, i: False)
    return Leaf(attr, "exists", text, test, show)


def _bool_leaf(attr: str, op: str, value: object, path: str, env: _Env) -> Leaf:
    if not isinstance(value, bool):
        raise PolicyError(path, f"expected true or false, got {type_name(value)}")
    g = _grace_getter(env.posture.grace_seconds) if attr == "posture.grace" else _BOOLS[attr]
    want = value if op == "equals" else not value
    test: Test = (lambda c, i: g(c, i)) if want else (lambda c, i: not g(c, i))
    text = f"{attr} {op} {'true' if value else 'false'}"
    return Leaf(attr, op, text, test, lambda c, i: "true" if g(c, i) else "false")


# --- numbers and posture ---------------------------------------------------------------------

_NUMBER_WORDS: Final[Mapping[str, str]] = {
    "equals": "equals",
    "not_equals": "not equals",
    "less_than": "less than",
    "at_most": "at most",
    "at_least": "at least",
    "greater_than": "greater than",
}


def _show_number(value: int | float | None) -> str:
    return "absent" if value is None else f"{value:g}"


def _number_leaf(attr: str, op: str, value: object, path: str) -> Leaf:
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        raise PolicyError(path, f"expected a number, got {type_name(value)}")
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        raise PolicyError(path, "expected a finite number")
    g = _NUMBERS[attr]
    v = value
    test: Test
    if op == "equals":
        test = lambda c, i: g(c, i) == v  # noqa: E731 - None never equals a number
    elif op == "not_equals":
        test = lambda c, i: g(c, i) != v  # noqa: E731
    elif op == "less_than":
        test = lambda c, i: (x := g(c, i)) is not None and x < v  # noqa: E731
    elif op == "at_most":
        test = lambda c, i: (x := g(c, i)) is not None and x <= v  # noqa: E731
    elif op == "at_least":
        test = lambda c, i: (x := g(c, i)) is not None and x >= v  # noqa: E731
    else:
        test = lambda c, i: (x := g(c, i)) is not None and x > v  # noqa: E731
    text = f"{attr} {_NUMBER_WORDS[op]} {v:g}"
    return Leaf(attr, op, text, test, lambda c, i: _show_number(g(c, i)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _grace_getter(grace_seconds: int) -> BoolGetter:
    """``posture.grace``: unknown posture and first seen less than the grace period ago (an
    endpoint not recorded yet is at the start of it). No grace period: always false."""
    if grace_seconds <= 0:
        return lambda c, i: False
    limit = timedelta(seconds=grace_seconds)
    unknown = PostureState.UNKNOWN.value

    def within(c: AccessContext, i: Identity | None) -> bool:
        if c.posture != unknown:
            return False
        ep = c.endpoint
        first = ep.first_seen if ep is not None else None
        return first is None or c.now - _aware(first) < limit

    return within


def _posture_facts(c: AccessContext, env: _Env) -> str:
    """The endpoint's posture in words: state, score, each failed check and what it needs."""
    ep = c.endpoint
    if ep is None or ep.posture_at is None:
        words = f"{c.posture}, no posture report"
    else:
        words = f"{c.posture}, score {ep.posture_score}"
        if ep.posture_failed:
            by_id = env.posture.by_id()
            parts = []
            for cid in sorted(ep.posture_failed):
                check = by_id.get(cid)
                parts.append(f"{cid} (requires {check.requirement()})" if check else cid)
            words += "; failed checks: " + ", ".join(parts)
    grace = env.posture.grace_seconds
    if c.posture == PostureState.UNKNOWN.value and grace > 0:
        first = ep.first_seen if ep is not None else None
        if first is None:
            words += f"; not recorded yet: within the {grace}s grace period"
        else:
            age = int((c.now - _aware(first)).total_seconds())
            inside = "within" if age < grace else "past"
            words += f"; first seen {age}s ago: {inside} the {grace}s grace period"
    return words


def _with_posture_words(leaf: Leaf, env: _Env) -> Leaf:
    """A posture leaf whose words also name the failed checks (the live log shows them)."""
    show = leaf.show

    def words(c: AccessContext, i: Identity | None) -> str:
        return f"{show(c, i)}; posture: {_posture_facts(c, env)}"

    return Leaf(leaf.attr, leaf.op, leaf.text, leaf.test, words)


# --- string operators -------------------------------------------------------------------------


def _want_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(path, f"expected a string, got {type_name(value)}")
    return value


def _want_str_list(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise PolicyError(path, f"expected a list of strings, got {type_name(value)}")
    if not value:
        raise PolicyError(path, "must not be empty")
    return tuple(_want_str(v, f"{path}[{n}]") for n, v in enumerate(value))


def _check_choice(value: str, path: str, choices: frozenset[str] | None) -> None:
    if choices is not None and value not in choices:
        raise PolicyError(path, f"{value!r} is not one of {', '.join(sorted(choices))}")


def _string_predicate(
    op: str, value: object, ci: bool, path: str, choices: frozenset[str] | None
) -> tuple[StrTest, str]:
    """A test on one string for `op`, and the value in words."""
    if op in ("equals", "not_equals"):
        v = _want_str(value, path)
        if not ci:
            _check_choice(v, path, choices)
            return v.__eq__, repr(v)
        lv = v.lower()
        return (lambda s: s.lower() == lv), repr(v)
    if op == "in":
        vs = _want_str_list(value, path)
        if not ci:
            for n, v in enumerate(vs):
                _check_choice(v, f"{path}[{n}]", choices)
            return frozenset(vs).__contains__, repr(list(vs))
        lvs = frozenset(v.lower() for v in vs)
        return (lambda s: s.lower() in lvs), repr(list(vs))
    if op in ("contains", "starts_with", "ends_with"):
        v = _want_str(value, path)
        if op == "contains":
            if ci:
                lv = v.lower()
                return (lambda s: lv in s.lower()), repr(v)
            return (lambda s: v in s), repr(v)
        if ci:
            lv = v.lower()
            if op == "starts_with":
                return (lambda s: s.lower().startswith(lv)), repr(v)
            return (lambda s: s.lower().endswith(lv)), repr(v)
        if op == "starts_with":
            return (lambda s: s.startswith(v)), repr(v)
        return (lambda s: s.endswith(v)), repr(v)
    if op == "matches":
        v = _want_str(value, path)
        try:
            rx = re.compile(v, re.IGNORECASE if ci else 0)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            raise PolicyError(path, f"invalid regular expression {v!r}: {exc}") from None
        return (lambda s: rx.fullmatch(s) is not None), repr(v)
    if op == "mac_in":
        return _mac_predicate(value, path)
    if op == "ip_in_cidr":
        return _cidr_predicate(value, path)
    raise AssertionError(op)  # pragma: no cover - OPERATORS and _OPS_BY_KIND keep this unreachable


def _protocol_is(v: str) -> Test:
    return lambda c, i: c.protocol == v


def _auth_method_is(v: str) -> Test:
    return lambda c, i: c.auth_method == v


# ``equals`` on the attributes that choose policy sets and authentication rules, read without
# the getter's extra call: about 40 ns per test on the request path.
_DIRECT_EQUALS: Final[Mapping[str, Callable[[str], Test]]] = {
    "protocol": _protocol_is,
    "auth.method": _auth_method_is,
}


def _text_test(op: str, g: TextGetter, pred: StrTest, value: object, ci: bool) -> Test:
    # Specialized shapes for the common operators; everything else goes through `pred`.
    if not ci and op == "equals" and isinstance(value, str):
        v = value
        return lambda c, i: g(c, i) == v
    if not ci and op == "not_equals" and isinstance(value, str):
        v = value
        return lambda c, i: g(c, i) != v
    if not ci and op == "in" and isinstance(value, list | tuple):
        vs = frozenset(value)
        return lambda c, i: g(c, i) in vs
    if op == "not_equals":
        return lambda c, i: not ((s := g(c, i)) is not None and pred(s))

    def test(c: AccessContext, i: Identity | None) -> bool:
        s = g(c, i)
        return s is not None and pred(s)

    return test


def _many_test(op: str, kind: Kind, m: ManyGetter, pred: StrTest, value: object, ci: bool) -> Test:
    membership = op == "equals" or (kind is Kind.SET and op == "contains")
    if not ci and membership and isinstance(value, str):
        v = value
        return lambda c, i: v in m(c, i)
    if not ci and op == "in" and kind is Kind.SET and isinstance(value, list | tuple):
        vs = frozenset(value)
        return lambda c, i: not vs.isdisjoint(m(c, i))

    def any_test(c: AccessContext, i: Identity | None) -> bool:
        for s in m(c, i):  # noqa: SIM110 - a loop is faster than any() over a generator
            if pred(s):
                return True
        return False

    if op == "not_equals":
        return lambda c, i: not any_test(c, i)
    return any_test


# --- mac_in -----------------------------------------------------------------------------------


def _mac_predicate(value: object, path: str) -> tuple[StrTest, str]:
    items = _want_str_list(value, path)
    full: set[str] = set()
    prefixes: list[str] = []
    for n, item in enumerate(items):
        digits = mac_prefix(item)
        if digits is None:
            raise PolicyError(f"{path}[{n}]", f"not a MAC address or prefix: {item!r}")
        if len(digits) == 12:
            full.add(digits)
        else:
            prefixes.append(digits)
    exact = frozenset(full)
    starts = tuple(prefixes)

    def test(s: str) -> bool:
        mac = normalize_mac(s)
        if mac is None:
            return False
        h = mac.replace(":", "")
        return h in exact or h.startswith(starts)

    return test, repr(list(items))


# --- ip_in_cidr -------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _cidr_predicate(value: object, path: str) -> tuple[StrTest, str]:
    items = _want_str_list(value, path)
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for n, item in enumerate(items):
        try:
            net = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise PolicyError(f"{path}[{n}]", f"not a CIDR network: {item!r}") from None
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(net)
        else:
            v6.append(net)
    nets4, nets6 = tuple(v4), tuple(v6)

    def test(s: str) -> bool:
        ip = _parse_ip(s)
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is None:
                return any(ip in net for net in nets6)
            ip = ip.ipv4_mapped
        return any(ip in net for net in nets4)

    return test, repr(list(items))


# --- time_window ------------------------------------------------------------------------------

_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_WINDOW_KEYS: Final = frozenset({"days", "start", "end", "tz"})


def _minutes(value: object, path: str, *, end: bool) -> int:
    text = _want_str(value, path)
    if end and text == "24:00":
        return 24 * 60
    m = _HHMM.fullmatch(text)
    if m is None:
        raise PolicyError(path, f"expected a time as HH:MM, got {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def _zone(value: object, path: str) -> tzinfo:
    name = _want_str(value, path)
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PolicyError(path, f"unknown time zone {name!r}") from None


def _time_window_leaf(attr: str, g: TimeGetter, value: object, path: str) -> Leaf:
    if not isinstance(value, Mapping):
        got = type_name(value)
        raise PolicyError(path, f"expected an object with start, end, days, tz; got {got}")
    _no_other_keys(value, path, _WINDOW_KEYS)
    for key in ("start", "end"):
        if key not in value:
            raise PolicyError(f"{path}.{key}", "required")
    start = _minutes(value["start"], f"{path}.start", end=False)
    end = _minutes(value["end"], f"{path}.end", end=True)
    if start == end:
        raise PolicyError(f"{path}.end", "a window must not be empty (start equals end)")
    day_names = list(_DAYS)
    if "days" in value:
        day_names = list(_want_str_list(value["days"], f"{path}.days"))
        for n, d in enumerate(day_names):
            if d.lower() not in _DAYS:
                use = ", ".join(_DAYS)
                raise PolicyError(f"{path}.days[{n}]", f"unknown day {d!r} (use {use})")
    day_set = {d.lower() for d in day_names}
    days = tuple(d in day_set for d in _DAYS)  # indexed by weekday(); Monday is 0
    tz_name = value.get("tz", "UTC")
    tz = _zone(tz_name, f"{path}.tz")

    if start < end:

        def within(dt: datetime) -> bool:
            local = dt.astimezone(tz)
            t = local.hour * 60 + local.minute
            return start <= t < end and days[local.weekday()]

    else:  # crosses midnight: the evening part on a listed day, the morning part on the day after

        def within(dt: datetime) -> bool:
            local = dt.astimezone(tz)
            t = local.hour * 60 + local.minute
            if t >= start:
                return days[local.weekday()]
            return t < end and days[local.weekday() - 1]

    listed = ",".join(d for d, on in zip(_DAYS, days, strict=True) if on)
    text = f"{attr} within {listed} {_hhmm(start)}-{_hhmm(end)} {tz_name}"

    def show(c: AccessContext, i: Identity | None) -> str:
        local = g(c, i).astimezone(tz)
        return f"{_DAYS[local.weekday()]} {local:%H:%M} {tz_name}"

    return Leaf(attr, "time_window", text, lambda c, i: within(g(c, i)), show)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
