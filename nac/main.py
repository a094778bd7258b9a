"""Composition root: Settings -> storage -> snapshot -> services -> listeners.

Nothing here runs at import time; ``serve(settings)`` builds everything and runs until
SIGTERM or SIGINT, then stops in order: listeners close (no new work), in-flight
requests finish, writers flush, the database is closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

from nac.core.config import Settings
from nac.core.errors import NacError, StartupError
from nac.core.logging import setup_logging
from nac.db import crud
from nac.db.bootstrap import open_storage
from nac.db.engine import Database, StateProbe
from nac.db.records import AccountingRecordIn, AuditRecordIn
from nac.pki import PeerRevocation, configured_pki
from nac.services.audit_process import PAUSE_AT, RESUME_AT, AuditPipe, AuditWriterProcess
from nac.services.dhcp_listener import DhcpProtocol, open_dhcp_listener
from nac.services.dynauth import DynamicAuthorizer
from nac.services.eap_service import EapService, ensure_pki
from nac.services.metrics import Metrics, active_sessions_counter
from nac.services.profiler import Profiler
from nac.services.radius_service import RadiusService
from nac.services.snapshot import SnapshotStore
from nac.services.tacacs_service import TacacsService
from nac.services.web_tls import request_client_certificates, with_peer_certificate
from nac.services.writer import BatchWriter
from radius.aio import Handler, RadiusProtocol, bind_shared, open_listener
from radius.dictionary import default_dictionary
from radius.errors import DecodeFailure
from radius.server import PacketDiscarded, RadiusServer
from tacacs.aio import TacacsListener
from web.app import create_app

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
    if settings.workers == 1:
        return _loop_run(_serve(settings, Worker()))
    return _serve_workers(settings)


def _loop_run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)


@dataclass(frozen=True, slots=True)
class Worker:
    """Where this process stands among the workers sharing the ports."""

    index: int = 0
    count: int = 1
    ready_fd: int | None = None  # one byte is written here once listening
    audit_conn: Connection | None = None  # this worker's pipe to the shared audit writer
    # This worker's members of the shared auth and accounting port groups (bind_shared).
    sockets: tuple[socket.socket, socket.socket] | None = None
    # This worker's TACACS+ listening sockets: plain (obfuscated) and TLS (RFC 9887).
    tacacs_socks: tuple[socket.socket | None, socket.socket | None] = (None, None)
    # Shared memory, one slot per worker: the endpoint state sequence each worker's snapshot
    # holds (worker 0's CoA client waits for every slot to reach a change before sending).
    applied: Any = None

    @property
    def name(self) -> str:
        return "" if self.count == 1 else f"worker {self.index}: "


async def _prepare(settings: Settings) -> int:
    storage = await open_storage(settings, migrate=True, demo=settings.demo)
    for note in storage.notes:
        log.info("%s", note)
    await storage.db.dispose()
    return 0


async def _serve(settings: Settings, worker: Worker) -> int:
    single = worker.count == 1
    storage = await open_storage(settings, migrate=single, demo=settings.demo and single)
    if single:
        for note in storage.notes:
            log.info("%s", note)
    try:
        store = SnapshotStore(db=storage.db, box=storage.box)
        if worker.applied is None:
            worker = dataclasses.replace(worker, applied=multiprocessing.RawArray("q", 1))
        slots, index = worker.applied, worker.index
        store.published = lambda seq: slots.__setitem__(index, seq)
        await store.load()
        _tune_gc()
        return await _run(settings, storage.db, store, worker)
    finally:
        await storage.db.dispose()


def _tune_gc() -> None:
    """Collect garbage in small steps. Objects alive at startup (the snapshot, the modules)
    are frozen out of collections. A young collection walks every tracked object that
    survived since the last one (duplicate-cache entries, queued audit items), so its pause
    grows with the threshold: at 50,000 it paused 13-28 ms and made the p99 latency; at 5,000
    it pauses 1-3 ms, and tuples of atomic values leave tracking on their first pass, so the
    older generations stay small and are collected rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 50, 1_000)


