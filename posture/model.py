"""Posture types: facts an endpoint reports, the checks a posture policy makes on them, and
what an evaluation says. Pure data; `posture.checks` compiles requirements, `posture.report`
validates reports, `posture.evaluate` decides.

The policy engine imports `PostureState` and `PostureRequirements` (the compiled ``posture``
section of a policy document travels in `policy.rules.PolicySnapshot`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "FACT_TYPES",
    "CheckOutcome",
    "CheckResult",
    "FactType",
    "FactValue",
    "FailedCheck",
    "Operator",
    "PostureCheck",
    "PostureError",
    "PostureRequirements",
    "PostureResult",
    "PostureState",
    "Precondition",
]


class PostureState(StrEnum):
    UNKNOWN = "unknown"
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"


class PostureError(ValueError):
    """The one error family of `posture`: a report or a requirement is wrong at `path`
    (e.g. ``facts.firewall.enabled`` or ``requirements[2].op``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class FactType(StrEnum):
    BOOL = "bool"
    NUMBER = "number"  # int or float, finite, >= 0 for the documented ones
    TEXT = "text"
    ANY = "any"  # custom facts: a string, a number or a boolean


FactValue = str | int | float | bool

# The documented fact keys and their types (README "Posture facts"); any other key matching
# `posture.report.CUSTOM_KEY` is a custom fact of any scalar type.
FACT_TYPES: Final[Mapping[str, FactType]] = MappingProxyType(
    {
        "os.family": FactType.TEXT,  # linux, windows, macos, ios, android, chromeos
        "os.name": FactType.TEXT,  # e.g. "Debian GNU/Linux 12 (bookworm)"
        "os.version": FactType.TEXT,  # dotted, e.g. "12", "22.04", "10.0.19045"
        "os.kernel": FactType.TEXT,  # uname -r
        "firewall.enabled": FactType.BOOL,
        "disk.encrypted": FactType.BOOL,
        "av.running": FactType.BOOL,
        "av.signature_age_days": FactType.NUMBER,
        "patch.age_days": FactType.NUMBER,
        "screen_lock.enabled": FactType.BOOL,
    }
)


class Operator(StrEnum):
    IS_TRUE = "is_true"
    IS_FALSE = "is_false"
    EQUALS = "equals"
    AT_LEAST = "at_least"  # numbers, or dotted versions when the value is a string
    AT_MOST = "at_most"
    MAX_AGE_DAYS = "max_age_days"  # an ISO 8601 date or timestamp no older than N days
    MATCHES = "matches"  # a regular expression matching the whole text
    REPORTED = "reported"  # the fact is present (any value)


@dataclass(frozen=True, slots=True)
class Precondition:
    """``when``: the check applies only if this holds (e.g. ``av.running`` reported)."""

    fact: str
    op: Operator
    value: FactValue | None = None


@dataclass(frozen=True, slots=True)
class PostureCheck:
    """One check of a posture policy: `fact` `op` `value`, weighing `weight` (0-100) when it
    fails (a third of it when the fact is unknown)."""

    id: str
    fact: str
    op: Operator
    value: FactValue | None
    weight: int
    when: Precondition | None = None
    description: str = ""
    pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)  # matches

    def requirement(self) -> str:
        """What the check requires, in words, e.g. ``firewall.enabled true``."""
        text = _requirement(self.fact, self.op, self.value)
        if self.when is not None:
            text += f" (when {_requirement(self.when.fact, self.when.op, self.when.value)})"
        return text


def _requirement(fact: str, op: Operator, value: FactValue | None) -> str:
    return f"{fact} {required_words(op, value)}"


def required_words(op: Operator, value: FactValue | None) -> str:
    """What `op` with `value` asks of a fact, e.g. ``true``, ``at most 7``, ``at least 22.04``."""
    if op is Operator.IS_TRUE:
        return "true"
    if op is Operator.IS_FALSE:
        return "false"
    if op is Operator.REPORTED:
        return "reported"
    if op is Operator.EQUALS:
        return show_value(value)
    if op is Operator.MATCHES:
        return f"matching {show_value(value)}"
    if op is Operator.MAX_AGE_DAYS:
        return f"at most {show_value(value)} days old"
    words = "at least" if op is Operator.AT_LEAST else "at most"
    shown = value if isinstance(value, str) else show_value(value)  # a version: unquoted
    return f"{words} {shown}"


def show_value(value: FactValue | None) -> str:
    """A fact or requirement value as the words say it: true, 7, 22.04, 'linux'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return repr(value)


@dataclass(frozen=True, slots=True)
class PostureRequirements:
    """The compiled ``posture`` section of a policy document. No checks: everything is
    compliant. `grace_seconds`: how long an endpoint may stay unknown (``posture.grace``)."""

    checks: tuple[PostureCheck, ...] = ()
    grace_seconds: int = 0
    description: str = ""

    def by_id(self) -> Mapping[str, PostureCheck]:
        return {c.id: c for c in self.checks}


class CheckOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the fact was not reported (or cannot be read for this check)
    SKIPPED = "skipped"  # its ``when`` did not hold


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: PostureCheck
    outcome: CheckOutcome
    words: str  # e.g. "firewall.enabled is false (required true)"
    risk: float  # what it adds to the score: weight, weight / 3 or 0


@dataclass(frozen=True, slots=True)
class FailedCheck:
    id: str
    fact: str
    weight: int
    words: str


@dataclass(frozen=True, slots=True)
class PostureResult:
    """What `posture.evaluate.evaluate` decided: the state, the risk score 0-100 (smoothed
    against the previous one), the failed checks with their words, and the checks whose fact
    was unknown."""

    state: PostureState
    score: int
    raw_score: int  # before smoothing
    failed: tuple[FailedCheck, ...]
    unknown: tuple[FailedCheck, ...]
    results: tuple[CheckResult, ...] = ()

    @property
    def failed_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.failed)

    def summary(self) -> str:
        """The result in words, e.g. ``non_compliant, score 80: firewall.enabled is false ...``."""
        head = f"{self.state.value}, score {self.score}"
        words = [f.words for f in self.failed] + [u.words for u in self.unknown]
        return f"{head}: {'; '.join(words)}" if words else head
