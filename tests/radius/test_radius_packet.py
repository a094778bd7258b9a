from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radius.constants import AttrType, Code
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.packet import Packet, decode_packet, encode_packet, encode_vsa, pull_vsa

SECRET = b"xyzzy5461"


def test_rfc2865_7_1_request_fields(rfc2865: dict[str, bytes]) -> None:
    data = rfc2865["7.1 access-request"]
    p = decode_packet(data)
    assert p.code == Code.AccessRequest
    assert p.identifier == 0
    assert p.authenticator == bytes.fromhex("0f403f9473978057bd83d5cb98f4227a")
    assert [t for t, _ in p.attributes] == [1, 2, 4, 5]
    assert p.get(AttrType.UserName) == b"nemo"
    assert p.get(AttrType.NasIpAddress) == bytes([192, 168, 1, 16])
    assert p.get(AttrType.NasPort) == (3).to_bytes(4, "big")
    assert p.raw == data
    assert encode_packet(p.code, p.identifier, p.authenticator, p.attributes) == data


def test_rfc2865_examples_reencode_byte_for_byte(rfc2865: dict[str, bytes]) -> None:
    for name, data in rfc2865.items():
        p = decode_packet(data)
        assert encode_packet(p.code, p.identifier, p.authenticator, p.attributes) == data, name


def test_rfc2865_7_3_challenge(rfc2865: dict[str, bytes]) -> None:
    p = decode_packet(rfc2865["7.3 access-challenge"])
    assert p.code == Code.AccessChallenge
    assert p.get(AttrType.ReplyMessage) == b"Challenge 32769430.  Enter response at prompt."
    assert p.get(AttrType.State) == b"32769430"


def test_padding_beyond_length_is_ignored(rfc2865: dict[str, bytes]) -> None:
    data = rfc2865["7.1 access-request"]
    p = decode_packet(data + b"\xff" * 10)
    assert p == decode_packet(data)
    assert p.raw == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00\x00\x14" + bytes(15), DecodeFailure.too_short),
        (b"\x01\x00\x00\x13" + bytes(16), DecodeFailure.too_short),
        (b"\x01\x00\x10\x01" + bytes(4097), DecodeFailure.too_long),
        (b"\x01\x00\x00\x16" + bytes(16), DecodeFailure.length_mismatch),
        (b"\x01\x00\x00\x16" + bytes(16) + b"\x01\x01", DecodeFailure.attribute_too_short),
        (b"\x01\x00\x00\x15" + bytes(16) + b"\x01", DecodeFailure.attribute_too_short),
        (b"\x01\x00\x00\x16" + bytes(16) + b"\x01\x03", DecodeFailure.attribute_overflow),
        (b"\x01\x00\x00\x18" + bytes(16) + b"\x1a\x04\x00\x00", DecodeFailure.bad_vsa),
    ],
)
def test_malformed_packets(data: bytes, reason: DecodeFailure) -> None:
    with pytest.raises(DecodeError) as exc:
        decode_packet(data)
    assert exc.value.reason is reason


def test_unknown_attributes_round_trip() -> None:
    attrs = ((250, b"\x00\x01"), (17, b""), (1, b"bob"))
    data = encode_packet(1, 7, bytes(16), attrs)
    assert decode_packet(data).attributes == attrs


def test_vsa_round_trip_and_accessors() -> None:
    v1 = encode_vsa(14823, 1, b"guest")
    v2 = encode_vsa(9, 1, b"a=b") + bytes((2, 4)) + b"xy"
    p = Packet(2, 1, bytes(16), ((26, v1), (26, v2), (26, b"\x00\x00\x00\x09\x01")))
    assert p.vsas() == [(14823, 1, b"guest"), (9, 1, b"a=b"), (9, 2, b"xy")]
    assert pull_vsa(v1) == (14823, [(1, b"guest")])
    assert p.get_all(26)[2] == b"\x00\x00\x00\x09\x01"
    with pytest.raises(DecodeError):
        pull_vsa(b"\x00\x00\x00\x09\x01\x09")


def test_encode_limits() -> None:
    with pytest.raises(LocalProtocolError):
        encode_packet(2, 0, bytes(16), [(1, bytes(254))])
    with pytest.raises(LocalProtocolError):
        encode_packet(2, 0, bytes(16), [(1, bytes(253))] * 15 + [(1, bytes(250))])
    assert len(encode_packet(2, 0, bytes(16), [(1, bytes(253))] * 15 + [(1, bytes(249))])) == 4096
    with pytest.raises(LocalProtocolError):
        encode_vsa(9, 1, bytes(248))


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decode_random_bytes_only_raises_decode_error(data: bytes) -> None:
    try:
        p = decode_packet(data)
    except DecodeError:
        return
    assert isinstance(p, Packet)


@settings(max_examples=300)
@given(st.binary(min_size=20, max_size=200))
def test_decode_random_bodies_with_valid_length(body: bytes) -> None:
    data = body[:2] + len(body).to_bytes(2, "big") + body[4:]
    try:
        p = decode_packet(data)
    except DecodeError as e:
        assert e.reason in DecodeFailure
        return
    assert encode_packet(p.code, p.identifier, p.authenticator, p.attributes) == data


attribute = st.tuples(st.integers(1, 255), st.binary(max_size=253)).filter(
    lambda a: a[0] != 26 or len(a[1]) >= 5
)


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(min_size=16, max_size=16),
    st.lists(attribute, max_size=15),
)
def test_decode_encode_round_trip(
    code: int, ident: int, auth: bytes, attrs: list[tuple[int, bytes]]
) -> None:
    data = encode_packet(code, ident, auth, attrs)
    p = decode_packet(data)
    assert p == Packet(code, ident, auth, tuple(attrs))
    assert p.raw == data