def _probe_port(host: str, port: int, what: str) -> None:
    """Fail fast when a port is taken: a bind without SO_REUSEPORT fails if anyone holds it,
    also another nac's workers (which share it only among themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    family, socktype, proto, _, sockaddr = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise _listen_error(what, host, port, exc) from None


def _serve_workers(settings: Settings) -> int:
    """Several processes share the RADIUS ports (SO_REUSEPORT), one core each. The parent
    prepares storage, forks the workers, forwards SIGTERM/SIGINT and reaps them."""
    _loop_run(_prepare(settings))
    ensure_pki(settings)  # once, before the workers read it
    _probe_port(settings.bind, settings.radius_auth_port, "auth")
    _probe_port(settings.bind, settings.radius_acct_port, "accounting")
    # The port groups, bound here in worker order: socket k is group index k (the one the
    # BPF program picks and worker k's EAP States name).
    auth_socks = _bind_shared(settings.bind, settings.radius_auth_port, settings.workers, "auth")
    acct_socks = _bind_shared(
        settings.bind, settings.radius_acct_port, settings.workers, "accounting"
    )
    tacacs_socks = _bind_tacacs(settings, settings.tacacs_port, settings.workers)
    tls_socks = _bind_tacacs(settings, settings.tacacs_tls_port, settings.workers)
    # One audit writer for all workers (one SQLite file wants one writer), one pipe each.
    writer = AuditWriterProcess(settings=settings, pipes=settings.workers)
    conns = writer.start()
    ready_r, ready_w = os.pipe()
    applied = multiprocessing.RawArray("q", settings.workers)  # inherited by every fork
    pids: list[int] = []
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(ready_r)
            for other, conn in enumerate(conns):
                if other != index:
                    conn.close()
                    auth_socks[other].close()
                    acct_socks[other].close()
            code = 1
            try:
                mine = (auth_socks[index], acct_socks[index])
                for socks in (tacacs_socks, tls_socks):
                    for other, sock in enumerate(socks):
                        if other != index:
                            sock.close()
                worker = Worker(
                    index,
                    settings.workers,
                    ready_w,
                    conns[index],
                    mine,
                    (
                        tacacs_socks[index] if tacacs_socks else None,
                        tls_socks[index] if tls_socks else None,
                    ),
                    applied,
                )
                code = _loop_run(_serve(settings, worker))
            except NacError as exc:
                sys.stderr.write(f"nac: error: {exc}\n")
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(ready_w)
    for conn in conns:
        conn.close()  # the writer sees the end of its input when the last worker closes
    for sock in (*auth_socks, *acct_socks):
        sock.close()  # each worker holds its own
    for sock in (*tacacs_socks, *tls_socks):
        sock.close()

    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    ready = 0
    while ready < len(pids):
        chunk = os.read(ready_r, 64)
        if not chunk:  # a worker died before listening
            break
        ready += len(chunk)
    os.close(ready_r)
    if ready == len(pids):
        log.info("nac ready (node %s, %d workers)", settings.node_name, len(pids))
    else:
        forward(signal.SIGTERM, None)

    worst = 0
    for pid in pids:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                status = 0
                break
        code = os.waitstatus_to_exitcode(status)
        worst = max(worst, code if code >= 0 else 1)
    writer.join()
    if ready < len(pids):
        return worst or 1
    log.info("stopped: all %d workers exited", len(pids))
    return worst


async def _run(settings: Settings, db: Database, store: SnapshotStore, worker: Worker) -> int:
    dictionary = default_dictionary()

    async def write_accounting(items: Sequence[AccountingRecordIn]) -> None:
        async with db.session() as session:
            await crud.apply_accounting(session, records=items)

    audit_pipe = AuditPipe(settings=settings, conn=worker.audit_conn)
    await audit_pipe.start()

    async def write_audit(items: Sequence[tuple[Any, ...]]) -> None:
        audit_pipe.send(items)  # plain tuples: pickled in C, rendered only when read

    audit = BatchWriter[tuple[Any, ...]](name="audit", flush=write_audit, max_delay=0.05)
    accounting = BatchWriter[AccountingRecordIn](
        name="accounting", flush=write_accounting, max_delay=0.005
    )
    try:
        share = (worker.index, worker.count) if worker.count > 1 else None
        eap = EapService(settings=settings, store=store, worker=share)
    except (OSError, ValueError, NacError) as exc:
        await audit_pipe.close()
        raise StartupError(f"cannot set up 802.1X (EAP): {exc}") from None
    # Device profiling (issue 6): DHCP (worker 0) and device-sensor accounting (any worker)
    # feed one writer task per process.
    profiler = Profiler(db=db, node=settings.node_name)
    service = RadiusService(
        store=store,
        audit=audit,
        accounting=accounting,
        dictionary=dictionary,
        node=settings.node_name,
        eap=eap,
        profiler=profiler,
    )

    async def write_tacacs_accounting(items: Sequence[AuditRecordIn]) -> None:
        async with db.session() as session:
            await crud.add_audit_records(session, records=items)

    tacacs_accounting = BatchWriter[AuditRecordIn](
        name="tacacs-accounting", flush=write_tacacs_accounting, max_delay=0.005
    )
    tacacs = TacacsService(
        store=store,
        audit=audit,
        accounting=tacacs_accounting,
        node=settings.node_name,
        revoked=_tacacs_revocation(settings),
    )
    audit.start()
    accounting.start()
    tacacs_accounting.start()

    on_event = _DiscardLog()
    auth_server = RadiusServer(service.lookup_client, duplicate_ttl=settings.dup_cache_seconds)
    acct_server = RadiusServer(service.lookup_client, duplicate_ttl=settings.dup_cache_seconds)
    client_sync = _ClientSeenSync(db, service, auth_server)
    await client_sync.sync()
    listeners: list[tuple[asyncio.DatagramTransport, RadiusProtocol]] = []
    dhcp: tuple[asyncio.DatagramTransport, DhcpProtocol] | None = None
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
                worker.sockets[0] if worker.sockets else None,
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
                worker.sockets[1] if worker.sockets else None,
            )
        )
        tacacs_listeners = await _listen_tacacs(settings, tacacs, worker, audit_pipe)
        if settings.dhcp_port and worker.index == 0:
            dhcp = await open_dhcp_listener(
                settings.dhcp_bind or settings.bind, settings.dhcp_port, profiler
            )
        # This process's numbers only (labelled node and worker): read when scraped.
        metrics = Metrics(
            node=settings.node_name,
            worker=worker.index,
            radius=service,
            radius_servers={"auth": auth_server, "acct": acct_server},
            tacacs=tacacs,
            tacacs_listeners=tacacs_listeners,
            writers=(audit, accounting, tacacs_accounting),
            audit_pipe=audit_pipe,
            active_sessions=active_sessions_counter(db),
            profiler=profiler,
            dhcp=dhcp[1] if dhcp is not None else None,
        )
        # RFC 5176: the CoA client lives beside the console (worker 0), which fires its triggers.
        dynauth = (
            DynamicAuthorizer(
                db=db,
                store=store,
                node=settings.node_name,
                timeout=settings.coa_timeout,
                tries=settings.coa_tries,
                settle=settings.coa_settle_seconds,
                applied=lambda: list(worker.applied),
            )
            if worker.index == 0
            else None
        )
        try:
            web = _start_web(settings, db, store, worker, metrics, dynauth)
        except StartupError:
            for tacacs_listener in tacacs_listeners:
                await tacacs_listener.close()
            raise
    except StartupError:
        for transport, _ in listeners:
            transport.close()
        if dhcp is not None:
            dhcp[0].close()
        await audit.close()
        await accounting.close()
        await tacacs_accounting.close()
        await audit_pipe.close()
        raise

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    poller = asyncio.create_task(store.run(stop), name="config-poll")
    seen = asyncio.create_task(client_sync.run(stop), name="client-sync")
    profiling = asyncio.create_task(profiler.run(stop), name="profiler")
    # Profile changes from every worker of this node (read back from endpoint_events).
    follower = (
        asyncio.create_task(dynauth.follow_profile_changes(stop), name="coa-profile")
        if dynauth is not None
        else None
    )
    if dhcp is not None:
        name = dhcp[0].get_extra_info("sockname")
        log.info("listening on udp %s port %s (DHCP profiling)", name[0], name[1])
    for transport, _ in listeners:
        sockname = transport.get_extra_info("sockname")
        if worker.index == 0:
            log.info("listening on udp %s port %s", sockname[0], sockname[1])
    for tacacs_listener in tacacs_listeners:
        if tacacs_listener.server is not None and worker.index == 0:
            what = "TACACS+ over TLS" if tacacs_listener.tls else "TACACS+"
            for sock in tacacs_listener.server.sockets:
                name = sock.getsockname()
                log.info("listening on tcp %s port %s (%s)", name[0], name[1], what)
    if web is not None:
        name = web.sock.getsockname()
        what = "web console, HTTPS" if settings.web_tls else "web console"
        log.info("listening on tcp %s port %s (%s)", name[0], name[1], what)
    version = store.current.version if store.current else "?"
    if worker.ready_fd is None:
        log.info("nac ready (node %s, configuration version %s)", settings.node_name, version)
    else:
        log.info("%slistening, configuration version %s", worker.name, version)
        os.write(worker.ready_fd, b"1")
        os.close(worker.ready_fd)

    await stop.wait()
    log.info("stopping: closing listeners, finishing requests, flushing writers")
    for transport, _ in listeners:
        transport.close()
    if dhcp is not None:
        dhcp[0].close()
    if web is not None:
        await web.stop()
    if follower is not None:
        await follower
    if dynauth is not None:
        await dynauth.close()  # scheduled CoAs finish (a few seconds at most: their retries)
    for _, protocol in listeners:
        await protocol.drain()
    for tacacs_listener in tacacs_listeners:
        await tacacs_listener.close()
    await tacacs_accounting.close()
    await accounting.close()
    await audit.close()
    await audit_pipe.close()
    await profiling  # stop is set: it writes what is pending and returns
    for task in (poller, seen):
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    await client_sync.sync(force=True)
    log.info(
        "stopped: %d decisions (%s), %d accounting records, drops %s",
        sum(service.results.values()),
        dict(service.results),
        accounting.stats.written,
        _drops(auth_server, acct_server),
    )
    if tacacs.results:
        log.info("stopped: TACACS+ %s", dict(tacacs.results))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    return 0


class _ConsoleServer(uvicorn.Server):
    """uvicorn on our loop, leaving SIGTERM/SIGINT to ``_run`` (which stops it)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(slots=True)
