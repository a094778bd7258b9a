"""SQLModel tables (a model family per table where a public form is useful).

``XBase`` holds the fields an operator edits, ``XCreate`` what creating one takes (plaintext
secrets, encrypted by crud before storage), ``XUpdate`` a partial change, ``X(table=True)`` the
row and ``XPublic`` what may be shown (never a secret). Timestamps are timezone-aware UTC.
Every schema change here needs a hand-written Alembic migration in ``migrations/versions``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import field_validator
from sqlalchemy import JSON, BigInteger, Column, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from nac.db.types import BigIntegerPK, UTCDateTime, utcnow

_JSON_OR_NULL = JSON(none_as_null=True)

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VENDORS = ("generic", "cisco", "aruba", "juniper", "hpe")
COA_MODES = ("auto", "coa", "disconnect", "off")
AUTO_YES_NO = ("auto", "yes", "no")
Vendor = Literal["generic", "cisco", "aruba", "juniper", "hpe"]
AutoYesNo = Literal["auto", "yes", "no"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_MAC_HEX_RE = re.compile(r"^[0-9a-f]{12}$")


def normalize_mac(value: str) -> str:
    """``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, ``aabbccddeeff`` -> ``aa:bb:cc:dd:ee:ff``."""
    digits = re.sub(r"[:\-.\s]", "", value.strip().lower())
    if not _MAC_HEX_RE.match(digits):
        raise ValueError(f"not a MAC address: {value!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_cidr(value: str) -> str:
    """``10.0.0.1`` -> ``10.0.0.1/32``; ``10.1.2.3/24`` -> ``10.1.2.0/24``; IPv6 alike."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {value!r}") from None


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"invalid name {value!r}: 1-128 of letters, digits and . _ @ + -, "
            "starting with a letter or digit"
        )
    return value


# --- NAS clients ---------------------------------------------------------------------------


class NasClientBase(SQLModel):
    name: str = Field(unique=True, max_length=128)
    addresses: list[str] = Field(default_factory=list, sa_type=JSON)
    vendor: str = Field(default="generic", max_length=32)
    device_group: str = Field(default="", max_length=128)
    location: str = Field(default="", max_length=128)
    require_message_authenticator: str = Field(default="auto", max_length=8)
    limit_proxy_state: str = Field(default="auto", max_length=8)
    # TACACS+ without obfuscation over plain TCP (labs only; TLS always goes unobfuscated).
    tacacs_unencrypted: bool = False
    description: str = Field(default="", max_length=1024)
    # RFC 5176 dynamic authorization towards this NAS: the UDP ports its DAS listens on
    # (3799 by default, 1700 on some vendors) and what it accepts: "auto" (the vendor's
    # default), "coa" (a CoA-Request can change the session in place), "disconnect" (only
    # Disconnect-Request; the endpoint re-authenticates) or "off".
    coa_port: int = Field(default=3799, ge=1, le=65535)
    disconnect_port: int = Field(default=3799, ge=1, le=65535)
    coa_mode: str = Field(default="auto", max_length=16)

    @field_validator("coa_mode")
    @classmethod
    def _coa_mode(cls, value: str) -> str:
        if value not in COA_MODES:
            raise ValueError(f"must be one of {', '.join(COA_MODES)} (got {value!r})")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one address (IP or CIDR) is required")
        return list(dict.fromkeys(normalize_cidr(v) for v in value))

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, value: str) -> str:
        if value not in VENDORS:
            raise ValueError(f"must be one of {', '.join(VENDORS)} (got {value!r})")
        return value

    @field_validator("require_message_authenticator", "limit_proxy_state")
    @classmethod
    def _auto_yes_no(cls, value: str) -> str:
        if value not in AUTO_YES_NO:
            raise ValueError(f"must be auto, yes or no (got {value!r})")
        return value


class NasClientCreate(NasClientBase):
    secret: str = Field(repr=False, min_length=1, max_length=128)
    tacacs_key: str | None = Field(default=None, repr=False, max_length=128)
    # Further TACACS+ keys also accepted (key rotation: the device may still use the old one).
    tacacs_extra_keys: list[str] = Field(default_factory=list, repr=False)
    # Enable secret for `enable` from this device when the user has none of their own
    # (password-only enable prompts, the `$enab15$` convention).
    enable_secret: str | None = Field(default=None, repr=False, max_length=256)

    @field_validator("tacacs_extra_keys")
    @classmethod
    def _extra_keys(cls, value: list[str]) -> list[str]:
        return _check_extra_keys(value)


def _check_extra_keys(value: list[str]) -> list[str]:
    if len(value) > 4:
        raise ValueError("at most 4 extra TACACS+ keys")
    for key in value:
        if not 1 <= len(key) <= 128:
            raise ValueError("each TACACS+ key is 1-128 characters")
    return list(dict.fromkeys(value))


