"""The ``nac`` command line (typer). ``main()`` is the console script entry point.

Every command takes ``--data-dir``, ``--db`` and ``--config`` (and reads ``NAC_*``), so
``NAC_DATA_DIR=d nac audit tail`` reads what ``nac serve --data-dir d`` wrote. Errors are one
line on stderr, ``nac: error: ...``, and exit status 1; a traceback only with
``NAC_LOG_LEVEL=debug`` or ``--log-level debug``.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib
import json
import os
import secrets
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from nac.core.config import Settings, load_settings
from nac.core.errors import NacError, StorageError
from nac.core.logging import setup_logging
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import create_engines, describe_db_error
from nac.db.models import (
    AccountingSession,
    AdminCreate,
    AdminUpdate,
    AuditLog,
    EndpointCreate,
    GroupCreate,
    NasClientCreate,
    UserCreate,
    normalize_mac,
)
from nac.pki import (
    CLIENT_DAYS,
    DEFAULT_CA_NAME,
    InitResult,
    KeyType,
    Pki,
    PkiError,
    configured_pki,
)
from nac.services import changes
from nac.services.audit import AuditRenderer, load_policies
from radius.dictionary import default_dictionary

T = TypeVar("T")

app = typer.Typer(
    name="nac",
    help="Open network access control: RADIUS now, TACACS+ and a web console next.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Internal users (passwords stored encrypted).", no_args_is_help=True)
group_app = typer.Typer(help="User groups.", no_args_is_help=True)
client_app = typer.Typer(help="NAS clients (switches, APs, VPN gateways).", no_args_is_help=True)
endpoint_app = typer.Typer(help="Known endpoints (MAC addresses).", no_args_is_help=True)
policy_app = typer.Typer(help="The access policy document.", no_args_is_help=True)
audit_app = typer.Typer(help="The decision log.", no_args_is_help=True)
admin_app = typer.Typer(
    help="Web console administrators (not network users).", no_args_is_help=True
)
pki_app = typer.Typer(
    help="The built-in certificate authority for 802.1X (EAP-TLS, PEAP, EAP-TTLS).",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(client_app, name="client")
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_app, name="admin")
app.add_typer(pki_app, name="pki")
profile_app = typer.Typer(
    help="Device profiling: rules and what is known of an endpoint.", no_args_is_help=True
)
profile_rules_app = typer.Typer(help="Weighted profiling rules.", no_args_is_help=True)
profile_app.add_typer(profile_rules_app, name="rules")
app.add_typer(profile_app, name="profile")
config_app = typer.Typer(
    help="The whole configuration as one YAML document (configuration as code).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

# --- options every command takes -----------------------------------------------------------

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [env NAC_DATA_DIR; default nac-data]."),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///path, postgresql://...) [env NAC_DB].",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="TOML config file [env NAC_CONFIG].", show_default=False),
]


def _settings(data_dir: Path | None, db: str | None, config: Path | None, **more: Any) -> Settings:
    return load_settings(config_file=config, overrides={"data_dir": data_dir, "db": db, **more})


def _out(line: str = "") -> None:
    typer.echo(line)


def _err(line: str) -> None:
    typer.echo(line, err=True)


def _run_db(
    settings: Settings,
    work: Callable[[AsyncSession, SecretBox | None], Awaitable[T]],
    *,
    need_box: bool = False,
) -> T:
    """Run ``work`` with a session on an initialized database (and the SecretBox if needed)."""
    _require_initialized(settings)
    box = SecretBox.open(settings.data_dir, create=False) if need_box else None

    async def runner() -> T:
        db = create_engines(settings)
        try:
            async with db.session() as session:
                return await work(session, box)
        finally:
            await db.dispose()

    return asyncio.run(runner())


def _require_initialized(settings: Settings) -> None:
    from nac.db.migrate import current_revision, head_revision

    sync_url, _ = settings.database_urls()
    if sync_url.startswith("sqlite:///"):
        path = Path(sync_url.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.exists():
            raise StorageError(f"no database at {path} (run 'nac init' first)")
    revision = current_revision(settings)
    if revision is None:
        raise StorageError(
            f"database {settings.redacted_database_url()} is empty (run 'nac init' first)"
        )
    if revision != head_revision():
        raise StorageError(
            f"database schema is at revision {revision}, this nac needs {head_revision()} "
            "(run 'nac init' to upgrade)"
        )


def _cli() -> str:
    """The admin change log's name for changes made here: ``cli:`` + the OS user."""
    return changes.cli_admin()


def _read_stdin_line(what: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise NacError(f"no {what} on standard input")
    return value


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [headers, *rows]:
        _out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _ts(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- serve, init, check --------------------------------------------------------------------


@app.command()
def serve(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    bind: Annotated[
        str | None, typer.Option(help="Listen address, 0.0.0.0 or :: [default 0.0.0.0].")
    ] = None,
    radius_auth_port: Annotated[int | None, typer.Option(help="[default 1812]")] = None,
    radius_acct_port: Annotated[int | None, typer.Option(help="[default 1813]")] = None,
    tacacs_port: Annotated[int | None, typer.Option(help="[default 49; 0 = none]")] = None,
    tacacs_tls_port: Annotated[
        int | None, typer.Option(help="TACACS+ over TLS (RFC 9887) [default 300; 0 = none]")
    ] = None,
    web_port: Annotated[
        int | None, typer.Option(help="Web console and REST API [default 8080; 0 = none]")
    ] = None,
    web_tls: Annotated[
        bool | None,
        typer.Option(
            "--web-tls",
            help="Serve the console over HTTPS with the EAP server certificate (built-in CA).",
        ),
    ] = None,
    dhcp_port: Annotated[
        int | None,
        typer.Option(
            help="DHCP profiling: relayed DHCP (ip helper-address) [default 67; 0 = none]"
        ),
    ] = None,
    dhcp_bind: Annotated[
        str | None, typer.Option(help="DHCP listen address [default: --bind].")
    ] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo", help="Seed demo data into an empty database.")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug|info|warning|error [default info].")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="text|json [default text].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="RADIUS worker processes sharing the ports (SO_REUSEPORT) [default 1]."),
    ] = None,
) -> None:
    """Run the servers: RADIUS auth and accounting, TACACS+, the web console."""
    settings = _settings(
        data_dir,
        db,
        config,
        bind=bind,
        radius_auth_port=radius_auth_port,
        radius_acct_port=radius_acct_port,
        tacacs_port=tacacs_port,
        tacacs_tls_port=tacacs_tls_port,
        web_port=web_port,
        web_tls=web_tls,
        dhcp_port=dhcp_port,
        dhcp_bind=dhcp_bind,
        demo=demo,
        log_level=log_level,
        log_format=log_format,
        workers=workers,
    )
    setup_logging(settings.log_level, settings.log_format)
    # Imported lazily (and untyped): the other commands must not load the servers.
    run_server: Callable[[Settings], int] = importlib.import_module("nac.main").serve
    raise typer.Exit(run_server(settings))


