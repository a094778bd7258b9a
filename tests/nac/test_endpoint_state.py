"""Endpoint state (profile, posture, blocked) reaches the running snapshot without a reload."""

from __future__ import annotations

import pytest

from nac.core.errors import NotFoundError
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import EndpointCreate
from nac.services.identity import MacCredentials, SnapshotResolver
from nac.services.snapshot import SnapshotStore
from policy.model import AccessContext, AuthnStatus, NasInfo


def _mab(mac: str) -> AccessContext:
    from datetime import UTC, datetime

    return AccessContext(
        protocol="radius",
        now=datetime.now(UTC),
        nas=NasInfo(name="sw", ip="10.0.0.1"),
        auth_method="mab",
        mac=mac,
        credentials=MacCredentials(mac),
    )


async def test_state_changes_patch_the_snapshot(database: Database, box: SecretBox) -> None:
    db = database
    async with db.session() as s:
        await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:55"))
    store = SnapshotStore(db=db, box=box)
    snap = await store.load()
    version = snap.version
    assert snap.endpoints["00:11:22:33:44:55"].posture_state == "unknown"
    resolver = SnapshotResolver(snap)
    first = resolver.authenticate("endpoints", _mab("00:11:22:33:44:55"))
    assert first.status is AuthnStatus.OK

    async with db.session() as s:
        await crud.set_endpoint_state(
            s,
            mac="00-11-22-33-44-55",
            posture_state="non_compliant",
            posture_score=80,
            posture_failed=["firewall"],
            events=[("posture_change", {"from": "unknown", "to": "non_compliant"})],
        )
        # A MAC first seen by profiling is created, but not registered (not known for MAB).
        row = await crud.set_endpoint_state(s, mac="AA:BB:CC:00:00:01", profile="printer")
        assert row.registered is False
        with pytest.raises(NotFoundError):
            await crud.set_endpoint_state(s, mac="aa:bb:cc:00:00:02", create=False, blocked=True)
        with pytest.raises(ValueError, match="not endpoint state: id, state_seq"):
            await crud.set_endpoint_state(s, mac="aa:bb:cc:00:00:03", id=7, state_seq=1)
        # The configuration version did not move: no full reload.
        assert await crud.get_config_version(s) == version
        events = await crud.list_endpoint_events(s, mac="00:11:22:33:44:55")
        assert [(e.kind, e.detail["to"]) for e in events] == [("posture_change", "non_compliant")]

    assert await store.apply_endpoint_changes() == 2
    assert store.current is snap  # patched in place, not replaced
    entry = snap.endpoints["00:11:22:33:44:55"]
    assert (entry.posture_state, entry.posture_score) == ("non_compliant", 80)
    assert entry.posture_failed == frozenset({"firewall"})
    assert snap.endpoints["aa:bb:cc:00:00:01"].profile == "printer"
    assert await store.apply_endpoint_changes() == 0  # nothing new

    # The resolver's cache follows the patched entry; a discovered MAC is still unknown.
    again = resolver.authenticate("endpoints", _mab("00:11:22:33:44:55"))
    assert again.status is AuthnStatus.OK and again is not first
    unknown = resolver.authenticate("endpoints", _mab("aa:bb:cc:00:00:01"))
    assert unknown.status is not AuthnStatus.OK

    # A full reload carries the state and the sequence it was read at.
    async with db.session() as s:
        await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:66"))
    assert await store.reload_if_changed()
    fresh = store.current
    assert fresh is not None and fresh is not snap
    assert fresh.endpoints["00:11:22:33:44:55"].posture_state == "non_compliant"
    assert fresh.endpoint_seq == snap.endpoint_seq


async def test_state_probe_reads_version_and_sequence(database: Database) -> None:
    from nac.db.engine import StateProbe

    db = database
    probe = StateProbe(db)
    try:
        version, seq = await probe.read()
        async with db.session() as s:
            await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:77"))
            await crud.set_endpoint_state(s, mac="00:11:22:33:44:77", profile="printer")
        moved = await probe.read()
        assert moved[0] > version  # creating an endpoint is a configuration change
        assert moved[1] > seq  # its state change took the next sequence number
        if db.dialect == "sqlite":
            # read in the event loop, not on the async driver's thread
            assert probe.direct_reads == 2 and probe.pooled_reads == 0
    finally:
        probe.close()


async def test_state_probe_holds_no_read_transaction(database: Database) -> None:
    """On SQLite the direct connection holds no snapshot between reads: a TRUNCATE checkpoint
    (which must wait for every reader of the WAL) completes, and the next read sees what was
    committed meanwhile; a file it cannot open falls back to the pooled statement. On
    PostgreSQL every read is the pooled statement and sees each commit."""
    import sqlite3

    from sqlalchemy import make_url, text

    from nac.db.engine import StateProbe

    db = database
    probe = StateProbe(db)
    try:
        version, _ = await probe.read()
        if db.dialect != "sqlite":
            async with db.engine.begin() as conn:
                await conn.execute(text("UPDATE config_state SET version = version + 1"))
            assert (await probe.read())[0] == version + 1
            assert probe.pooled_reads == 2 and probe.direct_reads == 0
            return
        path = make_url(db.sync_url).database
        assert path
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("UPDATE config_state SET version = version + 1 WHERE id = 1")
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other.close()
        assert busy == 0
        assert (await probe.read())[0] == version + 1
        assert probe.direct_reads == 2
        probe.close()
        probe._path = str(path) + ".missing/nac.db"
        assert (await probe.read())[0] == version + 1
        assert probe.pooled_reads == 1
    finally:
        probe.close()


async def test_run_follows_changes_through_the_probe(database: Database, box: SecretBox) -> None:
    import asyncio

    db = database
    store = SnapshotStore(db=db, box=box, poll_interval=0.05, endpoint_interval=0.02)
    snap = await store.load()
    stop = asyncio.Event()
    task = asyncio.create_task(store.run(stop))
    try:
        async with db.session() as s:
            await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:88"))
        for _ in range(200):
            if store.current is not snap:
                break
            await asyncio.sleep(0.01)
        assert store.current is not snap  # the version moved: reloaded
        assert store.current is not None
        fresh = store.current
        async with db.session() as s:
            await crud.set_endpoint_state(s, mac="00:11:22:33:44:88", blocked=True)
        for _ in range(200):
            if fresh.endpoints["00:11:22:33:44:88"].blocked:
                break
            await asyncio.sleep(0.01)
        assert store.current is fresh  # patched in place
        assert fresh.endpoints["00:11:22:33:44:88"].blocked
    finally:
        stop.set()
        await task
