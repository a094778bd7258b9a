"""Posture requirements as plain data in, compiled checks out; one check run against facts.

A posture policy (the ``posture`` section of a policy document)::

    {"grace_seconds": 86400,
     "requirements": [
        {"id": "firewall", "fact": "firewall.enabled", "op": "is_true", "weight": 80},
        {"id": "av-signatures", "fact": "av.signature_age_days", "op": "at_most", "value": 7,
         "weight": 50, "when": {"fact": "av.running", "op": "reported"}}]}

Operators: ``is_true``, ``is_false``, ``equals``, ``at_least`` / ``at_most`` (numbers; dotted
versions such as ``"22.04"`` when the value is a string), ``max_age_days`` (an ISO 8601 date or
timestamp fact no older than N days at ``now``), ``matches`` (a regular expression matching the
whole text), ``reported`` (present, any value). `compile_requirements` checks everything (ids,
fact keys, operator against the documented fact's type, value types, regular expressions) and
raises `PostureError` naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from posture.model import (
    FACT_TYPES,
    CheckOutcome,
    CheckResult,
    FactType,
    FactValue,
    Operator,
    PostureCheck,
    PostureError,
    PostureRequirements,
    Precondition,
    required_words,
    show_value,
)

__all__ = [
    "FACT_KEY",
    "MAX_CHECKS",
    "MAX_GRACE_SECONDS",
    "compile_requirements",
    "fact_type",
    "parse_version",
    "run_check",
    "type_name",
]

FACT_KEY: Final = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*")
MAX_FACT_KEY: Final = 64
_CHECK_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_CHECKS: Final = 200
MAX_GRACE_SECONDS: Final = 366 * 86400
MAX_PATTERN: Final = 256
_SECTION_KEYS: Final = frozenset({"description", "grace_seconds", "requirements"})
_CHECK_KEYS: Final = frozenset({"id", "fact", "op", "value", "weight", "when", "description"})
_WHEN_KEYS: Final = frozenset({"fact", "op", "value"})
_NO_VALUE: Final = frozenset({Operator.IS_TRUE, Operator.IS_FALSE, Operator.REPORTED})
_VERSION: Final = re.compile(r"\s*[vV]?(\d{1,9}(?:\.\d{1,9}){0,15})")


def type_name(value: object) -> str:
    """How a wrong value is named in an error message ("a string", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def fact_type(key: str) -> FactType:
    return FACT_TYPES.get(key, FactType.ANY)


def parse_version(text: str) -> tuple[int, ...] | None:
    """The leading dotted numbers of a version (``"6.1.0-18-amd64"`` -> (6, 1, 0))."""
    m = _VERSION.match(text)
    if m is None:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


# --- compilation ------------------------------------------------------------------------------


def compile_requirements(data: object, path: str = "posture") -> PostureRequirements:
    """Compile a ``posture`` section or raise `PostureError` naming the field."""
    if data is None:
        return PostureRequirements()
    section = _object(data, path, _SECTION_KEYS)
    description = _description(section, path)
    grace = section.get("grace_seconds", 0)
    if not isinstance(grace, int) or isinstance(grace, bool):
        raise PostureError(
            f"{path}.grace_seconds", f"expected whole seconds, got {type_name(grace)}"
        )
    if not 0 <= grace <= MAX_GRACE_SECONDS:
        raise PostureError(f"{path}.grace_seconds", f"expected 0..{MAX_GRACE_SECONDS}, got {grace}")
    raw = section.get("requirements", [])
    rpath = f"{path}.requirements"
    if not isinstance(raw, list | tuple):
        raise PostureError(rpath, f"expected a list of checks, got {type_name(raw)}")
    if len(raw) > MAX_CHECKS:
        raise PostureError(rpath, f"more than {MAX_CHECKS} checks")
    checks: list[PostureCheck] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(raw):
        check = _check(item, f"{rpath}[{n}]")
        if check.id in seen:
            first = f"{rpath}[{seen[check.id]}]"
            raise PostureError(f"{rpath}[{n}].id", f"duplicate id {check.id!r} (first at {first})")
        seen[check.id] = n
        checks.append(check)
    return PostureRequirements(checks=tuple(checks), grace_seconds=grace, description=description)


def _object(value: object, path: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PostureError(path, f"expected an object, got {type_name(value)}")
    for key in value:
        if key not in allowed:
            shown = key if isinstance(key, str) else repr(key)
            raise PostureError(f"{path}.{shown}", f"unknown key (use {', '.join(sorted(allowed))})")
    return value


def _description(data: Mapping[str, Any], path: str) -> str:
    value = data.get("description", "")
    if not isinstance(value, str):
        raise PostureError(f"{path}.description", f"expected a string, got {type_name(value)}")
    return value


def _required(data: Mapping[str, Any], key: str, path: str) -> object:
    if key not in data:
        raise PostureError(f"{path}.{key}", "required")
    return data[key]


def _fact_key(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise PostureError(path, f"expected a fact key, got {type_name(value)}")
    if len(value) > MAX_FACT_KEY or FACT_KEY.fullmatch(value) is None:
        raise PostureError(
            path, f"not a fact key: {value!r} (lowercase words joined by dots, e.g. disk.encrypted)"
        )
    return value


def _operator(value: object, path: str) -> Operator:
    for op in Operator:
        if isinstance(value, str) and value == op.value:
            return op
    use = ", ".join(o.value for o in Operator)
    raise PostureError(path, f"unknown operator {value!r} (use one of {use})")


def _check(raw: object, path: str) -> PostureCheck:
    data = _object(raw, path, _CHECK_KEYS)
    cid = _required(data, "id", path)
    if not isinstance(cid, str) or _CHECK_ID.fullmatch(cid) is None:
        raise PostureError(
            f"{path}.id", f"expected a check id (1-64 of A-Z a-z 0-9 _ . -), got {cid!r}"
        )
    fact = _fact_key(_required(data, "fact", path), f"{path}.fact")
    op = _operator(_required(data, "op", path), f"{path}.op")
    value, pattern = _value(fact, op, data, path)
    weight = _required(data, "weight", path)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        shown = weight if isinstance(weight, int) and not isinstance(weight, bool) else None
        got = f"{shown}" if shown is not None else type_name(weight)
        raise PostureError(f"{path}.weight", f"expected a whole number 0..100, got {got}")
    when = None
    if data.get("when") is not None:
        wpath = f"{path}.when"
        wdata = _object(data["when"], wpath, _WHEN_KEYS)
        wfact = _fact_key(_required(wdata, "fact", wpath), f"{wpath}.fact")
        wop = _operator(_required(wdata, "op", wpath), f"{wpath}.op")
        if wop in (Operator.MATCHES, Operator.MAX_AGE_DAYS):
            raise PostureError(f"{wpath}.op", f"{wop.value} cannot be a precondition")
        wvalue, _ = _value(wfact, wop, wdata, wpath)
        when = Precondition(fact=wfact, op=wop, value=wvalue)
    return PostureCheck(
        id=cid,
        fact=fact,
        op=op,
        value=value,
        weight=weight,
        when=when,
        description=_description(data, path),
        pattern=pattern,
    )


def _value(
    fact: str, op: Operator, data: Mapping[str, Any], path: str
) -> tuple[FactValue | None, re.Pattern[str] | None]:
    """The check's value, validated against the operator and the fact's documented type."""
    kind = fact_type(fact)
    vpath = f"{path}.value"
    opath = f"{path}.op"
    if op in _NO_VALUE:
        if "value" in data:
            raise PostureError(vpath, f"{op.value} takes no value")
        if op is not Operator.REPORTED and kind not in (FactType.BOOL, FactType.ANY):
            raise PostureError(opath, f"{op.value} applies to true/false facts; {fact} is {kind}")
        return None, None
    if "value" not in data:
        raise PostureError(vpath, "required")
    value = data["value"]
    if op is Operator.EQUALS:
        wanted = {
            FactType.BOOL: (isinstance(value, bool), "true or false"),
            FactType.NUMBER: (_is_number(value), "a number"),
            FactType.TEXT: (isinstance(value, str), "a string"),
            FactType.ANY: (
                isinstance(value, str | bool) or _is_number(value),
                "a string, number or boolean",
            ),
        }[kind]
        if not wanted[0]:
            raise PostureError(vpath, f"expected {wanted[1]}, got {type_name(value)}")
        return value, None
    if op in (Operator.AT_LEAST, Operator.AT_MOST):
        if kind is FactType.BOOL:
            raise PostureError(opath, f"{op.value} does not apply to {fact} (true or false)")
        if kind is FactType.TEXT and not isinstance(value, str):
            raise PostureError(vpath, f'expected a version string such as "22.04", got {value!r}')
        if isinstance(value, str) and kind is not FactType.NUMBER:
            if parse_version(value) is None:
                raise PostureError(vpath, f'not a version: {value!r} (e.g. "22.04")')
            return value, None
        if not _is_number(value):
            expected = "a number" if kind is FactType.NUMBER else "a number or a version string"
            raise PostureError(vpath, f"expected {expected}, got {type_name(value)}")
        return value, None
    if op is Operator.MAX_AGE_DAYS:
        if kind in (FactType.BOOL, FactType.NUMBER):
            hint = " (use at_most on an age in days)" if kind is FactType.NUMBER else ""
            raise PostureError(opath, f"max_age_days needs a date fact; {fact} is {kind}{hint}")
        if not _is_number(value) or value < 0:
            raise PostureError(vpath, f"expected a number of days >= 0, got {value!r}")
        return value, None
    # matches
    if kind in (FactType.BOOL, FactType.NUMBER):
        raise PostureError(opath, f"matches applies to text facts; {fact} is {kind}")
    if not isinstance(value, str):
        raise PostureError(vpath, f"expected a regular expression, got {type_name(value)}")
    if len(value) > MAX_PATTERN:
        raise PostureError(vpath, f"longer than {MAX_PATTERN} characters")
    try:
        pattern = re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise PostureError(vpath, f"invalid regular expression {value!r}: {exc}") from None
    return value, pattern


# --- running one check ---------------------------------------------------------------------


def _age_days(value: object, now: datetime) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (now - when).total_seconds() / 86400


def _compare(op: Operator, actual: object, wanted: FactValue | None) -> bool | None:
    """at_least / at_most: None when the fact cannot be compared (not a number/version)."""
    if isinstance(wanted, str):
        want_v = parse_version(wanted)
        got_v = parse_version(actual) if isinstance(actual, str) else None
        if got_v is None and _is_number(actual):
            got_v = parse_version(str(actual))
        if got_v is None or want_v is None:
            return None
        width = max(len(got_v), len(want_v))
        a = got_v + (0,) * (width - len(got_v))
        b = want_v + (0,) * (width - len(want_v))
        return a >= b if op is Operator.AT_LEAST else a <= b
    if not _is_number(actual) or not _is_number(wanted):
        return None
    x, y = float(actual), float(wanted)  # type: ignore[arg-type]
    return x >= y if op is Operator.AT_LEAST else x <= y


def _test(
    op: Operator,
    value: FactValue | None,
    pattern: re.Pattern[str] | None,
    actual: object,
    now: datetime,
) -> bool | None:
    """Whether `actual` satisfies the operator; None when it cannot be read for it."""
    if op is Operator.REPORTED:
        return True
    if op in (Operator.IS_TRUE, Operator.IS_FALSE):
        if not isinstance(actual, bool):
            return None
        return actual if op is Operator.IS_TRUE else not actual
    if op is Operator.EQUALS:
        if isinstance(value, bool) or isinstance(actual, bool):
            return isinstance(actual, bool) and isinstance(value, bool) and actual == value
        if _is_number(value) and _is_number(actual):
            return float(actual) == float(value)  # type: ignore[arg-type]
        return actual == value
    if op in (Operator.AT_LEAST, Operator.AT_MOST):
        return _compare(op, actual, value)
    if op is Operator.MAX_AGE_DAYS:
        age = _age_days(actual, now)
        if age is None or not _is_number(value):
            return None
        return age <= float(value)  # type: ignore[arg-type]
    if not isinstance(actual, str) or pattern is None:
        return None
    return pattern.fullmatch(actual) is not None


def _shown_fact(op: Operator, actual: object, now: datetime) -> str:
    if op is Operator.MAX_AGE_DAYS:
        age = _age_days(actual, now)
        if age is not None:
            return f"{math.floor(age)} days old ({actual})"
    if op in (Operator.AT_LEAST, Operator.AT_MOST) and isinstance(actual, str):
        return actual
    if isinstance(actual, str | int | float | bool):
        return show_value(actual)
    return type_name(actual)


def run_check(check: PostureCheck, facts: Mapping[str, object], now: datetime) -> CheckResult:
    """Run one check on `facts` at `now` (timezone-aware) and say why, in words."""
    when = check.when
    if when is not None:
        got = facts.get(when.fact)
        held = None if got is None else _test(when.op, when.value, None, got, now)
        if held is not True:
            reason = "not reported" if got is None else f"is {_shown_fact(when.op, got, now)}"
            need = required_words(when.op, when.value)
            words = f"skipped: {when.fact} {reason} (applies when {when.fact} {need})"
            return CheckResult(check, CheckOutcome.SKIPPED, words, 0.0)
    actual = facts.get(check.fact)
    required = required_words(check.op, check.value)
    if actual is None:
        words = f"{check.fact} not reported (required {required})"
        return CheckResult(check, CheckOutcome.UNKNOWN, words, check.weight / 3)
    passed = _test(check.op, check.value, check.pattern, actual, now)
    shown = _shown_fact(check.op, actual, now)
    if passed is None:
        words = f"{check.fact} is {shown}, which cannot be checked (required {required})"
        return CheckResult(check, CheckOutcome.UNKNOWN, words, check.weight / 3)
    words = f"{check.fact} is {shown} (required {required})"
    if passed:
        return CheckResult(check, CheckOutcome.PASSED, words, 0.0)
    return CheckResult(check, CheckOutcome.FAILED, words, float(check.weight))
