from __future__ import annotations

import asyncio
import select
import socket

import pytest

from radius.aio import RadiusProtocol, Reply, open_listener
from radius.constants import Code
from radius.crypto import message_authenticator, response_authenticator, unhide_password
from radius.errors import DecodeFailure
from radius.packet import decode_packet, encode_packet
from radius.server import ClientConfig, Event, PacketDiscarded, RadiusServer, RequestReceived

SECRET = b"testing123"


def pap_request(ident: int, password: bytes = b"pw") -> bytes:
    from radius.crypto import hide_password

    auth = bytes([ident]) * 16
    attrs = [(80, bytes(16)), (1, b"alice"), (2, hide_password(password, SECRET, auth))]
    mac = message_authenticator(encode_packet(1, ident, auth, attrs), SECRET)
    attrs[0] = (80, mac)
    return encode_packet(1, ident, auth, attrs)


async def exchange(
    port: int,
    datagrams: list[bytes],
    expect: int,
    family: int = socket.AF_INET,
    host: str = "127.0.0.1",
) -> list[bytes]:
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            got.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(
        Client, remote_addr=(host, port), family=family
    )
    try:
        for d in datagrams:
            transport.sendto(d)
        return [await asyncio.wait_for(got.get(), 2.0) for _ in range(expect)]
    finally:
        transport.close()


def make_server() -> RadiusServer:
    client = ClientConfig("local", SECRET)
    return RadiusServer(lambda ip: client if ip in ("127.0.0.1", "::1") else None)


def check_password(event: RequestReceived) -> Reply:
    pw = unhide_password(event.packet.get(2) or b"", SECRET, event.packet.authenticator)
    return (Code.AccessAccept if pw == b"pw" else Code.AccessReject, [(18, b"hello")])


