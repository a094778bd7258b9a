"""asyncio TCP and TLS adapter for ``ServerConnection`` (the only module of ``tacacs`` doing I/O).

One ``TacacsProtocol`` per TCP connection feeds what it reads to a ``ServerConnection`` and
writes what comes back. The device is found when the connection opens, by the peer's address
(``TacacsListener.device_for``) or, over TLS (RFC 9887), by its certificate; unknown devices
are closed at once. The handler answers the events that need an answer with the bytes of the
reply (``link.connection.send_*``), at once or as an awaitable (accounting, answered after it
is stored). Handler exceptions are counted and never escape the protocol; the session then
gets an ERROR, the one status a device fails over on.

Connections are bounded in total and per device; idle connections and silent sessions are
expired by one sweep a second (``ServerConnection.get_timer``), not a timer per connection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

from tacacs.connection import ServerConnection
from tacacs.constants import AcctStatus, AuthenStatus, AuthorStatus
from tacacs.events import (
    AcctRequestReceived,
    AuthenContinueReceived,
    AuthenticationRequested,
    AuthorRequestReceived,
    Event,
)

__all__ = [
    "DeviceConfig",
    "Handler",
    "Link",
    "TacacsListener",
    "TacacsProtocol",
]

log = logging.getLogger("tacacs")

ANSWERED = (
    AuthenticationRequested,
    AuthenContinueReceived,
    AuthorRequestReceived,
    AcctRequestReceived,
)


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """What a connection from one device needs: its name, keys (current first) and flags."""

    name: str
    keys: tuple[bytes, ...] = field(repr=False)
    allow_unencrypted: bool = False
    single_connect: bool = True


@dataclass(slots=True, eq=False)
class Link:
    """One accepted connection as the handler sees it."""

    device: DeviceConfig
    peer: tuple[str, int]
    connection: ServerConnection
    tls: bool = False
    certificate: dict[str, Any] | None = None


Handler: TypeAlias = Callable[[Link, Event], "bytes | Awaitable[bytes] | None"]
DeviceLookup: TypeAlias = Callable[[str, "dict[str, Any] | None"], "DeviceConfig | None"]


class TacacsListener:
    """Shared state of one listening port: device lookup, handler, limits, live connections."""

    def __init__(
        self,
        *,
        device_for: DeviceLookup,
        handler: Handler,
        on_event: Callable[[Link | None, Event | str], None] | None = None,
        tls: bool = False,
        max_connections: int = 8192,
        max_per_device: int = 4096,
        idle_timeout: float = 600.0,
        session_timeout: float = 120.0,
        max_body: int = 65536,
        congested: Callable[[], bool] | None = None,
    ) -> None:
        self.device_for = device_for
        # Back-pressure: while ``congested()`` (the audit writer is far behind) connections
        # stop reading, so devices slow down instead of records being dropped.
        self.congested = congested
        self.paused: set[TacacsProtocol] = set()
        self._resumer: asyncio.Task[None] | None = None
        self.handler = handler
        self.on_event = on_event
        self.tls = tls
        self.max_connections = max_connections
        self.max_per_device = max_per_device
        self.idle_timeout = idle_timeout
        self.session_timeout = session_timeout
        self.max_body = max_body
        self.protocols: set[TacacsProtocol] = set()
        self.per_device: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self.handler_errors = 0
        self._sweeper: asyncio.Task[None] | None = None
        self.server: asyncio.Server | None = None
        # Connections with answers queued in this loop iteration (see TacacsProtocol._write).
        self._dirty: list[TacacsProtocol] = []

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def __call__(self) -> TacacsProtocol:
        return TacacsProtocol(self)

    async def start(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        sock: Any = None,
    ) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        if sock is not None:
            self.server = await loop.create_server(self, sock=sock, ssl=ssl_context, backlog=1024)
        else:
            self.server = await loop.create_server(
                self, host, port, ssl=ssl_context, reuse_port=reuse_port, backlog=1024
            )
        self._sweeper = asyncio.create_task(self._sweep(), name="tacacs-timers")
        return self.server

    async def close(self, wait_seconds: float = 5.0) -> None:
        """Stop accepting, let answers in flight finish, then close every connection."""
        if self.server is not None:
            self.server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._resumer is not None:
            self._resumer.cancel()
        pending = [t for p in self.protocols for t in p.tasks]
        if pending:
            await asyncio.wait(pending, timeout=wait_seconds)
        for protocol in list(self.protocols):
            protocol.close()
        if self.server is not None:
            # Python 3.12's wait_closed waits for connections too; 3.11 only for the socket.
            await asyncio.wait_for(self.server.wait_closed(), wait_seconds)

    def pause(self, protocol: TacacsProtocol) -> None:
        if protocol.transport is None or protocol in self.paused:
            return
        protocol.transport.pause_reading()
        self.paused.add(protocol)
        self.count("paused_reading")
        if self._resumer is None or self._resumer.done():
            self._resumer = asyncio.create_task(self._resume_when_clear(), name="tacacs-resume")

    async def _resume_when_clear(self) -> None:
        congested = self.congested
        while congested is not None and congested():  # noqa: ASYNC110 - a byte count, no event
            await asyncio.sleep(0.01)
        for protocol in list(self.paused):
            if protocol.transport is not None and not protocol.transport.is_closing():
                protocol.transport.resume_reading()
        self.paused.clear()

    def queued(self, protocol: TacacsProtocol) -> None:
        """``protocol`` has answers queued: send them once this loop iteration's reads are
        handled (all connections read together answer back to back: a device or load
        generator asleep in its poll is woken once for the lot, not once per answer)."""
        dirty = self._dirty
        if not dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        dirty.append(protocol)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for protocol in dirty:
            protocol.flush()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for protocol in list(self.protocols):
                protocol.tick(now)


class TacacsProtocol(asyncio.Protocol):
    """One TCP (or TLS) connection."""

    __slots__ = ("_device_name", "_loop", "_outbox", "link", "listener", "tasks", "transport")

    def __init__(self, listener: TacacsListener) -> None:
        self.listener = listener
        self.link: Link | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.transport: asyncio.Transport | None = None
        self._device_name: str | None = None
        self._outbox: list[bytes] = []

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        listener = self.listener
        peername = transport.get_extra_info("peername")
        peer = (str(peername[0]), int(peername[1])) if peername else ("?", 0)
        certificate = transport.get_extra_info("peercert") if listener.tls else None
        if len(listener.protocols) >= listener.max_connections:
            listener.count("refused_total_limit")
            self._report(None, f"connection from {peer[0]} refused: {len(listener.protocols)} open")
            transport.abort()
            return
        device = listener.device_for(peer[0], certificate)
        if device is None:
            listener.count("unknown_device")
            self._report(None, f"connection from unknown device {peer[0]} closed")
            transport.abort()
            return
        open_here = listener.per_device.get(device.name, 0)
        if open_here >= listener.max_per_device:
            listener.count("refused_device_limit")
            self._report(None, f"connection from {device.name} refused: {open_here} open")
            transport.abort()
            return
        try:
            connection = ServerConnection(
                device.keys,
                allow_unencrypted=device.allow_unencrypted,
                single_connect_allowed=device.single_connect,
                tls=listener.tls,
                idle_timeout=listener.idle_timeout,
                session_timeout=listener.session_timeout,
                max_body=listener.max_body,
                now=self._loop.time(),
            )
        except ValueError as exc:  # e.g. no key configured for this device
            listener.count("device_not_configured")
            self._report(None, f"connection from {device.name} closed: {exc}")
            transport.abort()
            return
        self.link = Link(device, peer, connection, listener.tls, certificate)
        self._device_name = device.name
        listener.per_device[device.name] = open_here + 1
        listener.protocols.add(self)
        transport.set_write_buffer_limits(high=256 * 1024)

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is None:
            return
        connection = link.connection
        events = connection.receive_data(data, self._loop.time())
        out = connection.data_to_send()
        if out:
            self._write(out)
        for event in events:
            if isinstance(event, ANSWERED):
                self._answer(link, event)
            else:
                self._report(link, event)
        if connection.should_close and not self.tasks:
            self.close()
        elif self.listener.congested is not None and self.listener.congested():
            self.listener.pause(self)

    def eof_received(self) -> bool | None:
        if not self.tasks:
            self.close()
            return None
        return True  # keep the transport to write answers still being made

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self.listener
        listener.paused.discard(self)
        if self in listener.protocols:
            listener.protocols.discard(self)
            name = self._device_name or ""
            left = listener.per_device.get(name, 1) - 1
            if left > 0:
                listener.per_device[name] = left
            else:
                listener.per_device.pop(name, None)
        for task in self.tasks:
            task.cancel()
        self.transport = None

    # -- helpers --------------------------------------------------------------------------

    def close(self) -> None:
        self.flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # flushes what is buffered first

    def flush(self) -> None:
        """Hand what is queued to the transport."""
        outbox = self._outbox
        if not outbox:
            return
        self._outbox = []
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(outbox[0] if len(outbox) == 1 else b"".join(outbox))

    def tick(self, now: float) -> None:
        """Called by the listener's sweep: expire silent sessions and an idle connection."""
        link = self.link
        if link is None:
            return
        connection = link.connection
        due = connection.get_timer()
        if due is None or due > now:
            return
        for event in connection.handle_timer(now):
            self._report(link, event)
        out = connection.data_to_send()
        if out:
            self._write(out)
        if connection.should_close and not self.tasks:
            self.close()

    def _write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if not self._outbox:
            self.listener.queued(self)
        self._outbox.append(data)

    def _answer(self, link: Link, event: Event) -> None:
        try:
            result = self.listener.handler(link, event)
        except Exception:
            self._handler_failed(link, event)
            return
        if isinstance(result, bytes):
            self._write(result)
        elif result is not None:
            task = asyncio.ensure_future(self._later(link, event, result))
            self.tasks.add(task)
            task.add_done_callback(self._done)

    async def _later(self, link: Link, event: Event, pending: Awaitable[bytes]) -> None:
        try:
            data = await pending
        except asyncio.CancelledError:
            raise
        except Exception:
            self._handler_failed(link, event)
            return
        self._write(data)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self.link is not None and self.link.connection.should_close and not self.tasks:
            self.close()

    def _handler_failed(self, link: Link, event: Event) -> None:
        """Server trouble: ERROR (RFC 8907: the device may fail over to another server)."""
        self.listener.handler_errors += 1
        log.exception("TACACS+ handler failed for %s (%s)", link.device.name, type(event).__name__)
        connection = link.connection
        session_id = getattr(event, "session_id", None)
        if session_id is None:
            return
        try:
            if isinstance(event, AuthorRequestReceived):
                data = connection.send_author_response(session_id, AuthorStatus.ERROR)
            elif isinstance(event, AcctRequestReceived):
                data = connection.send_acct_reply(session_id, AcctStatus.ERROR)
            else:
                data = connection.send_authen_reply(session_id, AuthenStatus.ERROR)
        except Exception:  # the session may already have been answered or ended
            return
        self._write(data)
        if connection.should_close and not self.tasks:
            self.close()

    def _report(self, link: Link | None, event: Event | str) -> None:
        on_event = self.listener.on_event
        if on_event is not None:
            try:
                on_event(link, event)
            except Exception:
                log.exception("TACACS+ event callback failed")
