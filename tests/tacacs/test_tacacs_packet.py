"""Codec tests: RFC 8907 layouts as hex vectors, obfuscation, interop with tacacs_plus 2.6
(an independent implementation), and hypothesis properties."""

from __future__ import annotations

import contextlib
import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tacacs_plus.accounting import TACACSAccountingReply, TACACSAccountingStart
from tacacs_plus.authentication import (
    TACACSAuthenticationContinue,
    TACACSAuthenticationReply,
    TACACSAuthenticationStart,
)
from tacacs_plus.authorization import TACACSAuthorizationReply, TACACSAuthorizationStart
from tacacs_plus.packet import TACACSHeader, TACACSPacket, crypt

from tacacs.constants import AcctFlag, AuthenStatus, AuthenType, AuthorStatus, HeaderFlag
from tacacs.errors import DecodeError, DecodeFailure, LocalProtocolError
from tacacs.packet import (
    AcctReply,
    AcctRequest,
    AuthenContinue,
    AuthenReply,
    AuthenStart,
    AuthorRequest,
    AuthorResponse,
    Body,
    Header,
    decode_packet,
    encode_packet,
    obfuscate,
    pull_acct_reply,
    pull_acct_request,
    pull_authen_continue,
    pull_authen_reply,
    pull_authen_start,
    pull_author_request,
    pull_author_response,
    pull_body,
    pull_header,
    push_body,
    push_header,
)

PULLERS = {
    AuthenStart: pull_authen_start,
    AuthenReply: pull_authen_reply,
    AuthenContinue: pull_authen_continue,
    AuthorRequest: pull_author_request,
    AuthorResponse: pull_author_response,
    AcctRequest: pull_acct_request,
    AcctReply: pull_acct_reply,
}

EXPECTED: dict[str, Body] = {
    "authen_start_ascii": AuthenStart(1, 1, 1, 1, b"alice", b"tty0", b"10.0.0.1", b""),
    "authen_start_pap": AuthenStart(1, 0, 2, 1, b"bob", b"tty1", b"", b"pw12"),
    "authen_reply_getpass": AuthenReply(5, 1, b"Password: ", b""),
    "authen_continue_user": AuthenContinue(b"alice", b"", 0),
    "authen_continue_abort": AuthenContinue(b"", b"bye", 1),
    "author_request": AuthorRequest(
        6, 1, 1, 1, b"alice", b"tty0", b"", (b"service=shell", b"cmd*")
    ),
    "author_response": AuthorResponse(1, (b"priv-lvl=15",), b"", b""),
    "acct_request": AcctRequest(2, 6, 15, 1, 1, b"alice", b"tty0", b"", (b"task_id=123",)),
    "acct_reply": AcctReply(1, b"ok", b""),
}


# ------------------------------------------------------------------------------------------
# RFC layouts, byte for byte


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_decodes_to_fields_and_reencodes_byte_for_byte(
    rfc8907: dict[str, bytes], name: str
) -> None:
    raw = rfc8907[name]
    expected = EXPECTED[name]
    assert PULLERS[type(expected)](raw) == expected
    assert push_body(expected) == raw


def test_header_vector(rfc8907: dict[str, bytes]) -> None:
    h = pull_header(rfc8907["header"])
    assert h == Header(0xC0, 1, 1, 0x04, 0x12345678, 27)
    assert (h.major_version, h.minor_version, h.single_connect, h.unencrypted) == (
        0xC,
        0,
        True,
        False,
    )
    assert push_header(h) == rfc8907["header"]


def test_header_rejects_short_bad_major_and_oversized() -> None:
    with pytest.raises(DecodeError) as e:
        pull_header(b"\xc0\x01\x01")
    assert e.value.reason is DecodeFailure.TRUNCATED
    with pytest.raises(DecodeError) as e:
        pull_header(bytes.fromhex("d0010100 00000001 00000000"))
    assert e.value.reason is DecodeFailure.BAD_VERSION
    with pytest.raises(DecodeError) as e:
        pull_header(bytes.fromhex("c0010100 00000001 00000011"), max_body=16)
    assert e.value.reason is DecodeFailure.BODY_TOO_LONG
    assert pull_header(bytes.fromhex("c0010100 00000001 00000010"), max_body=16).length == 16


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_octet_more_or_less_is_a_length_mismatch(rfc8907: dict[str, bytes], name: str) -> None:
    raw = rfc8907[name]
    pull = PULLERS[type(EXPECTED[name])]
    with pytest.raises(DecodeError) as e:
        pull(raw + b"\x00")
    assert e.value.reason is DecodeFailure.LENGTH_MISMATCH
    with pytest.raises(DecodeError) as e:
        pull(raw[:-1])
    assert e.value.reason in (DecodeFailure.LENGTH_MISMATCH, DecodeFailure.TRUNCATED)


