"""DHCP message codec (RFC 2131 fixed header, RFC 2132 options, RFC 3046 relay agent info).

Pure and synchronous: ``pull_dhcp(data) -> DhcpMessage`` and ``push_dhcp(msg) -> bytes``.
Every read happens inside the datagram's bounds and every decode failure raises
``DhcpDecodeError`` with a named ``DhcpFailure`` (no stray IndexError or struct.error).
Options are kept in the order first seen, unknown ones raw; an option split over several
instances is concatenated (RFC 3396 4), and the option overload (RFC 2132 9.3) is honoured:
the ``file`` then the ``sname`` field are read as further options (RFC 2131 4.1).
nac only listens (a relay's copy or a SPAN port): it never answers as a DHCP server.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

__all__ = [
    "MAGIC_COOKIE",
    "MAX_DHCP",
    "DhcpDecodeError",
    "DhcpEncodeError",
    "DhcpError",
    "DhcpFailure",
    "DhcpMessage",
    "DhcpMessageType",
    "DhcpOption",
    "pull_dhcp",
    "pull_relay_agent_info",
    "push_dhcp",
    "push_relay_agent_info",
]

MAGIC_COOKIE = b"\x63\x82\x53\x63"  # RFC 2131 3 / RFC 1497: 99.130.83.99
FIXED_HEADER = 236  # op .. file (RFC 2131 2, figure 1)
MAX_DHCP = 65_507  # the largest UDP payload over IPv4; anything bigger is not a datagram
BOOTREQUEST = 1
BOOTREPLY = 2
_HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


class DhcpOption(IntEnum):
    """RFC 2132 option codes nac reads (others are kept raw)."""

    PAD = 0
    HOST_NAME = 12  # RFC 2132 3.14
    REQUESTED_IP = 50
    OVERLOAD = 52  # RFC 2132 9.3
    MESSAGE_TYPE = 53  # RFC 2132 9.6
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55  # RFC 2132 9.8
    MAX_MESSAGE_SIZE = 57
    VENDOR_CLASS = 60  # RFC 2132 9.13
    CLIENT_ID = 61  # RFC 2132 9.14
    USER_CLASS = 77  # RFC 3004
    CLIENT_FQDN = 81  # RFC 4702
    RELAY_AGENT_INFO = 82  # RFC 3046
    TFTP_SERVER_ADDRESS = 150  # RFC 5859 (Cisco IP phones ask for it)
    END = 255


class DhcpMessageType(IntEnum):
    """RFC 2132 9.6 (1-8) and RFC 4388 (10-13)."""

    DHCPDISCOVER = 1
    DHCPOFFER = 2
    DHCPREQUEST = 3
    DHCPDECLINE = 4
    DHCPACK = 5
    DHCPNAK = 6
    DHCPRELEASE = 7
    DHCPINFORM = 8
    DHCPFORCERENEW = 9  # RFC 3203
    DHCPLEASEQUERY = 10
    DHCPLEASEUNASSIGNED = 11
    DHCPLEASEUNKNOWN = 12
    DHCPLEASEACTIVE = 13


class DhcpFailure(StrEnum):
    """Why a datagram is not a DHCP message (a name per failure, counted by the listener)."""

    too_short = "too_short"  # shorter than the fixed header and the magic cookie
    too_long = "too_long"
    bad_op = "bad_op"  # neither BOOTREQUEST nor BOOTREPLY
    bad_hlen = "bad_hlen"  # hardware address longer than chaddr's 16 octets
    bad_magic_cookie = "bad_magic_cookie"
    option_truncated = "option_truncated"  # a code without its length, or a length past the end
    missing_end = "missing_end"  # options run to the end of the field without the end option
    bad_overload = "bad_overload"  # option 52 not one octet of 1, 2 or 3, or overloaded twice
    bad_message_type = "bad_message_type"  # option 53 not one octet
    bad_relay_agent_info = "bad_relay_agent_info"  # option 82 sub-options do not fill it


class DhcpError(Exception):
    """The one error family of this codec."""


class DhcpDecodeError(DhcpError):
    """The datagram is not a well-formed DHCP message (the sender's fault)."""

    def __init__(self, reason: DhcpFailure, offset: int, detail: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.detail = detail
        super().__init__(f"{reason.value} at offset {offset}" + (f": {detail}" if detail else ""))


class DhcpEncodeError(DhcpError):
    """The message cannot be encoded (our caller's bug)."""


Address = ipaddress.IPv4Address
_ZERO = ipaddress.IPv4Address(0)


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    """One BOOTP/DHCP message (RFC 2131 2). ``sname`` and ``file`` are the raw fields without
    their trailing zero octets (empty when overloaded with options); ``chaddr`` the whole
    16-octet field (the hardware address is its first ``hlen`` octets); ``options`` the
    options in the order first seen, each code once, without pad, end and overload."""

    op: int = BOOTREQUEST
    htype: int = 1  # Ethernet
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: Address = _ZERO
    yiaddr: Address = _ZERO
    siaddr: Address = _ZERO
    giaddr: Address = _ZERO
    chaddr: bytes = bytes(16)
    sname: bytes = b""
    file: bytes = b""
    options: tuple[tuple[int, bytes], ...] = field(default=())

    def option(self, code: int) -> bytes | None:
        for c, value in self.options:
            if c == code:
                return value
        return None

    @property
    def mac(self) -> str | None:
        """The client's Ethernet address as aa:bb:cc:dd:ee:ff (None if not Ethernet)."""
        if self.htype != 1 or self.hlen != 6:
            return None
        return ":".join(f"{b:02x}" for b in self.chaddr[:6])

    @property
    def message_type(self) -> DhcpMessageType | int | None:
        """Option 53 (RFC 2132 9.6); None for plain BOOTP; an unknown number as an int."""
        value = self.option(DhcpOption.MESSAGE_TYPE)
        if value is None:
            return None
        try:
            return DhcpMessageType(value[0])
        except ValueError:
            return value[0]

    @property
    def parameter_request_list(self) -> tuple[int, ...]:
        """Option 55 in the client's order (RFC 2132 9.8)."""
        value = self.option(DhcpOption.PARAMETER_REQUEST_LIST)
        return tuple(value) if value else ()

    @property
    def relay_agent_info(self) -> tuple[tuple[int, bytes], ...]:
        """Option 82 sub-options (RFC 3046 2.0); () when absent."""
        value = self.option(DhcpOption.RELAY_AGENT_INFO)
        return pull_relay_agent_info(value) if value is not None else ()


def _pull_options(
    data: bytes, start: int, end: int, into: dict[int, bytearray], *, need_end: bool
) -> None:
    """Read RFC 2132 2 options from ``data[start:end]`` (code, length, value; pad 0 has no
    length; end 255 stops) into ``into``, concatenating repeats (RFC 3396 4)."""
    pos = start
    while pos < end:
        code = data[pos]
        if code == DhcpOption.PAD:
            pos += 1
            continue
        if code == DhcpOption.END:
            return
        if pos + 2 > end:
            raise DhcpDecodeError(
                DhcpFailure.option_truncated, pos, f"option {code} without length"
            )
        length = data[pos + 1]
        if pos + 2 + length > end:
            raise DhcpDecodeError(
                DhcpFailure.option_truncated, pos, f"option {code} of {length} octets"
            )
        value = data[pos + 2 : pos + 2 + length]
        if code in into:
            into[code] += value
        else:
            into[code] = bytearray(value)
        pos += 2 + length
    if need_end:
        raise DhcpDecodeError(DhcpFailure.missing_end, end, "no end option")


def pull_dhcp(data: bytes) -> DhcpMessage:
    """Decode one DHCP message (RFC 2131 2, 3 and 4.1; RFC 2132 2 and 9.3; RFC 3396).

    Raises DhcpDecodeError, and nothing else, when ``data`` is not one."""
    n = len(data)
    if n < FIXED_HEADER + 4:
        raise DhcpDecodeError(DhcpFailure.too_short, 0, f"{n} octets")
    if n > MAX_DHCP:
        raise DhcpDecodeError(DhcpFailure.too_long, 0, f"{n} octets")
    (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file) = (
        _HEADER.unpack_from(data, 0)
    )
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise DhcpDecodeError(DhcpFailure.bad_op, 0, f"op {op}")
    if hlen > 16:
        raise DhcpDecodeError(DhcpFailure.bad_hlen, 2, f"hlen {hlen}")
    if data[FIXED_HEADER : FIXED_HEADER + 4] != MAGIC_COOKIE:
        raise DhcpDecodeError(DhcpFailure.bad_magic_cookie, FIXED_HEADER)
    found: dict[int, bytearray] = {}
    _pull_options(data, FIXED_HEADER + 4, n, found, need_end=True)
    overload = found.pop(DhcpOption.OVERLOAD, None)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            raise DhcpDecodeError(DhcpFailure.bad_overload, FIXED_HEADER + 4, overload.hex())
        # RFC 2131 4.1: the options field, then 'file', then 'sname'.
        if overload[0] & 1:
            _pull_options(data, 108, 236, found, need_end=True)
            file = b""
        if overload[0] & 2:
            _pull_options(data, 44, 108, found, need_end=True)
            sname = b""
        if DhcpOption.OVERLOAD in found:
            raise DhcpDecodeError(DhcpFailure.bad_overload, 44, "option 52 inside an overload")
    message_type = found.get(DhcpOption.MESSAGE_TYPE)
    if message_type is not None and len(message_type) != 1:
        raise DhcpDecodeError(
            DhcpFailure.bad_message_type, FIXED_HEADER + 4, f"{len(message_type)} octets"
        )
    relay = found.get(DhcpOption.RELAY_AGENT_INFO)
    if relay is not None:
        pull_relay_agent_info(bytes(relay))
    return DhcpMessage(
        op=op,
        htype=htype,
        hlen=hlen,
        hops=hops,
        xid=xid,
        secs=secs,
        flags=flags,
        ciaddr=ipaddress.IPv4Address(ci),
        yiaddr=ipaddress.IPv4Address(yi),
        siaddr=ipaddress.IPv4Address(si),
        giaddr=ipaddress.IPv4Address(gi),
        chaddr=chaddr,
        sname=sname.rstrip(b"\x00"),
        file=file.rstrip(b"\x00"),
        options=tuple((code, bytes(value)) for code, value in found.items()),
    )


def push_dhcp(msg: DhcpMessage) -> bytes:
    """Encode ``msg`` (RFC 2131 2): the fixed header, the magic cookie, every option in the
    options field (values over 255 octets split into consecutive instances, RFC 3396),
    the end option. Raises DhcpEncodeError for what cannot be encoded."""
    for name, number, size in (
        ("op", msg.op, 1),
        ("htype", msg.htype, 1),
        ("hlen", msg.hlen, 1),
        ("hops", msg.hops, 1),
        ("xid", msg.xid, 4),
        ("secs", msg.secs, 2),
        ("flags", msg.flags, 2),
    ):
        if not 0 <= number < 1 << (8 * size):
            raise DhcpEncodeError(f"{name} {number} does not fit {size} octets")
    if msg.hlen > 16:
        raise DhcpEncodeError(f"hlen {msg.hlen} is above 16")
    for name, raw, size in (("chaddr", msg.chaddr, 16), ("sname", msg.sname, 64)):
        if len(raw) > size:
            raise DhcpEncodeError(f"{name} of {len(raw)} octets exceeds {size}")
    if len(msg.file) > 128:
        raise DhcpEncodeError(f"file of {len(msg.file)} octets exceeds 128")
    out = bytearray(
        _HEADER.pack(
            msg.op,
            msg.htype,
            msg.hlen,
            msg.hops,
            msg.xid,
            msg.secs,
            msg.flags,
            msg.ciaddr.packed,
            msg.yiaddr.packed,
            msg.siaddr.packed,
            msg.giaddr.packed,
            msg.chaddr.ljust(16, b"\x00"),
            msg.sname.ljust(64, b"\x00"),
            msg.file.ljust(128, b"\x00"),
        )
    )
    out += MAGIC_COOKIE
    seen: set[int] = set()
    for code, value in msg.options:
        if code in (DhcpOption.PAD, DhcpOption.END, DhcpOption.OVERLOAD) or not 0 < code < 255:
            raise DhcpEncodeError(f"option {code} cannot be given as an option value")
        if code in seen:
            raise DhcpEncodeError(f"option {code} given twice (concatenate the values)")
        seen.add(code)
        if not value:
            out += bytes((code, 0))
        for i in range(0, len(value), 255):
            chunk = value[i : i + 255]
            out += bytes((code, len(chunk))) + chunk
    out.append(DhcpOption.END)
    if len(out) > MAX_DHCP:
        raise DhcpEncodeError(f"message of {len(out)} octets exceeds {MAX_DHCP}")
    return bytes(out)


def pull_relay_agent_info(value: bytes) -> tuple[tuple[int, bytes], ...]:
    """Option 82's sub-options (RFC 3046 2.0: code, length, value; 1 Agent Circuit ID, 2 Agent
    Remote ID), in order. Raises DhcpDecodeError(bad_relay_agent_info) unless they fill the
    option exactly."""
    out: list[tuple[int, bytes]] = []
    pos, n = 0, len(value)
    while pos < n:
        if pos + 2 > n:
            raise DhcpDecodeError(
                DhcpFailure.bad_relay_agent_info, pos, "sub-option without length"
            )
        length = value[pos + 1]
        if pos + 2 + length > n:
            raise DhcpDecodeError(
                DhcpFailure.bad_relay_agent_info, pos, f"sub-option {value[pos]} of {length}"
            )
        out.append((value[pos], value[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return tuple(out)


def push_relay_agent_info(subs: tuple[tuple[int, bytes], ...]) -> bytes:
    """Encode option 82's value (RFC 3046 2.0)."""
    out = bytearray()
    for code, value in subs:
        if not 0 <= code < 256 or len(value) > 255:
            raise DhcpEncodeError(f"relay agent sub-option {code} of {len(value)} octets")
        out += bytes((code, len(value))) + value
    return bytes(out)
