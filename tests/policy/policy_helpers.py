"""Inputs for the policy tests: the demo policy, a small in-memory resolver, contexts.

A uniquely named module (not conftest) so test files can import it unambiguously."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy import (
    AccessContext,
    AuthnResult,
    AuthnStatus,
    EndpointInfo,
    Identity,
    NasInfo,
    ReasonCode,
)

DEMO_PATH = Path(__file__).with_name("demo_policy.json")
NOON = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)  # a Tuesday


def demo_document() -> dict[str, Any]:
    return json.loads(DEMO_PATH.read_text())


@dataclass
class User:
    password: str
    groups: frozenset[str]
    enabled: bool = True


@dataclass
class DirectoryResolver:
    """An identity source in memory: internal users by password, endpoints by MAC."""

    users: dict[str, User] = field(default_factory=dict)
    endpoints: dict[str, frozenset[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult:
        self.calls.append(source)
        if source == "internal_users":
            return self._user(ctx)
        if source == "endpoints":
            groups = self.endpoints.get(ctx.mac or "")
            if groups is None:
                return AuthnResult(
                    AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_MAC, "unknown MAC", None
                )
            ident = Identity(ctx.mac or "", source, groups, {})
            return AuthnResult(AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED, "ok", ident)
        code = ReasonCode.UNKNOWN_IDENTITY_SOURCE
        return AuthnResult(AuthnStatus.ERROR, code, f"unknown identity source {source}", None)

    def _user(self, ctx: AccessContext) -> AuthnResult:
        user = self.users.get(ctx.username or "")
        if user is None:
            return AuthnResult(AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_USER, "unknown user", None)
        if not user.enabled:
            return AuthnResult(AuthnStatus.DISABLED, ReasonCode.USER_DISABLED, "", None)
        if ctx.credentials != user.password:
            return AuthnResult(
                AuthnStatus.FAILED, ReasonCode.WRONG_PASSWORD, "wrong password", None
            )
        ident = Identity(ctx.username or "", "internal_users", user.groups, {})
        return AuthnResult(AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED, "ok", ident)


def make_ctx(**overrides: Any) -> AccessContext:
    base: dict[str, Any] = {
        "protocol": "radius",
        "now": NOON,
        "nas": NasInfo("sw1", "10.1.2.3", device_group="switches", location="hq"),
        "auth_method": "pap",
        "username": "alice",
        "credentials": "alice-pw",
    }
    base.update(overrides)
    return AccessContext(**base)


def mab_ctx(mac: str, *, known: bool = True, profile: str | None = None) -> AccessContext:
    endpoint = EndpointInfo(mac, known, profile) if known else None
    return make_ctx(auth_method="mab", username=mac.replace(":", ""), mac=mac, endpoint=endpoint)


def tacacs_ctx(**overrides: Any) -> AccessContext:
    """A TACACS+ authorization request from sw1 for a shell (RFC 8907 6)."""
    base: dict[str, Any] = {
        "protocol": "tacacs",
        "auth_method": "ascii",
        "tacacs_service": "shell",
        "username": "ops",
        "credentials": None,
        "nas_port_id": "tty2",
        "calling_station_id": "192.0.2.10",
    }
    base.update(overrides)
    return make_ctx(**base)


def person(name: str, *groups: str) -> Identity:
    """An identity established by an earlier TACACS+ authentication."""
    return Identity(name, "internal_users", frozenset(groups), {})
