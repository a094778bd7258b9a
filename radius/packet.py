"""Packet codec: RFC 2865 section 3 (packet format) and section 5 (attributes).

The hot path is ``decode_packet``: one loop over the bytes producing a tuple of
``(type, value)`` pairs, no per-attribute objects, no dictionary lookups. Values stay raw
(VSAs as whole type-26 values, unknown types kept) so ``encode_packet`` reproduces them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from radius.constants import HEADER_LENGTH, MAX_ATTR_VALUE, MAX_PACKET, MIN_PACKET
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "Packet",
    "decode_packet",
    "encode_packet",
    "encode_vsa",
    "pull_attributes",
    "pull_vsa",
    "push_attributes",
]

_VENDOR_SPECIFIC = 26
_LENGTH_BYTES = tuple(bytes((n,)) for n in range(256))
_EMPTY: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded RADIUS packet (RFC 2865 section 3).

    ``attributes`` keeps wire order; Vendor-Specific values are whole type-26 values
    (see ``vsas()``); ``raw`` is the packet as received, without padding beyond Length.
    """

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[tuple[int, bytes], ...] = _EMPTY
    raw: bytes = field(default=b"", repr=False, compare=False)

    def get(self, attr_type: int) -> bytes | None:
        """The value of the first attribute of ``attr_type``, or None."""
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def get_all(self, attr_type: int) -> list[bytes]:
        """Every value of ``attr_type``, in wire order (e.g. EAP-Message fragments, Class)."""
        return [v for t, v in self.attributes if t == attr_type]

    def vsas(self) -> list[tuple[int, int, bytes]]:
        """(vendor id, vendor type, value) of every well-formed VSA sub-attribute (RFC 2865
        5.26). Vendor-Specific values that do not follow the recommended format are skipped
        here; they remain available raw through ``get_all(26)``."""
        out: list[tuple[int, int, bytes]] = []
        for t, v in self.attributes:
            if t == _VENDOR_SPECIFIC:
                try:
                    vendor, subs = pull_vsa(v)
                except DecodeError:
                    continue
                out.extend((vendor, st, sv) for st, sv in subs)
        return out


def pull_attributes(data: bytes, start: int, end: int) -> tuple[tuple[int, bytes], ...]:
    """Read the attribute list in ``data[start:end]`` (RFC 2865 section 5).

    Raises DecodeError(attribute_too_short) for a Length below 2 or a lone type octet,
    DecodeError(attribute_overflow) for an attribute running past ``end``,
    DecodeError(bad_vsa) for a Vendor-Specific shorter than 7 octets (5.26).
    """
    attrs: list[tuple[int, bytes]] = []
    append = attrs.append
    pos = start
    last = end - 1  # a header needs two octets: pos <= last - 1
    while pos < last:
        alen = data[pos + 1]
        nxt = pos + alen
        if alen < 2 or nxt > end:
            break  # diagnosed below, off the hot path
        t = data[pos]
        if t == _VENDOR_SPECIFIC and alen < 7:
            raise DecodeError(DecodeFailure.bad_vsa, pos, f"Vendor-Specific length {alen}")
        append((t, data[pos + 2 : nxt]))
        pos = nxt
    if pos < end:
        if pos == last:
            raise DecodeError(DecodeFailure.attribute_too_short, pos, "lone type octet")
        alen = data[pos + 1]
        if alen < 2:
            raise DecodeError(DecodeFailure.attribute_too_short, pos, f"length {alen}")
        raise DecodeError(DecodeFailure.attribute_overflow, pos, f"length {alen} past end {end}")
    return tuple(attrs)


def decode_packet(data: bytes) -> Packet:
    """Decode one datagram (RFC 2865 section 3). Raises only DecodeError.

    A Length field below 20 or above 4096 is dropped; octets beyond Length are padding and
    ignored; fewer octets than Length is dropped.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < MIN_PACKET:
        raise DecodeError(DecodeFailure.too_short, 0, f"{n} octets")
    length = (data[2] << 8) | data[3]
    if length < MIN_PACKET:
        raise DecodeError(DecodeFailure.too_short, 2, f"length field {length}")
    if length > MAX_PACKET:
        raise DecodeError(DecodeFailure.too_long, 2, f"length field {length}")
    if n < length:
        raise DecodeError(DecodeFailure.length_mismatch, 2, f"length {length}, got {n}")
    if n != length:
        data = data[:length]
    return Packet(data[0], data[1], data[4:20], pull_attributes(data, HEADER_LENGTH, length), data)


def push_attributes(attributes: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode ``(type, value)`` pairs (RFC 2865 section 5). Raises LocalProtocolError for a
    type outside 1..255 or a value longer than 253 octets."""
    parts: list[bytes] = []
    append = parts.append
    lb = _LENGTH_BYTES
    for t, v in attributes:
        n = len(v)
        if n > MAX_ATTR_VALUE:
            raise LocalProtocolError(f"attribute {t}: value of {n} octets exceeds 253")
        if not 0 < t < 256:
            raise LocalProtocolError(f"attribute type {t} out of range")
        append(lb[t])
        append(lb[n + 2])
        append(v)
    return b"".join(parts)


def encode_packet(
    code: int,
    identifier: int,
    authenticator: bytes,
    attributes: Iterable[tuple[int, bytes]],
) -> bytes:
    """Encode a packet (RFC 2865 section 3) with the given authenticator field as is.

    Raises LocalProtocolError if the result would exceed 4096 octets.
    """
    if len(authenticator) != 16:
        raise LocalProtocolError("authenticator must be 16 octets")
    body = push_attributes(attributes)
    length = HEADER_LENGTH + len(body)
    if length > MAX_PACKET:
        raise LocalProtocolError(f"packet of {length} octets exceeds {MAX_PACKET}")
    return bytes((code, identifier, length >> 8, length & 0xFF)) + authenticator + body


def encode_vsa(vendor: int, vendor_type: int, value: bytes) -> bytes:
    """The value of a type-26 attribute carrying one sub-attribute (RFC 2865 5.26)."""
    n = len(value)
    if n > MAX_ATTR_VALUE - 6:
        raise LocalProtocolError(f"VSA {vendor}/{vendor_type}: value of {n} octets exceeds 247")
    if not 0 <= vendor < 1 << 32 or not 0 <= vendor_type < 256:
        raise LocalProtocolError(f"VSA {vendor}/{vendor_type} out of range")
    return vendor.to_bytes(4, "big") + bytes((vendor_type, n + 2)) + value


def pull_vsa(value: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """Split a type-26 value into (vendor id, [(vendor type, value), ...]) (RFC 2865 5.26).

    Raises DecodeError(bad_vsa) if the value is not a vendor id followed by well-formed
    type/length sub-attributes filling it exactly.
    """
    n = len(value)
    if n < 5:
        raise DecodeError(DecodeFailure.bad_vsa, 0, f"{n} octets")
    vendor = int.from_bytes(value[:4], "big")
    subs: list[tuple[int, bytes]] = []
    pos = 4
    while pos < n:
        if pos + 2 > n:
            raise DecodeError(DecodeFailure.bad_vsa, pos, "lone vendor type octet")
        slen = value[pos + 1]
        if slen < 2 or pos + slen > n:
            raise DecodeError(DecodeFailure.bad_vsa, pos, f"vendor length {slen}")
        subs.append((value[pos], value[pos + 2 : pos + slen]))
        pos += slen
    return vendor, subs
