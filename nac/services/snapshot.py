"""The in-memory runtime snapshot: clients, identities, endpoints and the compiled policy.

The request path reads only this; it never queries the database. A snapshot is built from
one consistent read of the configuration and swapped atomically when the configuration
version in the database moves (any node, any process: the CLI, the console, another server).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from nac.core.secrets import SecretBox
from nac.db.crud import endpoint_changes, get_config_version, load_runtime_config
from nac.db.engine import Database, StateProbe
from nac.db.runtime import RuntimeConfig, RuntimeEndpoint
from policy.compile import compile_policy
from policy.model import EndpointInfo, NasInfo
from policy.rules import PolicySnapshot
from radius.server import ClientConfig
from tacacs.aio import DeviceConfig

log = logging.getLogger("nac.snapshot")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientEntry:
    name: str
    networks: tuple[Network, ...]
    vendor: str
    nas: NasInfo
    radius: ClientConfig
    tacacs: DeviceConfig | None = None  # None: no TACACS+ key and no unencrypted flag
    enable_secret: bytes | None = field(default=None, repr=False)
    # RFC 5176 dynamic authorization: the NAS's DAS ports and what it accepts.
    coa_port: int = 3799
    disconnect_port: int = 3799
    coa_mode: str = "auto"  # auto | coa | disconnect | off


@dataclass(frozen=True, slots=True)
class UserEntry:
    name: str
    password: str = field(repr=False)
    enabled: bool = True
    groups: frozenset[str] = frozenset()
    secret: bytes = field(default=b"", repr=False, compare=False)  # the password as UTF-8
    enable_secret: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secret and self.password:
            object.__setattr__(self, "secret", self.password.encode())


@dataclass(frozen=True, slots=True)
class EndpointEntry:
    mac: str
    profile: str | None
    group: str | None
    registered: bool = True  # known for MAB; discovered endpoints are not
    blocked: bool = False
    posture_state: str = "unknown"
    posture_score: int = 0
    posture_failed: frozenset[str] = frozenset()
    posture_at: datetime | None = None
    first_seen: datetime | None = None
    vendor: str | None = None
    randomized: bool = False
    # What the policy sees of it, built once per entry rather than per request.
    info: EndpointInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        info = EndpointInfo(
            mac=self.mac,
            known=self.registered,
            profile=self.profile,
            group=self.group,
            blocked=self.blocked,
            posture_score=self.posture_score,
            posture_failed=self.posture_failed,
            posture_at=self.posture_at,
            first_seen=self.first_seen,
            vendor=self.vendor,
            randomized=self.randomized,
        )
        object.__setattr__(self, "info", info)


def endpoint_entry(e: RuntimeEndpoint) -> EndpointEntry:
    return EndpointEntry(
        mac=e.mac,
        profile=e.profile,
        group=e.group,
        registered=e.registered,
        blocked=e.blocked,
        posture_state=e.posture_state,
        posture_score=e.posture_score,
        posture_failed=frozenset(e.posture_failed),
        posture_at=e.posture_at,
        first_seen=e.first_seen,
        vendor=e.vendor,
        randomized=e.randomized,
    )


class RuntimeSnapshot:
    """Immutable after construction; the client lookup cache is the only thing that fills."""

    __slots__ = (
        "_by_prefix",
        "_ip_cache",
        "clients",
        "endpoint_seq",
        "endpoints",
        "policy",
        "policy_version",
        "users",
        "version",
    )

    def __init__(
        self,
        *,
        version: int,
        policy: PolicySnapshot,
        clients: tuple[ClientEntry, ...],
        users: dict[str, UserEntry],
        endpoints: dict[str, EndpointEntry],
        policy_version: int = 0,
        endpoint_seq: int = 0,
    ) -> None:
        self.version = version
        self.policy = policy
        self.policy_version = policy_version  # the stored version ``policy`` was compiled from
        self.clients = clients
        self.users = users
        self.endpoints = endpoints
        # The endpoint state sequence applied: `endpoints` is patched in place as it moves
        # (the only mutation after construction; readers see an entry old or new, never torn).
        self.endpoint_seq = endpoint_seq
        # Most specific prefix first, so overlapping ranges resolve to the narrowest.
        pairs = [(net, c) for c in clients for net in c.networks]
        pairs.sort(key=lambda p: p[0].prefixlen, reverse=True)
        self._by_prefix = tuple(pairs)
        self._ip_cache: dict[str, ClientEntry | None] = {}

    def apply_endpoints(self, seq: int, changed: list[RuntimeEndpoint]) -> None:
        """Patch endpoint state changes (stamped up to ``seq``) into this snapshot."""
        endpoints = self.endpoints
        for e in changed:
            endpoints[e.mac] = endpoint_entry(e)
        self.endpoint_seq = max(self.endpoint_seq, seq)

    def client_for_ip(self, ip: str) -> ClientEntry | None:
        try:
            return self._ip_cache[ip]
        except KeyError:
            pass
        found = self._match(ip)
        if len(self._ip_cache) > 65_536:
            self._ip_cache.clear()
        self._ip_cache[ip] = found
        return found

    def _match(self, ip: str) -> ClientEntry | None:
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        for net, client in self._by_prefix:
            if addr.version == net.version and addr in net:
                return client
        return None


def _mode(value: str) -> Literal["auto", "yes", "no"]:
    if value == "yes":
        return "yes"
    if value == "no":
        return "no"
    return "auto"


def build_snapshot(config: RuntimeConfig) -> RuntimeSnapshot:
    """Compile a RuntimeConfig read from the database into a RuntimeSnapshot."""
    clients = []
    for c in config.clients:
        nets = tuple(ipaddress.ip_network(a, strict=False) for a in c.addresses)
        nas = NasInfo(
            name=c.name,
            ip="",
            device_group=c.device_group or "",
            location=c.location or "",
            vendor=c.vendor or "generic",
        )
        radius = ClientConfig(
            name=c.name,
            secret=c.secret.encode(),
            require_message_authenticator=_mode(c.require_message_authenticator),
            limit_proxy_state=_mode(c.limit_proxy_state),
        )
        clients.append(
            ClientEntry(
                name=c.name,
                networks=nets,
                vendor=c.vendor or "generic",
                nas=nas,
                radius=radius,
                tacacs=(
                    DeviceConfig(
                        name=c.name,
                        keys=tuple(k.encode() for k in c.tacacs_keys),
                        allow_unencrypted=c.tacacs_unencrypted,
                    )
                    if c.tacacs_keys or c.tacacs_unencrypted
                    else None
                ),
                enable_secret=c.enable_secret.encode() if c.enable_secret else None,
                coa_port=c.coa_port,
                disconnect_port=c.disconnect_port,
                coa_mode=c.coa_mode,
            )
        )
    users = {
        u.name: UserEntry(
            name=u.name,
            password=u.password,
            enabled=u.enabled,
            groups=frozenset(u.groups),
            enable_secret=u.enable_secret.encode() if u.enable_secret else None,
        )
        for u in config.users
    }
    endpoints = {e.mac: endpoint_entry(e) for e in config.endpoints}
    return RuntimeSnapshot(
        version=config.version,
        policy=compile_policy(config.policy),
        policy_version=config.policy_version,
        clients=tuple(clients),
        users=users,
        endpoints=endpoints,
        endpoint_seq=config.endpoint_seq,
    )


class SnapshotStore:
    """Holds the current snapshot and replaces it when the configuration version moves."""

    def __init__(
        self,
        *,
        db: Database,
        box: SecretBox,
        poll_interval: float = 1.0,
        endpoint_interval: float = 0.1,
    ) -> None:
        self._db = db
        self._probe = StateProbe(db)
        self._box = box
        self._poll_interval = poll_interval
        self._endpoint_interval = min(endpoint_interval, poll_interval)
        self.endpoint_updates = 0
        # Told the endpoint sequence the current snapshot holds after every load and poll
        # (nac.main: a shared-memory slot the CoA client reads).
        self.published: Callable[[int], None] | None = None
        self.current: RuntimeSnapshot | None = None
        self.reloads = 0
        self.reload_errors = 0
        self._failed_version: int | None = None

    @property
    def box(self) -> SecretBox:
        """The key the configuration's secrets are encrypted with (the console writes them)."""
        return self._box

    async def load(self) -> RuntimeSnapshot:
        async with self._db.session() as session:
            config = await load_runtime_config(session, box=self._box)
        snapshot = build_snapshot(config)
        self.current = snapshot
        self.reloads += 1
        self._publish()
        log.info(
            "configuration version %d loaded: %d clients, %d users, %d endpoints",
            snapshot.version,
            len(snapshot.clients),
            len(snapshot.users),
            len(snapshot.endpoints),
        )
        return snapshot

    async def reload_if_changed(self, version: int | None = None) -> bool:
        """Load the configuration when its version moved; ``version`` when already read."""
        if version is None:
            async with self._db.session() as session:
                version = await get_config_version(session)
        if self.current is not None and version == self.current.version:
            return False
        if version == self._failed_version:
            return False  # already reported; wait for the next change
        try:
            await self.load()
        except Exception as exc:  # a bad policy in the database must not stop the server
            self.reload_errors += 1
            self._failed_version = version
            log.error("configuration version %d not applied, keeping the old one: %s", version, exc)
            return False
        self._failed_version = None
        return True

    async def apply_endpoint_changes(self) -> int:
        """Patch endpoint state stamped since the current snapshot's sequence; returns how many
        endpoints changed."""
        snapshot = self.current
        if snapshot is None:
            return 0
        count = 0
        while True:
            async with self._db.session() as session:
                seq, changed = await endpoint_changes(session, after=snapshot.endpoint_seq)
            if not changed:
                snapshot.endpoint_seq = max(snapshot.endpoint_seq, seq)
                break
            last = changed[-1].state_seq
            snapshot.apply_endpoints(min(seq, last), changed)
            snapshot.endpoint_seq = last
            count += len(changed)
            if last >= seq:
                break
        self.endpoint_updates += count
        return count

    async def run(self, stop: asyncio.Event) -> None:
        """Every ``endpoint_interval``, read the configuration version and the endpoint state
        sequence (one row, ``StateProbe``); reload the configuration when its version moved
        (at most every ``poll_interval``), fetch endpoint rows only when the sequence moved."""
        loop = asyncio.get_running_loop()
        next_config = loop.time() + self._poll_interval
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._endpoint_interval)
                if stop.is_set():
                    return
                try:
                    await self._poll(loop.time() >= next_config)
                except Exception as exc:
                    log.warning("configuration poll failed: %s", exc)
                if loop.time() >= next_config:
                    next_config = loop.time() + self._poll_interval
                self._publish()
        finally:
            self._probe.close()

    async def _poll(self, config_due: bool) -> None:
        version, seq = await self._probe.read()
        current = self.current
        if config_due and (current is None or version != current.version):
            if await self.reload_if_changed(version):
                return  # a fresh snapshot holds every endpoint as of its read
            current = self.current
        if current is not None and seq > current.endpoint_seq:
            await self.apply_endpoint_changes()

    def _publish(self) -> None:
        if self.published is not None and self.current is not None:
            self.published(self.current.endpoint_seq)
