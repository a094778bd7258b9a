"""`nac serve --demo` driven over UDP by radclient and radtest (freeradius-utils)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.interop.conftest import SECRET, NacServer, radclient, require_tool

pytestmark = pytest.mark.interop


def audit_lines(server: NacServer, n: int = 50) -> list[dict[str, object]]:
    res = server.cli("audit", "tail", "-n", str(n), "--json")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def wait_audit(server: NacServer, pred, timeout: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in audit_lines(server):
            if pred(rec):
                return rec
        time.sleep(0.1)
    raise AssertionError(f"no matching audit record; have: {audit_lines(server)}")


def sessions_with(server: NacServer, acct_session_id: str) -> list[dict[str, object]]:
    out = server.cli("sessions", "--all", "--json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [r for r in rows if r["acct_session_id"] == acct_session_id]


def test_pap_accept_gets_vlan_100(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port, "auth", "User-Name = alice\nUser-Password = alice-pass\n"
    )
    assert reply.code == "Access-Accept", reply.raw
    assert reply.values("Tunnel-Type:0") == ["VLAN"] or reply.values("Tunnel-Type") == ["VLAN"]
    assert "IEEE-802" in (reply.values("Tunnel-Medium-Type:0") + reply.values("Tunnel-Medium-Type"))
    assert reply.values("Tunnel-Private-Group-Id:0") + reply.values("Tunnel-Private-Group-Id") == [
        "100"
    ]
    assert reply.values("Class"), "accepted sessions carry a Class cookie for accounting"
    # Message-Authenticator is always sent, first.
    assert reply.attrs[0][0] == "Message-Authenticator", reply.raw


def test_radtest_example_from_readme(demo_server: NacServer) -> None:
    tool = require_tool("radtest")
    res = subprocess.run(
        [tool, "alice", "alice-pass", f"127.0.0.1:{demo_server.auth_port}", "0", SECRET],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Received Access-Accept" in res.stdout, res.stdout + res.stderr
    assert 'Tunnel-Private-Group-Id:0 = "100"' in res.stdout


def test_contractor_gets_vlan_200_and_session_timeout(demo_server: NacServer) -> None:
    reply = radclient(demo_server.auth_port, "auth", "User-Name = bob\nUser-Password = bob-pass\n")
    assert reply.code == "Access-Accept", reply.raw
    assert reply.values("Tunnel-Private-Group-Id:0") + reply.values("Tunnel-Private-Group-Id") == [
        "200"
    ]
    assert reply.values("Session-Timeout") == ["3600"]


def test_wrong_password_rejected_with_reason(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port, "auth", "User-Name = alice\nUser-Password = not-her-password\n"
    )
    assert reply.code == "Access-Reject", reply.raw
    rec = wait_audit(demo_server, lambda r: r["username"] == "alice" and r["result"] == "reject")
    assert rec["reason"] == "wrong password"
    assert rec["reason_code"] == 12011


def test_unknown_user_rejected(demo_server: NacServer) -> None:
    reply = radclient(demo_server.auth_port, "auth", "User-Name = mallory\nUser-Password = x\n")
    assert reply.code == "Access-Reject"
    rec = wait_audit(demo_server, lambda r: r["username"] == "mallory")
    assert rec["reason"] == "unknown user"


def test_admin_matches_no_rule(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port, "auth", "User-Name = admin\nUser-Password = admin-pass\n"
    )
    assert reply.code == "Access-Reject"
    rec = wait_audit(demo_server, lambda r: r["username"] == "admin")
    assert rec["reason"] == "no rule matched"


def test_chap_accept_and_reject(demo_server: NacServer) -> None:
    ok = radclient(demo_server.auth_port, "auth", "User-Name = alice\nCHAP-Password = alice-pass\n")
    assert ok.code == "Access-Accept", ok.raw
    bad = radclient(demo_server.auth_port, "auth", "User-Name = alice\nCHAP-Password = nope\n")
    assert bad.code == "Access-Reject", bad.raw


def test_mschap_accept_with_mppe_keys_and_reject(demo_server: NacServer) -> None:
    """radclient turns MS-CHAP-Password into MS-CHAP-Challenge + MS-CHAP-Response (RFC 2433)
    and decrypts the MS-CHAP-MPPE-Keys of the reply (RFC 2548 2.4.1)."""
    from radius.mschap import hash_nt_password_hash, nt_password_hash

    ok = radclient(
        demo_server.auth_port, "auth", "User-Name = alice\nMS-CHAP-Password = alice-pass\n"
    )
    assert ok.code == "Access-Accept", ok.raw
    nt_key = hash_nt_password_hash(nt_password_hash("alice-pass"))
    assert ok.values("MS-CHAP-MPPE-Keys") == ["0x" + (bytes(8) + nt_key).hex()], ok.raw
    assert ok.values("Tunnel-Private-Group-Id:0") + ok.values("Tunnel-Private-Group-Id") == ["100"]
    bad = radclient(demo_server.auth_port, "auth", "User-Name = alice\nMS-CHAP-Password = nope\n")
    assert bad.code == "Access-Reject", bad.raw
    assert any("E=691" in v for v in bad.values("MS-CHAP-Error")), bad.raw
    rec = wait_audit(demo_server, lambda r: r["method"] == "mschap" and r["result"] == "reject")
    assert rec["reason"] == "wrong password"
    assert all(v == "<hidden>" for n, v in rec["request"] if n == "MS-CHAP-Response")


@pytest.mark.parametrize(
    "user_name",
    [
        "001122334455",
        "00-11-22-33-44-55",
        "00:11:22:33:44:55",
        "0011.2233.4455",
        "00-11-22-33-44-55".upper(),
        "0011.2233.4455".upper(),
    ],
)
def test_mab_known_printer_any_mac_format(demo_server: NacServer, user_name: str) -> None:
    reply = radclient(
        demo_server.auth_port,
        "auth",
        f"User-Name = {user_name}\nUser-Password = {user_name}\n"
        f"Calling-Station-Id = {user_name}\nService-Type = Call-Check\nNAS-Port-Type = Ethernet\n",
    )
    assert reply.code == "Access-Accept", reply.raw
    assert reply.values("Tunnel-Private-Group-Id:0") + reply.values("Tunnel-Private-Group-Id") == [
        "300"
    ]


def test_mab_unknown_mac_rejected(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port,
        "auth",
        "User-Name = aabbccddeeff\nUser-Password = aabbccddeeff\n"
        "Calling-Station-Id = AA-BB-CC-DD-EE-FF\nService-Type = Call-Check\n",
    )
    assert reply.code == "Access-Reject"
    rec = wait_audit(demo_server, lambda r: r["mac"] == "aa:bb:cc:dd:ee:ff")
    assert rec["reason"] == "unknown MAC"
    assert rec["method"] == "mab"


def test_proxy_state_copied_in_order(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port,
        "auth",
        "User-Name = alice\nUser-Password = alice-pass\nProxy-State = 0x01\nProxy-State = 0x0203\n",
    )
    assert reply.code == "Access-Accept", reply.raw
    assert reply.values("Proxy-State") == ["0x01", "0x0203"]


@pytest.mark.parametrize("port_attr", ["auth_port", "acct_port"])
def test_status_server_on_both_ports(demo_server: NacServer, port_attr: str) -> None:
    port = getattr(demo_server, port_attr)
    reply = radclient(port, "status", "NAS-Identifier = probe\n")
    expected = "Access-Accept" if port_attr == "auth_port" else "Accounting-Response"
    assert reply.code == expected, reply.raw


def test_status_server_without_message_authenticator_ignored(demo_server: NacServer) -> None:
    reply = radclient(
        demo_server.auth_port,
        "status",
        "NAS-Identifier = probe\n",
        retries=1,
        timeout=0.5,
        message_authenticator=False,
    )
    assert reply.code == "none", reply.raw


def test_accounting_start_stop_stored_once(demo_server: NacServer) -> None:
    start = (
        "Acct-Status-Type = Start\nAcct-Session-Id = sess-0001\nUser-Name = alice\n"
        "NAS-Port = 7\nCalling-Station-Id = 02-00-00-00-00-01\nFramed-IP-Address = 10.1.2.3\n"
    )
    assert radclient(demo_server.acct_port, "acct", start).code == "Accounting-Response"
    # A NAS re-sending the same record (new id, same content) must not create a second row.
    assert radclient(demo_server.acct_port, "acct", start).code == "Accounting-Response"
    sessions = sessions_with(demo_server, "sess-0001")
    assert len(sessions) == 1
    assert sessions[0]["status"] == "active"
    assert sessions[0]["username"] == "alice"
    stop = start.replace("Start", "Stop") + (
        "Acct-Session-Time = 120\nAcct-Input-Octets = 1000\nAcct-Input-Gigawords = 1\n"
        "Acct-Output-Octets = 2000\nAcct-Terminate-Cause = User-Request\n"
    )
    assert radclient(demo_server.acct_port, "acct", stop).code == "Accounting-Response"
    sessions = sessions_with(demo_server, "sess-0001")
    assert len(sessions) == 1
    s = sessions[0]
    assert s["status"] == "stopped"
    assert s["session_time"] == 120
    assert s["input_octets"] == (1 << 32) + 1000
    assert s["terminate_cause"] == "User-Request"


def test_wrong_secret_is_dropped_and_server_keeps_answering(demo_server: NacServer) -> None:
    bad = radclient(
        demo_server.acct_port,
        "acct",
        "Acct-Status-Type = Start\nAcct-Session-Id = x\n",
        secret="wrong-secret",
        retries=1,
        timeout=0.5,
    )
    assert bad.code == "none"
    ok = radclient(demo_server.auth_port, "auth", "User-Name = alice\nUser-Password = alice-pass\n")
    assert ok.code == "Access-Accept"


def test_config_change_reaches_running_server(demo_server: NacServer) -> None:
    demo_server.cli("user", "add", "carol", "--password", "carol-pass-1", "--group", "employees")
    deadline = time.monotonic() + 10
    code = "none"
    while time.monotonic() < deadline:
        code = radclient(
            demo_server.auth_port, "auth", "User-Name = carol\nUser-Password = carol-pass-1\n"
        ).code
        if code == "Access-Accept":
            break
        time.sleep(0.3)
    assert code == "Access-Accept"


def test_policy_show_counts_rule_hits_from_the_audit_log(demo_server: NacServer) -> None:
    for _ in range(3):
        reply = radclient(
            demo_server.auth_port, "auth", "User-Name = bob\nUser-Password = bob-pass\n"
        )
        assert reply.code == "Access-Accept"
    reply = radclient(demo_server.auth_port, "auth", "User-Name = bob\nUser-Password = nope\n")
    assert reply.code == "Access-Reject"
    deadline = time.monotonic() + 10
    hits: dict[str, int] = {}
    while time.monotonic() < deadline:  # the audit writer batches
        out = demo_server.cli("policy", "show").stdout
        hits = {
            line.split(": ")[0].strip(): int(line.split(": ")[1])
            for line in out.splitlines()
            if line.startswith("  default/")
        }
        if hits.get("default/authz/contractors", 0) >= 3 and "default/authn/local-users" in hits:
            break
        time.sleep(0.2)
    assert hits["default/authz/contractors"] >= 3
    assert hits["default/authn/local-users"] >= 1  # the wrong-password reject


def test_no_secret_or_password_in_the_log_or_audit(demo_server: NacServer) -> None:
    """Runs last in this module, after every request above."""
    log = demo_server.log()
    audit = demo_server.cli("audit", "tail", "-n", "1000", "--json").stdout
    for secret in ("testing123", "alice-pass", "bob-pass", "not-her-password"):
        assert secret not in log
        assert secret not in audit
    assert "<hidden>" in audit  # User-Password is named, its value is not
