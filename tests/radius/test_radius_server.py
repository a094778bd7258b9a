from __future__ import annotations

import hashlib
import hmac

import pytest

from radius.constants import AttrType, Code
from radius.crypto import (
    accounting_request_authenticator,
    message_authenticator,
    response_authenticator,
    verify_message_authenticator,
)
from radius.errors import DecodeFailure, LocalProtocolError
from radius.packet import decode_packet, encode_packet, push_attributes
from radius.server import (
    ClientConfig,
    DuplicateIgnored,
    DuplicateReplied,
    PacketDiscarded,
    RadiusServer,
    RequestReceived,
    StatusServerReceived,
)

SECRET = b"xyzzy5461"
ADDR = ("192.0.2.10", 40000)


def make_server(require: str = "auto", limit: str = "auto", **kw: object) -> RadiusServer:
    client = ClientConfig("nas1", SECRET, require, limit)  # type: ignore[arg-type]
    return RadiusServer(lambda ip: client if ip == ADDR[0] else None, **kw)  # type: ignore[arg-type]


def access_request(
    ident: int = 1,
    auth: bytes = b"A" * 16,
    attrs: list[tuple[int, bytes]] | None = None,
    with_ma: bool = False,
    secret: bytes = SECRET,
    code: int = 1,
) -> bytes:
    attrs = list(attrs if attrs is not None else [(1, b"bob"), (2, bytes(16))])
    if not with_ma:
        return encode_packet(code, ident, auth, attrs)
    zeroed = encode_packet(code, ident, auth, [(80, bytes(16)), *attrs])
    mac = message_authenticator(zeroed, secret)
    return encode_packet(code, ident, auth, [(80, mac), *attrs])


def accounting_request(ident: int = 5, attrs: list[tuple[int, bytes]] | None = None) -> bytes:
    attrs = attrs if attrs is not None else [(40, b"\x00\x00\x00\x01"), (44, b"s1")]
    body = push_attributes(attrs)
    auth = accounting_request_authenticator(4, ident, body, SECRET)
    return encode_packet(4, ident, auth, attrs)


def discarded(event: object) -> DecodeFailure:
    assert isinstance(event, PacketDiscarded), event
    return event.reason


def test_unknown_client() -> None:
    s = make_server()
    ev = s.receive_datagram(access_request(), ("198.51.100.1", 1), 0.0)
    assert discarded(ev) is DecodeFailure.unknown_client
    assert s.counters["unknown_client"] == 1


def test_decode_error_and_unknown_code_discarded() -> None:
    s = make_server()
    assert discarded(s.receive_datagram(b"\x01\x02", ADDR, 0.0)) is DecodeFailure.too_short
    for code in (2, 3, 5, 11, 13, 40, 43, 99):
        ev = s.receive_datagram(access_request(code=code), ADDR, 0.0)
        assert discarded(ev) is DecodeFailure.unknown_code
    assert s.counters["unknown_code"] == 8
    assert s.counters["packet_discarded"] == 9