def test_body_shorter_than_fixed_part_is_truncated() -> None:
    with pytest.raises(DecodeError) as e:
        pull_authen_start(b"\x01\x01\x01")
    assert e.value.reason is DecodeFailure.TRUNCATED
    with pytest.raises(DecodeError) as e:
        pull_author_request(bytes.fromhex("06010101 00000003 0102"))  # 3 arg lengths, 2 given
    assert e.value.reason is DecodeFailure.TRUNCATED


def test_unknown_type_is_bad_type() -> None:
    with pytest.raises(DecodeError) as e:
        pull_body(9, 1, b"")
    assert e.value.reason is DecodeFailure.BAD_TYPE


def test_unknown_code_points_round_trip_unchanged() -> None:
    start = AuthenStart(0x77, 200, 0x42, 0x99, b"\x00\xff", b"\x1b[2J", b"", b"\x00" * 255)
    assert pull_authen_start(push_body(start)) == start


def test_encoders_refuse_values_that_do_not_fit() -> None:
    with pytest.raises(LocalProtocolError):
        push_body(AuthenStart(1, 1, 1, 1, b"u" * 256))
    with pytest.raises(LocalProtocolError):
        push_body(AuthenReply(1, 0, b"m" * 65536))
    with pytest.raises(LocalProtocolError):
        push_body(AuthorResponse(1, (b"a=1",) * 256))
    with pytest.raises(LocalProtocolError):
        push_body(AcctRequest(2, 6, 1, 1, 1, args=(b"x" * 256,)))
    with pytest.raises(LocalProtocolError):
        push_body(AcctReply(256))
    with pytest.raises(LocalProtocolError):
        push_header(Header(0xC0, 1, 256, 0, 1, 0))


def test_secrets_are_out_of_the_repr() -> None:
    assert "hunter2" not in repr(AuthenStart(1, 1, 2, 1, b"bob", data=b"hunter2"))
    assert "hunter2" not in repr(AuthenContinue(b"hunter2"))


# ------------------------------------------------------------------------------------------
# Obfuscation (RFC 8907 4.5)


def test_obfuscation_matches_the_known_vector_and_tacacs_plus(rfc8907: dict[str, bytes]) -> None:
    body = bytes(range(40))
    ours = obfuscate(body, 0x01020304, b"tac_plus_key", 0xC1, 1)
    assert ours == rfc8907["obfuscated_vector"]
    theirs = crypt(TACACSHeader(0xC1, 1, 0x01020304, 40, seq_no=1), body, "tac_plus_key")
    assert ours == theirs


def test_obfuscation_pad_is_the_md5_chain() -> None:
    seed = (0xDEADBEEF).to_bytes(4, "big") + b"k" + bytes((0xC0, 3))
    md5_1 = hashlib.md5(seed).digest()
    md5_2 = hashlib.md5(seed + md5_1).digest()
    pad = (md5_1 + md5_2)[:20]
    assert obfuscate(bytes(20), 0xDEADBEEF, b"k", 0xC0, 3) == pad


@given(
    body=st.binary(max_size=300),
    session_id=st.integers(0, 2**32 - 1),
    key=st.binary(min_size=1, max_size=40),
    version=st.sampled_from([0xC0, 0xC1]),
    seq_no=st.integers(1, 255),
)
def test_obfuscation_is_symmetric(
    body: bytes, session_id: int, key: bytes, version: int, seq_no: int
) -> None:
    hidden = obfuscate(body, session_id, key, version, seq_no)
    assert len(hidden) == len(body)
    assert obfuscate(hidden, session_id, key, version, seq_no) == body


def test_every_pad_input_changes_the_pad() -> None:
    base = obfuscate(bytes(16), 1, b"key", 0xC0, 1)
    assert obfuscate(bytes(16), 2, b"key", 0xC0, 1) != base
    assert obfuscate(bytes(16), 1, b"kez", 0xC0, 1) != base
    assert obfuscate(bytes(16), 1, b"key", 0xC1, 1) != base
    assert obfuscate(bytes(16), 1, b"key", 0xC0, 3) != base


# ------------------------------------------------------------------------------------------
# Interop with tacacs_plus (client side encoder / decoder)


def _their_packet(body: bytes, ptype: int, version: int, seq: int = 1, key: str = "k3y") -> bytes:
    header = TACACSHeader(version, ptype, 0x0BADCAFE, len(body), seq_no=seq)
    return bytes(TACACSPacket(header, body, key))


