"""RFC 5176 requests, answers, vendor flavours and the identifier/retransmission core."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.coa import (
    Action,
    CoaClient,
    CoaRequest,
    ErrorCause,
    Outgoing,
    PacketDiscarded,
    ResponseReceived,
    SessionIdentity,
    TimedOut,
    UnsupportedAction,
    error_cause_words,
    pull_response,
    push_request,
    session_request,
)
from radius.constants import AttrType, Code
from radius.crypto import message_authenticator, response_authenticator
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.packet import decode_packet, encode_packet, pull_vsa

SECRET = b"testing123"

# Hand-computed (hashlib.md5 over the octets written out below, not this module):
# Disconnect-Request, Identifier 7, Acct-Session-Id "0000000000000001", Event-Timestamp
# 1600000000, no Message-Authenticator, secret "testing123".
#   MD5(28 07 00 2c | 16 x 00 | 2c 12 "0000000000000001" | 37 06 5f 5e 10 00 | "testing123")
HAND_PACKET = bytes.fromhex(
    "2807002c94b4b7bfcabc3ad32b3dcaab23d6437d2c123030303030303030303030303030303137065f5e1000"
)
# The same with a Message-Authenticator first: HMAC-MD5 over the packet with a zero
# authenticator and a zero value (RFC 5176 3.3), then the Request Authenticator over that.
HAND_MA = bytes.fromhex("eb69b0cff2c2d2b38e9a86cd9f6d7ef4")
HAND_AUTH_WITH_MA = bytes.fromhex("073d871af04df1a1cebe88570de941fd")
# Its Disconnect-ACK with Error-Cause 201: MD5(29 07 00 1a | request authenticator |
# 65 06 00 00 00 c9 | secret).
HAND_ACK = bytes.fromhex("2907001a60298643e4c662e6e4577231329abb6a6506000000c9")

SESSION_ATTR = (int(AttrType.AcctSessionId), b"0000000000000001")


def request(ma: bool = True, code: int = 40, ident: int = 7) -> CoaRequest:
    return push_request(
        code,
        ident,
        [SESSION_ATTR],
        SECRET,
        event_timestamp=1_600_000_000,
        with_message_authenticator=ma,
    )


def answer(
    req: CoaRequest,
    code: int,
    attrs: list[tuple[int, bytes]],
    *,
    ma: bool = False,
    secret: bytes = SECRET,
    ident: int | None = None,
) -> bytes:
    """An answer built the way a DAS builds it (RFC 5176 3.3, 3.5)."""
    ident = req.identifier if ident is None else ident
    if ma:
        attrs = [(80, bytes(16)), *attrs]
        draft = encode_packet(code, ident, req.authenticator, attrs)
        attrs[0] = (80, message_authenticator(draft, secret))
    body = encode_packet(code, ident, bytes(16), attrs)[20:]
    auth = response_authenticator(code, ident, req.authenticator, body, secret)
    return encode_packet(code, ident, auth, attrs)


# --- requests ----------------------------------------------------------------------------------


def test_request_authenticator_matches_the_hand_computed_vector() -> None:
    req = request(ma=False)
    assert req.data == HAND_PACKET
    assert req.authenticator == HAND_PACKET[4:20]


def test_message_authenticator_goes_first_and_matches_the_hand_computed_vector() -> None:
    req = request(ma=True)
    pkt = decode_packet(req.data)
    assert pkt.attributes[0] == (80, HAND_MA)
    assert req.authenticator == HAND_AUTH_WITH_MA
    # And independently: the HMAC over the zeroed packet, then MD5 over the finished one.
    zeroed = req.data[:4] + bytes(16) + req.data[20:22] + bytes(16) + req.data[38:]
    assert hmac.new(SECRET, zeroed, hashlib.md5).digest() == HAND_MA
    finished = req.data[:4] + bytes(16) + req.data[20:] + SECRET
    assert hashlib.md5(finished).digest() == req.authenticator


def test_event_timestamp_is_added_once() -> None:
    req = request()
    assert decode_packet(req.data).get(55) == struct.pack("!I", 1_600_000_000)
    given_ts = (55, struct.pack("!I", 5))
    again = push_request(40, 1, [SESSION_ATTR, given_ts], SECRET, event_timestamp=9)
    assert decode_packet(again.data).get_all(55) == [struct.pack("!I", 5)]
    none = push_request(40, 1, [SESSION_ATTR], SECRET, event_timestamp=None)
    assert decode_packet(none.data).get(55) is None


@pytest.mark.parametrize(
    ("code", "ident", "secret"), [(1, 0, SECRET), (4, 0, SECRET), (40, 256, SECRET), (43, 0, b"")]
)
def test_push_request_refuses_what_rfc_5176_does_not_allow(
    code: int, ident: int, secret: bytes
) -> None:
    with pytest.raises(LocalProtocolError):
        push_request(code, ident, [SESSION_ATTR], secret, event_timestamp=None)


# --- answers -----------------------------------------------------------------------------------


def test_hand_computed_ack_decodes_with_its_error_cause() -> None:
    req = request(ma=True)
    resp = pull_response(HAND_ACK, req, SECRET)
    assert resp.acked and resp.code == 41
    assert resp.error_causes == (201,)
    assert resp.reason == "201 Residual Session Context Removed"
    assert not resp.message_authenticator


def test_nak_with_message_authenticator_and_error_cause_words() -> None:
    req = request(code=43)
    data = answer(req, 45, [(101, struct.pack("!I", 401))], ma=True)
    resp = pull_response(data, req, SECRET, require_message_authenticator=True)
    assert not resp.acked and resp.message_authenticator
    assert resp.reason == "401 Unsupported Attribute"
    assert ErrorCause(resp.error_causes[0]) is ErrorCause.UnsupportedAttribute


def test_error_cause_words() -> None:
    assert error_cause_words(503) == "503 Session Context Not Found"
    assert error_cause_words(508) == "508 Multiple Session Selection Unsupported"
    assert error_cause_words(499) == "499 unknown (client error)"
    assert error_cause_words(7) == "7 unknown (unassigned)"


def _ma_broken(req: CoaRequest) -> bytes:
    data = bytearray(answer(req, 41, [], ma=True))
    data[25] ^= 1  # inside the Message-Authenticator value; fix the authenticator after
    body = bytes(data[20:])
    data[4:20] = response_authenticator(41, req.identifier, req.authenticator, body, SECRET)
    return bytes(data)


def _with_body(req: CoaRequest, attrs: list[tuple[int, bytes]], code: int = 41) -> bytes:
    return answer(req, code, attrs)


def _raw_body(req: CoaRequest, body: bytes, code: int = 41) -> bytes:
    length = 20 + len(body)
    auth = response_authenticator(code, req.identifier, req.authenticator, body, SECRET)
    return bytes((code, req.identifier, length >> 8, length & 0xFF)) + auth + body


FAILURES = {
    DecodeFailure.too_short: lambda r: b"\x29\x07\x00\x14",
    DecodeFailure.too_long: lambda r: b"\x29\x07\x10\x01" + bytes(16),
    DecodeFailure.length_mismatch: lambda r: b"\x29\x07\x00\x30" + bytes(16),
    DecodeFailure.attribute_too_short: lambda r: _raw_body(r, b"\x01\x01"),
    DecodeFailure.attribute_overflow: lambda r: _raw_body(r, b"\x01\x09abc"),
    DecodeFailure.bad_vsa: lambda r: _raw_body(r, b"\x1a\x04ab"),
    DecodeFailure.unexpected_response: lambda r: answer(r, 44, []),  # CoA-ACK to a Disconnect
    DecodeFailure.bad_authenticator: lambda r: answer(r, 41, [], secret=b"wrong"),
    DecodeFailure.bad_message_authenticator: _ma_broken,
    DecodeFailure.message_authenticator_length: lambda r: _raw_body(r, b"\x50\x06abcd"),
    DecodeFailure.multiple_message_authenticator: lambda r: _raw_body(
        r, b"\x50\x12" + bytes(16) + b"\x50\x12" + bytes(16)
    ),
    DecodeFailure.bad_attribute_value: lambda r: _with_body(r, [(101, b"\x00\x01")]),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=str)
def test_every_decode_failure_is_named(failure: DecodeFailure) -> None:
    req = request()
    with pytest.raises(DecodeError) as info:
        pull_response(FAILURES[failure](req), req, SECRET)
    assert info.value.reason is failure


def test_missing_message_authenticator_when_required() -> None:
    req = request()
    data = answer(req, 41, [])
    assert pull_response(data, req, SECRET).acked
    with pytest.raises(DecodeError) as info:
        pull_response(data, req, SECRET, require_message_authenticator=True)
    assert info.value.reason is DecodeFailure.missing_message_authenticator


def test_an_answer_with_another_identifier_is_unexpected() -> None:
    req = request()
    with pytest.raises(DecodeError) as info:
        pull_response(answer(req, 41, [], ident=8), req, SECRET)
    assert info.value.reason is DecodeFailure.unexpected_response


@given(st.binary(max_size=120))
def test_decode_or_decode_error_nothing_else(data: bytes) -> None:
    req = request()
    with contextlib.suppress(DecodeError):
        pull_response(data, req, SECRET)


@given(st.binary(max_size=60), st.sampled_from([41, 42]))
def test_any_body_under_a_valid_header_decodes_or_fails_by_name(body: bytes, code: int) -> None:
    req = request()
    try:
        resp = pull_response(_raw_body(req, body, code), req, SECRET)
    except DecodeError as exc:
        assert isinstance(exc.reason, DecodeFailure)
    else:
        assert resp.code == code


# --- vendor flavours ---------------------------------------------------------------------------

SESSION = SessionIdentity(
    nas_ip="192.0.2.10",
    acct_session_id="0000002A",
    calling_station_id="00-11-22-33-44-55",
    username="alice",
    nas_port=50101,
    nas_port_id="GigabitEthernet1/0/1",
    framed_ip="10.1.2.3",
    class_=b"cls",
)


def names(attrs: list[tuple[int, bytes]]) -> list[int]:
    return [t for t, _ in attrs]


def test_generic_disconnect_carries_nas_user_session_and_station() -> None:
    code, attrs = session_request("generic", Action.disconnect, SESSION)
    assert code == Code.DisconnectRequest
    assert attrs == [
        (4, bytes([192, 0, 2, 10])),
        (1, b"alice"),
        (44, b"0000002A"),
        (31, b"00-11-22-33-44-55"),
    ]


def test_generic_reauthenticate_is_a_disconnect() -> None:
    assert session_request("generic", "reauthenticate", SESSION)[0] == Code.DisconnectRequest


def test_cisco_sends_exactly_the_accounting_identifiers_and_the_command() -> None:
    for action, command in [
        (Action.reauthenticate, b"subscriber:command=reauthenticate"),
        (Action.bounce_port, b"subscriber:command=bounce-host-port"),
        (Action.disable_port, b"subscriber:command=disable-host-port"),
    ]:
        code, attrs = session_request("cisco", action, SESSION)
        assert code == Code.CoARequest
        assert attrs[:3] == [
            (4, bytes([192, 0, 2, 10])),
            (44, b"0000002A"),
            (31, b"00-11-22-33-44-55"),
        ]
        assert len(attrs) == 4
        assert pull_vsa(attrs[3][1]) == (9, [(1, command)])
    code, attrs = session_request("cisco", "disconnect", SESSION)
    assert code == Code.DisconnectRequest and names(attrs) == [4, 44, 31]  # no User-Name


def test_cisco_leaves_out_what_accounting_did_not_report() -> None:
    partial = SessionIdentity(nas_ip="192.0.2.10", calling_station_id="00-11-22-33-44-55")
    _, attrs = session_request("cisco", "reauthenticate", partial)
    assert names(attrs) == [4, 31, 26]


def test_aruba_identifies_by_nas_port_and_applies_a_role() -> None:
    from radius.coa import aruba_role

    code, attrs = session_request("aruba", Action.coa, SESSION, [aruba_role("quarantine")])
    assert code == Code.CoARequest
    assert names(attrs) == [4, 1, 5, 31, 26]
    assert attrs[2] == (5, struct.pack("!I", 50101))
    assert pull_vsa(attrs[4][1]) == (14823, [(1, b"quarantine")])
    assert session_request("aruba", "reauthenticate", SESSION)[0] == Code.DisconnectRequest
    with pytest.raises(UnsupportedAction):
        session_request("aruba", "bounce-port", SESSION)


def test_juniper_bounce_and_identity() -> None:
    code, attrs = session_request("juniper", "bounce-port", SESSION)
    assert code == Code.CoARequest and names(attrs) == [4, 44, 31, 26]
    assert pull_vsa(attrs[3][1]) == (2636, [(51, b"Port-Bounce")])
    with pytest.raises(UnsupportedAction):
        session_request("juniper", "disable-port", SESSION)


def test_ipv6_nas_and_no_identifiers() -> None:
    _, attrs = session_request(
        "generic", "disconnect", SessionIdentity(nas_ip="2001:db8::1", username="u")
    )
    assert attrs[0][0] == int(AttrType.NasIpv6Address)
    with pytest.raises(LocalProtocolError):
        session_request("generic", "disconnect", SessionIdentity(nas_ip="192.0.2.1"))
    with pytest.raises(LocalProtocolError):
        session_request("generic", "coa-with-attributes", SESSION)  # nothing to change


# --- the client core ---------------------------------------------------------------------------

NAS = ("192.0.2.10", 3799)


def sent(out: Outgoing | None) -> Outgoing:
    assert out is not None
    return out


def test_retransmits_the_same_bytes_with_exponential_backoff_then_times_out() -> None:
    core = CoaClient(timeout=1.0, tries=3)
    first = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=100.0, event_timestamp=1, tag="a"))
    assert core.next_deadline() == 101.0
    assert core.handle_timer(100.9) == []
    again = core.handle_timer(101.0)
    assert len(again) == 1 and isinstance(again[0], Outgoing)
    assert again[0].data == first.data and again[0].attempt == 2
    assert core.next_deadline() == 103.0  # 2 s after the second try
    third = core.handle_timer(103.0)
    assert isinstance(third[0], Outgoing) and third[0].attempt == 3
    assert core.next_deadline() == 107.0  # 4 s after the third
    done = core.handle_timer(107.0)
    assert len(done) == 1 and isinstance(done[0], TimedOut) and done[0].attempts == 3
    assert core.in_flight() == 0 and core.next_deadline() is None
    assert core.counters["retransmitted"] == 2 and core.counters["timed_out"] == 1


def test_answers_match_by_socket_nas_and_identifier_and_free_the_identifier() -> None:
    core = CoaClient(sockets=2)
    other = (int(AttrType.AcctSessionId), b"0000000000000002")
    a = sent(core.send(NAS, 40, [other], SECRET, now=0, event_timestamp=1, tag="a"))
    b = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag="b"))
    assert a.socket != b.socket  # spread over the sockets
    assert a.data[1] == b.data[1]  # the same identifier, told apart by the socket
    req_b = decode_packet(b.data)
    req = CoaRequest(40, req_b.identifier, req_b.authenticator, req_b.attributes, b.data)
    reply = answer(req, 41, [])
    # The right bytes on the wrong socket, or from another port, match nothing.
    wrong = core.receive_datagram(a.socket, reply, NAS)  # a's identifier, b's authenticator
    assert isinstance(wrong, PacketDiscarded) and wrong.reason is DecodeFailure.bad_authenticator
    other_port = core.receive_datagram(b.socket, reply, ("192.0.2.10", 1700))
    assert isinstance(other_port, PacketDiscarded)
    assert other_port.reason is DecodeFailure.unexpected_response
    got = core.receive_datagram(b.socket, reply, ("::ffff:192.0.2.10", 3799))
    assert isinstance(got, ResponseReceived) and got.tag == "b" and got.response.acked
    assert core.in_flight(NAS) == 1
    # A duplicate of the same answer now matches nothing.
    dup = core.receive_datagram(b.socket, reply, NAS)
    assert isinstance(dup, PacketDiscarded) and dup.reason is DecodeFailure.unexpected_response


def test_a_forged_answer_is_discarded_and_the_request_stays_in_flight() -> None:
    core = CoaClient()
    out = sent(core.send(NAS, 43, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag="x"))
    pkt = decode_packet(out.data)
    req = CoaRequest(43, pkt.identifier, pkt.authenticator, pkt.attributes, out.data)
    forged = core.receive_datagram(out.socket, answer(req, 44, [], secret=b"guess"), NAS)
    assert isinstance(forged, PacketDiscarded) and forged.reason is DecodeFailure.bad_authenticator
    assert core.in_flight() == 1
    assert core.counters["discarded_bad_authenticator"] == 1
    real = core.receive_datagram(out.socket, answer(req, 45, [(101, struct.pack("!I", 503))]), NAS)
    assert isinstance(real, ResponseReceived) and real.response.reason.startswith("503")


def test_more_than_256_in_flight_to_one_nas_never_collide() -> None:
    core = CoaClient(sockets=1)
    keys = set()
    for i in range(256):
        out = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag=i))
        keys.add((out.socket, out.data[1]))
    assert core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1) is None
    assert core.counters["no_identifier"] == 1
    # Another NAS has its own identifiers; another socket gives this one 256 more.
    assert core.send(("192.0.2.11", 3799), 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1)
    core.add_socket()
    for i in range(256, 600):
        out = core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag=i)
        if out is None:
            core.add_socket()
            out = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag=i))
        keys.add((out.socket, out.data[1]))
    assert len(keys) == 600 and core.in_flight(NAS) == 600


def test_a_freed_identifier_is_not_reused_at_once() -> None:
    core = CoaClient()
    first = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag=1))
    core.cancel(1)
    second = sent(core.send(NAS, 40, [SESSION_ATTR], SECRET, now=0, event_timestamp=1, tag=2))
    assert first.data[1] != second.data[1]
