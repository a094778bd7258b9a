"""EAP packet codec: RFC 3748 section 4 (packet format) and section 5 (the initial Types);
carrying EAP in RADIUS EAP-Message attributes, RFC 3579 section 3.1.

``decode_eap`` validates the header and, for the Types this server reads (Nak,
MD5-Challenge, Expanded), the Type-Data structure; every other Type is kept raw and
``encode_eap(decode_eap(x))`` gives back ``x`` up to its Length field. The only exception any
``decode_*`` / ``pull_*`` raises is ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from radius.constants import MAX_ATTR_VALUE, AttrType
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "EAP_HEADER_LENGTH",
    "MAX_EAP_LENGTH",
    "EapCode",
    "EapPacket",
    "EapType",
    "Md5Challenge",
    "decode_eap",
    "eap_failure",
    "eap_message_from_attributes",
    "eap_request",
    "eap_success",
    "encode_eap",
    "join_eap_message",
    "pull_expanded",
    "pull_md5_challenge",
    "pull_nak",
    "push_expanded",
    "push_md5_challenge",
    "push_nak",
    "split_eap_message",
]

EAP_HEADER_LENGTH = 4
"""RFC 3748 section 4: Code, Identifier and a two-octet Length."""
MAX_EAP_LENGTH = 0xFFFF
"""RFC 3748 section 4: the Length field is two octets."""


class EapCode(IntEnum):
    """RFC 3748 section 4 (Codes 5 and 6, Initiate and Finish of RFC 6696, are not accepted)."""

    Request = 1
    Response = 2
    Success = 3
    Failure = 4


class EapType(IntEnum):
    """The IANA EAP method types this package names (RFC 3748 section 5 and the registry)."""

    Identity = 1
    Notification = 2
    Nak = 3
    MD5Challenge = 4
    OTP = 5
    GTC = 6
    TLS = 13
    TTLS = 21
    PEAP = 25
    MSCHAPv2 = 26
    Extensions = 33
    """EAP-TLV, PEAP's Extensions method ([MS-PEAP] 2.2.8: Result TLV, Crypto-Binding TLV)."""
    Expanded = 254
    Experimental = 255


_REQUEST = 1
_RESPONSE = 2
_SUCCESS = 3
_FAILURE = 4
_NAK = 3
_MD5 = 4
_EXPANDED = 254


@dataclass(frozen=True, slots=True)
class EapPacket:
    """One EAP packet (RFC 3748 section 4).

    Success and Failure have ``type`` 0 and no ``type_data``; a Request or Response has its
    Type (1..255) and the raw Type-Data (RFC 3748 section 4.1).
    """

    code: int
    identifier: int
    type: int = 0
    type_data: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.code == _REQUEST

    @property
    def is_response(self) -> bool:
        return self.code == _RESPONSE


@dataclass(frozen=True, slots=True)
class Md5Challenge:
    """MD5-Challenge Type-Data (RFC 3748 section 5.4): Value-Size, Value, optional Name."""

    value: bytes
    name: bytes = b""


def decode_eap(data: bytes) -> EapPacket:
    """Decode one EAP packet (RFC 3748 section 4). Raises only DecodeError.

    Octets beyond the Length field are Data Link Layer padding and ignored (section 4); a
    Length above the octets received is discarded (bad_eap). Nak, MD5-Challenge and Expanded
    Type-Data are checked here (bad_eap_type_data) so a decoded packet is safe to read.
    """
    n = len(data)
    if n < EAP_HEADER_LENGTH:
        raise DecodeError(DecodeFailure.bad_eap, 0, f"{n} octets")
    code = data[0]
    length = (data[2] << 8) | data[3]
    if length > n:
        raise DecodeError(DecodeFailure.bad_eap, 2, f"Length {length}, got {n} octets")
    if code in (_SUCCESS, _FAILURE):
        if length != EAP_HEADER_LENGTH:
            raise DecodeError(DecodeFailure.bad_eap, 2, f"Success/Failure Length {length}")
        return EapPacket(code, data[1])
    if code not in (_REQUEST, _RESPONSE):
        raise DecodeError(DecodeFailure.bad_eap, 0, f"unknown Code {code}")
    if length < EAP_HEADER_LENGTH + 1:
        raise DecodeError(DecodeFailure.bad_eap, 2, f"Length {length} leaves no Type")
    packet = EapPacket(code, data[1], data[4], bytes(data[5:length]))
    _check_type_data(packet)
    return packet


def _check_type_data(packet: EapPacket) -> None:
    t = packet.type
    if t == _NAK:
        if packet.code != _RESPONSE:
            raise DecodeError(DecodeFailure.bad_eap_type_data, 4, "Nak in a Request")
        pull_nak(packet.type_data)
    elif t == _MD5:
        pull_md5_challenge(packet.type_data)
    elif t == _EXPANDED:
        pull_expanded(packet.type_data)


def encode_eap(packet: EapPacket) -> bytes:
    """Encode an EAP packet (RFC 3748 section 4). Raises LocalProtocolError for a packet
    the RFC forbids (Type-Data on Success/Failure, no Type on a Request/Response, too long)."""
    if not 0 <= packet.identifier <= 0xFF:
        raise LocalProtocolError(f"EAP Identifier {packet.identifier} out of range")
    if packet.code in (_SUCCESS, _FAILURE):
        if packet.type or packet.type_data:
            raise LocalProtocolError("EAP Success/Failure carry no Type")
        return bytes((packet.code, packet.identifier, 0, EAP_HEADER_LENGTH))
    if packet.code not in (_REQUEST, _RESPONSE):
        raise LocalProtocolError(f"EAP Code {packet.code} not supported")
    if not 1 <= packet.type <= 0xFF:
        raise LocalProtocolError(f"EAP Type {packet.type} out of range")
    length = EAP_HEADER_LENGTH + 1 + len(packet.type_data)
    if length > MAX_EAP_LENGTH:
        raise LocalProtocolError(f"EAP packet of {length} octets exceeds {MAX_EAP_LENGTH}")
    header = bytes((packet.code, packet.identifier, length >> 8, length & 0xFF, packet.type))
    return header + packet.type_data


