"""TACACS+ command sets and shell profiles on /tacacs and /api/v1/tacacs: each change is one new
policy version by its admin (with the diff on the versions page and an entry in the change
log), validated first with the error beside its field; sets and profiles in use are kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.engine import Database

from .conftest import Login
from .test_directory_pages import form_post


@pytest.fixture
async def demo(database: Database, admins: dict[str, str]) -> int:
    """The demo policy (command sets permit-all and netops, shell profiles priv-15, priv-1)."""
    async with database.session() as session:
        return await crud.set_policy(session, document=demo_policy(), author="demo", comment="demo")


async def current(database: Database) -> tuple[int, dict[str, Any], str, str]:
    async with database.session() as session:
        row = await crud.get_policy(session)
    assert row is not None
    return row.version, row.document, row.author, row.comment


async def tacacs_whatif(client: httpx.AsyncClient, command: str) -> str:
    answer = await client.post(
        "/api/v1/policy/whatif",
        json={"protocol": "tacacs", "username": "op", "groups": ["netops"], "command": command},
    )
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["outcome"]
    return outcome


async def test_the_page_lists_sets_and_profiles_with_their_users(demo: int, login: Login) -> None:
    audi = await login("audi")
    page = (await audi.get("/tacacs")).text
    assert 'data-command-set="netops"' in page and 'data-command-set="permit-all"' in page
    assert "permit show .*; permit ping .*" in page  # the compiled summary
    assert 'data-shell-profile="priv-15"' in page and "priv-lvl 15" in page
    assert "netops-shell" in page  # used by
    assert "New command set" not in page and "Save as a new version" not in page  # auditor


async def test_add_a_command_set_is_one_new_version_in_the_versions_and_the_log(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    added = await form_post(
        root,
        "/tacacs/command-sets",
        name="readonly",
        description="look only",
        default="deny",
        rules="permit show .*\n\n# comments are skipped\ndeny configure .*",
        base=str(demo),
    )
    assert added.status_code == 303, added.text
    version, document, author, comment = await current(database)
    assert version == demo + 1 and author == "root" and comment == "added command set readonly"
    assert document["command_sets"]["readonly"] == {
        "description": "look only",
        "default": "deny",
        "rules": [
            {"action": "permit", "pattern": "show .*"},
            {"action": "deny", "pattern": "configure .*"},
        ],
    }
    diff = (await root.get(f"/api/v1/policy/versions/{version}")).json()["diff"]
    assert any('"readonly"' in line and line.startswith("+") for line in diff)
    log = (await root.get("/api/v1/changes?object_type=command_set")).json()["items"]
    assert log[0]["action"] == "create" and log[0]["object_key"] == "readonly"
    assert log[0]["before"] is None and log[0]["after"] == document["command_sets"]["readonly"]
    assert f"policy version {version} (was {demo})" in log[0]["comment"]
    assert 'data-command-set="readonly"' in (await root.get("/tacacs")).text


async def test_editing_netops_changes_what_the_engine_permits(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    assert await tacacs_whatif(root, "ping 10.0.0.1") == "accept"
    edited = await form_post(
        root,
        "/tacacs/command-sets/netops",
        description="show only",
        default="deny",
        rules="permit show .*\ndeny ping .*",
        base=str(demo),
    )
    assert edited.status_code == 303, edited.text
    assert await tacacs_whatif(root, "ping 10.0.0.1") == "reject"
    assert await tacacs_whatif(root, "show version") == "accept"
    log = (await root.get("/api/v1/changes/1")).json()
    assert log["object_type"] == "command_set" and log["action"] == "update"
    assert {"action": "permit", "pattern": "ping .*"} in log["before"]["rules"]
    assert {"action": "deny", "pattern": "ping .*"} in log["after"]["rules"]
    changed = {f["field"] for f in log["fields"] if f["changed"]}
    assert changed == {"description", "rules"}


async def test_errors_are_shown_beside_the_field_and_nothing_is_stored(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    bad_regex = await form_post(
        root, "/tacacs/command-sets/netops", default="deny", rules="permit show .*\npermit ([a"
    )
    assert bad_regex.status_code == 422
    assert 'id="error-cs-netops-rules"' in bad_regex.text
    assert "line 2: invalid regular expression" in bad_regex.text
    assert "permit ([a" in bad_regex.text  # the typed rules are kept in the form
    bad_line = await form_post(root, "/tacacs/command-sets", name="x", rules="allow show")
    assert bad_line.status_code == 422 and 'id="error-new-command-set-rules"' in bad_line.text
    assert "line 1: start with permit or deny" in bad_line.text
    dup = await form_post(root, "/tacacs/command-sets", name="netops", rules="permit .*")
    assert dup.status_code == 409 and 'id="error-new-command-set-name"' in dup.text
    bad_name = await form_post(root, "/tacacs/command-sets", name="a/b", rules="permit .*")
    assert bad_name.status_code == 422 and 'id="error-new-command-set-name"' in bad_name.text
    stale = await form_post(
        root, "/tacacs/command-sets", name="new", rules="permit .*", base=str(demo - 1)
    )
    assert stale.status_code == 409 and "policy changed since this page was loaded" in stale.text
    bad_priv = await form_post(root, "/tacacs/shell-profiles", name="p", priv_lvl="16")
    assert bad_priv.status_code == 422 and 'id="error-new-shell-profile-priv_lvl"' in bad_priv.text
    reserved = await form_post(
        root, "/tacacs/shell-profiles/priv-1", priv_lvl="1", custom="shell:roles=x\npriv-lvl=15"
    )
    assert reserved.status_code == 422 and 'id="error-sp-priv-1-custom"' in reserved.text
    assert "line 2: " in reserved.text and "set it with priv_lvl" in reserved.text
    for response in (bad_regex, bad_line, dup, bad_name, stale, bad_priv, reserved):
        assert "Traceback" not in response.text
    assert (await current(database))[0] == demo
    async with database.session() as session:
        assert await crud.list_admin_changes(session) == []
    missing = await form_post(root, "/tacacs/command-sets/nope", rules="permit .*")
    assert missing.status_code == 404


async def test_a_set_or_profile_in_use_is_not_deleted(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    used = await form_post(root, "/tacacs/command-sets/netops/delete", base=str(demo))
    assert used.status_code == 409
    assert "command set netops is used by result netops-shell: change it first" in used.text
    used_profile = await form_post(root, "/tacacs/shell-profiles/priv-1/delete")
    assert used_profile.status_code == 409 and "used by result netops-shell" in used_profile.text
    assert (await current(database))[0] == demo

    await form_post(root, "/tacacs/command-sets", name="spare", rules="deny .*")
    deleted = await form_post(root, "/tacacs/command-sets/spare/delete")
    assert deleted.status_code == 303
    version, document, _, comment = await current(database)
    assert version == demo + 2 and "spare" not in document["command_sets"]
    assert comment == "deleted command set spare"
    log = (await root.get("/api/v1/changes?object_type=command_set")).json()["items"]
    assert [e["action"] for e in log] == ["delete", "create"]
    assert log[0]["after"] is None and log[0]["before"] == {
        "default": "deny",
        "rules": [{"action": "deny", "pattern": ".*"}],
    }


async def test_shell_profiles_through_the_page(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    added = await form_post(
        root,
        "/tacacs/shell-profiles",
        name="nexus-admin",
        priv_lvl="15",
        timeout="480",
        idle_timeout="30",
        autocmd="show clock",
        custom="shell:roles=network-admin\nshell:domain*lab",
    )
    assert added.status_code == 303, added.text
    _, document, _, _ = await current(database)
    assert document["shell_profiles"]["nexus-admin"] == {
        "priv_lvl": 15,
        "timeout": 480,
        "idle_timeout": 30,
        "autocmd": "show clock",
        "custom": [
            {"attribute": "shell:roles", "value": "network-admin", "mandatory": True},
            {"attribute": "shell:domain", "value": "lab", "mandatory": False},
        ],
    }
    page = (await root.get("/tacacs")).text
    assert "shell:roles=network-admin\nshell:domain*lab" in page  # the edit form round-trips
    edited = await form_post(root, "/tacacs/shell-profiles/nexus-admin", priv_lvl="7")
    assert edited.status_code == 303
    assert (await current(database))[1]["shell_profiles"]["nexus-admin"] == {"priv_lvl": 7}
    bad_minutes = await form_post(
        root, "/tacacs/shell-profiles/nexus-admin", priv_lvl="7", timeout="soon"
    )
    assert bad_minutes.status_code == 422
    assert 'id="error-sp-nexus-admin-timeout"' in bad_minutes.text
    log = (await root.get("/api/v1/changes?object_type=shell_profile")).json()["items"]
    assert [e["action"] for e in log] == ["update", "create"]
    assert log[0]["before"]["priv_lvl"] == 15 and log[0]["after"] == {"priv_lvl": 7}


async def test_the_api(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    sets = (await root.get("/api/v1/tacacs/command-sets")).json()
    netops = next(s for s in sets if s["name"] == "netops")
    assert netops["version"] == demo and netops["used_by"] == ["netops-shell"]
    assert netops["rules"][0] == {"action": "permit", "pattern": "show .*", "description": ""}
    body = {"name": "ro", "default": "deny", "rules": [{"action": "permit", "pattern": "show .*"}]}
    created = await root.post("/api/v1/tacacs/command-sets", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == demo + 1 and created.json()["summary"] == (
        "permit show .*; default deny"
    )
    assert (await root.post("/api/v1/tacacs/command-sets", json=body)).status_code == 409
    bad = await root.put(
        "/api/v1/tacacs/command-sets/ro",
        json={"rules": [{"action": "permit", "pattern": "(a+)+"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "command_sets.ro.rules[0].pattern"]
    assert "nested unbounded repetition" in bad.json()["detail"][0]["msg"]
    wrong_action = await root.put(
        "/api/v1/tacacs/command-sets/ro", json={"rules": [{"action": "allow", "pattern": "x"}]}
    )
    assert wrong_action.status_code == 422
    stale = await root.put(
        f"/api/v1/tacacs/command-sets/ro?base_version={demo}",
        json={"default": "permit"},
    )
    assert stale.status_code == 409
    replaced = await root.put(
        f"/api/v1/tacacs/command-sets/ro?base_version={demo + 1}", json={"default": "permit"}
    )
    assert replaced.status_code == 200 and replaced.json()["rules"] == []
    assert (await root.get("/api/v1/tacacs/command-sets/ro")).json()["default"] == "permit"
    assert (await root.get("/api/v1/tacacs/command-sets/nope")).status_code == 404
    in_use = await root.delete("/api/v1/tacacs/command-sets/netops")
    assert in_use.status_code == 409 and "netops-shell" in in_use.json()["detail"]
    assert (await root.delete("/api/v1/tacacs/command-sets/ro")).status_code == 204
    assert (await root.delete("/api/v1/tacacs/command-sets/ro")).status_code == 404

    profile = {"name": "p5", "priv_lvl": 5, "custom": [{"attribute": "a:b", "value": "c"}]}
    made = await root.post("/api/v1/tacacs/shell-profiles", json=profile)
    assert made.status_code == 201 and made.json()["summary"].startswith("priv-lvl 5")
    too_high = await root.put("/api/v1/tacacs/shell-profiles/p5", json={"priv_lvl": 16})
    assert too_high.status_code == 422
    assert (await root.get("/api/v1/tacacs/shell-profiles/p5")).json()["custom"] == [
        {"attribute": "a:b", "value": "c", "mandatory": True}
    ]
    assert (await root.delete("/api/v1/tacacs/shell-profiles/p5")).status_code == 204

    oper = await login("oper")
    assert (await oper.get("/api/v1/tacacs/shell-profiles")).status_code == 200
    assert (await oper.post("/api/v1/tacacs/command-sets", json=body)).status_code == 403
    version, _, _, _ = await current(database)
    assert version == demo + 5  # ro created, replaced, deleted; p5 created, deleted
