"""Configuration as code: one YAML document out, validated and applied atomically back in."""

from __future__ import annotations

import copy
import difflib

import pytest
import yaml
from sqlalchemy import delete

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.demo import seed_demo
from nac.db.engine import Database
from nac.db.models import (
    Endpoint,
    EndpointCreate,
    Group,
    NasClient,
    NasClientCreate,
    PolicyVersion,
    User,
    UserGroup,
)
from nac.services.config_io import (
    PLACEHOLDER,
    ConfigImportError,
    dump_yaml,
    export_config,
    import_config,
    parse_config,
)


async def export_text(database: Database) -> str:
    async with database.session() as s:
        return dump_yaml(await export_config(s))


async def empty(database: Database) -> None:
    async with database.session() as s:
        for model in (UserGroup, User, Group, NasClient, Endpoint, PolicyVersion):
            await s.execute(delete(model))
        await s.commit()
        assert await crud.is_empty(s)


@pytest.fixture
async def demo(database: Database, box: SecretBox) -> Database:
    async with database.session() as s:
        assert await seed_demo(s, box=box)
    async with database.session() as s:  # a discovered endpoint: runtime data, not exported
        await crud.set_endpoint_state(s, mac="02:00:00:00:00:99", profile="phone")
    return database


async def test_export_is_one_document_without_secrets(demo: Database) -> None:
    text = await export_text(demo)
    doc = yaml.safe_load(text)
    assert list(doc) == ["format", "clients", "groups", "users", "endpoints", "policy"]
    (client,) = doc["clients"]
    assert client["name"] == "lab-switch"
    assert client["secret"] == client["tacacs_key"] == PLACEHOLDER
    assert "enable_secret" not in client
    assert [u["name"] for u in doc["users"]] == ["admin", "alice", "bob", "ops"]
    assert doc["users"][0]["enable_secret"] == PLACEHOLDER  # admin has one; alice has none
    assert "enable_secret" not in doc["users"][1]
    assert {u["password"] for u in doc["users"]} == {PLACEHOLDER}
    assert [e["mac"] for e in doc["endpoints"]] == ["00:11:22:33:44:55"]  # not the discovered one
    assert doc["policy"] == demo_policy()
    for secret in ("testing123", "alice-pass", "enable-pass", "admin-pass"):
        assert secret not in text
    assert "secret: <not exported>" in text
    assert text == await export_text(demo)  # stable


async def test_round_trip_into_an_empty_database(demo: Database, box: SecretBox) -> None:
    first = await export_text(demo)
    await empty(demo)
    async with demo.session() as s:
        plan = await import_config(s, first, box=box, admin="root", source="demo.yaml")
    assert plan.counts["users"] == {"created": 4, "changed": 0, "deleted": 0}
    assert plan.counts["clients"]["created"] == 1 and plan.policy_changed
    # New objects get generated secrets, shown once in the result.
    generated = {(g.kind, g.name, g.field) for g in plan.generated}
    assert ("client", "lab-switch", "secret") in generated
    assert ("client", "lab-switch", "tacacs_key") in generated
    assert ("user", "alice", "password") in generated
    assert ("user", "admin", "enable_secret") in generated
    assert ("user", "alice", "enable_secret") not in generated
    assert await export_text(demo) == first
    async with demo.session() as s:
        runtime = await crud.load_runtime_config(s, box=box)
        secret = {g.name: g.value for g in plan.generated if g.field == "secret"}["lab-switch"]
        assert runtime.clients[0].secret == secret and len(secret) >= 24
        (change,) = await crud.list_admin_changes(s, object_type="config")
        assert (change.admin, change.action, change.object_key) == ("root", "import", "demo.yaml")
        assert secret not in str(change.after)
    # Importing the same document again changes nothing (no new policy version either).
    async with demo.session() as s:
        again = await import_config(s, first, box=box, admin="root")
    assert again.changes == [] and again.diff == [] and again.generated == []


async def test_dry_run_shows_the_diff_and_changes_nothing(demo: Database, box: SecretBox) -> None:
    doc = yaml.safe_load(await export_text(demo))
    doc["clients"][0]["vendor"] = "cisco"
    doc["clients"].append({"name": "sw2", "addresses": ["10.2.0.1"], "secret": "a-given-secret"})
    doc["users"] = [u for u in doc["users"] if u["name"] != "bob"]
    doc["endpoints"][0]["blocked"] = True
    policy = copy.deepcopy(doc["policy"])
    policy["results"]["deny"]["description"] = "nope"
    doc["policy"] = policy
    text = dump_yaml(doc)
    async with demo.session() as s:
        version = await crud.get_config_version(s)
    for prune in (False, True):
        async with demo.session() as s:
            plan = await import_config(s, text, box=box, admin="root", dry_run=True, prune=prune)
        assert plan.dry_run and plan.config_version is None and plan.generated == []
        assert plan.counts["clients"] == {"created": 1, "changed": 1, "deleted": 0}
        assert plan.counts["users"]["deleted"] == (1 if prune else 0)
        assert "change client lab-switch: vendor" in plan.changes
        assert "create client sw2" in plan.changes and "change policy" in plan.changes
        assert "-    vendor: generic" in plan.diff and "+    vendor: cisco" in plan.diff
        assert ("-  - name: bob" in plan.diff) is prune
        assert "a-given-secret" not in "\n".join(plan.diff)
    assert "users: 0 created, 0 changed, 1 deleted" in plan.summary()
    async with demo.session() as s:
        assert await crud.get_config_version(s) == version
        assert [c.name for c in await crud.list_clients(s)] == ["lab-switch"]
        assert await crud.list_admin_changes(s) == []
    # Applied (with prune): the export is what the dry run predicted.
    before = await export_text(demo)
    async with demo.session() as s:
        applied = await import_config(s, text, box=box, admin="root", prune=True)
    assert applied.config_version == version + 1
    assert [(g.name, g.field) for g in applied.generated] == []  # sw2's secret was given
    assert applied.diff == plan.diff and applied.changes == plan.changes
    after = await export_text(demo)
    real = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "current", "after import", lineterm=""
    )
    assert list(real) == plan.diff
    assert "10.2.0.1/32" in after
    async with demo.session() as s:
        runtime = await crud.load_runtime_config(s, box=box)
        assert {c.name: c.secret for c in runtime.clients}["sw2"] == "a-given-secret"
        assert {c.name: c.secret for c in runtime.clients}["lab-switch"] == "testing123"  # kept
        assert [u.name for u in runtime.users] == ["admin", "alice", "ops"]
        assert runtime.endpoints[0].blocked is True
        assert (await crud.get_policy(s)).document["results"]["deny"]["description"] == "nope"