async def test_sync_handler_round_trip_and_garbage() -> None:
    events: list[Event] = []
    server = make_server()
    transport, proto = await open_listener(
        "127.0.0.1", 0, server, check_password, on_event=events.append
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        req = pap_request(1)
        replies = await exchange(port, [b"\x00garbage", req], 1)
        reply = decode_packet(replies[0])
        assert reply.code == Code.AccessAccept and reply.identifier == 1
        assert reply.attributes[0][0] == 80 and reply.get(18) == b"hello"
        auth = response_authenticator(2, 1, req[4:20], replies[0][20:], SECRET)
        assert reply.authenticator == auth
        assert any(
            isinstance(e, PacketDiscarded) and e.reason is DecodeFailure.too_short for e in events
        )
        bad = await exchange(port, [pap_request(2, b"wrong")], 1)
        assert decode_packet(bad[0]).code == Code.AccessReject
    finally:
        await proto.close()


async def test_async_handler_and_duplicates() -> None:
    server = make_server()
    gate = asyncio.Event()
    calls = 0

    async def slow(event: RequestReceived) -> Reply | None:
        nonlocal calls
        calls += 1
        await gate.wait()
        return check_password(event)

    transport, proto = await open_listener("127.0.0.1", 0, server, slow)
    port = transport.get_extra_info("sockname")[1]
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.put_nowait(data)

    ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        req = pap_request(3)
        ct.sendto(req)
        await asyncio.sleep(0.05)
        ct.sendto(req)  # retransmission while in progress: ignored
        await asyncio.sleep(0.05)
        assert proto.in_flight == 1 and calls == 1
        gate.set()
        first = await asyncio.wait_for(received.get(), 2.0)
        ct.sendto(req)  # retransmission after the reply: same bytes again
        second = await asyncio.wait_for(received.get(), 2.0)
        assert first == second and calls == 1
    finally:
        ct.close()
        await proto.close()
    assert server.counters["duplicate_ignored"] == 1
    assert server.counters["duplicate_replied"] == 1


async def test_handler_errors_and_none_forget_the_key() -> None:
    server = make_server()
    outcomes: list[object] = [RuntimeError("boom"), None, (Code.AccessAccept, [])]

    def handler(event: RequestReceived) -> Reply | None:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    transport, proto = await open_listener("127.0.0.1", 0, server, handler)
    port = transport.get_extra_info("sockname")[1]
    try:
        req = pap_request(4)
        # error -> forgotten; None -> forgotten; third try answered.
        replies = await exchange(port, [req, req, req], 1)
        assert decode_packet(replies[0]).code == Code.AccessAccept
    finally:
        await proto.close()
    assert proto.handler_errors == 1
    assert server.counters["forgotten"] == 2


async def test_close_drains_in_flight() -> None:
    server = make_server()

    async def slow(event: RequestReceived) -> Reply:
        await asyncio.sleep(0.1)
        return (Code.AccessAccept, [])

    transport, proto = await open_listener("127.0.0.1", 0, server, slow)
    port = transport.get_extra_info("sockname")[1]
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            got.put_nowait(data)

    ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    ct.sendto(pap_request(5))
    await asyncio.sleep(0.02)
    assert proto.in_flight == 1
    await proto.close()
    assert server.counters["reply_sent"] == 1
    data = await asyncio.wait_for(got.get(), 1.0)
    assert decode_packet(data).code == Code.AccessAccept
    ct.close()


async def test_status_server_and_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    server = make_server()
    try:
        transport, proto = await open_listener("::", 0, server, check_password, status_code=5)
    except OSError:
        pytest.skip("cannot bind ::")
    port = transport.get_extra_info("sockname")[1]
    try:
        auth = b"S" * 16
        zeroed = encode_packet(12, 9, auth, [(80, bytes(16))])
        status = encode_packet(12, 9, auth, [(80, message_authenticator(zeroed, SECRET))])
        try:
            replies = await exchange(port, [status], 1, socket.AF_INET6, "::1")
        except OSError:
            pytest.skip("no ::1")
        assert decode_packet(replies[0]).code == Code.AccountingResponse
    finally:
        await proto.close()


def test_protocol_is_a_datagram_protocol() -> None:
    assert issubclass(RadiusProtocol, asyncio.DatagramProtocol)


def test_reuseport_group_spreads_by_request_authenticator() -> None:
    """Two sockets share a port; one client socket (one 4-tuple, as a big controller sends)
    still reaches both, and the same authenticator always reaches the same socket."""
    from radius.aio import spread_by_authenticator

    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
        socks.append(s)
    assert spread_by_authenticator(socks[0], 2)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port = socks[0].getsockname()[1]
    try:
        seen: dict[bytes, int] = {}
        for n in range(64):
            auth = n.to_bytes(4, "big") * 4
            for _ in range(2):  # a retransmission: same authenticator
                client.sendto(encode_packet(1, n, auth, []), ("127.0.0.1", port))
                ready, _, _ = select.select(socks, [], [], 2.0)
                assert len(ready) == 1, "datagram not received, or received twice"
                data = ready[0].recv(4096)
                assert data[4:20] == auth
                index = socks.index(ready[0])
                assert seen.setdefault(auth, index) == index
        counts = [list(seen.values()).count(i) for i in range(2)]
        assert counts == [32, 32]  # authenticator word mod 2: exactly even here
        # An EAP conversation's next round carries our State: its first octet picks the
        # socket, wherever the State is among the attributes and whatever the authenticator.
        filler = [(1, b"alice"), (4, b"\x7f\x00\x00\x01"), *[(79, bytes(200))] * 7]
        for n in range(40):
            state = bytes((n,)) + bytes(15)
            attrs = [*filler[: n % len(filler)], (24, state), (80, bytes(16))]
            auth = bytes(((n + 1) % 2,)) * 16  # would pick the other socket
            client.sendto(encode_packet(1, n, auth, attrs), ("127.0.0.1", port))
            ready, _, _ = select.select(socks, [], [], 2.0)
            assert len(ready) == 1
            ready[0].recv(4096)
            assert socks.index(ready[0]) == n % 2, n
        # A State beyond the attributes the program walks falls back to the authenticator.
        many = [(30, b"x")] * 70 + [(24, b"\x01" + bytes(15))]
        client.sendto(encode_packet(1, 1, bytes(16), many), ("127.0.0.1", port))
        ready, _, _ = select.select(socks, [], [], 2.0)
        assert [socks.index(r) for r in ready] == [0]
        ready[0].recv(4096)
    finally:
        client.close()
        for s in socks:
            s.close()


class _RecordingTransport:
    """The part of a datagram transport RadiusProtocol uses; records what is sent when."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, object]] = []
        self.closed = False

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append((data, addr))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_answers_to_datagrams_read_together_leave_together() -> None:
    """Replies to the datagrams of one read burst are queued and sent back to back after the
    burst (one wake-up of the peer, not one per reply), in order; a lone request is answered
    within the same loop iteration; close() sends what is queued before closing."""
    server = make_server()
    proto = RadiusProtocol(server, check_password)
    transport = _RecordingTransport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    peer = ("127.0.0.1", 40000)
    for ident in (1, 2, 3):
        proto.datagram_received(pap_request(ident), peer)
    assert transport.sent == []  # still handling the burst
    await asyncio.sleep(0)
    assert [decode_packet(d).identifier for d, _ in transport.sent] == [1, 2, 3]
    assert all(addr == peer for _, addr in transport.sent)

    proto.datagram_received(pap_request(4), peer)
    await asyncio.sleep(0)
    assert len(transport.sent) == 4

    proto.datagram_received(pap_request(5), peer)
    assert len(transport.sent) == 4
    proto.connection_lost(None)
    await proto.close()
    assert [decode_packet(d).identifier for d, _ in transport.sent][-1] == 5
    assert transport.closed
