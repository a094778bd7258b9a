"""Settings: one explicit object built once and passed down (no module-level settings).

Sources, highest priority first: explicit values (CLI flags) > environment ``NAC_<NAME>`` >
TOML config file (``--config PATH`` or ``NAC_CONFIG``; keys are the field names) > defaults.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from nac.core.errors import ConfigError

ENV_PREFIX = "NAC_"
CONFIG_ENV = "NAC_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _default_node_name() -> str:
    return socket.gethostname() or "nac"


EAP_METHOD_NAMES = ("peap", "ttls", "tls", "md5")


class Settings(BaseSettings):
    """Runtime settings. Build with `load_settings`; fields are immutable."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Path("nac-data")
    db: str | None = None
    bind: str = "0.0.0.0"  # noqa: S104 - a server listens on all addresses by default
    radius_auth_port: int = 1812
    radius_acct_port: int = 1813
    tacacs_port: int = 49  # 0: no TACACS+ listener
    tacacs_tls_port: int = 300  # TACACS+ over TLS 1.3 (RFC 9887); 0: none
    tacacs_idle_timeout: float = 600.0  # seconds without a packet before a connection closes
    tacacs_max_connections: int = 8192
    tacacs_max_per_device: int = 4096
    web_port: int = 8080  # the web console and REST API; 0: none
    # HTTPS for the console with the EAP server certificate (the built-in CA's, or yours).
    web_tls: bool = False
    # DHCP profiling: relayed client messages (ip helper-address) on udp dhcp_port; 0: none.
    # dhcp_bind defaults to bind; broadcasts (a SPAN-less lab) need 0.0.0.0.
    dhcp_port: int = 67
    dhcp_bind: str | None = None
    demo: bool = False
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    node_name: str = Field(default_factory=_default_node_name)
    dup_cache_seconds: float = 10.0
    workers: int = 1
    # 802.1X. Certificates default to the built-in CA in <data_dir>/pki (made on first start);
    # give all three paths to bring your own PKI.
    eap_methods: str = "peap,ttls,tls,md5"  # preference order; a Legacy-Nak may pick another
    eap_tls_min_version: Literal["1.2", "1.3"] = "1.2"
    eap_tls_max_version: Literal["1.2", "1.3"] = "1.3"
    eap_fragment_size: int = 1024
    eap_ca_cert: Path | None = None
    eap_server_cert: Path | None = None
    eap_server_key: Path | None = None
    # RFC 5176 dynamic authorization (CoA / Disconnect) towards the NASes: the first wait for
    # an answer (doubled at each retransmission), how many transmissions in all, and how long
    # to let the workers see a state change before the NAS is asked to re-authenticate.
    coa_timeout: float = 1.0
    coa_tries: int = 3
    coa_settle_seconds: float = 0.25

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges env and the config file itself (it knows which source gave which
        # value, for error messages); the model only validates what it is given.
        return (init_settings,)

    @field_validator("radius_auth_port", "radius_acct_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("must be 1-65535")
        return value

    @field_validator("tacacs_port", "tacacs_tls_port", "web_port", "dhcp_port")
    @classmethod
    def _optional_port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be 1-65535, or 0 for none")
        return value

    @field_validator("tacacs_idle_timeout")
    @classmethod
    def _tacacs_idle(cls, value: float) -> float:
        if not 5 <= value <= 86400:
            raise ValueError("must be 5-86400 seconds")
        return value

    @field_validator("tacacs_max_connections", "tacacs_max_per_device")
    @classmethod
    def _connections(cls, value: int) -> int:
        if not 1 <= value <= 1_000_000:
            raise ValueError("must be 1-1000000")
        return value

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(
                f"must be an IP address such as 0.0.0.0 or :: (got {value!r})"
            ) from None

    @field_validator("dhcp_bind")
    @classmethod
    def _dhcp_bind(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return cls._bind(value)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got {value!r})")
        return level

    @field_validator("node_name")
    @classmethod
    def _node_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("coa_timeout")
    @classmethod
    def _coa_timeout(cls, value: float) -> float:
        if not 0.1 <= value <= 30:
            raise ValueError("must be 0.1-30 seconds")
        return value

    @field_validator("coa_tries")
    @classmethod
    def _coa_tries(cls, value: int) -> int:
        if not 1 <= value <= 10:
            raise ValueError("must be 1-10")
        return value

    @field_validator("coa_settle_seconds")
    @classmethod
    def _coa_settle(cls, value: float) -> float:
        if not 0 <= value <= 10:
            raise ValueError("must be 0-10 seconds")
        return value

    @field_validator("dup_cache_seconds")
    @classmethod
    def _dup_cache(cls, value: float) -> float:
        if not 5 <= value <= 30:
            raise ValueError("must be 5-30 seconds (RFC 5080 2.2.2)")
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if not 1 <= value <= 64:
            raise ValueError("must be 1-64")
        return value

    @field_validator("eap_methods")
    @classmethod
    def _eap_methods(cls, value: str) -> str:
        names = [m.strip().lower() for m in value.split(",") if m.strip()]
        unknown = [m for m in names if m not in EAP_METHOD_NAMES]
        if not names or unknown:
            raise ValueError(
                f"must be a comma-separated list of {', '.join(EAP_METHOD_NAMES)} (got {value!r})"
            )
        if len(set(names)) != len(names):
            raise ValueError("lists a method twice")
        return ",".join(names)

    @field_validator("eap_fragment_size")
    @classmethod
    def _eap_fragment_size(cls, value: int) -> int:
        if not 256 <= value <= 4000:
            raise ValueError("must be 256-4000 octets")
        return value

    @model_validator(mode="after")
    def _eap_consistent(self) -> Settings:
        if self.eap_tls_min_version > self.eap_tls_max_version:
            raise ValueError("eap_tls_min_version is above eap_tls_max_version")
        given = [self.eap_ca_cert, self.eap_server_cert, self.eap_server_key]
        if any(p is not None for p in given) and any(p is None for p in given):
            raise ValueError("eap_ca_cert, eap_server_cert and eap_server_key go together")
        return self

    @field_validator("db")
    @classmethod
    def _db(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _database_urls(value.strip())  # raises ValueError with a clear message
        return value.strip()

    def database_url(self) -> str:
        """The configured SQLAlchemy URL (default: SQLite file ``<data_dir>/nac.db``)."""
        return self.db if self.db is not None else f"sqlite:///{self.data_dir / 'nac.db'}"

    def database_urls(self) -> tuple[str, str]:
        """``(sync_url, async_url)``: sqlite3 + aiosqlite, or psycopg 3 for both on PostgreSQL."""
        return _database_urls(self.database_url())

    def redacted_database_url(self) -> str:
        """The database URL with any password replaced by ``***`` (for logs and messages)."""
        return redact_url(self.database_url())

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "db" and value is not None:
                yield name, redact_url(value)
            else:
                yield name, value


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database url>"


def _database_urls(url: str) -> tuple[str, str]:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("is not a database URL (try sqlite:///path or postgresql://...)") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        return _render(parsed.set(drivername="sqlite")), _render(
            parsed.set(drivername="sqlite+aiosqlite")
        )
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        pg = _render(parsed.set(drivername="postgresql+psycopg"))
        return pg, pg
    raise ValueError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///path or postgresql://..."
    )


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def load_settings(*, config_file: Path | None, overrides: Mapping[str, Any]) -> Settings:
    """Build `Settings` from overrides > env ``NAC_*`` > TOML config file > defaults.

    ``config_file`` None means ``$NAC_CONFIG`` if set, else no file. Values of None in
    ``overrides`` are ignored (an unset CLI flag). Raises `ConfigError` with one line.
    """
    fields = Settings.model_fields
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    origin: dict[str, str] = {}
    values: dict[str, Any] = {}

    if config_file is None and os.environ.get(CONFIG_ENV):
        config_file = Path(os.environ[CONFIG_ENV])
    if config_file is not None:
        for key, value in _read_config_file(config_file).items():
            values[key] = value
            origin[key] = f"config file {config_file}"

    env_values = EnvSettingsSource(Settings, env_prefix=ENV_PREFIX, case_sensitive=False)()
    for key, value in env_values.items():
        values[key] = value
        origin[key] = f"environment {ENV_PREFIX}{key.upper()}"

    for key, value in overrides.items():
        if value is not None:
            values[key] = value
            origin[key] = "command line"

    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        where = origin.get(str(error["loc"][0])) if error["loc"] else None
        suffix = f" (from {where})" if where else ""
        raise ConfigError(f"{field}: {message}{suffix}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data