def test_access_request_received_and_reply(rfc2865: dict[str, bytes]) -> None:
    s = make_server()
    data = rfc2865["7.1 access-request"]
    ev = s.receive_datagram(data, ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    assert ev.packet.get(AttrType.UserName) == b"nemo"
    assert ev.key == (ADDR[0], ADDR[1], 1, 0, ev.packet.authenticator)
    attrs = [(6, b"\x00\x00\x00\x01"), (15, b"\x00\x00\x00\x00"), (14, bytes([192, 168, 1, 3]))]
    out = s.reply(ev, Code.AccessAccept, attrs, 0.1)
    reply = decode_packet(out)
    # Message-Authenticator first, then the RFC 7.1 attributes.
    assert reply.attributes[0][0] == 80
    assert reply.attributes[1:] == tuple(attrs)
    assert verify_message_authenticator(out, 20, SECRET, ev.packet.authenticator)
    expected = response_authenticator(2, 0, ev.packet.authenticator, out[20:], SECRET)
    assert reply.authenticator == expected
    # Without the Message-Authenticator the bytes would be the RFC's Access-Accept exactly.
    rfc_accept = rfc2865["7.1 access-accept"]
    assert out[38:] == rfc_accept[20:]


def test_reply_verifies_with_pyrad_client() -> None:
    from pyrad.dictionary import Dictionary
    from pyrad.packet import AuthPacket

    from radius.dictionary import dictionary_path

    d = Dictionary(str(dictionary_path()))
    req = AuthPacket(code=1, id=9, secret=SECRET, dict=d, authenticator=b"Q" * 16)
    req["User-Name"] = "alice"
    req["Proxy-State"] = b"ps1"
    req.add_message_authenticator()
    raw = req.RequestPacket()
    s = make_server()
    ev = s.receive_datagram(raw, ADDR, 0.0)
    assert isinstance(ev, RequestReceived), ev
    assert s.message_authenticator_seen("nas1")
    out = s.reply(ev, Code.AccessReject, [(18, b"no")], 0.0)
    reply = req.CreateReply(packet=out)
    assert req.VerifyReply(reply, out, enforce_ma=True)


def test_bad_accounting_authenticator() -> None:
    s = make_server()
    good = accounting_request()
    ev = s.receive_datagram(good, ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    bad = good[:4] + bytes(16) + good[20:]
    assert discarded(s.receive_datagram(bad, ADDR, 0.0)) is DecodeFailure.bad_authenticator
    out = s.reply(ev, Code.AccountingResponse, [], 0.0)
    assert len(out) == 20  # no Message-Authenticator on Accounting-Response
    assert out[4:20] == hashlib.md5(out[:4] + good[4:20] + SECRET).digest()
    with pytest.raises(LocalProtocolError):
        s.reply(ev, Code.AccessAccept, [], 0.0)


def test_accounting_with_message_authenticator() -> None:
    attrs = [(40, b"\x00\x00\x00\x02"), (80, bytes(16))]
    # RFC 5176 3.3-style: HMAC over the packet with a zero Authenticator field.
    zeroed = encode_packet(4, 6, bytes(16), attrs)
    mac = message_authenticator(zeroed, SECRET)
    attrs = [(40, b"\x00\x00\x00\x02"), (80, mac)]
    body = push_attributes(attrs)
    good = encode_packet(4, 6, accounting_request_authenticator(4, 6, body, SECRET), attrs)
    s = make_server()
    assert isinstance(s.receive_datagram(good, ADDR, 0.0), RequestReceived)
    attrs = [(40, b"\x00\x00\x00\x02"), (80, bytes(16))]
    body = push_attributes(attrs)
    bad = encode_packet(4, 7, accounting_request_authenticator(4, 7, body, SECRET), attrs)
    assert discarded(s.receive_datagram(bad, ADDR, 0.0)) is DecodeFailure.bad_message_authenticator


def test_bad_message_authenticator() -> None:
    s = make_server()
    data = access_request(with_ma=True, secret=b"wrong")
    assert discarded(s.receive_datagram(data, ADDR, 0.0)) is DecodeFailure.bad_message_authenticator
    assert not s.message_authenticator_seen("nas1")


def test_message_authenticator_length_and_multiplicity() -> None:
    s = make_server()
    data = access_request(attrs=[(1, b"bob"), (80, bytes(15))])
    assert (
        discarded(s.receive_datagram(data, ADDR, 0.0)) is DecodeFailure.message_authenticator_length
    )
    data = access_request(attrs=[(80, bytes(16)), (1, b"bob"), (80, bytes(16))])
    reason = discarded(s.receive_datagram(data, ADDR, 0.0))
    assert reason is DecodeFailure.multiple_message_authenticator


def test_eap_without_message_authenticator() -> None:
    s = make_server(require="no", limit="no")
    data = access_request(attrs=[(1, b"bob"), (79, b"\x02\x01\x00\x05\x01")])
    reason = discarded(s.receive_datagram(data, ADDR, 0.0))
    assert reason is DecodeFailure.eap_without_message_authenticator


def test_blastradius_auto() -> None:
    s = make_server("auto")
    assert isinstance(s.receive_datagram(access_request(1), ADDR, 0.0), RequestReceived)
    assert not s.message_authenticator_seen("nas1")
    assert isinstance(
        s.receive_datagram(access_request(2, with_ma=True), ADDR, 0.0), RequestReceived
    )
    assert s.message_authenticator_seen("nas1")
    reason = discarded(s.receive_datagram(access_request(3), ADDR, 0.0))
    assert reason is DecodeFailure.missing_message_authenticator
    # Accounting is not affected.
    assert isinstance(s.receive_datagram(accounting_request(), ADDR, 0.0), RequestReceived)


def test_blastradius_yes_and_no() -> None:
    s = make_server("yes")
    assert discarded(s.receive_datagram(access_request(1), ADDR, 0.0)) is (
        DecodeFailure.missing_message_authenticator
    )
    assert isinstance(
        s.receive_datagram(access_request(2, with_ma=True), ADDR, 0.0), RequestReceived
    )
    s = make_server("no", "no")
    assert isinstance(
        s.receive_datagram(access_request(2, with_ma=True), ADDR, 0.0), RequestReceived
    )
    ev = s.receive_datagram(access_request(3, attrs=[(1, b"x"), (33, b"p")]), ADDR, 0.0)
    assert isinstance(ev, RequestReceived)


def test_limit_proxy_state() -> None:
    with_ps = [(1, b"bob"), (2, bytes(16)), (33, b"proxy")]
    s = make_server("no", "yes")
    reason = discarded(s.receive_datagram(access_request(1, attrs=with_ps), ADDR, 0.0))
    assert reason is DecodeFailure.proxy_state_without_message_authenticator
    assert isinstance(s.receive_datagram(access_request(2), ADDR, 0.0), RequestReceived)
    ev = s.receive_datagram(access_request(3, attrs=with_ps, with_ma=True), ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    s = make_server("no", "auto")
    ev = s.receive_datagram(access_request(1, attrs=with_ps), ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    s.receive_datagram(access_request(2, with_ma=True), ADDR, 0.0)
    reason = discarded(s.receive_datagram(access_request(4, attrs=with_ps), ADDR, 0.0))
    assert reason is DecodeFailure.proxy_state_without_message_authenticator
    assert isinstance(s.receive_datagram(access_request(5), ADDR, 0.0), RequestReceived)


def test_status_server() -> None:
    s = make_server()
    no_ma = access_request(attrs=[], code=12)
    assert discarded(s.receive_datagram(no_ma, ADDR, 0.0)) is (
        DecodeFailure.missing_message_authenticator
    )
    data = access_request(attrs=[(32, b"nas")], with_ma=True, code=12)
    ev = s.receive_datagram(data, ADDR, 0.0)
    assert isinstance(ev, StatusServerReceived)
    # Never in the duplicate cache, no side effects.
    assert isinstance(s.receive_datagram(data, ADDR, 0.0), StatusServerReceived)
    assert len(s) == 0
    assert not s.message_authenticator_seen("nas1")
    for code in (Code.AccessAccept, Code.AccountingResponse):
        out = s.reply_status(ev, code, [])
        assert out[0] == code and out[20] == 80
        assert verify_message_authenticator(out, 20, SECRET, ev.packet.authenticator)
        assert out[4:20] == response_authenticator(
            code, out[1], ev.packet.authenticator, out[20:], SECRET
        )
    with pytest.raises(LocalProtocolError):
        s.reply_status(ev, Code.AccessReject, [])
    bad = access_request(attrs=[], with_ma=True, code=12, secret=b"nope")
    assert discarded(s.receive_datagram(bad, ADDR, 0.0)) is DecodeFailure.bad_message_authenticator


def test_duplicates_in_progress_replied_expiry() -> None:
    s = make_server(duplicate_ttl=10.0)
    data = access_request(7)
    ev = s.receive_datagram(data, ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    assert isinstance(s.receive_datagram(data, ADDR, 0.5), DuplicateIgnored)
    out = s.reply(ev, Code.AccessAccept, [], 1.0)
    dup = s.receive_datagram(data, ADDR, 5.0)
    assert isinstance(dup, DuplicateReplied) and dup.data == out and dup.addr == ADDR
    # Same identifier from another source port is a different request.
    assert isinstance(s.receive_datagram(data, (ADDR[0], 40001), 5.0), RequestReceived)
    # Same id, new authenticator: a new request.
    assert isinstance(s.receive_datagram(access_request(7, b"B" * 16), ADDR, 5.0), RequestReceived)
    assert isinstance(s.receive_datagram(data, ADDR, 10.9), DuplicateReplied)
    assert isinstance(s.receive_datagram(data, ADDR, 11.0), RequestReceived)
    assert s.counters["duplicate_ignored"] == 1
    assert s.counters["duplicate_replied"] == 2


def test_forget_releases_key() -> None:
    s = make_server()
    data = accounting_request()
    ev = s.receive_datagram(data, ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    s.forget(ev.key)
    ev2 = s.receive_datagram(data, ADDR, 1.0)
    assert isinstance(ev2, RequestReceived)
    s.reply(ev2, Code.AccountingResponse, [], 1.0)
    s.forget(ev2.key)  # already answered: forget keeps the reply
    assert isinstance(s.receive_datagram(data, ADDR, 2.0), DuplicateReplied)


def test_in_progress_timeout_and_bounded_size() -> None:
    s = make_server(max_entries=3, in_progress_timeout=20.0)
    for i in range(5):
        assert isinstance(s.receive_datagram(access_request(i), ADDR, 0.0), RequestReceived)
    assert len(s) == 3
    assert s.counters["evicted"] == 2
    # The oldest were evicted: a retransmission of request 0 is processed again.
    assert isinstance(s.receive_datagram(access_request(0), ADDR, 1.0), RequestReceived)
    assert isinstance(s.receive_datagram(access_request(4), ADDR, 1.0), DuplicateIgnored)
    assert isinstance(s.receive_datagram(access_request(4), ADDR, 20.0), RequestReceived)


def test_duplicate_ttl_bounds() -> None:
    with pytest.raises(ValueError):
        make_server(duplicate_ttl=4.0)
    with pytest.raises(ValueError):
        make_server(duplicate_ttl=31.0)
    with pytest.raises(ValueError):
        ClientConfig("x", SECRET, "maybe")  # type: ignore[arg-type]
    assert "xyzzy" not in repr(ClientConfig("x", SECRET))


def test_proxy_state_copied_in_order() -> None:
    s = make_server()
    attrs = [(33, b"first"), (1, b"bob"), (2, bytes(16)), (33, b"second"), (33, b"third")]
    ev = s.receive_datagram(access_request(attrs=attrs, with_ma=True), ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    out = s.reply(ev, Code.AccessChallenge, [(24, b"state"), (18, b"hi")], 0.0)
    reply = decode_packet(out)
    types = [t for t, _ in reply.attributes]
    assert types == [80, 24, 18, 33, 33, 33]
    assert reply.get_all(33) == [b"first", b"second", b"third"]
    assert verify_message_authenticator(out, 20, SECRET, ev.packet.authenticator)
    expected_mac = hmac.new(
        SECRET,
        out[:4] + ev.packet.authenticator + bytes((80, 18)) + bytes(16) + out[38:],
        "md5",
    ).digest()
    assert out[22:38] == expected_mac


def test_reply_size_limit() -> None:
    s = make_server()
    ev = s.receive_datagram(access_request(), ADDR, 0.0)
    assert isinstance(ev, RequestReceived)
    with pytest.raises(LocalProtocolError):
        s.reply(ev, Code.AccessAccept, [(18, bytes(253))] * 16, 0.0)
    # Still in progress (the caller forgets it); then a legal reply works.
    assert isinstance(s.receive_datagram(access_request(), ADDR, 0.0), DuplicateIgnored)
    out = s.reply(ev, Code.AccessAccept, [(18, bytes(253))] * 15, 0.0)
    assert len(out) == 20 + 18 + 15 * 255


def test_missing_credentials_optional() -> None:
    s = make_server(discard_without_credentials=True)
    reason = discarded(s.receive_datagram(access_request(1, attrs=[(1, b"bob")]), ADDR, 0.0))
    assert reason is DecodeFailure.missing_user_credentials
    call_check = [(1, b"0011"), (6, b"\x00\x00\x00\x0a")]
    assert isinstance(
        s.receive_datagram(access_request(2, attrs=call_check), ADDR, 0.0), RequestReceived
    )
    s = make_server()
    assert isinstance(
        s.receive_datagram(access_request(1, attrs=[(1, b"b")]), ADDR, 0.0), RequestReceived
    )
