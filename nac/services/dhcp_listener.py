"""The DHCP listener: a thin asyncio datagram adapter feeding the profiler.

Switches and routers copy their clients' DHCP messages to nac with a second relay target
(``ip helper-address <nac>``): the relay unicasts each client message to udp port 67 with
giaddr set. nac is not a DHCP server: it never answers. Each datagram is decoded
(``posture.dhcp.pull_dhcp``) and handed to the profiler without waiting; a malformed one is
dropped and counted by its ``DhcpFailure`` name, and nothing a peer sends can stop the
listener. Runs in worker 0 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections import Counter
from typing import Any

from nac.services.profiler import Profiler
from posture.dhcp import DhcpDecodeError, pull_dhcp

log = logging.getLogger("nac.dhcp")

SOCKET_BUFFER = 1024 * 1024


class DhcpProtocol(asyncio.DatagramProtocol):
    def __init__(self, profiler: Profiler) -> None:
        self.profiler = profiler
        # received, profiled, ignored_* (replies, BOOTP, server message types), malformed,
        # and one counter per DhcpFailure name; read by nac.services.metrics.
        self.counters: Counter[str] = Counter()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        counters = self.counters
        counters["received"] += 1
        try:
            msg = pull_dhcp(data)
        except DhcpDecodeError as exc:
            counters["malformed"] += 1
            counters[exc.reason.value] += 1
            return
        try:
            counters[self.profiler.submit_dhcp(msg)] += 1
        except Exception:  # a bug must not stop the listener
            counters["handler_errors"] += 1
            log.exception("DHCP message from %s not profiled", addr[0])

    def error_received(self, exc: Exception) -> None:
        self.counters["socket_errors"] += 1

    @property
    def drops(self) -> dict[str, int]:
        """Counters of datagrams not profiled, by reason (for metrics)."""
        return {
            k: n
            for k, n in self.counters.items()
            if k not in ("received", "profiled", "malformed") and n
        }


def dhcp_denied(port: int) -> str:
    return (
        f"DHCP profiling not listening: udp port {port} needs root or CAP_NET_BIND_SERVICE "
        "(give --dhcp-port a port above 1023, or 0 for none)"
    )


async def open_dhcp_listener(
    host: str, port: int, profiler: Profiler
) -> tuple[asyncio.DatagramTransport, DhcpProtocol] | None:
    """Bind ``host:port`` (udp) and feed the profiler. A port below 1024 without the
    privilege, or one already taken (a DHCP server on this host), is said once in the log
    and the server goes on without DHCP profiling (None). Broadcasts reach the socket only
    when it is bound to the wildcard address (0.0.0.0)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.bind(sockaddr)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EACCES:
            log.warning("%s", dhcp_denied(port))
        elif exc.errno == errno.EADDRINUSE:
            log.warning(
                "DHCP profiling not listening: udp %s:%s is in use (a DHCP server on this "
                "host? give --dhcp-port another port, or 0 for none)",
                host,
                port,
            )
        else:
            log.warning("DHCP profiling not listening on udp %s:%s: %s", host, port, exc)
        return None
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: DhcpProtocol(profiler), sock=sock
    )
    return transport, protocol
