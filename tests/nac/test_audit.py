from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from nac.core.config import Settings
from nac.db import crud
from nac.db.engine import Database
from nac.db.records import AuditRecordIn

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def audit(i: int) -> AuditRecordIn:
    return AuditRecordIn(
        ts=T0 + timedelta(milliseconds=i),
        node="n1",
        protocol="radius",
        nas_name="lab-switch",
        nas_ip="127.0.0.1",
        username=f"user{i % 50}",
        mac="00:11:22:33:44:55" if i % 2 else None,
        method="pap",
        result="accept" if i % 3 else "reject",
        reason_code=0 if i % 3 else 22040,
        reason="Access granted" if i % 3 else "wrong password",
        policy_set="default",
        authentication_rule="local-users",
        authorization_rule="employees",
        profile="employees-vlan100",
        latency_us=250,
        request=[["User-Name", f"user{i % 50}"], ["User-Password", "<hidden>"]],
        reply=[["Tunnel-Private-Group-Id", "100"]],
        trace=["policy set default matched", "authorization rule employees matched"],
    )


async def test_add_and_list_audit(database: Database) -> None:
    async with database.session() as s:
        assert await crud.add_audit_records(s, records=[audit(i) for i in range(30)]) == 30
        assert await crud.add_audit_records(s, records=[]) == 0
        tail = await crud.list_audit(s, limit=5)
        assert [r.id for r in tail] == sorted(r.id for r in tail)
        assert tail[-1].ts == T0 + timedelta(milliseconds=29)
        assert tail[-1].request == [["User-Name", "user29"], ["User-Password", "<hidden>"]]
        after = await crud.list_audit(s, limit=100, since_id=tail[0].id)
        assert [r.id for r in after] == [r.id for r in tail[1:]]
        rejects = await crud.list_audit(s, limit=100, result="reject")
        assert len(rejects) == 10 and all(r.reason_code == 22040 for r in rejects)
        assert len(await crud.list_audit(s, limit=100, mac="00-11-22-33-44-55")) == 15
        assert len(await crud.list_audit(s, limit=100, username="user1")) == 1


async def test_audit_bulk_insert_throughput(database: Database) -> None:
    batch = [audit(i) for i in range(1000)]
    total = 20_000
    start = time.perf_counter()
    for _ in range(total // len(batch)):
        async with database.session() as s:
            await crud.add_audit_records(s, records=batch)
    elapsed = time.perf_counter() - start
    rate = total / elapsed
    print(
        f"\naudit insert ({database.dialect}): {total} rows in {elapsed:.2f}s = {rate:,.0f} rows/s"
    )
    assert rate > 2000


async def test_words_items_through_the_writer_inserter(
    database: Database, migrated: Settings
) -> None:
    """TACACS+ records are words: the audit writer's inserter stores them in the JSON columns
    beside RADIUS items in one batch, on SQLite and PostgreSQL alike."""
    from nac.db.engine import create_sync_engine
    from nac.services.audit import words_item
    from nac.services.audit_process import AuditInserter

    item = words_item(
        ts=T0.timestamp(),
        protocol="tacacs",
        node="n1",
        nas_name="lab-switch",
        nas_ip="127.0.0.1",
        username="ops",
        method="author",
        result="reject",
        reason_code=12050,
        reason="command denied by command set netops: reload",
        request={"service": "shell", "cmd": "reload"},
        reply={"status": "FAIL"},
        trace=["authorization netops: match - user.groups contains netops"],
    )
    engine = create_sync_engine(migrated)
    try:
        inserter = AuditInserter(engine)
        inserter.insert(inserter.rows([item, item]))
    finally:
        engine.dispose()
    async with database.session() as s:
        rows = await crud.list_audit(s, limit=10, username="ops")
    assert len(rows) == 2
    row = rows[0]
    assert (row.protocol, row.result, row.reason_code) == ("tacacs", "reject", 12050)
    assert row.ts == T0 and row.request_raw is None and row.context is None
    assert row.request == {"service": "shell", "cmd": "reload"} and row.reply == {"status": "FAIL"}
    assert row.trace == ["authorization netops: match - user.groups contains netops"]


def test_the_idle_writer_holds_the_write_lock_at_normal_priority() -> None:
    # In a child: the scheduling policy is the process's own.
    import subprocess
    import sys

    code = (
        "import os\n"
        "from nac.services.audit_process import holding_the_write_lock\n"
        "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
        "with holding_the_write_lock():\n"
        "    inside = os.sched_getscheduler(0)\n"
        "print(inside == os.SCHED_OTHER, os.sched_getscheduler(0) == os.SCHED_IDLE)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stderr
