"""Users, NAS clients and endpoints on the console pages and under /api/v1: create, list,
update, delete; the generated RADIUS secret shown exactly once; field errors; roles; CSRF."""

from __future__ import annotations

import re

import httpx

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database

from .conftest import Login


async def form_post(client: httpx.AsyncClient, url: str, **data: str) -> httpx.Response:
    """A form POST carrying the CSRF token as the form field (as a browser does), not as the
    X-CSRF-Token header the login fixture sends."""
    token = client.headers.pop("X-CSRF-Token")
    try:
        return await client.post(url, data={**data, "csrf_token": token})
    finally:
        client.headers["X-CSRF-Token"] = token


async def runtime_secret(database: Database, box: SecretBox, name: str) -> str:
    async with database.session() as session:
        config = await crud.load_runtime_config(session, box=box)
    (client,) = [c for c in config.clients if c.name == name]
    return client.secret


def shown_secret(html: str) -> str:
    match = re.search(r'id="new-secret">([^<]+)<', html)
    assert match, html
    return match.group(1)


# --- users ---------------------------------------------------------------------------------


async def test_users_through_the_pages(login: Login) -> None:
    root = await login("root")
    created = await form_post(
        root,
        "/users",
        name="alice",
        password="alice-secret-pw",
        groups="staff, vpn",
        enable_secret="enable-me-please",
    )
    assert created.status_code == 303 and created.headers["location"] == "/users"
    listing = (await root.get("/users")).text
    assert 'data-user="alice"' in listing and "staff, vpn" in listing
    assert "alice-secret-pw" not in listing and "enable-me-please" not in listing

    edited = await form_post(root, "/users/alice", groups="staff, ops", password="new-pass-123")
    assert edited.status_code == 303
    user = (await root.get("/api/v1/users/alice")).json()
    assert user["enabled"] is False and user["groups"] == ["ops", "staff"]
    assert "password" not in user and "enable_secret" not in user
    assert "ops" in (await root.get("/users")).text

    duplicate = await form_post(root, "/users", name="alice", password="x")
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    bad = await form_post(root, "/users", name="bad name!", password="x")
    assert bad.status_code == 422 and 'id="error-new-name"' in bad.text
    assert "Traceback" not in bad.text
    bad_group = await form_post(root, "/users", name="bob", password="x", groups="ok, no/pe")
    assert bad_group.status_code == 422 and 'id="error-new-groups"' in bad_group.text

    deleted = await form_post(root, "/users/alice/delete")
    assert deleted.status_code == 303
    assert (await root.get("/api/v1/users/alice")).status_code == 404
    assert (await form_post(root, "/users/alice/delete")).status_code == 404


