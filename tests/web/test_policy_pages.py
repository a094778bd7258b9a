"""The policy pages and /api/v1/policy: every change is one new version by its admin,
validated first; versions, diffs and rollback; "what if" against the demo policy."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.engine import Database
from nac.db.models import PolicyVersion

from .conftest import Login


@pytest.fixture
async def demo(database: Database, admins: dict[str, str]) -> int:
    """The demo policy stored as version 1."""
    async with database.session() as session:
        return await crud.set_policy(session, document=demo_policy(), author="demo", comment="demo")


async def versions(database: Database) -> list[PolicyVersion]:
    """Every stored version, oldest first."""
    async with database.session() as session:
        return list(reversed(await crud.list_policy_versions(session, limit=1000)))


async def config_version(database: Database) -> int:
    async with database.session() as session:
        return await crud.get_config_version(session)


def authz(document: dict[str, Any], s: int = 0) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = document["policy_sets"][s]["authorization"]
    return rules


async def whatif(client: httpx.AsyncClient, **request: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/policy/whatif", json=request)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_policy_page_shows_sets_rules_results_profiles_and_command_sets(
    demo: int, login: Login
) -> None:
    audi = await login("audi")
    page = await audi.get("/policy")
    assert page.status_code == 200
    text = page.text
    assert "version 1" in text and "Policy set 1. default" in text and "device-admin" in text
    for name in ("mab", "eap-tls-certificates", "local-users", "internal_users"):
        assert name in text
    # authorization rules in order, conditions in words, results
    assert text.index("employees-vlan100") < text.index("contractors-vlan200")
    assert "user.groups contains" in text
    assert "printers-vlan300" in text and "accept, vlan 300" in text
    assert "priv-15" in text and "priv-1" in text  # shell profiles
    assert "netops" in text and "permit-all" in text  # command sets
    assert "/rules/0/move" not in text and "Delete" not in text  # an auditor gets no buttons
    root = await login("root")
    assert "/policy/sets/0/rules/1/move" in (await root.get("/policy")).text


async def test_reorder_is_one_new_version_and_changes_the_what_if_answer(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    both = {"username": "carol", "groups": ["employees", "contractors"]}
    assert (await whatif(root, **both))["result"] == "employees-vlan100"

    response = await root.post("/policy/sets/0/rules/1/move", data={"direction": "up", "base": "1"})
    assert response.status_code == 303 and response.headers["location"] == "/policy"
    rows = await versions(database)
    assert [r.version for r in rows] == [1, 2]
    new = rows[-1]
    assert new.author == "root"
    assert "moved authorization rule contractors up" in new.comment
    assert [r["name"] for r in authz(new.document)] == [
        "contractors",
        "employees",
        "known-printers",
        "employees-quarantine",
    ]
    assert authz(new.document)[1] == authz(rows[0].document)[0]  # nothing else changed

    answer = await whatif(root, **both)
    assert answer["result"] == "contractors-vlan200" and answer["version"] == 2
    assert any(line.startswith("authorization contractors: match") for line in answer["trace"])
    # the version before still answers as it did
    assert (await whatif(root, **both, version=1))["result"] == "employees-vlan100"

    down = await root.post("/policy/sets/0/rules/0/move", data={"direction": "down"})
    assert down.status_code == 303
    assert (await versions(database))[-1].document == demo_policy()


async def test_moving_the_first_rule_up_is_refused(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    response = await root.post("/policy/sets/0/rules/0/move", data={"direction": "up"})
    assert response.status_code == 400
    assert "already the first" in response.text and "Traceback" not in response.text
    assert len(await versions(database)) == 1


async def test_disable_and_enable_a_rule(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    alice = {"username": "alice", "groups": ["employees"]}
    response = await root.post("/policy/sets/0/rules/0/state", data={"state": "disabled"})
    assert response.status_code == 303
    (_, new) = await versions(database)
    assert authz(new.document)[0]["state"] == "disabled" and new.author == "root"
    assert "employees" in new.comment and "disabled" in new.comment
    answer = await whatif(root, **alice)
    assert answer["outcome"] == "reject" and answer["reason_code"] == 12020
    assert "authorization employees: no match - disabled: skipped" in answer["trace"]
    assert 'class="state-disabled" data-rule="employees"' in (await root.get("/policy")).text

    await root.post("/policy/sets/0/rules/0/state", data={"state": "enabled"})
    rows = await versions(database)
    assert len(rows) == 3 and "state" not in authz(rows[-1].document)[0]
    assert (await whatif(root, **alice))["outcome"] == "accept"
    # enabling an enabled rule changes nothing: no new version
    await root.post("/policy/sets/0/rules/0/state", data={"state": "enabled"})
    assert len(await versions(database)) == 3


async def test_delete_a_rule(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    response = await root.post("/policy/sets/0/rules/1/delete")
    assert response.status_code == 303
    (_, new) = await versions(database)
    names = [r["name"] for r in authz(new.document)]
    assert names == ["employees", "known-printers", "employees-quarantine"]
    assert new.comment == "deleted authorization rule contractors from policy set default"
    missing = await root.post("/policy/sets/0/rules/7/delete")
    assert missing.status_code == 404 and len(await versions(database)) == 2


async def test_edit_a_rule(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    form = {
        "name": "staff",
        "condition": '{"attr": "user.groups", "op": "contains", "value": "staff"}',
        "result": "employees-vlan100",
        "base": "1",
    }
    response = await root.post("/policy/sets/0/rules/0", data=form)
    assert response.status_code == 303, response.text
    (_, new) = await versions(database)
    rule = authz(new.document)[0]
    assert rule == {
        "name": "staff",
        "condition": {"attr": "user.groups", "op": "contains", "value": "staff"},
        "result": "employees-vlan100",
    }
    assert new.author == "root" and "employees (now staff)" in new.comment
    assert "name, condition" in new.comment
    assert (await whatif(root, username="dave", groups=["staff"]))["authorization_rule"] == "staff"
    assert (await whatif(root, username="alice", groups=["employees"]))["outcome"] == "reject"


@pytest.mark.parametrize(
    ("condition", "result", "field", "words"),
    [
        ('{"attr": "user.groups", "op": ', "employees-vlan100", "condition", "not valid JSON"),
        (
            '{"attr": "user.groups", "op": "equal", "value": "x"}',
            "employees-vlan100",
            "condition",
            "policy_sets[0].authorization[0].condition.op",
        ),
        ("", "no-such-result", "result", "policy_sets[0].authorization[0].result"),
    ],
)
async def test_an_invalid_edit_is_shown_beside_its_field_and_stores_nothing(
    demo: int,
    login: Login,
    database: Database,
    condition: str,
    result: str,
    field: str,
    words: str,
) -> None:
    root = await login("root")
    before = await config_version(database)
    form = {"name": "employees", "condition": condition, "result": result}
    response = await root.post("/policy/sets/0/rules/0", data=form)
    assert response.status_code in (400, 422)
    assert "Traceback" not in response.text
    match = re.search(rf'id="error-edit-0-0-{field}">([^<]*)<', response.text)
    assert match, response.text
    assert words in match.group(1)
    assert condition.replace('"', "&#34;") in response.text  # what was typed is kept
    assert len(await versions(database)) == 1 and await config_version(database) == before


async def test_a_duplicate_rule_name_is_refused(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    form = {"name": "contractors", "condition": "", "result": "deny"}
    response = await root.post("/policy/sets/0/rules", data=form)
    assert response.status_code == 422
    assert re.search(r'id="error-new-0-name">[^<]*contractors', response.text), response.text
    assert len(await versions(database)) == 1


async def test_a_new_rule(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    form = {
        "name": "guests",
        "condition": '{"attr": "user.groups", "op": "contains", "value": "guests"}',
        "result": "deny",
        "position": "1",
    }
    response = await root.post("/policy/sets/0/rules", data=form)
    assert response.status_code == 303, response.text
    (_, new) = await versions(database)
    assert [r["name"] for r in authz(new.document)][:2] == ["guests", "employees"]
    assert new.comment == "added authorization rule guests at position 1 in default"
    answer = await whatif(root, username="gus", groups=["guests", "employees"])
    assert answer["outcome"] == "reject" and answer["reason"] == "denied by rule guests"


async def test_an_edit_on_a_stale_page_is_refused(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    await root.post("/policy/sets/0/rules/1/move", data={"direction": "up", "base": "1"})
    stale = await root.post("/policy/sets/0/rules/1/delete", data={"base": "1"})
    assert stale.status_code == 409 and "now version 2" in stale.text
    assert len(await versions(database)) == 2


async def test_versions_diff_and_rollback(demo: int, login: Login, database: Database) -> None:
    root = await login("root")
    form = {"name": "employees", "condition": "", "result": "contractors-vlan200"}
    assert (await root.post("/policy/sets/0/rules/0", data=form)).status_code == 303

    listing = await root.get("/policy/versions")
    assert listing.status_code == 200
    assert "/policy/versions/2" in listing.text and "root" in listing.text
    assert "edited authorization rule employees" in listing.text

    diff = await root.get("/policy/versions/2")
    assert diff.status_code == 200
    assert '<span class="del">-          &#34;result&#34;: &#34;employees-vlan100&#34;' in diff.text
    assert (
        '<span class="add">+          &#34;result&#34;: &#34;contractors-vlan200&#34;' in diff.text
    )
    assert "--- version 1" in diff.text and "+++ version 2" in diff.text
    assert "Roll back" not in diff.text  # the current version
    assert "Roll back to this version" in (await root.get("/policy/versions/1")).text
    assert (await root.get("/policy/versions/9")).status_code == 404

    before = await config_version(database)
    rolled = await root.post("/policy/versions/1/rollback")
    assert rolled.status_code == 303 and rolled.headers["location"] == "/policy/versions/3"
    rows = await versions(database)
    assert [r.version for r in rows] == [1, 2, 3]
    assert rows[-1].document == rows[0].document and rows[-1].author == "root"
    assert rows[-1].comment == "rolled back to version 1"
    assert await config_version(database) == before + 1  # running servers reload it
    assert (await root.post("/policy/versions/9/rollback")).status_code == 404


async def test_whatif_page_radius_alice_and_tacacs_ops_reload(demo: int, login: Login) -> None:
    audi = await login("audi")
    form = await audi.get("/policy/whatif")
    assert form.status_code == 200 and 'name="command"' in form.text
    alice = await audi.post(
        "/policy/whatif",
        data={
            "protocol": "radius",
            "auth_method": "pap",
            "username": "alice",
            "groups": "employees",
        },
    )
    assert alice.status_code == 200
    assert "5200 accepted by rule employees" in alice.text
    assert "employees-vlan100 (accept, vlan 100)" in alice.text
    assert "policy_set default: match" in alice.text
    assert "authorization employees: match" in alice.text

    ops = await audi.post(
        "/policy/whatif",
        data={
            "protocol": "tacacs",
            "auth_method": "ascii",
            "username": "ops",
            "groups": "netops",
            "tacacs_service": "shell",
            "command": "reload",
        },
    )
    assert ops.status_code == 200
    assert "12050" in ops.text and "reject" in ops.text
    assert "command netops: deny" in ops.text
    assert "authorization netops: match" in ops.text

    bad = await audi.post("/policy/whatif", data={"protocol": "smtp", "mac": "nope"})
    assert bad.status_code == 422 and 'id="error-protocol"' in bad.text
    bad_mac = await audi.post("/policy/whatif", data={"mac": "nope"})
    assert bad_mac.status_code == 422
    assert re.search(r'id="error-mac">not a MAC address', bad_mac.text), bad_mac.text
    assert "Traceback" not in bad.text


async def test_whatif_api_gives_the_demo_answers(demo: int, login: Login) -> None:
    audi = await login("audi")
    alice = await whatif(audi, protocol="radius", username="alice", groups=["employees"])
    assert alice["outcome"] == "accept" and alice["reason_code"] == 5200
    assert alice["policy_set"] == "default" and alice["authentication_rule"] == "local-users"
    assert alice["authorization_rule"] == "employees" and alice["result"] == "employees-vlan100"
    assert alice["result_summary"] == "accept, vlan 100"
    assert alice["trace"][-1] == "decision: accept (5200 accepted by rule employees)"
    assert any(line.startswith("identity internal_users: match") for line in alice["trace"])

    ops = await whatif(audi, protocol="tacacs", username="ops", groups=["netops"], command="reload")
    assert ops["outcome"] == "reject" and ops["reason_code"] == 12050
    assert ops["result"] is None and ops["policy_set"] == "device-admin"
    assert ops["authorization_rule"] == "netops"
    assert any(line.startswith("command netops: deny") for line in ops["trace"])
    show = await whatif(
        audi, protocol="tacacs", username="ops", groups=["netops"], command="show version"
    )
    assert show["outcome"] == "accept" and show["reason_code"] == 5202

    printer = await whatif(
        audi, auth_method="mab", mac="00-11-22-33-44-55", endpoint_profile="printer"
    )
    assert printer["result"] == "printers-vlan300"
    bad = await audi.post("/api/v1/policy/whatif", json={"mac": "not-a-mac"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "mac"]
    missing = await audi.post("/api/v1/policy/whatif", json={"version": 99})
    assert missing.status_code == 404


async def test_whatif_stores_nothing(demo: int, login: Login, database: Database) -> None:
    audi = await login("audi")
    before = await config_version(database)
    await whatif(audi, username="alice", groups=["employees"])
    await audi.post("/policy/whatif", data={"username": "alice"})
    assert await config_version(database) == before and len(await versions(database)) == 1


CHANGES = [
    ("/policy/sets/0/rules", {"name": "x", "condition": "", "result": "deny"}),
    ("/policy/sets/0/rules/0", {"name": "x", "condition": "", "result": "deny"}),
    ("/policy/sets/0/rules/1/move", {"direction": "up"}),
    ("/policy/sets/0/rules/0/state", {"state": "disabled"}),
    ("/policy/sets/0/rules/0/delete", {}),
    ("/policy/versions/1/rollback", {}),
]


async def test_an_auditor_reads_and_asks_but_changes_nothing(
    demo: int, login: Login, database: Database
) -> None:
    audi = await login("audi")
    for path in ("/policy", "/policy/versions", "/policy/versions/1", "/policy/whatif"):
        assert (await audi.get(path)).status_code == 200, path
    for path in ("/api/v1/policy", "/api/v1/policy/versions", "/api/v1/policy/versions/1"):
        assert (await audi.get(path)).status_code == 200, path
    for path, form in CHANGES:
        response = await audi.post(path, data=form)
        assert response.status_code == 403 and "needs role admin" in response.text, path
    assert (await audi.put("/api/v1/policy", json=demo_policy())).status_code == 403
    assert (await audi.post("/api/v1/policy/rollback/1")).status_code == 403
    assert len(await versions(database)) == 1


async def test_every_change_needs_the_csrf_token(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    token = root.headers.pop("X-CSRF-Token")
    for path, form in CHANGES:
        response = await root.post(path, data=form)
        assert response.status_code == 403 and "CSRF" in response.text, path
        response = await root.post(path, data={**form, "csrf_token": "forged"})
        assert response.status_code == 403, path
    assert (await root.put("/api/v1/policy", json=demo_policy())).status_code == 403
    assert (await root.post("/api/v1/policy/rollback/1")).status_code == 403
    assert len(await versions(database)) == 1
    ok = await root.post(
        "/policy/sets/0/rules/0/state", data={"state": "disabled", "csrf_token": token}
    )
    assert ok.status_code == 303 and len(await versions(database)) == 2


async def test_the_api_reads_replaces_and_rolls_back(
    demo: int, login: Login, database: Database
) -> None:
    root = await login("root")
    current = (await root.get("/api/v1/policy")).json()
    assert current["version"] == 1 and current["author"] == "demo"
    assert current["document"] == demo_policy()

    document = demo_policy()
    authz(document)[0]["result"] = "contractors-vlan200"
    before = await config_version(database)
    put = await root.put("/api/v1/policy", params={"comment": "all contractors"}, json=document)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2 and put.json()["author"] == "root"
    assert await config_version(database) == before + 1
    assert (await versions(database))[-1].comment == "all contractors"

    invalid = demo_policy()
    authz(invalid, 1)[0]["condition"] = {"attr": "user.groups", "op": "equal", "value": "x"}
    refused = await root.put("/api/v1/policy", json=invalid)
    assert refused.status_code == 422
    (detail,) = refused.json()["detail"]
    assert detail["loc"] == ["body", "policy_sets[1].authorization[0].condition.op"]
    assert "equal" in detail["msg"]
    stale = await root.put("/api/v1/policy", params={"base_version": 1}, json=demo_policy())
    assert stale.status_code == 409
    assert len(await versions(database)) == 2

    listing = (await root.get("/api/v1/policy/versions")).json()
    assert [v["version"] for v in listing] == [2, 1]
    detail2 = (await root.get("/api/v1/policy/versions/2")).json()
    assert detail2["previous"] == 1
    assert '-          "result": "employees-vlan100"' in detail2["diff"]
    assert '+          "result": "contractors-vlan200"' in detail2["diff"]
    assert (await root.get("/api/v1/policy/versions/5")).status_code == 404

    rolled = await root.post("/api/v1/policy/rollback/1")
    assert rolled.status_code == 200 and rolled.json()["version"] == 3
    assert rolled.json()["document"] == demo_policy()
    assert (await versions(database))[-1].comment == "rolled back to version 1"
    assert (await root.post("/api/v1/policy/rollback/42")).status_code == 404


async def test_without_a_stored_policy_the_default_is_shown_and_edited(
    login: Login, database: Database
) -> None:
    root = await login("root")
    current = (await root.get("/api/v1/policy")).json()
    assert current["version"] == 0 and current["document"]["results"]["deny"]
    assert "No policy stored" in (await root.get("/policy")).text
    assert (await whatif(root, username="alice"))["outcome"] == "reject"
    form = {"name": "all", "condition": "", "result": "deny"}
    assert (await root.post("/policy/sets/0/rules", data=form)).status_code == 303
    (only,) = await versions(database)
    assert only.version == 1 and authz(only.document)[0]["name"] == "all"
