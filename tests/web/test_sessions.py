"""The sessions page and API, and the console/API triggers (endpoint blocked, user disabled),
with a real DynamicAuthorizer talking to the fake DAS of tests/services/test_dynauth.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import EndpointCreate, NasClientCreate, UserCreate
from nac.db.records import AccountingRecordIn, AcctStatus
from nac.services.dynauth import DynamicAuthorizer
from nac.services.snapshot import SnapshotStore
from tests.services.test_dynauth import FakeDas, ack, start_das
from web.app import create_app

from .conftest import Login

MAC = "00:11:22:33:44:55"


@pytest.fixture
async def das() -> AsyncIterator[FakeDas]:
    das = await start_das(ack)
    yield das
    assert das.transport is not None
    das.transport.close()


@pytest.fixture
async def dynauth(
    database: Database, box: SecretBox, das: FakeDas
) -> AsyncIterator[DynamicAuthorizer]:
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
        await crud.create_user(session, user=UserCreate(name="alice", password="pw"), box=box)
    async with database.session() as session:
        await crud.create_endpoint(session, endpoint=EndpointCreate(mac=MAC))
    async with database.session() as session:
        await crud.apply_accounting(
            session,
            records=[
                AccountingRecordIn(
                    status_type=AcctStatus.START,
                    event_time=datetime.now(UTC),
                    unique_key="k1",
                    acct_session_id="0000000000000001",
                    username="alice",
                    mac=MAC,
                    nas_name="lab-switch",
                    nas_ip="127.0.0.1",
                )
            ],
        )
    store = SnapshotStore(db=database, box=box)
    await store.load()
    authorizer = DynamicAuthorizer(
        db=database, store=store, timeout=0.2, tries=2, settle=0, config_poll=0
    )
    yield authorizer
    await authorizer.close()


@pytest.fixture
def app(  # the console with dynamic authorization (overrides the conftest's)
    settings: Settings, database: Database, admins: dict[str, str], dynauth: DynamicAuthorizer
) -> FastAPI:
    return create_app(settings, db=database, dynauth=dynauth)


async def session_id(client: httpx.AsyncClient) -> int:
    rows = (await client.get("/api/v1/sessions", params={"mac": MAC})).json()
    assert len(rows) == 1, rows
    return int(rows[0]["id"])


async def test_api_disconnect_returns_the_answer(login: Login, das: FakeDas) -> None:
    oper = await login("oper")
    sid = await session_id(oper)
    response = await oper.post(f"/api/v1/sessions/{sid}/disconnect")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["request"], body["result"], body["action"]) == (
        "Disconnect-Request",
        "ack",
        "disconnect",
    )
    assert body["trigger"] == "admin-disconnect" and body["mac"] == MAC
    assert [r.packet.code for r in das.received] == [40]
    missing = await oper.post("/api/v1/sessions/999999/reauthenticate")
    assert missing.status_code == 404
    bad = await oper.get("/api/v1/sessions", params={"mac": "not-a-mac"})
    assert bad.status_code == 422 and "mac" in bad.text


async def test_console_buttons_act_and_the_page_shows_the_history(
    login: Login, das: FakeDas
) -> None:
    oper = await login("oper")
    sid = await session_id(oper)
    page = await oper.get("/sessions")
    assert page.status_code == 200
    assert f'action="/sessions/{sid}/reauthenticate"' in page.text
    assert f'action="/sessions/{sid}/disconnect"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    form = httpx.AsyncClient(transport=oper._transport, base_url="http://testserver")
    form.cookies = oper.cookies
    refused = await form.post(f"/sessions/{sid}/reauthenticate")
    assert refused.status_code == 403  # a form without its CSRF token
    done = await form.post(f"/sessions/{sid}/reauthenticate", data={"csrf_token": token.group(1)})
    assert done.status_code == 303 and done.headers["location"] == f"/sessions#session-{sid}"
    await form.aclose()
    assert len(das.received) == 1
    page = await oper.get("/sessions")
    history = re.findall(
        r'<tr class="coa coa-ack"[^>]*data-coa="(\d+)">(.*?)</tr>', page.text, re.S
    )
    assert [h[0] for h in history] == [str(sid)]
    assert "Disconnect-Request (reauthenticate, admin-reauthenticate)" in history[0][1]
    assert "<strong>ack</strong>" in history[0][1]
    # Auditors see the sessions, not the buttons.
    audi = await login("audi")
    seen = await audi.get("/sessions")
    assert MAC in seen.text and "/reauthenticate" not in seen.text


async def test_blocking_an_endpoint_disconnects_its_sessions(
    login: Login, das: FakeDas, dynauth: DynamicAuthorizer
) -> None:
    oper = await login("oper")
    response = await oper.patch(f"/api/v1/endpoints/{MAC}", json={"blocked": True})
    assert response.status_code == 200, response.text
    await dynauth.drain()
    assert [r.packet.code for r in das.received] == [40]
    # The console's endpoint form does it too.
    response = await oper.post(f"/endpoints/{MAC}", data={"blocked": "yes"})
    assert response.status_code == 303
    await dynauth.drain()
    assert len(das.received) == 2
    # Saving the form without blocking sends nothing.
    await oper.post(f"/endpoints/{MAC}", data={"blocked": "no"})
    await dynauth.drain()
    assert len(das.received) == 2
    bad = await oper.post(f"/endpoints/{MAC}", data={"blocked": "maybe"})
    assert bad.status_code == 422 and "blocked" in bad.text


async def test_disabling_a_user_disconnects_their_sessions(
    login: Login, das: FakeDas, dynauth: DynamicAuthorizer
) -> None:
    root = await login("root")
    response = await root.patch("/api/v1/users/alice", json={"enabled": False})
    assert response.status_code == 200, response.text
    await dynauth.drain()
    (got,) = das.received
    assert got.packet.code == 40 and got.packet.get(1) == b"alice"
    async with dynauth._db.session() as session:
        (row,) = await crud.list_audit(session, protocol="coa")
    assert row.result == "ack" and "trigger: user-disabled" in row.trace
