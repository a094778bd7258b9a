"""The dashboard: decisions per minute by protocol and result, top reject reasons, active
sessions, NAS health; as JSON, as the landing page, in the OpenAPI schema."""

from __future__ import annotations

import re
from datetime import timedelta

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import NasClientCreate
from nac.db.records import AccountingRecordIn, AuditRecordIn
from nac.db.types import utcnow
from web.routes.dashboard import build_dashboard

from .conftest import PASSWORDS, T0, Login, log_in, record

NOW = T0 + timedelta(hours=1, seconds=30)  # 10:00:30
MINUTE = NOW.replace(second=0)


def at(ago: timedelta, **change: object) -> AuditRecordIn:
    return record(1, ts=NOW - ago, **change)


M = timedelta(minutes=1)


async def fill(database: Database, settings: Settings) -> None:
    box = SecretBox.open(settings.data_dir)
    async with database.session() as session:
        for name, address in (
            ("sw1", "10.0.0.1"),
            ("sw-quiet", "10.0.0.2"),
            ("sw-new", "10.0.0.3"),
        ):
            client = NasClientCreate(name=name, addresses=[address], secret="s3cret-" + name)
            await crud.create_client(session, client=client, box=box)
        await crud.update_client_seen(
            session, name="sw1", last_seen=NOW - M, message_authenticator_seen=False
        )
        await crud.update_client_seen(
            session, name="sw-quiet", last_seen=NOW - 20 * M, message_authenticator_seen=False
        )
        accept = {"protocol": "radius", "result": "accept", "nas_name": "sw1", "reason_code": 5200}
        wrong = {"protocol": "radius", "result": "reject", "nas_name": "sw1", "reason_code": 12011,
                 "reason": "wrong password for user1"}  # fmt: skip
        unknown = {"protocol": "radius", "result": "reject", "nas_name": "sw-quiet",
                   "reason_code": 12010, "reason": "unknown user"}  # fmt: skip
        records = [
            *(at(2 * M + timedelta(seconds=s), **accept) for s in (1, 2, 3)),  # 09:58:27..29
            *(at(2 * M, **wrong) for _ in range(2)),  # 09:58:30
            at(30 * M, **unknown),
            at(59 * M, protocol="tacacs", method="author", result="accept", nas_name="sw1"),
            at(61 * M, **wrong),  # before the chart's hour, inside a 6 h window
            *(at(3 * 60 * M, **wrong) for _ in range(3)),
            at(7 * 60 * M, **unknown),  # outside every window but 24 h
            at(
                10 * M,
                protocol="radius",
                result="reject",
                nas_name="ghost",
                reason_code=12001,
                reason="no policy set matched",
            ),
            at(-2 * M, **wrong),  # in the future: not counted
        ]
        await crud.add_audit_records(session, records=records)
        await crud.apply_accounting(
            session,
            records=[
                AccountingRecordIn(status_type=1, event_time=NOW - M, unique_key=k, username=k)
                for k in ("a", "b", "c")
            ]
            + [AccountingRecordIn(status_type=2, event_time=NOW, unique_key="b", username="b")],
        )


