from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from nac.core.errors import AlreadyExistsError, NotFoundError, SecretError
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import (
    EndpointCreate,
    EndpointUpdate,
    GroupCreate,
    NasClientCreate,
    NasClientUpdate,
    UserCreate,
    UserUpdate,
)


async def _version(db: Database) -> int:
    async with db.session() as s:
        return await crud.get_config_version(s)


async def test_users_and_groups(database: Database, box: SecretBox) -> None:
    db = database
    async with db.session() as s:
        await crud.create_group(s, group=GroupCreate(name="employees"))
        with pytest.raises(AlreadyExistsError):
            await crud.create_group(s, group=GroupCreate(name="employees"))
        with pytest.raises(NotFoundError, match="group 'nope' does not exist"):
            await crud.create_user(
                s, user=UserCreate(name="x", password="p", groups=["nope"]), box=box
            )
        alice = await crud.create_user(
            s,
            user=UserCreate(name="alice", password="alice-pass", groups=["employees", "vpn"]),
            box=box,
            create_groups=True,
        )
        assert alice.groups == ["employees", "vpn"]
        assert "alice-pass" not in repr(alice)
        with pytest.raises(AlreadyExistsError, match="user 'alice' already exists"):
            await crud.create_user(s, user=UserCreate(name="alice", password="p"), box=box)
    v = await _version(db)
    async with db.session() as s:
        updated = await crud.update_user(
            s, name="alice", update=UserUpdate(enabled=False, groups=["vpn"]), box=box
        )
        assert updated.groups == ["vpn"] and updated.enabled is False
        assert [u.name for u in await crud.list_users(s)] == ["alice"]
        assert [g.name for g in await crud.list_groups(s)] == ["employees", "vpn"]
    assert await _version(db) == v + 1
    async with db.session() as s:
        await crud.delete_group(s, name="vpn")
        assert (await crud.get_user(s, name="alice")).groups == []
        await crud.delete_user(s, name="alice")
        with pytest.raises(NotFoundError):
            await crud.get_user(s, name="alice")


def test_model_validation() -> None:
    with pytest.raises(ValidationError, match="invalid name"):
        UserCreate(name="bad name", password="x")
    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        NasClientCreate(name="sw", addresses=["10.0.0.300"], secret="s")
    with pytest.raises(ValidationError, match="must be one of generic"):
        NasClientCreate(name="sw", addresses=["10.0.0.1"], secret="s", vendor="acme")
    client = NasClientCreate(name="sw", addresses=["10.1.2.3/24", "2001:DB8::1"], secret="s")
    assert client.addresses == ["10.1.2.0/24", "2001:db8::1/128"]
    assert "'s'" not in repr(client)
    assert EndpointCreate(mac="AA-BB-CC-DD-EE-0F").mac == "aa:bb:cc:dd:ee:0f"
    assert EndpointCreate(mac="aabb.ccdd.ee0f").mac == "aa:bb:cc:dd:ee:0f"


async def test_clients_and_runtime_config(database: Database, box: SecretBox) -> None:
    db = database
    async with db.session() as s:
        assert await crud.get_config_version(s) == 0
        created = await crud.create_client(
            s,
            client=NasClientCreate(
                name="sw1",
                addresses=["10.0.0.0/24", "2001:db8::/64"],
                secret="a-long-shared-secret",
                tacacs_key="tkey",
                vendor="cisco",
                device_group="access",
                location="hq",
            ),
            box=box,
        )
        assert created.has_tacacs_key
        assert "a-long-shared-secret" not in repr(created) + repr(await crud.list_clients(s))
        await crud.create_user(
            s,
            user=UserCreate(name="bob", password="bob-pass", groups=["b", "a"]),
            box=box,
            create_groups=True,
        )
        await crud.create_endpoint(
            s, endpoint=EndpointCreate(mac="00:11:22:33:44:55", profile="printer")
        )
        await crud.update_endpoint(s, mac="00-11-22-33-44-55", update=EndpointUpdate(group="iot"))
    async with db.session() as s:
        runtime = await crud.load_runtime_config(s, box=box)
    assert runtime.version == 4
    assert (
        runtime.policy_version == 0 and runtime.policy["policy_sets"][0]["default_result"] == "deny"
    )
    (client,) = runtime.clients
    assert client.secret == "a-long-shared-secret" and client.tacacs_key == "tkey"
    assert client.addresses == ("10.0.0.0/24", "2001:db8::/64")
    assert (client.vendor, client.device_group, client.location) == ("cisco", "access", "hq")
    assert (client.require_message_authenticator, client.limit_proxy_state) == ("auto", "auto")
    assert "a-long-shared-secret" not in repr(runtime) and "bob-pass" not in repr(runtime)
    (user,) = runtime.users
    assert (user.name, user.password, user.enabled, user.groups) == (
        "bob",
        "bob-pass",
        True,
        ("a", "b"),
    )
    (endpoint,) = runtime.endpoints
    assert (endpoint.mac, endpoint.profile, endpoint.group) == (
        "00:11:22:33:44:55",
        "printer",
        "iot",
    )

    async with db.session() as s:
        await crud.update_client(
            s,
            name="sw1",
            update=NasClientUpdate(secret="new-secret-123456", tacacs_key=None),
            box=box,
        )
        now = datetime.now(UTC)
        await crud.update_client_seen(s, name="sw1", last_seen=now, message_authenticator_seen=True)
        await crud.update_client_seen(
            s, name="sw1", last_seen=now - timedelta(hours=1), message_authenticator_seen=False
        )
        seen = await crud.get_client(s, name="sw1")
        assert seen.message_authenticator_seen is True  # sticky
        assert seen.last_seen == now.replace(microsecond=now.microsecond)  # never goes back
        assert seen.last_seen.tzinfo is not None
        assert not seen.has_tacacs_key
    assert await _version(db) == 5  # update_client bumped, update_client_seen did not
    async with db.session() as s:
        runtime = await crud.load_runtime_config(s, box=box)
        assert runtime.clients[0].secret == "new-secret-123456"
        # a different key file cannot decrypt: one clear error naming the row
        other = SecretBox(b"\x01" * 32)
        with pytest.raises(SecretError, match=r"^client sw1: cannot decrypt"):
            await crud.load_runtime_config(s, box=other)
        await crud.delete_client(s, name="sw1")
        with pytest.raises(NotFoundError):
            await crud.delete_client(s, name="sw1")