def test_decode_tacacs_plus_authen_start_ascii() -> None:
    raw = _their_packet(TACACSAuthenticationStart("alice", AuthenType.ASCII).packed, 1, 0xC0)
    header, body = decode_packet(raw, b"k3y")
    assert (header.version, header.type, header.seq_no, header.session_id) == (
        0xC0,
        1,
        1,
        0x0BADCAFE,
    )
    assert body == AuthenStart(1, 0, 1, 1, b"alice", b"python_tty0", b"python_device", b"")


def test_decode_tacacs_plus_authen_start_pap() -> None:
    start = TACACSAuthenticationStart("bob", AuthenType.PAP, data=b"s3cr3t", priv_lvl=15)
    _, body = decode_packet(_their_packet(start.packed, 1, 0xC1), b"k3y")
    assert body == AuthenStart(1, 15, 2, 1, b"bob", b"python_tty0", b"python_device", b"s3cr3t")


def test_decode_tacacs_plus_authen_start_chap() -> None:
    chap = b"\x07" + b"C" * 16 + b"R" * 16
    start = TACACSAuthenticationStart("carol", AuthenType.CHAP, data=chap)
    _, body = decode_packet(_their_packet(start.packed, 1, 0xC1), b"k3y")
    assert isinstance(body, AuthenStart)
    assert (body.authen_type, body.user, body.data) == (3, b"carol", chap)


def test_decode_tacacs_plus_authen_continue() -> None:
    cont = TACACSAuthenticationContinue("hunter2")
    _, body = decode_packet(_their_packet(cont.packed, 1, 0xC0, seq=3), b"k3y")
    assert body == AuthenContinue(b"hunter2", b"", 0)
    abort = TACACSAuthenticationContinue("", data=b"user quit", flags=1)
    _, body = decode_packet(_their_packet(abort.packed, 1, 0xC0, seq=5), b"k3y")
    assert body == AuthenContinue(b"", b"user quit", 1)


def test_decode_tacacs_plus_authorization_request() -> None:
    req = TACACSAuthorizationStart(
        "alice", 6, 15, AuthenType.ASCII, [b"service=shell", b"cmd=show", b"cmd-arg=version"]
    )
    _, body = decode_packet(_their_packet(req.packed, 2, 0xC0), b"k3y")
    assert body == AuthorRequest(
        6,
        15,
        1,
        1,
        b"alice",
        b"python_tty0",
        b"python_device",
        (b"service=shell", b"cmd=show", b"cmd-arg=version"),
    )


def test_decode_tacacs_plus_accounting_request() -> None:
    req = TACACSAccountingStart(
        "alice", AcctFlag.STOP, 6, 1, AuthenType.ASCII, [b"task_id=7", b"elapsed_time=30"]
    )
    _, body = decode_packet(_their_packet(req.packed, 3, 0xC0), b"k3y")
    assert body == AcctRequest(
        4,
        6,
        1,
        1,
        1,
        b"alice",
        b"python_tty0",
        b"python_device",
        (b"task_id=7", b"elapsed_time=30"),
    )


def _their_decode(raw: bytes, key: str = "k3y") -> tuple[TACACSHeader, bytes]:
    header = TACACSHeader.unpacked(raw[:12])
    assert header.length == len(raw) - 12
    return header, crypt(header, raw[12:], key)


def test_tacacs_plus_decodes_our_authen_reply() -> None:
    raw = encode_packet(
        AuthenReply(AuthenStatus.GETPASS, 1, b"Password: ", b"\x01\x02"),
        version=0xC0,
        seq_no=2,
        session_id=0x0BADCAFE,
        key=b"k3y",
    )
    header, body = _their_decode(raw)
    assert (header.version, header.type, header.seq_no, header.session_id) == (
        0xC0,
        1,
        2,
        0x0BADCAFE,
    )
    reply = TACACSAuthenticationReply.unpacked(body)
    assert (reply.status, reply.flags, reply.server_msg, reply.data) == (
        5,
        1,
        b"Password: ",
        b"\x01\x02",
    )


def test_tacacs_plus_decodes_our_author_response() -> None:
    raw = encode_packet(
        AuthorResponse(AuthorStatus.PASS_REPL, (b"priv-lvl=15", b"timeout*30"), b"hi", b"log"),
        version=0xC0,
        seq_no=2,
        session_id=5,
        key=b"k3y",
    )
    reply = TACACSAuthorizationReply.unpacked(_their_decode(raw)[1])
    assert reply.status == 2
    assert reply.arguments == [b"priv-lvl=15", b"timeout*30"]
    assert (reply.server_msg, reply.data) == (b"hi", b"log")