async def test_the_dashboard_numbers(database: Database, settings: Settings) -> None:
    await fill(database, settings)
    async with database.session() as session:
        data = await build_dashboard(session, window="1h", now=NOW)
        wide = await build_dashboard(session, window="6h", now=NOW)
        day = await build_dashboard(session, window="24h", now=NOW)
    assert len(data.minutes) == 60
    assert data.minutes[-1] == MINUTE and data.minutes[0] == MINUTE - 59 * M
    rates = {(s.protocol, s.result): s.counts for s in data.rates}
    assert set(rates) == {("radius", "accept"), ("radius", "reject"), ("tacacs", "accept")}
    assert rates[("radius", "accept")][57] == 3 and sum(rates[("radius", "accept")]) == 3
    reject = rates[("radius", "reject")]
    assert reject[57] == 2 and reject[49] == 1 and reject[29] == 1 and sum(reject) == 4
    assert rates[("tacacs", "accept")][0] == 1  # 09:01:30 is in the first minute
    assert [(r.reason_code, r.count) for r in data.top_rejects] == [
        (12011, 2), (12001, 1), (12010, 1)
    ]  # fmt: skip
    top = data.top_rejects[0]
    assert top.words == "wrong password" and top.example == "wrong password for user1"
    assert top.log_url.startswith("/log?result=reject&reason_code=12011&since=2026-12-01T09%3A00")
    assert next((r.reason_code, r.count) for r in wide.top_rejects) == (12011, 6)
    assert {r.reason_code: r.count for r in day.top_rejects}[12010] == 2
    assert data.requests == 8 and data.rejects == 4
    assert data.active_sessions == 2
    nas = {n.name: n for n in data.nas}
    assert list(nas) == ["sw-new", "sw-quiet", "sw1", "ghost"]  # configured ones first
    assert (nas["sw1"].state, nas["sw1"].requests, nas["sw1"].rejects) == ("ok", 6, 2)
    assert nas["sw1"].last_seen == NOW - M and nas["sw1"].addresses == ["10.0.0.1/32"]
    assert nas["sw1"].last_request == NOW - 2 * M
    assert (nas["sw-quiet"].state, nas["sw-quiet"].requests) == ("quiet", 1)
    assert (nas["sw-new"].state, nas["sw-new"].last_seen, nas["sw-new"].requests) == (
        "never", None, 0
    )  # fmt: skip
    assert not nas["ghost"].known and nas["ghost"].state == "ok" and nas["ghost"].rejects == 1


async def test_dashboard_api_and_page(login: Login, database: Database) -> None:
    now = utcnow()
    async with database.session() as session:
        rows = [
            record(
                1,
                ts=now - timedelta(seconds=5),
                protocol="radius",
                result="reject",
                reason_code=12011,
                reason="wrong password",
            ),
            record(2, ts=now - timedelta(seconds=4), protocol="radius", result="accept"),
            record(3, ts=now - timedelta(seconds=3), protocol="tacacs", result="accept"),
        ]
        await crud.add_audit_records(session, records=rows)
    client = await login("audi")
    response = await client.get("/api/v1/dashboard")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["window"] == "1h" and len(data["minutes"]) == 60
    totals = {(s["protocol"], s["result"]): sum(s["counts"]) for s in data["rates"]}
    assert totals == {("radius", "reject"): 1, ("radius", "accept"): 1, ("tacacs", "accept"): 1}
    assert data["top_rejects"] == [
        {
            "reason_code": 12011,
            "words": "wrong password",
            "example": "wrong password",
            "count": 1,
            "log_url": data["top_rejects"][0]["log_url"],
        }
    ]
    assert data["requests"] == 3 and data["rejects"] == 1 and data["active_sessions"] == 0
    bad = await client.get("/api/v1/dashboard?window=2h")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "window"]

    page = await client.get("/dashboard?window=15m")
    assert page.status_code == 200
    assert (
        '<a href="/dashboard?window=15m" class="current" aria-current="page">15m</a>' in page.text
    )
    assert re.search(r'<tr class="reject" data-code="12011"><td><a href="/log\?result=reject'
                     r'&amp;reason_code=12011&amp;since=[^"]+">12011</a></td><td>wrong password',
                     page.text)  # fmt: skip
    assert '<div class="n" id="card-requests">3</div>' in page.text
    assert '<script type="application/json" id="dashboard-data">' in page.text
    assert '<script src="/static/dashboard.js" defer></script>' in page.text
    assert '<a href="/dashboard">Dashboard</a>' in page.text  # in the nav
    assert (await client.get("/dashboard?window=2h")).status_code == 422
    script = await client.get("/static/dashboard.js")
    assert script.status_code == 200 and "/api/v1/dashboard?window=" in script.text
    assert "createElementNS" in script.text  # drawn as SVG


async def test_the_dashboard_is_the_landing_page(login: Login, anon: object) -> None:
    client = await login("audi")
    home = await client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/dashboard"
    response = await log_in(anon, "root", PASSWORDS["root"])  # type: ignore[arg-type]
    assert response.headers["location"] == "/dashboard"


async def test_openapi_documents_the_dashboard(login: Login) -> None:
    client = await login("audi")
    schema = (await client.get("/api/v1/openapi.json")).json()
    op = schema["paths"]["/api/v1/dashboard"]["get"]
    assert op["parameters"][0]["name"] == "window"
    assert {"Dashboard", "RateSeries", "RejectReason", "NasHealth"} <= set(
        schema["components"]["schemas"]
    )
    assert "/dashboard" not in schema["paths"]