@app.command()
def init(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo data into an empty database.")
    ] = False,
) -> None:
    """Create the data directory, the key file and the database schema (idempotent)."""
    from nac.db.bootstrap import open_storage
    from nac.db.migrate import current_revision

    settings = _settings(data_dir, db, config)

    async def run() -> tuple[str, ...]:
        storage = await open_storage(settings, migrate=True, demo=demo)
        await storage.db.dispose()
        return storage.notes

    notes = asyncio.run(run())
    _out(f"data directory: {settings.data_dir}")
    _out(f"key file: {settings.data_dir / 'secret.key'}")
    _out(f"database: {settings.redacted_database_url()} (schema {current_revision(settings)})")
    for note in notes:
        _out(note)


@app.command()
def check(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Validate settings, key file, database and policy; show what would listen."""
    settings = _settings(data_dir, db, config)
    errors: list[str] = []
    warnings: list[str] = []
    host = f"[{settings.bind}]" if ":" in settings.bind else settings.bind
    _out(f"config ok: node {settings.node_name}, data dir {settings.data_dir}")
    _out(f"radius auth udp {host}:{settings.radius_auth_port}")
    _out(f"radius acct udp {host}:{settings.radius_acct_port}")
    if settings.tacacs_port:
        _out(f"tacacs+ tcp {host}:{settings.tacacs_port}")
    if settings.tacacs_tls_port:
        _out(f"tacacs+ tls tcp {host}:{settings.tacacs_tls_port}")
    _out(f"web {'https' if settings.web_tls else 'http'} tcp {host}:{settings.web_port}")
    _out(_check_pki(settings, warnings))
    ports = [settings.radius_auth_port, settings.radius_acct_port]
    if len(set(ports)) != len(ports):
        errors.append("radius_auth_port and radius_acct_port are the same")
    if settings.tacacs_port == settings.web_port:
        errors.append("tacacs_port and web_port are the same")

    try:
        _require_initialized(settings)
        box = SecretBox.open(settings.data_dir, create=False)

        async def work(session: AsyncSession, _: SecretBox | None) -> Any:
            runtime = await crud.load_runtime_config(session, box=box)
            clients = await crud.list_clients(session)
            return runtime, clients

        runtime, clients = _run_db(settings, work)
    except NacError as exc:
        errors.append(str(exc))
    else:
        _out(
            f"database ok: {settings.redacted_database_url()}, config version {runtime.version}, "
            f"{len(runtime.clients)} clients, {len(runtime.users)} users, "
            f"{len(runtime.endpoints)} endpoints"
        )
        seen = {c.name: c for c in clients}
        for client in runtime.clients:
            if len(client.secret) < 12:
                warnings.append(
                    f"client {client.name}: shared secret is shorter than 12 characters"
                )
            if client.tacacs_key is not None and len(client.tacacs_key) < 12:
                warnings.append(f"client {client.name}: TACACS+ key is shorter than 12 characters")
            public = seen.get(client.name)
            if (
                public is not None
                and public.last_seen is not None
                and not public.message_authenticator_seen
                and client.require_message_authenticator != "yes"
            ):
                warnings.append(
                    f"client {client.name}: never sent Message-Authenticator and does not "
                    "require it (BlastRADIUS): enable it on the NAS, then set "
                    "--require-message-authenticator yes"
                )
        try:
            from policy.compile import compile_policy

            compile_policy(runtime.policy)
        except ImportError as exc:
            warnings.append(f"policy not checked: policy engine not available ({exc})")
        except ValueError as exc:  # policy.errors.PolicyError
            errors.append(f"policy version {runtime.policy_version}: {exc}")
        else:
            _out(f"policy ok: version {runtime.policy_version}")
    for line in warnings:
        _out(f"warning: {line}")
    for line in errors:
        _err(f"nac: error: {line}")
    if errors:
        raise typer.Exit(1)


# --- users and groups ----------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: str,
    password: Annotated[
        str | None,
        typer.Option(help="Password (visible to other local users via ps; prefer stdin)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group (repeat; created if new).")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create the user disabled.")] = False,
    enable_secret: Annotated[
        str | None, typer.Option(help="TACACS+ enable (privilege 15) secret.")
    ] = None,
    description: str = "",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add an internal user (password from --password, --password-stdin or a prompt)."""
    settings = _settings(data_dir, db, config)
    if password is not None and password_stdin:
        raise NacError("use either --password or --password-stdin, not both")
    if password_stdin:
        password = _read_stdin_line("password")
    elif password is None:
        if not sys.stdin.isatty():
            raise NacError("no password: use --password-stdin, --password, or run interactively")
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise NacError("passwords do not match")
    user = UserCreate(
        name=name,
        password=password,
        groups=group or [],
        enabled=not disabled,
        enable_secret=enable_secret or None,
        description=description,
    )

    async def work(session: AsyncSession, box: SecretBox | None) -> Any:
        assert box is not None
        return await changes.create_user(
            session, admin=_cli(), user=user, box=box, create_groups=True
        )

    created = _run_db(settings, work, need_box=True)
    groups = ", ".join(created.groups) or "no groups"
    _out(f"user {created.name} added ({'enabled' if created.enabled else 'disabled'}; {groups})")


@user_app.command("list")
def user_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List users (never their passwords)."""
    settings = _settings(data_dir, db, config)
    users = _run_db(settings, lambda session, _: crud.list_users(session))
    _table(
        ("NAME", "ENABLED", "GROUPS", "DESCRIPTION"),
        [
            (u.name, "yes" if u.enabled else "no", ",".join(u.groups) or "-", u.description)
            for u in users
        ],
    )


@user_app.command("delete")
def user_delete(
    name: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Delete a user."""
    settings = _settings(data_dir, db, config)
    _run_db(settings, lambda session, _: changes.delete_user(session, admin=_cli(), name=name))
    _out(f"user {name} deleted")


@group_app.command("add")
def group_add(
    name: str,
    description: str = "",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a group."""
    settings = _settings(data_dir, db, config)
    group = GroupCreate(name=name, description=description)
    _run_db(settings, lambda session, _: changes.create_group(session, admin=_cli(), group=group))
    _out(f"group {name} added")


@group_app.command("list")
def group_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List groups."""
    settings = _settings(data_dir, db, config)
    groups = _run_db(settings, lambda session, _: crud.list_groups(session))
    _table(("NAME", "DESCRIPTION"), [(g.name, g.description) for g in groups])


@group_app.command("delete")
def group_delete(
    name: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Delete a group (refused while a user is a member or a policy rule names it)."""
    settings = _settings(data_dir, db, config)
    _run_db(settings, lambda session, _: changes.delete_group(session, admin=_cli(), name=name))
    _out(f"group {name} deleted")


# --- NAS clients ---------------------------------------------------------------------------


@client_app.command("add")
def client_add(
    name: str,
    address: Annotated[
        list[str], typer.Option("--address", "-a", help="IP or CIDR, v4 or v6 (repeat).")
    ],
    secret: Annotated[
        str | None,
        typer.Option(help="RADIUS shared secret (visible via ps; prefer --secret-stdin)."),
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the shared secret from standard input.")
    ] = False,
    tacacs_key: Annotated[str | None, typer.Option(help="TACACS+ key.")] = None,
    tacacs_extra_key: Annotated[
        list[str] | None,
        typer.Option(help="A further accepted TACACS+ key, for rotation (repeat)."),
    ] = None,
    tacacs_unencrypted: Annotated[
        bool,
        typer.Option(help="Allow TACACS+ without obfuscation over plain TCP (labs only)."),
    ] = False,
    enable_secret: Annotated[
        str | None, typer.Option(help="TACACS+ enable secret for users without their own.")
    ] = None,
    vendor: Annotated[str, typer.Option(help="generic|cisco|aruba|juniper|hpe")] = "generic",
    device_group: str = "",
    location: str = "",
    require_message_authenticator: Annotated[
        str, typer.Option(help="auto|yes|no (BlastRADIUS protection).")
    ] = "auto",
    limit_proxy_state: Annotated[str, typer.Option(help="auto|yes|no")] = "auto",
    description: str = "",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a NAS client. Without --secret/--secret-stdin a strong secret is generated and
    printed once."""
    settings = _settings(data_dir, db, config)
    if secret is not None and secret_stdin:
        raise NacError("use either --secret or --secret-stdin, not both")
    generated = secret is None and not secret_stdin
    if secret_stdin:
        secret = _read_stdin_line("secret")
    elif secret is None:
        secret = secrets.token_urlsafe(18)
    client = NasClientCreate(
        name=name,
        addresses=address,
        secret=secret,
        tacacs_key=tacacs_key,
        tacacs_extra_keys=tacacs_extra_key or [],
        tacacs_unencrypted=tacacs_unencrypted,
        enable_secret=enable_secret or None,
        vendor=vendor,
        device_group=device_group,
        location=location,
        require_message_authenticator=require_message_authenticator,
        limit_proxy_state=limit_proxy_state,
        description=description,
    )

    async def work(session: AsyncSession, box: SecretBox | None) -> Any:
        assert box is not None
        return await changes.create_client(session, admin=_cli(), client=client, box=box)

    created = _run_db(settings, work, need_box=True)
    _out(f"client {created.name} added ({', '.join(created.addresses)})")
    if generated:
        _out(f"shared secret (shown once, store it on the NAS): {secret}")
    elif len(secret) < 12:
        _err("warning: shared secrets shorter than 12 characters are easy to brute-force")


@client_app.command("list")
def client_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List NAS clients (never their secrets)."""
    settings = _settings(data_dir, db, config)
    clients = _run_db(settings, lambda session, _: crud.list_clients(session))
    _table(
        ("NAME", "ADDRESSES", "VENDOR", "GROUP", "LOCATION", "MSG-AUTH", "TACACS", "LAST-SEEN"),
        [
            (
                c.name,
                ",".join(c.addresses),
                c.vendor,
                c.device_group or "-",
                c.location or "-",
                c.require_message_authenticator
                + (" (seen)" if c.message_authenticator_seen else ""),
                "yes" if c.has_tacacs_key else "no",
                _ts(c.last_seen),
            )
            for c in clients
        ],
    )


@client_app.command("delete")
def client_delete(
    name: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Delete a NAS client."""
    settings = _settings(data_dir, db, config)
    _run_db(settings, lambda session, _: changes.delete_client(session, admin=_cli(), name=name))
    _out(f"client {name} deleted")


# --- endpoints -----------------------------------------------------------------------------


@endpoint_app.command("add")
def endpoint_add(
    mac: str,
    profile: Annotated[str | None, typer.Option(help="Profile, e.g. printer.")] = None,
    group: Annotated[str | None, typer.Option(help="Endpoint group.")] = None,
    description: str = "",
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a known endpoint by MAC address (any common notation)."""
    settings = _settings(data_dir, db, config)
    endpoint = EndpointCreate(mac=mac, profile=profile, group=group, description=description)
    created = _run_db(
        settings,
        lambda session, _: changes.create_endpoint(session, admin=_cli(), endpoint=endpoint),
    )
    _out(f"endpoint {created.mac} added (profile {created.profile or '-'})")


@endpoint_app.command("list")
def endpoint_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List known endpoints."""
    settings = _settings(data_dir, db, config)
    endpoints = _run_db(settings, lambda session, _: crud.list_endpoints(session))
    _table(
        ("MAC", "PROFILE", "GROUP", "LAST-SEEN", "DESCRIPTION"),
        [
            (e.mac, e.profile or "-", e.group or "-", _ts(e.last_seen), e.description)
            for e in endpoints
        ],
    )


@endpoint_app.command("delete")
def endpoint_delete(
    mac: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Delete a known endpoint."""
    settings = _settings(data_dir, db, config)
    _run_db(settings, lambda session, _: changes.delete_endpoint(session, admin=_cli(), mac=mac))
    _out(f"endpoint {mac} deleted")


# --- policy --------------------------------------------------------------------------------


def _compile(document: Any) -> Any:
    try:
        from policy.compile import compile_policy
    except ImportError as exc:
        raise NacError(f"policy engine not available: {exc}") from None
    return compile_policy(document)


@policy_app.command("show")
def policy_show(
    version: Annotated[
        int | None, typer.Option(help="A stored version [default: current].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the document as JSON.")] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show the current policy in words (or a stored version, or the JSON document)."""
    settings = _settings(data_dir, db, config)
    row = _run_db(settings, lambda session, _: crud.get_policy(session, version=version))
    if row is None:
        raise NacError("no policy stored" if version is None else f"no policy version {version}")
    if as_json:
        _out(json.dumps(row.document, indent=2))
        return
    _out(
        f"policy version {row.version} by {row.author or '-'} at {_ts(row.created_at)}"
        + (f": {row.comment}" if row.comment else "")
    )
    try:
        lines = _compile(row.document).describe()
    except ValueError as exc:  # PolicyError
        raise NacError(f"stored policy version {row.version} does not compile: {exc}") from None
    for line in lines:
        _out(line)
    hits = _run_db(settings, lambda session, _: crud.rule_hits(session))
    if hits:
        _out("hits (decisions in the audit log):")
        for policy_set, stage, rule, n in hits:
            _out(f"  {policy_set}/{stage}/{rule}: {n}")


@policy_app.command("load")
def policy_load(
    file: Annotated[Path, typer.Argument(help="Policy document (JSON).")],
    comment: str = "",
    author: Annotated[str | None, typer.Option(help="[default: your login name]")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Validate a policy document and store it as the new current version."""
    settings = _settings(data_dir, db, config)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NacError(f"cannot read {file}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NacError(f"{file}: not valid JSON: {exc}") from None
    try:
        _compile(document)
    except ValueError as exc:  # policy.errors.PolicyError: "path: message"
        raise NacError(f"{file}: {exc}") from None
    who = author if author is not None else (os.environ.get("USER") or "cli")
    version = _run_db(
        settings,
        lambda session, _: changes.set_policy(
            session, admin=_cli(), author=who, document=document, comment=comment
        ),
    )
    _out(f"policy version {version} stored and active")


@policy_app.command("versions")
def policy_versions(
    data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """List stored policy versions, newest first."""
    settings = _settings(data_dir, db, config)
    rows = _run_db(settings, lambda session, _: crud.list_policy_versions(session))
    _table(
        ("VERSION", "CREATED", "AUTHOR", "COMMENT"),
        [(str(r.version), _ts(r.created_at), r.author or "-", r.comment) for r in rows],
    )


# --- console admins ------------------------------------------------------------------------


@admin_app.command("add")
def admin_add(
    name: str,
    role: Annotated[str, typer.Option(help="admin|operator|auditor.")] = "auditor",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a console admin (password from --password-stdin, else a generated one shown once)."""
    from nac.core.passwords import generate_password

    settings = _settings(data_dir, db, config)
    generated = not password_stdin
    password = generate_password() if generated else _read_stdin_line("password")
    admin = AdminCreate(name=name, role=role, password=password)
    created = _run_db(
        settings, lambda session, _: changes.create_admin(session, admin=_cli(), new=admin)
    )
    _out(f"admin {created.name} added (role {created.role})")
    if generated:
        _out(f"password (shown once): {password}")


@admin_app.command("passwd")
def admin_passwd(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set a console admin's password (from --password-stdin, else a generated one shown once).
    Sessions already open in a running console last until they expire or log out."""
    from nac.core.passwords import generate_password

    settings = _settings(data_dir, db, config)
    generated = not password_stdin
    password = generate_password() if generated else _read_stdin_line("password")
    update = AdminUpdate(password=password)
    _run_db(
        settings,
        lambda session, _: changes.update_admin(session, admin=_cli(), name=name, update=update),
    )
    _out(f"password of admin {name} changed")
    if generated:
        _out(f"password (shown once): {password}")


@admin_app.command("list")
def admin_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List console admins (never their password hashes)."""
    settings = _settings(data_dir, db, config)
    admins = _run_db(settings, lambda session, _: crud.list_admins(session))
    _table(
        ("NAME", "ROLE", "DISABLED", "CREATED", "LAST LOGIN"),
        [
            (a.name, a.role, "yes" if a.disabled else "no", _ts(a.created_at), _ts(a.last_login))
            for a in admins
        ],
    )


# --- audit and sessions --------------------------------------------------------------------


def _audit_line(row: AuditLog) -> str:
    rule = "/".join(
        part for part in (row.policy_set, row.authorization_rule or row.authentication_rule) if part
    )
    return (
        f"{row.ts.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} {row.protocol}"
        f" nas={row.nas_name or row.nas_ip or '-'} user={row.username or '-'}"
        f" mac={row.mac or '-'} method={row.method or '-'} {row.result}"
        f" code={row.reason_code} reason={json.dumps(row.reason)} rule={rule or '-'}"
    )


def _audit_json(renderer: AuditRenderer, row: AuditLog) -> str:
    return json.dumps(renderer.render(row), ensure_ascii=False)


@audit_app.command("tail")
def audit_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many recent decisions.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    user: Annotated[str | None, typer.Option(help="Only this user name.")] = None,
    mac: Annotated[str | None, typer.Option(help="Only this MAC address.")] = None,
    result: Annotated[str | None, typer.Option(help="Only accept|reject|...")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show recent access decisions, one line each (time, protocol, nas, user, mac, method,
    result, reason code, reason, rule)."""
    settings = _settings(data_dir, db, config)
    renderer = AuditRenderer(default_dictionary())
    filters: dict[str, Any] = {"username": user, "mac": mac, "result": result}

    async def show_rows(session: AsyncSession, rows: list[AuditLog]) -> None:
        if as_json:
            await load_policies(renderer, session, rows)
        for row in rows:
            _out(_audit_json(renderer, row) if as_json else _audit_line(row))

    async def work(session: AsyncSession, _: SecretBox | None) -> None:
        rows = await crud.list_audit(session, limit=lines, **filters)
        last = rows[-1].id if rows else None
        await show_rows(session, rows)
        if last is None and follow:
            newest = await crud.list_audit(session, limit=1)
            last = newest[-1].id if newest else 0
        await session.rollback()
        while follow:
            await asyncio.sleep(1.0)
            rows = await crud.list_audit(session, limit=1000, since_id=last, **filters)
            await show_rows(session, rows)
            if rows:
                last = rows[-1].id
            await session.rollback()  # a fresh snapshot next time

    _run_db(settings, work)


@app.command()
def sessions(
    show_all: Annotated[
        bool, typer.Option("--all", help="Stopped sessions too [default: active only].")
    ] = False,
    user: Annotated[str | None, typer.Option(help="Only this user name.")] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Accounting sessions, most recently updated first."""
    settings = _settings(data_dir, db, config)
    rows: list[AccountingSession] = _run_db(
        settings,
        lambda session, _: crud.list_sessions(
            session, status=None if show_all else "active", username=user, limit=lines
        ),
    )
    if as_json:
        for row in rows:
            _out(json.dumps(row.model_dump(mode="json"), ensure_ascii=False))
        return
    _table(
        (
            "STATUS",
            "USER",
            "MAC",
            "NAS",
            "PORT",
            "IP",
            "START",
            "UPDATED",
            "SECS",
            "IN",
            "OUT",
            "CAUSE",
        ),
        [
            (
                r.status,
                r.username or "-",
                r.mac or "-",
                r.nas_name or r.nas_ip or "-",
                r.nas_port_id or ("-" if r.nas_port is None else str(r.nas_port)),
                r.framed_ip or "-",
                _ts(r.start_time),
                _ts(r.last_update),
                str(r.session_time),
                str(r.input_octets),
                str(r.output_octets),
                r.terminate_cause or "-",
            )
            for r in rows
        ],
    )


# --- the built-in CA (802.1X certificates) -------------------------------------------------
#
# `nac pki` manages the CA in <data_dir>/pki, the one `nac serve` creates on first start. With
# eap_ca_cert/eap_server_cert/eap_server_key set (your own PKI) only `export-ca` and `nac check`
# apply: they use the configured files. `issue` creates the CA first when there is none, and
# says so: a fresh install can go straight to its first client certificate.

_DNS_FORBIDDEN = frozenset("/\\@")


def _builtin_pki(settings: Settings) -> Pki:
    if settings.eap_server_cert is not None:
        raise NacError(
            "eap_server_cert is set: the EAP certificates come from your own PKI, so issue and "
            "revoke there ('nac pki' manages only the built-in CA)"
        )
    return Pki.for_data_dir(settings.data_dir)


def _require_ca(pki: Pki) -> None:
    if not pki.paths.ca_cert.exists():
        raise PkiError(f"no CA in {pki.directory} (run 'nac pki init')")


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return san.get_values_for_type(x509.DNSName)


def _server_names(settings: Settings, given: Sequence[str]) -> list[str]:
    """`given`, else the node name (as `nac serve` does), checked before the CA is made."""
    if given:
        return list(given)
    name = settings.node_name
    if not name.isascii() or any(c.isspace() or c in _DNS_FORBIDDEN for c in name):
        raise NacError(
            f"node name {name!r} is not a DNS name: give the server's name with --server-name"
        )
    return [name]


def _pki_init(
    pki: Pki,
    settings: Settings,
    *,
    common_name: str | None = None,
    server_names: Sequence[str] = (),
    key_type: KeyType = KeyType.EC_P256,
) -> InitResult:
    """`Pki.init` and what it did, for `pki init` and the implicit init of `pki issue`."""
    names = _server_names(settings, server_names)
    result = pki.init(
        common_name=common_name or DEFAULT_CA_NAME, server_names=names, key_type=key_type
    )
    ca, server = result.ca_certificate, result.server_certificate
    _out(
        f"CA {'created' if result.created_ca else 'already existed'}: "
        f"{ca.subject.rfc4514_string()}, expires {_ts(ca.not_valid_after_utc)}"
    )
    _out(f"  SHA-256 fingerprint {_fingerprint(ca)}")
    _out(
        f"server certificate {'created' if result.created_server else 'already existed'}: "
        f"DNS {', '.join(_dns_names(server)) or '-'}, serial 0x{server.serial_number:x}, "
        f"expires {_ts(server.not_valid_after_utc)}"
    )
    if not result.created_ca and (common_name is not None or key_type is not KeyType.EC_P256):
        _out("note: the CA already existed; --cn and --rsa only apply to a new CA")
    if not result.created_server and server_names and set(names) != set(_dns_names(server)):
        _out(
            "note: the server certificate already existed, --server-name was not applied "
            f"(to reissue: remove {pki.paths.server_cert} and {pki.paths.server_key}, run "
            "'nac pki init' again, restart nac serve)"
        )
    _out(f"EAP certificates in {pki.directory}; give supplicants the CA: nac pki export-ca")
    return result


def _p12_password(name: str, password: str | None, from_stdin: bool) -> bytes:
    if password is not None and from_stdin:
        raise NacError("use either --p12-password or --p12-password-stdin, not both")
    if from_stdin:
        password = _read_stdin_line("PKCS#12 password")
    elif password is None:
        if not sys.stdin.isatty():
            raise NacError(
                "no PKCS#12 password: use --p12-password-stdin, --p12-password, "
                "or run interactively"
            )
        password = getpass.getpass(f"PKCS#12 password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise NacError("passwords do not match")
    if not password:
        raise NacError("the PKCS#12 password must not be empty")
    return password.encode("utf-8")


def _check_pki(settings: Settings, warnings: list[str]) -> str:
    """For `nac check`: the line saying where the EAP certificates are; adds PKI warnings."""
    pki = configured_pki(settings)
    paths = pki.paths
    own = settings.eap_server_cert is not None
    if not own and not any(
        p.exists() for p in (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key)
    ):
        return (
            f"eap certificates: none yet in {pki.directory} "
            "('nac pki init' or the first 'nac serve' creates them)"
        )
    warnings.extend(f"eap: {w.removeprefix('PKI: ')}" for w in pki.check())
    where = f"CA {paths.ca_cert}, server {paths.server_cert}"
    try:
        server = pki.server_chain()[0]
    except PkiError:
        detail = ""
    else:
        detail = (
            f" (DNS {', '.join(_dns_names(server)) or '-'}, "
            f"expires {_ts(server.not_valid_after_utc)})"
        )
    return f"eap certificates{' (your own)' if own else ''}: {where}{detail}"


@pki_app.command("init")
def pki_init(
    cn: Annotated[
        str | None,
        typer.Option("--cn", help=f"The CA's common name [default: {DEFAULT_CA_NAME}]."),
    ] = None,
    server_name: Annotated[
        list[str] | None,
        typer.Option(
            "--server-name",
            help="DNS name for the EAP server certificate (repeat) [default: the node name].",
        ),
    ] = None,
    rsa: Annotated[
        bool,
        typer.Option(
            "--rsa", help="RSA-2048 keys instead of EC P-256, for supplicants that only do RSA."
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create the CA and the EAP server certificate, each only if absent (idempotent)."""
    settings = _settings(data_dir, db, config)
    pki = _builtin_pki(settings)
    _pki_init(
        pki,
        settings,
        common_name=cn,
        server_names=server_name or (),
        key_type=KeyType.RSA_2048 if rsa else KeyType.EC_P256,
    )


@pki_app.command("issue")
def pki_issue(
    name: Annotated[str, typer.Argument(help="Subject CN, and the base name of the files.")],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for NAME.crt, NAME.key and NAME.p12.")
    ],
    p12_password: Annotated[
        str | None,
        typer.Option(
            "--p12-password",
            help="PKCS#12 password (visible to other local users via ps; prefer stdin).",
        ),
    ] = None,
    p12_password_stdin: Annotated[
        bool,
        typer.Option("--p12-password-stdin", help="Read the PKCS#12 password from standard input."),
    ] = False,
    email: Annotated[str | None, typer.Option(help="E-mail address (subjectAltName).")] = None,
    upn: Annotated[
        str | None, typer.Option(help="Windows User Principal Name (subjectAltName otherName).")
    ] = None,
    days: Annotated[int, typer.Option(help="Validity in days.")] = CLIENT_DAYS,
    legacy_p12: Annotated[
        bool,
        typer.Option(
            "--legacy-p12",
            help="3DES/SHA-1 PKCS#12 for old importers (Windows before 10 1709, old Android).",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing files in --out.")
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Issue a client certificate for EAP-TLS: NAME.crt, NAME.key and NAME.p12.

    The PKCS#12 password comes from --p12-password-stdin, --p12-password or a prompt.
    Creates the CA first (as 'nac pki init' does) if there is none, and says so.
    """
    settings = _settings(data_dir, db, config)
    pki = _builtin_pki(settings)
    name = _certificate_name(name)
    password = _p12_password(name, p12_password, p12_password_stdin)
    if not pki.paths.ca_cert.exists():
        _out(f"no CA in {pki.directory} yet: creating it")
        _pki_init(pki, settings)
    issued = pki.issue(
        name,
        out_dir=out,
        p12_password=password,
        email=email,
        upn=upn,
        days=days,
        legacy_p12=legacy_p12,
        overwrite=overwrite,
    )
    entry = issued.entry
    _out(f"issued {entry.name}: serial 0x{entry.serial_hex}, expires {_ts(entry.not_after)}")
    _out(f"certificate: {issued.cert_path}")
    _out(f"private key: {issued.key_path} (mode 0600, not encrypted)")
    _out(f"PKCS#12: {issued.p12_path} (key, certificate and CA; protected by the password)")


def _certificate_name(name: str) -> str:
    """An endpoint's MAC given with colons (``00:11:22:33:44:55``, not a usable file name)
    becomes ``00-11-22-33-44-55``: the CN that nac-agent's posture reports are known by."""
    if ":" in name:
        try:
            return normalize_mac(name).replace(":", "-")
        except ValueError:
            pass
    return name


@pki_app.command("revoke")
def pki_revoke(
    name_or_serial: Annotated[
        str,
        typer.Argument(
            metavar="NAME_OR_SERIAL",
            help="A name (its active certificate) or a serial as 'nac pki list' shows it (0x...).",
        ),
    ],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Revoke a certificate and re-sign the CRL (nac serve re-reads it: no restart needed)."""
    settings = _settings(data_dir, db, config)
    pki = _builtin_pki(settings)
    _require_ca(pki)
    revoked_before = {e.serial for e in pki.entries() if e.revoked_at is not None}
    entry = pki.revoke(_certificate_name(name_or_serial))
    what = f"{entry.kind} certificate {entry.name} (serial 0x{entry.serial_hex})"
    if entry.serial in revoked_before:
        _out(f"{what} was already revoked on {_ts(entry.revoked_at)}")
    else:
        _out(f"revoked {what}")
    _out(f"CRL {pki.paths.crl} updated; takes effect without a restart")


@pki_app.command("export-ca")
def pki_export_ca(
    der: Annotated[
        bool, typer.Option("--der", help="DER (binary) instead of PEM; a single CA only.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file [default: standard output].")
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The CA certificate to install on supplicants, alone on standard output (or --out)."""
    settings = _settings(data_dir, db, config)
    pki = configured_pki(settings)
    data = pki.export_ca(serialization.Encoding.DER if der else serialization.Encoding.PEM)
    if out is None:
        if der and sys.stdout.isatty():
            raise NacError("DER is binary: give --out FILE or redirect standard output")
        typer.echo(data, nl=False)
        return
    out.write_bytes(data)
    _out(f"CA certificate written to {out} ({'DER' if der else 'PEM'})")


@pki_app.command("list")
def pki_list(data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """List the certificates issued by the built-in CA, oldest first."""
    settings = _settings(data_dir, db, config)
    pki = _builtin_pki(settings)
    _require_ca(pki)
    _table(
        ("NAME", "KIND", "SERIAL", "NOT-AFTER", "REVOKED"),
        [
            (
                e.name,
                e.kind,
                f"0x{e.serial_hex}",
                _ts(e.not_after),
                "no" if e.revoked_at is None else f"yes {_ts(e.revoked_at)}",
            )
            for e in pki.entries()
        ],
    )


# --- bulk import and configuration as code ------------------------------------------------
#
# nac.services.bulk_import (CSV) and nac.services.config_io (YAML) do the work; these print.


def _read_input(file: Path) -> bytes:
    """The file's bytes ("-": standard input)."""
    try:
        return sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise NacError(f"cannot read {file}: {exc.strerror or exc}") from None


def _csv_import(settings: Settings, kind: str, file: Path, update: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from nac.services import bulk_import

    data = _read_input(file)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=(console := _stderr_console()),
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(
                "validating" if phase == "validate" else "writing", total=total
            )
        bar.update(tasks[phase], completed=done)

    async def work(session: AsyncSession, box: SecretBox | None) -> Any:
        if kind == "users":
            assert box is not None
            return await bulk_import.import_users(
                session,
                data,
                box=box,
                admin=_cli(),
                source=file.name,
                update=update,
                progress=progress,
            )
        return await bulk_import.import_endpoints(
            session, data, admin=_cli(), source=file.name, update=update, progress=progress
        )

    try:
        with bar:
            result = _run_db(settings, work, need_box=kind == "users")
    except bulk_import.ImportRejected as exc:
        for error in exc.errors:
            _err(f"{file}: {error}")
        raise NacError(f"nothing imported: {len(exc.errors)} problem(s) in {file}") from None
    _out(
        f"{result.rows} {kind} imported from {file}: {result.created} created, "
        f"{result.updated} updated (configuration version {result.config_version})"
    )
    if result.groups_created:
        _out(f"groups created: {', '.join(result.groups_created)}")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


UpdateOpt = Annotated[
    bool,
    typer.Option("--update", help="Change existing ones (the file's columns) instead of refusing."),
]


@user_app.command("import")
def user_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: name,password,groups,enabled,description,enable_secret")
    ],
    update: UpdateOpt = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import users from CSV (header line first; groups ;-separated, created if new). Every bad
    row is reported with its line; nothing is imported unless all rows are good."""
    _csv_import(_settings(data_dir, db, config), "users", file, update)


@endpoint_app.command("import")
def endpoint_import(
    file: Annotated[Path, typer.Argument(help="CSV: mac,profile,group,description,blocked")],
    update: UpdateOpt = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import (register) endpoints from CSV; all rows or none."""
    _csv_import(_settings(data_dir, db, config), "endpoints", file, update)


@config_app.command("export")
def config_export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file [default: stdout].")
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Clients, groups, users, endpoints and the policy as one YAML document (no secrets)."""
    from nac.services.config_io import dump_yaml, export_config

    settings = _settings(data_dir, db, config)
    text = dump_yaml(_run_db(settings, lambda session, _: export_config(session)))
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    _out(f"configuration written to {out}")


@config_app.command("import")
def config_import(
    file: Annotated[Path, typer.Argument(help="A document from 'nac config export' ('-': stdin).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff and the counts; change nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete objects missing from a section of the file [default: keep them].",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Apply a configuration document in one transaction (validated first). Secrets shown as
    <not exported> are kept; new clients and users get generated ones, printed once."""
    from nac.services.config_io import ConfigImportError, import_config

    settings = _settings(data_dir, db, config)
    data = _read_input(file)

    async def work(session: AsyncSession, box: SecretBox | None) -> Any:
        assert box is not None
        return await import_config(
            session, data, box=box, admin=_cli(), dry_run=dry_run, prune=prune, source=file.name
        )

    try:
        plan = _run_db(settings, work, need_box=True)
    except ConfigImportError as exc:
        for path, message in exc.errors:
            _err(f"{file}: {path}: {message}" if path else f"{file}: {message}")
        raise NacError(f"nothing imported: {len(exc.errors)} problem(s) in {file}") from None
    if dry_run:
        for line in plan.diff:
            _out(line)
        _out(f"dry run, nothing changed: {plan.summary()}")
        return
    for line in plan.changes:
        _out(line)
    _out(f"imported{' (pruned)' if prune else ''}: {plan.summary()}")
    _out(f"configuration version {plan.config_version}")
    for secret in plan.generated:
        _out(
            f"generated {secret.field} for {secret.kind} {secret.name} (shown once): {secret.value}"
        )


# --- profiling -----------------------------------------------------------------------------


@profile_rules_app.command("list")
def profile_rules_list(
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the profiling rules (built-in and yours)."""
    from nac.db.profiles import list_profile_rules

    settings = _settings(data_dir, db, config)
    rows = _run_db(settings, lambda session, _: list_profile_rules(session))
    if as_json:
        for r in rows:
            _out(json.dumps(r.model_dump(exclude={"id"}), sort_keys=True))
        return
    _table(
        ("NAME", "PROFILE", "SIGNAL", "MATCH", "PATTERN", "WEIGHT", "ENABLED", "BUILTIN"),
        [
            (
                r.name,
                r.profile,
                r.signal,
                r.match,
                r.pattern,
                str(r.weight),
                "yes" if r.enabled else "no",
                "yes" if r.builtin else "no",
            )
            for r in rows
        ],
    )


@profile_rules_app.command("add")
def profile_rules_add(
    name: str,
    profile: Annotated[str, typer.Option(help="The profile it points at, e.g. printer.")],
    signal: Annotated[str, typer.Option(help="dhcp.params, dhcp.vendor_class, hostname, ...")],
    pattern: Annotated[str, typer.Option(help="What the signal is matched against.")],
    match: Annotated[str, typer.Option(help="equals|prefix|contains|regex")] = "equals",
    weight: Annotated[int, typer.Option(help="1-100: how much a match counts.")] = 50,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a profiling rule (running servers use it within seconds)."""
    from nac.db.profiles import add_profile_rule
    from posture.profiling import RuleError

    settings = _settings(data_dir, db, config)
    try:
        row = _run_db(
            settings,
            lambda session, _: add_profile_rule(
                session,
                name=name,
                signal=signal,
                match=match,
                pattern=pattern,
                profile=profile,
                weight=weight,
            ),
        )
    except RuleError as exc:
        raise NacError(str(exc)) from None
    _out(
        f"profile rule {row.name} added ({row.signal} {row.match} {row.pattern!r} -> "
        f"{row.profile}, weight {row.weight})"
    )


@profile_rules_app.command("delete")
def profile_rules_delete(
    name: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Delete a profiling rule; a built-in one is disabled instead."""
    from nac.db.profiles import delete_profile_rule

    settings = _settings(data_dir, db, config)
    row = _run_db(settings, lambda session, _: delete_profile_rule(session, name=name))
    if row.builtin:
        _out(f"profile rule {name} is built in: disabled")
    else:
        _out(f"profile rule {name} deleted")


@profile_app.command("show")
def profile_show(
    mac: str,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object.")] = False,
) -> None:
    """What profiling knows of an endpoint: profile, confidence, signals, recent events."""
    settings = _settings(data_dir, db, config)

    async def work(session: AsyncSession, _: SecretBox | None) -> Any:
        row = await crud.get_endpoint(session, mac=mac)
        events = [
            e
            for e in await crud.list_endpoint_events(session, mac=row.mac, limit=50)
            if e.kind in ("profile_change", "possible_spoofing")
        ]
        return row, events

    row, events = _run_db(settings, work)
    info = {
        "mac": row.mac,
        "profile": row.profile,
        "profile_confidence": row.profile_confidence,
        "profile_source": row.profile_source,
        "vendor": row.vendor,
        "randomized": row.randomized,
        "hostname": row.hostname,
        "dhcp_fingerprint": row.dhcp_fingerprint,
        "dhcp_vendor_class": row.dhcp_vendor_class,
        "last_user": row.last_user,
        "registered": row.registered,
        "first_seen": _ts(row.first_seen),
        "last_seen": _ts(row.last_seen),
        "signals": row.signals or {},
        "events": [{"ts": _ts(e.ts), "kind": e.kind, "detail": e.detail} for e in events],
    }
    if as_json:
        _out(json.dumps(info, sort_keys=True))
        return
    for key in (
        "mac",
        "profile",
        "profile_confidence",
        "profile_source",
        "vendor",
        "randomized",
        "hostname",
        "dhcp_fingerprint",
        "dhcp_vendor_class",
        "last_user",
        "registered",
        "first_seen",
        "last_seen",
    ):
        value = info[key]
        _out(f"{key + ':':20} {'-' if value is None else value}")
    _out("signals:")
    for name, entry in sorted(info["signals"].items()):
        if isinstance(entry, dict):
            _out(f"  {name:26} {entry.get('value')!s}  (seen {entry.get('count', 0)}x)")
    _out("events:")
    for event in info["events"]:
        _out(f"  {event['ts']}  {event['kind']:18} {json.dumps(event['detail'], sort_keys=True)}")


@app.command()
def capture(
    interface: Annotated[str, typer.Option("--interface", "-i", help="The SPAN/mirror port.")],
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    count: Annotated[int, typer.Option(help="Stop after this many DHCP packets (0: run).")] = 0,
) -> None:
    """Profile from DHCP seen on a SPAN interface (needs the optional extra nac[capture],
    scapy, and root)."""
    settings = _settings(data_dir, db, config)
    _require_initialized(settings)
    try:
        run_capture: Callable[..., int] = importlib.import_module("nac.capture").run_capture
    except ImportError as exc:
        raise NacError(
            f"capture needs the optional extra: pip install 'nac[capture]' ({exc})"
        ) from None
    raise typer.Exit(run_capture(settings, interface=interface, count=count))


# --- entry point ---------------------------------------------------------------------------


def _debug_requested(argv: Sequence[str]) -> bool:
    if os.environ.get("NAC_LOG_LEVEL", "").lower() == "debug":
        return True
    args = list(argv)
    return any(
        a == "--log-level=debug" or (a == "--log-level" and args[i + 1 : i + 2] == ["debug"])
        for i, a in enumerate(args)
    )


def _validation_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


# --- posture -------------------------------------------------------------------------------

posture_app = typer.Typer(
    help="Posture: enrollment tokens for nac-agent, and an endpoint's posture history.",
    no_args_is_help=True,
)
app.add_typer(posture_app, name="posture")


@posture_app.command("enroll")
def posture_enroll(
    mac: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """A posture enrollment token for MAC (printed once; only its SHA-256 is stored). Give it
    to the endpoint's nac-agent: nac-agent report --server URL --token TOKEN --mac MAC."""
    from nac.services import posture_service

    settings = _settings(data_dir, db, config)
    row, token = _run_db(
        settings,
        lambda session, _: posture_service.enroll(session, mac=mac, admin=_cli()),
    )
    _out(f"posture token {row.id} for {row.mac} (shown only now):")
    _out(token)


@posture_app.command("revoke")
def posture_revoke(
    mac: str, data_dir: DataDirOpt = None, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Revoke every posture token of MAC: its agent's reports are refused from now on."""
    from nac.services import posture_service

    settings = _settings(data_dir, db, config)
    count = _run_db(
        settings,
        lambda session, _: posture_service.revoke_tokens(session, mac=mac, admin=_cli()),
    )
    _out(f"{count} posture token(s) of {mac} revoked")


@posture_app.command("tokens")
def posture_tokens(
    mac: Annotated[str | None, typer.Argument(help="Only this MAC.")] = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List posture enrollment tokens (never the token itself)."""
    from nac.services import posture_service

    settings = _settings(data_dir, db, config)
    rows = _run_db(settings, lambda session, _: posture_service.list_tokens(session, mac=mac))
    _table(
        ("ID", "MAC", "CREATED", "LAST-USED", "REVOKED"),
        [
            (str(r.id), r.mac, _ts(r.created_at), _ts(r.last_used), "yes" if r.revoked else "no")
            for r in rows
        ],
    )


@posture_app.command("show")
def posture_show(
    mac: str,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many reports.")] = 10,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """An endpoint's posture and its latest reports, with the failed checks in words."""
    from nac.services import posture_service

    settings = _settings(data_dir, db, config)

    async def work(session: AsyncSession, _: SecretBox | None) -> tuple[Any, list[Any]]:
        endpoint = await crud.get_endpoint(session, mac=mac)
        rows = await posture_service.history(session, mac=mac, limit=lines)
        return endpoint, [posture_service.report_public(r) for r in rows]

    endpoint, reports = _run_db(settings, work)
    _out(
        f"{endpoint.mac}: {endpoint.posture_state}, score {endpoint.posture_score}"
        f" (at {_ts(endpoint.posture_at)})"
    )
    for r in reports:
        _out(f"{r['ts']}  {r['state']}  score {r['score']}  (by {r['source']})")
        for f in r["failed_checks"]:
            _out(f"  failed {f['id']}: {f['words']}")
        for u in r["unknown_checks"]:
            _out(f"  unknown {u['id']}: {u['words']}")


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry: run the CLI; errors become one line on stderr and exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="nac", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _err("nac: aborted")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _is_usage_error(exc):  # typer's (vendored click) usage errors: usage + message, exit 2
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if _debug_requested(args):
            traceback.print_exc()
        _err(f"nac: error: {_error_line(exc)}")
        return 1
    return 0


def _is_usage_error(exc: Exception) -> bool:
    # typer >= 0.20 vendors click (typer._click); match its ClickException by shape.
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(
        exc, "show"
    )


def _error_line(exc: Exception) -> str:
    if isinstance(exc, NacError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return _validation_line(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"database: {describe_db_error(exc)}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
