"""Wire-level behaviour of a running `nac serve`: duplicates, malformed input, BlastRADIUS,
unknown clients, signals and startup errors."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from radius.constants import AttrType, Code
from tests.interop.conftest import (
    NAC,
    NacServer,
    free_udp_port,
    make_server,
    radclient,
    require_tool,
)
from tests.interop.rawclient import UdpClient, access_request

pytestmark = pytest.mark.interop


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[NacServer]:
    require_tool("radclient")
    server = make_server(tmp_path)
    server.start("--demo")
    yield server
    server.stop()


def count_audit(server: NacServer, user: str) -> int:
    out = server.cli("audit", "tail", "-n", "1000", "--json").stdout
    return sum(1 for line in out.splitlines() if f'"username": "{user}"' in line)


def wait_audit_count(server: NacServer, user: str, expected: int) -> int:
    """The audit writer batches: wait until the expected rows are there, then a little more
    so that an extra (wrong) row would show too."""
    deadline = time.monotonic() + 10
    n = count_audit(server, user)
    while n < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        n = count_audit(server, user)
    time.sleep(0.5)
    return count_audit(server, user)


def test_retransmission_gets_the_cached_reply_not_a_second_decision(
    fresh_server: NacServer,
) -> None:
    client = UdpClient(fresh_server.auth_port)
    request = access_request("alice", "alice-pass", identifier=42)
    client.send(request)
    first = client.recv()
    client.send(request)  # same source port, id and authenticator: a retransmission
    second = client.recv()
    assert first is not None and second == first
    assert wait_audit_count(fresh_server, "alice", 1) == 1
    # The same id with a new authenticator is a new request.
    third = client.ask(access_request("alice", "alice-pass", identifier=42))
    assert third is not None and third.code == Code.AccessAccept
    assert wait_audit_count(fresh_server, "alice", 2) == 2


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x01",
        b"\x01\x02\x00\x14",  # header shorter than 20 octets
        bytes([1, 7, 0, 200]) + bytes(16),  # Length says more than was sent
        bytes([1, 7, 0, 23]) + bytes(16) + bytes([1, 1, 0]),  # attribute length 1
        bytes([1, 7, 0, 24]) + bytes(16) + bytes([1, 9, 0, 0]),  # attribute overruns
        bytes([99, 7, 0, 20]) + bytes(16),  # unknown code
        os.urandom(4096),
        os.urandom(5000),
    ],
)
def test_malformed_packets_are_dropped_and_the_listener_lives(
    demo_server: NacServer, garbage: bytes
) -> None:
    client = UdpClient(demo_server.auth_port)
    client.send(garbage)
    assert client.recv(timeout=0.3) is None
    reply = client.ask(access_request("bob", "bob-pass", with_ma=True))
    assert reply is not None and reply.code == Code.AccessAccept


def test_blastradius_auto_once_seen_required(fresh_server: NacServer) -> None:
    client = UdpClient(fresh_server.auth_port)
    # Before the client ever sent Message-Authenticator: accepted without one (auto).
    plain = client.ask(access_request("alice", "alice-pass"))
    assert plain is not None and plain.code == Code.AccessAccept
    signed = client.ask(access_request("alice", "alice-pass", with_ma=True))
    assert signed is not None and signed.code == Code.AccessAccept
    # From now on an Access-Request from this client without one is silently discarded.
    assert client.ask(access_request("alice", "alice-pass"), timeout=0.5) is None
    # ...and so is one with Proxy-State but no Message-Authenticator (limit_proxy_state auto).
    extra = [(int(AttrType.ProxyState), b"\x01")]
    assert client.ask(access_request("alice", "alice-pass", extra=extra), timeout=0.5) is None
    # A forged Message-Authenticator is discarded too.
    forged = bytearray(access_request("alice", "alice-pass", with_ma=True))
    forged[30] ^= 0xFF
    assert client.ask(bytes(forged), timeout=0.5) is None


def test_blastradius_require_yes_per_client(tmp_path: Path) -> None:
    require_tool("radclient")
    server = make_server(tmp_path)
    server.cli("init")
    server.cli(
        "client",
        "add",
        "strict-nas",
        "--address",
        "127.0.0.1/32",
        "--secret",
        "strict-secret-123",
        "--require-message-authenticator",
        "yes",
    )
    server.cli("user", "add", "dave", "--password", "dave-pass")
    server.start()
    try:
        client = UdpClient(server.auth_port)
        secret = b"strict-secret-123"
        assert client.ask(access_request("dave", "dave-pass", secret=secret), timeout=0.5) is None
        reply = client.ask(access_request("dave", "dave-pass", secret=secret, with_ma=True))
        # dave is known but the default policy of a non-demo install rejects everything.
        assert reply is not None and reply.code == Code.AccessReject
    finally:
        server.stop()


def test_unknown_client_dropped_and_logged(tmp_path: Path) -> None:
    require_tool("radclient")
    server = make_server(tmp_path)
    server.cli("init")
    server.cli(
        "client", "add", "far-away", "--address", "192.0.2.0/24", "--secret", "far-away-secret"
    )
    server.start()
    try:
        for _ in range(3):
            reply = radclient(
                server.auth_port,
                "auth",
                "User-Name = a\nUser-Password = b\n",
                retries=1,
                timeout=0.3,
            )
            assert reply.code == "none"
        time.sleep(0.2)
        log = server.log()
        assert "unknown client 127.0.0.1" in log
        assert log.count("unknown client 127.0.0.1") == 1, "the log is rate limited"
        assert "testing123" not in log
    finally:
        server.stop()


def test_sigterm_flushes_accounting_and_audit(tmp_path: Path) -> None:
    require_tool("radclient")
    server = make_server(tmp_path)
    server.start("--demo")
    for i in range(20):
        reply = radclient(
            server.acct_port,
            "acct",
            f"Acct-Status-Type = Start\nAcct-Session-Id = term-{i}\n"
            f"User-Name = alice\nNAS-Port = {i}\n",
        )
        assert reply.code == "Accounting-Response"
    assert (
        radclient(server.auth_port, "auth", "User-Name = bob\nUser-Password = bob-pass\n").code
        == "Access-Accept"
    )
    assert server.stop(signal.SIGTERM) == 0
    assert "stopped:" in server.log()
    sessions = server.cli("sessions", "--all", "--json").stdout
    assert all(f'"term-{i}"' in sessions for i in range(20))
    assert count_audit(server, "bob") == 1


def test_sigint_stops_cleanly(fresh_server: NacServer) -> None:
    assert fresh_server.stop(signal.SIGINT) == 0


def test_port_in_use_fails_fast_with_one_line(demo_server: NacServer, tmp_path: Path) -> None:
    env = dict(os.environ, NAC_DATA_DIR=str(tmp_path / "other"))
    env.pop("NAC_DB", None)
    if os.environ.get("NAC_TEST_DATABASE_URL"):
        env["NAC_DB"] = f"sqlite:///{tmp_path / 'other.db'}"
    res = subprocess.run(
        [
            NAC,
            "serve",
            "--bind",
            "127.0.0.1",
            "--radius-auth-port",
            str(demo_server.auth_port),
            "--radius-acct-port",
            str(free_udp_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr
    assert any("address already in use" in line for line in err), res.stderr


def test_unreadable_config_fails_fast(tmp_path: Path) -> None:
    bad = tmp_path / "nac.toml"
    bad.write_text("radius_auth_port = [not toml\n")
    res = subprocess.run(
        [NAC, "serve", "--config", str(bad), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "nac.toml" in res.stderr


def test_workers_share_ports_and_the_blastradius_state(tmp_path: Path) -> None:
    require_tool("radclient")
    server = make_server(tmp_path)
    server.start("--demo", "--workers", "2")
    try:
        assert "2 workers" in server.log()
        clients = [UdpClient(server.auth_port) for _ in range(8)]  # 8 source ports
        for c in clients:
            reply = c.ask(access_request("alice", "alice-pass"))
            assert reply is not None and reply.code == Code.AccessAccept
        signed = clients[0].ask(access_request("alice", "alice-pass", with_ma=True))
        assert signed is not None and signed.code == Code.AccessAccept
        # The other worker learns it through the database within a few seconds.
        deadline = time.monotonic() + 10
        answered = len(clients)
        while answered and time.monotonic() < deadline:
            time.sleep(0.5)
            answered = sum(
                c.ask(access_request("alice", "alice-pass"), timeout=0.3) is not None
                for c in clients
            )
        assert answered == 0
    finally:
        assert server.stop() == 0
    assert "all 2 workers exited" in server.log()


def test_bad_policy_in_the_database_keeps_the_running_one(fresh_server: NacServer) -> None:
    """Another node (or a hand edit) stores a policy that does not compile: the server keeps
    deciding with the last good one and says so once."""
    script = (
        "import asyncio\n"
        "from nac.core.config import load_settings\n"
        "from nac.db.bootstrap import open_storage\n"
        "from nac.db import crud\n"
        "async def main():\n"
        "    settings = load_settings(config_file=None, overrides={})\n"
        "    st = await open_storage(settings, migrate=False)\n"
        "    async with st.db.session() as s:\n"
        "        await crud.set_policy(s, document={'policy_sets': 'nonsense'}, author='t')\n"
        "    await st.db.dispose()\n"
        "asyncio.run(main())\n"
    )
    res = subprocess.run(
        [str(Path(NAC).with_name("python")), "-c", script],
        env=fresh_server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    time.sleep(3)
    reply = radclient(
        fresh_server.auth_port, "auth", "User-Name = alice\nUser-Password = alice-pass\n"
    )
    assert reply.code == "Access-Accept"
    assert fresh_server.log().count("not applied, keeping the old one") == 1
