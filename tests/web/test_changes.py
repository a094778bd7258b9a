"""The admin change log: every change by any admin (console pages, API, CLI) is recorded in the
same transaction with its before and after, secrets masked; /changes and /api/v1/changes
(auditor) filter by admin and object type, page by id, and show each entry's diff."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nac.cli import app as cli_app
from nac.core.config import Settings
from nac.db import crud
from nac.db.defaults import default_policy
from nac.db.engine import Database, create_engines
from nac.db.models import AdminChange, GroupCreate, UserCreate
from nac.services import changes

from .conftest import Login
from .test_directory_pages import form_post, shown_secret


async def log(database: Database, **filters: Any) -> list[AdminChange]:
    """Every entry, oldest first."""
    async with database.session() as session:
        return list(reversed(await crud.list_admin_changes(session, limit=10_000, **filters)))


def keys(entries: list[AdminChange]) -> list[tuple[str, str, str, str]]:
    return [(e.admin, e.action, e.object_type, e.object_key) for e in entries]


async def test_console_and_api_changes_of_every_kind_are_logged_with_secrets_masked(
    login: Login, database: Database
) -> None:
    root = await login("root")
    oper = await login("oper")
    secrets_seen: list[str] = ["alice-pass-1", "alice-pass-2", "tac-key-123", "en-secret-9"]

    # users (page create, API update, page delete) and a group created on the way
    await form_post(root, "/users", name="alice", password="alice-pass-1", groups="staff")
    await root.patch(
        "/api/v1/users/alice",
        json={"password": "alice-pass-2", "enable_secret": "en-secret-9", "enabled": False},
    )
    # clients: create (generated secret), update (TACACS+ key), rotate, delete
    created = await form_post(root, "/clients", name="sw1", addresses="10.0.0.1")
    secrets_seen.append(shown_secret(created.text))
    await root.patch("/api/v1/clients/sw1", json={"tacacs_key": "tac-key-123", "location": "b2"})
    rotated = await root.post("/api/v1/clients/sw1/rotate-secret")
    secrets_seen.append(rotated.json()["secret"])
    assert (await root.delete("/api/v1/clients/sw1")).status_code == 204
    # endpoints, by an operator
    await oper.post("/api/v1/endpoints", json={"mac": "00-11-22-33-44-55", "profile": "printer"})
    await form_post(oper, "/endpoints/00:11:22:33:44:55", profile="phone", group="voice")
    assert (await oper.delete("/api/v1/endpoints/001122334455")).status_code == 204
    # groups
    await root.post("/api/v1/groups", json={"name": "lab", "description": "a"})
    await root.patch("/api/v1/groups/lab", json={"description": "b"})
    await root.delete("/api/v1/groups/lab")
    # policy: replace through the API, then roll back
    replaced = await root.put("/api/v1/policy?comment=first", json=default_policy())
    assert replaced.status_code == 200, replaced.text
    document = default_policy()
    document["results"]["deny"]["description"] = "second"
    await root.put("/api/v1/policy?comment=second", json=document)
    assert (await root.post("/api/v1/policy/rollback/1")).status_code == 200
    # API tokens: create through the API, revoke on the page
    token = await root.post("/api/v1/tokens", json={"name": "ci", "role": "auditor"})
    secrets_seen.append(token.json()["token"])
    await form_post(root, f"/tokens/{token.json()['info']['id']}/revoke")
    # a user deleted last
    await form_post(root, "/users/alice/delete")

    entries = await log(database)
    assert keys(entries) == [
        ("root", "create", "group", "staff"),
        ("root", "create", "user", "alice"),
        ("root", "update", "user", "alice"),
        ("root", "create", "client", "sw1"),
        ("root", "update", "client", "sw1"),
        ("root", "rotate", "client", "sw1"),
        ("root", "delete", "client", "sw1"),
        ("oper", "create", "endpoint", "00:11:22:33:44:55"),
        ("oper", "update", "endpoint", "00:11:22:33:44:55"),
        ("oper", "delete", "endpoint", "00:11:22:33:44:55"),
        ("root", "create", "group", "lab"),
        ("root", "update", "group", "lab"),
        ("root", "delete", "group", "lab"),
        ("root", "update", "policy", "version 1"),
        ("root", "update", "policy", "version 2"),
        ("root", "rollback", "policy", "version 3"),
        ("root", "create", "api_token", f"{token.json()['info']['id']} (root/ci)"),
        ("root", "revoke", "api_token", f"{token.json()['info']['id']} (root/ci)"),
        ("root", "delete", "user", "alice"),
    ]
    by = {(e.action, e.object_type): e for e in entries}
    user = by[("update", "user")]
    assert user.before["enabled"] is True and user.after["enabled"] is False
    assert user.before["password"] == "***" and user.after["password"] == "*** (changed)"
    assert user.before["enable_secret"] is None and user.after["enable_secret"] == "*** (changed)"
    assert by[("create", "user")].before is None and by[("delete", "user")].after is None
    client = by[("update", "client")]
    assert client.before["tacacs_key"] is None and client.after["tacacs_key"] == "*** (changed)"
    assert client.before["location"] == "" and client.after["location"] == "b2"
    rotate = by[("rotate", "client")]
    assert rotate.before["secret"] == "***" and rotate.after["secret"] == "*** (changed)"
    assert rotate.comment == "RADIUS shared secret rotated"
    endpoint = by[("update", "endpoint")]
    assert endpoint.before["profile"] == "printer" and endpoint.after["profile"] == "phone"
    assert endpoint.after["group"] == "voice"
    group = by[("update", "group")]
    assert (group.before["description"], group.after["description"]) == ("a", "b")
    policies = [e for e in entries if e.object_type == "policy"]
    assert [(p.before, p.after) for p in policies] == [
        (None, {"version": 1, "comment": "first"}),
        ({"version": 1}, {"version": 2, "comment": "second"}),
        ({"version": 2}, {"version": 3, "comment": "rolled back to version 1"}),
    ]
    assert by[("revoke", "api_token")].after["revoked"] is True
    dumped = json.dumps([[e.before, e.after, e.comment] for e in entries])
    for secret in secrets_seen:
        assert secret not in dumped

    # Nothing is logged for a refused change.
    assert (await root.post("/api/v1/groups", json={"name": "staff"})).status_code == 409
    assert (await form_post(root, "/users/nobody/delete")).status_code == 404
    assert len(await log(database)) == len(entries)


async def test_policy_rule_edits_on_the_page_are_logged(login: Login, database: Database) -> None:
    root = await login("root")
    added = await form_post(
        root, "/policy/sets/0/rules", name="r1", condition="", result="deny", base="0"
    )
    assert added.status_code == 303
    (entry,) = await log(database)
    assert entry.object_type == "policy" and entry.object_key == "version 1"
    assert entry.before is None and entry.after["version"] == 1
    assert entry.comment == "added authorization rule r1 at position 1 in default"


async def test_the_change_and_its_entry_commit_together(
    database: Database, box: object, admins: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the log is broken")

    monkeypatch.setattr(crud, "record_admin_change", broken)
    async with database.session() as session:
        version = await crud.get_config_version(session)
        with pytest.raises(RuntimeError):
            await changes.create_group(session, admin="root", group=GroupCreate(name="g"))
        with pytest.raises(RuntimeError):
            user = UserCreate(name="u", password="pass-word-1", groups=["new"])
            await changes.create_user(
                session,
                admin="root",
                user=user,
                box=box,  # type: ignore[arg-type]
                create_groups=True,
            )
        assert await crud.list_groups(session) == []
        assert await crud.list_users(session) == []
        assert await crud.get_config_version(session) == version


async def test_the_log_pages_filter_page_and_show_the_diff(
    login: Login, database: Database
) -> None:
    root = await login("root")
    for n in range(5):
        await root.post("/api/v1/groups", json={"name": f"g{n}"})
    await root.patch("/api/v1/groups/g0", json={"description": "the first group"})
    oper = await login("oper")
    await oper.post("/api/v1/endpoints", json={"mac": "00:00:00:00:00:01"})

    audi = await login("audi")
    first = (await audi.get("/api/v1/changes?limit=4")).json()
    assert [e["object_key"] for e in first["items"]] == ["00:00:00:00:00:01", "g0", "g4", "g3"]
    rest = (await audi.get(f"/api/v1/changes?limit=4&before={first['next_before']}")).json()
    assert [e["object_key"] for e in rest["items"]] == ["g2", "g1", "g0"]
    assert rest["next_before"] is None
    mine = (await audi.get("/api/v1/changes?admin=oper")).json()["items"]
    assert [e["object_type"] for e in mine] == ["endpoint"]
    groups = (await audi.get("/api/v1/changes?object_type=group&admin=root")).json()["items"]
    assert len(groups) == 6
    assert (await audi.get("/api/v1/changes?limit=0")).status_code == 422

    update_id = first["items"][1]["id"]
    detail = (await audi.get(f"/api/v1/changes/{update_id}")).json()
    assert detail["fields"] == [
        {"field": "name", "before": "g0", "after": "g0", "changed": False},
        {"field": "description", "before": "", "after": "the first group", "changed": True},
    ]
    assert '-  "description": "",' in detail["diff"]
    assert '+  "description": "the first group",' in detail["diff"]
    assert (await audi.get("/api/v1/changes/999999")).status_code == 404

    page = (await audi.get("/changes?limit=4")).text
    assert page.count("data-change=") == 4 and 'rel="next"' in page
    older = re.search(r'href="/changes\?([^"]+)" rel="next"', page)
    assert older and f"before={first['next_before']}" in older.group(1)
    filtered = (await audi.get("/changes?admin=oper")).text
    assert filtered.count("data-change=") == 1 and "00:00:00:00:00:01" in filtered
    one = (await audi.get(f"/changes/{update_id}")).text
    assert 'data-field="description"' in one and 'class="changed"' in one
    assert "the first group" in one and '<span class="add">' in one
    missing = await audi.get("/changes/999999")
    assert missing.status_code == 404 and "no change log entry 999999" in missing.text
    assert 'href="/changes"' in (await audi.get("/log")).text  # in the navigation


async def test_the_cli_is_logged_as_cli_user(
    migrated: Settings, box: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``box``: the data directory's key exists, as after ``nac init``."""
    for key in list(os.environ):
        if key.startswith("NAC_") and key != "NAC_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("NAC_DATA_DIR", str(migrated.data_dir))
    monkeypatch.setenv("NAC_DB", migrated.database_url())
    monkeypatch.setenv("LOGNAME", "tester")
    monkeypatch.setenv("USER", "tester")

    def run(*args: str, input: str | None = None) -> str:
        result = CliRunner().invoke(cli_app, list(args), input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result.stdout

    await asyncio.to_thread(
        run, "user", "add", "bob", "--password-stdin", "-g", "ops", input="bob-pass-1\n"
    )
    out = await asyncio.to_thread(run, "client", "add", "sw2", "-a", "10.2.0.1")
    secret = out.split("store it on the NAS): ")[1].strip()
    await asyncio.to_thread(run, "endpoint", "add", "00:aa:bb:cc:dd:ee")
    policy_file = tmp_path / "p.json"
    policy_file.write_text(json.dumps(default_policy()))
    await asyncio.to_thread(run, "policy", "load", str(policy_file), "--comment", "from git")
    out = await asyncio.to_thread(run, "admin", "add", "ann", "--role", "operator")
    password = out.split("password (shown once): ")[1].strip()
    await asyncio.to_thread(run, "user", "delete", "bob")
    await asyncio.to_thread(run, "group", "delete", "ops")

    db = create_engines(migrated)
    try:
        entries = await log(db)
        async with db.session() as session:
            row = await crud.get_policy(session)
    finally:
        await db.dispose()
    assert keys(entries) == [
        ("cli:tester", "create", "group", "ops"),
        ("cli:tester", "create", "user", "bob"),
        ("cli:tester", "create", "client", "sw2"),
        ("cli:tester", "create", "endpoint", "00:aa:bb:cc:dd:ee"),
        ("cli:tester", "update", "policy", "version 1"),
        ("cli:tester", "create", "admin", "ann"),
        ("cli:tester", "delete", "user", "bob"),
        ("cli:tester", "delete", "group", "ops"),
    ]
    assert row is not None and row.author == "tester"  # the version keeps --author's default
    dumped = json.dumps([[e.before, e.after] for e in entries])
    assert secret not in dumped and password not in dumped and "bob-pass-1" not in dumped
    assert entries[2].after["secret"] == "***"


async def test_the_new_apis_are_in_the_openapi_schema(login: Login) -> None:
    audi = await login("audi")
    schema = (await audi.get("/api/v1/openapi.json")).json()
    paths = schema["paths"]
    for path, method in (
        ("/api/v1/changes", "get"),
        ("/api/v1/changes/{id}", "get"),
        ("/api/v1/groups", "post"),
        ("/api/v1/groups/{name}", "delete"),
        ("/api/v1/admins", "post"),
        ("/api/v1/admins/{name}", "patch"),
        ("/api/v1/admins/{name}/reset-password", "post"),
        ("/api/v1/tacacs/command-sets", "post"),
        ("/api/v1/tacacs/command-sets/{name}", "put"),
        ("/api/v1/tacacs/shell-profiles/{name}", "delete"),
    ):
        assert method in paths[path], (path, method)
    assert "409" in paths["/api/v1/groups/{name}"]["delete"]["responses"]
    assert "ChangeDetail" in schema["components"]["schemas"]
    assert not any(p.startswith(("/changes", "/groups", "/admins", "/tacacs")) for p in paths)
