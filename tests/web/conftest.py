"""The console under test: ``create_app`` on the shared ``database``/``settings`` fixtures (so
these run on PostgreSQL too), driven in-process with httpx's ASGI transport."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from nac.core.config import Settings
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import AdminCreate
from nac.db.records import AuditRecordIn
from web.app import create_app

PASSWORDS = {"root": "root-pass-1", "oper": "oper-pass-1", "audi": "audi-pass-1"}
ROLES = {"root": "admin", "oper": "operator", "audi": "auditor"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

Login = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def admins(database: Database) -> dict[str, str]:
    async with database.session() as session:
        for name, role in ROLES.items():
            admin = AdminCreate(name=name, role=role, password=PASSWORDS[name])
            await crud.create_admin(session, admin=admin)
    return ROLES


@pytest.fixture
def app(settings: Settings, database: Database, admins: dict[str, str]) -> FastAPI:
    return create_app(settings, db=database)


def new_client(app: FastAPI, *, raise_errors: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app) as client:
        yield client


def login_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": login_csrf(form.text)},
    )


@pytest.fixture
async def login(app: FastAPI) -> AsyncIterator[Login]:
    """``await login("root")``: a client holding a session of that admin; its CSRF token is
    sent as X-CSRF-Token on every request."""
    clients: list[httpx.AsyncClient] = []

    async def make(name: str) -> httpx.AsyncClient:
        client = new_client(app)
        clients.append(client)
        response = await log_in(client, name, PASSWORDS[name])
        assert response.status_code == 303, response.text
        me = (await client.get("/api/v1/me")).json()
        client.headers["X-CSRF-Token"] = me["csrf_token"]
        return client

    yield make
    for client in clients:
        await client.aclose()


def record(i: int, **change: object) -> AuditRecordIn:
    values: dict[str, object] = {
        "ts": T0 + timedelta(seconds=i),
        "protocol": "radius" if i % 2 else "tacacs",
        "node": "node-a",
        "nas_name": "sw1" if i % 3 else "sw2",
        "nas_ip": "10.0.0.1",
        "username": f"user{i % 4}",
        "mac": f"00:11:22:33:44:{i % 256:02x}",
        "method": "pap",
        "result": "reject" if i % 5 == 0 else "accept",
        "reason_code": 2 if i % 5 == 0 else 0,
        "reason": "wrong password" if i % 5 == 0 else "ok",
        "policy_set": "wired",
        "authentication_rule": "internal",
        "authorization_rule": None if i % 5 == 0 else "employees",
        "latency_us": 1234,
        "request": [["User-Name", f"user{i % 4}"], ["User-Password", "*** (masked)"]],
        "reply": [["Reply-Message", "hello"]],
        "trace": ["policy set wired: matched", f"authentication internal: step {i}"],
    }
    values.update(change)
    return AuditRecordIn(**values)  # type: ignore[arg-type]


@pytest.fixture
async def audit_rows(database: Database) -> int:
    """120 decisions, one every second from T0; every fifth a reject."""
    async with database.session() as session:
        await crud.add_audit_records(session, records=[record(i) for i in range(1, 121)])
    return 120
