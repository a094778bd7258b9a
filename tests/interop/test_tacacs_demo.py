"""`nac serve --demo` over TACACS+ (RFC 8907), driven by real clients: the `tacacs_client` CLI
of the `tacacs_plus` package (PyPI) and Perl's Authen::TacacsPlus (Debian
libauthen-tacacsplus-perl). `enable` is sent with tacacs_plus's own packet classes (its CLI
has no enable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import SECRET, NacServer

pytestmark = pytest.mark.interop

TACACS_CLIENT = str(Path(sys.executable).with_name("tacacs_client"))


def need(what: str, ok: bool, hint: str) -> None:
    if ok:
        return
    message = f"{what} is not installed ({hint})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tacacs_client(
    server: NacServer, user: str, *args: str, key: str = SECRET, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    need("tacacs_client", Path(TACACS_CLIENT).exists(), "pip install tacacs_plus")
    cmd = [TACACS_CLIENT, "-H", "127.0.0.1", "-p", str(server.tacacs_port), "-k", key]
    cmd += ["-u", user, "-v", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)


def perl_authen(server: NacServer, user: str, password: str, authen_type: str = "ASCII") -> str:
    need("perl", shutil.which("perl") is not None, "Debian package perl")
    probe = subprocess.run(["perl", "-MAuthen::TacacsPlus", "-e", "1"], capture_output=True)
    need("Authen::TacacsPlus", probe.returncode == 0, "Debian package libauthen-tacacsplus-perl")
    script = (
        "use Authen::TacacsPlus;"
        "my ($port, $user, $pw, $type) = @ARGV;"
        'my $t = Authen::TacacsPlus->new(Host => "127.0.0.1", Port => $port,'
        f' Key => "{SECRET}", Timeout => 5) or die "connect: " . Authen::TacacsPlus::errmsg();'
        'my $code = $type eq "PAP" ? Authen::TacacsPlus::TAC_PLUS_AUTHEN_TYPE_PAP()'
        " : Authen::TacacsPlus::TAC_PLUS_AUTHEN_TYPE_ASCII();"
        'print $t->authen($user, $pw, $code) ? "PASS\\n"'
        ' : "FAIL " . Authen::TacacsPlus::errmsg() . "\\n";'
    )
    res = subprocess.run(
        ["perl", "-e", script, str(server.tacacs_port), user, password, authen_type],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return (res.stdout + res.stderr).strip()


def audit(server: NacServer, n: int = 200) -> list[dict[str, Any]]:
    res = server.cli("audit", "tail", "-n", str(n), "--json")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def wait_audit(
    server: NacServer, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rec in reversed(audit(server)):
            if rec.get("protocol") == "tacacs" and pred(rec):
                return rec
        time.sleep(0.1)
    raise AssertionError(f"no matching audit record; have: {audit(server, 20)}")


def test_admin_login_ascii_pap_chap(demo_server: NacServer) -> None:
    for args, stdin in (
        (("-t", "ascii", "authenticate", "-p", "admin-pass"), ""),
        (("-t", "pap", "authenticate", "-p", "admin-pass"), ""),
        (("-t", "chap", "authenticate", "-p", "admin-pass"), "7\nnac-chap-challenge-16\n"),
    ):
        res = tacacs_client(demo_server, "admin", *args, stdin=stdin)
        assert "status: PASS" in res.stdout, (args, res.stdout, res.stderr)
    rec = wait_audit(demo_server, lambda r: r["username"] == "admin" and r["method"] == "chap")
    assert rec["result"] == "accept" and rec["authorization_rule"] == "netadmins"


def test_wrong_password_fails_with_the_reason_in_the_audit(demo_server: NacServer) -> None:
    res = tacacs_client(demo_server, "ops", "-t", "pap", "authenticate", "-p", "nope")
    assert "status: FAIL" in res.stdout or "Authentication failed" in res.stdout, res.stdout
    assert "status: PASS" not in res.stdout
    rec = wait_audit(demo_server, lambda r: r["username"] == "ops" and r["result"] == "reject")
    assert rec["reason_code"] == 12011 and rec["reason"] == "wrong password"
    # Replayed from the stored context and the identity source's recorded answer.
    assert rec["trace"][-1] == "decision: reject (12011 wrong password)", rec["trace"]
    assert any(line.startswith("policy_set device-admin: match") for line in rec["trace"])
    assert not any("replay differs" in line for line in rec["trace"])


def test_perl_authen_tacacsplus(demo_server: NacServer) -> None:
    assert perl_authen(demo_server, "admin", "admin-pass") == "PASS"
    assert perl_authen(demo_server, "ops", "ops-pass", "PAP") == "PASS"
    assert perl_authen(demo_server, "admin", "wrong").startswith("FAIL")
    # A network user with no device-administration rule cannot log into a switch.
    assert perl_authen(demo_server, "alice", "alice-pass").startswith("FAIL")
    rec = wait_audit(demo_server, lambda r: r["username"] == "alice")
    assert rec["result"] == "reject" and rec["policy_set"] == "device-admin"


def _enable(server: NacServer, user: str, secret: str) -> int:
    """An `enable` (action LOGIN, service ENABLE, priv-lvl 15) ASCII exchange with
    tacacs_plus's packet classes: START, the server's GETPASS, CONTINUE with the secret."""
    from tacacs_plus.authentication import (
        TACACSAuthenticationContinue,
        TACACSAuthenticationReply,
        TACACSAuthenticationStart,
    )
    from tacacs_plus.client import TACACSClient
    from tacacs_plus.flags import TAC_PLUS_AUTHEN, TAC_PLUS_AUTHEN_TYPE_ASCII

    TAC_PLUS_AUTHEN_SVC_ENABLE = 0x02  # RFC 8907 5.1; the package names only NONE and LOGIN

    client = TACACSClient("127.0.0.1", server.tacacs_port, SECRET, timeout=5)
    start = TACACSAuthenticationStart(user, TAC_PLUS_AUTHEN_TYPE_ASCII, priv_lvl=15)
    start.service = TAC_PLUS_AUTHEN_SVC_ENABLE
    with client.closing():
        packet = client.send(start, TAC_PLUS_AUTHEN)
        reply = TACACSAuthenticationReply.unpacked(packet.body)
        assert reply.getpass, f"expected a password prompt, got status {reply.status}"
        packet = client.send(
            TACACSAuthenticationContinue(secret), TAC_PLUS_AUTHEN, packet.seq_no + 1
        )
        return int(TACACSAuthenticationReply.unpacked(packet.body).status)


def test_enable(demo_server: NacServer) -> None:
    from tacacs_plus.flags import TAC_PLUS_AUTHEN_STATUS_FAIL, TAC_PLUS_AUTHEN_STATUS_PASS

    assert _enable(demo_server, "admin", "enable-pass") == TAC_PLUS_AUTHEN_STATUS_PASS
    assert _enable(demo_server, "admin", "admin-pass") == TAC_PLUS_AUTHEN_STATUS_FAIL
    assert _enable(demo_server, "ops", "ops-pass") == TAC_PLUS_AUTHEN_STATUS_FAIL
    ok = wait_audit(demo_server, lambda r: r["method"] == "enable" and r["result"] == "accept")
    assert ok["username"] == "admin" and "enable secret of user admin verified" in ok["reason"]
    wrong = wait_audit(demo_server, lambda r: r["method"] == "enable" and r["reason_code"] == 12011)
    assert wrong["reason"] == "enable: wrong user admin enable secret"


def test_ops_shell_and_commands(demo_server: NacServer) -> None:
    shell = tacacs_client(demo_server, "ops", "authorize", "-c", "service=shell")
    assert "status: PASS" in shell.stdout and "priv-lvl=1" in shell.stdout, shell.stdout
    admin = tacacs_client(demo_server, "admin", "authorize", "-c", "service=shell")
    assert "priv-lvl=15" in admin.stdout, admin.stdout
    show = tacacs_client(
        demo_server, "ops", "authorize", "-c", "service=shell", "cmd=show", "cmd-arg=running-config"
    )
    assert "status: PASS" in show.stdout, show.stdout
    reload = tacacs_client(demo_server, "ops", "authorize", "-c", "service=shell", "cmd=reload")
    assert "status: PASS" not in reload.stdout
    assert "command denied by command set netops" in reload.stdout, reload.stdout
    conf = tacacs_client(
        demo_server,
        "admin",
        "authorize",
        "-c",
        "service=shell",
        "cmd=configure",
        "cmd-arg=terminal",
    )
    assert "status: PASS" in conf.stdout, conf.stdout
    denied = wait_audit(demo_server, lambda r: r["method"] == "command" and r["result"] == "reject")
    assert denied["reason"] == "command denied by command set netops rule 4 (reload): reload"
    assert denied["reason_code"] == 12050
    # The trace is replayed from the stored context when read, and agrees with the decision.
    trace = denied["trace"]
    assert trace[-1].startswith("decision: reject (12050"), trace
    assert any(line.startswith("command netops: deny") and "reload" in line for line in trace)
    assert not any("replay differs" in line for line in trace), trace
    allowed = wait_audit(
        demo_server,
        lambda r: r["method"] == "command" and r["username"] == "ops" and r["result"] == "accept",
    )
    assert "show running-config" in allowed["reason"]


def test_accounting_start_stop_stored_before_the_answer(demo_server: NacServer) -> None:
    for flag in ("start", "stop"):
        res = tacacs_client(
            demo_server,
            "ops",
            "account",
            "-c",
            "service=shell",
            "task_id=4242",
            "cmd=show version",
            "-f",
            flag,
        )
        assert "status: SUCCESS" in res.stdout, res.stdout + res.stderr
        # Acknowledged only after it was stored: it is there the moment the answer came.
        rows = [
            r
            for r in audit(demo_server)
            if r["protocol"] == "tacacs"
            and r["method"] == "acct"
            and r["result"] == flag
            and "task 4242" in r["reason"]
        ]
        assert rows, f"accounting {flag} not stored when acknowledged"
    assert ["arg", "task_id=4242"] in rows[-1]["request"]
    assert ["flags", "stop"] in rows[-1]["request"]


def test_wrong_key_gets_no_answer_and_a_bad_key_log(demo_server: NacServer) -> None:
    res = tacacs_client(demo_server, "admin", "authenticate", "-p", "admin-pass", key="not-the-key")
    assert "status: PASS" not in res.stdout and "status: FAIL" not in res.stdout
    deadline = time.monotonic() + 5
    while "bad key from device lab-switch" not in demo_server.log():
        assert time.monotonic() < deadline, demo_server.log()[-2000:]
        time.sleep(0.05)
    # The server is fine afterwards.
    ok = tacacs_client(demo_server, "admin", "authenticate", "-p", "admin-pass")
    assert "status: PASS" in ok.stdout


def _tls_exchange(
    server: NacServer, cert_dir: Path, name: str, *, obfuscated: bool = False
) -> tuple[int | None, bytes]:
    """One PAP login over TLS 1.3 (RFC 9887) with a device certificate ``name`` issued by
    the built-in CA; returns (reply status or None if closed, raw reply header flags)."""
    import socket
    import ssl

    from tacacs.constants import AuthenService, AuthenType, HeaderFlag
    from tacacs.packet import AuthenStart, decode_packet, encode_packet, pull_header

    ca = server.cli("pki", "export-ca").stdout
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca)
    context.check_hostname = False
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert_dir / f"{name}.crt"), str(cert_dir / f"{name}.key"))
    start = AuthenStart(
        1, 1, AuthenType.PAP, AuthenService.LOGIN, b"admin", b"tty1", b"10.1.1.1", b"admin-pass"
    )
    flags, key = (0, SECRET.encode()) if obfuscated else (int(HeaderFlag.UNENCRYPTED), None)
    raw = socket.create_connection(("127.0.0.1", server.tacacs_tls_port), timeout=5)
    with context.wrap_socket(raw) as tls:
        assert tls.version() == "TLSv1.3"
        tls.sendall(
            encode_packet(start, version=0xC1, seq_no=1, session_id=4711, key=key, flags=flags)
        )
        try:
            head = tls.recv(12)
        except (OSError, ssl.SSLError):  # aborted by the server
            return None, b""
        if len(head) < 12:
            return None, b""
        header = pull_header(head)
        body = b""
        while len(body) < header.length:
            body += tls.recv(header.length - len(body))
        _, reply = decode_packet(head + body, None)
        return int(reply.status), bytes([header.flags])


def test_tacacs_over_tls(demo_server: NacServer, tmp_path: Path) -> None:
    """RFC 9887: the device is found by its certificate (CN = the NAS client's name), no
    obfuscation, the UNENCRYPTED flag required; a certificate naming no device is closed."""
    for name in ("lab-switch", "stranger"):
        demo_server.cli(
            "pki", "issue", name, "--out", str(tmp_path), "--p12-password-stdin", input="p12-pass\n"
        )
    status, flags = _tls_exchange(demo_server, tmp_path, "lab-switch")
    assert status == 1 and flags[0] & 0x01  # PASS, answered unobfuscated
    status, _ = _tls_exchange(demo_server, tmp_path, "lab-switch", obfuscated=True)
    assert status == 7  # ERROR: obfuscation over TLS is refused
    status, _ = _tls_exchange(demo_server, tmp_path, "stranger")
    assert status is None  # no device of that name: closed
    # A revoked device certificate is refused on the next connection, no restart.
    demo_server.cli("pki", "revoke", "lab-switch")
    status, _ = _tls_exchange(demo_server, tmp_path, "lab-switch")
    assert status is None
    assert "refused: certificate revoked (serial" in demo_server.log()
