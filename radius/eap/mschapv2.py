"""EAP-MSCHAPv2, the authenticator side, as PEAP's inner method
(draft-kamath-pppext-eap-mschapv2-02; the cryptography is RFC 2759, in ``radius.mschap``).

Type-Data (after the Type octet 26) is OpCode, MS-CHAPv2-ID, MS-Length (the Type-Data
length) and the OpCode's data:

- Challenge (1): Value-Size 16, the Authenticator Challenge, the server Name;
- Response (2): Value-Size 49, Peer-Challenge (16) + Reserved (8) + NT-Response (24) +
  Flags (1), the peer's Name (the user name of ChallengeHash);
- Success (3): a Request carries "S=<AuthenticatorResponse> M=<message>"; the peer's
  Success Response is the OpCode alone;
- Failure (4): a Request carries "E=... R=... C=... V=... M=..."; a Response the OpCode alone.

A wrong password ends the method at once (the tunnel then ends the conversation) instead of
the Failure Request round hostapd makes: the peer learns the same thing from EAP-Failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from radius.eap.method import (
    CredentialLookup,
    FailureReason,
    MethodFailed,
    MethodResult,
    MethodSucceeded,
    PasswordMaterial,
    RoundContext,
    TokenBytes,
)
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.mschap import (
    CHALLENGE_LENGTH,
    NT_RESPONSE_LENGTH,
    generate_authenticator_response_from_hash,
    user_name_without_domain,
    verify_nt_response,
)

__all__ = [
    "MsChapV2OpCode",
    "MsChapV2Response",
    "MsChapV2Server",
    "pull_response",
    "push_challenge",
    "push_failure_request",
    "push_response",
    "push_success_request",
]

_RESPONSE_VALUE_SIZE = 49
_DUMMY_HASH = bytes(16)
"""Checked against when the identity is unknown, so that costs what a wrong password does."""


def check_mschapv2(
    material: PasswordMaterial | None,
    nt_response: bytes,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    name: bytes,
) -> str | MethodFailed:
    """Check an MS-CHAPv2 response (RFC 2759 8.1) against what the store knows of the user:
    the Authenticator Response (``S=...``, 8.7) to send back, or why it failed. An unknown
    user costs the same as a wrong password (the check runs on a dummy hash)."""
    password_hash = material.nt_password_hash() if material is not None else None
    ok = verify_nt_response(
        nt_response,
        authenticator_challenge,
        peer_challenge,
        name,
        password_hash=password_hash or _DUMMY_HASH,
    )
    if material is None:
        return MethodFailed(FailureReason.unknown_user, "")
    if password_hash is None:
        return MethodFailed(FailureReason.password_unavailable, "no NT hash or password")
    if not ok:
        return MethodFailed(FailureReason.wrong_password, "")
    return generate_authenticator_response_from_hash(
        password_hash, nt_response, peer_challenge, authenticator_challenge, name
    )


class MsChapV2OpCode(IntEnum):
    """draft-kamath-pppext-eap-mschapv2 section 2."""

    Challenge = 1
    Response = 2
    Success = 3
    Failure = 4
    ChangePassword = 7


@dataclass(frozen=True, slots=True)
class MsChapV2Response:
    """The peer's Response packet (draft-kamath-pppext-eap-mschapv2 section 2.2)."""

    ms_chapv2_id: int
    peer_challenge: bytes = field(repr=False)
    nt_response: bytes = field(repr=False)
    flags: int
    name: bytes


def _with_header(opcode: int, ms_id: int, body: bytes) -> bytes:
    length = 4 + len(body)
    if length > 0xFFFF or not 0 <= ms_id <= 0xFF:
        raise LocalProtocolError("EAP-MSCHAPv2 packet out of range")
    return bytes((opcode, ms_id, length >> 8, length & 0xFF)) + body


def push_challenge(ms_id: int, challenge: bytes, name: bytes) -> bytes:
    """Challenge Type-Data (section 2.1)."""
    if len(challenge) != CHALLENGE_LENGTH:
        raise LocalProtocolError("the Authenticator Challenge is 16 octets")
    return _with_header(
        MsChapV2OpCode.Challenge, ms_id, bytes((CHALLENGE_LENGTH,)) + challenge + name
    )


def push_response(response: MsChapV2Response) -> bytes:
    """Response Type-Data (section 2.2), what a peer sends (for tests and probes)."""
    value = response.peer_challenge + bytes(8) + response.nt_response + bytes((response.flags,))
    if len(value) != _RESPONSE_VALUE_SIZE:
        raise LocalProtocolError("Peer-Challenge 16 and NT-Response 24 octets")
    body = bytes((_RESPONSE_VALUE_SIZE,)) + value + response.name
    return _with_header(MsChapV2OpCode.Response, response.ms_chapv2_id, body)


