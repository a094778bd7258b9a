"""POST /api/v1/posture/reports authenticated by a client certificate: the route reads the
asgiref TLS extension (as nac.services.web_tls puts it in the scope) and checks the
certificate against the built-in CA and its CRL; where a certificate names its MAC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from sqlalchemy import select

from nac.core.config import Settings
from nac.db import crud
from nac.db.defaults import demo_policy
from nac.db.engine import Database
from nac.db.models import PostureReport
from nac.pki import Pki
from nac.services.web_tls import certificate_mac, pem_chain, tls_extension
from web.app import create_app

MAC = "aa:bb:cc:00:11:22"
OTHER = "aa:bb:cc:00:11:33"
BAD = {"firewall.enabled": False, "disk.encrypted": True}
URL = "/api/v1/posture/reports"


@pytest.fixture
def pki(settings: Settings) -> Pki:
    pki = Pki.for_data_dir(settings.data_dir)
    pki.init(server_names=["localhost"])
    return pki


@pytest.fixture
async def app(settings: Settings, database: Database, pki: Pki) -> FastAPI:
    async with database.session() as session:
        await crud.set_policy(session, document=demo_policy(), author="demo", comment="demo")
    return create_app(settings, db=database)


def issue(pki: Pki, name: str, out: Path, **kw: Any) -> x509.Certificate:
    return pki.issue(name, out_dir=out, p12_password=b"pw", **kw).certificate


def client(app: FastAPI, cert: x509.Certificate | None) -> httpx.AsyncClient:
    """The app behind a TLS connection that showed ``cert`` (the scope uvicorn's wrapped
    protocol builds)."""

    async def with_tls(scope: Any, receive: Any, send: Any) -> None:
        if cert is not None:
            scope["extensions"] = {"tls": {"client_cert_chain": pem_chain([cert])}}
        await app(scope, receive, send)

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=with_tls), base_url="https://testserver"
    )


async def test_a_certificate_reports_for_its_mac(
    app: FastAPI, pki: Pki, database: Database, tmp_path: Path
) -> None:
    cert = issue(pki, MAC.replace(":", "-"), tmp_path)
    async with client(app, cert) as agent:
        ok = await agent.post(URL, json={"facts": BAD})  # no "mac": the certificate's
        assert ok.status_code == 201, ok.text
        assert ok.json()["mac"] == MAC and ok.json()["state"] == "non_compliant"
        assert ok.json()["source"] == "certificate"
        other = await agent.post(URL, json={"mac": OTHER, "facts": BAD})
        assert other.status_code == 403
        assert other.json()["detail"] == f"this certificate was issued for {MAC}, not for {OTHER}"
    async with database.session() as session:
        rows = (await session.execute(select(PostureReport))).scalars().all()
    assert [(r.mac, r.source, r.state) for r in rows] == [(MAC, "certificate", "non_compliant")]

    pki.revoke(MAC.replace(":", "-"))
    async with client(app, cert) as agent:
        revoked = await agent.post(URL, json={"facts": BAD})
    assert revoked.status_code == 401
    assert "client certificate refused: certificate revoked (serial 0x" in revoked.text
    assert revoked.headers["www-authenticate"].startswith("Bearer")


async def test_refused_certificates_are_401_in_words(
    app: FastAPI, pki: Pki, tmp_path: Path
) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    cases = {
        "expired on": issue(pki, "aa-bb-cc-00-11-44", tmp_path / "a", days=1, now=past),
        "names no MAC address": issue(pki, "alice", tmp_path / "b"),
    }
    foreign = Pki(tmp_path / "foreign")
    foreign.init(common_name="Other CA", server_names=["x.example"])
    cases["is not a trusted CA"] = issue(foreign, "aa-bb-cc-00-11-55", tmp_path / "c")
    for words, cert in cases.items():
        async with client(app, cert) as agent:
            answer = await agent.post(URL, json={"facts": BAD})
        assert answer.status_code == 401, (words, answer.text)
        assert words in answer.json()["detail"], answer.text


async def test_neither_a_token_nor_a_certificate_is_401(app: FastAPI) -> None:
    async with client(app, None) as agent:
        answer = await agent.post(URL, json={"mac": MAC, "facts": BAD})
    assert answer.status_code == 401
    assert "enrollment token" in answer.text and "client certificate" in answer.text


def _cert(cn: str, san: list[x509.GeneralName]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_where_a_certificate_names_its_mac() -> None:
    assert certificate_mac(_cert("AA:BB:CC:00:11:22", [])) == MAC
    assert certificate_mac(_cert("aabb.cc00.1122", [])) == MAC
    urn = x509.UniformResourceIdentifier("urn:dev:mac:AABBCC001122")
    assert certificate_mac(_cert("laptop-17", [urn])) == MAC
    assert certificate_mac(_cert("laptop-17", [x509.DNSName("aa-bb-cc-00-11-22")])) == MAC
    assert certificate_mac(_cert("laptop-17", [x509.DNSName("laptop-17.example")])) is None
    assert certificate_mac(_cert("alice", [])) is None


def test_the_tls_extension_of_a_connection() -> None:
    cert = _cert(MAC, [])

    class FakeSslObject:
        def __init__(self, der: bytes | None) -> None:
            self.der = der

        def getpeercert(self, binary_form: bool) -> bytes | None:
            assert binary_form
            return self.der

        def version(self) -> str:
            return "TLSv1.3"

    shown = tls_extension(FakeSslObject(cert.public_bytes(Encoding.DER)))
    assert shown["client_cert_chain"] == pem_chain([cert])
    assert shown["client_cert_name"] == f"CN={MAC}" and shown["tls_version"] == 0x0304
    none = tls_extension(FakeSslObject(None))
    assert none["client_cert_chain"] == [] and none["client_cert_name"] is None