def eap_request(identifier: int, eap_type: int, type_data: bytes = b"") -> bytes:
    """An encoded EAP-Request (RFC 3748 section 4.1)."""
    return encode_eap(EapPacket(_REQUEST, identifier, eap_type, type_data))


def eap_success(identifier: int) -> bytes:
    """An encoded EAP-Success; its Identifier is the Response's (RFC 3748 section 4.2)."""
    return encode_eap(EapPacket(_SUCCESS, identifier))


def eap_failure(identifier: int) -> bytes:
    """An encoded EAP-Failure; its Identifier is the Response's (RFC 3748 section 4.2)."""
    return encode_eap(EapPacket(_FAILURE, identifier))


# --------------------------------------------------------------------------- Type-Data


def pull_nak(type_data: bytes) -> tuple[int, ...]:
    """Legacy Nak Type-Data (RFC 3748 section 5.3.1): the Types the peer desires, one octet
    each; 0 alone means "no alternative". Raises DecodeError(bad_eap_type_data) when empty."""
    if not type_data:
        raise DecodeError(DecodeFailure.bad_eap_type_data, 5, "empty Nak")
    return tuple(type_data)


def push_nak(desired: Iterable[int]) -> bytes:
    """Legacy Nak Type-Data (RFC 3748 section 5.3.1)."""
    out = bytes(desired)
    if not out:
        raise LocalProtocolError("a Nak lists at least one Type (0 for none)")
    return out


def pull_md5_challenge(type_data: bytes) -> Md5Challenge:
    """MD5-Challenge Type-Data (RFC 3748 section 5.4, RFC 1994 section 4.1): Value-Size
    (at least 1), Value, and the Name in the rest. Raises DecodeError(bad_eap_type_data)."""
    if not type_data:
        raise DecodeError(DecodeFailure.bad_eap_type_data, 5, "empty MD5-Challenge")
    size = type_data[0]
    if size == 0 or 1 + size > len(type_data):
        raise DecodeError(
            DecodeFailure.bad_eap_type_data, 5, f"Value-Size {size} in {len(type_data)} octets"
        )
    return Md5Challenge(type_data[1 : 1 + size], type_data[1 + size :])


def push_md5_challenge(challenge: Md5Challenge) -> bytes:
    """MD5-Challenge Type-Data (RFC 3748 section 5.4)."""
    n = len(challenge.value)
    if not 0 < n < 256:
        raise LocalProtocolError(f"MD5-Challenge Value of {n} octets")
    return bytes((n,)) + challenge.value + challenge.name


def pull_expanded(type_data: bytes) -> tuple[int, int, bytes]:
    """Expanded Type-Data (RFC 3748 section 5.7): (Vendor-Id, Vendor-Type, Vendor data).
    Raises DecodeError(bad_eap_type_data) below the 7 octets of Vendor-Id and Vendor-Type."""
    if len(type_data) < 7:
        raise DecodeError(
            DecodeFailure.bad_eap_type_data, 5, f"Expanded Type of {len(type_data)} octets"
        )
    vendor = int.from_bytes(type_data[:3], "big")
    vendor_type = int.from_bytes(type_data[3:7], "big")
    return vendor, vendor_type, type_data[7:]


def push_expanded(vendor: int, vendor_type: int, data: bytes = b"") -> bytes:
    """Expanded Type-Data (RFC 3748 section 5.7), to follow a Type octet of 254."""
    if not 0 <= vendor < 1 << 24 or not 0 <= vendor_type < 1 << 32:
        raise LocalProtocolError(f"Expanded Type {vendor}/{vendor_type} out of range")
    return vendor.to_bytes(3, "big") + vendor_type.to_bytes(4, "big") + data


# --------------------------------------------------------------------------- RFC 3579


def join_eap_message(values: Iterable[bytes]) -> bytes:
    """The EAP packet carried by EAP-Message values, in order (RFC 3579 section 3.1: the
    values concatenate to one packet). Checking the result is ``decode_eap``'s job."""
    return b"".join(values)


def eap_message_from_attributes(attributes: Sequence[tuple[int, bytes]]) -> bytes | None:
    """The EAP packet of a RADIUS attribute list, or None without EAP-Message.

    RFC 3579 section 3.1: multiple EAP-Message attributes "MUST be in order and they MUST be
    consecutive attributes in the packet"; a gap raises DecodeError(bad_eap). A lone empty
    value is EAP-Start (section 2.1) and comes back as ``b""``.
    """
    first = last = -1
    parts: list[bytes] = []
    for i, (t, v) in enumerate(attributes):
        if t == AttrType.EapMessage:
            if last >= 0 and i != last + 1:
                raise DecodeError(
                    DecodeFailure.bad_eap, i, "EAP-Message attributes not consecutive"
                )
            if first < 0:
                first = i
            last = i
            parts.append(v)
    if first < 0:
        return None
    return b"".join(parts)


def split_eap_message(eap: bytes) -> list[bytes]:
    """EAP-Message attribute values for one EAP packet, at most 253 octets each (RFC 3579
    section 3.1, RFC 2865 section 5); ``b""`` gives the one empty value of EAP-Start."""
    if not eap:
        return [b""]
    return [eap[i : i + MAX_ATTR_VALUE] for i in range(0, len(eap), MAX_ATTR_VALUE)]
