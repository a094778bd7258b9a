"""What running servers hold in memory: plain frozen dataclasses, secrets decrypted.

Produced by `nac.db.crud.load_runtime_config` in one transaction; never written back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RuntimeClient:
    name: str
    addresses: tuple[str, ...]  # CIDR strings, IPv4 and IPv6, normalized
    secret: str = field(repr=False)
    tacacs_key: str | None = field(repr=False)
    vendor: str  # generic | cisco | aruba | juniper | hpe
    device_group: str
    location: str
    require_message_authenticator: str  # auto | yes | no
    limit_proxy_state: str  # auto | yes | no
    tacacs_extra_keys: tuple[str, ...] = field(default=(), repr=False)
    tacacs_unencrypted: bool = False
    enable_secret: str | None = field(default=None, repr=False)
    # RFC 5176 dynamic authorization towards this NAS (NasClient.coa_port, ...).
    coa_port: int = 3799
    disconnect_port: int = 3799
    coa_mode: str = "auto"  # auto | coa | disconnect | off

    @property
    def tacacs_keys(self) -> tuple[str, ...]:
        """Every accepted TACACS+ key, the current one first."""
        first = (self.tacacs_key,) if self.tacacs_key else ()
        return first + tuple(k for k in self.tacacs_extra_keys if k != self.tacacs_key)


@dataclass(frozen=True, slots=True)
class RuntimeUser:
    name: str
    password: str = field(repr=False)
    enabled: bool
    groups: tuple[str, ...]  # sorted group names
    enable_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RuntimeEndpoint:
    mac: str  # aa:bb:cc:dd:ee:ff
    profile: str | None
    group: str | None
    registered: bool = True
    blocked: bool = False
    posture_state: str = "unknown"
    posture_score: int = 0
    posture_failed: tuple[str, ...] = ()
    posture_at: datetime | None = None
    first_seen: datetime | None = None
    vendor: str | None = None
    randomized: bool = False
    state_seq: int = 0


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    version: int  # config_state.version when read
    policy: dict[str, Any]  # the current policy document (treat as read-only)
    policy_version: int  # 0 when no policy is stored (then `policy` is the reject-all default)
    clients: tuple[RuntimeClient, ...]
    users: tuple[RuntimeUser, ...]
    endpoints: tuple[RuntimeEndpoint, ...]
    endpoint_seq: int = 0  # config_state.endpoint_seq when read
