"""nac.services.metrics: the services' counters as a Prometheus text exposition, parsed back
with prometheus_client's own parser. RADIUS through the real protocol core, TACACS+ behind a
real listener on 127.0.0.1; writers are real BatchWriters (not started: their queue depth)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nac.db import crud
from nac.db.engine import Database
from nac.db.records import AccountingRecordIn
from nac.services.metrics import (
    LATENCY_BOUNDS_US,
    LatencyHistogram,
    Metrics,
    active_sessions_counter,
)
from nac.services.radius_service import RadiusService
from nac.services.snapshot import build_snapshot
from nac.services.tacacs_service import TacacsService
from nac.services.writer import BatchWriter
from policy.model import ReasonCode
from radius.constants import AttrType
from radius.crypto import hide_password
from radius.server import PacketDiscarded, RadiusServer, RequestReceived
from tacacs.aio import TacacsListener
from tacacs.constants import AuthenStatus, AuthorStatus
from tests.services.test_tacacs_service import Client, _author, _pap, _sid, _snapshot

from .support import (
    AUTH,
    DICTIONARY,
    NAS_ADDR,
    SECRET,
    WALL,
    FakeStore,
    access_request,
    accounting_request,
    config,
    u32,
)

A = AttrType
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: bytes) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` whose labels include ``labels`` (node and worker aside)."""
    found = [
        v
        for (n, ls), v in samples.items()
        if n == name and set(labels.items()) <= ls and ("node", "node-1") in ls
    ]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


async def _nothing(items: Sequence[Any]) -> None:
    return None


async def _stored(items: Sequence[Any]) -> None:
    return None


def pap(user: str, password: str) -> list[tuple[int, bytes]]:
    return [
        (A.UserName, user.encode()),
        (A.UserPassword, hide_password(password.encode(), SECRET, AUTH)),
        (A.NasIpAddress, bytes([10, 0, 0, 1])),
    ]


class Radius:
    def __init__(self) -> None:
        self.audit = BatchWriter[tuple[Any, ...]](name="audit", flush=_nothing)
        self.accounting = BatchWriter[AccountingRecordIn](
            name="accounting", flush=_stored, max_delay=0
        )
        self.service = RadiusService(
            store=FakeStore(build_snapshot(config())),  # type: ignore[arg-type]
            audit=self.audit,
            accounting=self.accounting,
            dictionary=DICTIONARY,
            node="node-1",
            token_bytes=lambda n: bytes(range(n)),
            wall_clock=lambda: WALL,
        )
        self.server = RadiusServer(self.service.lookup_client)
        self.port = 40000

    def receive(self, data: bytes, ip: str = NAS_ADDR[0]) -> object:
        self.port += 1
        return self.server.receive_datagram(data, (ip, self.port), 1.0)

    def auth(self, attrs: list[tuple[int, bytes]]) -> None:
        event = self.receive(access_request(attrs))
        assert isinstance(event, RequestReceived)
        assert self.service.handle_auth(event) is not None


