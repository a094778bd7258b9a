"""Shapes of the REST API (documented in the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from nac.db.models import ApiTokenPublic, AutoYesNo, NasClientBase, NasClientPublic, Vendor


class AuditSummary(BaseModel):
    """One decision as listed in the live log."""

    id: int
    ts: datetime
    node: str
    protocol: str
    nas_name: str | None
    nas_ip: str | None
    username: str | None
    mac: str | None
    method: str | None
    result: str
    reason_code: int
    reason: str
    policy_set: str | None
    authentication_rule: str | None
    authorization_rule: str | None
    profile: str | None
    latency_us: int
    ssid: str | None = None  # RADIUS: the SSID of Called-Station-Id
    stream: str | None = None  # radius, tacacs-authen, tacacs-author, tacacs-acct, coa


class AuditPage(BaseModel):
    items: list[AuditSummary]
    next_before: int | None  # pass as ?before= for the next (older) page; None: no more
    # Filters no index serves look at a bounded id range per page (fewer items, next_before
    # goes on): the lowest id this page looked at; None when it was not bounded.
    searched_from: int | None = None


class AuditRecord(AuditSummary):
    """One decision in full: attributes in words (secrets masked) and the replayed trace."""

    session_class: str | None
    request: list[tuple[str, str]] | Any
    reply: list[tuple[str, str]] | Any
    trace: list[str] | Any
    eap: dict[str, Any] | None = None


class Me(BaseModel):
    name: str
    role: str
    via: str
    csrf_token: str | None  # for X-CSRF-Token when calling the API with the session cookie


class TokenCreated(BaseModel):
    token: str  # shown once; only its SHA-256 is stored
    info: ApiTokenPublic


class Problem(BaseModel):
    detail: Any


class PolicyVersionInfo(BaseModel):
    """One stored policy version (version 0: none stored, the built-in default applies)."""

    version: int
    author: str
    comment: str
    created_at: datetime | None


class PolicyDocument(PolicyVersionInfo):
    document: dict[str, Any]


class PolicyVersionDetail(PolicyDocument):
    previous: int | None  # the version it is compared with; None for the first
    diff: list[str]  # unified diff of the pretty-printed JSON against ``previous``


class ClientNew(NasClientBase):
    """A NAS client to create; its RADIUS shared secret is generated, never given."""

    tacacs_key: str | None = Field(default=None, repr=False, max_length=128)


class ClientChange(SQLModel):
    """What PATCH may change on a NAS client (the secret only by rotate-secret)."""

    addresses: list[str] | None = None
    tacacs_key: str | None = Field(default=None, repr=False, max_length=128)  # "" removes it
    vendor: Vendor | None = None
    device_group: str | None = Field(default=None, max_length=128)
    location: str | None = Field(default=None, max_length=128)
    require_message_authenticator: AutoYesNo | None = None
    limit_proxy_state: AutoYesNo | None = None
    description: str | None = Field(default=None, max_length=1024)
    # RFC 5176: the NAS's CoA and Disconnect ports and what it accepts (auto|coa|disconnect|off).
    coa_port: int | None = Field(default=None, ge=1, le=65535)
    disconnect_port: int | None = Field(default=None, ge=1, le=65535)
    coa_mode: str | None = Field(default=None, max_length=16)


class ClientSecret(BaseModel):
    """A generated RADIUS shared secret, shown only in this answer (stored encrypted)."""

    secret: str
    client: NasClientPublic
