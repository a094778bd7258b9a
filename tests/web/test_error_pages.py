"""404 and 500 are pages for the console and JSON for /api/v1, never a stack trace."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from nac.db import crud

from .conftest import PASSWORDS, Login, log_in, new_client

LEAK = "password=hunter2 in /srv/nac/secret.py line 42"


async def test_unknown_pages_and_api_paths_are_404s(login: Login, app: FastAPI) -> None:
    root = await login("root")
    missing = await root.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not found</h1>" in missing.text and 'href="/log"' in missing.text
    assert "Log out" in missing.text  # the console's layout, with the navigation
    api = await root.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    unknown_user = await root.get("/api/v1/users/nobody")
    assert unknown_user.status_code == 404
    assert unknown_user.json() == {"detail": "user 'nobody' does not exist"}
    wrong_method = await root.put("/users")
    assert wrong_method.status_code == 405 and "405 Method not allowed" in wrong_method.text
    async with new_client(app) as anon:
        page = await anon.get("/no/such/page")
        assert page.status_code == 404 and "404 Not found" in page.text


async def test_a_server_error_is_a_page_without_a_stack_trace(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(LEAK)

    monkeypatch.setattr(crud, "list_users", broken)
    async with new_client(app, raise_errors=False) as client:
        assert (await log_in(client, "audi", PASSWORDS["audi"])).status_code == 303
        page = await client.get("/users")
        assert page.status_code == 500
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>500 Server error</h1>" in page.text
        assert "internal error (logged on the server)" in page.text
        api = await client.get("/api/v1/users")
        assert api.status_code == 500
        assert api.json() == {"detail": "internal error (logged on the server)"}
        for response in (page, api):
            assert "Traceback" not in response.text and "hunter2" not in response.text
            assert "RuntimeError" not in response.text
    # ... and the cause is in the server's log for whoever runs it.
    assert any(LEAK in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_a_conflict_has_its_title(login: Login) -> None:
    root = await login("root")
    await root.post("/api/v1/groups", json={"name": "g"})
    token = root.headers["X-CSRF-Token"]
    response = await root.post("/groups", data={"name": "g", "csrf_token": token})
    assert response.status_code == 409 and "already exists" in response.text
    demote = await root.post("/admins/root/role", data={"role": "auditor", "csrf_token": token})
    assert demote.status_code == 409 and "you cannot demote yourself" in demote.text
