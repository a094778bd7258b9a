"""Codecs inside the tunnel: Diameter AVPs (RFC 5281 section 10.1), PEAP TLVs ([MS-PEAP]
2.2.8) and EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2): decode or DecodeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.mschapv2 import MsChapV2Response, pull_response, push_challenge, push_response
from radius.eap.peap import Tlv, pull_tlvs, push_tlv, result_tlv
from radius.eap.ttls import Avp, pull_avps, push_avp
from radius.errors import DecodeError, DecodeFailure


def test_avp_layout() -> None:
    # User-Name "bob": code 1, M flag, length 11, one octet of padding (RFC 5281 10.1)
    assert push_avp(Avp(1, b"bob")) == bytes.fromhex("000000014000000b") + b"bob\x00"
    vendor = push_avp(Avp(26, b"\x01S=", 311))
    assert vendor == bytes.fromhex("0000001ac000000f00000137") + b"\x01S=\x00"
    assert pull_avps(push_avp(Avp(1, b"bob")) + vendor) == [Avp(1, b"bob"), Avp(26, b"\x01S=", 311)]
    assert pull_avps(bytes.fromhex("000000010000000b") + b"bob") == [
        Avp(1, b"bob", 0, False)  # no padding after the last AVP: tolerated
    ]


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("00000001400000"),  # short header
        bytes.fromhex("0000000140000007"),  # length below the header
        bytes.fromhex("00000001400000ff") + b"x",  # length past the data
        bytes.fromhex("00000001c000000a") + b"ab",  # V flag without Vendor-ID
    ],
)
def test_malformed_avps(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        pull_avps(data)
    assert info.value.reason is DecodeFailure.bad_eap_tunnel


def test_tlvs() -> None:
    assert result_tlv(1) == bytes.fromhex("8003000200 01".replace(" ", ""))
    assert pull_tlvs(result_tlv(2) + push_tlv(Tlv(12, b"x" * 56, False))) == [
        Tlv(3, b"\x00\x02"),
        Tlv(12, b"x" * 56, False),
    ]
    with pytest.raises(DecodeError):
        pull_tlvs(bytes.fromhex("80030005"))
    with pytest.raises(DecodeError):
        pull_tlvs(b"\x80")


def test_mschapv2_response_roundtrip() -> None:
    response = MsChapV2Response(7, bytes(range(16)), bytes(range(24)), 0, b"alice")
    assert pull_response(push_response(response)) == response
    challenge = push_challenge(7, bytes(16), b"nac")
    assert challenge[:4] == bytes((1, 7, 0, 4 + 1 + 16 + 3))
    with pytest.raises(DecodeError):
        pull_response(challenge)


@given(st.binary(max_size=200))
def test_avps_decode_or_decode_error(data: bytes) -> None:
    try:
        avps = pull_avps(data)
    except DecodeError:
        return
    assert pull_avps(b"".join(push_avp(a) for a in avps)) == avps


@given(
    st.lists(
        st.builds(
            Avp,
            st.integers(0, 2**32 - 1),
            st.binary(max_size=60),
            st.sampled_from([0, 311, 9]),
            st.booleans(),
        ),
        max_size=6,
    )
)
def test_avps_roundtrip(avps: list[Avp]) -> None:
    assert pull_avps(b"".join(push_avp(a) for a in avps)) == avps


@given(st.binary(max_size=120))
def test_tlvs_decode_or_decode_error(data: bytes) -> None:
    try:
        tlvs = pull_tlvs(data)
    except DecodeError:
        return
    assert b"".join(push_tlv(t) for t in tlvs) == data


@given(st.binary(max_size=120))
def test_mschapv2_response_decode_or_decode_error(data: bytes) -> None:
    try:
        response = pull_response(data)
    except DecodeError:
        return
    assert len(response.peer_challenge) == 16 and len(response.nt_response) == 24
