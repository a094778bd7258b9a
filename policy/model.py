"""Typed inputs and outputs of the policy engine.

Everything here is immutable and free of I/O. `AccessContext` is what `nac.services` builds from a
RADIUS or TACACS+ request; `Decision` is what `policy.engine.evaluate` hands back, with a trace of
every step in words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final, NamedTuple, Protocol

__all__ = [
    "REASON_WORDS",
    "AccessContext",
    "AuthnResult",
    "AuthnStatus",
    "AuthorizationProfile",
    "CommandAction",
    "CommandRule",
    "CommandSet",
    "CommandVerdict",
    "Decision",
    "EndpointInfo",
    "Identity",
    "IdentityResolver",
    "NasInfo",
    "Outcome",
    "ReasonCode",
    "SegmentVerdict",
    "ShellAttribute",
    "ShellProfile",
    "Stage",
    "TraceStep",
]


class Outcome(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"


class AuthnStatus(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"
    FAILED = "failed"  # wrong password, bad certificate
    DISABLED = "disabled"
    UNSUPPORTED = "unsupported"  # the source cannot check this method (CHAP vs hashed passwords)
    ERROR = "error"  # the source is broken or unreachable


class ReasonCode(IntEnum):
    """Stable numbers for why a request ended as it did. Never renumber; only add."""

    AUTHENTICATION_SUCCEEDED = 5200
    DEVICE_ADMIN_AUTHORIZED = 5201  # TACACS+: a shell session (RFC 8907 6) was authorized
    COMMAND_PERMITTED = 5202  # TACACS+: one command line was permitted by the command set
    NO_POLICY_SET_MATCHED = 12001
    NO_AUTHENTICATION_RULE_MATCHED = 12002
    UNKNOWN_USER = 12010
    WRONG_PASSWORD = 12011
    UNKNOWN_MAC = 12012
    USER_DISABLED = 12013
    METHOD_NOT_SUPPORTED = 12014
    IDENTITY_SOURCE_ERROR = 12015
    UNKNOWN_IDENTITY_SOURCE = 12016
    NO_AUTHORIZATION_RULE_MATCHED = 12020
    DENIED_BY_RULE = 12021
    MISSING_CREDENTIALS = 12030
    CERTIFICATE_REJECTED = 12040  # EAP-TLS: expired, revoked, unknown CA, bad signature, ...
    EAP_FAILED = 12041  # the EAP conversation failed (TLS handshake, protocol, abandoned)
    COMMAND_DENIED = 12050  # TACACS+: the command set denied the command line
    NO_SHELL_PROFILE = 12051  # TACACS+: the accepting result grants no shell profile
    NO_COMMAND_SET = 12052  # TACACS+: a command to authorize, but the result has no command set
    ENDPOINT_BLOCKED = 12060  # the endpoint is blocked by an admin: rejected before any rule


REASON_WORDS: Final[Mapping[ReasonCode, str]] = MappingProxyType(
    {
        ReasonCode.AUTHENTICATION_SUCCEEDED: "authentication succeeded",
        ReasonCode.DEVICE_ADMIN_AUTHORIZED: "device administration authorized",
        ReasonCode.COMMAND_PERMITTED: "command permitted",
        ReasonCode.NO_POLICY_SET_MATCHED: "no policy set matched",
        ReasonCode.NO_AUTHENTICATION_RULE_MATCHED: "no authentication rule matched",
        ReasonCode.UNKNOWN_USER: "unknown user",
        ReasonCode.WRONG_PASSWORD: "wrong password",
        ReasonCode.UNKNOWN_MAC: "unknown MAC",
        ReasonCode.USER_DISABLED: "user disabled",
        ReasonCode.METHOD_NOT_SUPPORTED: "authentication method not supported by identity source",
        ReasonCode.IDENTITY_SOURCE_ERROR: "identity source error",
        ReasonCode.UNKNOWN_IDENTITY_SOURCE: "unknown identity source",
        ReasonCode.NO_AUTHORIZATION_RULE_MATCHED: "no rule matched",
        ReasonCode.DENIED_BY_RULE: "denied by rule",
        ReasonCode.MISSING_CREDENTIALS: "missing credentials",
        ReasonCode.CERTIFICATE_REJECTED: "client certificate rejected",
        ReasonCode.EAP_FAILED: "EAP authentication failed",
        ReasonCode.COMMAND_DENIED: "command denied",
        ReasonCode.NO_SHELL_PROFILE: "no shell profile for device administration",
        ReasonCode.NO_COMMAND_SET: "no command set for command authorization",
        ReasonCode.ENDPOINT_BLOCKED: "endpoint blocked by an admin",
    }
)


class Stage(StrEnum):
    """Where in the evaluation a `TraceStep` was taken."""

    ENDPOINT = "endpoint"  # the endpoint itself (blocked by an admin), before any policy set
    POLICY_SET = "policy_set"
    AUTHENTICATION = "authentication"
    IDENTITY = "identity"
    AUTHORIZATION = "authorization"
    COMMAND = "command"  # TACACS+ command authorization against a command set
    RESULT = "result"


@dataclass(frozen=True, slots=True)
class NasInfo:
    name: str
    ip: str
    device_group: str = ""
    location: str = ""
    vendor: str = "generic"


@dataclass(slots=True)
class EndpointInfo:
    mac: str
    known: bool  # registered by an admin (profiling alone does not make an endpoint known)
    profile: str | None = None
    group: str | None = None
    blocked: bool = False
    posture_score: int = 0
    posture_failed: frozenset[str] = frozenset()
    posture_at: datetime | None = None  # when the last posture report was evaluated
    first_seen: datetime | None = None
    vendor: str | None = None  # IEEE OUI
    randomized: bool = False  # locally administered MAC


_NO_ATTRIBUTES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({})


@dataclass(slots=True, kw_only=True)
class AccessContext:
    """One access request as the policy sees it. `now` must be timezone-aware (UTC).

    Immutable by contract, like `Decision` and `EndpointInfo`: not frozen dataclasses because
    a frozen one costs about 0.3 us per field to build, and one of each is built per request.
    """

    protocol: str  # "radius" | "tacacs"
    now: datetime
    nas: NasInfo
    auth_method: str  # "pap", "chap", "mab", "mschapv2", "eap-md5", "eap-tls", "peap", "ttls", ...
    username: str | None = None
    mac: str | None = None  # normalized: lowercase aa:bb:cc:dd:ee:ff
    endpoint: EndpointInfo | None = None
    service_type: str | None = None
    nas_port_type: str | None = None
    nas_port_id: str | None = None
    called_station_id: str | None = None
    calling_station_id: str | None = None
    ssid: str | None = None
    posture: str = "unknown"
    # TACACS+: the request's ``service`` argument ("shell", "ppp", ...; RFC 8907 8.2). TACACS+
    # port and rem_addr go in nas_port_id and calling_station_id, authen_type in auth_method.
    tacacs_service: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_ATTRIBUTES)
    # EAP-TLS: the verified client certificate's fields as ``cert.*`` names (``cert.cn``,
    # ``cert.issuer``, ``cert.email``, ``cert.upn``, ``cert.ou``, ``cert.serial``, ...).
    certificate: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_ATTRIBUTES)
    credentials: object | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("AccessContext.now must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    source: str
    groups: frozenset[str]
    attributes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AuthnResult:
    status: AuthnStatus
    reason_code: ReasonCode
    reason: str
    identity: Identity | None


class IdentityResolver(Protocol):
    """Checks credentials against a named identity source. Supplied by `nac.services`.

    Must not raise: a broken source is `AuthnStatus.ERROR` with `IDENTITY_SOURCE_ERROR`, an unknown
    one `AuthnStatus.ERROR` with `UNKNOWN_IDENTITY_SOURCE`.
    """

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult: ...


class ShellAttribute(NamedTuple):
    """One TACACS+ argument (RFC 8907 6.1): ``name=value`` if mandatory, else ``name*value``."""

    name: str
    value: str
    mandatory: bool = True

    def argument(self) -> str:
        return f"{self.name}{'=' if self.mandatory else '*'}{self.value}"


@dataclass(frozen=True, slots=True)
class ShellProfile:
    """What a TACACS+ shell session is granted (RFC 8907 8.2), vendor-neutral.

    `timeout` and `idle_timeout` are minutes, as the ``timeout`` and ``idletime`` arguments carry
    them; 0 says "no timeout", None sends nothing. `custom` follows the standard arguments.
    """

    name: str
    priv_lvl: int  # 0..15
    timeout: int | None = None
    idle_timeout: int | None = None
    autocmd: str | None = None
    custom: tuple[ShellAttribute, ...] = ()

    def arguments(self) -> tuple[ShellAttribute, ...]:
        """The authorization reply's arguments, in order: priv-lvl, timeout, idletime, autocmd,
        then the custom ones."""
        out = [ShellAttribute("priv-lvl", str(self.priv_lvl))]
        if self.timeout is not None:
            out.append(ShellAttribute("timeout", str(self.timeout)))
        if self.idle_timeout is not None:
            out.append(ShellAttribute("idletime", str(self.idle_timeout)))
        if self.autocmd is not None:
            out.append(ShellAttribute("autocmd", self.autocmd))
        out.extend(self.custom)
        return tuple(out)

    def summary(self) -> str:
        """The profile in words, e.g. ``priv-lvl 15, idle timeout 30 min``."""
        parts = [f"priv-lvl {self.priv_lvl}"]
        if self.timeout is not None:
            parts.append(f"timeout {self.timeout} min")
        if self.idle_timeout is not None:
            parts.append(f"idle timeout {self.idle_timeout} min")
        if self.autocmd is not None:
            parts.append(f"autocmd {self.autocmd!r}")
        for a in self.custom:
            parts.append(f"{a.name}{'=' if a.mandatory else '*'}{a.value!r}")
        return ", ".join(parts)


class CommandAction(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class CommandRule:
    """One rule of a `CommandSet`: `regex` is `pattern` compiled, matched against the whole of one
    normalised command (``re.fullmatch``), never a part of it."""

    number: int  # 1-based position in its set, as the trace words count
    action: CommandAction
    pattern: str
    regex: re.Pattern[str] = field(repr=False)

    def describe(self) -> str:
        return f"rule {self.number} ({self.pattern})"


@dataclass(frozen=True, slots=True)
class CommandSet:
    """Ordered permit/deny rules for TACACS+ command authorization; the first match decides,
    `default` (deny unless the policy says permit) when none does. See `policy.commands`."""

    name: str
    rules: tuple[CommandRule, ...]
    default: CommandAction = CommandAction.DENY
    case_insensitive: bool = False

    def summary(self) -> str:
        """The set in words, e.g. ``permit show .*; deny reload; default deny``."""
        parts = [f"{r.action.value} {r.pattern}" for r in self.rules]
        parts.append(f"default {self.default.value}")
        if self.case_insensitive:
            parts.append("case-insensitive")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class SegmentVerdict:
    """One command of a ``|`` pipeline and what the set said of it."""

    command: str
    permitted: bool
    rule: CommandRule | None  # None: the set's default decided


@dataclass(frozen=True, slots=True)
class CommandVerdict:
    """What `policy.commands.authorize_command` decided for one command line."""

    permitted: bool
    command_set: str
    command: str  # the normalised command line
    # The rule that decided the first denied segment, or when permitted the first segment's;
    # None: the set's default decided.
    rule: CommandRule | None
    segments: tuple[SegmentVerdict, ...]
    reason: str  # e.g. "command permitted by command set netops rule 1 (show .*): show version"


@dataclass(frozen=True, slots=True)
class AuthorizationProfile:
    """What to grant, vendor-neutral; `nac.services` renders it into reply attributes."""

    name: str
    decision: Outcome
    vlan: str | None = None
    filter_id: str | None = None
    acl: str | None = None
    vendor_role: str | None = None
    session_timeout: int | None = None
    idle_timeout: int | None = None
    reauth: bool = False
    redirect_url: str | None = None
    reply_message: str | None = None
    custom: tuple[tuple[str, str], ...] = ()  # (dictionary attribute name, value), passed through
    # TACACS+ device administration (`policy.engine.evaluate_device_admin`); RADIUS ignores them.
    shell_profile: ShellProfile | None = None
    command_set: CommandSet | None = None

    def summary(self) -> str:
        """The profile in words, e.g. ``accept, vlan 200, session timeout 3600s``."""
        parts = [self.decision.value]
        for label, value in (
            ("vlan", self.vlan),
            ("filter-id", self.filter_id),
            ("acl", self.acl),
            ("role", self.vendor_role),
            ("redirect", self.redirect_url),
            ("reply message", self.reply_message),
        ):
            if value is not None:
                shown = repr(value) if label == "reply message" else value
                parts.append(f"{label} {shown}")
        if self.session_timeout is not None:
            parts.append(f"session timeout {self.session_timeout}s")
        if self.idle_timeout is not None:
            parts.append(f"idle timeout {self.idle_timeout}s")
        if self.reauth:
            parts.append("reauthenticate at timeout")
        parts.extend(f"{name}={value!r}" for name, value in self.custom)
        if self.shell_profile is not None:
            parts.append(f"shell profile {self.shell_profile.name}")
        if self.command_set is not None:
            parts.append(f"command set {self.command_set.name}")
        return ", ".join(parts)


class TraceStep:
    """One step of an evaluation: what was looked at, whether it matched, and why.

    `detail` may be given as words or as a zero-argument callable that renders them; the engine
    passes callables so the hot path never formats text that nobody reads. The words are rendered
    on first access and kept. Immutable by contract (a plain slotted class rather than a frozen
    dataclass because frozen construction costs about 1 us per step on the hot path).
    """

    __slots__ = ("_detail", "matched", "monitor", "name", "stage")

    def __init__(
        self,
        stage: str,
        name: str,
        matched: bool,
        detail: str | Callable[[], str],
        monitor: bool = False,
    ) -> None:
        self.stage: Final = stage
        self.name: Final = name
        self.matched: Final = matched
        self.monitor: Final = monitor
        self._detail = detail

    @property
    def detail(self) -> str:
        words = self._detail
        if isinstance(words, str):
            return words
        text = words()
        self._detail = text
        return text

    def _key(self) -> tuple[str, str, bool, str, bool]:
        return (self.stage, self.name, self.matched, self.detail, self.monitor)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceStep):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"TraceStep(stage={self.stage!r}, name={self.name!r}, matched={self.matched!r}, "
            f"detail={self.detail!r}, monitor={self.monitor!r})"
        )

    def line(self) -> str:
        """The step as one line of text, e.g. ``authorization employees: match - ...``."""
        if self.stage == Stage.RESULT:
            verdict = "accept" if self.matched else "reject"
        elif self.stage == Stage.COMMAND:
            verdict = "permit" if self.matched else "deny"
        else:
            verdict = "match" if self.matched else "no match"
        if self.monitor:
            verdict += " [monitor: not applied]"
        return f"{self.stage} {self.name}: {verdict} - {self.detail}"


@dataclass(slots=True)
class Decision:
    """What `policy.engine.evaluate` decided. Immutable by contract (see `AccessContext`)."""

    outcome: Outcome
    reason_code: ReasonCode
    reason: str  # ready to print
    policy_set: str | None
    authentication_rule: str | None
    authorization_rule: str | None
    profile: AuthorizationProfile | None
    identity: Identity | None
    trace: tuple[TraceStep, ...]
    # Keys of every policy set ("set"), authentication rule ("set/authn/rule") and authorization
    # rule ("set/authz/rule") that matched, monitor ones included: the caller keeps hit counters.
    matched_rules: tuple[str, ...]
    # What the identity source answered (None when no authentication rule was reached): with
    # the context, all the audit reader needs to replay the decision with its trace.
    authn: AuthnResult | None = None
    # TACACS+ command authorization (`evaluate_device_admin(..., command=...)`): what the
    # command set said; None when no command was checked.
    command: CommandVerdict | None = None

    def trace_lines(self) -> list[str]:
        """The whole evaluation in words, one line per step, ending with the decision."""
        lines = [step.line() for step in self.trace]
        lines.append(f"decision: {self.outcome.value} ({int(self.reason_code)} {self.reason})")
        return lines