async def test_policy_versions(database: Database) -> None:
    async with database.session() as s:
        assert await crud.get_policy(s) is None
        assert await crud.ensure_default_policy(s) == 1
        assert await crud.ensure_default_policy(s) is None
        v = await crud.get_config_version(s)
        doc = {"results": {}, "policy_sets": []}
        assert await crud.set_policy(s, document=doc, author="me", comment="c") == 2
        assert await crud.get_config_version(s) == v + 1
        current = await crud.get_policy(s)
        assert current is not None and current.version == 2 and current.document == doc
        assert current.created_at.tzinfo is not None
        assert [p.version for p in await crud.list_policy_versions(s)] == [2, 1]
        old = await crud.get_policy(s, version=1)
        assert old is not None and old.author == "nac"


async def test_tacacs_device_and_enable_secrets(database: Database, box: SecretBox) -> None:
    """Key rotation, enable secrets and the unencrypted flag reach the runtime snapshot,
    encrypted at rest and never in the public views."""
    async with database.session() as s:
        created = await crud.create_client(
            s,
            client=NasClientCreate(
                name="core-sw",
                addresses=["10.9.0.1"],
                secret="radius-secret-1",
                tacacs_key="new-key",
                tacacs_extra_keys=["old-key", "new-key"],
                enable_secret="dev-enable",
            ),
            box=box,
        )
        assert created.has_tacacs_key and created.has_enable_secret
        assert "old-key" not in repr(created) and "dev-enable" not in repr(created)
        user = await crud.create_user(
            s, user=UserCreate(name="neteng", password="pw", enable_secret="en-15"), box=box
        )
        assert user.has_enable_secret
        runtime = await crud.load_runtime_config(s, box=box)
    client = next(c for c in runtime.clients if c.name == "core-sw")
    assert client.tacacs_keys == ("new-key", "old-key")  # current first, duplicates once
    assert client.enable_secret == "dev-enable" and client.tacacs_unencrypted is False
    assert next(u for u in runtime.users if u.name == "neteng").enable_secret == "en-15"
    async with database.session() as s:
        await crud.update_client(
            s,
            name="core-sw",
            update=NasClientUpdate(tacacs_extra_keys=[], tacacs_unencrypted=True),
            box=box,
        )
        await crud.update_user(s, name="neteng", update=UserUpdate(enable_secret=""), box=box)
        runtime = await crud.load_runtime_config(s, box=box)
        rows = await s.execute(text("SELECT tacacs_extra_keys_enc FROM nas_clients"))
        assert all(b"old-key" not in (r[0] or b"") for r in rows)
    client = next(c for c in runtime.clients if c.name == "core-sw")
    assert client.tacacs_keys == ("new-key",) and client.tacacs_unencrypted is True
    assert next(u for u in runtime.users if u.name == "neteng").enable_secret is None
    with pytest.raises(ValidationError, match="at most 4"):
        NasClientCreate(
            name="x", addresses=["10.0.0.1"], secret="s", tacacs_extra_keys=list("abcde")
        )
