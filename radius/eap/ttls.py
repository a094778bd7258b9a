"""EAP-TTLSv0 with PAP or MS-CHAPv2 inside (RFC 5281; RFC 9427 for TLS 1.3).

After the handshake the peer sends Diameter AVPs (RFC 5281 section 10) in the tunnel:

- PAP (section 11.2.5): User-Name and User-Password (NUL-padded to a multiple of 16);
  the server answers with EAP-Success or EAP-Failure directly;
- MS-CHAPv2 (section 11.2.4): User-Name, MS-CHAP-Challenge and MS-CHAP2-Response, where
  the challenge and the Ident are not sent by the server but derived from the TLS keys
  ("ttls challenge", section 11.1) and checked; the server answers with MS-CHAP2-Success
  in the tunnel, the peer with an empty Response, then EAP-Success.

Tunneled EAP (an EAP-Message AVP), CHAP and MS-CHAP v1 are refused (unsupported_inner_method).
On resumption of a session this server accepted, the inner method is skipped (section
8.1 allows it; hostapd does it) with the remembered identity; under TLS 1.3 the protected
success indication 0x00 is sent then, as hostapd does when there is no tunnel data to send.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import Enum

from radius.eap.fragment import DEFAULT_MAX_MESSAGE
from radius.eap.method import CredentialLookup, FailureReason, MethodFailed
from radius.eap.method import RoundContext as Round
from radius.eap.mschapv2 import check_mschapv2
from radius.eap.tls import TlsServerContext
from radius.eap.tlsbase import TlsBasedMethod, TunnelOutcome
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.mschap import (
    ms_chap2_success,
    nt_password_hash,
)

__all__ = [
    "AVP_MANDATORY",
    "AVP_VENDOR",
    "Avp",
    "TtlsMethod",
    "pull_avps",
    "push_avp",
]

AVP_VENDOR = 0x80
AVP_MANDATORY = 0x40
_MICROSOFT = 311
_USER_NAME = 1
_USER_PASSWORD = 2
_CHAP_PASSWORD = 3
_EAP_MESSAGE = 79
_MS_CHAP_RESPONSE = 1
_MS_CHAP_CHALLENGE = 11
_MS_CHAP2_RESPONSE = 25
_MS_CHAP2_SUCCESS = 26
_MS_CHAP2_RESPONSE_LENGTH = 50
_PROTECTED_SUCCESS = b"\x00"
_DUMMY_HASH = bytes(16)


@dataclass(frozen=True, slots=True)
class Avp:
    """A Diameter AVP as EAP-TTLS carries it (RFC 5281 section 10.1)."""

    code: int
    data: bytes
    vendor: int = 0
    mandatory: bool = True


def pull_avps(data: bytes) -> list[Avp]:
    """AVPs (RFC 5281 section 10.1): Code (4), Flags (1: V, M), Length (3, header
    included, padding not), Vendor-ID (4) if V, Data, padding to a multiple of 4. Raises
    DecodeError(bad_eap_tunnel) for a Length below the header or past the data; the padding
    of the last AVP may be missing (hostapd tolerates that too)."""
    out: list[Avp] = []
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 8:
            raise DecodeError(DecodeFailure.bad_eap_tunnel, pos, "short AVP header")
        code = int.from_bytes(data[pos : pos + 4], "big")
        flags = data[pos + 4]
        length = int.from_bytes(data[pos + 5 : pos + 8], "big")
        header = 12 if flags & AVP_VENDOR else 8
        if length < header or pos + length > n:
            raise DecodeError(DecodeFailure.bad_eap_tunnel, pos, f"AVP length {length}")
        vendor = int.from_bytes(data[pos + 8 : pos + 12], "big") if flags & AVP_VENDOR else 0
        out.append(
            Avp(code, data[pos + header : pos + length], vendor, bool(flags & AVP_MANDATORY))
        )
        pos += length + (-length % 4)
    return out


def push_avp(avp: Avp) -> bytes:
    """One AVP with its padding (RFC 5281 section 10.1)."""
    flags = AVP_MANDATORY if avp.mandatory else 0
    vendor = b""
    if avp.vendor:
        flags |= AVP_VENDOR
        vendor = avp.vendor.to_bytes(4, "big")
    length = 8 + len(vendor) + len(avp.data)
    if length >= 1 << 24 or not 0 <= avp.code < 1 << 32:
        raise LocalProtocolError("AVP out of range")
    out = avp.code.to_bytes(4, "big") + bytes((flags,)) + length.to_bytes(3, "big") + vendor
    return out + avp.data + bytes(-length % 4)


class _Phase(Enum):
    AVPS = "avps"
    MSCHAP_SUCCESS_SENT = "mschap_success_sent"


class TtlsMethod(TlsBasedMethod):
    """EAP-TTLSv0 / PAP or MS-CHAPv2."""

    _remember_identity = True

    def __init__(
        self,
        context: TlsServerContext,
        *,
        outer_identity: str,
        credentials: CredentialLookup,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        super().__init__(context, outer_identity=outer_identity, max_message_size=max_message_size)
        self._credentials = credentials
        self._phase = _Phase.AVPS
        self._inner_identity: str | None = None

    def _identity(self) -> str | None:
        return self._inner_identity

    def _tunnel_started(self, ctx: Round) -> TunnelOutcome:
        key = self._tls.resumed_session_key
        if key is not None:
            identity = self._tls.context.resumption_cache.get(key, ctx.now)
            if identity is not None:
                self._inner_identity = identity
                if self._tls.is_tls13:
                    self._tls.write(_PROTECTED_SUCCESS)
                return self._succeeded(identity)
        return None

    def _tunnel_ack(self, ctx: Round) -> TunnelOutcome:
        if self._phase is _Phase.MSCHAP_SUCCESS_SENT:
            assert self._inner_identity is not None
            return self._succeeded(self._inner_identity)
        return None  # the peer ACKed our Finished: an empty Request invites its AVPs

    def _tunnel_data(self, data: bytes, ctx: Round) -> TunnelOutcome:
        if self._phase is not _Phase.AVPS:
            return self._fail(FailureReason.protocol_violation, "data instead of an ACK")
        try:
            avps = pull_avps(data)
        except DecodeError as e:
            return self._fail(FailureReason.malformed_message, e.reason.value)
        found: dict[tuple[int, int], bytes] = {}
        for avp in avps:
            key = (avp.vendor, avp.code)
            if key in _KNOWN:
                found.setdefault(key, avp.data)
            elif avp.mandatory:
                return self._fail(
                    FailureReason.protocol_violation,
                    f"unsupported mandatory AVP {avp.vendor}/{avp.code}",
                )
        user_name = found.get((0, _USER_NAME))
        if (0, _EAP_MESSAGE) in found:
            return self._fail(FailureReason.unsupported_inner_method, "EAP inside TTLS")
        if user_name is None:
            return self._fail(FailureReason.protocol_violation, "no User-Name AVP")
        self._inner_identity = user_name.decode("utf-8", "replace")
        password = found.get((0, _USER_PASSWORD))
        if password is not None:
            return self._pap(password.rstrip(b"\x00"))
        response = found.get((_MICROSOFT, _MS_CHAP2_RESPONSE))
        if response is not None:
            return self._mschapv2(user_name, found.get((_MICROSOFT, _MS_CHAP_CHALLENGE)), response)
        return self._fail(FailureReason.unsupported_inner_method, "no PAP or MS-CHAPv2 AVPs")

    def _pap(self, password: bytes) -> TunnelOutcome:
        assert self._inner_identity is not None
        material = self._credentials(self._inner_identity)
        if material is None:
            hmac.compare_digest(password, b"\x00" * len(password))
            return self._fail(FailureReason.unknown_user, "")
        if material.password is not None:
            ok = hmac.compare_digest(password, material.password.encode("utf-8"))
        elif material.nt_hash is not None:
            try:
                given = nt_password_hash(password.decode("utf-8"))
            except UnicodeDecodeError:
                given = _DUMMY_HASH
            ok = hmac.compare_digest(given, material.nt_hash)
        else:
            return self._fail(FailureReason.password_unavailable, "no password or NT hash")
        if not ok:
            return self._fail(FailureReason.wrong_password, "")
        return self._succeeded(self._inner_identity)

    def _mschapv2(
        self, user_name: bytes, challenge: bytes | None, response: bytes
    ) -> TunnelOutcome:
        assert self._inner_identity is not None
        if challenge is None or len(challenge) != 16 or len(response) != _MS_CHAP2_RESPONSE_LENGTH:
            return self._fail(
                FailureReason.malformed_message, "MS-CHAP-Challenge/MS-CHAP2-Response"
            )
        implicit = self._tls.ttls_challenge(17)
        ident = response[0]
        if not hmac.compare_digest(implicit[:16], challenge) or ident != implicit[16]:
            return self._fail(FailureReason.protocol_violation, "challenge not from this tunnel")
        peer_challenge = response[2:18]
        nt_response = response[26:50]
        checked = check_mschapv2(
            self._credentials(self._inner_identity),
            nt_response,
            challenge,
            peer_challenge,
            user_name,
        )
        if isinstance(checked, MethodFailed):
            return self._fail(checked.reason, checked.detail)
        authenticator_response = checked
        success = ms_chap2_success(ident, authenticator_response)
        self._tls.write(push_avp(Avp(_MS_CHAP2_SUCCESS, success, _MICROSOFT)))
        self._phase = _Phase.MSCHAP_SUCCESS_SENT
        return None


_KNOWN = frozenset(
    (
        (0, _USER_NAME),
        (0, _USER_PASSWORD),
        (0, _CHAP_PASSWORD),
        (0, _EAP_MESSAGE),
        (_MICROSOFT, _MS_CHAP_RESPONSE),
        (_MICROSOFT, _MS_CHAP_CHALLENGE),
        (_MICROSOFT, _MS_CHAP2_RESPONSE),
    )
)
