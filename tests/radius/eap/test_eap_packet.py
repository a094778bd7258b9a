"""EAP codec (RFC 3748 section 4 and 5) and the EAP-Message helpers (RFC 3579 section 3.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.packet import (
    EapCode,
    EapPacket,
    EapType,
    Md5Challenge,
    decode_eap,
    eap_failure,
    eap_message_from_attributes,
    eap_request,
    eap_success,
    encode_eap,
    join_eap_message,
    pull_expanded,
    pull_md5_challenge,
    pull_nak,
    push_expanded,
    push_md5_challenge,
    push_nak,
    split_eap_message,
)
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError

# Hand-assembled from RFC 3748 section 4 / 5 field layouts.
VECTORS = {
    "identity response": (
        "0207000a01" + b"alice".hex(),
        EapPacket(EapCode.Response, 7, EapType.Identity, b"alice"),
    ),
    "identity request": ("01010005" + "01", EapPacket(EapCode.Request, 1, EapType.Identity)),
    "success": ("03090004", EapPacket(EapCode.Success, 9)),
    "failure": ("04ff0004", EapPacket(EapCode.Failure, 255)),
    "nak to tls and peap": ("02020007" + "030d19", EapPacket(2, 2, EapType.Nak, b"\x0d\x19")),
    "md5 challenge": (
        "01030016" + "04" + "10" + "00" * 16,
        EapPacket(1, 3, EapType.MD5Challenge, b"\x10" + bytes(16)),
    ),
    "expanded nak": (
        "0204000c" + "fe" + "000000" + "00000003",
        EapPacket(2, 4, 254, bytes(6) + b"\x03"),
    ),
    "unknown type kept raw": ("010500080b" + "616263", EapPacket(1, 5, 11, b"abc")),
}


@pytest.mark.parametrize("name", VECTORS)
def test_vectors_decode_and_reencode(name: str) -> None:
    hex_data, expected = VECTORS[name]
    data = bytes.fromhex(hex_data)
    assert decode_eap(data) == expected
    assert encode_eap(expected) == data


def test_octets_beyond_length_are_padding() -> None:
    data = bytes.fromhex("0207000a01") + b"alice" + b"\x00\x00pad"
    assert decode_eap(data) == EapPacket(2, 7, 1, b"alice")


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("", DecodeFailure.bad_eap),
        ("020700", DecodeFailure.bad_eap),
        ("0207000b01616c696365", DecodeFailure.bad_eap),  # Length 11, 10 octets
        ("02070004", DecodeFailure.bad_eap),  # a Response without Type
        ("03090005ff", DecodeFailure.bad_eap),  # Success with data
        ("05010005ff", DecodeFailure.bad_eap),  # Initiate (RFC 6696) not accepted
        ("0002000501", DecodeFailure.bad_eap),  # Code 0
        ("0202000503", DecodeFailure.bad_eap_type_data),  # empty Nak
        ("010200060301", DecodeFailure.bad_eap_type_data),  # Nak in a Request
        ("0103000604" + "05", DecodeFailure.bad_eap_type_data),  # Value-Size past the end
        ("0103000604" + "00", DecodeFailure.bad_eap_type_data),  # Value-Size 0
        ("0204000bfe000000000000", DecodeFailure.bad_eap_type_data),  # Expanded, 6 octets
    ],
)
def test_malformed_packets_have_named_reasons(hex_data: str, reason: DecodeFailure) -> None:
    with pytest.raises(DecodeError) as info:
        decode_eap(bytes.fromhex(hex_data))
    assert info.value.reason is reason


def test_type_data_codecs() -> None:
    assert pull_nak(push_nak([13, 25, 21])) == (13, 25, 21)
    challenge = Md5Challenge(bytes(range(16)), b"nac")
    assert pull_md5_challenge(push_md5_challenge(challenge)) == challenge
    assert pull_expanded(push_expanded(0x137, 3, b"x")) == (0x137, 3, b"x")
    with pytest.raises(LocalProtocolError):
        push_nak([])
    with pytest.raises(LocalProtocolError):
        push_md5_challenge(Md5Challenge(b""))
    with pytest.raises(LocalProtocolError):
        encode_eap(EapPacket(EapCode.Success, 1, 1))
    with pytest.raises(LocalProtocolError):
        encode_eap(EapPacket(EapCode.Request, 1, 0))
    with pytest.raises(LocalProtocolError):
        encode_eap(EapPacket(EapCode.Request, 256, 1))
    with pytest.raises(LocalProtocolError):
        eap_request(1, 13, bytes(0x10000))


def test_helpers() -> None:
    assert eap_success(4) == bytes.fromhex("03040004")
    assert eap_failure(4) == bytes.fromhex("04040004")
    assert eap_request(4, EapType.Identity) == bytes.fromhex("0104000501")


def test_split_and_join_eap_message() -> None:
    packet = eap_request(1, 13, bytes(range(256)) * 4)
    values = split_eap_message(packet)
    assert [len(v) for v in values] == [253, 253, 253, 253, len(packet) - 4 * 253]
    assert join_eap_message(values) == packet
    assert split_eap_message(b"") == [b""]  # EAP-Start, RFC 3579 section 2.1


def test_eap_message_attributes_must_be_consecutive() -> None:
    attrs = [(1, b"alice"), (79, b"\x02\x01"), (79, b"\x00\x0a\x01alice"), (80, bytes(16))]
    assert eap_message_from_attributes(attrs) == bytes.fromhex("0201000a01") + b"alice"
    assert eap_message_from_attributes([(1, b"x")]) is None
    assert eap_message_from_attributes([(79, b"")]) == b""
    with pytest.raises(DecodeError) as info:
        eap_message_from_attributes([(79, b"\x02"), (24, b"s"), (79, b"\x01")])
    assert info.value.reason is DecodeFailure.bad_eap


@given(st.binary(max_size=300))
def test_decode_or_decode_error(data: bytes) -> None:
    try:
        packet = decode_eap(data)
    except DecodeError:
        return
    length = int.from_bytes(data[2:4], "big")
    assert encode_eap(packet) == data[:length]


packets = st.one_of(
    st.builds(EapPacket, st.sampled_from([3, 4]), st.integers(0, 255)),
    st.builds(
        EapPacket,
        st.sampled_from([1, 2]),
        st.integers(0, 255),
        st.sampled_from([1, 2, 5, 6, 13, 21, 25, 26, 33, 255]),
        st.binary(max_size=200),
    ),
)


@given(packets)
def test_encode_then_decode(packet: EapPacket) -> None:
    assert decode_eap(encode_eap(packet)) == packet


@given(st.binary(min_size=1, max_size=3000))
def test_split_join_roundtrip(data: bytes) -> None:
    values = split_eap_message(data)
    assert all(0 < len(v) <= 253 for v in values)
    assert join_eap_message(values) == data
