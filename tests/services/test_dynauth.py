"""DynamicAuthorizer over loopback against a small fake DAS built from radius.coa and
radius.crypto: ACK, NAK with Error-Cause, dropped requests (retransmissions with backoff,
timeouts), more than 256 requests in flight to one NAS, and the Cisco flavour on the wire."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import NasClientCreate, NasClientUpdate
from nac.db.records import AccountingRecordIn, AcctStatus
from nac.services.dynauth import DynamicAuthorizer
from nac.services.snapshot import SnapshotStore
from radius.crypto import (
    message_authenticator,
    response_authenticator,
    verify_accounting_request,
    verify_message_authenticator,
)
from radius.packet import Packet, decode_packet, encode_packet

SECRET = "testing123"
MAC = "00:11:22:33:44:55"


@dataclass
class Received:
    at: float
    addr: tuple[str, int]
    packet: Packet


@dataclass
class FakeDas:
    """Answers Disconnect/CoA requests per ``behaviour(packet, n)``: ("ack"|"nak", causes) or
    None to drop. Checks each request's authenticator and Message-Authenticator like a DAS."""

    behaviour: Callable[[Packet, int], tuple[str, list[int]] | None]
    secret: bytes = SECRET.encode()
    received: list[Received] = field(default_factory=list)
    bad: int = 0
    transport: asyncio.DatagramTransport | None = None
    hold: int = 0  # keep answers until this many requests arrived (then answer them all)
    held: list[tuple[bytes, tuple[str, int]]] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = decode_packet(data)
        ma = [i for i, (t, _) in enumerate(packet.attributes) if t == 80]
        ok = verify_accounting_request(data, self.secret)
        if ma:
            ok = ok and ma == [0] and verify_message_authenticator(data, 20, self.secret, bytes(16))
        if not ok:
            self.bad += 1
            return
        self.received.append(Received(time.monotonic(), addr, packet))
        what = self.behaviour(packet, len(self.received))
        if what is None:
            return
        kind, causes = what
        code = packet.code + (1 if kind == "ack" else 2)
        attrs: list[tuple[int, bytes]] = [(80, bytes(16))]
        attrs += [(101, struct.pack("!I", c)) for c in causes]
        draft = encode_packet(code, packet.identifier, packet.authenticator, attrs)
        attrs[0] = (80, message_authenticator(draft, self.secret))
        body = encode_packet(code, packet.identifier, bytes(16), attrs)[20:]
        auth = response_authenticator(
            code, packet.identifier, packet.authenticator, body, self.secret
        )
        reply = encode_packet(code, packet.identifier, auth, attrs)
        assert self.transport is not None
        if self.hold:
            self.held.append((reply, addr))
            if len(self.held) >= self.hold:
                for r, a in self.held:
                    self.transport.sendto(r, a)
                self.held.clear()
            return
        self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def start_das(behaviour: Callable[[Packet, int], tuple[str, list[int]] | None]) -> FakeDas:
    loop = asyncio.get_running_loop()
    das = FakeDas(behaviour)
    await loop.create_datagram_endpoint(lambda: das, local_addr=("127.0.0.1", 0))  # type: ignore[arg-type, return-value]
    return das


@pytest.fixture
async def lab(database: Database, box: SecretBox) -> AsyncIterator[Lab]:
    lab = Lab(database, box)
    yield lab
    await lab.close()


class Lab:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self.das: FakeDas | None = None
        self.authorizer: DynamicAuthorizer | None = None
        self.store = SnapshotStore(db=db, box=box)

    async def setup(
        self,
        behaviour: Callable[[Packet, int], tuple[str, list[int]] | None],
        *,
        vendor: str = "generic",
        coa_mode: str = "auto",
        sessions: int = 1,
        timeout: float = 0.2,
        tries: int = 3,
        **kw: Any,
    ) -> DynamicAuthorizer:
        self.das = await start_das(behaviour)
        async with self.db.session() as session:
            await crud.create_client(
                session,
                client=NasClientCreate(
                    name="lab-switch",
                    addresses=["127.0.0.0/8"],
                    secret=SECRET,
                    vendor=vendor,
                    coa_port=self.das.port,
                    disconnect_port=self.das.port,
                    coa_mode=coa_mode,
                ),
                box=self.box,
            )
        records = [
            AccountingRecordIn(
                status_type=AcctStatus.START,
                event_time=datetime.now(UTC),
                unique_key=f"key-{i}",
                acct_session_id=f"{i:016X}",
                username="alice",
                mac=MAC if i == 0 else f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}",
                nas_name="lab-switch",
                nas_ip="127.0.0.1",
                nas_port=7 + i,
            )
            for i in range(sessions)
        ]
        async with self.db.session() as session:
            await crud.apply_accounting(session, records=records)
        await self.store.load()
        self.authorizer = DynamicAuthorizer(
            db=self.db, store=self.store, node="n1", timeout=timeout, tries=tries, settle=0, **kw
        )
        return self.authorizer

    async def session_ids(self) -> list[int]:
        async with self.db.session() as session:
            rows = await crud.list_sessions(session, status="active", limit=1000)
        return sorted(r.id for r in rows if r.id is not None)

    async def audit(self) -> list[Any]:
        async with self.db.session() as session:
            return await crud.list_audit(session, protocol="coa", limit=1000)

    async def events(self) -> list[Any]:
        async with self.db.session() as session:
            return await crud.list_endpoint_events(session, mac=MAC, kind="coa")

    async def close(self) -> None:
        if self.authorizer is not None:
            await self.authorizer.close()
        if self.das is not None and self.das.transport is not None:
            self.das.transport.close()


