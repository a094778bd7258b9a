"""EAP-TLS framing, shared by EAP-TLS, PEAP and EAP-TTLS (RFC 5216 sections 2.1.5 and 3.1;
RFC 5281 section 9.1; draft-kamath-pppext-peapv0 section 1.1).

Type-Data is one Flags octet (L = length included, M = more fragments, S = start; the low
three bits carry the PEAP/TTLS version), the four-octet TLS Message Length when L is set, and
TLS data. A message larger than one EAP packet is cut into fragments; the receiver answers
each but the last with an empty frame (an acknowledgement).

``Reassembler`` joins the peer's fragments under a hard size cap; ``Fragmenter`` cuts our
output, the size of each fragment chosen when it is sent (so a smaller Framed-MTU seen on a
later request applies at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from radius.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "DEFAULT_FRAGMENT_SIZE",
    "DEFAULT_MAX_MESSAGE",
    "VERSION_MASK",
    "Fragmenter",
    "Reassembler",
    "TlsFlags",
    "TlsFrame",
    "pull_tls_frame",
    "push_tls_frame",
]

DEFAULT_FRAGMENT_SIZE = 1024
"""TLS data octets in one EAP packet (FreeRADIUS's ``fragment_size``): with the EAP header
(5), Flags (1) and TLS Message Length (4) a fragment is at most 1034 octets of EAP."""
DEFAULT_MAX_MESSAGE = 65536
"""The largest TLS message reassembled from the peer's fragments (hostapd's limit too)."""
VERSION_MASK = 0x07
"""RFC 5281 section 9.1 and PEAP: the version is in the three low bits of Flags."""


class TlsFlags(IntFlag):
    """RFC 5216 section 3.1 (Flags octet)."""

    LengthIncluded = 0x80
    MoreFragments = 0x40
    Start = 0x20


_L = 0x80
_M = 0x40
_S = 0x20


@dataclass(frozen=True, slots=True)
class TlsFrame:
    """The Type-Data of one EAP-TLS / PEAP / TTLS packet (RFC 5216 section 3.1).

    ``message_length`` is the TLS Message Length field, present iff the L flag is set.
    """

    flags: int
    message_length: int | None = None
    data: bytes = b""

    @property
    def more(self) -> bool:
        return bool(self.flags & _M)

    @property
    def start(self) -> bool:
        return bool(self.flags & _S)

    @property
    def version(self) -> int:
        return self.flags & VERSION_MASK

    @property
    def is_ack(self) -> bool:
        """An empty frame: the acknowledgement of a fragment (RFC 5216 section 2.1.5)."""
        return not self.data and not self.flags & (_M | _S)


def pull_tls_frame(type_data: bytes) -> TlsFrame:
    """Parse EAP-TLS Type-Data (RFC 5216 section 3.1). Raises DecodeError(bad_eap_tls) for
    a missing Flags octet, an L flag without four length octets, or more data in this frame
    than the TLS Message Length announces."""
    if not type_data:
        raise DecodeError(DecodeFailure.bad_eap_tls, 5, "no Flags octet")
    flags = type_data[0]
    if not flags & _L:
        return TlsFrame(flags, None, type_data[1:])
    if len(type_data) < 5:
        raise DecodeError(DecodeFailure.bad_eap_tls, 6, "L flag without TLS Message Length")
    length = int.from_bytes(type_data[1:5], "big")
    data = type_data[5:]
    if len(data) > length:
        raise DecodeError(
            DecodeFailure.bad_eap_tls, 6, f"{len(data)} octets past TLS Message Length {length}"
        )
    return TlsFrame(flags, length, data)


def push_tls_frame(frame: TlsFrame) -> bytes:
    """EAP-TLS Type-Data (RFC 5216 section 3.1); the L flag follows ``message_length``."""
    flags = frame.flags & ~_L & 0xFF
    if frame.message_length is None:
        return bytes((flags,)) + frame.data
    if not 0 <= frame.message_length < 1 << 32:
        raise LocalProtocolError(f"TLS Message Length {frame.message_length} out of range")
    return bytes((flags | _L,)) + frame.message_length.to_bytes(4, "big") + frame.data


class Reassembler:
    """Joins the peer's fragments into one TLS message (RFC 5216 section 2.1.5).

    ``add`` returns None while more fragments are due (the caller acknowledges each) and
    the whole message with the last one. RFC 5216 says the first fragment MUST carry the L
    flag; one without it is still accepted (bounded by ``max_size`` like any other), while a
    TLS Message Length above ``max_size`` is refused at once, before anything is buffered.
    """

    __slots__ = ("_expected", "_max_size", "_parts", "_size")

    def __init__(self, max_size: int = DEFAULT_MAX_MESSAGE) -> None:
        if max_size < 1:
            raise LocalProtocolError("max_size must be positive")
        self._max_size = max_size
        self._parts: list[bytes] = []
        self._size = 0
        self._expected: int | None = None

    @property
    def in_progress(self) -> bool:
        return bool(self._parts) or self._expected is not None

    def add(self, frame: TlsFrame) -> bytes | None:
        """Take one frame; the complete message when it was the last (``b""`` for an ACK).

        Raises DecodeError(eap_too_large) past the cap, DecodeError(bad_eap_tls) when a
        TLS Message Length disagrees with an earlier one or with the octets received.
        """
        length = frame.message_length
        if length is not None:
            if length > self._max_size:
                raise DecodeError(DecodeFailure.eap_too_large, 6, f"TLS Message Length {length}")
            if self._expected is None and not self.in_progress:
                self._expected = length
            elif self._expected is not None and length != self._expected:
                raise DecodeError(
                    DecodeFailure.bad_eap_tls,
                    6,
                    f"TLS Message Length {length} after {self._expected}",
                )
        size = self._size + len(frame.data)
        if size > self._max_size:
            self.reset()
            raise DecodeError(DecodeFailure.eap_too_large, 0, f"{size} octets reassembled")
        if self._expected is not None and size > self._expected:
            announced = self._expected
            self.reset()
            raise DecodeError(
                DecodeFailure.bad_eap_tls, 0, f"{size} octets past TLS Message Length {announced}"
            )
        if frame.data:
            self._parts.append(frame.data)
        self._size = size
        if frame.more:
            if self._expected is None and not self._parts:
                raise DecodeError(DecodeFailure.bad_eap_tls, 5, "empty fragment with M flag")
            return None
        expected = self._expected
        message = b"".join(self._parts)
        self.reset()
        if expected is not None and len(message) != expected:
            raise DecodeError(
                DecodeFailure.bad_eap_tls,
                0,
                f"reassembled {len(message)} octets, TLS Message Length {expected}",
            )
        return message

    def reset(self) -> None:
        self._parts = []
        self._size = 0
        self._expected = None


class Fragmenter:
    """Cuts one outgoing TLS message into EAP-TLS frames (RFC 5216 section 2.1.5).

    The first fragment of a message that needs more than one carries the L flag and the
    TLS Message Length; every fragment but the last carries M. A message that fits is sent
    in one frame without L, as hostapd and FreeRADIUS do.
    """

    __slots__ = ("_data", "_pos", "_version")

    def __init__(self, data: bytes, version: int = 0) -> None:
        if not 0 <= version <= VERSION_MASK:
            raise LocalProtocolError(f"version {version} does not fit the Flags octet")
        self._data = data
        self._pos = 0
        self._version = version

    @property
    def done(self) -> bool:
        return self._pos >= len(self._data)

    @property
    def total(self) -> int:
        return len(self._data)

    def next_frame(self, fragment_size: int) -> TlsFrame:
        """The next frame, with at most ``fragment_size`` octets of TLS data."""
        if fragment_size < 1:
            raise LocalProtocolError("fragment_size must be positive")
        if self.done:
            raise LocalProtocolError("no fragment left to send")
        first = self._pos == 0
        chunk = self._data[self._pos : self._pos + fragment_size]
        self._pos += len(chunk)
        flags = self._version
        if not self.done:
            flags |= _M
        length = len(self._data) if first and not self.done else None
        return TlsFrame(flags, length, chunk)
