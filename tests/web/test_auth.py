"""Login, sessions, CSRF, the login rate limit and API tokens."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from nac.core.config import Settings
from nac.core.passwords import token_digest
from nac.db import crud
from nac.db.engine import Database
from web.app import create_app
from web.auth import SESSION_COOKIE, LoginLimiter

from .conftest import PASSWORDS, Login, log_in, login_csrf, new_client


async def test_login_sets_a_strict_httponly_session_cookie(anon: httpx.AsyncClient) -> None:
    response = await log_in(anon, "root", PASSWORDS["root"])
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http here
    page = await anon.get("/log")
    assert page.status_code == 200 and ">root</a> (admin)" in page.text


async def test_session_cookie_is_secure_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://console") as client:
        response = await log_in(client, "root", PASSWORDS["root"])
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "Secure" in cookie


async def test_wrong_password_and_unknown_name_look_the_same(anon: httpx.AsyncClient) -> None:
    wrong = await log_in(anon, "root", "nope-nope")
    unknown = await log_in(anon, "nobody", "nope-nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password" in wrong.text and "Wrong name or password" in unknown.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")


async def test_unknown_name_costs_a_hash_verification(anon: httpx.AsyncClient) -> None:
    await log_in(anon, "nobody", "x")  # the dummy hash is made on first use
    started = time.perf_counter()
    await log_in(anon, "nobody", "x")
    unknown = time.perf_counter() - started
    started = time.perf_counter()
    await log_in(anon, "root", "x")
    wrong = time.perf_counter() - started
    assert unknown > wrong / 4  # same order: both verify an argon2 hash


async def test_login_form_needs_its_csrf_token(anon: httpx.AsyncClient) -> None:
    await anon.get("/login")
    response = await anon.post(
        "/login", data={"name": "root", "password": PASSWORDS["root"], "csrf_token": "forged"}
    )
    assert response.status_code == 403 and SESSION_COOKIE not in response.headers.get(
        "set-cookie", ""
    )


async def test_login_rate_limit_per_name_and_per_address(
    settings: Settings, database: Database, admins: dict[str, str]
) -> None:
    now = [1000.0]
    app = create_app(settings, db=database, limiter=LoginLimiter(clock=lambda: now[0]))
    async with new_client(app) as client:
        for _ in range(5):
            assert (await log_in(client, "root", "bad-password")).status_code == 401
        blocked = await log_in(client, "root", PASSWORDS["root"])  # even the right one
        assert blocked.status_code == 429
        assert "Too many failed logins" in blocked.text and "Retry-After" in blocked.headers
        # The same address is blocked for other names too.
        assert (await log_in(client, "oper", PASSWORDS["oper"])).status_code == 429
        now[0] += 61
        assert (await log_in(client, "root", PASSWORDS["root"])).status_code == 303


async def test_open_redirect_after_login_is_refused(anon: httpx.AsyncClient) -> None:
    form = await anon.get("/login?next=//evil.example/")
    assert 'value="/dashboard"' in form.text
    response = await anon.post(
        "/login",
        data={
            "name": "root",
            "password": PASSWORDS["root"],
            "csrf_token": login_csrf(form.text),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/dashboard"


async def test_page_redirects_to_login_and_back(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/log?user=bob")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Flog%3Fuser%3Dbob"


async def test_logout_ends_the_session(login: Login) -> None:
    client = await login("audi")
    assert (await client.get("/log")).status_code == 200
    response = await client.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_state_change_with_the_cookie_needs_the_csrf_token(login: Login) -> None:
    client = await login("root")
    token = client.headers.pop("X-CSRF-Token")
    missing = await client.post("/api/v1/tokens", json={"name": "t1", "role": "auditor"})
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = await client.post(
        "/api/v1/tokens", json={"name": "t1", "role": "auditor"}, headers={"X-CSRF-Token": "x"}
    )
    assert wrong.status_code == 403
    form = await client.post("/logout", data={"csrf_token": "x"})
    assert form.status_code == 403
    ok = await client.post(
        "/api/v1/tokens", json={"name": "t1", "role": "auditor"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201
    # A form carries it as a field.
    assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303


async def test_api_token_lifecycle(
    login: Login, anon: httpx.AsyncClient, database: Database
) -> None:
    root = await login("root")
    created = await root.post("/api/v1/tokens", json={"name": "script", "role": "auditor"})
    assert created.status_code == 201
    token = created.json()["token"]
    info = created.json()["info"]
    assert info["role"] == "auditor" and info["admin"] == "root" and "token" not in info
    async with database.session() as session:
        found = await crud.find_api_token(session, token=token)
    assert found is not None and found[0].token_hash == token_digest(token) != token

    bearer = {"Authorization": f"Bearer {token}"}
    me = await anon.get("/api/v1/me", headers=bearer)
    assert me.json() == {"name": "root", "role": "auditor", "via": "token", "csrf_token": None}
    # Scoped: an auditor token cannot create tokens, though its admin can. No CSRF needed.
    denied = await anon.post("/api/v1/tokens", headers=bearer, json={"name": "x"})
    assert denied.status_code == 403 and "needs role admin" in denied.json()["detail"]
    # Bearer works only for the API, not for pages.
    assert (await anon.get("/log", headers=bearer)).status_code == 303

    listed = (await root.get("/api/v1/tokens")).json()
    assert [t["name"] for t in listed] == ["script"]
    assert (await root.delete(f"/api/v1/tokens/{info['id']}")).json()["revoked"] is True
    assert (await anon.get("/api/v1/me", headers=bearer)).status_code == 401
    assert (
        await anon.get("/api/v1/me", headers={"Authorization": "Bearer nac_bad"})
    ).status_code == 401


async def test_token_role_cannot_exceed_the_owner(login: Login) -> None:
    # An operator cannot reach the token API at all; an admin's token may be any role.
    root = await login("root")
    created = await root.post("/api/v1/tokens", json={"name": "ops", "role": "operator"})
    assert created.json()["info"]["role"] == "operator"
    bad = await root.post("/api/v1/tokens", json={"name": "x", "role": "superuser"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "role"


async def test_token_role_is_capped_by_the_owner_role_now(
    login: Login, anon: httpx.AsyncClient, database: Database
) -> None:
    root = await login("root")
    token = (await root.post("/api/v1/tokens", json={"name": "t", "role": "admin"})).json()["token"]
    from nac.db.models import AdminUpdate

    async with database.session() as session:
        await crud.update_admin(session, name="root", update=AdminUpdate(role="auditor"))
    me = await anon.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "auditor"


async def test_tokens_page_creates_and_revokes(login: Login) -> None:
    root = await login("root")
    page = await root.get("/tokens")
    csrf = login_csrf(page.text)
    created = await root.post(
        "/tokens", data={"csrf_token": csrf, "name": "web", "role": "operator"}
    )
    assert created.status_code == 200 and 'id="new-token">nac_' in created.text
    shown = created.text.split('id="new-token">')[1].split("<")[0]
    again = await root.get("/tokens")
    assert shown not in again.text and "web" in again.text  # shown once
    tokens = (await root.get("/api/v1/tokens")).json()
    revoked = await root.post(f"/tokens/{tokens[0]['id']}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await root.get("/api/v1/tokens")).json()[0]["revoked"] is True
    invalid = await root.post("/tokens", data={"csrf_token": csrf, "name": "bad name!"})
    assert invalid.status_code == 422 and "invalid name" in invalid.text


async def test_disabled_admin_loses_the_session(
    app: FastAPI, login: Login, database: Database
) -> None:
    from nac.db.models import AdminUpdate

    client = await login("oper")
    async with database.session() as session:
        await crud.update_admin(session, name="oper", update=AdminUpdate(disabled=True))
    assert (await client.get("/api/v1/me")).status_code == 401
    async with new_client(app) as fresh:
        assert (await log_in(fresh, "oper", PASSWORDS["oper"])).status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/audit"])
async def test_api_unauthenticated_is_401_json(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "detail" in response.json()


async def test_change_own_password_ends_the_sessions(app: FastAPI, login: Login) -> None:
    client = await login("audi")
    other = await login("audi")
    page = await client.get("/account")
    csrf = login_csrf(page.text)
    wrong = await client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current": "nope",
            "new": "n3w-password",
            "again": "n3w-password",
        },
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    short = await client.post(
        "/account/password",
        data={"csrf_token": csrf, "current": PASSWORDS["audi"], "new": "short", "again": "short"},
    )
    assert short.status_code == 422 and "at least 8" in short.text
    changed = await client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current": PASSWORDS["audi"],
            "new": "n3w-password",
            "again": "n3w-password",
        },
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/login"
    assert (await other.get("/api/v1/me")).status_code == 401
    async with new_client(app) as fresh:
        assert (await log_in(fresh, "audi", PASSWORDS["audi"])).status_code == 401
        assert (await log_in(fresh, "audi", "n3w-password")).status_code == 303
