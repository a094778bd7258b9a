from __future__ import annotations

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.demo import seed_demo
from nac.db.engine import Database
from nac.db.models import GroupCreate


async def test_seed_demo_exact_content(database: Database, box: SecretBox) -> None:
    async with database.session() as s:
        assert await seed_demo(s, box=box) is True
    async with database.session() as s:
        rt = await crud.load_runtime_config(s, box=box)
        policy = await crud.get_policy(s)
        clients = await crud.list_clients(s)
        groups = [g.name for g in await crud.list_groups(s)]
    (client,) = rt.clients
    assert client.name == "lab-switch"
    assert client.addresses == ("127.0.0.0/8", "::1/128")
    assert client.secret == "testing123" and client.tacacs_key == "testing123"
    assert client.vendor == "generic"
    assert clients[0].has_tacacs_key
    assert sorted(groups) == ["contractors", "employees", "netadmins", "netops"]
    assert {(u.name, u.password, u.groups, u.enabled) for u in rt.users} == {
        ("alice", "alice-pass", ("employees",), True),
        ("bob", "bob-pass", ("contractors",), True),
        ("admin", "admin-pass", ("netadmins",), True),
        ("ops", "ops-pass", ("netops",), True),
    }
    assert [(e.mac, e.profile) for e in rt.endpoints] == [("00:11:22:33:44:55", "printer")]
    assert policy is not None
    assert (policy.version, policy.author) == (1, "demo")
    assert policy.document == demo_policy() == rt.policy
    assert rt.policy_version == 1
    assert rt.version == 1  # one transaction, one bump


async def test_seed_demo_refuses_non_empty(database: Database, box: SecretBox) -> None:
    async with database.session() as s:
        await crud.create_group(s, group=GroupCreate(name="mine"))
        assert await seed_demo(s, box=box) is False
        assert [g.name for g in await crud.list_groups(s)] == ["mine"]
        assert await crud.get_policy(s) is None


async def test_seed_demo_over_untouched_default_policy(database: Database, box: SecretBox) -> None:
    async with database.session() as s:
        assert await crud.ensure_default_policy(s) == 1
        assert await seed_demo(s, box=box) is True
        current = await crud.get_policy(s)
        assert current is not None and current.author == "demo" and current.version == 2
        assert await seed_demo(s, box=box) is False
