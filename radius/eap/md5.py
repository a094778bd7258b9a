"""EAP-MD5 (RFC 3748 section 5.4; the CHAP computation of RFC 1994 section 4.1).

Request: Value-Size 16, a challenge from ``token_bytes``, the server Name. Response: Value =
MD5(Identifier + secret + challenge), the Identifier being the Request's. It needs the
cleartext password, authenticates only the peer and derives no keys: fine for wired ports
that need no encryption keys, unsuitable for wireless (RFC 4017).
"""

from __future__ import annotations

import hashlib
import hmac

from radius.eap.method import (
    CredentialLookup,
    FailureReason,
    MethodFailed,
    MethodResult,
    MethodSucceeded,
    RoundContext,
    TokenBytes,
)
from radius.eap.packet import Md5Challenge, pull_md5_challenge, push_md5_challenge
from radius.errors import LocalProtocolError

__all__ = ["CHALLENGE_LENGTH", "Md5Method", "md5_response"]

CHALLENGE_LENGTH = 16


def md5_response(identifier: int, secret: bytes, challenge: bytes) -> bytes:
    """MD5(Identifier + secret + challenge) (RFC 1994 section 4.1, RFC 3748 section 5.4)."""
    data = bytes((identifier,)) + secret + challenge
    return hashlib.md5(data).digest()  # noqa: S324 - the hash RFC 3748 section 5.4 specifies


class Md5Method:
    """EAP-MD5 for the outer identity."""

    eap_type = 4

    def __init__(
        self,
        *,
        identity: str,
        credentials: CredentialLookup,
        token_bytes: TokenBytes,
        server_name: bytes,
    ) -> None:
        self._identity = identity
        self._credentials = credentials
        self._token_bytes = token_bytes
        self._server_name = server_name
        self._identifier = 0
        self._challenge = b""

    def start(self, ctx: RoundContext) -> bytes:
        self._challenge = self._token_bytes(CHALLENGE_LENGTH)
        if len(self._challenge) != CHALLENGE_LENGTH:
            raise LocalProtocolError("token_bytes returned the wrong length")
        self._identifier = ctx.identifier
        return push_md5_challenge(Md5Challenge(self._challenge, self._server_name))

    def process(self, type_data: bytes, ctx: RoundContext) -> MethodResult:
        value = pull_md5_challenge(type_data).value
        material = self._credentials(self._identity)
        secret = b""
        if material is not None and material.password is not None:
            secret = material.password.encode("utf-8")
        expected = md5_response(self._identifier, secret, self._challenge)
        ok = hmac.compare_digest(expected, value)
        if material is None:
            return MethodFailed(FailureReason.unknown_user, "", self._identity)
        if material.password is None:
            return MethodFailed(
                FailureReason.password_unavailable, "EAP-MD5 needs the cleartext", self._identity
            )
        if not ok:
            return MethodFailed(FailureReason.wrong_password, "", self._identity)
        return MethodSucceeded(identity=self._identity)
