"""The endpoint and user pages (/endpoints/{mac}, /users/{name}) and their REST twins: every
section filled from real rows (profiling, posture reports through the posture API, accounting,
endpoint events, decisions), possible spoofing highlighted, the operator actions (block,
unblock, re-authenticate) reaching a fake DAS over RFC 5176, 404 for unknown ones, and the
live log's deep links pointing at these pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.engine import Database
from nac.db.models import NasClientCreate, UserCreate
from nac.db.records import AccountingRecordIn, AcctStatus
from nac.services.dynauth import DynamicAuthorizer
from nac.services.snapshot import SnapshotStore
from tests.services.test_dynauth import FakeDas, ack, start_das
from web.app import create_app

from .conftest import Login, record

MAC = "00:11:22:33:44:55"
OTHER = "66:77:88:99:aa:bb"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def das() -> AsyncIterator[FakeDas]:
    das = await start_das(ack)
    yield das
    assert das.transport is not None
    das.transport.close()


async def seed(database: Database, box: SecretBox, das: FakeDas) -> None:
    async with database.session() as session:
        await crud.set_policy(session, document=demo_policy(), author="demo", comment="demo")
    async with database.session() as session:
        await crud.create_client(
            session,
            client=NasClientCreate(
                name="lab-switch",
                addresses=["127.0.0.0/8"],
                secret="testing123",
                coa_port=das.port,
                disconnect_port=das.port,
            ),
            box=box,
        )
    async with database.session() as session:
        user = UserCreate(name="alice", password="pw", groups=["employees", "vpn"])
        await crud.create_user(session, user=user, box=box, create_groups=True)
    async with database.session() as session:  # what profiling found, with its events
        await crud.set_endpoint_state(
            session,
            mac=MAC,
            vendor="Cimsys Inc",
            hostname="hp-printer-3f",
            dhcp_fingerprint="1,3,6,15,44,47",
            dhcp_vendor_class="Hewlett-Packard JetDirect",
            profile="printer",
            profile_confidence=85,
            profile_source="dhcp",
            signals={"dhcp.params": "1,3,6,15,44,47"},
            last_user="alice",
            events=[
                (
                    "profile_change",
                    {"from": None, "to": "printer", "confidence": 85, "source": "dhcp"},
                ),
                (
                    "possible_spoofing",
                    {
                        "from": "printer",
                        "from_class": "iot",
                        "to": "windows-workstation",
                        "to_class": "computer",
                        "old_confidence": 85,
                        "confidence": 70,
                        "source": "dhcp",
                        "reason": "profile class changed on a known MAC: possible MAC spoofing",
                    },
                ),
            ],
        )
    start = AccountingRecordIn(
        status_type=AcctStatus.START,
        event_time=NOW - timedelta(hours=2),
        unique_key="old",
        acct_session_id="00000000000000aa",
        username="alice",
        mac=MAC,
        nas_name="lab-switch",
        nas_ip="127.0.0.1",
        nas_port_id="Gi1/0/7",
    )
    stop = AccountingRecordIn(
        status_type=AcctStatus.STOP,
        event_time=NOW - timedelta(hours=1),
        unique_key="old",
        acct_session_id="00000000000000aa",
        username="alice",
        mac=MAC,
        nas_name="lab-switch",
        nas_ip="127.0.0.1",
        session_time=3600,
        input_octets=1234,
        output_octets=5678,
        terminate_cause="User-Request",
    )
    live = AccountingRecordIn(
        status_type=AcctStatus.START,
        event_time=NOW - timedelta(minutes=5),
        unique_key="live",
        acct_session_id="00000000000000bb",
        username="alice",
        mac=MAC,
        nas_name="lab-switch",
        nas_ip="127.0.0.1",
        framed_ip="10.0.100.7",
    )
    for rec in (start, stop, live):
        async with database.session() as session:
            await crud.apply_accounting(session, records=[rec])
    async with database.session() as session:
        await crud.add_audit_records(
            session,
            records=[
                record(1, mac=MAC, username="alice", result="accept", ts=NOW),
                record(2, mac=MAC, username="alice", result="reject", reason="wrong password"),
                record(3, mac=OTHER, username="bob"),
            ],
        )


@pytest.fixture
async def dynauth(
    database: Database, box: SecretBox, das: FakeDas
) -> AsyncIterator[DynamicAuthorizer]:
    await seed(database, box, das)
    store = SnapshotStore(db=database, box=box)
    await store.load()
    authorizer = DynamicAuthorizer(
        db=database, store=store, timeout=0.2, tries=2, settle=0, config_poll=0
    )
    yield authorizer
    await authorizer.close()


@pytest.fixture
def app(
    settings: Settings, database: Database, admins: dict[str, str], dynauth: DynamicAuthorizer
) -> FastAPI:
    return create_app(settings, db=database, dynauth=dynauth)


async def report(anon: httpx.AsyncClient, root: httpx.AsyncClient, facts: dict[str, bool]) -> None:
    token = (await root.post("/api/v1/posture/tokens", json={"mac": MAC})).json()["token"]
    response = await anon.post(
        "/api/v1/posture/reports",
        json={"mac": MAC, "facts": facts},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def rows(html: str, table: str) -> list[str]:
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, table
    return re.findall(r"<tr[^>]*>.*?</tr>", body.group(1), re.S)


async def test_the_endpoint_page_shows_everything_known(
    login: Login, anon: httpx.AsyncClient, dynauth: DynamicAuthorizer
) -> None:
    root = await login("root")
    await report(anon, root, {"firewall.enabled": False, "disk.encrypted": True})
    await dynauth.drain()  # the posture change re-authorized the live session (RFC 5176)
    audi = await login("audi")
    response = await audi.get("/endpoints/00-11-22-33-44-55")  # any MAC notation
    assert response.status_code == 200, response.text
    html = response.text
    for shown in (
        "Cimsys Inc",
        "hp-printer-3f",
        "1,3,6,15,44,47",
        "Hewlett-Packard JetDirect",
        "85% confidence, from dhcp",
        "dhcp.params=1,3,6,15,44,47",
        'href="/users/alice"',
        "not registered",
    ):
        assert shown in html, shown
    # Posture: the state, the failed check in words, the report history.
    assert "posture non_compliant" in html
    (posture_row,) = rows(html, "posture-reports")
    assert "non_compliant" in posture_row and "firewall" in posture_row
    # Sessions: the live one first, then the stopped one with its counters.
    sessions = rows(html, "sessions")
    assert len(sessions) == 2
    assert "session-active" in sessions[0] and "10.0.100.7" in sessions[0]
    assert "session-stopped" in sessions[1] and "1234 / 5678" in sessions[1]
    assert "User-Request" in sessions[1] and "Gi1/0/7" in sessions[1]
    # Events newest first; possible spoofing is highlighted.
    events = rows(html, "events")
    kinds = [re.search(r'data-event="([^"]+)"', e).group(1) for e in events]  # type: ignore[union-attr]
    assert kinds[:2] == ["coa", "posture_change"]
    assert set(kinds) >= {"profile_change", "possible_spoofing", "posture_enrolled"}
    (spoof,) = [e for e in events if 'data-event="possible_spoofing"' in e]
    assert "reject" in spoof.split(">", 1)[0] and "possible MAC spoofing" in spoof
    assert "windows-workstation" in spoof and "computer" in spoof
    # Decisions for this MAC only, each linking to its record ("why").
    decisions = rows(html, "decisions")
    results = [re.search(r'<tr class="(\w+)"', d).group(1) for d in decisions]  # type: ignore[union-attr]
    assert sorted(results) == ["accept", "ack", "reject"]  # the CoA exchange is one too
    assert all(MAC in d for d in decisions) and OTHER not in "".join(decisions)
    ids = re.findall(r'href="/log/(\d+)"', "".join(decisions))
    assert ids and (await audi.get(f"/log/{ids[0]}")).status_code == 200
    assert "REJECT" in "".join(decisions)
    # An auditor sees no action buttons.
    assert "/block" not in html and "/reauthenticate" not in html


async def test_the_endpoint_detail_api(
    login: Login, anon: httpx.AsyncClient, dynauth: DynamicAuthorizer
) -> None:
    root = await login("root")
    await report(anon, root, {"firewall.enabled": True, "disk.encrypted": True})
    await dynauth.drain()
    audi = await login("audi")
    body = (await audi.get(f"/api/v1/endpoints/{MAC.upper()}/detail")).json()
    assert body["mac"] == MAC and body["profile"] == "printer"
    assert body["profile_confidence"] == 85 and body["profile_source"] == "dhcp"
    assert body["vendor"] == "Cimsys Inc" and body["registered"] is False
    assert body["posture"]["state"] == "compliant" and len(body["posture"]["reports"]) == 1
    assert [s["status"] for s in body["sessions"]] == ["active", "stopped"]
    assert {e["kind"]: e["warning"] for e in body["events"]}["possible_spoofing"] is True
    assert {e["kind"]: e["warning"] for e in body["events"]}["profile_change"] is False
    assert [d["result"] for d in body["decisions"]] == ["ack", "reject", "accept"]
    assert body["decisions"][0]["href"] == f"/log/{body['decisions'][0]['id']}"
    missing = await audi.get("/api/v1/endpoints/aa:aa:aa:aa:aa:aa/detail")
    assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
    bad = await audi.get("/api/v1/endpoints/not-a-mac/detail")
    assert bad.status_code == 422 and "mac" in bad.text


async def test_unknown_endpoint_and_user_pages_are_404(login: Login) -> None:
    audi = await login("audi")
    for url in ("/endpoints/aa:aa:aa:aa:aa:aa", "/users/nobody"):
        response = await audi.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")
        assert "404 Not found" in response.text and "does not exist" in response.text
    assert (await audi.get("/api/v1/users/nobody/detail")).status_code == 404


async def test_operators_block_unblock_and_reauthenticate(
    login: Login, das: FakeDas, dynauth: DynamicAuthorizer
) -> None:
    oper = await login("oper")
    page = (await oper.get(f"/endpoints/{MAC}")).text
    assert f'action="/endpoints/{MAC}/block"' in page
    assert "Re-authenticate its sessions (1)" in page

    done = await oper.post(f"/endpoints/{MAC}/reauthenticate")
    assert done.status_code == 303
    assert done.headers["location"] == f"/endpoints/{MAC}?done=reauthenticate"
    assert len(das.received) == 1  # one live session, one request to its NAS
    page = (await oper.get(done.headers["location"])).text
    assert "Re-authentication asked" in page
    (coa,) = [e for e in rows(page, "events") if 'data-event="coa"' in e]
    assert "admin-reauthenticate" in coa and "<strong>ack</strong>" in coa

    blocked = await oper.post(f"/endpoints/{MAC}/block")
    assert blocked.status_code == 303
    await dynauth.drain()
    assert [r.packet.code for r in das.received][-1] == 40  # Disconnect-Request
    api = (await oper.get(f"/api/v1/endpoints/{MAC}")).json()
    assert api["blocked"] is True
    page = (await oper.get(f"/endpoints/{MAC}")).text
    assert '<span class="badge bad">blocked</span>' in page
    assert f'action="/endpoints/{MAC}/unblock"' in page
    unblocked = await oper.post(f"/endpoints/{MAC}/unblock")
    assert unblocked.status_code == 303
    assert (await oper.get(f"/api/v1/endpoints/{MAC}")).json()["blocked"] is False
    changes = (await oper.get("/api/v1/changes", params={"object_type": "endpoint"})).json()
    blocked_flags = [c["after"]["blocked"] for c in changes["items"] if c["object_key"] == MAC]
    assert blocked_flags[:2] == [False, True]  # newest first, by oper
    assert (await oper.post("/endpoints/aa:aa:aa:aa:aa:aa/block")).status_code == 404


async def test_reauthenticate_without_dynauth_is_503(
    settings: Settings, database: Database, admins: dict[str, str], dynauth: DynamicAuthorizer
) -> None:
    from .conftest import PASSWORDS, log_in, new_client

    app = create_app(settings, db=database)  # no CoA client in this process
    async with new_client(app, raise_errors=False) as client:
        assert (await log_in(client, "oper", PASSWORDS["oper"])).status_code == 303
        me = (await client.get("/api/v1/me")).json()
        page = (await client.get(f"/endpoints/{MAC}")).text
        assert "dynamic authorization is not running" in page
        response = await client.post(
            f"/endpoints/{MAC}/reauthenticate", data={"csrf_token": me["csrf_token"]}
        )
        assert response.status_code == 503


async def test_the_user_page_and_api(login: Login) -> None:
    audi = await login("audi")
    response = await audi.get("/users/alice")
    assert response.status_code == 200
    html = response.text
    assert "employees" in html and "vpn" in html and '<span class="badge">enabled</span>' in html
    sessions = rows(html, "sessions")
    assert len(sessions) == 2 and "session-active" in sessions[0]
    assert f'href="/endpoints/{MAC}"' in sessions[0]
    decisions = rows(html, "decisions")
    assert len(decisions) == 2 and all("alice" in d for d in decisions)
    assert "/log?user=alice" in html
    body = (await audi.get("/api/v1/users/alice/detail")).json()
    assert body["groups"] == ["employees", "vpn"] and body["enabled"] is True
    assert [s["status"] for s in body["sessions"]] == ["active", "stopped"]
    assert len(body["decisions"]) == 2
    assert "password" not in str(body).replace("wrong password", "")


async def test_the_lists_and_the_live_log_link_to_the_detail_pages(login: Login) -> None:
    audi = await login("audi")
    log = (await audi.get("/log")).text
    assert 'class="user" href="/users/alice"' in log
    assert f'class="endpoint" href="/endpoints/{MAC}"' in log
    records = (await audi.get("/api/v1/audit", params={"user": "alice"})).json()["items"]
    record_page = (await audi.get(f"/log/{records[0]['id']}")).text
    assert 'href="/users/alice"' in record_page and f'href="/endpoints/{MAC}"' in record_page
    assert f'href="/endpoints/{MAC}"' in (await audi.get("/endpoints")).text
    assert 'href="/users/alice"' in (await audi.get("/users")).text