def ack(packet: Packet, n: int) -> tuple[str, list[int]]:
    return ("ack", [])


def types(packet: Packet) -> list[int]:
    return [t for t, _ in packet.attributes]


async def test_posture_change_disconnects_and_the_ack_is_audited(lab: Lab) -> None:
    dynauth = await lab.setup(ack)
    outcomes = await dynauth.endpoint_changed(MAC, trigger="posture", detail="non-compliant")
    assert [o.result for o in outcomes] == ["ack"]
    assert outcomes[0].request == "Disconnect-Request" and outcomes[0].attempts == 1
    assert lab.das is not None and lab.das.bad == 0
    (got,) = lab.das.received
    p = got.packet
    assert p.code == 40
    # The generic identifiers from accounting, Event-Timestamp, Message-Authenticator first.
    assert types(p) == [80, 4, 1, 44, 31, 55]
    assert p.get(4) == bytes([127, 0, 0, 1])
    assert p.get(1) == b"alice" and p.get(44) == b"0000000000000000"
    assert p.get(31) == b"00-11-22-33-44-55"
    stamp = struct.unpack("!I", p.get(55) or b"")[0]
    assert abs(stamp - time.time()) < 5
    (row,) = await lab.audit()
    assert (row.protocol, row.result, row.mac, row.username) == ("coa", "ack", MAC, "alice")
    assert row.nas_name == "lab-switch" and row.method == "reauthenticate"
    assert "trigger: posture (non-compliant)" in row.trace
    assert ["Calling-Station-Id", "00-11-22-33-44-55"] in row.request
    (event,) = await lab.events()
    assert event.detail["result"] == "ack" and event.detail["trigger"] == "posture"


async def test_a_nak_is_recorded_with_the_error_cause_in_words(lab: Lab) -> None:
    dynauth = await lab.setup(lambda p, n: ("nak", [503]))
    (sid,) = await lab.session_ids()
    outcome = await dynauth.session_action(sid, "disconnect", admin="root")
    assert outcome.result == "nak" and outcome.error_causes == (503,)
    assert outcome.reason == "503 Session Context Not Found"
    (row,) = await lab.audit()
    assert (row.result, row.reason_code, row.reason) == ("nak", 503, outcome.reason)
    assert "asked by admin root" in row.trace
    assert ["Error-Cause", "Session-Context-Not-Found"] in row.reply


async def test_dropped_requests_are_retransmitted_with_exponential_backoff(lab: Lab) -> None:
    dynauth = await lab.setup(lambda p, n: ("ack", []) if n >= 3 else None, timeout=0.15)
    (sid,) = await lab.session_ids()
    outcome = await dynauth.session_action(sid, "disconnect", admin="root")
    assert outcome.result == "ack" and outcome.attempts == 3
    assert lab.das is not None
    first, second, third = lab.das.received
    # The same request each time: identifier, authenticator and Event-Timestamp unchanged.
    assert first.packet.raw == second.packet.raw == third.packet.raw
    gap1, gap2 = second.at - first.at, third.at - second.at
    assert 0.13 <= gap1 < 0.3, gap1
    assert 0.28 <= gap2 < 0.5, gap2  # doubled


async def test_no_answer_is_a_timeout_after_every_try(lab: Lab) -> None:
    dynauth = await lab.setup(lambda p, n: None, timeout=0.05, tries=3)
    (sid,) = await lab.session_ids()
    started = time.monotonic()
    outcome = await dynauth.session_action(sid, "reauthenticate", admin="root")
    elapsed = time.monotonic() - started
    assert outcome.result == "timeout" and outcome.attempts == 3
    assert outcome.reason == "no answer after 3 tries"
    assert lab.das is not None and len(lab.das.received) == 3
    assert 0.3 <= elapsed < 1.0  # 0.05 + 0.1 + 0.2 = 0.35 s of waiting
    (row,) = await lab.audit()
    assert row.result == "timeout" and "no answer after 3 tries" in row.reason


