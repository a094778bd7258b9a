"""POST /api/v1/posture/reports (enrollment tokens), the posture history, token enrollment
and revocation; the endpoint's new posture reaches a running snapshot without a reload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.engine import Database
from nac.db.models import PostureReport, PostureToken
from nac.services import posture_service
from nac.services.snapshot import SnapshotStore
from web.app import create_app

from .conftest import Login, new_client

MAC = "aa:bb:cc:00:11:22"
OTHER = "aa:bb:cc:00:11:33"
BAD = {"firewall.enabled": False, "disk.encrypted": True}
GOOD = {"firewall.enabled": True, "disk.encrypted": True}


class FakeDynauth:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def schedule(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))


@pytest.fixture
def dynauth() -> FakeDynauth:
    return FakeDynauth()


@pytest.fixture
async def app(
    settings: Settings, database: Database, admins: dict[str, str], dynauth: FakeDynauth
) -> FastAPI:
    async with database.session() as session:
        await crud.set_policy(session, document=demo_policy(), author="demo", comment="demo")
    return create_app(settings, db=database, dynauth=dynauth)  # type: ignore[arg-type]


async def enroll(root: httpx.AsyncClient, mac: str = MAC) -> str:
    response = await root.post("/api/v1/posture/tokens", json={"mac": mac})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["info"]["mac"] == mac and body["token"].startswith("nacp_")
    return str(body["token"])


async def post(
    client: httpx.AsyncClient, token: str | None, body: Any, *, raw: bytes | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if raw is not None:
        return await client.post("/api/v1/posture/reports", content=raw, headers=headers)
    return await client.post("/api/v1/posture/reports", json=body, headers=headers)


async def test_reports_need_an_enrollment_token(
    login: Login, anon: httpx.AsyncClient, app: FastAPI
) -> None:
    root = await login("root")
    await enroll(root)
    body = {"mac": MAC, "facts": GOOD}
    missing = await post(anon, None, body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert (await post(anon, "nacp_nope", body)).status_code == 401
    # an admin API token is not a posture token, and a console session is not either
    admin_token = (await root.post("/api/v1/tokens", json={"name": "t", "role": "admin"})).json()
    assert (await post(anon, admin_token["token"], body)).status_code == 401
    assert (await root.post("/api/v1/posture/reports", json=body)).status_code == 401


async def test_a_report_for_another_mac_is_refused(login: Login, anon: httpx.AsyncClient) -> None:
    token = await enroll(await login("root"))
    response = await post(anon, token, {"mac": OTHER, "facts": GOOD})
    assert response.status_code == 403
    assert f"issued for {MAC}, not for {OTHER}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mac": MAC, "facts": {"firewall.enabled": "yes"}}, "facts.firewall.enabled"),
        ({"mac": MAC, "facts": {"av.signature_age_days": -3}}, "facts.av.signature_age_days"),
        ({"mac": MAC}, "facts"),
        ({"mac": "not-a-mac", "facts": {}}, "mac"),
        ({"mac": MAC, "facts": {}, "collected_at": "noon"}, "collected_at"),
    ],
)
async def test_malformed_reports_get_422_naming_the_field(
    login: Login, anon: httpx.AsyncClient, database: Database, body: Any, field: str
) -> None:
    token = await enroll(await login("root"))
    response = await post(anon, token, body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["field"] == field and error["msg"]
    async with database.session() as session:
        assert (await session.execute(select(PostureReport))).first() is None


async def test_not_json_is_422(login: Login, anon: httpx.AsyncClient) -> None:
    token = await enroll(await login("root"))
    response = await post(anon, token, None, raw=b"{facts")
    assert response.status_code == 422 and "not JSON" in response.text


async def test_a_report_is_evaluated_stored_and_its_history_kept(
    login: Login, anon: httpx.AsyncClient, database: Database, dynauth: FakeDynauth
) -> None:
    root = await login("root")
    token = await enroll(root)
    bad = await post(anon, token, {"mac": MAC.upper(), "facts": BAD, "mdm": {"id": 7}})
    assert bad.status_code == 201, bad.text
    answer = bad.json()
    assert (answer["state"], answer["score"], answer["changed"]) == ("non_compliant", 80, True)
    assert answer["failed"] == [
        {
            "id": "firewall",
            "fact": "firewall.enabled",
            "weight": 80,
            "words": "firewall.enabled is false (required true)",
        }
    ]
    assert dynauth.calls == [
        ("endpoint_changed", (MAC,), {"trigger": "posture", "detail": "unknown -> non_compliant"})
    ]
    # the same state again: stored, no change, no CoA
    again = await post(anon, token, {"mac": MAC, "facts": BAD})
    assert again.json()["changed"] is False and len(dynauth.calls) == 1
    good = await post(anon, token, {"mac": MAC, "facts": GOOD})
    assert (good.json()["state"], good.json()["score"]) == ("compliant", 4)  # 0.05 * 80
    assert dynauth.calls[-1][2]["detail"] == "non_compliant -> compliant"

    async with database.session() as session:
        endpoint = await crud.get_endpoint(session, mac=MAC)
        events = await crud.list_endpoint_events(session, mac=MAC, kind="posture_change")
        token_row = (await session.execute(select(PostureToken))).scalar_one()
    assert (endpoint.posture_state, endpoint.posture_score) == ("compliant", 4)
    assert endpoint.registered is False  # posture does not make an endpoint known for MAB
    assert [(e.detail["from"], e.detail["to"]) for e in events] == [
        ("non_compliant", "compliant"),
        ("unknown", "non_compliant"),
    ]
    assert events[1].detail["failed"] == ["firewall.enabled is false (required true)"]
    assert token_row.last_used is not None

    audi = await login("audi")
    history = await audi.get(f"/api/v1/endpoints/{MAC}/posture")
    assert history.status_code == 200
    data = history.json()
    assert (data["state"], data["score"], data["failed"]) == ("compliant", 4, [])
    assert [r["state"] for r in data["reports"]] == ["compliant", "non_compliant", "non_compliant"]
    oldest = data["reports"][-1]
    assert oldest["facts"] == BAD
    assert oldest["extra"]["mdm"] == {"id": 7}  # unknown fields are kept
    assert oldest["failed"] == ["firewall"]
    assert oldest["failed_checks"][0]["words"] == "firewall.enabled is false (required true)"
    assert len(data["changes"]) == 2
    assert (await audi.get(f"/api/v1/endpoints/{OTHER}/posture")).status_code == 404


async def test_revoked_tokens_are_refused(
    login: Login, anon: httpx.AsyncClient, database: Database
) -> None:
    root = await login("root")
    token = await enroll(root)
    (info,) = (await root.get("/api/v1/posture/tokens")).json()
    assert "token" not in info and info["mac"] == MAC
    revoked = await root.delete(f"/api/v1/posture/tokens/{info['id']}")
    assert revoked.json() == {"revoked": 1}
    assert (await root.delete(f"/api/v1/posture/tokens/{info['id']}")).status_code == 404
    response = await post(anon, token, {"mac": MAC, "facts": GOOD})
    assert response.status_code == 401 and "revoked" in response.text
    async with database.session() as session:
        logged = await crud.list_admin_changes(session, object_type="posture_token")
    assert [(c.admin, c.action, c.object_key) for c in logged] == [
        ("root", "revoke", f"token {info['id']}"),
        ("root", "create", MAC),
    ]
    assert logged[1].after == {"mac": MAC, "token": "***"}  # never the token


async def test_a_failed_write_leaves_no_half_written_report(
    login: Login, anon: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await enroll(await login("root"))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(posture_service.crud, "put_endpoint_state", broken)
    app = anon._transport.app  # type: ignore[attr-defined]
    async with new_client(app, raise_errors=False) as client:
        response = await post(client, token, {"mac": MAC, "facts": BAD})
    assert response.status_code == 500
    async with database.session() as session:
        assert (await session.execute(select(PostureReport))).first() is None
        row = (await session.execute(select(PostureToken))).scalar_one()
        assert row.last_used is None  # the token's touch rolled back with the rest


async def test_the_new_posture_reaches_a_running_snapshot(
    login: Login, anon: httpx.AsyncClient, database: Database, box: SecretBox
) -> None:
    token = await enroll(await login("root"))
    store = SnapshotStore(db=database, box=box)
    snapshot = await store.load()
    assert snapshot.endpoints[MAC].posture_state == "unknown"  # enrolled: recorded
    assert snapshot.endpoints[MAC].first_seen is not None
    await post(anon, token, {"mac": MAC, "facts": BAD})
    assert await store.apply_endpoint_changes() == 1
    entry = snapshot.endpoints[MAC]
    assert (entry.posture_state, entry.posture_score) == ("non_compliant", 80)
    assert entry.posture_failed == frozenset({"firewall"}) and entry.posture_at is not None
    assert store.reloads == 1  # patched in place, no configuration reload