class _Web:
    server: _ConsoleServer
    sock: socket.socket
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), timeout=10)
        except TimeoutError:
            self.task.cancel()
        except Exception as exc:
            log.warning("web console stopped with an error: %s", exc)
        finally:
            self.sock.close()


def _start_web(
    settings: Settings,
    db: Database,
    store: SnapshotStore,
    worker: Worker,
    metrics: Metrics | None = None,
    dynauth: DynamicAuthorizer | None = None,
) -> _Web | None:
    """The web console on ``web_port`` (0: none), in worker 0 only. The socket is bound here
    so a taken port is a startup error, and connections queue until uvicorn accepts them.
    ``metrics`` (this worker's) is left on ``app.state.metrics`` for the ``/metrics`` route."""
    if not settings.web_port or worker.index != 0:
        return None
    try:
        infos = socket.getaddrinfo(
            settings.bind, settings.web_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, socktype, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise _tcp_error("the web console", settings.bind, settings.web_port, exc) from None
    app = create_app(settings, db=db, store=store, box=store.box, dynauth=dynauth)
    app.state.metrics = metrics
    config = uvicorn.Config(
        app,
        host=settings.bind,
        port=settings.web_port,
        log_level="warning",
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    if settings.web_tls:
        try:
            context = web_tls_context(settings)
        except StartupError:
            sock.close()
            raise
        config.load()
        config.ssl = context  # uvicorn wraps the sockets it is given with config.ssl
        # The client certificate (nac-agent's posture reports) into each request's scope.
        config.http_protocol_class = with_peer_certificate(config.http_protocol_class)
    server = _ConsoleServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web-console")
    return _Web(server, sock, task)


async def _listen(
    what: str,
    host: str,
    port: int,
    server: RadiusServer,
    handler: Handler,
    status_code: int,
    on_event: _DiscardLog,
    sock: socket.socket | None,
) -> tuple[asyncio.DatagramTransport, RadiusProtocol]:
    try:
        return await open_listener(
            host, port, server, handler, status_code=status_code, on_event=on_event, sock=sock
        )
    except OSError as exc:
        raise _listen_error(what, host, port, exc) from None


def _tacacs_listener(
    settings: Settings, tacacs: TacacsService, audit_pipe: AuditPipe, *, tls: bool
) -> TacacsListener:
    def congested() -> bool:
        # Above the high mark, hold reading until the pipe is down to the low mark.
        return audit_pipe.congested(RESUME_AT if listener.paused else PAUSE_AT)

    listener = TacacsListener(
        device_for=tacacs.device_for,
        handler=tacacs.handle,
        on_event=tacacs.on_event,
        tls=tls,
        max_connections=settings.tacacs_max_connections,
        max_per_device=settings.tacacs_max_per_device,
        idle_timeout=settings.tacacs_idle_timeout,
        congested=congested,
    )
    return listener


async def _listen_tacacs(
    settings: Settings, tacacs: TacacsService, worker: Worker, audit_pipe: AuditPipe
) -> list[TacacsListener]:
    """The TACACS+ listeners: obfuscated on ``tacacs_port``, TLS 1.3 (RFC 9887) on
    ``tacacs_tls_port``. One is left out when its port is 0, or below 1024 without the
    privilege (said once; RADIUS goes on)."""
    out: list[TacacsListener] = []
    for port, tls, sock in (
        (settings.tacacs_port, False, worker.tacacs_socks[0]),
        (settings.tacacs_tls_port, True, worker.tacacs_socks[1]),
    ):
        if not port or (worker.count > 1 and sock is None):
            continue  # off, or the parent could not bind it (and said why)
        context = tacacs_tls_context(settings) if tls else None
        listener = _tacacs_listener(settings, tacacs, audit_pipe, tls=tls)
        try:
            await listener.start(settings.bind, port, sock=sock, ssl_context=context)
        except OSError as exc:
            if exc.errno == errno.EACCES:
                log.warning("%s", _tacacs_denied(port, tls))
                continue
            for started in out:
                await started.close()
            what = "TACACS+ over TLS" if tls else "TACACS+"
            raise _tcp_error(what, settings.bind, port, exc) from None
        out.append(listener)
    return out


def _tacacs_revocation(settings: Settings) -> PeerRevocation | None:
    """TACACS+ over TLS: the CA's CRL checked on every connection (re-read when it changes)."""
    if not settings.tacacs_tls_port:
        return None
    try:
        pki = configured_pki(settings)
        return PeerRevocation(pki.paths.crl, pki.ca_certificates())
    except Exception as exc:  # the listener's own setup reports a broken PKI
        log.warning("TACACS+ over TLS: no revocation check (%s)", exc)
        return None


def tacacs_tls_context(settings: Settings) -> ssl.SSLContext:
    """RFC 9887: TLS 1.3 or later, the device's certificate required and checked against the
    EAP CA (the built-in one, or ``eap_ca_cert``); the server shows the EAP server
    certificate. The device is then found by the name in its certificate."""
    pki = configured_pki(settings)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=str(pki.paths.ca_cert))
        context.load_cert_chain(str(pki.paths.server_cert), str(pki.paths.server_key))
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot set up TACACS+ over TLS: {exc}") from None
    return context


def web_tls_context(settings: Settings) -> ssl.SSLContext:
    """HTTPS for the console (``--web-tls``): TLS 1.2 or later with the EAP server certificate
    and key (the built-in CA's, made if absent, or ``eap_server_cert``/``eap_server_key``).
    Browsers trust it once the CA is installed (``nac pki export-ca``); its DNS names are the
    node name or those given to ``nac pki init --server-name``. A client certificate of that
    CA is asked for but optional (nac-agent's posture reports: nac.services.web_tls)."""
    pki = ensure_pki(settings)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(str(pki.paths.server_cert), str(pki.paths.server_key))
        request_client_certificates(context, pki.paths.ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"cannot set up HTTPS for the web console: {exc}") from None
    return context


def _tacacs_denied(port: int, tls: bool) -> str:
    what, flag = ("TACACS+ over TLS", "--tacacs-tls-port") if tls else ("TACACS+", "--tacacs-port")
    return (
        f"{what} not listening: tcp port {port} needs root or "
        f"CAP_NET_BIND_SERVICE (give {flag} a port above 1023, or 0 for none)"
    )


def _bind_tacacs(settings: Settings, port: int, workers: int) -> list[socket.socket]:
    """One TACACS+ listening socket per worker on the same port (SO_REUSEPORT): the kernel
    spreads new connections over them, where one shared socket lets the busiest worker
    take most of them. Empty when TACACS+ is off or the port is not allowed."""
    if not port:
        return []
    infos = socket.getaddrinfo(
        settings.bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, socktype, proto, _, sockaddr = infos[0]
    socks: list[socket.socket] = []
    try:
        # First without SO_REUSEPORT: fails if anyone holds the port (another nac's workers
        # would otherwise share it with ours).
        with socket.socket(family, socktype, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
        for _ in range(workers):
            sock = socket.socket(family, socktype, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(sockaddr)
            sock.listen(1024)
            sock.setblocking(False)
    except OSError as exc:
        for sock in socks:
            sock.close()
        if exc.errno == errno.EACCES:
            log.warning("%s", _tacacs_denied(port, port == settings.tacacs_tls_port))
            return []
        raise _tcp_error("TACACS+", settings.bind, port, exc) from None
    return socks


def _tcp_error(what: str, host: str, port: int, exc: OSError) -> StartupError:
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return StartupError(f"cannot listen for {what} on tcp {host}:{port}: {reason}")


def _bind_shared(host: str, port: int, workers: int, what: str) -> list[socket.socket]:
    try:
        return bind_shared(host, port, workers)
    except OSError as exc:
        raise _listen_error(what, host, port, exc) from None


def _drops(*servers: RadiusServer) -> dict[str, int]:
    names = {r.value for r in DecodeFailure}
    out: dict[str, int] = {}
    for server in servers:
        for name, n in server.counters.items():
            if n and name in names:
                out[name] = out.get(name, 0) + n
    return out


def _listen_error(what: str, host: str, port: int, exc: OSError) -> StartupError:
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return StartupError(f"cannot listen for RADIUS {what} on udp {host}:{port}: {reason}")


class _ClientSeenSync:
    """Shares per-client state through the database: when each client was last heard from,
    and whether it sends Message-Authenticator. Other workers, other nodes and earlier runs
    learn the latter within a second, so the BlastRADIUS "auto" rule holds for all of them.
    Last-seen times are written at most every 30 s per client; a new Message-Authenticator
    sighting at once."""

    def __init__(self, db: Database, service: RadiusService, server: RadiusServer) -> None:
        self._db = db
        self._service = service
        self._server = server
        self._pending: dict[str, float] = {}
        self._written: dict[str, tuple[float, bool]] = {}
        self._probe = StateProbe(db)

    async def sync(self, *, force: bool = False) -> None:
        self._pending.update(self._service.take_clients_seen())
        server = self._server
        due = []
        for name, last_seen in self._pending.items():
            ma = server.message_authenticator_seen(name)
            written_at, written_ma = self._written.get(name, (0.0, False))
            if force or ma != written_ma or last_seen - written_at >= 30.0:
                due.append((name, last_seen, ma))
        if due:
            async with self._db.session() as session:
                for name, last_seen, ma in due:
                    await crud.update_client_seen(
                        session,
                        name=name,
                        last_seen=datetime.fromtimestamp(last_seen, UTC),
                        message_authenticator_seen=ma,
                    )
                    self._written[name] = (last_seen, ma)
                    del self._pending[name]
        # The flag is sticky; read the way the snapshot poll reads (StateProbe: in the loop
        # on SQLite, not a query on the driver's thread every second of a busy worker).
        for (name,) in await self._probe.rows(crud.MA_SEEN_CLIENTS_SQL):
            server.note_message_authenticator_seen(str(name))

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                self._service.expire_eap(time.monotonic())  # abandoned conversations: audited
                try:
                    await self.sync()
                except Exception as exc:
                    log.warning("could not share client state through the database: %s", exc)
        finally:
            self._probe.close()
