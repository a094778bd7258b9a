from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nac.db import crud
from nac.db.engine import Database
from nac.db.records import AccountingRecordIn, AcctStatus

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def rec(status: int, key: str = "s1", at: int = 0, **kw: object) -> AccountingRecordIn:
    base: dict[str, object] = {
        "unique_key": key,
        "acct_session_id": key.upper(),
        "username": "alice",
        "mac": "00:11:22:33:44:55",
        "nas_name": "sw1",
        "nas_ip": "10.0.0.1",
        "nas_port": 7,
    }
    base.update(kw)
    return AccountingRecordIn(status_type=status, event_time=T0 + timedelta(seconds=at), **base)  # type: ignore[arg-type]


async def _apply(db: Database, *records: AccountingRecordIn) -> crud.AccountingResult:
    async with db.session() as s:
        return await crud.apply_accounting(s, records=records)


async def _sessions(db: Database) -> dict[str, object]:
    async with db.session() as s:
        return {r.unique_key: r for r in await crud.list_sessions(s)}


async def test_start_interim_stop_idempotent(database: Database) -> None:
    db = database
    r = await _apply(db, rec(AcctStatus.START, framed_ip="10.1.1.5", class_="cls"))
    assert r.started == 1
    r = await _apply(db, rec(AcctStatus.START))  # re-sent Start
    assert (r.started, r.ignored) == (0, 1)
    await _apply(
        db,
        rec(
            AcctStatus.INTERIM_UPDATE,
            at=60,
            session_time=60,
            input_octets=5 << 32,
            output_octets=10,
        ),
    )
    s = (await _sessions(db))["s1"]
    assert s.status == "active" and s.input_octets == 5 << 32 and s.session_time == 60  # type: ignore[attr-defined]
    assert s.framed_ip == "10.1.1.5" and s.class_ == "cls"  # type: ignore[attr-defined]
    stop = rec(
        AcctStatus.STOP,
        at=120,
        session_time=120,
        input_octets=6 << 32,
        terminate_cause="User-Request",
    )
    assert (await _apply(db, stop)).stopped == 1
    assert (await _apply(db, stop)).ignored == 1  # re-sent Stop
    late = rec(AcctStatus.INTERIM_UPDATE, at=90, session_time=90, input_octets=1)
    assert (await _apply(db, late)).ignored == 1  # Interim after Stop does not reopen
    async with db.session() as sess:
        rows = await crud.list_sessions(sess, status=None)
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "stopped" and row.terminate_cause == "User-Request"
    assert row.stop_time == T0 + timedelta(seconds=120) and row.start_time == T0
    assert row.input_octets == 6 << 32 and row.session_time == 120
    assert row.last_update.tzinfo is not None


async def test_lost_start_and_out_of_order_interim(database: Database) -> None:
    db = database
    await _apply(
        db, rec(AcctStatus.INTERIM_UPDATE, "s2", at=300, session_time=300, input_octets=50)
    )
    s = (await _sessions(db))["s2"]
    assert s.status == "active" and s.start_time == T0  # type: ignore[attr-defined]
    await _apply(
        db, rec(AcctStatus.INTERIM_UPDATE, "s2", at=200, session_time=200, input_octets=10)
    )
    assert (await _sessions(db))["s2"].input_octets == 50  # type: ignore[attr-defined]
    # Stop with nothing before it creates a stopped row once
    await _apply(
        db, rec(AcctStatus.STOP, "s3", at=100, session_time=100), rec(AcctStatus.STOP, "s3", at=100)
    )
    async with db.session() as sess:
        rows = await crud.list_sessions(sess, status="stopped")
    assert [r.unique_key for r in rows] == ["s3"]


async def test_accounting_on_closes_that_nas_only(database: Database) -> None:
    db = database
    await _apply(
        db,
        rec(AcctStatus.START, "a", at=0),
        rec(AcctStatus.START, "b", at=1),
        rec(AcctStatus.START, "c", at=2, nas_ip="10.0.0.2", nas_name="sw2"),
    )
    r = await _apply(
        db,
        AccountingRecordIn(
            status_type=AcctStatus.ACCOUNTING_ON,
            event_time=T0 + timedelta(seconds=10),
            nas_ip="10.0.0.1",
            nas_name="sw1",
        ),
    )
    assert r.closed_by_nas == 2
    sessions = await _sessions(db)
    assert sessions["c"].status == "active"  # type: ignore[attr-defined]
    async with db.session() as sess:
        stopped = await crud.list_sessions(sess, status="stopped")
    assert {s.unique_key: s.terminate_cause for s in stopped} == {
        "a": "NAS-Reboot",
        "b": "NAS-Reboot",
    }
    r = await _apply(
        db,
        AccountingRecordIn(
            status_type=AcctStatus.ACCOUNTING_OFF,
            event_time=T0 + timedelta(seconds=20),
            nas_ip="10.0.0.2",
            nas_name="sw2",
        ),
    )
    assert r.closed_by_nas == 1
    async with db.session() as sess:
        c = next(s for s in await crud.list_sessions(sess, status="stopped") if s.unique_key == "c")
    assert c.terminate_cause == "NAS-Request"
    # an On/Off without any NAS identity closes nothing
    r = await _apply(db, AccountingRecordIn(status_type=AcctStatus.ACCOUNTING_ON, event_time=T0))
    assert r.ignored == 1