async def test_users_through_the_api(login: Login) -> None:
    root = await login("root")
    body = {"name": "carol", "password": "pw-carol-1", "groups": ["g1"], "enable_secret": "en"}
    created = await root.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["groups"] == ["g1"] and created.json()["has_enable_secret"] is True
    assert "pw-carol-1" not in created.text
    again = await root.post("/api/v1/users", json=body)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    bad = await root.post("/api/v1/users", json={**body, "name": "no spaces"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]

    listed = (await root.get("/api/v1/users")).json()
    assert [u["name"] for u in listed] == ["carol"]
    patched = await root.patch("/api/v1/users/carol", json={"enabled": False, "groups": []})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert patched.json()["groups"] == []
    assert (await root.patch("/api/v1/users/nobody", json={})).status_code == 404
    assert (await root.delete("/api/v1/users/carol")).status_code == 204
    assert (await root.get("/api/v1/users")).json() == []


# --- NAS clients ---------------------------------------------------------------------------


async def test_clients_through_the_pages_secret_shown_once_and_rotated(
    login: Login, database: Database, box: SecretBox
) -> None:
    root = await login("root")
    created = await form_post(
        root,
        "/clients",
        name="sw1",
        addresses="10.0.0.1, 10.1.0.0/16",
        vendor="cisco",
        device_group="access",
        location="lab",
        tacacs_key="tac-key-123",
    )
    assert created.status_code == 200, created.text
    secret = shown_secret(created.text)
    assert len(secret) == 24 and created.text.count(secret) == 1
    assert secret == await runtime_secret(database, box, "sw1")

    listing = (await root.get("/clients")).text
    assert 'data-client="sw1"' in listing and "10.0.0.1/32, 10.1.0.0/16" in listing
    assert "cisco" in listing and "access" in listing and "lab" in listing
    assert secret not in listing and "tac-key-123" not in listing and "new-secret" not in listing
    for url in ("/api/v1/clients", "/api/v1/clients/sw1"):
        answer = (await root.get(url)).text
        assert secret not in answer and "tac-key-123" not in answer
    assert (await root.get("/api/v1/clients/sw1")).json()["has_tacacs_key"] is True

    rotated = await form_post(root, "/clients/sw1/rotate-secret")
    assert rotated.status_code == 200
    new = shown_secret(rotated.text)
    assert new != secret and rotated.text.count(new) == 1 and secret not in rotated.text
    assert await runtime_secret(database, box, "sw1") == new
    assert new not in (await root.get("/clients")).text

    duplicate = await form_post(root, "/clients", name="sw1", addresses="10.9.9.9")
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    assert "new-secret" not in duplicate.text
    bad = await form_post(root, "/clients", name="sw2", addresses="10.0.0.300")
    assert bad.status_code == 422 and 'id="error-new-addresses"' in bad.text
    assert "not an IP address or CIDR" in bad.text and "new-secret" not in bad.text
    assert "Traceback" not in bad.text

    assert (await form_post(root, "/clients/sw1/delete")).status_code == 303
    assert (await root.get("/api/v1/clients")).json() == []
    assert (await form_post(root, "/clients/sw1/rotate-secret")).status_code == 404


async def test_clients_through_the_api(login: Login, database: Database, box: SecretBox) -> None:
    root = await login("root")
    body = {"name": "wlc", "addresses": ["192.0.2.0/24"], "vendor": "aruba"}
    created = await root.post("/api/v1/clients", json=body)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert created.json()["client"]["name"] == "wlc"
    assert secret == await runtime_secret(database, box, "wlc")
    for url in ("/api/v1/clients", "/api/v1/clients/wlc", "/clients"):
        assert secret not in (await root.get(url)).text
    assert (await root.post("/api/v1/clients", json=body)).status_code == 409
    given = await root.post("/api/v1/clients", json={**body, "name": "x", "secret": "mine"})
    assert given.status_code == 201 and given.json()["secret"] != "mine"  # always generated

    bad = await root.post("/api/v1/clients", json={**body, "name": "y", "addresses": ["nope"]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "addresses"]
    patched = await root.patch(
        "/api/v1/clients/wlc", json={"location": "hq", "addresses": ["192.0.2.7"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["location"] == "hq" and patched.json()["addresses"] == ["192.0.2.7/32"]
    bad_patch = await root.patch("/api/v1/clients/wlc", json={"addresses": ["1.2.3.4/99"]})
    assert bad_patch.status_code == 422 and "addresses" in bad_patch.text
    assert secret == await runtime_secret(database, box, "wlc")  # PATCH keeps the secret

    rotated = await root.post("/api/v1/clients/wlc/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != secret and await runtime_secret(database, box, "wlc") == new
    assert (await root.post("/api/v1/clients/nobody/rotate-secret")).status_code == 404
    assert (await root.delete("/api/v1/clients/wlc")).status_code == 204
    assert (await root.get("/api/v1/clients/wlc")).status_code == 404


# --- endpoints -----------------------------------------------------------------------------


async def test_endpoints_through_the_pages_and_the_api(login: Login) -> None:
    oper = await login("oper")
    created = await form_post(
        oper, "/endpoints", mac="AA-BB-CC-DD-EE-01", profile="printer", group="printers"
    )
    assert created.status_code == 303 and created.headers["location"] == "/endpoints"
    listing = (await oper.get("/endpoints")).text
    assert 'data-mac="aa:bb:cc:dd:ee:01"' in listing and "printer" in listing
    dotted = await form_post(oper, "/endpoints", mac="aabb.ccdd.ee02")
    assert dotted.status_code == 303
    duplicate = await form_post(oper, "/endpoints", mac="aabbccddee01")
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    bad = await form_post(oper, "/endpoints", mac="not-a-mac")
    assert bad.status_code == 422 and 'id="error-new-mac"' in bad.text
    assert "not a MAC address" in bad.text and "Traceback" not in bad.text

    edited = await form_post(oper, "/endpoints/aa:bb:cc:dd:ee:01", profile="camera", group="")
    assert edited.status_code == 303
    one = (await oper.get("/api/v1/endpoints/AABBCCDDEE01")).json()
    assert one["profile"] == "camera" and one["group"] is None
    patched = await oper.patch("/api/v1/endpoints/aa:bb:cc:dd:ee:02", json={"group": "iot"})
    assert patched.status_code == 200 and patched.json()["group"] == "iot"
    assert (await oper.get("/api/v1/endpoints/zz")).status_code == 422

    api = await oper.post("/api/v1/endpoints", json={"mac": "bad"})
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["body", "mac"]
    assert (await form_post(oper, "/endpoints/aa:bb:cc:dd:ee:01/delete")).status_code == 303
    assert (await oper.delete("/api/v1/endpoints/aa:bb:cc:dd:ee:02")).status_code == 204
    assert (await oper.get("/api/v1/endpoints")).json() == []
    assert (await form_post(oper, "/endpoints/aa:bb:cc:dd:ee:01/delete")).status_code == 404


# --- roles and CSRF ------------------------------------------------------------------------


async def test_auditors_read_operators_change_endpoints_only(login: Login) -> None:
    root = await login("root")
    await root.post("/api/v1/users", json={"name": "dave", "password": "pw"})
    await root.post("/api/v1/clients", json={"name": "sw9", "addresses": ["10.9.0.1"]})
    audi, oper = await login("audi"), await login("oper")

    for who in (audi, oper):
        for url in ("/users", "/clients", "/endpoints"):
            assert (await who.get(url)).status_code == 200
        assert "dave" in (await who.get("/users")).text
        assert (await who.get("/api/v1/clients/sw9")).status_code == 200
        refused = [
            await form_post(who, "/users", name="eve", password="pw"),
            await form_post(who, "/users/dave", groups="x"),
            await form_post(who, "/users/dave/delete"),
            await form_post(who, "/clients", name="sw8", addresses="10.8.0.1"),
            await form_post(who, "/clients/sw9/rotate-secret"),
            await form_post(who, "/clients/sw9/delete"),
            await who.post("/api/v1/users", json={"name": "eve", "password": "pw"}),
            await who.patch("/api/v1/users/dave", json={"enabled": False}),
            await who.delete("/api/v1/users/dave"),
            await who.post("/api/v1/clients", json={"name": "sw8", "addresses": ["10.8.0.1"]}),
            await who.patch("/api/v1/clients/sw9", json={"location": "x"}),
            await who.post("/api/v1/clients/sw9/rotate-secret"),
            await who.delete("/api/v1/clients/sw9"),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert all("needs role admin" in r.text for r in refused)

    for url in (
        "/endpoints",
        "/endpoints/aa:bb:cc:dd:ee:ff",
        "/endpoints/aa:bb:cc:dd:ee:ff/delete",
    ):
        refused_page = await form_post(audi, url, mac="aa:bb:cc:dd:ee:ff")
        assert refused_page.status_code == 403 and "needs role operator" in refused_page.text
    assert (await audi.patch("/api/v1/endpoints/aa:bb:cc:dd:ee:ff", json={})).status_code == 403
    assert (await form_post(oper, "/endpoints", mac="aa:bb:cc:dd:ee:ff")).status_code == 303
    assert (await root.get("/api/v1/users/dave")).json()["enabled"] is True


async def test_changes_need_the_csrf_token(login: Login) -> None:
    root = await login("root")
    token = root.headers.pop("X-CSRF-Token")
    attempts = [
        await root.post("/users", data={"name": "mallory", "password": "pw"}),
        await root.post("/clients", data={"name": "evil", "addresses": "10.6.6.6"}),
        await root.post("/endpoints", data={"mac": "aa:bb:cc:00:00:01"}),
        await root.post("/users", data={"name": "mallory", "password": "pw", "csrf_token": "no"}),
        await root.post("/api/v1/users", json={"name": "mallory", "password": "pw"}),
        await root.post("/api/v1/clients", json={"name": "evil", "addresses": ["10.6.6.6"]}),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert all("CSRF" in r.text for r in attempts)
    root.headers["X-CSRF-Token"] = token
    assert (await root.get("/api/v1/users")).json() == []
    assert (await root.get("/api/v1/clients")).json() == []
    assert (await root.get("/api/v1/endpoints")).json() == []
