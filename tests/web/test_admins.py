"""Console admins on /admins and /api/v1/admins (admin role only): add with a one-time password
shown once, change the role, disable and enable (sessions end), reset the password; nobody
demotes or disables themselves, the last admin stays."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from nac.db import crud
from nac.db.engine import Database
from nac.db.models import AdminUpdate
from nac.services import changes

from .conftest import Login, log_in, new_client
from .test_directory_pages import form_post


def shown_password(html: str) -> str:
    match = re.search(r'id="new-password">([^<]+)<', html)
    assert match, html
    return match.group(1)


async def session_of(app: FastAPI, name: str, password: str) -> httpx.AsyncClient:
    client = new_client(app)
    response = await log_in(client, name, password)
    assert response.status_code == 303, response.text  # to the landing page, not /login
    return client


async def test_add_an_admin_with_a_one_time_password(
    app: FastAPI, login: Login, database: Database
) -> None:
    root = await login("root")
    added = await form_post(root, "/admins", name="carol", role="operator")
    assert added.status_code == 200
    password = shown_password(added.text)
    assert len(password) >= 16
    listing = (await root.get("/admins")).text
    assert 'data-admin="carol"' in listing and password not in listing  # shown once
    async with new_client(app) as carol:
        assert (await log_in(carol, "carol", password)).status_code == 303
        me = (await carol.get("/api/v1/me")).json()
        assert me["name"] == "carol" and me["role"] == "operator"
    async with database.session() as session:
        (entry,) = await crud.list_admin_changes(session, object_type="admin")
    assert entry.admin == "root" and entry.action == "create" and entry.object_key == "carol"
    assert entry.after == {
        "name": "carol",
        "role": "operator",
        "disabled": False,
        "password": "***",
    }
    assert password not in str(entry.after)

    dup = await form_post(root, "/admins", name="carol")
    assert dup.status_code == 409 and 'id="error-new-name"' in dup.text
    bad = await form_post(root, "/admins", name="no such name!", role="admin")
    assert bad.status_code == 422 and 'id="error-new-name"' in bad.text
    bad_role = await form_post(root, "/admins", name="dave", role="god")
    assert bad_role.status_code == 422 and 'id="error-new-role"' in bad_role.text
    assert "Traceback" not in bad.text + bad_role.text
    assert 'href="/tokens"' in listing  # the API tokens page is linked from here


async def test_role_disable_enable_and_reset_through_the_page(app: FastAPI, login: Login) -> None:
    root = await login("root")
    oper = await session_of(app, "oper", "oper-pass-1")
    assert (await oper.get("/endpoints")).status_code == 200

    assert (await form_post(root, "/admins/oper/role", role="auditor")).status_code == 303
    assert (await oper.get("/api/v1/me")).json()["role"] == "auditor"  # at once
    bad = await form_post(root, "/admins/oper/role", role="superuser")
    assert bad.status_code == 422 and "role must be one of auditor, operator, admin" in bad.text

    assert (await form_post(root, "/admins/oper/disable")).status_code == 303
    assert (await oper.get("/api/v1/me")).status_code == 401  # the session ended
    async with new_client(app) as again:
        assert (await log_in(again, "oper", "oper-pass-1")).status_code == 401
    assert 'class="state-disabled"' in (await root.get("/admins")).text
    assert (await form_post(root, "/admins/oper/enable")).status_code == 303
    oper = await session_of(app, "oper", "oper-pass-1")

    reset = await form_post(root, "/admins/oper/reset-password")
    assert reset.status_code == 200
    new_password = shown_password(reset.text)
    assert (await oper.get("/api/v1/me")).status_code == 401  # sessions end on a reset
    async with new_client(app) as old:
        assert (await log_in(old, "oper", "oper-pass-1")).status_code == 401
    await (await session_of(app, "oper", new_password)).aclose()
    await oper.aclose()
    assert (await form_post(root, "/admins/nobody/disable")).status_code == 404
    assert (await form_post(root, "/admins/nobody/reset-password")).status_code == 404

    actions = (await root.get("/api/v1/changes?object_type=admin")).json()["items"]
    comments = [e["comment"] for e in actions]
    assert comments == [
        "password changed",
        "disabled changed",
        "disabled changed",
        "role changed",
    ]
    assert actions[0]["after"]["password"] == "*** (changed)"
    assert new_password not in str(actions)


async def test_an_admin_cannot_demote_or_disable_themselves(login: Login) -> None:
    root = await login("root")
    demote = await form_post(root, "/admins/root/role", role="operator")
    assert demote.status_code == 409
    assert (
        "you cannot demote yourself" in demote.text and 'id="error-edit-root-admin"' in demote.text
    )
    disable = await root.patch("/api/v1/admins/root", json={"disabled": True})
    assert disable.status_code == 409
    assert disable.json()["detail"].startswith("you cannot disable yourself")
    assert (await root.get("/api/v1/me")).json()["role"] == "admin"
    # Another admin may do it (and then root is refused the admin pages).
    created = await root.post("/api/v1/admins", json={"name": "second", "role": "admin"})
    assert created.status_code == 201
    assert (await root.patch("/api/v1/admins/root", json={"role": "admin"})).status_code == 200


async def test_the_last_admin_stays(database: Database, admins: dict[str, str]) -> None:
    """Through the service (as the CLI would call it): root is the only enabled admin."""
    async with database.session() as session:
        with pytest.raises(changes.ConflictError, match="root is the last enabled admin"):
            await changes.update_admin(
                session, admin="cli:ops", name="root", update=AdminUpdate(role="operator")
            )
        with pytest.raises(changes.ConflictError, match="last enabled admin"):
            await changes.update_admin(
                session, admin="cli:ops", name="root", update=AdminUpdate(disabled=True)
            )
        assert (await crud.get_admin(session, name="root")).role == "admin"
        assert await crud.list_admin_changes(session) == []
        # Password resets are fine for the last admin.
        await changes.update_admin(
            session, admin="cli:ops", name="root", update=AdminUpdate(password="new-pass-123")
        )
        assert len(await crud.list_admin_changes(session)) == 1


async def test_the_api(app: FastAPI, login: Login) -> None:
    root = await login("root")
    listed = (await root.get("/api/v1/admins")).json()
    assert {a["name"]: a["role"] for a in listed} == {
        "root": "admin",
        "oper": "operator",
        "audi": "auditor",
    }
    assert all("password" not in str(a) and "hash" not in str(a) for a in listed)
    created = await root.post("/api/v1/admins", json={"name": "eve", "role": "auditor"})
    assert created.status_code == 201
    body = created.json()
    assert body["admin"]["name"] == "eve" and len(body["password"]) >= 16
    await (await session_of(app, "eve", body["password"])).aclose()
    assert (await root.post("/api/v1/admins", json={"name": "eve"})).status_code == 409
    bad = await root.post("/api/v1/admins", json={"name": "e v e"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]
    bad_role = await root.post("/api/v1/admins", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 422

    patched = await root.patch("/api/v1/admins/eve", json={"role": "operator"})
    assert patched.status_code == 200 and patched.json()["role"] == "operator"
    assert (await root.get("/api/v1/admins/eve")).json()["role"] == "operator"
    assert (await root.get("/api/v1/admins/nope")).status_code == 404
    assert (await root.patch("/api/v1/admins/nope", json={"disabled": True})).status_code == 404
    reset = await root.post("/api/v1/admins/eve/reset-password")
    assert reset.status_code == 200
    await (await session_of(app, "eve", reset.json()["password"])).aclose()


async def test_operators_and_auditors_cannot_touch_admins(login: Login) -> None:
    for name in ("oper", "audi"):
        client = await login(name)
        assert (await client.get("/admins")).status_code == 403
        assert (await client.get("/api/v1/admins")).status_code == 403
        response = await client.post("/api/v1/admins", json={"name": "mallory", "role": "admin"})
        assert response.status_code == 403
        response = await client.patch("/api/v1/admins/root", json={"disabled": True})
        assert response.status_code == 403
        assert (await form_post(client, "/admins/root/reset-password")).status_code == 403
        assert 'href="/admins"' not in (await client.get("/log")).text
