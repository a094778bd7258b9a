"""``nac capture``: DHCP profiling from a SPAN (mirror) port, with scapy.

scapy is GPL-2.0-only, so this module is the optional extra ``nac[capture]``: nothing in the
core imports it (an import-linter contract and tests/services/test_profiler.py check), and
``nac capture`` loads it lazily. scapy only captures here; each datagram is decoded by nac's
own codec (``posture.dhcp``) and fed to the same ``Profiler`` as the relay listener, with
channel "capture". Client messages only (udp destination port 67); server replies are not
the client's words.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter

from scapy.all import UDP, AsyncSniffer  # type: ignore[attr-defined]

from nac.core.config import Settings
from nac.core.logging import setup_logging
from nac.db.engine import create_engines
from nac.services.profiler import Profiler
from posture.dhcp import DhcpDecodeError, pull_dhcp

log = logging.getLogger("nac.capture")

BPF_FILTER = "udp and dst port 67"


def run_capture(settings: Settings, *, interface: str, count: int = 0) -> int:
    """Capture until SIGINT/SIGTERM (or ``count`` DHCP packets). Returns the exit code."""
    setup_logging(settings.log_level, settings.log_format)
    return asyncio.run(_capture(settings, interface, count))


async def _capture(settings: Settings, interface: str, count: int) -> int:
    db = create_engines(settings)
    profiler = Profiler(db=db)
    counters: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def handle(payload: bytes) -> None:
        counters["received"] += 1
        try:
            msg = pull_dhcp(payload)
        except DhcpDecodeError as exc:
            counters[exc.reason.value] += 1
        else:
            counters[profiler.submit_dhcp(msg, channel="capture")] += 1
        if count and counters["received"] >= count:
            stop.set()

    def on_packet(pkt: object) -> None:  # the sniffer's thread
        if UDP in pkt:  # type: ignore[operator]
            payload = bytes(pkt[UDP].payload)  # type: ignore[index]
            loop.call_soon_threadsafe(handle, payload)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def started() -> None:  # the sniffer's thread, once its socket is open
        loop.call_soon_threadsafe(log.info, "capturing DHCP on %s (%s)", interface, BPF_FILTER)

    sniffer = AsyncSniffer(
        iface=interface,
        filter=BPF_FILTER,
        prn=on_packet,
        store=False,
        started_callback=started,
    )
    try:
        sniffer.start()
    except (OSError, PermissionError) as exc:
        await db.dispose()
        log.error("cannot capture on %s: %s (root or CAP_NET_RAW needed)", interface, exc)
        return 1
    writer = asyncio.create_task(profiler.run(stop), name="profiler")
    try:
        await stop.wait()
    finally:
        if sniffer.running:
            sniffer.stop()
        await writer
        await db.dispose()
    log.info("capture stopped: %s; %d endpoints written", dict(counters), profiler.stats.written)
    return 0