def pull_response(type_data: bytes) -> MsChapV2Response:
    """Parse Response Type-Data (section 2.2). Raises DecodeError(bad_eap_type_data) for a
    short packet, another OpCode or a Value-Size other than 49. MS-Length is not trusted:
    the EAP Length already bounds the packet."""
    if len(type_data) < 5 + _RESPONSE_VALUE_SIZE:
        raise DecodeError(DecodeFailure.bad_eap_type_data, 5, "short MSCHAPv2 Response")
    if type_data[0] != MsChapV2OpCode.Response:
        raise DecodeError(DecodeFailure.bad_eap_type_data, 5, f"OpCode {type_data[0]}")
    if type_data[4] != _RESPONSE_VALUE_SIZE:
        raise DecodeError(DecodeFailure.bad_eap_type_data, 9, f"Value-Size {type_data[4]}")
    value = type_data[5 : 5 + _RESPONSE_VALUE_SIZE]
    return MsChapV2Response(
        ms_chapv2_id=type_data[1],
        peer_challenge=value[:16],
        nt_response=value[24 : 24 + NT_RESPONSE_LENGTH],
        flags=value[48],
        name=type_data[5 + _RESPONSE_VALUE_SIZE :],
    )


def push_success_request(ms_id: int, message: bytes) -> bytes:
    """Success Request Type-Data (section 2.3): "S=<40 hex> M=<text>"."""
    return _with_header(MsChapV2OpCode.Success, ms_id, message)


def push_failure_request(ms_id: int, message: bytes) -> bytes:
    """Failure Request Type-Data (section 2.4): "E=eeeeeeeeee R=r C=... V=v M=<text>"."""
    return _with_header(MsChapV2OpCode.Failure, ms_id, message)


class _State(Enum):
    CHALLENGE_SENT = "challenge_sent"
    SUCCESS_SENT = "success_sent"


class MsChapV2Server:
    """EAP-MSCHAPv2 for one identity: Challenge, Response, Success Request, Success Response.

    ``identity`` is the one the peer gave (PEAP's inner EAP-Identity); the Name of its
    Response must match it once any "DOMAIN\\" prefix is taken off both (hostapd's check).
    """

    eap_type = 26

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
        self._challenge = b""
        self._ms_id = 0
        self._state = _State.CHALLENGE_SENT

    def start(self, ctx: RoundContext) -> bytes:
        self._challenge = self._token_bytes(CHALLENGE_LENGTH)
        if len(self._challenge) != CHALLENGE_LENGTH:
            raise LocalProtocolError("token_bytes returned the wrong length")
        self._ms_id = ctx.identifier
        self._state = _State.CHALLENGE_SENT
        return push_challenge(self._ms_id, self._challenge, self._server_name)

    def process(self, type_data: bytes, ctx: RoundContext) -> MethodResult:
        if not type_data:
            raise DecodeError(DecodeFailure.bad_eap_type_data, 5, "no OpCode")
        opcode = type_data[0]
        if self._state is _State.CHALLENGE_SENT:
            if opcode != MsChapV2OpCode.Response:
                return self._fail(FailureReason.protocol_violation, f"OpCode {opcode}")
            return self._check(pull_response(type_data), ctx)
        if opcode == MsChapV2OpCode.Success:
            return MethodSucceeded(identity=self._identity)
        if opcode == MsChapV2OpCode.Failure:
            return self._fail(
                FailureReason.peer_failure, "peer rejected the Authenticator Response"
            )
        return self._fail(FailureReason.protocol_violation, f"OpCode {opcode}")

    def _check(self, response: MsChapV2Response, ctx: RoundContext) -> MethodResult:
        if response.ms_chapv2_id != self._ms_id:
            return self._fail(FailureReason.protocol_violation, "MS-CHAPv2-ID mismatch")
        name = response.name
        if user_name_without_domain(name) != user_name_without_domain(
            self._identity.encode("utf-8")
        ):
            return self._fail(FailureReason.identity_mismatch, "MS-CHAPv2 Name is not the identity")
        checked = check_mschapv2(
            self._credentials(self._identity),
            response.nt_response,
            self._challenge,
            response.peer_challenge,
            name,
        )
        if isinstance(checked, MethodFailed):
            return self._fail(checked.reason, checked.detail)
        authenticator_response = checked
        self._state = _State.SUCCESS_SENT
        message = f"{authenticator_response} M=Authentication succeeded".encode("ascii")
        return push_success_request(ctx.identifier, message)

    def _fail(self, reason: FailureReason, detail: str) -> MethodFailed:
        return MethodFailed(reason, detail, self._identity)
