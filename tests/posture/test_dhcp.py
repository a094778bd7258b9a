"""The DHCP codec (RFC 2131, RFC 2132, RFC 3046, RFC 3396): vectors, failures, properties."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posture.dhcp import (
    MAGIC_COOKIE,
    DhcpDecodeError,
    DhcpEncodeError,
    DhcpFailure,
    DhcpMessage,
    DhcpMessageType,
    pull_dhcp,
    pull_relay_agent_info,
    push_dhcp,
    push_relay_agent_info,
)

MAC = bytes.fromhex("001ba9aabbcc")


def _header(op: int = 1, hlen: int = 6) -> bytes:
    # op htype hlen hops | xid | secs flags | ciaddr yiaddr siaddr giaddr | chaddr sname file
    return (
        bytes((op, 1, hlen, 1))
        + bytes.fromhex("12345678")
        + bytes.fromhex("00038000")
        + bytes(4 * 3)
        + bytes((10, 0, 0, 1))
        + MAC.ljust(16, b"\x00")
        + bytes(64)
        + bytes(128)
    )


def _packet(options: bytes, **kw: int) -> bytes:
    return _header(**kw) + MAGIC_COOKIE + options


def test_header_and_options_by_hand() -> None:
    """A relayed DHCPREQUEST written octet by octet (RFC 2131 figure 1, RFC 2132 9.6/9.8)."""
    options = (
        bytes((53, 1, 3))  # DHCPREQUEST
        + bytes((55, 4, 1, 3, 6, 15))
        + b"\x00\x00"  # pad
        + bytes((60, 8))
        + b"MSFT 5.0"
        + bytes((12, 4))
        + b"pc-1"
        + bytes((82, 8, 1, 2))
        + b"g1"
        + bytes((2, 2))
        + b"sw"
        + b"\xff"
        + b"\x00" * 10  # pad after end (RFC 2132 3.2)
    )
    msg = pull_dhcp(_packet(options))
    assert msg.op == 1 and msg.htype == 1 and msg.hlen == 6 and msg.hops == 1
    assert msg.xid == 0x12345678 and msg.secs == 3 and msg.flags == 0x8000
    assert msg.giaddr == ipaddress.IPv4Address("10.0.0.1")
    assert msg.mac == "00:1b:a9:aa:bb:cc"
    assert msg.message_type is DhcpMessageType.DHCPREQUEST
    assert msg.parameter_request_list == (1, 3, 6, 15)
    assert msg.option(60) == b"MSFT 5.0" and msg.option(12) == b"pc-1"
    assert msg.relay_agent_info == ((1, b"g1"), (2, b"sw"))
    assert [c for c, _ in msg.options] == [53, 55, 60, 12, 82]


def test_scapy_built_packet_decodes() -> None:
    """An independent encoder (scapy) agrees with ours, and ours re-encodes it losslessly."""
    from scapy.layers.dhcp import BOOTP, DHCP

    pkt = BOOTP(op=1, chaddr=MAC, xid=7, giaddr="192.0.2.1") / DHCP(
        options=[
            ("message-type", "discover"),
            ("param_req_list", [1, 121, 3, 6, 15, 108, 114, 119, 252]),
            ("hostname", b"Johns-iPhone"),
            ("client_id", b"\x01" + MAC),
            "end",
        ]
    )
    msg = pull_dhcp(bytes(pkt))
    assert msg.message_type is DhcpMessageType.DHCPDISCOVER
    assert msg.parameter_request_list == (1, 121, 3, 6, 15, 108, 114, 119, 252)
    assert msg.option(12) == b"Johns-iPhone"
    assert msg.option(61) == b"\x01" + MAC
    assert str(msg.giaddr) == "192.0.2.1" and msg.xid == 7
    again = pull_dhcp(push_dhcp(msg))
    assert again == msg
    parsed = BOOTP(push_dhcp(msg))
    assert parsed[BOOTP].xid == 7


def test_split_options_are_concatenated() -> None:
    """RFC 3396 4: several instances of one option are one value, in order."""
    options = bytes((12, 3)) + b"abc" + bytes((53, 1, 1)) + bytes((12, 2)) + b"de" + b"\xff"
    msg = pull_dhcp(_packet(options))
    assert msg.option(12) == b"abcde"
    long_name = b"x" * 300
    encoded = push_dhcp(DhcpMessage(options=((12, long_name),)))
    assert pull_dhcp(encoded).option(12) == long_name


def test_overload_reads_file_then_sname() -> None:
    """RFC 2132 9.3 / RFC 2131 4.1: option 52 = 3 puts options in 'file' and 'sname'."""
    header = bytearray(_header())
    sname = bytes((12, 2)) + b"sn" + b"\xff"
    file = bytes((60, 4)) + b"file" + bytes((12, 1)) + b"F" + b"\xff"
    header[44 : 44 + len(sname)] = sname
    header[108 : 108 + len(file)] = file
    msg = pull_dhcp(bytes(header) + MAGIC_COOKIE + bytes((52, 1, 3, 53, 1, 3)) + b"\xff")
    assert msg.option(60) == b"file"
    assert msg.option(12) == b"Fsn"  # file first, then sname
    assert msg.sname == b"" and msg.file == b""
    assert msg.option(52) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01" * 100, DhcpFailure.too_short),
        (_packet(b"\xff", op=3), DhcpFailure.bad_op),
        (_packet(b"\xff", hlen=17), DhcpFailure.bad_hlen),
        (_header() + b"\x63\x82\x53\x64\xff", DhcpFailure.bad_magic_cookie),
        (_packet(bytes((53,))), DhcpFailure.option_truncated),
        (_packet(bytes((55, 9, 1, 3))), DhcpFailure.option_truncated),
        (_packet(bytes((53, 1, 3))), DhcpFailure.missing_end),
        (_packet(bytes((52, 1, 4, 255))), DhcpFailure.bad_overload),
        (_packet(bytes((52, 2, 1, 1, 255))), DhcpFailure.bad_overload),
        (_packet(bytes((52, 1, 1, 255))), DhcpFailure.missing_end),  # 'file' has no end option
        (_packet(bytes((53, 2, 3, 3, 255))), DhcpFailure.bad_message_type),
        (_packet(bytes((82, 3, 1, 5, 0, 255))), DhcpFailure.bad_relay_agent_info),
        (_packet(b"\xff") + bytes(70_000), DhcpFailure.too_long),
    ],
)
def test_every_failure_is_named(data: bytes, reason: DhcpFailure) -> None:
    with pytest.raises(DhcpDecodeError) as info:
        pull_dhcp(data)
    assert info.value.reason is reason


def test_overload_inside_overload_is_refused() -> None:
    header = bytearray(_header())
    header[108:112] = bytes((52, 1, 2, 255))
    with pytest.raises(DhcpDecodeError) as info:
        pull_dhcp(bytes(header) + MAGIC_COOKIE + bytes((52, 1, 1, 255)))
    assert info.value.reason is DhcpFailure.bad_overload


def test_encode_refuses_what_cannot_be_sent() -> None:
    for options in (((0, b""),), ((255, b""),), ((52, b"\x01"),), ((12, b"a"), (12, b"b"))):
        with pytest.raises(DhcpEncodeError):
            push_dhcp(DhcpMessage(options=options))
    with pytest.raises(DhcpEncodeError):
        push_dhcp(DhcpMessage(xid=1 << 32))
    with pytest.raises(DhcpEncodeError):
        push_dhcp(DhcpMessage(sname=b"s" * 65))
    with pytest.raises(DhcpEncodeError):
        push_relay_agent_info(((1, b"x" * 256),))


def test_relay_agent_info_round_trip() -> None:
    subs = ((1, b"Gi1/0/7"), (2, b"\x00\x06" + MAC), (9, b""))
    assert pull_relay_agent_info(push_relay_agent_info(subs)) == subs


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_decode_or_the_error_nothing_else(data: bytes) -> None:
    with contextlib.suppress(DhcpDecodeError):
        pull_dhcp(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_options_decode_or_the_error(options: bytes) -> None:
    with contextlib.suppress(DhcpDecodeError):
        pull_dhcp(_packet(options))


_option_codes = st.integers(1, 254).filter(lambda c: c not in (52, 53, 82))
_relay = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=20)), max_size=3).map(
    lambda subs: push_relay_agent_info(tuple(subs))
)
_addr = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@st.composite
def _messages(draw: st.DrawFn) -> DhcpMessage:
    options = dict(draw(st.lists(st.tuples(_option_codes, st.binary(max_size=300)), max_size=8)))
    if draw(st.booleans()):
        options[53] = bytes((draw(st.integers(0, 255)),))
    if draw(st.booleans()):
        options[82] = draw(_relay)
    items = list(options.items())
    draw(st.randoms()).shuffle(items)
    return DhcpMessage(
        op=draw(st.sampled_from((1, 2))),
        htype=draw(st.integers(0, 255)),
        hlen=draw(st.integers(0, 16)),
        hops=draw(st.integers(0, 255)),
        xid=draw(st.integers(0, 2**32 - 1)),
        secs=draw(st.integers(0, 65535)),
        flags=draw(st.integers(0, 65535)),
        ciaddr=draw(_addr),
        yiaddr=draw(_addr),
        siaddr=draw(_addr),
        giaddr=draw(_addr),
        chaddr=draw(st.binary(min_size=16, max_size=16)),
        sname=draw(st.binary(max_size=64)).rstrip(b"\x00"),
        file=draw(st.binary(max_size=128)).rstrip(b"\x00"),
        options=tuple(items),
    )


@settings(max_examples=300, deadline=None)
@given(_messages())
def test_round_trip(msg: DhcpMessage) -> None:
    assert pull_dhcp(push_dhcp(msg)) == msg
