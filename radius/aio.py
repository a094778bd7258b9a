"""asyncio datagram adapter for ``RadiusServer`` (the only module of ``radius`` doing I/O).

The handler answers a ``RequestReceived`` with a ``Reply`` (code, attributes) at once (the
fast path: sent from inside ``datagram_received``, no task), with an awaitable of one, or with
None (no reply: the request is released with ``forget`` so a retransmission is processed
again). Handler exceptions are counted and never escape the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, cast

from radius.server import (
    Address,
    DuplicateIgnored,
    DuplicateReplied,
    Event,
    PacketDiscarded,
    RadiusServer,
    RequestReceived,
    StatusServerReceived,
)

__all__ = [
    "Handler",
    "RadiusProtocol",
    "Reply",
    "bind_shared",
    "open_listener",
    "spread_by_authenticator",
    "spread_program",
]

Reply: TypeAlias = tuple[int, Sequence[tuple[int, bytes]]]
Handler: TypeAlias = Callable[[RequestReceived], "Reply | Awaitable[Reply | None] | None"]

SOCKET_BUFFER = 4 * 1024 * 1024


class RadiusProtocol(asyncio.DatagramProtocol):
    """Feeds datagrams to a ``RadiusServer`` and sends what it and the handler produce.

    ``status_code`` answers Status-Server: 2 (Access-Accept) on an authentication port,
    5 (Accounting-Response) on an accounting port. ``on_event`` sees every event other than
    ``RequestReceived`` (for logging and metrics). ``clock`` defaults to the loop's time.
    """

    def __init__(
        self,
        server: RadiusServer,
        handler: Handler,
        *,
        status_code: int = 2,
        clock: Callable[[], float] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.server = server
        self.handler = handler
        self.status_code = status_code
        self._clock = clock
        self.on_event = on_event
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.handler_errors = 0
        self._closed: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: list[tuple[bytes, Address]] = []

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._clock is None:
            self._clock = loop.time
        self._closed = loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: a NAS went away; nothing to do for UDP.
        self.server.counters["socket_errors"] += 1

    def datagram_received(self, data: bytes, addr: Any) -> None:
        clock = self._clock
        assert clock is not None
        server = self.server
        event = server.receive_datagram(data, addr, clock())
        match event:
            case RequestReceived():
                self._dispatch(event)
            case DuplicateReplied(data=out):
                self._send(out, addr)
                self._notify(event)
            case StatusServerReceived():
                try:
                    out = server.reply_status(event, self.status_code, ())
                except Exception:
                    self.handler_errors += 1
                else:
                    self._send(out, addr)
                self._notify(event)
            case DuplicateIgnored() | PacketDiscarded():
                self._notify(event)

    # -- internals ------------------------------------------------------------------------

    def _notify(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                self.handler_errors += 1

    def _send(self, data: bytes, addr: Address) -> None:
        """Queue a datagram; the queue leaves once the datagrams read together are handled.

        The event loop reads up to 32 datagrams per readiness event; their answers then go
        out back to back, so a NAS (or load generator) asleep in its poll is woken once for
        the lot instead of once per reply (on loopback the wake-up is paid by the sender: it
        was ~17% of a busy worker's CPU). A lone request is answered in the same loop
        iteration, as before."""
        outbox = self._outbox
        if not outbox:
            loop = self._loop
            if loop is None:
                return
            loop.call_soon(self._flush)
        outbox.append((data, addr))

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for data, addr in outbox:
            transport.sendto(data, addr)

    def _dispatch(self, event: RequestReceived) -> None:
        try:
            result = self.handler(event)
        except Exception:
            self._failed(event)
            return
        if type(result) is tuple:  # the fast path: answered at once
            self._answer(event, result)
        elif result is None:
            self.server.forget(event.key)
        elif inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish(event, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._answer(event, result)

    def _answer(self, event: RequestReceived, result: Reply) -> None:
        clock = self._clock
        assert clock is not None
        try:
            code, attributes = result
            out = self.server.reply(event, code, attributes, clock())
        except Exception:
            self._failed(event)
            return
        self._send(out, event.addr)

    async def _finish(self, event: RequestReceived, awaitable: Awaitable[Reply | None]) -> None:
        try:
            result = await awaitable
        except Exception:
            self._failed(event)
            return
        if result is None:
            self.server.forget(event.key)
        else:
            self._answer(event, result)

    def _failed(self, event: RequestReceived) -> None:
        self.handler_errors += 1
        self.server.counters["handler_errors"] += 1
        self.server.forget(event.key)

    # -- shutdown -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Handler tasks not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every in-flight handler task has finished (and its reply was sent)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop receiving, let in-flight requests finish and reply, then close the socket:
        nothing the handler acknowledged is lost."""
        transport = self.transport
        if transport is not None:
            pause = getattr(transport, "pause_reading", None)
            if pause is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    pause()
        await self.drain()
        self._flush()
        if transport is not None:
            transport.close()
        if self._closed is not None:
            await self._closed


_SO_ATTACH_REUSEPORT_CBPF = 51  # Linux 4.5+, include/uapi/asm-generic/socket.h


def spread_by_authenticator(sock: socket.socket, workers: int) -> bool:
    """Attach a classic BPF program to the SO_REUSEPORT group of ``sock`` that picks the
    worker from the first four octets of the Request Authenticator (modulo ``workers``), or
    from the State of an EAP conversation (``spread_program``).

    The kernel's default spreads by the 4-tuple, so one NAS sending from one port (a big
    wireless controller) lands on one worker; the authenticator is random per request
    (RFC 2865 3) and the same in a retransmission, so requests spread evenly and a
    retransmission still reaches the worker holding its duplicate-cache entry (RFC 5080).
    For UDP the program sees the datagram from the RADIUS header on. Returns False where
    the system does not offer it (the kernel's 4-tuple spread then applies)."""
    program = spread_program(workers)
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError:
        return False
    return True


_SCAN_ATTRIBUTES = 64  # attributes looked at for a State; beyond that, the authenticator


def spread_program(workers: int) -> list[tuple[int, int, int, int]]:
    """The classic BPF program of ``spread_by_authenticator``: with a State attribute (RFC
    2865 5.24: an EAP conversation's next round), its first octet modulo ``workers`` (the
    EAP core tags each State with its worker); without, the first word of the Request
    Authenticator modulo ``workers``. The attribute walk is unrolled (classic BPF has no
    loops) and checks every offset against the datagram's length."""
    ld_len, ldb_ind, ld_abs_w = 0x80, 0x50, 0x20
    jgt_x, jeq_k, jge_k, ja = 0x2D, 0x15, 0x35, 0x05
    add_x, tax, mod_k, ret_a = 0x0C, 0x07, 0x94, 0x16
    prog: list[tuple[int, int, int, int]] = [(0x01, 0, 0, 20)]  # BPF_LDX | BPF_IMM: X = 20
    for _ in range(_SCAN_ATTRIBUTES):
        prog += [
            (ld_len, 0, 0, 0),  # A = datagram length
            (jgt_x, 0, 10, 0),  # A > X: an attribute header may be here; else authenticator
            (ldb_ind, 0, 0, 0),  # A = type
            (jeq_k, 5, 0, 24),  # State?
            (ldb_ind, 0, 0, 1),  # A = length
            (jge_k, 0, 6, 2),  # a length below 2 is malformed: authenticator
            (add_x, 0, 0, 0),  # A = X + length
            (tax, 0, 0, 0),  # X = next attribute
            (ja, 0, 0, 6),  # next iteration
            (ldb_ind, 0, 0, 2),  # State's first octet
            (mod_k, 0, 0, workers),
            (ret_a, 0, 0, 0),
            (ld_abs_w, 0, 0, 4),  # the authenticator's first word
            (mod_k, 0, 0, workers),
            (ret_a, 0, 0, 0),
        ]
    prog += [(ld_abs_w, 0, 0, 4), (mod_k, 0, 0, workers), (ret_a, 0, 0, 0)]
    return prog


def bind_shared(
    host: str, port: int, workers: int, buffer_size: int = SOCKET_BUFFER
) -> list[socket.socket]:
    """``workers`` sockets sharing one port (SO_REUSEPORT), bound in order so that socket
    ``k`` is index ``k`` of the group that ``spread_by_authenticator`` picks from: worker
    ``k`` takes socket ``k`` and tags its EAP States with ``k``. Bound before the workers
    are forked; each worker keeps its own and closes the others."""
    socks: list[socket.socket] = []
    try:
        for _ in range(workers):
            socks.append(_make_socket(host, port, buffer_size, reuse_port=True))
        if workers > 1:
            spread_by_authenticator(socks[0], workers)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _make_socket(host: str, port: int, buffer_size: int, reuse_port: bool = False) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        if family == socket.AF_INET6 and host in ("::", ""):
            # Dual stack where the OS allows it (IPv4 clients appear as ::ffff:a.b.c.d).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if reuse_port:
            # Several worker processes share the port; the kernel spreads clients by their
            # address and port, so a NAS's retransmissions reach the same worker.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, buffer_size)
        sock.bind(sockaddr)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_listener(
    host: str,
    port: int,
    server: RadiusServer,
    handler: Handler,
    *,
    status_code: int = 2,
    clock: Callable[[], float] | None = None,
    on_event: Callable[[Event], None] | None = None,
    buffer_size: int = SOCKET_BUFFER,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
) -> tuple[asyncio.DatagramTransport, RadiusProtocol]:
    """Bind a UDP socket (IPv4, or IPv6 when ``host`` is e.g. "::") with large buffers, or
    take ``sock`` already bound (a worker's member of ``bind_shared``), and start a
    ``RadiusProtocol`` on it. Close with ``await protocol.close()``."""
    loop = asyncio.get_running_loop()
    if sock is None:
        sock = _make_socket(host, port, buffer_size, reuse_port)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: RadiusProtocol(
            server, handler, status_code=status_code, clock=clock, on_event=on_event
        ),
        sock=sock,
    )
    return transport, protocol
