"""The console's bulk import (CSV), configuration export/import (YAML), HSTS and cookies."""

from __future__ import annotations

import httpx
import yaml
from fastapi import FastAPI

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.demo import seed_demo
from nac.db.engine import Database

from .conftest import PASSWORDS, Login, log_in

USERS_CSV = b"name,password,groups,enabled\nann,a-pw,staff;vpn,yes\nben,b-pw,staff,no\n"


def upload(data: bytes, name: str = "f.csv") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, "text/csv")}


async def test_users_import_api(login: Login, database: Database) -> None:
    root = await login("root")
    response = await root.post("/api/v1/users/import", files=upload(USERS_CSV, "staff.csv"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["created"], body["updated"]) == ("users", 2, 0)
    assert body["groups_created"] == ["staff", "vpn"]
    users = (await root.get("/api/v1/users")).json()
    assert {u["name"]: u["enabled"] for u in users} == {"ann": True, "ben": False}
    async with database.session() as s:
        (change,) = await crud.list_admin_changes(s, object_type="user")
        assert (change.admin, change.action, change.object_key) == ("root", "import", "staff.csv")

    # Again: both are duplicates now, plus a bad row; every one reported, nothing imported.
    again = USERS_CSV + b"bad name,x,,\n"
    response = await root.post("/api/v1/users/import", files=upload(again))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["line"], d["column"]) for d in detail] == [(2, "name"), (3, "name"), (4, "name")]
    assert "already exists" in detail[0]["msg"] and "invalid name" in detail[2]["msg"]
    response = await root.post(
        "/api/v1/users/import", params={"update": "true"}, files=upload(USERS_CSV)
    )
    assert response.json()["updated"] == 2


async def test_endpoints_import_api_for_operators(login: Login) -> None:
    oper = await login("oper")
    csv = b"mac,profile,blocked\n00-11-22-33-44-01,printer,no\n0011.2233.4402,,yes\n"
    response = await oper.post("/api/v1/endpoints/import", files=upload(csv))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    endpoints = (await oper.get("/api/v1/endpoints")).json()
    assert {e["mac"]: e["blocked"] for e in endpoints} == {
        "00:11:22:33:44:01": False,
        "00:11:22:33:44:02": True,
    }
    forbidden = await oper.post("/api/v1/users/import", files=upload(USERS_CSV))
    assert forbidden.status_code == 403
    bad = await oper.post("/api/v1/endpoints/import", files=upload(b"mac\nnope\n"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["line"] == 2


async def test_config_export_and_import_api(
    login: Login, database: Database, box: SecretBox
) -> None:
    async with database.session() as s:
        await seed_demo(s, box=box)
    root = await login("root")
    response = await root.get("/api/v1/config/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert "testing123" not in response.text and "secret: <not exported>" in response.text
    doc = yaml.safe_load(response.text)
    doc["clients"].append({"name": "sw2", "addresses": ["10.2.0.0/24"]})

    text = yaml.safe_dump(doc, sort_keys=False)
    headers = {"content-type": "application/yaml"}
    dry = await root.post(
        "/api/v1/config/import", params={"dry_run": "true"}, content=text, headers=headers
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and dry.json()["changes"] == ["create client sw2"]
    assert "+  - name: sw2" in dry.json()["diff"] and dry.json()["generated"] == []
    assert len((await root.get("/api/v1/clients")).json()) == 1

    applied = await root.post("/api/v1/config/import", content=text, headers=headers)
    assert applied.status_code == 200, applied.text
    (generated,) = applied.json()["generated"]
    assert (generated["kind"], generated["name"], generated["field"]) == ("client", "sw2", "secret")
    assert applied.json()["config_version"] > 0
    assert len((await root.get("/api/v1/clients")).json()) == 2

    # JSON is YAML too; errors name the path.
    doc["clients"][1]["addresses"] = ["10.2.0.0/33"]
    bad = await root.post("/api/v1/config/import", json=doc)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "clients[1].addresses[0]"]

    oper = await login("oper")
    assert (await oper.get("/api/v1/config/export")).status_code == 403


async def test_import_page(login: Login) -> None:
    root = await login("root")
    page = await root.get("/import")
    assert page.status_code == 200
    assert 'action="/import/users"' in page.text and 'action="/import/config"' in page.text
    csrf = {"csrf_token": root.headers["X-CSRF-Token"]}
    del root.headers["X-CSRF-Token"]  # the form field carries it, as a browser sends it
    bad = b"name,password\nok,pw\n,pw2\nok,pw3\n"
    response = await root.post("/import/users", data=csrf, files=upload(bad))
    assert response.status_code == 422
    assert "Nothing was imported: 2 problem(s)" in response.text
    assert "<td>3</td><td>name</td>" in response.text
    assert "<td>4</td><td>name</td><td>duplicate of line 2</td>" in response.text
    response = await root.post(
        "/import/users", data=csrf, files=upload(bad.replace(b"\n,pw2\nok,pw3", b""))
    )
    assert response.status_code == 200 and "1 users imported: 1 created" in response.text

    config = b"endpoints:\n  - {mac: 00-11-22-33-44-77}\n"
    response = await root.post("/import/config", data=csrf, files=upload(config, "c.yaml"))
    assert (
        "Dry run, nothing changed" in response.text
        and "create endpoint 00:11:22:33:44:77" in response.text
    )
    response = await root.post(
        "/import/config", data={**csrf, "apply": "1"}, files=upload(config, "c.yaml")
    )
    assert "Applied (configuration version" in response.text

    oper = await login("oper")
    page = await oper.get("/import")
    assert 'action="/import/endpoints"' in page.text and 'action="/import/users"' not in page.text
    no_csrf = await oper.post("/import/endpoints", files=upload(b"mac\n00:11:22:33:44:88\n"))
    assert no_csrf.status_code == 200  # X-CSRF-Token header still set on this client
    assert "1 endpoints imported" in no_csrf.text


async def test_hsts_and_secure_cookies_only_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
        login = await log_in(tls, "root", PASSWORDS["root"])
        assert login.status_code == 303
        assert login.headers["strict-transport-security"] == "max-age=31536000"
        (cookie,) = [c for c in login.headers.get_list("set-cookie") if "nac_session=" in c]
        assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=strict" in cookie
        page = await tls.get("/log")
        assert page.headers["strict-transport-security"] == "max-age=31536000"
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as plain:
        login = await log_in(plain, "root", PASSWORDS["root"])
        assert "strict-transport-security" not in login.headers
        (cookie,) = [c for c in login.headers.get_list("set-cookie") if "nac_session=" in c]
        assert "; HttpOnly" in cookie and "Secure" not in cookie
