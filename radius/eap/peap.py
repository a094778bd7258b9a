"""PEAPv0 with EAP-MSCHAPv2 inside (draft-kamath-pppext-peapv0-00, [MS-PEAP]).

Phase 1 is the TLS handshake (``TlsBasedMethod``); no client certificate is requested.
Phase 2 runs EAP inside the tunnel with PEAPv0's compression: the inner packets carry no EAP
header (Code, Identifier, Length), only Type and Type-Data, except the Extensions packets
(Type 33), which are whole EAP packets ([MS-PEAP] 2.2.3; hostapd's eap_server_peap.c):

    S: Identity Request (0x01)               P: 0x01 + inner identity
    S: MSCHAPv2 Challenge (0x1a ...)         P: MSCHAPv2 Response
    S: MSCHAPv2 Success Request              P: MSCHAPv2 Success Response (0x1a 0x03)
    S: Extensions Request, Result TLV OK     P: Extensions Response, Result TLV OK
    S: EAP-Success (outside the tunnel)

Crypto-binding is not offered, so the keys are the TLS keys ([MS-PEAP] 3.1.5.7: "client EAP
encryption"; TLS 1.3 exporter with context 0x19, RFC 9427): wpa_supplicant's default
``crypto_binding=1`` and Windows accept that. On resumption with a session this server
accepted before, phase 2 is skipped and the Result TLV is sent at once (PEAP fast
reconnect), with the identity remembered for that session.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from radius.eap.fragment import DEFAULT_MAX_MESSAGE
from radius.eap.method import (
    CredentialLookup,
    FailureReason,
    MethodFailed,
    MethodSucceeded,
    TokenBytes,
)
from radius.eap.method import RoundContext as Round
from radius.eap.mschapv2 import MsChapV2Server
from radius.eap.packet import EapCode, EapPacket, EapType, decode_eap, encode_eap
from radius.eap.tls import TlsServerContext
from radius.eap.tlsbase import TlsBasedMethod, TunnelOutcome
from radius.errors import DecodeError, DecodeFailure

__all__ = [
    "RESULT_FAILURE",
    "RESULT_SUCCESS",
    "PeapMethod",
    "Tlv",
    "pull_tlvs",
    "push_tlv",
    "result_tlv",
]

RESULT_TLV = 3
"""[MS-PEAP] 2.2.8.1 / draft-josefsson-pppext-eap-tls-eap: Result TLV type."""
RESULT_SUCCESS = 1
RESULT_FAILURE = 2
_IDENTITY = 1
_NAK = 3
_MSCHAPV2 = 26


@dataclass(frozen=True, slots=True)
class Tlv:
    """One TLV of an Extensions packet: M bit, 14-bit type, value ([MS-PEAP] 2.2.8)."""

    type: int
    value: bytes
    mandatory: bool = True


def pull_tlvs(data: bytes) -> list[Tlv]:
    """TLVs ([MS-PEAP] 2.2.8): M (1 bit), R (1 bit), Type (14 bits), Length (2), Value.
    Raises DecodeError(bad_eap_tunnel) when a Length runs past the data."""
    out: list[Tlv] = []
    pos, n = 0, len(data)
    while pos < n:
        if n - pos < 4:
            raise DecodeError(DecodeFailure.bad_eap_tunnel, pos, "short TLV header")
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 4 + length
        if end > n:
            raise DecodeError(DecodeFailure.bad_eap_tunnel, pos, f"TLV length {length}")
        tlv_type = ((data[pos] & 0x3F) << 8) | data[pos + 1]
        out.append(Tlv(tlv_type, data[pos + 4 : end], bool(data[pos] & 0x80)))
        pos = end
    return out


def push_tlv(tlv: Tlv) -> bytes:
    """One TLV ([MS-PEAP] 2.2.8)."""
    first = (0x80 if tlv.mandatory else 0) | (tlv.type >> 8) & 0x3F
    n = len(tlv.value)
    return bytes((first, tlv.type & 0xFF, n >> 8, n & 0xFF)) + tlv.value


def result_tlv(status: int) -> bytes:
    """The mandatory Result TLV with a two-octet Status (1 success, 2 failure)."""
    return push_tlv(Tlv(RESULT_TLV, status.to_bytes(2, "big")))


class _Phase(Enum):
    WAIT_ACK = "wait_ack"
    """Our last handshake records are out; the inner Identity Request follows their ACK."""
    IDENTITY = "identity"
    METHOD = "method"
    RESULT = "result"


class PeapMethod(TlsBasedMethod):
    """PEAPv0 / EAP-MSCHAPv2."""

    _remember_identity = True

    def __init__(
        self,
        context: TlsServerContext,
        *,
        outer_identity: str,
        credentials: CredentialLookup,
        token_bytes: TokenBytes,
        server_name: bytes,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        super().__init__(context, outer_identity=outer_identity, max_message_size=max_message_size)
        self._credentials = credentials
        self._token_bytes = token_bytes
        self._server_name = server_name
        self._phase = _Phase.WAIT_ACK
        self._inner_identity: str | None = None
        self._inner: MsChapV2Server | None = None

    def _identity(self) -> str | None:
        return self._inner_identity

    def _tunnel_started(self, ctx: Round) -> TunnelOutcome:
        key = self._tls.resumed_session_key
        if key is not None:
            identity = self._tls.context.resumption_cache.get(key, ctx.now)
            if identity is not None:
                self._inner_identity = identity
                return self._send_result(ctx)
        if self._handshake_pending and not self._tls.is_tls13:
            # TLS 1.2: our ChangeCipherSpec and Finished go out alone and phase 2 follows
            # their ACK, as PEAPv0 peers expect.
            self._phase = _Phase.WAIT_ACK
            return None
        # TLS 1.3: the handshake is complete once the peer's Finished is in; what is left to
        # send is NewSessionTicket, after which TLS allows application data in the same
        # flight, so the inner Identity Request rides along and saves a round trip.
        return self._send_identity_request()

    def _tunnel_ack(self, ctx: Round) -> TunnelOutcome:
        if self._phase is _Phase.WAIT_ACK:
            return self._send_identity_request()
        return self._fail(
            FailureReason.protocol_violation, f"empty Response in {self._phase.value}"
        )

    def _tunnel_data(self, data: bytes, ctx: Round) -> TunnelOutcome:
        if self._phase is _Phase.RESULT:
            return self._result(data)
        if self._phase is _Phase.WAIT_ACK:
            return self._fail(FailureReason.protocol_violation, "tunnel data before phase 2")
        inner_type, type_data = data[0], data[1:]
        if inner_type == _NAK:
            return self._fail(
                FailureReason.unsupported_inner_method, f"inner Nak {list(type_data)}"
            )
        if self._phase is _Phase.IDENTITY:
            if inner_type != _IDENTITY:
                return self._fail(FailureReason.protocol_violation, f"inner Type {inner_type}")
            self._inner_identity = type_data.decode("utf-8", "replace")
            self._inner = MsChapV2Server(
                identity=self._inner_identity,
                credentials=self._credentials,
                token_bytes=self._token_bytes,
                server_name=self._server_name,
            )
            self._phase = _Phase.METHOD
            self._tls.write(bytes((_MSCHAPV2,)) + self._inner.start(ctx))
            return None
        assert self._inner is not None
        if inner_type != _MSCHAPV2:
            return self._fail(FailureReason.protocol_violation, f"inner Type {inner_type}")
        try:
            result = self._inner.process(type_data, ctx)
        except DecodeError as e:
            return self._fail(FailureReason.malformed_message, e.reason.value)
        if isinstance(result, MethodFailed):
            return result
        if isinstance(result, MethodSucceeded):
            return self._send_result(ctx)
        self._tls.write(bytes((_MSCHAPV2,)) + result)
        return None

    def _send_identity_request(self) -> TunnelOutcome:
        self._phase = _Phase.IDENTITY
        self._tls.write(bytes((_IDENTITY,)))
        return None

    def _send_result(self, ctx: Round) -> TunnelOutcome:
        self._phase = _Phase.RESULT
        packet = EapPacket(
            EapCode.Request, ctx.identifier, EapType.Extensions, result_tlv(RESULT_SUCCESS)
        )
        self._tls.write(encode_eap(packet))
        return None

    def _result(self, data: bytes) -> TunnelOutcome:
        try:
            packet = decode_eap(data)
        except DecodeError as e:
            return self._fail(FailureReason.malformed_message, e.reason.value)
        if packet.code != EapCode.Response or packet.type != EapType.Extensions:
            return self._fail(FailureReason.protocol_violation, "expected an Extensions Response")
        try:
            tlvs = pull_tlvs(packet.type_data)
        except DecodeError as e:
            return self._fail(FailureReason.malformed_message, e.reason.value)
        status: int | None = None
        for tlv in tlvs:
            if tlv.type == RESULT_TLV and len(tlv.value) >= 2:
                status = int.from_bytes(tlv.value[:2], "big")
            elif tlv.mandatory and tlv.type != RESULT_TLV:
                return self._fail(FailureReason.protocol_violation, f"mandatory TLV {tlv.type}")
        if status != RESULT_SUCCESS:
            return self._fail(FailureReason.peer_failure, f"Result TLV status {status}")
        assert self._inner_identity is not None
        return self._succeeded(self._inner_identity)
