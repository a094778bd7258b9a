"""CHAP / MS-CHAP START data (RFC 8907 5.4.2.3-5.4.2.5) and the MD5 CHAP check (RFC 1994)."""

from __future__ import annotations

import hashlib

import pytest

from tacacs.chap import chap_ok, chap_response, pull_chap, pull_mschap_v1, pull_mschap_v2
from tacacs.errors import DecodeError, DecodeFailure


def test_chap_parts() -> None:
    data = b"\x2a" + bytes(range(16)) + b"R" * 16
    chap = pull_chap(data)
    assert (chap.ppp_id, chap.challenge, chap.response) == (0x2A, bytes(range(16)), b"R" * 16)
    assert "RRRR" not in repr(chap)


def test_chap_challenge_length_is_what_remains() -> None:
    assert pull_chap(b"\x01" + b"c" * 8 + b"r" * 16).challenge == b"c" * 8
    with pytest.raises(DecodeError) as e:
        pull_chap(b"\x01" + b"c" * 7 + b"r" * 16, min_challenge=8)
    assert e.value.reason is DecodeFailure.BAD_FIELD
    with pytest.raises(DecodeError):
        pull_chap(b"\x01" + b"r" * 16)  # no challenge at all
    with pytest.raises(DecodeError):
        pull_chap(b"")


def test_chap_ok_is_md5_of_id_secret_challenge() -> None:
    challenge = bytes.fromhex("0123456789abcdef0123456789abcdef")
    expected = hashlib.md5(b"\x05" + b"letmein" + challenge).digest()
    assert chap_response(5, b"letmein", challenge) == expected
    assert chap_ok(5, b"letmein", challenge, expected)
    assert not chap_ok(5, b"letmeout", challenge, expected)
    assert not chap_ok(6, b"letmein", challenge, expected)
    assert not chap_ok(5, b"letmein", challenge, expected[:15])


def test_mschap_v1_parts() -> None:
    resp = b"L" * 24 + b"N" * 24 + b"\x01"
    m = pull_mschap_v1(b"\x09" + b"C" * 8 + resp)
    assert (m.ppp_id, m.challenge, m.response) == (9, b"C" * 8, resp)
    assert (m.lm_response, m.nt_response, m.flags) == (b"L" * 24, b"N" * 24, 1)


def test_mschap_v2_parts() -> None:
    resp = b"P" * 16 + bytes(8) + b"N" * 24 + b"\x00"
    m = pull_mschap_v2(b"\x03" + b"A" * 16 + resp)
    assert (m.ppp_id, m.challenge) == (3, b"A" * 16)
    assert (m.peer_challenge, m.reserved, m.nt_response, m.flags) == (
        b"P" * 16,
        bytes(8),
        b"N" * 24,
        0,
    )


@pytest.mark.parametrize("extra", [-1, 1])
def test_mschap_wrong_sizes_are_rejected(extra: int) -> None:
    with pytest.raises(DecodeError) as e:
        pull_mschap_v1(b"\x01" + b"C" * (8 + extra) + b"R" * 49)
    assert e.value.reason is DecodeFailure.BAD_FIELD
    with pytest.raises(DecodeError):
        pull_mschap_v2(b"\x01" + b"C" * (16 + extra) + b"R" * 49)