class NasClientUpdate(SQLModel):
    addresses: list[str] | None = None
    secret: str | None = Field(default=None, repr=False, min_length=1, max_length=128)
    tacacs_key: str | None = Field(default=None, repr=False, max_length=128)
    tacacs_extra_keys: list[str] | None = Field(default=None, repr=False)
    tacacs_unencrypted: bool | None = None
    enable_secret: str | None = Field(default=None, repr=False, max_length=256)
    vendor: Vendor | None = None
    device_group: str | None = None
    location: str | None = None
    require_message_authenticator: AutoYesNo | None = None
    limit_proxy_state: AutoYesNo | None = None
    description: str | None = None
    coa_port: int | None = Field(default=None, ge=1, le=65535)
    disconnect_port: int | None = Field(default=None, ge=1, le=65535)
    coa_mode: str | None = None

    @field_validator("coa_mode")
    @classmethod
    def _coa_mode(cls, value: str | None) -> str | None:
        return None if value is None else NasClientBase._coa_mode(value)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else NasClientBase._addresses(value)

    @field_validator("tacacs_extra_keys")
    @classmethod
    def _extra_keys(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_extra_keys(value)


class NasClient(NasClientBase, table=True):
    __tablename__ = "nas_clients"

    id: int | None = Field(default=None, primary_key=True)
    secret_enc: bytes = Field(sa_type=LargeBinary, repr=False)
    tacacs_key_enc: bytes | None = Field(default=None, sa_type=LargeBinary, repr=False)
    # JSON list of further accepted keys, encrypted as one value.
    tacacs_extra_keys_enc: bytes | None = Field(default=None, sa_type=LargeBinary, repr=False)
    enable_secret_enc: bytes | None = Field(default=None, sa_type=LargeBinary, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_authenticator_seen: bool = False


class NasClientPublic(NasClientBase):
    id: int
    has_tacacs_key: bool
    tacacs_extra_key_count: int = 0
    has_enable_secret: bool = False
    created_at: datetime
    updated_at: datetime
    last_seen: datetime | None
    message_authenticator_seen: bool


# --- groups and users ----------------------------------------------------------------------


class GroupBase(SQLModel):
    name: str = Field(unique=True, max_length=128)
    description: str = Field(default="", max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class GroupCreate(GroupBase):
    pass


class Group(GroupBase, table=True):
    __tablename__ = "groups"

    id: int | None = Field(default=None, primary_key=True)


class UserGroup(SQLModel, table=True):
    __tablename__ = "user_groups"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    group_id: int = Field(foreign_key="groups.id", primary_key=True, ondelete="CASCADE", index=True)


class UserBase(SQLModel):
    name: str = Field(unique=True, max_length=128)
    enabled: bool = True
    description: str = Field(default="", max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class UserCreate(UserBase):
    password: str = Field(repr=False, min_length=1, max_length=256)
    groups: list[str] = Field(default_factory=list)
    enable_secret: str | None = Field(default=None, repr=False, min_length=1, max_length=256)


class UserUpdate(SQLModel):
    password: str | None = Field(default=None, repr=False, min_length=1, max_length=256)
    enable_secret: str | None = Field(default=None, repr=False, max_length=256)  # "" removes it
    enabled: bool | None = None
    description: str | None = None
    groups: list[str] | None = None


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_enc: bytes = Field(sa_type=LargeBinary, repr=False)
    # TACACS+ `enable` (privilege 15) secret; none: enable falls back to the device's.
    enable_secret_enc: bytes | None = Field(default=None, sa_type=LargeBinary, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserPublic(UserBase):
    id: int
    groups: list[str]
    has_enable_secret: bool = False
    created_at: datetime
    updated_at: datetime


# --- endpoints -----------------------------------------------------------------------------


class EndpointBase(SQLModel):
    mac: str = Field(unique=True, max_length=17)
    profile: str | None = Field(default=None, max_length=128)
    group: str | None = Field(default=None, max_length=128)
    description: str = Field(default="", max_length=1024)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        return normalize_mac(value)


class EndpointCreate(EndpointBase):
    pass


class EndpointUpdate(SQLModel):
    profile: str | None = None
    group: str | None = None
    description: str | None = None
    blocked: bool | None = None


class Endpoint(EndpointBase, table=True):
    __tablename__ = "endpoints"

    id: int | None = Field(default=None, primary_key=True)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Registered by an admin (console, CLI, import): a known endpoint for MAB. Endpoints that
    # profiling or posture discovered are not registered until an admin says so.
    registered: bool = True
    # Blocked by an admin: rejected whatever the policy says (and disconnected, issue 6).
    blocked: bool = False
    # Profiling (issue 6): what the endpoint is, how sure we are, and from which signals.
    vendor: str | None = Field(default=None, max_length=128)  # IEEE OUI registry (netaddr)
    randomized: bool = False  # locally administered MAC bit set (a randomized/private MAC)
    hostname: str | None = Field(default=None, max_length=253)
    dhcp_fingerprint: str | None = Field(default=None, max_length=512)  # option 55, in order
    dhcp_vendor_class: str | None = Field(default=None, max_length=253)  # option 60
    profile_confidence: int = 0  # 0-100
    profile_source: str | None = Field(default=None, max_length=64)  # dhcp, radius-acct, oui, admin
    # Accumulated profiling signals (name -> value/count) behind the profile and its hysteresis.
    signals: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    last_user: str | None = Field(default=None, max_length=253)
    # Posture (issue 6): the latest evaluated state, score and failed checks.
    posture_state: str = Field(default="unknown", max_length=16)
    posture_score: int = 0  # 0-100, higher is riskier
    posture_failed: list[str] = Field(default_factory=list, sa_type=JSON)
    posture_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped from one global sequence on every runtime-relevant change to this row (profile,
    # posture, blocked): workers fetch ``state_seq > last seen`` to patch their snapshot
    # without reloading the whole configuration.
    state_seq: int = Field(default=0, sa_type=BigInteger, index=True)


class EndpointEvent(SQLModel, table=True):
    """Something that happened to an endpoint: profile change, possible MAC spoofing,
    posture change, blocked/unblocked, CoA sent (kind), with its details."""

    __tablename__ = "endpoint_events"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntegerPK)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    mac: str = Field(max_length=17, index=True)
    kind: str = Field(max_length=32, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class PostureReport(SQLModel, table=True):
    """One posture report as received, with what it evaluated to (the posture history)."""

    __tablename__ = "posture_reports"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntegerPK)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    mac: str = Field(max_length=17, index=True)
    source: str = Field(default="token", max_length=32)  # token, certificate
    facts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    state: str = Field(max_length=16)
    score: int = 0
    failed: list[str] = Field(default_factory=list, sa_type=JSON)
    policy: str | None = Field(default=None, max_length=128)


class PostureToken(SQLModel, table=True):
    """A per-endpoint enrollment token for nac-agent (only its SHA-256 is stored)."""

    __tablename__ = "posture_tokens"

    id: int | None = Field(default=None, primary_key=True)
    mac: str = Field(max_length=17, index=True)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked: bool = False


class ProfileRule(SQLModel, table=True):
    """A weighted profiling rule: when ``signal`` matches ``pattern`` the endpoint scores
    ``weight`` towards ``profile``. Seeded with a small open fingerprint set (builtin)."""

    __tablename__ = "profile_rules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    profile: str = Field(max_length=64)
    signal: str = Field(max_length=64)  # e.g. dhcp.params, dhcp.vendor_class, hostname, oui
    pattern: str = Field(max_length=512)
    match: str = Field(default="equals", max_length=16)  # equals, prefix, contains, regex
    weight: int = 50
    enabled: bool = True
    builtin: bool = False


# --- policy --------------------------------------------------------------------------------


class PolicyVersion(SQLModel, table=True):
    """One stored policy document; the current policy is the highest ``version``."""

    __tablename__ = "policy_versions"

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    document: dict[str, Any] = Field(sa_type=JSON)
    author: str = Field(default="", max_length=128)
    comment: str = Field(default="", max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConfigState(SQLModel, table=True):
    """Single row (id=1) whose ``version`` is bumped with every config change."""

    __tablename__ = "config_state"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    # The endpoint state sequence (Endpoint.state_seq): bumped per endpoint state change.
    endpoint_seq: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- audit and accounting ------------------------------------------------------------------


class AuditLog(SQLModel, table=True):
    """One access decision (RADIUS or TACACS+)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntegerPK)
    ts: datetime = Field(sa_type=UTCDateTime, index=True)
    node: str = Field(default="", max_length=128)
    protocol: str = Field(max_length=16)
    nas_name: str | None = Field(default=None, max_length=128)
    nas_ip: str | None = Field(default=None, max_length=45)
    username: str | None = Field(default=None, max_length=253, index=True)
    mac: str | None = Field(default=None, max_length=17, index=True)
    method: str | None = Field(default=None, max_length=32)
    result: str = Field(max_length=16, index=True)
    reason_code: int = 0
    reason: str = ""
    policy_set: str | None = Field(default=None, max_length=128)
    authentication_rule: str | None = Field(default=None, max_length=128)
    authorization_rule: str | None = Field(default=None, max_length=128)
    profile: str | None = Field(default=None, max_length=128)
    session_class: str | None = Field(default=None, max_length=253)
    latency_us: int = 0
    # Rendered words (rows written before migration 0002, and protocols that store words).
    request: Any = Field(default=None, sa_type=_JSON_OR_NULL, nullable=True)
    reply: Any = Field(default=None, sa_type=_JSON_OR_NULL, nullable=True)
    trace: Any = Field(default=None, sa_type=_JSON_OR_NULL, nullable=True)
    # What the RADIUS path stores instead, rendered when read (nac.services.audit): the request
    # and reply attributes as wire bytes with every secret value removed, and the decision's
    # context (policy version, NAS, endpoint, identity answer) as JSON text for the replay.
    request_raw: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    reply_raw: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    context: str | None = Field(default=None, sa_type=Text, nullable=True)


class AccountingSession(SQLModel, table=True):
    """One accounting session, keyed by Acct-Unique-Session-Id (or a derived hash)."""

    __tablename__ = "accounting_sessions"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntegerPK)
    unique_key: str = Field(unique=True, max_length=128)
    acct_session_id: str = Field(default="", max_length=253)
    username: str | None = Field(default=None, max_length=253, index=True)
    mac: str | None = Field(default=None, max_length=17, index=True)
    # Calling-Station-Id as the NAS sent it (a CoA must echo the NAS's own MAC format).
    calling_station_id: str | None = Field(default=None, max_length=253)
    nas_name: str | None = Field(default=None, max_length=128)
    nas_ip: str | None = Field(default=None, max_length=45, index=True)
    nas_port: int | None = Field(default=None, sa_type=BigInteger)
    nas_port_id: str | None = Field(default=None, max_length=253)
    framed_ip: str | None = Field(default=None, max_length=45)
    class_: str | None = Field(
        default=None, sa_column=Column("class", String(253), key="class_", nullable=True)
    )
    status: str = Field(default="active", max_length=16, index=True)
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_update: datetime = Field(sa_type=UTCDateTime)
    stop_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    session_time: int = Field(default=0, sa_type=BigInteger)
    input_octets: int = Field(default=0, sa_type=BigInteger)
    output_octets: int = Field(default=0, sa_type=BigInteger)
    input_packets: int = Field(default=0, sa_type=BigInteger)
    output_packets: int = Field(default=0, sa_type=BigInteger)
    terminate_cause: str | None = Field(default=None, max_length=64)


# --- console admins and API tokens ---------------------------------------------------------

# Lowest first: each role may do what the roles below it may.
ADMIN_ROLES = ("auditor", "operator", "admin")
AdminRole = Literal["auditor", "operator", "admin"]


def role_rank(role: str) -> int:
    """0 auditor, 1 operator, 2 admin; -1 for anything else."""
    return ADMIN_ROLES.index(role) if role in ADMIN_ROLES else -1


class AdminBase(SQLModel):
    """A console administrator (not a network user: they never authenticate over RADIUS)."""

    name: str = Field(unique=True, max_length=128)
    role: str = Field(default="auditor", max_length=16)
    disabled: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ADMIN_ROLES:
            raise ValueError(f"must be one of {', '.join(ADMIN_ROLES)} (got {value!r})")
        return value


class AdminCreate(AdminBase):
    password: str = Field(repr=False, min_length=8, max_length=256)


class AdminUpdate(SQLModel):
    password: str | None = Field(default=None, repr=False, min_length=8, max_length=256)
    role: AdminRole | None = None
    disabled: bool | None = None


class Admin(AdminBase, table=True):
    __tablename__ = "admins"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=256, repr=False)  # argon2id (nac.core.passwords)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AdminPublic(AdminBase):
    id: int
    created_at: datetime
    last_login: datetime | None


class ApiTokenBase(SQLModel):
    name: str = Field(max_length=128)
    role: str = Field(default="auditor", max_length=16)  # scope: at most the owner's role

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return AdminBase._role(value)


class ApiTokenCreate(ApiTokenBase):
    pass


class ApiToken(ApiTokenBase, table=True):
    """A script's bearer token; only the SHA-256 of the random token is kept."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    admin_id: int = Field(foreign_key="admins.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(unique=True, max_length=64, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked: bool = False


class ApiTokenPublic(ApiTokenBase):
    id: int
    admin: str
    created_at: datetime
    last_used: datetime | None
    revoked: bool


# --- the admin change log -------------------------------------------------------------------


class AdminChange(SQLModel, table=True):
    """Every change any admin made (console, API or CLI), with the object before and after
    (secrets masked)."""

    __tablename__ = "admin_changes"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntegerPK)
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    admin: str = Field(max_length=128, index=True)
    action: str = Field(max_length=16)  # create, update, delete, rotate, import, rollback
    object_type: str = Field(max_length=32, index=True)  # user, client, endpoint, policy, ...
    object_key: str = Field(max_length=253)
    before: Any = Field(default=None, sa_type=_JSON_OR_NULL, nullable=True)
    after: Any = Field(default=None, sa_type=_JSON_OR_NULL, nullable=True)
    comment: str = Field(default="", max_length=1024)
