"""ServerConnection: every rule of RFC 8907 sections 4-7 (and RFC 9887 section 4) it enforces."""

from __future__ import annotations

import pytest
from _tacacs_support import ASCII_START, KEY, Client, decode_one, decode_replies, split_packets
from hypothesis import given, settings
from hypothesis import strategies as st
from tacacs_plus.authentication import TACACSAuthenticationReply, TACACSAuthenticationStart
from tacacs_plus.packet import TACACSHeader, TACACSPacket, crypt

from tacacs.args import AVPair
from tacacs.chap import chap_ok, chap_response
from tacacs.connection import ServerConnection
from tacacs.constants import (
    AcctFlag,
    AcctStatus,
    AuthenAction,
    AuthenService,
    AuthenStatus,
    AuthenType,
    AuthorStatus,
    HeaderFlag,
    ReplyFlag,
)
from tacacs.errors import DecodeFailure, LocalProtocolError, ProtocolFailure
from tacacs.events import (
    AcctRequestReceived,
    AuthenContinueReceived,
    AuthenStartReceived,
    AuthenticationAborted,
    AuthenticationRefused,
    AuthenticationRequested,
    AuthorRequestReceived,
    BadKey,
    CloseReason,
    ConnectionShouldClose,
    Event,
    PacketDiscarded,
    SessionTimedOut,
)
from tacacs.packet import (
    AcctReply,
    AcctRequest,
    AuthenContinue,
    AuthenReply,
    AuthenStart,
    AuthorRequest,
    AuthorResponse,
    Header,
    encode_packet,
    obfuscate,
    push_header,
)

PAP = AuthenStart(1, 1, 2, 1, b"bob", b"tty1", b"198.51.100.1", b"hunter2")
AUTHOR = AuthorRequest(
    6,
    15,
    1,
    1,
    b"alice",
    b"tty0",
    b"",
    (b"service=shell", b"cmd=show", b"cmd-arg=version", b"cmd-arg=<cr>"),
)
ACCT = AcctRequest(2, 6, 15, 1, 1, b"alice", b"tty0", b"", (b"task_id=1", b"service=shell"))


def conn(**kw: object) -> ServerConnection:
    opts: dict[str, object] = {"allow_unencrypted": False, "single_connect_allowed": True}
    opts.update(kw)
    keys = opts.pop("keys", [KEY])
    return ServerConnection(keys, **opts)  # type: ignore[arg-type]


