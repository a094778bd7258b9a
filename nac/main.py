"""Composition root: Settings -> storage -> snapshot -> services -> listeners.

Nothing here runs at import time; ``serve(settings)`` builds everything and runs until
SIGTERM or SIGINT, then stops in order: listeners close (no new work), in-flight
requests finish, writers flush, the database is closed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime

from nac.core.config import Settings
from nac.core.errors import StartupError
from nac.core.logging import setup_logging
from nac.db import crud
from nac.db.bootstrap import open_storage
from nac.db.engine import Database
from nac.db.records import AccountingRecordIn
from nac.services.radius_service import PendingAudit, RadiusService
from nac.services.snapshot import SnapshotStore
from nac.services.writer import BatchWriter
from radius.aio import Handler, RadiusProtocol, open_listener
from radius.dictionary import default_dictionary
from radius.errors import DecodeFailure
from radius.server import PacketDiscarded, RadiusServer

log = logging.getLogger("nac")


class _DiscardLog:
    """Logs dropped packets, at most once a minute per source and reason."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def __call__(self, event: object) -> None:
        if not isinstance(event, PacketDiscarded):
            return
        key = (event.addr[0], str(event.reason))
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self._interval:
            return
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        level = logging.WARNING
        if event.reason == DecodeFailure.unknown_client:
            log.log(level, "dropped RADIUS packet from unknown client %s", event.addr[0])
        else:
            log.log(
                level,
                "dropped RADIUS packet from %s: %s %s",
                event.addr[0],
                event.reason,
                event.detail,
            )


def serve(settings: Settings) -> int:
    """Run the server until a signal stops it. Returns the exit code."""
    setup_logging(settings.log_level, settings.log_format)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(_serve(settings))
    return uvloop.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    storage = await open_storage(settings, migrate=True, demo=settings.demo)
    for note in storage.notes:
        log.info("%s", note)
    try:
        store = SnapshotStore(db=storage.db, box=storage.box)
        await store.load()
        return await _run(settings, storage.db, store)
    finally:
        await storage.db.dispose()


async def _run(settings: Settings, db: Database, store: SnapshotStore) -> int:
    dictionary = default_dictionary()

    async def write_accounting(items: Sequence[AccountingRecordIn]) -> None:
        async with db.session() as session:
            await crud.apply_accounting(session, records=items)

    service: RadiusService

    async def write_audit(items: Sequence[PendingAudit]) -> None:
        rows = [service.audit_row(i) for i in items]
        async with db.session() as session:
            await crud.add_audit_records(session, records=rows)

    audit = BatchWriter[PendingAudit](name="audit", flush=write_audit, max_delay=0.2)
    accounting = BatchWriter[AccountingRecordIn](
        name="accounting", flush=write_accounting, max_delay=0.005
    )
    service = RadiusService(
        store=store,
        audit=audit,
        accounting=accounting,
        dictionary=dictionary,
        node=settings.node_name,
    )
    audit.start()
    accounting.start()

    on_event = _DiscardLog()
    auth_server = RadiusServer(service.lookup_client, duplicate_ttl=settings.dup_cache_seconds)
    acct_server = RadiusServer(service.lookup_client, duplicate_ttl=settings.dup_cache_seconds)
    listeners: list[tuple[asyncio.DatagramTransport, RadiusProtocol]] = []
    try:
        listeners.append(
            await _listen(
                "auth",
                settings.bind,
                settings.radius_auth_port,
                auth_server,
                service.handle_auth,
                2,
                on_event,
            )
        )
        listeners.append(
            await _listen(
                "accounting",
                settings.bind,
                settings.radius_acct_port,
                acct_server,
                service.handle_acct,
                5,
                on_event,
            )
        )
    except StartupError:
        for transport, _ in listeners:
            transport.close()
        await audit.close()
        await accounting.close()
        raise

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    poller = asyncio.create_task(store.run(stop), name="config-poll")
    seen = asyncio.create_task(_client_seen_loop(db, service, auth_server, stop), name="seen")
    for transport, _ in listeners:
        sockname = transport.get_extra_info("sockname")
        log.info("listening on udp %s port %s", sockname[0], sockname[1])
    log.info(
        "nac ready (node %s, configuration version %s)",
        settings.node_name,
        store.current.version if store.current else "?",
    )

    await stop.wait()
    log.info("stopping: closing listeners, finishing requests, flushing writers")
    for transport, _ in listeners:
        transport.close()
    for _, protocol in listeners:
        await protocol.drain()
    await accounting.close()
    await audit.close()
    for task in (poller, seen):
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    await _flush_seen(db, service, auth_server)
    log.info(
        "stopped: %d decisions (%s), %d accounting records, drops %s",
        sum(service.results.values()),
        dict(service.results),
        accounting.stats.written,
        {k: v for k, v in {**auth_server.counters, **acct_server.counters}.items() if v},
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    return 0


async def _listen(
    what: str,
    host: str,
    port: int,
    server: RadiusServer,
    handler: Handler,
    status_code: int,
    on_event: _DiscardLog,
) -> tuple[asyncio.DatagramTransport, RadiusProtocol]:
    try:
        return await open_listener(
            host,
            port,
            server,
            handler,
            status_code=status_code,
            on_event=on_event,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen for RADIUS {what} on udp {host}:{port}: address already in use"
            ) from None
        raise StartupError(
            f"cannot listen for RADIUS {what} on udp {host}:{port}: {exc.strerror or exc}"
        ) from None


async def _flush_seen(db: Database, service: RadiusService, server: RadiusServer) -> None:
    seen = service.take_clients_seen()
    if not seen:
        return
    async with db.session() as session:
        for name, last_seen in seen.items():
            await crud.update_client_seen(
                session,
                name=name,
                last_seen=datetime.fromtimestamp(last_seen, UTC),
                message_authenticator_seen=server.message_authenticator_seen(name),
            )


async def _client_seen_loop(
    db: Database, service: RadiusService, server: RadiusServer, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=30.0)
        try:
            await _flush_seen(db, service, server)
        except Exception as exc:
            log.warning("could not record client last-seen times: %s", exc)