def test_tacacs_plus_decodes_our_acct_reply() -> None:
    raw = encode_packet(AcctReply(1, b"ok", b""), version=0xC0, seq_no=2, session_id=5, key=b"k3y")
    reply = TACACSAccountingReply.unpacked(_their_decode(raw)[1])
    assert (reply.status, reply.server_msg) == (1, b"ok")


def test_unencrypted_packets_carry_the_flag_and_a_clear_body() -> None:
    raw = encode_packet(
        AcctReply(1), version=0xC0, seq_no=2, session_id=5, key=None, flags=HeaderFlag.UNENCRYPTED
    )
    assert raw[12:] == push_body(AcctReply(1))
    assert decode_packet(raw, None)[1] == AcctReply(1)
    with pytest.raises(LocalProtocolError):
        encode_packet(AcctReply(1), version=0xC0, seq_no=2, session_id=5, key=None)
    with pytest.raises(LocalProtocolError):
        encode_packet(
            AcctReply(1),
            version=0xC0,
            seq_no=2,
            session_id=5,
            key=b"k",
            flags=HeaderFlag.UNENCRYPTED,
        )


def test_decode_packet_with_the_wrong_key_fails_with_decode_error() -> None:
    raw = _their_packet(TACACSAuthenticationStart("alice", AuthenType.ASCII).packed, 1, 0xC0)
    with pytest.raises(DecodeError) as e:
        decode_packet(raw, b"not-the-key")
    assert e.value.reason in (DecodeFailure.LENGTH_MISMATCH, DecodeFailure.TRUNCATED)
    with pytest.raises(DecodeError):
        decode_packet(raw[:-1], b"k3y")
    with pytest.raises(DecodeError):
        decode_packet(raw + b"\x00", b"k3y")


# ------------------------------------------------------------------------------------------
# Properties

_u8 = st.integers(0, 255)
_f8 = st.binary(max_size=255)
_f16 = st.binary(max_size=600)
_args = st.lists(st.binary(max_size=255), max_size=12).map(tuple)

BODIES: st.SearchStrategy[Body] = st.one_of(
    st.builds(AuthenStart, _u8, _u8, _u8, _u8, _f8, _f8, _f8, _f8),
    st.builds(AuthenReply, _u8, _u8, _f16, _f16),
    st.builds(AuthenContinue, _f16, _f16, _u8),
    st.builds(AuthorRequest, _u8, _u8, _u8, _u8, _f8, _f8, _f8, _args),
    st.builds(AuthorResponse, _u8, _args, _f16, _f16),
    st.builds(AcctRequest, _u8, _u8, _u8, _u8, _u8, _f8, _f8, _f8, _args),
    st.builds(AcctReply, _u8, _f16, _f16),
)


@given(BODIES)
def test_decode_of_encode_is_identity_for_every_body(body: Body) -> None:
    assert PULLERS[type(body)](push_body(body)) == body


@given(
    BODIES,
    st.integers(0, 2**32 - 1),
    st.sampled_from([0xC0, 0xC1]),
    st.binary(min_size=1, max_size=32),
)
def test_whole_packet_round_trip(body: Body, session_id: int, version: int, key: bytes) -> None:
    client = isinstance(body, AuthenStart | AuthenContinue | AuthorRequest | AcctRequest)
    seq = 1 if isinstance(body, AuthenStart | AuthorRequest | AcctRequest) else 3 if client else 2
    raw = encode_packet(body, version=version, seq_no=seq, session_id=session_id, key=key)
    header, decoded = decode_packet(raw, key)
    assert decoded == body
    assert (header.session_id, header.version, header.seq_no) == (session_id, version, seq)


@given(st.binary(max_size=400))
def test_random_bytes_raise_only_decode_error_in_every_puller(data: bytes) -> None:
    for pull in PULLERS.values():
        with contextlib.suppress(DecodeError):
            pull(data)


@settings(max_examples=300)
@given(
    ptype=st.integers(0, 5),
    seq=_u8,
    flags=_u8,
    body=st.binary(max_size=300),
    key=st.one_of(st.none(), st.binary(min_size=1, max_size=8)),
)
def test_random_body_behind_a_valid_header_raises_only_decode_error(
    ptype: int, seq: int, flags: int, body: bytes, key: bytes | None
) -> None:
    raw = bytes((0xC0, ptype, seq, flags)) + struct.pack("!II", 1234, len(body)) + body
    try:
        header, decoded = decode_packet(raw, key)
    except DecodeError:
        return
    assert header.length == len(body)
    assert push_body(decoded) == (
        body if header.unencrypted else obfuscate(body, 1234, key or b"", 0xC0, seq)
    )


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_decode_error_in_decode_packet(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_packet(data, b"key")
