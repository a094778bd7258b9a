"""EAP-TLS framing (RFC 5216 sections 2.1.5 and 3.1): flags, TLS Message Length,
fragmentation of our output and reassembly of the peer's, with the size cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.fragment import (
    Fragmenter,
    Reassembler,
    TlsFlags,
    TlsFrame,
    pull_tls_frame,
    push_tls_frame,
)
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError


def test_frame_layout() -> None:
    assert push_tls_frame(TlsFrame(TlsFlags.Start)) == b"\x20"
    first = TlsFrame(TlsFlags.MoreFragments, 3000, b"abc")
    assert push_tls_frame(first) == b"\xc0\x00\x00\x0b\xb8abc"
    assert pull_tls_frame(b"\xc0\x00\x00\x0b\xb8abc") == TlsFrame(0xC0, 3000, b"abc")
    assert pull_tls_frame(b"\x00") == TlsFrame(0)
    assert pull_tls_frame(b"\x00").is_ack
    assert not pull_tls_frame(b"\x20").is_ack
    assert pull_tls_frame(b"\x01").version == 1


@pytest.mark.parametrize(
    "data", [b"", b"\x80", b"\x80\x00\x00\x00", b"\x80\x00\x00\x00\x01ab"], ids=repr
)
def test_malformed_frames(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        pull_tls_frame(data)
    assert info.value.reason is DecodeFailure.bad_eap_tls


def test_fragmenter_sets_l_on_the_first_and_m_on_all_but_the_last() -> None:
    message = bytes(range(256)) * 10  # 2560 octets
    fragmenter = Fragmenter(message)
    frames = []
    while not fragmenter.done:
        frames.append(fragmenter.next_frame(1024))
    assert [len(f.data) for f in frames] == [1024, 1024, 512]
    assert [f.message_length for f in frames] == [2560, None, None]
    assert [f.more for f in frames] == [True, True, False]
    assert push_tls_frame(frames[0])[:5] == b"\xc0\x00\x00\x0a\x00"
    assert push_tls_frame(frames[1])[:1] == b"\x40"
    assert push_tls_frame(frames[2])[:1] == b"\x00"
    assert b"".join(f.data for f in frames) == message
    with pytest.raises(LocalProtocolError):
        fragmenter.next_frame(1024)


def test_a_message_that_fits_goes_without_l() -> None:
    frame = Fragmenter(b"x" * 100, version=0).next_frame(1024)
    assert frame == TlsFrame(0, None, b"x" * 100)


def test_fragment_size_may_shrink_between_fragments() -> None:
    fragmenter = Fragmenter(bytes(1000))
    assert len(fragmenter.next_frame(600).data) == 600
    assert len(fragmenter.next_frame(300).data) == 300
    assert len(fragmenter.next_frame(300).data) == 100


def test_reassembler_joins_and_checks_the_length() -> None:
    r = Reassembler()
    assert r.add(TlsFrame(0xC0, 10, b"abcd")) is None
    assert r.in_progress
    assert r.add(TlsFrame(0x40, None, b"efg")) is None
    assert r.add(TlsFrame(0x00, None, b"hij")) == b"abcdefghij"
    assert not r.in_progress
    assert r.add(TlsFrame(0x00)) == b""  # an ACK
    assert r.add(TlsFrame(0x80, 3, b"xyz")) == b"xyz"  # L on an unfragmented message


def test_reassembler_accepts_l_repeated_with_the_same_value() -> None:
    r = Reassembler()
    assert r.add(TlsFrame(0xC0, 6, b"abc")) is None
    assert r.add(TlsFrame(0x80, 6, b"def")) == b"abcdef"


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([TlsFrame(0xC0, 5, b"abc"), TlsFrame(0x00, None, b"def")], DecodeFailure.bad_eap_tls),
        ([TlsFrame(0xC0, 8, b"abc"), TlsFrame(0x00, None, b"de")], DecodeFailure.bad_eap_tls),
        ([TlsFrame(0xC0, 8, b"abc"), TlsFrame(0xC0, 9, b"de")], DecodeFailure.bad_eap_tls),
        ([TlsFrame(0x80, 4, b"abc")], DecodeFailure.bad_eap_tls),
        ([TlsFrame(0x40)], DecodeFailure.bad_eap_tls),
        ([TlsFrame(0xC0, 70000, b"abc")], DecodeFailure.eap_too_large),
    ],
)
def test_reassembler_refuses(frames: list[TlsFrame], reason: DecodeFailure) -> None:
    r = Reassembler()
    with pytest.raises(DecodeError) as info:
        for frame in frames:
            r.add(frame)
    assert info.value.reason is reason


def test_reassembler_cap_without_length_field() -> None:
    r = Reassembler(max_size=4096)
    chunk = TlsFrame(0x40, None, bytes(1000))
    for _ in range(4):
        assert r.add(chunk) is None
    with pytest.raises(DecodeError) as info:
        r.add(chunk)
    assert info.value.reason is DecodeFailure.eap_too_large
    assert not r.in_progress  # the buffer is gone


@given(st.binary(max_size=40))
def test_pull_tls_frame_decodes_or_raises_decode_error(data: bytes) -> None:
    try:
        frame = pull_tls_frame(data)
    except DecodeError:
        return
    assert push_tls_frame(frame) == data


@given(st.binary(min_size=1, max_size=5000), st.lists(st.integers(1, 1500), min_size=1))
def test_fragment_then_reassemble(message: bytes, sizes: list[int]) -> None:
    fragmenter = Fragmenter(message)
    reassembler = Reassembler()
    result = None
    i = 0
    while not fragmenter.done:
        frame = pull_tls_frame(push_tls_frame(fragmenter.next_frame(sizes[i % len(sizes)])))
        i += 1
        result = reassembler.add(frame)
        assert (result is None) == (not fragmenter.done)
    assert result == message


@given(st.lists(st.binary(max_size=20), max_size=8))
def test_reassembler_only_raises_decode_error(payloads: list[bytes]) -> None:
    r = Reassembler(max_size=64)
    for payload in payloads:
        try:
            frame = pull_tls_frame(payload)
            r.add(frame)
        except DecodeError:
            r.reset()
