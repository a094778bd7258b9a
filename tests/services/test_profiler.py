"""The profiler against a real database: endpoint state, events, coalescing, the callback,
the built-in rule seed and the rules CLI; and the capture extra staying optional."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import EndpointCreate
from nac.db.profiles import (
    add_profile_rule,
    builtin_rules,
    delete_profile_rule,
    list_profile_rules,
    seed_profile_rules,
)
from nac.services.dhcp_listener import DhcpProtocol
from nac.services.profiler import Observation, Profiler, observe_dhcp, oui_vendor
from posture.dhcp import DhcpMessage, push_dhcp
from posture.profiling import RuleError

WINDOWS = {
    "dhcp.params": "1,3,6,15,31,33,43,44,46,47,119,121,249,252",
    "dhcp.vendor_class": "MSFT 5.0",
    "hostname": "PC-1",
}
PRINTER = {"dhcp.vendor_class": "Hewlett-Packard JetDirect", "hostname": "NPI0A1B2C"}
MAC = "00:1b:a9:01:02:03"  # Brother Industries


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _profiler(db: Database, clock: Clock, **kw: Any) -> Profiler:
    async with db.session() as session:
        await seed_profile_rules(session)
    profiler = Profiler(db=db, clock=clock, **kw)
    await profiler.load_rules()
    return profiler


def _request(mac: str, signals: dict[str, str], *, decide: bool = True) -> Observation:
    return Observation(mac=mac, signals=dict(signals), channel="dhcp", decide=decide)


async def test_windows_request_makes_a_profiled_endpoint(database: Database) -> None:
    clock = Clock()
    profiler = await _profiler(database, clock)
    assert profiler.submit(_request(MAC, WINDOWS, decide=False))  # a DISCOVER
    assert profiler.submit(_request(MAC, {"dhcp.message_type": "request"}))
    assert await profiler.flush() == 1
    async with database.session() as session:
        row = await crud.get_endpoint(session, mac=MAC)
        events = await crud.list_endpoint_events(session, mac=MAC)
    assert row.profile == "windows-workstation" and row.profile_confidence == 88
    assert row.profile_source == "dhcp" and row.registered is False
    assert row.vendor == "Brother industries, LTD." and row.randomized is False
    assert row.hostname == "PC-1" and row.dhcp_vendor_class == "MSFT 5.0"
    assert row.dhcp_fingerprint == WINDOWS["dhcp.params"]
    assert row.signals["oui.vendor"]["value"] == "Brother industries, LTD."
    assert row.last_seen is not None
    assert [(e.kind, e.detail["to"]) for e in events] == [("profile_change", "windows-workstation")]


async def test_a_storm_costs_one_write_per_mac_per_second(database: Database) -> None:
    clock = Clock()
    profiler = await _profiler(database, clock)
    profiler.submit(_request(MAC, WINDOWS))
    await profiler.flush()
    async with database.session() as session:
        seq = await crud.get_endpoint_seq(session)
    for _ in range(500):  # the same REQUEST again and again, within the second
        profiler.submit(_request(MAC, WINDOWS))
    assert profiler.pending == 1 and profiler.stats.coalesced == 499
    assert await profiler.flush() == 0  # not due: written less than a second ago
    clock.now += 1.5
    assert await profiler.flush() == 0  # due, but nothing new: only counts (every 60 s)
    profiler.submit(_request(MAC, {**WINDOWS, "hostname": "PC-2"}))
    assert await profiler.flush() == 1  # a new hostname, 1.5 s after the last write
    profiler.submit(_request(MAC, {**WINDOWS, "hostname": "PC-3"}))
    assert await profiler.flush() == 0  # another, within the second: waits
    clock.now += 1.0
    assert await profiler.flush() == 1
    async with database.session() as session:
        assert await crud.get_endpoint_seq(session) == seq + 2
        row = await crud.get_endpoint(session, mac=MAC)
    assert row.hostname == "PC-3"
    clock.now += 61
    profiler.submit(_request(MAC, {**WINDOWS, "hostname": "PC-3"}))
    assert await profiler.flush() == 1  # the refresh of counts and last seen


async def test_pending_is_bounded(database: Database) -> None:
    profiler = await _profiler(database, Clock(), max_pending=3)
    results = [profiler.submit(_request(f"00:00:5e:00:00:0{i}", WINDOWS)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert profiler.stats.dropped == 2
    assert not profiler.submit(_request("not a mac", WINDOWS))


async def test_printer_to_windows_is_written_at_once_with_spoofing(database: Database) -> None:
    clock = Clock()
    seen: list[tuple[str, str | None, str | None]] = []
    profiler = await _profiler(database, clock)
    profiler.on_profile_change = lambda mac, old, new: seen.append((mac, old, new))
    profiler.submit(_request(MAC, PRINTER))
    await profiler.flush()
    profiler.submit(_request(MAC, WINDOWS))
    assert await profiler.flush() == 1  # a profile change does not wait for the second
    async with database.session() as session:
        row = await crud.get_endpoint(session, mac=MAC)
        kinds = [e.kind for e in await crud.list_endpoint_events(session, mac=MAC)]
        spoof = await crud.list_endpoint_events(session, mac=MAC, kind="possible_spoofing")
    assert row.profile == "windows-workstation"
    assert kinds == ["possible_spoofing", "profile_change", "profile_change"]  # newest first
    assert spoof[0].detail["from"] == "printer" and spoof[0].detail["to_class"] == "computer"
    assert seen == [(MAC, None, "printer"), (MAC, "printer", "windows-workstation")]
    assert profiler.stats.spoofing_events == 1


async def test_async_callback_and_admin_profile_kept(database: Database) -> None:
    clock = Clock()
    calls: list[str] = []

    async def changed(mac: str, old: str | None, new: str | None) -> None:
        calls.append(f"{old}->{new}")

    profiler = await _profiler(database, clock, on_profile_change=changed)
    async with database.session() as session:
        await crud.create_endpoint(session, endpoint=EndpointCreate(mac=MAC, profile="printer"))
    profiler.submit(_request(MAC, WINDOWS))
    await profiler.flush()
    await asyncio.sleep(0)
    async with database.session() as session:
        row = await crud.get_endpoint(session, mac=MAC)
        kinds = [e.kind for e in await crud.list_endpoint_events(session, mac=MAC)]
    assert row.profile == "printer" and row.registered  # the admin's word stands
    assert row.hostname == "PC-1"  # the signals are still recorded
    assert kinds == ["possible_spoofing"]
    assert calls == []  # no profile change
    other = "00:00:5e:00:53:01"
    profiler.submit(_request(other, WINDOWS))
    await profiler.flush()
    await asyncio.sleep(0.01)
    assert calls == ["None->windows-workstation"]


async def test_accounting_user_and_device_sensor(database: Database) -> None:
    profiler = await _profiler(database, Clock())
    profiler.submit(
        Observation(
            mac=MAC,
            signals={"cdp.platform": "Cisco IP Phone 7962"},
            channel="radius-acct",
            decide=True,
            user="alice",
        )
    )
    await profiler.flush()
    async with database.session() as session:
        row = await crud.get_endpoint(session, mac=MAC)
    assert row.profile == "ip-phone" and row.profile_source == "radius-acct"
    assert row.last_user == "alice"


async def test_rules_seed_and_crud(database: Database) -> None:
    async with database.session() as session:
        added = await seed_profile_rules(session)
        assert added == len(builtin_rules()) >= 30
        assert await seed_profile_rules(session) == 0  # idempotent
        row = await add_profile_rule(
            session,
            name="zebra-printers",
            signal="oui.vendor",
            match="prefix",
            pattern="Zebra",
            profile="printer",
            weight=60,
        )
        assert row.builtin is False
        with pytest.raises(AlreadyExistsError):
            await add_profile_rule(
                session,
                name="zebra-printers",
                signal="oui.vendor",
                match="prefix",
                pattern="Zebra",
                profile="printer",
                weight=60,
            )
        with pytest.raises(RuleError, match="pattern"):
            await add_profile_rule(
                session,
                name="bad",
                signal="hostname",
                match="regex",
                pattern="(",
                profile="x",
                weight=5,
            )
        deleted = await delete_profile_rule(session, name="axis-oui")
        assert deleted.builtin and not deleted.enabled
        await delete_profile_rule(session, name="zebra-printers")
        with pytest.raises(NotFoundError):
            await delete_profile_rule(session, name="zebra-printers")
        assert await seed_profile_rules(session) == 0  # a disabled built-in stays disabled
        enabled = {r.name for r in await list_profile_rules(session, enabled_only=True)}
    assert "axis-oui" not in enabled and "hikvision-oui" in enabled
    profiler = Profiler(db=database, clock=Clock())
    await profiler.load_rules()
    assert "axis-oui" not in {r.name for r in profiler.rules}
    compiled = profiler.rules
    await profiler.load_rules()
    assert profiler.rules is compiled  # unchanged rows: nothing compiled again
    async with database.session() as session:
        await add_profile_rule(
            session,
            name="zebra-2",
            signal="hostname",
            match="prefix",
            pattern="ZBR",
            profile="printer",
            weight=40,
        )
    await profiler.load_rules()
    assert "zebra-2" in {r.name for r in profiler.rules}
    async with database.session() as session:
        await delete_profile_rule(session, name="hikvision-oui")
    await profiler.load_rules()
    names = {r.name for r in profiler.rules}
    assert "hikvision-oui" not in names and "zebra-2" in names
    if database.dialect == "sqlite":
        assert profiler._probe.direct_reads == 4 and profiler._probe.pooled_reads == 0


def test_oui_vendor_offline_and_randomized() -> None:
    assert oui_vendor("00:40:8c:00:00:01") == "Axis Communications AB"
    assert oui_vendor("02:40:8c:00:00:01") is None  # locally administered: no vendor
    assert oui_vendor("00:00:00:00:00:00") is not None  # Xerox's historic 00-00-00


async def test_listener_counts_malformed_and_ignores_what_is_not_a_client(
    database: Database,
) -> None:
    profiler = await _profiler(database, Clock())
    protocol = DhcpProtocol(profiler)
    chaddr = bytes.fromhex("001ba9010203").ljust(16, b"\x00")
    request = push_dhcp(DhcpMessage(chaddr=chaddr, options=((53, b"\x03"),)))
    protocol.datagram_received(b"junk", ("10.0.0.1", 67))
    protocol.datagram_received(request[:-1], ("10.0.0.1", 67))  # no end option
    protocol.datagram_received(
        push_dhcp(DhcpMessage(op=2, chaddr=chaddr, options=((53, b"\x05"),))), ("10.0.0.1", 67)
    )
    protocol.datagram_received(push_dhcp(DhcpMessage(chaddr=chaddr)), ("10.0.0.1", 67))  # BOOTP
    protocol.datagram_received(request, ("10.0.0.1", 67))
    assert protocol.counters["received"] == 5
    assert protocol.counters["too_short"] == 1 and protocol.counters["missing_end"] == 1
    assert protocol.counters["ignored_reply"] == 1 and protocol.counters["ignored_bootp"] == 1
    assert protocol.counters["profiled"] == 1
    assert protocol.drops == {
        "too_short": 1,
        "missing_end": 1,
        "ignored_reply": 1,
        "ignored_bootp": 1,
    }
    release = DhcpMessage(chaddr=chaddr, options=((53, b"\x07"),))
    assert observe_dhcp(release) == "ignored_type"


def test_nothing_imports_the_capture_extra() -> None:
    """scapy (GPL-2.0-only) is only for nac.capture, which only `nac capture` loads, lazily."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("nac", "radius", "tacacs", "policy", "posture", "web"):
        for path in (root / package).rglob("*.py"):
            if path == root / "nac" / "capture.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n == "scapy" or n.startswith(("scapy.", "nac.capture")) for n in names):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_profile_cli(settings: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """`nac init` seeds the rules; `nac profile rules list/add/delete` and `profile show`."""
    from nac.cli import main

    for key in ("NAC_DATA_DIR", "NAC_DB", "NAC_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    common = ["--data-dir", str(settings.data_dir), "--db", settings.database_url()]

    def nac(*args: str) -> tuple[int, str, str]:
        code = main([*args, *common])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = nac("init")
    assert code == 0 and "built-in profiling rules stored" in out
    code, out, _ = nac("profile", "rules", "list")
    assert code == 0 and "windows-10-11-params" in out and "hikvision-oui" in out
    code, out, _ = nac(
        "profile",
        "rules",
        "add",
        "zebra",
        "--profile",
        "printer",
        "--signal",
        "oui.vendor",
        "--match",
        "prefix",
        "--pattern",
        "Zebra Technologies",
        "--weight",
        "70",
    )
    assert code == 0 and "profile rule zebra added" in out
    code, _, err = nac(
        "profile", "rules", "add", "bad", "--profile", "x", "--signal", "nope", "--pattern", "y"
    )
    assert code == 1 and "nac: error: signal: unknown signal 'nope'" in err
    code, out, _ = nac("profile", "rules", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {"name": "zebra", "builtin": False, "enabled": True}.items() <= next(
        r for r in rows if r["name"] == "zebra"
    ).items()
    assert nac("profile", "rules", "delete", "zebra")[1].strip() == "profile rule zebra deleted"
    assert "built in: disabled" in nac("profile", "rules", "delete", "axis-oui")[1]
    code, _, err = nac("profile", "show", "00:11:22:33:44:55")
    assert code == 1 and "does not exist" in err

    async def profiled() -> None:
        from nac.db.engine import create_engines

        db = create_engines(settings)
        try:
            profiler = Profiler(db=db, clock=Clock())
            await profiler.load_rules()
            profiler.submit(_request(MAC, PRINTER))
            await profiler.flush()
        finally:
            await db.dispose()

    asyncio.run(profiled())
    code, out, _ = nac("profile", "show", "00-1B-A9-01-02-03")
    assert code == 0
    assert "profile:             printer" in out and "hostname:            NPI0A1B2C" in out
    assert "profile_change" in out
    info = json.loads(nac("profile", "show", MAC, "--json")[1])
    assert info["profile"] == "printer" and info["vendor"] == "Brother industries, LTD."
