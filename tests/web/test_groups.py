"""User groups on /groups and /api/v1/groups: member counts, create, edit the description,
delete refused (409, in words) while a user is a member or a policy rule names the group."""

from __future__ import annotations

from typing import Any

import pytest

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.defaults import default_policy
from nac.db.engine import Database
from nac.db.models import UserCreate
from nac.services import changes

from .conftest import Login
from .test_directory_pages import form_post


def policy() -> dict[str, Any]:
    """A policy whose authorization rules name the groups employees and netops."""
    document = default_policy()
    document["policy_sets"][0]["authorization"] = [
        {
            "name": name,
            "condition": {"attr": "user.groups", "op": "contains", "value": name},
            "result": "deny",
        }
        for name in ("employees", "netops")
    ]
    return document


@pytest.fixture
async def directory(database: Database, box: SecretBox, admins: dict[str, str]) -> None:
    """A policy naming employees and netops, and users in employees and lab."""
    async with database.session() as session:
        await crud.set_policy(session, document=policy(), author="test", comment="groups")
        for name, groups in (("alice", ["employees"]), ("bob", ["employees", "lab"])):
            user = UserCreate(name=name, password="pass-word-1", groups=groups)
            await crud.create_user(session, user=user, box=box, create_groups=True)


async def test_the_api_lists_groups_with_member_counts_and_the_rules_naming_them(
    directory: None, login: Login
) -> None:
    audi = await login("audi")
    groups = {g["name"]: g for g in (await audi.get("/api/v1/groups")).json()}
    assert set(groups) == {"employees", "lab"}
    assert groups["employees"]["members"] == 2 and groups["lab"]["members"] == 1
    assert groups["employees"]["rules"] == ["policy set default, authorization rule employees"]
    assert groups["lab"]["rules"] == []
    assert (await audi.get("/api/v1/groups/lab")).json()["members"] == 1
    assert (await audi.get("/api/v1/groups/nope")).status_code == 404
    assert (await audi.post("/api/v1/groups", json={"name": "x"})).status_code == 403


async def test_create_edit_and_delete_through_the_api(directory: None, login: Login) -> None:
    root = await login("root")
    created = await root.post("/api/v1/groups", json={"name": "netops", "description": "NOC"})
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "netops",
        "description": "NOC",
        "members": 0,
        "rules": ["policy set default, authorization rule netops"],
    }
    again = await root.post("/api/v1/groups", json={"name": "netops"})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    bad = await root.post("/api/v1/groups", json={"name": "no/slash"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]

    patched = await root.patch("/api/v1/groups/netops", json={"description": "the NOC team"})
    assert patched.status_code == 200 and patched.json()["description"] == "the NOC team"
    too_long = await root.patch("/api/v1/groups/netops", json={"description": "x" * 1025})
    assert too_long.status_code == 422
    assert (await root.patch("/api/v1/groups/nope", json={"description": ""})).status_code == 404

    # A rule of the current policy names it: refused, saying which rule.
    refused = await root.delete("/api/v1/groups/netops")
    assert refused.status_code == 409
    assert "policy set default, authorization rule netops" in refused.json()["detail"]
    # Members: refused, saying how many.
    members = await root.delete("/api/v1/groups/lab")
    assert members.status_code == 409
    assert members.json()["detail"] == "group 'lab' is in use: 1 user still member of it"
    assert (await root.delete("/api/v1/groups/nope")).status_code == 404

    await root.post("/api/v1/groups", json={"name": "unused"})
    assert (await root.delete("/api/v1/groups/unused")).status_code == 204
    names = {g["name"] for g in (await root.get("/api/v1/groups")).json()}
    assert names == {"employees", "lab", "netops"}


async def test_membership_on_the_users_page_then_the_group_can_go(
    directory: None, login: Login, database: Database
) -> None:
    root = await login("root")
    # bob leaves "lab" (membership is edited on the users page)
    assert (await form_post(root, "/users/bob", enabled="1", groups="employees")).status_code == 303
    assert (await root.get("/api/v1/groups/lab")).json()["members"] == 0
    deleted = await form_post(root, "/groups/lab/delete")
    assert deleted.status_code == 303
    async with database.session() as session:
        assert [g.name for g in await crud.list_groups(session)] == ["employees"]


async def test_the_groups_page(directory: None, login: Login) -> None:
    root = await login("root")
    listing = (await root.get("/groups")).text
    assert 'data-group="employees"' in listing and "authorization rule employees" in listing

    created = await form_post(root, "/groups", name="guests", description="visitors")
    assert created.status_code == 303
    assert "visitors" in (await root.get("/groups")).text
    dup = await form_post(root, "/groups", name="guests")
    assert dup.status_code == 409 and 'id="error-new-name"' in dup.text
    bad = await form_post(root, "/groups", name="bad name!")
    assert bad.status_code == 422 and 'id="error-new-name"' in bad.text
    assert "Traceback" not in bad.text

    edited = await form_post(root, "/groups/guests", description="conference visitors")
    assert edited.status_code == 303
    assert "conference visitors" in (await root.get("/groups")).text
    assert (await form_post(root, "/groups/nope", description="x")).status_code == 404

    in_use = await form_post(root, "/groups/employees/delete")
    assert in_use.status_code == 409
    assert 'id="error-edit-employees-delete"' in in_use.text
    assert "2 users still member of it" in in_use.text
    assert "authorization rule employees" in in_use.text
    assert (await form_post(root, "/groups/guests/delete")).status_code == 303
    assert 'data-group="guests"' not in (await root.get("/groups")).text

    # An auditor reads the page without the forms, and cannot change anything.
    audi = await login("audi")
    page = (await audi.get("/groups")).text
    assert 'data-group="employees"' in page and "Add a group" not in page
    assert (await form_post(audi, "/groups", name="x")).status_code == 403


def test_rules_naming_a_group_in_nested_and_list_conditions() -> None:
    document = {
        "policy_sets": [
            {
                "name": "s",
                "condition": {"not": {"attr": "user.groups", "op": "contains", "value": "a"}},
                "authentication": [],
                "authorization": [
                    {
                        "name": "r1",
                        "condition": {
                            "any": [
                                {"attr": "user.name", "op": "equals", "value": "b"},
                                {"attr": "user.groups", "op": "in", "value": ["x", "b"]},
                            ]
                        },
                    },
                    {
                        "name": "r2",
                        "condition": {
                            "attr": "user.groups",
                            "op": "contains",
                            "value": "B",
                            "case_insensitive": True,
                        },
                    },
                    {
                        "name": "r3",
                        "condition": {"attr": "user.groups", "op": "contains", "value": "c"},
                    },
                ],
            }
        ]
    }
    assert changes.rules_naming_group(document, "a") == ["policy set s (its condition)"]
    assert changes.rules_naming_group(document, "b") == [
        "policy set s, authorization rule r1",
        "policy set s, authorization rule r2",
    ]
    assert changes.rules_naming_group(document, "user.name") == []
