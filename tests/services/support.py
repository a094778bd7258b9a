"""Builders shared by the nac.services tests: a runtime configuration, packets, fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from nac.db.defaults import demo_policy
from nac.db.runtime import RuntimeClient, RuntimeConfig, RuntimeEndpoint, RuntimeUser
from radius.crypto import accounting_request_authenticator, message_authenticator
from radius.dictionary import default_dictionary
from radius.packet import encode_packet, push_attributes

SECRET = b"testing123"
AUTH = bytes(range(16))
NAS_ADDR = ("127.0.0.1", 50000)
PRINTER_MAC = "00:11:22:aa:bb:cc"
WALL = 1_700_000_000.0
DICTIONARY = default_dictionary()


def client(
    name: str = "lab-switch",
    addresses: tuple[str, ...] = ("127.0.0.0/8",),
    vendor: str = "generic",
    **kw: Any,
) -> RuntimeClient:
    base: dict[str, Any] = {
        "secret": SECRET.decode(),
        "tacacs_key": None,
        "device_group": "",
        "location": "",
        "require_message_authenticator": "auto",
        "limit_proxy_state": "auto",
    }
    base.update(kw)
    return RuntimeClient(name=name, addresses=addresses, vendor=vendor, **base)


def config(
    *,
    version: int = 1,
    policy: dict[str, Any] | None = None,
    clients: tuple[RuntimeClient, ...] | None = None,
    users: tuple[RuntimeUser, ...] | None = None,
    endpoints: tuple[RuntimeEndpoint, ...] | None = None,
) -> RuntimeConfig:
    return RuntimeConfig(
        version=version,
        policy=policy if policy is not None else demo_policy(),
        policy_version=1,
        clients=clients if clients is not None else (client(),),
        users=users
        if users is not None
        else (
            RuntimeUser(name="alice", password="alice-pass", enabled=True, groups=("employees",)),
            RuntimeUser(name="carol", password="carol-pass", enabled=False, groups=("employees",)),
        ),
        endpoints=endpoints
        if endpoints is not None
        else (RuntimeEndpoint(mac=PRINTER_MAC, profile="printer", group="printers"),),
    )


def access_request(attrs: Sequence[tuple[int, bytes]], ident: int = 1, auth: bytes = AUTH) -> bytes:
    """An Access-Request with a valid Message-Authenticator first."""
    data = encode_packet(1, ident, auth, [(80, bytes(16)), *attrs])
    return data[:22] + message_authenticator(data, SECRET) + data[38:]


def accounting_request(attrs: Sequence[tuple[int, bytes]], ident: int = 1) -> bytes:
    """An Accounting-Request with its Request Authenticator (RFC 2866 section 3)."""
    auth = accounting_request_authenticator(4, ident, push_attributes(attrs), SECRET)
    return encode_packet(4, ident, auth, attrs)


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


class FakeStore:
    """Stands in for SnapshotStore: the service only reads ``current``."""

    def __init__(self, snapshot: object) -> None:
        self.current = snapshot


class Recorder:
    """Stands in for a BatchWriter: keeps what was submitted."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def submit(self, item: Any) -> None:
        self.items.append(item)

    def submit_wait(self, item: Any) -> asyncio.Future[None]:
        self.items.append(item)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut
