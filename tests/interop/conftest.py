"""Fixtures that run a real `nac serve` and drive it with real RADIUS peers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NAC = str(Path(sys.executable).with_name("nac"))
SECRET = "testing123"


def require_tool(name: str) -> str:
    """A real peer must be present; in CI its absence is a failure, not a skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package freeradius-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NacServer:
    data_dir: Path
    auth_port: int
    acct_port: int
    db: str | None
    proc: subprocess.Popen[str] | None = None
    log_path: Path = field(init=False)
    tacacs_port: int = field(default_factory=free_tcp_port)
    tacacs_tls_port: int = field(default_factory=free_tcp_port)
    web_port: int = field(default_factory=free_tcp_port)  # the console; never the shared 8080

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NAC_DATA_DIR"] = str(self.data_dir)
        if self.db:
            env["NAC_DB"] = self.db
        return env

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a `nac` command against the same data dir / database as the server."""
        res = subprocess.run(
            [NAC, *args], env=self.env(), input=input, capture_output=True, text=True, timeout=60
        )
        if check and res.returncode != 0:
            raise AssertionError(f"nac {' '.join(args)} failed: {res.stderr}{res.stdout}")
        return res

    def start(self, *extra: str) -> None:
        cmd = [
            NAC,
            "serve",
            "--bind",
            "127.0.0.1",
            "--radius-auth-port",
            str(self.auth_port),
            "--radius-acct-port",
            str(self.acct_port),
            "--tacacs-port",
            str(self.tacacs_port),
            "--tacacs-tls-port",
            str(self.tacacs_tls_port),
            "--web-port",
            str(self.web_port),
            "--log-level",
            "info",
            *extra,
        ]
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nac serve exited early:\n{self.log()}")
            if "nac ready" in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"nac serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def fresh_postgres_database(url: str) -> str:
    """A new, empty database on the test PostgreSQL server, so servers never share state."""
    import uuid

    import psycopg

    base, _, _ = url.rpartition("/")
    # The creating pytest's pid is in the name: a later run drops only the databases of runs
    # that have ended, never those of a run going on beside it.
    name = f"nac_it_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def make_server(tmp: Path, name: str = "nacdata") -> NacServer:
    db = os.environ.get("NAC_TEST_DATABASE_URL")
    if db:
        db = fresh_postgres_database(db)
    return NacServer(tmp / name, free_udp_port(), free_udp_port(), db)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    require_tool("radclient")
    server = make_server(tmp_path_factory.mktemp("demo"))
    server.start("--demo")
    yield server
    server.stop()


@dataclass
class RadReply:
    code: str
    attrs: list[tuple[str, str]]
    raw: str

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.attrs if k == name]


def radclient(
    port: int,
    command: str,
    attributes: str,
    secret: str = SECRET,
    retries: int = 1,
    timeout: float = 2.0,
    message_authenticator: bool = True,
) -> RadReply:
    """Send one request with radclient -x and parse what it printed of the reply.

    Access-Requests carry a Message-Authenticator by default, as a NAS patched for
    BlastRADIUS does (and as radtest does): once a client has sent one, the server's
    default "auto" mode requires it.
    """
    tool = require_tool("radclient")
    if message_authenticator and command in ("auth", "status"):
        attributes += "Message-Authenticator = 0x00\n"
    res = subprocess.run(
        [tool, "-x", "-r", str(retries), "-t", str(timeout), f"127.0.0.1:{port}", command, secret],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = res.stdout + res.stderr
    code = "none"
    attrs: list[tuple[str, str]] = []
    in_reply = False
    for line in out.splitlines():
        if line.startswith("Received "):
            code = line.split()[1]
            in_reply = True
            continue
        if line.startswith("Sent "):
            in_reply = False
            continue
        if in_reply and line.startswith(("\t", "  ")) and "=" in line:
            k, _, v = line.strip().partition(" = ")
            attrs.append((k.strip(), v.strip().strip('"')))
    return RadReply(code, attrs, out)


@pytest.fixture(scope="session", autouse=True)
def _drop_old_postgres_databases() -> None:
    """Databases made by earlier runs are dropped at the start of the next one."""
    url = os.environ.get("NAC_TEST_DATABASE_URL")
    if not url:
        return
    import psycopg

    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'nac_it_%'")
        ]
        for name in names:
            if _run_alive(name):
                continue
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_alive(name: str) -> bool:
    """Whether the pytest run that made database ``name`` is still going (on this machine)."""
    parts = name.split("_")
    if len(parts) != 4 or not parts[2].isdigit():
        return False  # an older name without a pid
    pid = int(parts[2])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
