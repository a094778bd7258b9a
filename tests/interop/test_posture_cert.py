"""Posture reports authenticated by a client certificate, end to end: a real
`nac serve --demo --web-tls`, certificates from `nac pki issue MAC`, the real
`nac-agent report --cert --key --ca` over HTTPS, `nac pki revoke` taking effect at once."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from nac.db.demo import DEMO_ENDPOINT_MAC
from nac.pki import Pki
from tests.interop.conftest import NacServer, make_server

pytestmark = pytest.mark.interop

AGENT = str(Path(sys.executable).with_name("nac-agent"))
OTHER = "00:11:22:33:44:66"
NON_COMPLIANT = {"firewall.enabled": False, "disk.encrypted": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    srv = make_server(tmp_path_factory.mktemp("posturecert"))
    # The server certificate names "localhost", so the agent can check it by URL.
    srv.cli("pki", "init", "--server-name", "localhost")
    srv.start("--demo", "--web-tls")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ca_file(server: NacServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(server.cli("pki", "export-ca").stdout)
    return path


@pytest.fixture(scope="module")
def server_name(server: NacServer) -> str:
    cert = x509.load_pem_x509_certificate((server.data_dir / "pki" / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    return "localhost"


def issue(server: NacServer, mac: str, out: Path) -> tuple[Path, Path]:
    res = server.cli("pki", "issue", mac, "--out", str(out), "--p12-password-stdin", input="pw\n")
    name = mac.replace(":", "-")
    assert f"issued {name}: serial 0x" in res.stdout, res.stdout
    return out / f"{name}.crt", out / f"{name}.key"


def agent(
    server: NacServer, server_name: str, tmp: Path, *tls: str, mac: str | None = None
) -> subprocess.CompletedProcess[str]:
    facts = tmp / "facts.json"
    facts.write_text(json.dumps(NON_COMPLIANT))
    url = f"https://{server_name}:{server.web_port}"
    argv = [AGENT, "report", "--server", url, "--facts", str(facts), "--json", *tls]
    if mac is not None:
        argv += ["--mac", mac]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def agent_with_cert(
    server: NacServer,
    server_name: str,
    tmp: Path,
    cert: Path,
    key: Path,
    ca: Path,
    *,
    mac: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``nac-agent report`` authenticated by a client certificate."""
    tls = ("--cert", str(cert), "--key", str(key), "--ca", str(ca))
    return agent(server, server_name, tmp, *tls, mac=mac)


def test_a_certificate_for_the_endpoint_reports_its_posture(
    server: NacServer, ca_file: Path, server_name: str, tmp_path: Path
) -> None:
    cert, key = issue(server, DEMO_ENDPOINT_MAC, tmp_path / "own")
    subject = x509.load_pem_x509_certificate(cert.read_bytes()).subject.rfc4514_string()
    assert subject == "CN=00-11-22-33-44-55"
    res = agent_with_cert(server, server_name, tmp_path, cert, key, ca_file)
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["mac"] == DEMO_ENDPOINT_MAC
    assert answer["state"] == "non_compliant" and answer["source"] == "certificate"
    assert [f["id"] for f in answer["failed"]] == ["firewall"]
    history = server.cli("posture", "show", DEMO_ENDPOINT_MAC).stdout
    assert "non_compliant  score 80  (by certificate)" in history, history

    # The same certificate for a report about another endpoint: 403, the MACs named.
    other = agent_with_cert(server, server_name, tmp_path, cert, key, ca_file, mac=OTHER)
    assert other.returncode == 1
    assert "HTTP 403" in other.stderr
    assert f"issued for {DEMO_ENDPOINT_MAC}, not for {OTHER}" in other.stderr

    # Revoked: refused at the next report, without a restart, in words.
    server.cli("pki", "revoke", DEMO_ENDPOINT_MAC)
    revoked = agent_with_cert(server, server_name, tmp_path, cert, key, ca_file)
    assert revoked.returncode == 1
    assert "HTTP 401" in revoked.stderr and "certificate revoked (serial 0x" in revoked.stderr


def test_a_certificate_for_another_mac_is_refused(
    server: NacServer, ca_file: Path, server_name: str, tmp_path: Path
) -> None:
    cert, key = issue(server, OTHER, tmp_path / "other")
    res = agent_with_cert(server, server_name, tmp_path, cert, key, ca_file, mac=DEMO_ENDPOINT_MAC)
    assert res.returncode == 1
    assert "HTTP 403" in res.stderr and f"certificate was issued for {OTHER}" in res.stderr


def test_no_certificate_and_no_token_is_401(
    server: NacServer, ca_file: Path, server_name: str
) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    request = urllib.request.Request(
        f"https://{server_name}:{server.web_port}/api/v1/posture/reports",
        data=json.dumps({"mac": DEMO_ENDPOINT_MAC, "facts": NON_COMPLIANT}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10, context=context)
    assert caught.value.code == 401
    detail = json.loads(caught.value.read())["detail"]
    assert "enrollment token" in detail and "client certificate" in detail


def test_a_certificate_of_a_foreign_ca_fails_the_handshake(
    server: NacServer, ca_file: Path, server_name: str, tmp_path: Path
) -> None:
    """OpenSSL refuses it (alert unknown_ca) before any HTTP: the agent says why."""
    foreign = Pki(tmp_path / "foreign-pki")
    foreign.init(common_name="Someone else's CA", server_names=["elsewhere.example"])
    issued = foreign.issue("00-11-22-33-44-55", out_dir=tmp_path / "foreign", p12_password=b"pw")
    cert, key = issued.cert_path, issued.key_path
    res = agent_with_cert(server, server_name, tmp_path, cert, key, ca_file)
    assert res.returncode == 1
    assert "refused the --cert certificate in the TLS handshake" in res.stderr or (
        "the server does not trust the CA of --cert" in res.stderr
    ), res.stderr


def test_an_expired_certificate_gets_401_in_words(
    server: NacServer, ca_file: Path, server_name: str, tmp_path: Path
) -> None:
    """The handshake lets an expired certificate of the CA through (the time is checked by
    the application): the answer says when it expired."""
    pki = Pki(server.data_dir / "pki")
    past = datetime.now(UTC) - timedelta(days=10)
    issued = pki.issue(
        "aa-bb-cc-00-77-01", out_dir=tmp_path / "old", p12_password=b"pw", days=1, now=past
    )
    res = agent_with_cert(
        server,
        server_name,
        tmp_path,
        issued.cert_path,
        issued.key_path,
        ca_file,
    )
    assert res.returncode == 1
    day = (past + timedelta(days=1)).strftime("%Y-%m-%d")
    assert "HTTP 401" in res.stderr and f"certificate expired on {day}" in res.stderr, res.stderr
