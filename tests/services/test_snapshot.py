"""nac.services.snapshot.build_snapshot: a RuntimeConfig compiled into the lookup tables."""

from __future__ import annotations

import pytest

from nac.db.runtime import RuntimeEndpoint, RuntimeUser
from nac.services.snapshot import build_snapshot
from policy.rules import PolicySnapshot

from .support import SECRET, client, config

CLIENTS = (
    client("wide", ("10.0.0.0/8",)),  # listed first: order of definition must not matter
    client("host", ("10.1.2.3/32",), vendor="cisco"),
    client("narrow", ("10.1.2.0/24",), vendor="aruba"),
    client("v6", ("2001:db8::/32", "2001:db8:1::/48")),
    client("v6-narrow", ("2001:db8:1:2::/64",)),
    client("loopback", ("127.0.0.0/8",)),
)


@pytest.mark.parametrize(
    ("ip", "name"),
    [
        ("10.1.2.3", "host"),
        ("10.1.2.4", "narrow"),
        ("10.9.9.9", "wide"),
        ("2001:db8::1", "v6"),
        ("2001:db8:1:2::5", "v6-narrow"),
        ("2001:db8:1:3::5", "v6"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "host"),
        ("::ffff:10.1.2.200", "narrow"),
        ("127.0.0.1", "loopback"),
    ],
)
def test_most_specific_client_wins(ip: str, name: str) -> None:
    entry = build_snapshot(config(clients=CLIENTS)).client_for_ip(ip)
    assert entry is not None
    assert entry.name == name


@pytest.mark.parametrize("ip", ["192.0.2.1", "::1", "2001:db9::1", "not-an-ip", "", "fe80::1%eth0"])
def test_unknown_source_is_none(ip: str) -> None:
    snapshot = build_snapshot(config(clients=CLIENTS))
    assert snapshot.client_for_ip(ip) is None
    assert snapshot.client_for_ip(ip) is None  # also when answered from the cache


def test_client_entry_fields() -> None:
    snapshot = build_snapshot(
        config(
            clients=(
                client(
                    "sw1",
                    ("192.0.2.0/24",),
                    vendor="",
                    device_group="access",
                    location="bldg-1",
                    require_message_authenticator="yes",
                    limit_proxy_state="bogus",
                    tacacs_key="tk",
                ),
            )
        )
    )
    entry = snapshot.client_for_ip("192.0.2.9")
    assert entry is not None
    assert entry.vendor == "generic"
    assert entry.nas.vendor == "generic"
    assert (entry.nas.name, entry.nas.device_group, entry.nas.location) == (
        "sw1",
        "access",
        "bldg-1",
    )
    assert entry.radius.secret == SECRET
    assert entry.radius.require_message_authenticator == "yes"
    assert entry.radius.limit_proxy_state == "auto"
    assert entry.tacacs is not None and entry.tacacs.keys == (b"tk",)
    assert entry.tacacs.allow_unencrypted is False and entry.tacacs.name == entry.name
    assert "tk" not in repr(entry)
    assert SECRET.decode() not in repr(entry)


def test_users_endpoints_and_policy() -> None:
    snapshot = build_snapshot(
        config(
            version=7,
            users=(RuntimeUser(name="bob", password="pw", enabled=False, groups=("a", "b")),),
            endpoints=(RuntimeEndpoint(mac="00:11:22:33:44:55", profile=None, group="cams"),),
        )
    )
    assert snapshot.version == 7
    assert isinstance(snapshot.policy, PolicySnapshot)
    bob = snapshot.users["bob"]
    assert (bob.password, bob.enabled, bob.groups) == ("pw", False, frozenset({"a", "b"}))
    cam = snapshot.endpoints["00:11:22:33:44:55"]
    assert (cam.profile, cam.group) == (None, "cams")


def test_lookup_cache_is_per_snapshot() -> None:
    old = build_snapshot(config(clients=CLIENTS))
    assert old.client_for_ip("10.1.2.3").name == "host"  # type: ignore[union-attr]
    assert old.client_for_ip("192.0.2.1") is None
    without_host = tuple(c for c in CLIENTS if c.name != "host")
    new = build_snapshot(config(clients=(*without_host, client("docs", ("192.0.2.0/24",)))))
    assert new.client_for_ip("10.1.2.3").name == "narrow"  # type: ignore[union-attr]
    assert new.client_for_ip("192.0.2.1").name == "docs"  # type: ignore[union-attr]
    # The old snapshot is immutable: its answers do not change either.
    assert old.client_for_ip("10.1.2.3").name == "host"  # type: ignore[union-attr]
    assert old.client_for_ip("192.0.2.1") is None


def test_invalid_policy_is_refused() -> None:
    from policy.compile import PolicyError

    with pytest.raises(PolicyError):
        build_snapshot(config(policy={"results": {}, "policy_sets": "nonsense"}))
