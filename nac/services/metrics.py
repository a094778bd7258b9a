"""Prometheus metrics of one request process, read from the counters the services keep.

Nothing here runs per request: the services count in plain dicts and lists (one dict
operation per decision, one ``bisect`` per latency), and the collector turns them into metric
families when ``/metrics`` is scraped. Every sample is labelled with the node and the worker
index: each worker process has its own numbers (``nac serve --workers N``), and a scrape
sees only the process that answers it.

The number of active accounting sessions comes from the database, fetched by ``render`` at
most once per ``sessions_ttl`` seconds (the last value is kept when the query fails).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from nac.db.engine import Database
from nac.db.models import AccountingSession
from radius.errors import DecodeFailure
from radius.server import EVENT_COUNTERS, RadiusServer

if TYPE_CHECKING:
    from nac.services.audit_process import AuditPipe
    from nac.services.dhcp_listener import DhcpProtocol
    from nac.services.profiler import Profiler
    from nac.services.radius_service import RadiusService
    from nac.services.tacacs_service import TacacsService
    from nac.services.writer import BatchWriter
    from tacacs.aio import TacacsListener

log = logging.getLogger("nac.metrics")

# Upper bounds of the latency buckets, in microseconds (0.25 ms ... 250 ms, then +Inf).
LATENCY_BOUNDS_US: tuple[int, ...] = (
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
)

# TACACS+ decision kinds as the service audits them, by the type label they are shown with.
_TACACS_TYPES = {"enable": "enable", "author": "author", "command": "command"}


class LatencyHistogram:
    """Counts per bucket in a plain list; ``observe`` is one bisect and two additions."""

    __slots__ = ("counts", "sum_us")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS_US) + 1)  # the last one is +Inf
        self.sum_us = 0

    def observe(self, us: int) -> None:
        self.counts[bisect_left(LATENCY_BOUNDS_US, us)] += 1
        self.sum_us += us

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le in seconds, count) pairs, as Prometheus histograms are."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip((*LATENCY_BOUNDS_US, None), self.counts, strict=True):
            total += n
            out.append(("+Inf" if bound is None else repr(bound / 1e6), float(total)))
        return out


class Metrics:
    """What one request process exposes on ``/metrics``: ``await metrics.render()``."""

    def __init__(
        self,
        *,
        node: str,
        worker: int = 0,
        radius: RadiusService | None = None,
        radius_servers: Mapping[str, RadiusServer] | None = None,
        tacacs: TacacsService | None = None,
        tacacs_listeners: Sequence[TacacsListener] = (),
        writers: Sequence[BatchWriter[Any]] = (),
        audit_pipe: AuditPipe | None = None,
        active_sessions: Callable[[], Awaitable[int]] | None = None,
        sessions_ttl: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        profiler: Profiler | None = None,
        dhcp: DhcpProtocol | None = None,
    ) -> None:
        self.profiler = profiler
        self.dhcp = dhcp
        self.node = node
        self.worker = worker
        self.radius = radius
        self.radius_servers = dict(radius_servers or {})
        self.tacacs = tacacs
        self.tacacs_listeners = list(tacacs_listeners)
        self.writers = list(writers)
        self.audit_pipe = audit_pipe
        self._active_sessions = active_sessions
        self._sessions_ttl = sessions_ttl
        self._clock = clock
        self._sessions_at: float | None = None
        self.sessions: int | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    async def render(self) -> tuple[bytes, str]:
        """The text exposition (body, content type) of this process's metrics."""
        await self._refresh_sessions()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    async def _refresh_sessions(self) -> None:
        if self._active_sessions is None:
            return
        now = self._clock()
        if self._sessions_at is not None and now - self._sessions_at < self._sessions_ttl:
            return
        self._sessions_at = now  # concurrent scrapes do not query again meanwhile
        try:
            self.sessions = await self._active_sessions()
        except Exception as exc:  # the database may be briefly away; keep the last value
            log.warning("metrics: active sessions not counted: %s", exc)


def active_sessions_counter(db: Database) -> Callable[[], Awaitable[int]]:
    """The ``active_sessions`` query of ``Metrics``: accounting sessions with status active."""

    async def count() -> int:
        stmt = (
            select(func.count())
            .select_from(AccountingSession)
            .where(col(AccountingSession.status) == "active")
        )
        async with db.session() as session:
            return int((await session.execute(stmt)).scalar_one())

    return count


