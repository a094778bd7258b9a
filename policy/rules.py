"""The compiled, immutable form of a policy document: what `policy.engine.evaluate` walks.

Built only by `policy.compile.compile_policy`. A snapshot is swapped atomically by
`nac.services`; nothing here changes after compilation.

TACACS+ device administration shares the policy sets and rules: its ``shell_profiles`` and
``command_sets`` compile into their own fields of `PolicySnapshot`, referenced by the results
(`AuthorizationProfile.shell_profile`, `.command_set`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from policy.conditions import Condition
from policy.model import AuthorizationProfile, CommandSet, ShellProfile
from posture.model import PostureRequirements

__all__ = [
    "AuthenticationRule",
    "AuthorizationRule",
    "FailAction",
    "PolicySet",
    "PolicySnapshot",
    "RuleState",
]


class RuleState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"  # skipped, said so in the trace
    MONITOR = "monitor"  # evaluated and counted, never applied


class FailAction(StrEnum):
    REJECT = "reject"
    CONTINUE = "continue"  # on to authorization without an authenticated identity


def _condition_words(condition: Condition | None) -> str:
    return "always" if condition is None else condition.describe()


def _when(condition: Condition | None) -> str:
    return "always" if condition is None else f"if {condition.describe()}"


def _state_words(state: RuleState) -> str:
    return "" if state is RuleState.ENABLED else f" [{state.value}]"


@dataclass(frozen=True, slots=True)
class AuthenticationRule:
    name: str
    key: str  # "set/authn/rule", for hit counters
    condition: Condition | None  # None: always
    identity_source: str
    if_not_found: FailAction
    if_failed: FailAction  # wrong password, disabled account, method the source cannot check
    if_error: FailAction  # the source is broken or unknown
    state: RuleState = RuleState.ENABLED
    description: str = ""

    def describe(self) -> str:
        return (
            f"{self.name}{_state_words(self.state)}: {_when(self.condition)}"
            f" -> identity source {self.identity_source} (if not found: {self.if_not_found},"
            f" if failed: {self.if_failed}, if error: {self.if_error})"
        )


@dataclass(frozen=True, slots=True)
class AuthorizationRule:
    name: str
    key: str  # "set/authz/rule", for hit counters
    condition: Condition | None  # None: always
    profile: AuthorizationProfile
    state: RuleState = RuleState.ENABLED
    description: str = ""

    def describe(self) -> str:
        return (
            f"{self.name}{_state_words(self.state)}: {_when(self.condition)}"
            f" -> {self.profile.name} ({self.profile.summary()})"
        )


@dataclass(frozen=True, slots=True)
class PolicySet:
    name: str
    key: str  # the set's name, for hit counters
    condition: Condition | None  # None: always
    authentication: tuple[AuthenticationRule, ...]
    authorization: tuple[AuthorizationRule, ...]
    default_profile: AuthorizationProfile
    state: RuleState = RuleState.ENABLED
    description: str = ""


_NO_SHELLS: Final[Mapping[str, ShellProfile]] = MappingProxyType({})
_NO_COMMAND_SETS: Final[Mapping[str, CommandSet]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """A compiled policy. `document` is a private deep copy of the source it was compiled from."""

    results: Mapping[str, AuthorizationProfile]
    policy_sets: tuple[PolicySet, ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    shell_profiles: Mapping[str, ShellProfile] = field(default_factory=lambda: _NO_SHELLS)
    command_sets: Mapping[str, CommandSet] = field(default_factory=lambda: _NO_COMMAND_SETS)
    # The compiled ``posture`` section: what posture reports are evaluated against.
    posture: PostureRequirements = field(default_factory=PostureRequirements)

    def describe(self) -> list[str]:
        """The policy in words, for ``nac policy show``."""
        lines: list[str] = []
        for n, ps in enumerate(self.policy_sets, 1):
            title = f"policy set {n}. {ps.name}{_state_words(ps.state)}"
            lines.append(f"{title}: {ps.description}" if ps.description else title)
            lines.append(f"  condition: {_condition_words(ps.condition)}")
            lines.append("  authentication:")
            lines.extend(f"    {k}. {r.describe()}" for k, r in enumerate(ps.authentication, 1))
            lines.append("  authorization:")
            lines.extend(f"    {k}. {r.describe()}" for k, r in enumerate(ps.authorization, 1))
            default = ps.default_profile
            lines.append(f"    default: {default.name} ({default.summary()})")
        lines.append("results:")
        lines.extend(f"  {name}: {p.summary()}" for name, p in self.results.items())
        if self.shell_profiles:
            lines.append("shell profiles:")
            lines.extend(f"  {name}: {p.summary()}" for name, p in self.shell_profiles.items())
        if self.command_sets:
            lines.append("command sets:")
            lines.extend(f"  {name}: {c.summary()}" for name, c in self.command_sets.items())
        if self.posture.checks or self.posture.grace_seconds:
            lines.append(f"posture (grace {self.posture.grace_seconds}s):")
            lines.extend(
                f"  {c.id}: {c.requirement()}, weight {c.weight}" for c in self.posture.checks
            )
        return lines
