"""802.1X against `nac serve --demo` with wpa_supplicant's eapol_test (Debian package eapoltest):
every method and TLS version to SUCCESS with matching MPPE keys and the VLAN of the policy,
and the failures each with its reason in the audit log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nac.pki import Pki
from tests.interop.conftest import SECRET, NacServer, make_server

pytestmark = pytest.mark.interop

TLS12 = "tls_disable_tlsv1_0=1 tls_disable_tlsv1_1=1 tls_disable_tlsv1_3=1"
TLS13 = "tls_disable_tlsv1_0=1 tls_disable_tlsv1_1=1 tls_disable_tlsv1_2=1 tls_disable_tlsv1_3=0"
VERSIONS = {"1.2": (TLS12, "TLSv1.2"), "1.3": (TLS13, "TLSv1.3")}


def eapol_test_binary() -> str:
    path = shutil.which("eapol_test")
    if path is None:
        message = "eapol_test is not installed (Debian package eapoltest)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Peer:
    """Runs eapol_test with a network block against the server."""

    def __init__(self, server: NacServer, tmp: Path) -> None:
        self.binary = eapol_test_binary()
        self.server = server
        self.tmp = tmp
        self.runs = 0

    def run(
        self, network: dict[str, str], *, reauth: int = 0, keys: bool = True
    ) -> tuple[bool, str]:
        self.runs += 1
        lines = [f"    {k}={v}" for k, v in network.items()]
        conf = self.tmp / f"peer-{self.runs}.conf"
        conf.write_text(
            'network={\n    ssid="nac"\n    key_mgmt=WPA-EAP\n' + "\n".join(lines) + "\n}\n"
        )
        cmd = [self.binary, "-c", str(conf), "-a", "127.0.0.1", "-p", str(self.server.auth_port)]
        cmd += ["-s", SECRET, "-t", "15", "-r", str(reauth)]
        if not keys:
            cmd.append("-n")  # the method derives no MSK (EAP-MD5): expect no MPPE keys
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        out = res.stdout + res.stderr
        return res.returncode == 0 and out.rstrip().endswith("SUCCESS"), out


def q(value: str) -> str:
    return f'"{value}"'


def audit(server: NacServer, n: int = 20) -> list[dict[str, object]]:
    res = server.cli("audit", "tail", "-n", str(n), "--json")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def last_audit(server: NacServer, after: int) -> dict[str, object]:
    """The newest audit record with an id above ``after`` (the writer is batched)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = [r for r in audit(server) if int(r["id"]) > after]  # type: ignore[call-overload]
        if rows:
            return rows[-1]
        time.sleep(0.1)
    raise AssertionError("no new audit record")