async def test_radius_decisions_latency_drops_and_writer_depths() -> None:
    r = Radius()
    r.accounting.start()
    for _ in range(3):
        r.auth(pap("alice", "alice-pass"))
    r.auth(pap("alice", "wrong"))
    r.auth(pap("nobody", "x"))
    # Drops: a stranger, and a broken Message-Authenticator.
    stranger = r.receive(access_request(pap("alice", "alice-pass")), ip="192.0.2.7")
    assert isinstance(stranger, PacketDiscarded)
    data = bytearray(access_request(pap("alice", "alice-pass")))
    data[-1] ^= 1
    assert isinstance(r.receive(bytes(data)), PacketDiscarded)
    # Accounting: one stored, one without Acct-Status-Type.
    event = r.receive(accounting_request([(A.AcctStatusType, u32(1)), (A.AcctSessionId, b"s1")]))
    assert isinstance(event, RequestReceived)
    assert await r.service.handle_acct(event) is not None
    event = r.receive(accounting_request([(A.AcctSessionId, b"s2")], ident=2))
    assert isinstance(event, RequestReceived)
    assert await r.service.handle_acct(event) is None

    metrics = Metrics(
        node="node-1",
        worker=3,
        radius=r.service,
        radius_servers={"auth": r.server},
        writers=(r.audit, r.accounting),
    )
    body, content_type = await metrics.render()
    assert content_type.startswith("text/plain")
    s = parse(body)
    accept = str(int(ReasonCode.AUTHENTICATION_SUCCEEDED))
    wrong = str(int(ReasonCode.WRONG_PASSWORD))
    unknown = str(int(ReasonCode.UNKNOWN_USER))
    decided = {"protocol": "radius", "type": "access", "nas": "lab-switch", "worker": "3"}
    assert value(s, "nac_decisions_total", result="accept", reason=accept, **decided) == 3
    assert value(s, "nac_decisions_total", result="reject", reason=wrong, **decided) == 1
    assert value(s, "nac_decisions_total", result="reject", reason=unknown, **decided) == 1
    acct = {"protocol": "radius", "nas": "lab-switch"}
    assert value(s, "nac_accounting_requests_total", result="stored", **acct) == 1
    assert value(s, "nac_accounting_requests_total", result="malformed", **acct) == 1
    # The histogram: five decisions, all below +Inf, cumulative buckets.
    hist = "nac_decision_latency_seconds"
    assert value(s, f"{hist}_count", protocol="radius") == 5
    assert value(s, f"{hist}_bucket", protocol="radius", le="+Inf") == 5
    buckets = [
        value(s, f"{hist}_bucket", protocol="radius", le=str(b / 1e6)) for b in LATENCY_BOUNDS_US
    ]
    assert buckets == sorted(buckets)  # type: ignore[type-var]
    assert 0 < (value(s, f"{hist}_sum", protocol="radius") or 0) < 5
    drops = {"protocol": "radius", "source": "auth"}
    assert value(s, "nac_dropped_total", reason="unknown_client", **drops) == 1
    assert value(s, "nac_dropped_total", reason="bad_message_authenticator", **drops) == 1
    assert value(s, "nac_dropped_total", reason="bad_authenticator", **drops) is None  # zero
    assert value(s, "nac_radius_events_total", server="auth", event="request_received") == 7
    # The audit writer was never started: every decision still waits in it.
    assert value(s, "nac_writer_queue_depth", writer="audit") == 5
    assert value(s, "nac_writer_queue_depth", writer="accounting") == 0
    assert value(s, "nac_writer_written_total", writer="accounting") == 1
    assert value(s, "nac_active_sessions") is None  # no database given
    await r.accounting.close()


@pytest.fixture
async def tacacs() -> Any:
    audit = BatchWriter[tuple[Any, ...]](name="audit", flush=_nothing)
    accounting = BatchWriter[Any](name="tacacs-accounting", flush=_stored, max_delay=0)
    service = TacacsService(
        store=FakeStore(_snapshot()),  # type: ignore[arg-type]
        audit=audit,
        accounting=accounting,
        node="node-1",
    )
    listener = TacacsListener(
        device_for=service.device_for, handler=service.handle, on_event=service.on_event
    )
    server = await listener.start("127.0.0.1", 0)
    yield service, listener, audit, server.sockets[0].getsockname()[1]
    await listener.close()