class _Families:
    """Metric families whose every sample also carries the node and worker labels."""

    def __init__(self, node: str, worker: int) -> None:
        self._base = [node, str(worker)]
        self.out: list[Metric] = []

    def counter(self, name: str, doc: str, labels: Sequence[str]) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=["node", "worker", *labels])
        self.out.append(family)
        return family

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["node", "worker", *labels])
        self.out.append(family)
        return family

    def histogram(self, name: str, doc: str, labels: Sequence[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=["node", "worker", *labels])
        self.out.append(family)
        return family

    def values(self, *values: str) -> list[str]:
        return [*self._base, *values]


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._m
        f = _Families(m.node, m.worker)
        decisions = f.counter(
            "nac_decisions",
            "Decisions made, by protocol, request type, NAS client, result and reason code.",
            ["protocol", "type", "nas", "result", "reason"],
        )
        accounting = f.counter(
            "nac_accounting_requests",
            "Accounting requests, by protocol, NAS client and result (stored, failed, malformed).",
            ["protocol", "nas", "result"],
        )
        latency = f.histogram(
            "nac_decision_latency_seconds",
            "Time from request to decided reply, in this process.",
            ["protocol"],
        )
        dropped = f.counter(
            "nac_dropped",
            "Requests and connections dropped unanswered, by where and why.",
            ["protocol", "source", "reason"],
        )
        radius = m.radius
        if radius is not None:
            for (nas, result, code), n in list(radius.decisions.items()):
                decisions.add_metric(f.values("radius", "access", nas, result, str(code)), n)
            for (nas, result), n in list(radius.accounting_results.items()):
                accounting.add_metric(f.values("radius", nas, result), n)
            _histogram(latency, f.values("radius"), radius.latency)
            challenges = f.counter(
                "nac_radius_challenges", "Access-Challenges sent, by NAS client.", ["nas"]
            )
            for nas, n in list(radius.challenges.items()):
                challenges.add_metric(f.values(nas), n)
            for reason, n in list(radius.eap_discards.items()):
                dropped.add_metric(f.values("radius", "eap", reason), n)
            in_flight = radius.eap_in_flight()
            if in_flight is not None:
                f.gauge("nac_eap_conversations", "EAP conversations in flight.").add_metric(
                    f.values(), in_flight
                )
        if m.radius_servers:
            events = f.counter(
                "nac_radius_events",
                "RADIUS protocol core events, by listener (auth, acct) and event.",
                ["server", "event"],
            )
            for server_name, server in m.radius_servers.items():
                counters = server.counters
                for event in _RADIUS_EVENTS:
                    events.add_metric(f.values(server_name, event), counters.get(event, 0))
                for reason in _RADIUS_DROPS:
                    n = counters.get(reason, 0)
                    if n:
                        dropped.add_metric(f.values("radius", server_name, reason), n)
        tacacs = m.tacacs
        if tacacs is not None:
            for (kind, nas, result, code), n in list(tacacs.decisions.items()):
                kind_label = _TACACS_TYPES.get(kind, "authen")
                decisions.add_metric(f.values("tacacs", kind_label, nas, result, str(code)), n)
            for (nas, result), n in list(tacacs.accounting_results.items()):
                accounting.add_metric(f.values("tacacs", nas, result), n)
            _histogram(latency, f.values("tacacs"), tacacs.latency)
            for reason, n in list(tacacs.discards.items()):
                dropped.add_metric(f.values("tacacs", "connection", reason), n)
        if m.tacacs_listeners:
            connections = f.gauge(
                "nac_tacacs_connections", "Open TACACS+ connections.", ["listener"]
            )
            paused = f.gauge(
                "nac_tacacs_paused_connections",
                "TACACS+ connections not read while the audit writer catches up.",
                ["listener"],
            )
            pauses = f.counter(
                "nac_tacacs_pauses", "Times a TACACS+ connection stopped reading.", ["listener"]
            )
            for listener in m.tacacs_listeners:
                which = "tls" if listener.tls else "tcp"
                connections.add_metric(f.values(which), len(listener.protocols))
                paused.add_metric(f.values(which), len(listener.paused))
                pauses.add_metric(f.values(which), listener.counters.get("paused_reading", 0))
                for reason, n in list(listener.counters.items()):
                    if reason != "paused_reading":
                        dropped.add_metric(f.values("tacacs", which, reason), n)
        if m.writers:
            depth = f.gauge(
                "nac_writer_queue_depth", "Items waiting in a batched writer.", ["writer"]
            )
            written = f.counter("nac_writer_written", "Items written.", ["writer"])
            failed = f.counter("nac_writer_failed_batches", "Batches that failed.", ["writer"])
            lost = f.counter(
                "nac_writer_dropped", "Items dropped (queue full or retries over).", ["writer"]
            )
            for writer in m.writers:
                depth.add_metric(f.values(writer.name), writer.depth)
                written.add_metric(f.values(writer.name), writer.stats.written)
                failed.add_metric(f.values(writer.name), writer.stats.failed_batches)
                lost.add_metric(f.values(writer.name), writer.stats.dropped)
        if m.dhcp is not None:
            f.counter(
                "nac_dhcp_messages", "DHCP messages received by the profiling listener.", []
            ).add_metric(f.values(), m.dhcp.counters.get("received", 0))
            for reason, n in m.dhcp.drops.items():
                dropped.add_metric(f.values("dhcp", "listener", reason), n)
        if m.profiler is not None:
            profiling = f.counter(
                "nac_profiling", "Profiler work, by event (observed, written, ...).", ["event"]
            )
            for event, n in vars_of(m.profiler.stats).items():
                profiling.add_metric(f.values(event), n)
            f.gauge("nac_profiling_pending", "MACs waiting for a profiler write.").add_metric(
                f.values(), m.profiler.pending
            )
        pipe = m.audit_pipe
        if pipe is not None:
            f.gauge(
                "nac_audit_pipe_buffer_bytes", "Bytes waiting for the audit writer process."
            ).add_metric(f.values(), pipe.buffered())
            f.counter(
                "nac_audit_pipe_sent", "Audit records sent to the writer process.", []
            ).add_metric(f.values(), pipe.sent)
            f.counter(
                "nac_audit_pipe_dropped", "Audit records dropped: the writer was behind.", []
            ).add_metric(f.values(), pipe.dropped)
        if m.sessions is not None:
            f.gauge(
                "nac_active_sessions",
                "Accounting sessions with status active (database, refreshed every 10 s).",
            ).add_metric(f.values(), m.sessions)
        return f.out


def vars_of(stats: Any) -> dict[str, int]:
    return {name: int(getattr(stats, name)) for name in stats.__slots__}


def _histogram(family: HistogramMetricFamily, labels: list[str], h: LatencyHistogram) -> None:
    family.add_metric(labels, h.buckets(), h.sum_us / 1e6)


_RADIUS_EVENTS: tuple[str, ...] = tuple(EVENT_COUNTERS)
_RADIUS_DROPS: tuple[str, ...] = tuple(r.value for r in DecodeFailure)