async def test_more_than_256_in_flight_to_one_nas_never_collide(lab: Lab) -> None:
    dynauth = await lab.setup(ack, sessions=300, timeout=5.0)
    assert lab.das is not None
    lab.das.hold = 300  # nothing is answered before all 300 are in flight
    ids = await lab.session_ids()
    outcomes = await asyncio.gather(
        *(dynauth.session_action(sid, "disconnect", admin="root") for sid in ids)
    )
    assert len(outcomes) == 300 and {o.result for o in outcomes} == {"ack"}
    assert {o.attempts for o in outcomes} == {1}  # no retransmission was needed
    keys = {(r.addr[1], r.packet.identifier) for r in lab.das.received}
    assert len(lab.das.received) == 300 and len(keys) == 300
    assert len({r.addr[1] for r in lab.das.received}) >= 2  # a second source port
    sessions = {r.packet.get(44) for r in lab.das.received}
    assert len(sessions) == 300  # each answer went to its own request
    assert len(await lab.audit()) == 300


async def test_cisco_is_asked_to_reauthenticate_with_exactly_the_accounting_ids(
    lab: Lab,
) -> None:
    dynauth = await lab.setup(ack, vendor="cisco")
    (outcome,) = await dynauth.endpoint_changed(MAC, trigger="profile")
    assert outcome.result == "ack" and outcome.request == "CoA-Request"
    assert lab.das is not None
    (got,) = lab.das.received
    p = got.packet
    assert p.code == 43
    assert types(p) == [80, 4, 44, 31, 26, 55]  # no User-Name, no NAS-Port
    assert p.get(44) == b"0000000000000000" and p.get(31) == b"00-11-22-33-44-55"
    assert p.vsas() == [(9, 1, b"subscriber:command=reauthenticate")]
    # An admin's disconnect is a Disconnect-Request with the same identifiers.
    (sid,) = await lab.session_ids()
    await dynauth.session_action(sid, "disconnect", admin="root")
    assert types(lab.das.received[1].packet) == [80, 4, 44, 31, 55]


async def test_coa_mode_sends_the_new_authorization_and_records_the_nak(lab: Lab) -> None:
    vlan = [(64, b"\x00\x00\x00\x0d"), (65, b"\x00\x00\x00\x06"), (81, b"666")]

    async def authorize(row: Any, client: Any) -> list[tuple[int, bytes]]:
        return vlan

    def das(packet: Packet, n: int) -> tuple[str, list[int]]:
        return ("nak", [401]) if packet.code == 43 else ("ack", [])

    dynauth = await lab.setup(das, coa_mode="coa", authorizer=authorize)
    (outcome,) = await dynauth.endpoint_changed(MAC, trigger="posture")
    assert (outcome.request, outcome.result) == ("CoA-Request", "nak")
    assert outcome.reason == "401 Unsupported Attribute"
    assert lab.das is not None
    assert lab.das.received[0].packet.get(81) == b"666"
    (row,) = await lab.audit()
    assert row.result == "nak" and row.reason == "401 Unsupported Attribute"
    assert ["Tunnel-Private-Group-Id", "666"] in row.request


async def test_off_sends_nothing_and_says_why(lab: Lab) -> None:
    dynauth = await lab.setup(ack, coa_mode="off")
    (outcome,) = await dynauth.endpoint_changed(MAC, trigger="posture")
    assert outcome.result == "skipped" and "off for NAS lab-switch" in outcome.reason
    assert lab.das is not None and lab.das.received == []
    (row,) = await lab.audit()
    assert row.result == "skipped"