async def test_a_real_secret_for_an_existing_object_is_a_change(
    demo: Database, box: SecretBox
) -> None:
    doc = yaml.safe_load(await export_text(demo))
    doc["clients"][0]["secret"] = "testing123"  # the same: no change
    doc["users"][1]["password"] = "new-alice"  # alice
    del doc["clients"][0]["tacacs_key"]  # absent: removed
    async with demo.session() as s:
        plan = await import_config(s, dump_yaml(doc), box=box, admin="root")
    assert plan.changes == ["change client lab-switch: tacacs_key", "change user alice: password"]
    async with demo.session() as s:
        runtime = await crud.load_runtime_config(s, box=box)
    assert runtime.clients[0].tacacs_key is None and runtime.clients[0].secret == "testing123"
    assert {u.name: u.password for u in runtime.users}["alice"] == "new-alice"


def paths(text: str) -> list[str]:
    with pytest.raises(ConfigImportError) as excinfo:
        parse_config(text)
    return [p for p, _ in excinfo.value.errors]


def test_validation_errors_name_the_path() -> None:
    text = """
format: nac-config/1
clients:
  - {name: a, addresses: [10.0.0.1]}
  - {name: b, addresses: [10.0.0.2]}
  - {name: c, addresses: [not-an-ip, 10.0.0.0/8], vendor: nokia, secrett: x}
  - {name: a, addresses: [10.0.0.3]}
users:
  - {name: "bad name", groups: [ok]}
  - {name: u2, groups: ["bad!"], enabled: maybe}
endpoints:
  - {mac: zz}
  - {mac: "00:11:22:33:44:55", blocked: "yes please"}
policy:
  results: {}
  policy_sets: [{name: x, authentication: [], authorization: [], default_result: missing}]
extra: 1
"""
    found = paths(text)
    assert "clients[2].addresses[0]" in found
    assert "clients[2].vendor" in found
    assert "clients[2].secrett" in found
    assert "clients[3].name" in found
    assert "users[0].name" in found
    assert "users[1].groups[0]" in found and "users[1].enabled" in found
    assert "endpoints[0].mac" in found and "endpoints[1].blocked" in found
    assert any(p.startswith("policy.policy_sets[0]") for p in found)
    assert "extra" in found
    assert paths("clients: {a: 1}") == ["clients"]
    assert paths("- 1") == [""]
    assert paths("a: [") == [""]
    with pytest.raises(ConfigImportError, match="line 1, column"):
        parse_config("a: [")


async def test_a_user_group_must_exist_after_the_import(demo: Database, box: SecretBox) -> None:
    text = "users:\n  - {name: dave, groups: [employees, nowhere]}\n"
    async with demo.session() as s:
        version = await crud.get_config_version(s)
    with pytest.raises(ConfigImportError) as excinfo:
        async with demo.session() as s:
            await import_config(s, text, box=box, admin="root")
    assert excinfo.value.errors == [
        ("users[0].groups[1]", "group 'nowhere' is not in groups nor stored")
    ]
    async with demo.session() as s:
        assert await crud.get_config_version(s) == version  # rolled back, bump included
    # Pruning groups removes "employees" unless the file lists it.
    pruned = "groups: [{name: netops}]\nusers:\n  - {name: dave, groups: [employees]}\n"
    with pytest.raises(ConfigImportError):
        async with demo.session() as s:
            await import_config(s, pruned, box=box, admin="root", prune=True)
    async with demo.session() as s:
        plan = await import_config(s, text.replace(", nowhere", ""), box=box, admin="root")
    assert plan.changes == ["create user dave"]
    assert [(g.name, g.field) for g in plan.generated] == [("dave", "password")]


async def test_prune_keeps_discovered_endpoints_and_sections_not_in_the_file(
    demo: Database, box: SecretBox
) -> None:
    async with demo.session() as s:
        await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:66"))
        await crud.create_client(
            s,
            client=NasClientCreate(name="sw3", addresses=["10.3.0.0/16"], secret="x" * 16),
            box=box,
        )
    text = "endpoints:\n  - {mac: 00-11-22-33-44-66, profile: camera}\n"
    async with demo.session() as s:
        plan = await import_config(s, text, box=box, admin="root", prune=True)
    assert plan.changes == [
        "change endpoint 00:11:22:33:44:66: profile",
        "delete endpoint 00:11:22:33:44:55",
    ]
    async with demo.session() as s:
        macs = {e.mac: e.registered for e in await crud.list_endpoints(s)}
        assert macs == {"00:11:22:33:44:66": True, "02:00:00:00:00:99": False}
        assert len(await crud.list_clients(s)) == 2  # no clients section: untouched