def newest_id(server: NacServer) -> int:
    rows = audit(server, 1)
    return int(rows[-1]["id"]) if rows else 0  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def eap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    server = make_server(tmp_path_factory.mktemp("eap"))
    server.start("--demo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def peer(eap_server: NacServer, tmp_path_factory: pytest.TempPathFactory) -> Peer:
    return Peer(eap_server, tmp_path_factory.mktemp("peer"))


@pytest.fixture(scope="module")
def certs(eap_server: NacServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Client certificates from the server's own CA (made by its first start), one revoked,
    one expired, and one from a CA the server does not know."""
    out = tmp_path_factory.mktemp("certs")
    pki = Pki(eap_server.data_dir / "pki")
    pki.issue("alice", out_dir=out, p12_password=b"p12-pass", email="alice@example.com")
    pki.issue("mallory", out_dir=out, p12_password=b"p12-pass")
    pki.revoke("mallory")
    past = datetime.now(UTC) - timedelta(days=30)
    (out / "old").mkdir()
    pki.issue("bob", out_dir=out / "old", p12_password=b"p12-pass", days=2, now=past)
    foreign = Pki(tmp_path_factory.mktemp("foreign-pki"))
    foreign.init(common_name="Somebody Else CA", server_names=["elsewhere"])
    (out / "foreign").mkdir()
    foreign.issue("alice", out_dir=out / "foreign", p12_password=b"p12-pass")
    return {
        "alice": out / "alice",
        "mallory": out / "mallory",
        "bob-expired": out / "old" / "bob",
        "foreign": out / "foreign" / "alice",
    }


def tls_network(server: NacServer, cert: Path, version: str) -> dict[str, str]:
    return {
        "eap": "TLS",
        "identity": q(cert.name),
        "ca_cert": q(str(server.data_dir / "pki" / "ca.crt")),
        "client_cert": q(f"{cert}.crt"),
        "private_key": q(f"{cert}.key"),
        "phase1": q(VERSIONS[version][0]),
    }


def tunnel_network(
    server: NacServer, method: str, inner: str, password: str, version: str
) -> dict[str, str]:
    phase1 = VERSIONS[version][0] + (" peapver=0" if method == "PEAP" else "")
    return {
        "eap": method,
        "identity": q("alice"),
        "anonymous_identity": q("anonymous"),
        "password": q(password),
        "ca_cert": q(str(server.data_dir / "pki" / "ca.crt")),
        "phase1": q(phase1),
        "phase2": q(f"auth={inner}"),
    }


def assert_vlan_100(rec: dict[str, object]) -> None:
    assert rec["result"] == "accept", rec
    assert ["Tunnel-Private-Group-Id", "100"] in rec["reply"], rec["reply"]
    assert rec["username"] == "alice"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize(
    ("method", "inner"),
    [("PEAP", "MSCHAPV2"), ("TTLS", "PAP"), ("TTLS", "MSCHAPV2")],
    ids=["peap-mschapv2", "ttls-pap", "ttls-mschapv2"],
)
def test_tunnelled_methods(
    eap_server: NacServer, peer: Peer, method: str, inner: str, version: str
) -> None:
    before = newest_id(eap_server)
    ok, out = peer.run(tunnel_network(eap_server, method, inner, "alice-pass", version))
    assert ok, out[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in out
    rec = last_audit(eap_server, before)
    assert_vlan_100(rec)
    assert rec["method"] == method.lower()
    eap = rec["eap"]
    assert isinstance(eap, dict)
    assert (eap["outer_identity"], eap["inner_identity"]) == ("anonymous", "alice")
    assert eap["tls_version"] == VERSIONS[version][1]
    if method == "PEAP":
        # Identity, PEAP Start, two handshake flights, then (TLS 1.2 only) the ACK of our
        # Finished, the inner Identity, MS-CHAPv2 challenge and success, the result TLV:
        # over TLS 1.3 the inner Identity Request rides with the session tickets.
        rounds = out.count("RADIUS message: code=11") + 1
        assert rounds == (8 if version == "1.2" else 7), rounds


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_eap_tls(eap_server: NacServer, peer: Peer, certs: dict[str, Path], version: str) -> None:
    before = newest_id(eap_server)
    ok, out = peer.run(tls_network(eap_server, certs["alice"], version))
    assert ok, out[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in out
    rec = last_audit(eap_server, before)
    assert_vlan_100(rec)
    assert rec["method"] == "eap-tls"
    assert rec["authentication_rule"] == "eap-tls-certificates"  # the demo's rule for it
    eap = rec["eap"]
    assert isinstance(eap, dict)
    assert eap["tls_version"] == VERSIONS[version][1]
    assert "CN=alice" in str(eap["certificate_subject"])
    assert eap["certificate_serial"]


def test_eap_md5(eap_server: NacServer, peer: Peer) -> None:
    before = newest_id(eap_server)
    ok, out = peer.run(
        {"eap": "MD5", "identity": q("alice"), "password": q("alice-pass")}, keys=False
    )
    assert ok, out[-3000:]
    assert_vlan_100(last_audit(eap_server, before))


def test_wrong_inner_password_is_rejected_with_the_reason(
    eap_server: NacServer, peer: Peer
) -> None:
    before = newest_id(eap_server)
    ok, _ = peer.run(tunnel_network(eap_server, "PEAP", "MSCHAPV2", "not-her-password", "1.3"))
    assert not ok
    rec = last_audit(eap_server, before)
    assert rec["result"] == "reject"
    assert rec["reason_code"] == 12011
    assert str(rec["reason"]).startswith("wrong password"), rec["reason"]


@pytest.mark.parametrize(
    ("cert", "words"),
    [("mallory", "revoked"), ("bob-expired", "expired"), ("foreign", "CA")],
    ids=["revoked", "expired", "unknown-ca"],
)
def test_bad_certificates_are_rejected_with_the_reason(
    eap_server: NacServer, peer: Peer, certs: dict[str, Path], cert: str, words: str
) -> None:
    before = newest_id(eap_server)
    network = tls_network(eap_server, certs[cert], "1.2")
    ok, out = peer.run(network)
    assert not ok, out[-2000:]
    rec = last_audit(eap_server, before)
    assert rec["result"] == "reject", rec
    assert rec["reason_code"] == 12040, rec
    assert words in str(rec["reason"]), rec["reason"]


def test_resumed_session_is_shorter_and_keeps_the_vlan(eap_server: NacServer, peer: Peer) -> None:
    """A re-authentication resumes the TLS session and skips the inner method, and the
    policy still decides: the VLAN is there again (PacketFence once lost it on resumption)."""
    before = newest_id(eap_server)
    ok, out = peer.run(
        tunnel_network(eap_server, "PEAP", "MSCHAPV2", "alice-pass", "1.2"), reauth=1
    )
    assert ok, out[-3000:]
    records = [r for r in audit(eap_server) if int(r["id"]) > before]  # type: ignore[call-overload]
    deadline = time.monotonic() + 10
    while len(records) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        records = [r for r in audit(eap_server) if int(r["id"]) > before]  # type: ignore[call-overload]
    assert len(records) == 2, records
    first, second = records
    for rec in records:
        assert_vlan_100(rec)
    assert first["eap"]["resumed"] is False  # type: ignore[index]
    assert second["eap"]["resumed"] is True  # type: ignore[index]
    assert out.count("Access-Challenge") > 0


def test_eap_with_two_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Workers share the port: each Access-Request of a conversation must reach the worker
    holding it (its State says which), whatever the authenticator and source port."""
    server = make_server(tmp_path_factory.mktemp("eap-w2"))
    server.start("--demo", "--workers", "2")
    try:
        peer = Peer(server, tmp_path_factory.mktemp("peer-w2"))
        for n in range(6):
            network = tunnel_network(
                server, "PEAP", "MSCHAPV2", "alice-pass", "1.2" if n % 2 else "1.3"
            )
            ok, out = peer.run(network)
            assert ok, f"{audit(server, 3)}\n{out[-1500:]}"
    finally:
        server.stop()
