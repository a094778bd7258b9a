"""`nac serve --demo --web-tls`: the console over HTTPS with the built-in CA's server
certificate, checked by real TLS clients (Python's ssl and httpx) trusting only that CA."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509

from tests.interop.conftest import NacServer, make_server

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    server = make_server(tmp_path_factory.mktemp("webtls"))
    server.start("--demo", "--web-tls")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ca_file(tls_server: NacServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA as a supplicant (or an admin's browser) gets it: `nac pki export-ca`."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(tls_server.cli("pki", "export-ca").stdout)
    return path


@pytest.fixture(scope="module")
def server_name(tls_server: NacServer) -> str:
    """The DNS name in the server certificate (the node name, as `nac serve` issues it)."""
    pem = (tls_server.data_dir / "pki" / "server.crt").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.DNSName)[0])


def test_handshake_with_the_ca_and_the_certificate_name(
    tls_server: NacServer, ca_file: Path, server_name: str
) -> None:
    assert f"port {tls_server.web_port} (web console, HTTPS)" in tls_server.log()
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", tls_server.web_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.selected_alpn_protocol() in (None, "http/1.1")
        tls.sendall(
            f"GET /login HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200")
    assert "strict-transport-security: max-age=31536000" in head


def test_untrusted_or_misnamed_certificate_is_refused(
    tls_server: NacServer, ca_file: Path, server_name: str
) -> None:
    url = f"https://127.0.0.1:{tls_server.web_port}/login"
    with (
        httpx.Client(verify=ssl.create_default_context()) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(url, extensions={"sni_hostname": server_name})
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        httpx.Client(verify=context) as client,
        pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|mismatch"),
    ):
        client.get(url, extensions={"sni_hostname": "not-" + server_name})
    # Plain HTTP on the HTTPS port gets no console.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.web_port}/login", timeout=5)


def test_login_over_https_sets_secure_cookies(
    tls_server: NacServer, ca_file: Path, server_name: str
) -> None:
    context = ssl.create_default_context(cafile=str(ca_file))
    sni = {"sni_hostname": server_name}
    with httpx.Client(
        base_url=f"https://127.0.0.1:{tls_server.web_port}", verify=context, timeout=10
    ) as client:
        form = client.get("/login", extensions=sni)
        assert form.status_code == 200
        assert form.headers["strict-transport-security"] == "max-age=31536000"
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf
        login = client.post(
            "/login",
            data={"name": "admin", "password": "admin-pass", "csrf_token": csrf.group(1)},
            extensions=sni,
        )
        assert login.status_code == 303, login.text
        (cookie,) = [c for c in login.headers.get_list("set-cookie") if "nac_session=" in c]
        assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=strict" in cookie
        me = client.get("/api/v1/me", extensions=sni)
        assert me.status_code == 200 and me.json()["name"] == "admin"
        token = client.post(
            "/api/v1/tokens",
            json={"name": "ci", "role": "admin"},
            headers={"X-CSRF-Token": me.json()["csrf_token"]},
            extensions=sni,
        ).json()["token"]
    # A script with the token: the configuration as YAML, over HTTPS.
    with httpx.Client(verify=context) as script:
        export = script.get(
            f"https://127.0.0.1:{tls_server.web_port}/api/v1/config/export",
            headers={"Authorization": f"Bearer {token}"},
            extensions=sni,
        )
    assert export.status_code == 200
    assert yaml.safe_load(export.text)["clients"][0]["name"] == "lab-switch"
    assert "testing123" not in export.text