async def test_ports_come_from_the_client_and_disabled_users_are_disconnected(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    dynauth = await lab.setup(ack, vendor="cisco")
    # The Disconnect port moves elsewhere: the request goes there, the DAS hears nothing.
    async with lab.db.session() as session:
        await crud.update_client(
            session,
            name="lab-switch",
            update=NasClientUpdate(disconnect_port=9),
            box=lab.box,
        )
    await lab.store.load()
    dynauth.timeout = 0.05
    for fam in dynauth._families.values():
        fam.core.timeout = 0.05
    outcomes = await dynauth.user_changed("alice", trigger="user-disabled", settle=0)
    assert [o.request for o in outcomes] == ["Disconnect-Request"]
    assert outcomes[0].result in ("timeout", "error")
    assert lab.das is not None and lab.das.received == []


async def test_schedule_is_fire_and_forget_and_logs_failures(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    dynauth = await lab.setup(ack)
    task = dynauth.schedule("endpoint_changed", MAC, trigger="posture", settle=0.05)
    assert task is not None and not task.done()
    with caplog.at_level(logging.ERROR, logger="nac.coa"):
        dynauth.schedule("session_action", 987654, "disconnect", admin="root")
        await dynauth.drain()
    assert task.result()[0].result == "ack"
    assert "session 987654 does not exist" in caplog.text
    await dynauth.close()
    assert dynauth.schedule("endpoint_changed", MAC, trigger="posture") is None


async def _profile_changed_and_followed(
    lab: Lab,
    dynauth: DynamicAuthorizer,
    stop: asyncio.Event,
    follower: asyncio.Task[None],
    nodes: tuple[str, ...],
) -> None:
    """Store a profile change stamped by each of ``nodes``; wait for a CoA (5 s at most),
    then stop the follower and let every trigger finish."""
    async with lab.db.session() as session:
        for node in nodes:
            detail = {"from": "printer", "to": "windows-workstation", "node": node}
            await crud.set_endpoint_state(
                session, mac=MAC, profile="windows-workstation", events=[("profile_change", detail)]
            )
    for _ in range(100):
        if lab.das is not None and lab.das.received:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await follower
    await dynauth.drain()


async def test_profile_changes_of_this_node_are_followed_from_the_event_log(lab: Lab) -> None:
    """The profiler runs in every worker; worker 0's authorizer reads their profile changes
    back from endpoint_events and acts on those of its own node only."""
    dynauth = await lab.setup(ack)
    stop = asyncio.Event()
    follower = asyncio.create_task(dynauth.follow_profile_changes(stop, interval=0.05))
    await asyncio.sleep(0.1)  # it starts after the events already stored
    await _profile_changed_and_followed(lab, dynauth, stop, follower, ("other-node", "n1"))
    assert lab.das is not None and len(lab.das.received) == 1  # not for the other node's event
    (row,) = await lab.audit()
    assert row.result == "ack"
    assert "trigger: profile (printer -> windows-workstation)" in row.trace


async def test_profile_follower_reads_events_only_when_the_state_sequence_moved(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynauth = await lab.setup(ack)
    reads: list[int] = []
    real = crud.list_endpoint_events

    async def counted(session: Any, **kw: Any) -> Any:
        reads.append(kw["after_id"])
        return await real(session, **kw)

    monkeypatch.setattr(crud, "list_endpoint_events", counted)
    stop = asyncio.Event()
    follower = asyncio.create_task(dynauth.follow_profile_changes(stop, interval=0.02))
    await asyncio.sleep(0.4)  # ~20 polls, nothing changed
    assert len(reads) == 1  # the first poll only
    await _profile_changed_and_followed(lab, dynauth, stop, follower, ("n1",))
    assert len(reads) == 2 and lab.das is not None and len(lab.das.received) == 1


async def test_endpoint_triggers_wait_for_every_worker_not_a_fixed_delay(lab: Lab) -> None:
    """With the workers' applied endpoint sequences (nac.main's shared slots) the CoA leaves
    as soon as every worker holds the change; a stalled worker costs ``settle``, no more."""
    slots = [0, 0]
    dynauth = await lab.setup(ack, applied=lambda: slots)
    dynauth.settle = 5.0
    async with lab.db.session() as session:
        await crud.set_endpoint_state(session, mac=MAC, posture_state="non_compliant")
        target = await crud.get_endpoint_seq(session)
    task = asyncio.create_task(dynauth.endpoint_changed(MAC, trigger="posture"))
    await asyncio.sleep(0.15)
    assert lab.das is not None and not lab.das.received  # no worker has it yet
    slots[0] = target
    await asyncio.sleep(0.1)
    assert not lab.das.received  # one worker still has the old state
    started = time.monotonic()
    slots[1] = target
    outcomes = await task
    assert time.monotonic() - started < 1.0  # not the 5 s settle
    assert [o.result for o in outcomes] == ["ack"] and dynauth.counters["settled"] == 1

    dynauth.settle = 0.3
    async with lab.db.session() as session:
        await crud.set_endpoint_state(session, mac=MAC, posture_state="compliant")
    slots[0] = target + 1  # slots[1] stays behind: a stalled worker
    started = time.monotonic()
    outcomes = await dynauth.endpoint_changed(MAC, trigger="posture")
    assert 0.3 <= time.monotonic() - started < 2.0
    assert [o.result for o in outcomes] == ["ack"] and dynauth.counters["settle_timeouts"] == 1
