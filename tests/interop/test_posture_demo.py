"""Posture end to end against a real `nac serve --demo`: `nac posture enroll`, the real
`nac-agent report` posting facts, then radclient's PAP request for alice decided by posture."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import NacServer, RadReply, make_server, radclient, require_tool

pytestmark = pytest.mark.interop

AGENT = str(Path(sys.executable).with_name("nac-agent"))
MAC = "aa:bb:cc:00:66:01"
OTHER = "aa:bb:cc:00:66:02"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    require_tool("radclient")
    srv = make_server(tmp_path_factory.mktemp("posture"))
    srv.start("--demo")
    yield srv
    srv.stop()


def enroll(server: NacServer, mac: str) -> str:
    out = server.cli("posture", "enroll", mac).stdout.strip().splitlines()
    assert out[0].startswith("posture token ") and mac in out[0], out
    return out[-1]


def agent(server: NacServer, tmp: Path, token: str, mac: str, facts: dict[str, object]):
    path = tmp / "facts.json"
    path.write_text(json.dumps(facts))
    url = f"http://127.0.0.1:{server.web_port}"
    return subprocess.run(
        [AGENT, "report", "--server", url, "--token", token, "--mac", mac, "--facts", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def alice(server: NacServer, mac: str = MAC) -> RadReply:
    calling = mac.upper().replace(":", "-")
    attrs = f"User-Name = alice\nUser-Password = alice-pass\nCalling-Station-Id = {calling}\n"
    return radclient(server.auth_port, "auth", attrs)


def vlan(reply: RadReply) -> list[str]:
    return reply.values("Tunnel-Private-Group-Id:0") + reply.values("Tunnel-Private-Group-Id")


def wait_vlan(server: NacServer, want: str, timeout: float = 5.0) -> RadReply:
    """The workers apply endpoint state within ~100 ms of the commit: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        reply = alice(server)
        if vlan(reply) == [want] or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def audit_for(server: NacServer, mac: str) -> list[dict[str, object]]:
    res = server.cli("audit", "tail", "-n", "20", "--json", "--mac", mac)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_agent_facts_are_collected_here() -> None:
    res = subprocess.run([AGENT, "facts"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout)
    assert facts["os.family"] == "linux" and facts["os.kernel"]
    assert isinstance(facts.get("disk.encrypted", False), bool)
    assert "screen_lock.enabled" not in facts  # headless: not reported


def test_posture_quarantines_and_releases_alice(server: NacServer, tmp_path: Path) -> None:
    # enrolled, no report yet: within the grace period, VLAN 100 as always
    token = enroll(server, MAC)
    first = alice(server)
    assert first.code == "Access-Accept" and vlan(first) == ["100"], first.raw

    bad = agent(server, tmp_path, token, MAC, {"firewall.enabled": False, "disk.encrypted": True})
    assert bad.returncode == 0, bad.stderr
    assert f"posture {MAC}: non_compliant, score 80" in bad.stdout
    assert "failed firewall: firewall.enabled is false (required true)" in bad.stdout

    quarantined = wait_vlan(server, "666")
    assert quarantined.code == "Access-Accept", quarantined.raw
    assert vlan(quarantined) == ["666"], quarantined.raw
    assert quarantined.values("Filter-Id") == ["quarantine"], quarantined.raw
    record = next(r for r in audit_for(server, MAC) if r["profile"] == "quarantine-vlan666")
    assert record["authorization_rule"] == "employees-quarantine"
    trace = "\n".join(record["trace"])  # type: ignore[arg-type]
    assert "failed checks: firewall (requires firewall.enabled true)" in trace, trace

    history = server.cli("posture", "show", MAC).stdout
    assert "non_compliant  score 80" in history
    assert "failed firewall: firewall.enabled is false (required true)" in history

    good = agent(server, tmp_path, token, MAC, {"firewall.enabled": True, "disk.encrypted": True})
    assert good.returncode == 0, good.stderr
    assert "compliant, score 4" in good.stdout and "changed from non_compliant" in good.stdout
    released = wait_vlan(server, "100")
    assert vlan(released) == ["100"] and not released.values("Filter-Id"), released.raw


def test_the_agent_is_refused_for_another_mac_and_for_a_malformed_fact(
    server: NacServer, tmp_path: Path
) -> None:
    token = enroll(server, OTHER)
    wrong = agent(server, tmp_path, token, MAC, {"firewall.enabled": True})
    assert wrong.returncode == 1
    assert "HTTP 403" in wrong.stderr and f"issued for {OTHER}" in wrong.stderr
    typo = agent(server, tmp_path, token, OTHER, {"firewall.enabled": "on"})
    assert typo.returncode == 1
    assert "HTTP 422: facts.firewall.enabled: expected true or false" in typo.stderr
    bogus = agent(server, tmp_path, "nacp_bogus", OTHER, {})
    assert bogus.returncode == 1 and "HTTP 401" in bogus.stderr