async def test_tacacs_decisions_connections_and_discards(tacacs: Any) -> None:
    service, listener, audit, port = tacacs
    for password, status in (("admin-pass", AuthenStatus.PASS), ("nope", AuthenStatus.FAIL)):
        c = await Client.connect(port)
        reply = await c.exchange(_pap("admin", password), session_id=_sid(), version=0xC1)
        assert reply.status == status
        c.close()
    c = await Client.connect(port)
    reply = await c.exchange(_author("ops", "service=shell", "cmd=reload"), session_id=_sid())
    assert reply.status == AuthorStatus.FAIL
    c.close()
    bad = await Client.connect(port, key=b"not-the-key")
    bad.writer.write(b"\xc0\x01\x01\x00" + bytes(4) + (16).to_bytes(4, "big") + bytes(16))
    assert await bad.closed()
    idle = await Client.connect(port)  # open, nothing sent yet: counted as a connection
    for _ in range(100):
        if listener.protocols:
            break
        await asyncio.sleep(0.01)
    metrics = Metrics(node="node-1", tacacs=service, tacacs_listeners=[listener], writers=[audit])
    s = parse((await metrics.render())[0])
    nas = {"protocol": "tacacs", "nas": "lab-switch", "worker": "0"}
    passed = str(int(ReasonCode.AUTHENTICATION_SUCCEEDED))
    wrong = str(int(ReasonCode.WRONG_PASSWORD))
    denied = str(int(ReasonCode.COMMAND_DENIED))
    assert (
        value(s, "nac_decisions_total", type="authen", result="accept", reason=passed, **nas) == 1
    )
    assert value(s, "nac_decisions_total", type="authen", result="reject", reason=wrong, **nas) == 1
    assert (
        value(s, "nac_decisions_total", type="command", result="reject", reason=denied, **nas) == 1
    )
    assert value(s, "nac_decision_latency_seconds_count", protocol="tacacs") == 3
    assert value(s, "nac_tacacs_connections", listener="tcp") == 1
    assert (
        value(s, "nac_dropped_total", protocol="tacacs", source="connection", reason="bad_key") == 1
    )
    assert value(s, "nac_writer_queue_depth", writer="audit") == 3
    idle.close()


async def test_active_sessions_are_cached_between_scrapes() -> None:
    calls: list[float] = []
    now = [100.0]

    async def count() -> int:
        calls.append(now[0])
        if len(calls) == 3:
            raise RuntimeError("database away")
        return 10 * len(calls)

    metrics = Metrics(node="node-1", active_sessions=count, clock=lambda: now[0])
    assert value(parse((await metrics.render())[0]), "nac_active_sessions") == 10
    now[0] += 9.9
    assert value(parse((await metrics.render())[0]), "nac_active_sessions") == 10
    now[0] += 0.1
    assert value(parse((await metrics.render())[0]), "nac_active_sessions") == 20
    now[0] += 10
    # The query failed: the last value stays.
    assert value(parse((await metrics.render())[0]), "nac_active_sessions") == 20
    assert calls == [100.0, 110.0, 120.0]


async def test_active_sessions_counted_in_the_database(database: Database) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    records = [
        AccountingRecordIn(status_type=1, event_time=when, unique_key=k, nas_name="sw1")
        for k in ("a", "b", "c")
    ]
    records.append(
        AccountingRecordIn(status_type=2, event_time=when, unique_key="c", nas_name="sw1")
    )
    async with database.session() as session:
        await crud.apply_accounting(session, records=records)
    assert await active_sessions_counter(database)() == 2


def test_histogram_buckets_are_upper_bounds() -> None:
    h = LatencyHistogram()
    for us in (250, 251, 999_999):
        h.observe(us)
    buckets = dict(h.buckets())
    assert (buckets["0.00025"], buckets["0.0005"], buckets["0.25"], buckets["+Inf"]) == (1, 2, 2, 3)
    assert h.sum_us == 250 + 251 + 999_999


async def test_audit_pipe_gauges() -> None:
    class Pipe:
        sent, dropped = 7, 2

        def buffered(self) -> int:
            return 4096

    metrics = Metrics(node="node-1", audit_pipe=Pipe())  # type: ignore[arg-type]
    s = parse((await metrics.render())[0])
    assert value(s, "nac_audit_pipe_buffer_bytes") == 4096
    assert value(s, "nac_audit_pipe_sent_total") == 7
    assert value(s, "nac_audit_pipe_dropped_total") == 2
