"""Identity sources over the in-memory snapshot: the policy engine's IdentityResolver.

Credentials arrive from the protocol services as small typed objects; the policy engine
never looks inside them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from nac.services.snapshot import EndpointEntry, RuntimeSnapshot, UserEntry
from policy.model import AccessContext, AuthnResult, AuthnStatus, Identity, ReasonCode
from radius.crypto import chap_verify
from radius.mschap import nt_password_hash, verify_nt_challenge_response, verify_nt_response


# Built per request: plain slotted classes (a frozen dataclass costs ~0.3 us per field).
@dataclass(slots=True)
class PapCredentials:
    password: bytes = field(repr=False)


@dataclass(slots=True)
class ChapCredentials:
    chap_password: bytes = field(repr=False)
    challenge: bytes = field(repr=False)


@dataclass(slots=True)
class MsChapCredentials:
    """MS-CHAP (RFC 2433, ``version`` 1) or MS-CHAPv2 (RFC 2759, ``version`` 2) in RADIUS
    (RFC 2548): the challenge the NAS sent and the peer's response fields."""

    version: int
    ident: int
    challenge: bytes = field(repr=False)
    peer_challenge: bytes = field(repr=False)  # MS-CHAPv2 only
    nt_response: bytes = field(repr=False)
    username: bytes = b""


@dataclass(slots=True)
class EapAuthenticated:
    """The EAP method already proved the identity (inner MS-CHAPv2 or PAP, EAP-MD5 against
    this snapshot's password, or a client certificate the PKI verified): the identity source
    only says whether the user exists, is enabled, and which groups it has."""

    method: str


@dataclass(slots=True)
class MacCredentials:
    """MAC authentication bypass: the MAC is the identity, there is no secret to check."""

    mac: str


_EMPTY: dict[str, str] = {}


def _result(status: AuthnStatus, code: ReasonCode, reason: str) -> AuthnResult:
    return AuthnResult(status=status, reason_code=code, reason=reason, identity=None)


# The answers that do not depend on the request are built once (they are immutable).
_UNKNOWN_USER = _result(AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_USER, "unknown user")
_WRONG_PASSWORD = _result(AuthnStatus.FAILED, ReasonCode.WRONG_PASSWORD, "wrong password")
_USER_DISABLED = _result(AuthnStatus.DISABLED, ReasonCode.USER_DISABLED, "user disabled")
_UNKNOWN_MAC = _result(AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_MAC, "unknown MAC")


class SnapshotResolver:
    """Resolves ``internal_users`` and ``endpoints`` against one snapshot."""

    __slots__ = ("_ok_endpoints", "_ok_users", "_snapshot")

    def __init__(self, snapshot: RuntimeSnapshot) -> None:
        self._snapshot = snapshot
        # Success results per user and per endpoint, made on first use for this snapshot.
        self._ok_users: dict[str, AuthnResult] = {}
        self._ok_endpoints: dict[str, tuple[EndpointEntry, AuthnResult]] = {}

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult:
        if source == "internal_users":
            return self._internal_users(ctx)
        if source == "endpoints":
            return self._endpoints(ctx)
        return _result(
            AuthnStatus.ERROR,
            ReasonCode.UNKNOWN_IDENTITY_SOURCE,
            f"unknown identity source {source!r}",
        )

    def _internal_users(self, ctx: AccessContext) -> AuthnResult:
        creds = ctx.credentials
        if type(creds) is PapCredentials:  # the common case first
            user = self._snapshot.users.get(ctx.username or "")
            if user is None:
                return _UNKNOWN_USER
            if not user.enabled:
                return _USER_DISABLED
            if not hmac.compare_digest(creds.password, user.secret):
                return _WRONG_PASSWORD
            return self._ok_users.get(user.name) or self._user_ok(user)
        if type(creds) is EapAuthenticated:
            user = self._snapshot.users.get(ctx.username or "")
            if user is None:
                return _UNKNOWN_USER
            if not user.enabled:
                return _USER_DISABLED
            return self._ok_users.get(user.name) or self._user_ok(user)
        if creds is None or isinstance(creds, MacCredentials):
            return _result(
                AuthnStatus.UNSUPPORTED,
                ReasonCode.MISSING_CREDENTIALS,
                "no password in the request",
            )
        name = ctx.username or ""
        user = self._snapshot.users.get(name)
        if user is None:
            return _UNKNOWN_USER
        if not user.enabled:
            return _USER_DISABLED
        stored = user.secret
        if isinstance(creds, PapCredentials):
            ok = hmac.compare_digest(creds.password, stored)
        elif isinstance(creds, ChapCredentials):
            ok = chap_verify(creds.chap_password, creds.challenge, stored)
        elif isinstance(creds, MsChapCredentials):
            ok = _mschap_ok(creds, user.password)
        else:
            return _result(
                AuthnStatus.UNSUPPORTED,
                ReasonCode.METHOD_NOT_SUPPORTED,
                f"{ctx.auth_method} is not supported by internal users",
            )
        if not ok:
            return _WRONG_PASSWORD
        return self._ok_users.get(user.name) or self._user_ok(user)

    def known_user(self, name: str) -> AuthnResult:
        """An internal user's standing without a credential (TACACS+ authorization: the
        device authenticated the user earlier): unknown, disabled, or OK with its identity."""
        user = self._snapshot.users.get(name)
        if user is None:
            return _UNKNOWN_USER
        if not user.enabled:
            return _USER_DISABLED
        return self._ok_users.get(user.name) or self._user_ok(user)

    def _user_ok(self, user: UserEntry) -> AuthnResult:
        identity = Identity(
            name=user.name, source="internal_users", groups=user.groups, attributes=_EMPTY
        )
        result = AuthnResult(
            status=AuthnStatus.OK,
            reason_code=ReasonCode.AUTHENTICATION_SUCCEEDED,
            reason="password verified",
            identity=identity,
        )
        self._ok_users[user.name] = result
        return result

    def _endpoints(self, ctx: AccessContext) -> AuthnResult:
        mac = ctx.mac
        if mac is None:
            return _result(
                AuthnStatus.UNSUPPORTED,
                ReasonCode.MISSING_CREDENTIALS,
                "no MAC address in the request",
            )
        endpoint = self._snapshot.endpoints.get(mac)
        if endpoint is None or not endpoint.registered:
            return _UNKNOWN_MAC  # discovered by profiling or posture is not registered
        hit = self._ok_endpoints.get(mac)
        if hit is not None and hit[0] is endpoint:
            return hit[1]
        attributes = {"profile": endpoint.profile} if endpoint.profile else _EMPTY
        groups = frozenset((endpoint.group,)) if endpoint.group else frozenset()
        identity = Identity(name=mac, source="endpoints", groups=groups, attributes=attributes)
        cached = AuthnResult(
            status=AuthnStatus.OK,
            reason_code=ReasonCode.AUTHENTICATION_SUCCEEDED,
            reason="known MAC",
            identity=identity,
        )
        self._ok_endpoints[mac] = (endpoint, cached)
        return cached


def _mschap_ok(creds: MsChapCredentials, password: str) -> bool:
    password_hash = nt_password_hash(password)
    if creds.version == 2:
        if len(creds.challenge) != 16:
            return False
        return verify_nt_response(
            creds.nt_response,
            creds.challenge,
            creds.peer_challenge,
            creds.username,
            password_hash=password_hash,
        )
    if len(creds.challenge) != 8:
        return False
    return verify_nt_challenge_response(
        creds.nt_response, creds.challenge, password_hash=password_hash
    )