def of(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def discarded(events: list[Event]) -> PacketDiscarded:
    (d,) = of(events, PacketDiscarded)
    return d  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------
# Framing: short reads, several packets per read, size cap


def test_pap_single_round_and_reply() -> None:
    c = conn()
    client = Client(version=0xC1)
    events = c.receive_data(client.packet(PAP), 0.0)
    assert [type(e) for e in events] == [AuthenStartReceived, AuthenticationRequested]
    req = events[1]
    assert isinstance(req, AuthenticationRequested)
    assert (req.user, req.password, req.port, req.rem_addr) == (
        "bob",
        "hunter2",
        "tty1",
        "198.51.100.1",
    )
    assert (req.authen_type, req.service, req.action, req.priv_lvl) == (
        AuthenType.PAP,
        AuthenService.LOGIN,
        AuthenAction.LOGIN,
        1,
    )
    assert c.data_to_send() == b""
    out = c.send_authen_reply(client.session_id, AuthenStatus.PASS, server_msg="Welcome")
    header, body = decode_one(out)
    assert (header.version, header.seq_no, header.session_id) == (0xC1, 2, client.session_id)
    assert body == AuthenReply(AuthenStatus.PASS, 0, b"Welcome", b"")
    assert c.should_close  # no single-connect requested: close after the session (4.3, 4.4)


def test_byte_at_a_time_gives_the_same_events_only_at_the_last_byte() -> None:
    raw = Client(version=0xC1).packet(PAP)
    c = conn()
    for i, byte in enumerate(raw):
        events = c.receive_data(bytes([byte]), float(i))
        if i < len(raw) - 1:
            assert events == []
    assert [type(e) for e in events] == [AuthenStartReceived, AuthenticationRequested]


def _single_connect_conn() -> ServerConnection:
    c = conn()
    c.receive_data(Client(session_id=1, single=True).packet(AUTHOR), 0.0)
    c.send_author_response(1, AuthorStatus.PASS_ADD)
    return c


@settings(max_examples=50)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_any_fragmentation_gives_the_same_events(cuts: list[int]) -> None:
    stream = (
        Client(session_id=2).packet(AUTHOR)
        + Client(session_id=3).packet(ACCT)
        + Client(session_id=4).packet(ASCII_START)
    )
    reference = _single_connect_conn()
    whole = reference.receive_data(stream, 0.0)
    assert [type(e) for e in whole] == [
        AuthorRequestReceived,
        AcctRequestReceived,
        AuthenStartReceived,
    ]
    c = _single_connect_conn()
    got: list[Event] = []
    pos = 0
    for n in cuts:
        got += c.receive_data(stream[pos : pos + n], 0.0)
        pos += n
    got += c.receive_data(stream[pos:], 0.0)
    assert got == whole
    assert c.data_to_send() == reference.data_to_send()  # the GETUSER prompt


def test_two_packets_in_one_read_in_single_connect_mode() -> None:
    c = conn()
    a, b = Client(session_id=1, single=True), Client(session_id=2, single=True)
    c.receive_data(a.packet(AUTHOR), 0.0)
    first = c.send_author_response(1, AuthorStatus.PASS_ADD)
    assert decode_one(first)[0].single_connect
    events = c.receive_data(Client(session_id=3).packet(AUTHOR) + b.packet(ACCT), 1.0)
    assert [type(e) for e in events] == [AuthorRequestReceived, AcctRequestReceived]
    assert [e.session_id for e in events] == [3, 2]  # type: ignore[union-attr]
    assert not c.should_close


def test_body_cap_is_checked_from_the_header_before_the_body_arrives() -> None:
    c = conn(max_body=100)
    header = push_header(Header(0xC0, 1, 1, 0, 42, 101))
    events = c.receive_data(header, 0.0)
    assert discarded(events).reason is DecodeFailure.BODY_TOO_LONG
    assert of(events, ConnectionShouldClose) == [ConnectionShouldClose(CloseReason.PROTOCOL_ERROR)]
    assert c.should_close
    assert c.receive_data(b"\x00" * 101, 1.0) == []


def test_bad_major_version_closes() -> None:
    c = conn()
    events = c.receive_data(bytes.fromhex("b0010100 00000001 00000000"), 0.0)
    assert discarded(events).reason is DecodeFailure.BAD_VERSION
    assert c.should_close and c.data_to_send() == b""


def test_unknown_type_gets_the_identical_header_with_seq_plus_one_and_length_zero() -> None:
    c = conn()
    raw = push_header(Header(0xC0, 9, 1, 0x04, 77, 3)) + b"abc"
    events = c.receive_data(raw, 0.0)
    assert discarded(events).reason is DecodeFailure.BAD_TYPE
    assert c.data_to_send() == push_header(Header(0xC0, 9, 2, 0x04, 77, 0))


# ------------------------------------------------------------------------------------------
# Keys


def test_wrong_key_is_bad_key_no_answer_and_close() -> None:
    c = conn(keys=[b"one", b"two"])
    events = c.receive_data(Client(version=0xC1).packet(PAP), 0.0)
    assert events == [BadKey(Client.session_id, 2), ConnectionShouldClose(CloseReason.BAD_KEY)]
    assert c.data_to_send() == b""
    assert c.should_close


def test_key_rotation_tries_each_key_and_remembers_the_one_that_fits() -> None:
    c = conn(keys=[b"new-key", KEY])
    client = Client(single=True)
    assert of(c.receive_data(client.packet(AUTHOR), 0.0), AuthorRequestReceived)
    assert c.key_index == 1
    out = c.send_author_response(client.session_id, AuthorStatus.PASS_ADD)
    assert decode_one(out, KEY)[1] == AuthorResponse(AuthorStatus.PASS_ADD)
    # a later packet with the other configured key is not accepted on this connection
    other = Client(session_id=9, key=b"new-key")
    events = c.receive_data(other.packet(AUTHOR), 1.0)
    d = discarded(events)
    assert d.reason in (DecodeFailure.LENGTH_MISMATCH, DecodeFailure.TRUNCATED)
    assert not of(events, AuthorRequestReceived)
    # and a fresh connection from a client on the new key picks index 0
    c2 = conn(keys=[b"new-key", KEY])
    c2.receive_data(Client(key=b"new-key").packet(AUTHOR), 0.0)
    assert c2.key_index == 0


def test_tacacs_plus_client_with_a_rotated_key() -> None:
    body = TACACSAuthenticationStart("bob", AuthenType.PAP, data=b"pw").packed
    raw = bytes(TACACSPacket(TACACSHeader(0xC1, 1, 4242, len(body)), body, "old"))
    c = conn(keys=[b"current", b"old"])
    (req,) = of(c.receive_data(raw, 0.0), AuthenticationRequested)
    assert (req.user, req.password) == ("bob", "pw")
    out = c.send_authen_reply(4242, AuthenStatus.FAIL, server_msg="no")
    h = TACACSHeader.unpacked(out[:12])
    reply = TACACSAuthenticationReply.unpacked(crypt(h, out[12:], "old"))
    assert (h.seq_no, reply.status, reply.server_msg) == (2, AuthenStatus.FAIL, b"no")


def test_malformed_body_under_the_established_key_is_answered_with_error() -> None:
    c = conn()
    client = Client(single=True)
    c.receive_data(client.packet(AUTHOR), 0.0)
    c.send_author_response(client.session_id, AuthorStatus.PASS_ADD)
    body = bytes.fromhex("06010101 05000000") + b"al"  # user_len 5, only 2 octets
    raw = push_header(Header(0xC0, 2, 1, 0, 99, len(body))) + obfuscate(body, 99, KEY, 0xC0, 1)
    events = c.receive_data(raw, 1.0)
    d = discarded(events)
    assert (d.reason, d.session_id, d.replied) == (DecodeFailure.LENGTH_MISMATCH, 99, True)
    h, reply = decode_one(c.data_to_send())
    assert (h.seq_no, reply) == (2, AuthorResponse(AuthorStatus.ERROR))
    assert not c.should_close  # single-connect: other sessions may go on


# ------------------------------------------------------------------------------------------
# Sequence numbers and limits


def test_even_seq_from_the_client_is_discarded_without_answer() -> None:
    c = conn()
    events = c.receive_data(Client().packet(AUTHOR, seq=2), 0.0)
    d = discarded(events)
    assert (d.reason, d.replied) == (ProtocolFailure.BAD_SEQUENCE, False)
    assert c.data_to_send() == b""
    assert c.should_close


def test_new_session_must_start_at_one() -> None:
    c = conn()
    events = c.receive_data(Client().packet(AuthenContinue(b"x"), seq=3), 0.0)
    assert discarded(events).reason is ProtocolFailure.BAD_SEQUENCE


def test_continue_must_be_last_server_seq_plus_one() -> None:
    c = conn()
    client = Client(single=True)
    c.receive_data(client.packet(ASCII_START), 0.0)  # server answers GETUSER at seq 2
    events = c.receive_data(client.packet(AuthenContinue(b"alice"), seq=5), 1.0)
    d = discarded(events)
    assert (d.reason, d.session_id) == (ProtocolFailure.BAD_SEQUENCE, client.session_id)
    assert client.session_id not in c.sessions


def test_client_packet_while_the_server_has_the_turn_ends_the_session() -> None:
    c = conn()
    client = Client(version=0xC1, single=True)
    c.receive_data(client.packet(PAP), 0.0)
    events = c.receive_data(client.packet(AuthenContinue(b"x"), seq=3), 1.0)
    assert discarded(events).reason is ProtocolFailure.BAD_SEQUENCE
    # the service's late answer is silently dropped, not an error
    assert c.send_authen_reply(client.session_id, AuthenStatus.PASS) == b""


def test_seq_no_never_wraps() -> None:
    c = conn(max_rounds=128)
    client = Client(single=True)
    c.receive_data(client.packet(AuthenStart(1, 1, 1, 1, b"u")), 0.0)  # GETPASS at 2
    c.data_to_send()
    assert of(
        c.receive_data(client.packet(AuthenContinue(b"pw"), seq=3), 0.0), AuthenticationRequested
    )
    seq = 3
    while seq < 253:
        out = c.send_authen_reply(client.session_id, AuthenStatus.GETDATA, server_msg="Token: ")
        assert decode_one(out)[0].seq_no == seq + 1
        seq += 2
        assert of(
            c.receive_data(client.packet(AuthenContinue(b"t"), seq=seq), 0.0),
            AuthenContinueReceived,
        )
    assert seq == 253
    c.send_authen_reply(client.session_id, AuthenStatus.GETDATA)  # seq 254: the last even one
    events = c.receive_data(client.packet(AuthenContinue(b"t"), seq=255), 0.0)
    d = discarded(events)
    assert (d.reason, d.replied) == (ProtocolFailure.SEQUENCE_EXHAUSTED, False)
    assert c.data_to_send() == b""
    assert client.session_id not in c.sessions


def test_round_cap_per_session() -> None:
    c = conn(max_rounds=3)
    client = Client(single=True)
    c.receive_data(client.packet(ASCII_START), 0.0)  # round 1 -> GETUSER
    c.receive_data(client.packet(AuthenContinue(b""), seq=3), 0.0)  # round 2 -> GETUSER
    c.receive_data(client.packet(AuthenContinue(b""), seq=5), 0.0)  # round 3 -> GETUSER
    c.data_to_send()
    events = c.receive_data(client.packet(AuthenContinue(b"bob"), seq=7), 0.0)  # round 4
    d = discarded(events)
    assert (d.reason, d.replied) == (ProtocolFailure.TOO_MANY_ROUNDS, True)
    h, body = decode_one(c.data_to_send())
    assert h.seq_no == 8
    assert isinstance(body, AuthenReply) and body.status == AuthenStatus.FAIL


def test_concurrent_session_cap() -> None:
    c = conn(max_sessions=2)
    c.receive_data(Client(session_id=1, single=True).packet(ASCII_START), 0.0)
    c.receive_data(Client(session_id=2).packet(ASCII_START), 0.0)
    c.data_to_send()
    events = c.receive_data(Client(session_id=3).packet(AUTHOR), 0.0)
    d = discarded(events)
    assert (d.reason, d.session_id, d.replied) == (ProtocolFailure.TOO_MANY_SESSIONS, 3, True)
    assert decode_one(c.data_to_send())[1] == AuthorResponse(AuthorStatus.ERROR)
    assert set(c.sessions) == {1, 2}


# ------------------------------------------------------------------------------------------
# Versions (RFC 8907 5.4.1)


@pytest.mark.parametrize(
    ("body", "version"),
    [
        (ASCII_START, 0xC0),
        (PAP, 0xC1),
        (AuthenStart(1, 1, 3, 1, b"u", data=b"\x01" + b"c" * 16 + b"r" * 16), 0xC1),
        (AuthenStart(1, 1, 6, 1, b"u", data=b"\x01" + b"c" * 16 + b"r" * 49), 0xC1),
    ],
)
def test_reply_uses_the_request_version_byte(body: AuthenStart, version: int) -> None:
    c = conn()
    client = Client(version=version)
    c.receive_data(client.packet(body), 0.0)
    out = c.data_to_send() or c.send_authen_reply(client.session_id, AuthenStatus.FAIL)
    assert decode_one(out)[0].version == version


@pytest.mark.parametrize(
    ("body", "version"),
    [
        (PAP, 0xC0),  # PAP must be minor 1
        (ASCII_START, 0xC1),  # ASCII must be minor 0
        (AuthenStart(2, 1, 1, 1, b"u"), 0xC1),  # CHPASS ASCII is v0
        (ASCII_START, 0xC2),  # unknown minor
    ],
)
def test_wrong_minor_version_for_the_flow_is_an_error_reply(
    body: AuthenStart, version: int
) -> None:
    c = conn()
    client = Client(version=version)
    events = c.receive_data(client.packet(body), 0.0)
    d = discarded(events)
    assert (d.reason, d.replied) == (ProtocolFailure.BAD_MINOR_VERSION, True)
    h, reply = decode_one(c.data_to_send())
    assert h.version == version  # the request's exact version byte
    assert reply == AuthenReply(AuthenStatus.ERROR)
    assert not of(events, AuthenticationRequested)


@pytest.mark.parametrize("request_body", [AUTHOR, ACCT])
def test_authorization_and_accounting_must_be_minor_zero(
    request_body: AuthorRequest | AcctRequest,
) -> None:
    c = conn()
    events = c.receive_data(Client(version=0xC1).packet(request_body), 0.0)
    assert discarded(events).reason is ProtocolFailure.BAD_MINOR_VERSION
    h, reply = decode_one(c.data_to_send())
    assert h.version == 0xC1
    assert reply in (AuthorResponse(AuthorStatus.ERROR), AcctReply(AcctStatus.ERROR))


def test_continue_with_another_version_than_its_start_is_an_error() -> None:
    c = conn()
    client = Client()
    c.receive_data(client.packet(ASCII_START), 0.0)
    c.data_to_send()
    events = c.receive_data(client.packet(AuthenContinue(b"bob"), seq=3, version=0xC1), 0.0)
    assert discarded(events).reason is ProtocolFailure.BAD_MINOR_VERSION
    assert decode_one(c.data_to_send())[1] == AuthenReply(AuthenStatus.ERROR)


@pytest.mark.parametrize(
    "body",
    [
        AuthenStart(3, 1, 1, 1, b"u"),  # unknown action
        AuthenStart(1, 1, 4, 1, b"u"),  # ARAP is not listed for START (5.1)
        AuthenStart(1, 1, 9, 1, b"u"),  # unknown authen_type
        AuthenStart(1, 1, 1, 4, b"u"),  # unknown service
        AuthenStart(1, 16, 1, 1, b"u"),  # priv_lvl above 15
        AuthenStart(4, 1, 1, 1, b"u"),  # SENDAUTH with ASCII is '-' in Table 1
    ],
)
def test_unlisted_values_are_answered_with_error(body: AuthenStart) -> None:
    c = conn()
    events = c.receive_data(Client().packet(body), 0.0)
    assert discarded(events).reason is ProtocolFailure.BAD_VALUE
    assert decode_one(c.data_to_send())[1] == AuthenReply(AuthenStatus.ERROR)


@pytest.mark.parametrize("flags", [0x00, 0x06, 0x0C, 0x0E])
def test_invalid_accounting_flag_combinations_are_errors(flags: int) -> None:
    c = conn()
    body = AcctRequest(flags, 6, 1, 1, 1, b"u", args=(b"task_id=1",))
    events = c.receive_data(Client().packet(body), 0.0)
    assert discarded(events).reason is ProtocolFailure.BAD_VALUE
    assert decode_one(c.data_to_send())[1] == AcctReply(AcctStatus.ERROR)


# ------------------------------------------------------------------------------------------
# Unencrypted flag and TLS


def test_unencrypted_flag_refused_with_error_and_close() -> None:
    c = conn()
    events = c.receive_data(Client(key=None).packet(AUTHOR), 0.0)
    d = discarded(events)
    assert (d.reason, d.replied) == (ProtocolFailure.UNENCRYPTED_REFUSED, True)
    assert of(events, ConnectionShouldClose)
    h, reply = decode_one(c.data_to_send(), key=None)
    assert h.unencrypted and reply == AuthorResponse(AuthorStatus.ERROR)
    assert c.should_close


def test_unencrypted_allowed_when_configured() -> None:
    c = conn(keys=[], allow_unencrypted=True)
    client = Client(key=None)
    assert of(c.receive_data(client.packet(AUTHOR), 0.0), AuthorRequestReceived)
    h, reply = decode_one(c.send_author_response(client.session_id, AuthorStatus.PASS_ADD), None)
    assert h.unencrypted and reply == AuthorResponse(AuthorStatus.PASS_ADD)


def test_tls_requires_the_unencrypted_flag() -> None:
    c = conn(keys=[], tls=True)
    client = Client(key=None)
    assert of(c.receive_data(client.packet(ACCT), 0.0), AcctRequestReceived)
    h, reply = decode_one(c.send_acct_reply(client.session_id, AcctStatus.SUCCESS), None)
    assert h.unencrypted and reply == AcctReply(AcctStatus.SUCCESS)


def test_tls_refuses_obfuscated_packets_with_an_unencrypted_error() -> None:
    c = conn(keys=[KEY], tls=True)
    events = c.receive_data(Client().packet(ACCT), 0.0)
    assert discarded(events).reason is ProtocolFailure.OBFUSCATED_OVER_TLS
    h, reply = decode_one(c.data_to_send(), None)
    assert h.unencrypted  # RFC 9887 section 4: the ERROR has the flag set
    assert reply == AcctReply(AcctStatus.ERROR)
    assert c.should_close


def test_constructor_refuses_no_key_without_unencrypted_or_tls() -> None:
    with pytest.raises(ValueError):
        ServerConnection([], allow_unencrypted=False, single_connect_allowed=False)
    with pytest.raises(ValueError):
        ServerConnection([b""], allow_unencrypted=False, single_connect_allowed=False)
    with pytest.raises(ValueError):
        ServerConnection(
            [KEY], allow_unencrypted=False, single_connect_allowed=False, max_rounds=129
        )


# ------------------------------------------------------------------------------------------
# Single Connection Mode (RFC 8907 4.3)


def test_single_connect_negotiated_echoes_the_flag_and_keeps_the_connection() -> None:
    c = conn()
    client = Client(single=True)
    c.receive_data(client.packet(AUTHOR), 0.0)
    assert c.single_connect is None
    h, _ = decode_one(c.send_author_response(client.session_id, AuthorStatus.PASS_ADD))
    assert h.flags & HeaderFlag.SINGLE_CONNECT
    assert c.single_connect is True and not c.should_close
    nxt = Client(session_id=0xABC)  # flag ignored after the first two packets
    assert of(c.receive_data(nxt.packet(ACCT), 1.0), AcctRequestReceived)
    c.send_acct_reply(0xABC, AcctStatus.SUCCESS)
    assert not c.should_close


def test_single_connect_refused_by_configuration() -> None:
    c = conn(single_connect_allowed=False)
    client = Client(single=True)
    c.receive_data(client.packet(AUTHOR), 0.0)
    h, _ = decode_one(c.send_author_response(client.session_id, AuthorStatus.PASS_ADD))
    assert not h.flags & HeaderFlag.SINGLE_CONNECT
    assert c.single_connect is False
    assert c.should_close


def test_no_flag_from_the_client_means_no_single_connect() -> None:
    c = conn()
    client = Client()
    c.receive_data(client.packet(AUTHOR), 0.0)
    h, _ = decode_one(c.send_author_response(client.session_id, AuthorStatus.PASS_ADD))
    assert not h.flags & HeaderFlag.SINGLE_CONNECT
    assert c.should_close and c.close_reason is CloseReason.SESSION_COMPLETE


def test_second_session_before_single_connect_is_established_is_discarded() -> None:
    c = conn()
    c.receive_data(Client(session_id=1, single=True).packet(AUTHOR), 0.0)
    events = c.receive_data(Client(session_id=2, single=True).packet(AUTHOR), 0.0)
    d = discarded(events)
    assert (d.reason, d.session_id) == (ProtocolFailure.NOT_MULTIPLEXED, 2)
    assert c.sessions == (1,)
    assert not c.should_close  # the first session still completes


def test_close_event_when_the_session_ends_inside_receive_data() -> None:
    c = conn()
    events = c.receive_data(Client().packet(AuthenStart(2, 1, 1, 1, b"u")), 0.0)  # CHPASS
    assert events[-1] == ConnectionShouldClose(CloseReason.SESSION_COMPLETE)


# ------------------------------------------------------------------------------------------
# Session isolation


def test_sessions_are_keyed_per_connection() -> None:
    a, b = conn(), conn()
    same = Client(session_id=0x1234)
    a.receive_data(same.packet(ASCII_START), 0.0)  # a: waits for a username
    b.receive_data(Client(session_id=0x1234, version=0xC1).packet(PAP), 0.0)  # b: PAP
    assert decode_one(a.data_to_send())[1].status == AuthenStatus.GETUSER  # type: ignore[union-attr]
    b.send_authen_reply(0x1234, AuthenStatus.PASS)
    # a's session is untouched by b's completion
    events = a.receive_data(same.packet(AuthenContinue(b"alice"), seq=3), 1.0)
    assert not of(events, PacketDiscarded)
    assert decode_one(a.data_to_send())[1].status == AuthenStatus.GETPASS  # type: ignore[union-attr]


def test_interleaved_sessions_on_one_connection_keep_their_own_state() -> None:
    c = conn()
    s1, s2 = Client(session_id=1, single=True), Client(session_id=2)
    c.receive_data(s1.packet(AUTHOR), 0.0)
    c.send_author_response(1, AuthorStatus.PASS_ADD)
    s1b = Client(session_id=11)
    c.receive_data(s1b.packet(ASCII_START) + s2.packet(AuthenStart(1, 1, 1, 1, b"carol")), 0.0)
    prompts = decode_replies(c.data_to_send())
    assert [(h.session_id, b.status) for h, b in prompts] == [  # type: ignore[union-attr]
        (11, AuthenStatus.GETUSER),
        (2, AuthenStatus.GETPASS),
    ]
    events = c.receive_data(
        s2.packet(AuthenContinue(b"pw2"), seq=3) + s1b.packet(AuthenContinue(b"dave"), seq=3), 0.0
    )
    (req,) = of(events, AuthenticationRequested)
    assert (req.session_id, req.user, req.password) == (2, "carol", "pw2")
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.GETPASS  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------
# Authentication flows (RFC 8907 5.4.2)


def test_ascii_login_prompts_for_user_then_password() -> None:
    c = conn()
    client = Client()
    events = c.receive_data(client.packet(ASCII_START), 0.0)
    assert [type(e) for e in events] == [AuthenStartReceived]
    h, r = decode_one(c.data_to_send())
    assert h.seq_no == 2
    assert r == AuthenReply(AuthenStatus.GETUSER, 0, b"Username: ", b"")
    assert c.receive_data(client.packet(AuthenContinue(b"alice"), seq=3), 1.0) == []
    h, r = decode_one(c.data_to_send())
    assert h.seq_no == 4
    assert r == AuthenReply(AuthenStatus.GETPASS, ReplyFlag.NOECHO, b"Password: ", b"")
    (req,) = c.receive_data(client.packet(AuthenContinue(b"pw"), seq=5), 2.0)
    assert isinstance(req, AuthenticationRequested)
    assert (req.user, req.password, req.authen_type) == ("alice", "pw", AuthenType.ASCII)
    assert "pw" not in repr(req).replace("port", "")
    h, r = decode_one(c.send_authen_reply(client.session_id, AuthenStatus.PASS))
    assert (h.seq_no, r.status) == (6, AuthenStatus.PASS)  # type: ignore[union-attr]
    assert c.should_close


def test_ascii_start_with_user_asks_only_for_the_password() -> None:
    c = conn(password_prompt="Secret: ")
    c.receive_data(Client().packet(AuthenStart(1, 1, 1, 1, b"bob")), 0.0)
    assert decode_one(c.data_to_send())[1] == AuthenReply(
        AuthenStatus.GETPASS, ReplyFlag.NOECHO, b"Secret: "
    )


def test_getuser_is_retried_a_limited_number_of_times() -> None:
    c = conn(max_username_attempts=2, username_prompt="Login: ")
    client = Client()
    c.receive_data(client.packet(ASCII_START), 0.0)
    assert decode_one(c.data_to_send())[1].server_msg == b"Login: "  # type: ignore[union-attr]
    c.receive_data(client.packet(AuthenContinue(b""), seq=3), 0.0)
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.GETUSER  # type: ignore[union-attr]
    events = c.receive_data(client.packet(AuthenContinue(b""), seq=5), 0.0)
    (refused,) = of(events, AuthenticationRefused)
    assert refused.status is AuthenStatus.FAIL
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.FAIL  # type: ignore[union-attr]


def test_enable_asks_only_for_the_password() -> None:
    c = conn(enable_prompt="Enable secret: ")
    client = Client()
    enable = AuthenStart(1, 15, 1, AuthenService.ENABLE, b"alice", b"tty0", b"10.0.0.1")
    c.receive_data(client.packet(enable), 0.0)
    assert decode_one(c.data_to_send())[1] == AuthenReply(
        AuthenStatus.GETPASS, ReplyFlag.NOECHO, b"Enable secret: "
    )
    (req,) = c.receive_data(client.packet(AuthenContinue(b"en-pw"), seq=3), 1.0)
    assert isinstance(req, AuthenticationRequested)
    assert (req.service, req.priv_lvl, req.user, req.password) == (
        AuthenService.ENABLE,
        15,
        "alice",
        "en-pw",
    )


def test_enable_without_user_still_asks_only_for_the_password() -> None:
    c = conn()
    c.receive_data(Client().packet(AuthenStart(1, 15, 1, AuthenService.ENABLE)), 0.0)
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.GETPASS  # type: ignore[union-attr]


def test_chpass_is_refused_with_fail_and_a_message() -> None:
    c = conn()
    events = c.receive_data(Client().packet(AuthenStart(2, 1, 1, 1, b"alice")), 0.0)
    (refused,) = of(events, AuthenticationRefused)
    assert refused.reason == "chpass"
    r = decode_one(c.data_to_send())[1]
    assert isinstance(r, AuthenReply) and r.status == AuthenStatus.FAIL and r.server_msg


def test_sendauth_is_refused_with_fail() -> None:
    c = conn()
    c.receive_data(Client(version=0xC1).packet(AuthenStart(4, 1, 2, 1, b"alice")), 0.0)
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.FAIL  # type: ignore[union-attr]


def test_abort_ends_the_session_without_an_answer() -> None:
    c = conn()
    client = Client()
    c.receive_data(client.packet(ASCII_START), 0.0)
    c.data_to_send()
    events = c.receive_data(client.packet(AuthenContinue(b"", b"user hit ^C", 1), seq=3), 1.0)
    assert events == [
        AuthenticationAborted(client.session_id, "user hit ^C"),
        ConnectionShouldClose(CloseReason.SESSION_COMPLETE),
    ]
    assert c.data_to_send() == b""
    assert c.sessions == ()


def test_service_driven_prompt_comes_back_as_continue_received() -> None:
    c = conn()
    client = Client()
    c.receive_data(client.packet(AuthenStart(1, 1, 1, 1, b"alice")), 0.0)
    c.data_to_send()
    c.receive_data(client.packet(AuthenContinue(b"pw"), seq=3), 0.0)
    out = c.send_authen_reply(client.session_id, AuthenStatus.GETDATA, server_msg="OTP: ")
    assert decode_one(out)[1] == AuthenReply(AuthenStatus.GETDATA, 0, b"OTP: ")
    (cont,) = c.receive_data(client.packet(AuthenContinue(b"123456"), seq=5), 1.0)
    assert cont == AuthenContinueReceived(
        client.session_id, AuthenStatus.GETDATA, "alice", "123456", b""
    )
    assert decode_one(c.send_authen_reply(client.session_id, AuthenStatus.PASS))[0].seq_no == 6


def test_pap_without_username_is_refused() -> None:
    c = conn()
    events = c.receive_data(Client(version=0xC1).packet(AuthenStart(1, 1, 2, 1, data=b"pw")), 0.0)
    assert of(events, AuthenticationRefused)
    assert not of(events, AuthenticationRequested)


def test_chap_start_exposes_its_parts() -> None:
    challenge = bytes(range(16))
    response = chap_response(7, b"letmein", challenge)
    start = AuthenStart(1, 1, 3, 3, b"pppuser", b"async1", b"", b"\x07" + challenge + response)
    c = conn()
    (_, req) = c.receive_data(Client(version=0xC1).packet(start), 0.0)
    assert isinstance(req, AuthenticationRequested) and req.chap is not None
    assert (req.chap.ppp_id, req.chap.challenge) == (7, challenge)
    assert chap_ok(req.chap.ppp_id, b"letmein", req.chap.challenge, req.chap.response)
    assert req.password is None and req.service is AuthenService.PPP


def test_chap_with_a_short_challenge_is_refused() -> None:
    start = AuthenStart(1, 1, 3, 1, b"u", data=b"\x07" + b"c" * 4 + b"r" * 16)
    c = conn()
    events = c.receive_data(Client(version=0xC1).packet(start), 0.0)
    assert of(events, AuthenticationRefused)
    assert decode_one(c.data_to_send())[1].status == AuthenStatus.FAIL  # type: ignore[union-attr]


def test_mschapv1_and_v2_starts() -> None:
    v1 = AuthenStart(1, 1, 5, 1, b"u", data=b"\x01" + b"c" * 8 + b"L" * 24 + b"N" * 24 + b"\x01")
    (_, req) = conn().receive_data(Client(version=0xC1).packet(v1), 0.0)
    assert isinstance(req, AuthenticationRequested) and req.mschap is not None
    assert req.mschap.nt_response == b"N" * 24
    v2 = AuthenStart(
        1, 1, 6, 1, b"u", data=b"\x02" + b"A" * 16 + b"P" * 16 + bytes(8) + b"N" * 24 + b"\x00"
    )
    (_, req) = conn().receive_data(Client(version=0xC1).packet(v2), 0.0)
    assert isinstance(req, AuthenticationRequested) and req.mschapv2 is not None
    assert (req.mschapv2.challenge, req.mschapv2.peer_challenge) == (b"A" * 16, b"P" * 16)
    bad = AuthenStart(1, 1, 6, 1, b"u", data=b"\x02" + b"A" * 8 + b"R" * 49)  # 8, not 16
    c = conn()
    assert of(c.receive_data(Client(version=0xC1).packet(bad), 0.0), AuthenticationRefused)


def test_single_round_flows_cannot_be_prompted() -> None:
    c = conn()
    client = Client(version=0xC1)
    c.receive_data(client.packet(PAP), 0.0)
    with pytest.raises(LocalProtocolError):
        c.send_authen_reply(client.session_id, AuthenStatus.GETPASS)
    with pytest.raises(LocalProtocolError):
        c.send_authen_reply(client.session_id, AuthenStatus.RESTART)
    assert decode_one(c.send_authen_reply(client.session_id, AuthenStatus.ERROR))[1].status == 7  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------
# Authorization and accounting


def test_authorization_request_and_response() -> None:
    c = conn()
    client = Client()
    (ev,) = c.receive_data(client.packet(AUTHOR), 0.0)
    assert isinstance(ev, AuthorRequestReceived)
    assert ev.user == "alice" and ev.priv_lvl == 15
    assert ev.args[0] == AVPair("service", "shell")
    assert ev.command == "show version"
    out = c.send_author_response(
        client.session_id,
        AuthorStatus.PASS_ADD,
        args=[AVPair("priv-lvl", "15"), AVPair("timeout", "30", mandatory=False)],
        server_msg="ok",
    )
    h, body = decode_one(out)
    assert h.seq_no == 2
    assert body == AuthorResponse(AuthorStatus.PASS_ADD, (b"priv-lvl=15", b"timeout*30"), b"ok")


def test_authorization_argument_without_separator_is_an_error() -> None:
    c = conn()
    bad = AuthorRequest(6, 1, 1, 1, b"u", args=(b"service=shell", b"garbage"))
    events = c.receive_data(Client().packet(bad), 0.0)
    assert discarded(events).reason is DecodeFailure.BAD_FIELD
    assert decode_one(c.data_to_send())[1] == AuthorResponse(AuthorStatus.ERROR)


def test_accounting_request_and_reply() -> None:
    c = conn()
    client = Client()
    watchdog = AcctRequest(0x0A, 6, 1, 1, 1, b"alice", args=(b"task_id=5",))
    (ev,) = c.receive_data(client.packet(watchdog), 0.0)
    assert isinstance(ev, AcctRequestReceived)
    assert ev.flags == AcctFlag.WATCHDOG | AcctFlag.START
    assert ev.args == (AVPair("task_id", "5"),)
    h, body = decode_one(c.send_acct_reply(client.session_id, AcctStatus.SUCCESS, server_msg="ok"))
    assert (h.seq_no, body) == (2, AcctReply(AcctStatus.SUCCESS, b"ok"))


# ------------------------------------------------------------------------------------------
# The service's side: misuse is a LocalProtocolError


def test_send_misuse_raises_local_protocol_error() -> None:
    c = conn()
    client = Client(single=True)
    with pytest.raises(LocalProtocolError):
        c.send_authen_reply(0xDEAD, AuthenStatus.PASS)  # no such session
    c.receive_data(client.packet(AUTHOR), 0.0)
    with pytest.raises(LocalProtocolError):
        c.send_authen_reply(client.session_id, AuthenStatus.PASS)  # wrong type
    with pytest.raises(LocalProtocolError):
        c.send_author_response(client.session_id, AuthorStatus.FOLLOW)  # deprecated
    c.send_author_response(client.session_id, AuthorStatus.FAIL)
    with pytest.raises(LocalProtocolError):
        c.send_author_response(client.session_id, AuthorStatus.FAIL)  # answered already
    c2 = conn()
    c2.receive_data(Client().packet(ASCII_START), 0.0)
    with pytest.raises(LocalProtocolError):
        c2.send_authen_reply(Client.session_id, AuthenStatus.PASS)  # client's turn
    with pytest.raises(LocalProtocolError):
        c2.send_acct_reply(Client.session_id, AcctStatus.SUCCESS)


def test_a_failed_encode_leaves_the_session_waiting() -> None:
    c = conn()
    client = Client()
    c.receive_data(client.packet(AUTHOR), 0.0)
    with pytest.raises(LocalProtocolError):
        c.send_author_response(
            client.session_id, AuthorStatus.PASS_ADD, args=[AVPair("x", "y" * 300)]
        )
    out = c.send_author_response(client.session_id, AuthorStatus.PASS_ADD)
    assert decode_one(out)[0].seq_no == 2


# ------------------------------------------------------------------------------------------
# Timers


def test_session_timeout_while_waiting_for_the_client() -> None:
    c = conn(session_timeout=30.0, idle_timeout=600.0)
    client = Client()
    c.receive_data(client.packet(ASCII_START), 100.0)
    assert c.get_timer() == 130.0
    assert c.handle_timer(129.9) == []
    events = c.handle_timer(130.0)
    assert events == [
        SessionTimedOut(client.session_id),
        ConnectionShouldClose(CloseReason.SESSION_TIMEOUT),
    ]
    assert c.get_timer() is None


def test_session_timeout_in_single_connect_mode_keeps_the_connection() -> None:
    c = conn(session_timeout=30.0, idle_timeout=600.0)
    first = Client(session_id=1, single=True)
    c.receive_data(first.packet(AUTHOR), 0.0)
    c.send_author_response(1, AuthorStatus.PASS_ADD)
    c.receive_data(Client(session_id=2).packet(ASCII_START), 10.0)
    assert c.handle_timer(40.0) == [SessionTimedOut(2)]
    assert not c.should_close
    assert c.get_timer() == 610.0  # idle, counted from the last complete packet


def test_idle_timeout_closes_a_single_connect_connection() -> None:
    c = conn(idle_timeout=60.0, now=5.0)
    assert c.get_timer() == 65.0
    first = Client(single=True)
    c.receive_data(first.packet(AUTHOR), 10.0)
    assert c.get_timer() is None  # the service has the turn: no idle timer
    c.send_author_response(first.session_id, AuthorStatus.PASS_ADD)
    assert c.get_timer() == 70.0
    # a partial packet does not refresh the idle timer (slow-drip peers are cut off)
    c.receive_data(Client(session_id=3).packet(AUTHOR)[:5], 50.0)
    assert c.handle_timer(70.0) == [ConnectionShouldClose(CloseReason.IDLE_TIMEOUT)]
    assert c.should_close


# ------------------------------------------------------------------------------------------
# Hostile input never raises


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=60), max_size=8), st.booleans())
def test_random_streams_never_raise(chunks: list[bytes], with_header: bool) -> None:
    c = conn(keys=[KEY, b"other"], allow_unencrypted=True)
    if with_header and chunks:
        body = chunks[0]
        chunks[0] = bytes((0xC0 | (len(body) & 1), 1 + len(body) % 3, 1, len(body) % 8)) + (
            (1).to_bytes(4, "big") + len(body).to_bytes(4, "big") + body
        )
    for i, chunk in enumerate(chunks):
        events = c.receive_data(chunk, float(i))
        for e in events:
            assert isinstance(
                e,
                (
                    PacketDiscarded,
                    BadKey,
                    ConnectionShouldClose,
                    AuthenStartReceived,
                    AuthenticationRequested,
                    AuthenticationRefused,
                    AuthorRequestReceived,
                    AcctRequestReceived,
                ),
            )
    c.handle_timer(1e9)
    for raw in split_packets(c.data_to_send()):
        assert raw[2] % 2 == 0  # everything we sent has an even seq_no


def test_the_key_is_not_in_the_repr() -> None:
    c = conn(keys=[b"topsecretkey"])
    assert "topsecretkey" not in repr(c)
    c.receive_data(Client(key=b"topsecretkey", version=0xC1).packet(PAP), 0.0)
    assert "topsecretkey" not in repr(c) and "hunter2" not in repr(c)


def test_encode_packet_helper_agrees_with_tacacs_plus_on_a_server_reply() -> None:
    raw = encode_packet(AuthenReply(1), version=0xC1, seq_no=2, session_id=1, key=KEY)
    header = TACACSHeader.unpacked(raw[:12])
    assert TACACSAuthenticationReply.unpacked(crypt(header, raw[12:], KEY.decode())).status == 1
