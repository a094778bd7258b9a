"""The built-in EAP certificate authority (nac/pki.py): files, certificates, PKCS#12, CRL and
the pure EAP-TLS chain check. Real files in tmp_path; time is fixed at NOW except where the
`openssl` tool is asked, and then it is told the time with -attime."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.pki import (
    OID_UPN,
    CertFailure,
    CertVerification,
    CrlCache,
    KeyType,
    Pki,
    PkiError,
    PkiPaths,
    _decode_utf8string,
    _encode_utf8string,
    check_server_certificate,
    load_certificates,
    parse_crls,
    verify_client_chain,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PASSWORD = b"correct horse"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")


def make_pki(
    tmp_path: Path,
    name: str = "data",
    *,
    common_name: str = "Test CA",
    key_type: KeyType = KeyType.EC_P256,
    now: datetime = NOW,
) -> Pki:
    pki = Pki.for_data_dir(tmp_path / name)
    pki.init(
        common_name=common_name,
        server_names=["radius.example.com", "radius2.example.com"],
        key_type=key_type,
        now=now,
    )
    return pki


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def crls_of(pki: Pki) -> tuple[x509.CertificateRevocationList, ...]:
    return parse_crls(pki.paths.crl.read_bytes())


def verify(pki: Pki, chain: Sequence[x509.Certificate], now: datetime = NOW) -> CertVerification:
    return verify_client_chain(chain, trusted=pki.ca_certificates(), crls=crls_of(pki), now=now)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=30)


# --------------------------------------------------------------------------------------------
# init


def test_init_creates_files_with_0600_keys_and_is_idempotent(tmp_path: Path) -> None:
    pki = Pki.for_data_dir(tmp_path / "data")
    first = pki.init(common_name="Test CA", server_names=["radius.example.com"], now=NOW)
    assert first.created_ca and first.created_server
    directory = tmp_path / "data" / "pki"
    for name in ("ca.crt", "ca.key", "server.crt", "server.key", "crl.pem", "index.json"):
        assert (directory / name).is_file(), name
    assert mode(directory / "ca.key") == 0o600
    assert mode(directory / "server.key") == 0o600
    assert mode(directory) == 0o700
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    again = pki.init(
        common_name="Another CA", server_names=["other.example.com"], now=NOW + timedelta(days=1)
    )
    assert not again.created_ca and not again.created_server
    assert again.ca_certificate == first.ca_certificate
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert [e.kind for e in pki.entries()] == ["ca", "server"]


def test_init_never_replaces_a_ca_key(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    key = pki.paths.ca_key.read_bytes()
    pki.paths.ca_cert.unlink()
    with pytest.raises(PkiError, match="refusing to create a new CA"):
        pki.init(server_names=["radius.example.com"], now=NOW)
    assert pki.paths.ca_key.read_bytes() == key
    with pytest.raises(PkiError, match="server DNS name"):
        Pki(tmp_path / "empty").init(server_names=[], now=NOW)


def test_ca_certificate_profile(tmp_path: Path) -> None:
    ca = make_pki(tmp_path).ca_certificate()
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ca.not_valid_after_utc - NOW == timedelta(days=3650)
    assert ca.subject.rfc4514_string() == "CN=Test CA"
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.signature_hash_algorithm is not None
    assert ca.signature_hash_algorithm.name == "sha256"


def test_server_certificate_has_server_auth_and_names(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    server = pki.server_chain()[0]
    ca = pki.ca_certificate()
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ExtendedKeyUsageOID.SERVER_AUTH.dotted_string == "1.3.6.1.5.5.7.3.1"
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["radius.example.com", "radius2.example.com"]
    usage = server.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert server.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert server.not_valid_after_utc - NOW == timedelta(days=825)
    server.verify_directly_issued_by(ca)
    assert check_server_certificate(server, NOW) == []
    assert pki.check(now=NOW) == []


@needs_openssl
def test_openssl_accepts_the_server_certificate_for_ssl_server(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    result = openssl(
        "verify",
        "-attime",
        str(int(NOW.timestamp())),
        "-CAfile",
        str(pki.paths.ca_cert),
        "-purpose",
        "sslserver",
        str(pki.paths.server_cert),
    )
    assert result.returncode == 0, result.stderr
    server_key = serialization.load_pem_private_key(pki.paths.server_key.read_bytes(), None)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)


def test_rsa_key_type_adds_key_encipherment(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, key_type=KeyType.RSA_2048)
    server = pki.server_chain()[0]
    key = server.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert server.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    issued = pki.issue("bob", out_dir=tmp_path / "out", p12_password=PASSWORD, now=NOW)
    client_key = issued.certificate.public_key()
    assert isinstance(client_key, rsa.RSAPublicKey)  # follows the CA's algorithm
    assert verify(pki, [issued.certificate]).ok


def test_reissue_server_replaces_files(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    old = pki.server_chain()[0]
    new = pki.reissue_server(server_names=["nac.example.net"], days=10, now=NOW)
    assert pki.server_chain()[0] == new != old
    assert mode(pki.paths.server_key) == 0o600
    assert new.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == ["nac.example.net"]
    assert pki.check(now=NOW) == ["server certificate: expires in 10 days (2025-06-11 12:00 UTC)"]


# --------------------------------------------------------------------------------------------
# issue and PKCS#12


def test_issue_writes_crt_key_and_p12(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    out = tmp_path / "out"
    issued = pki.issue(
        "alice",
        out_dir=out,
        p12_password=PASSWORD,
        email="alice@example.com",
        upn="alice@corp.example.com",
        now=NOW,
    )
    assert (issued.cert_path, issued.key_path, issued.p12_path) == (
        out / "alice.crt",
        out / "alice.key",
        out / "alice.p12",
    )
    assert mode(issued.key_path) == 0o600
    assert mode(issued.p12_path) == 0o600
    cert = load_certificates(issued.cert_path)[0]
    assert cert == issued.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string == "1.3.6.1.5.5.7.3.2"
    assert cert.not_valid_after_utc - NOW == timedelta(days=365)
    key = serialization.load_pem_private_key(issued.key_path.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == cert.public_key()

    p12_key, p12_cert, p12_cas = pkcs12.load_key_and_certificates(
        issued.p12_path.read_bytes(), PASSWORD
    )
    assert p12_cert == cert
    assert p12_key is not None and p12_key.public_key() == cert.public_key()
    assert p12_cas == [pki.ca_certificate()]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(issued.p12_path.read_bytes(), b"wrong")

    entry = pki.entries()[-1]
    assert (entry.name, entry.kind, entry.serial, entry.revoked_at) == (
        "alice",
        "client",
        cert.serial_number,
        None,
    )
    assert entry.email == "alice@example.com" and entry.upn == "alice@corp.example.com"


@needs_openssl
@pytest.mark.parametrize("legacy", [False, True], ids=["pbes2-aes256", "legacy-3des"])
def test_openssl_reads_the_p12_with_the_password(tmp_path: Path, legacy: bool) -> None:
    pki = make_pki(tmp_path)
    issued = pki.issue(
        "carol", out_dir=tmp_path / "out", p12_password=PASSWORD, legacy_p12=legacy, now=NOW
    )
    p12 = str(issued.p12_path)
    info = openssl("pkcs12", "-info", "-noout", "-in", p12, "-passin", "pass:correct horse")
    assert info.returncode == 0, info.stderr
    expected = "TripleDES" if legacy else "AES-256-CBC"
    assert expected in info.stderr + info.stdout
    certs = openssl("pkcs12", "-in", p12, "-nokeys", "-passin", "pass:correct horse")
    assert certs.returncode == 0, certs.stderr
    assert set(x509.load_pem_x509_certificates(certs.stdout.encode())) == {
        issued.certificate,
        pki.ca_certificate(),
    }
    keys = openssl("pkcs12", "-in", p12, "-nocerts", "-nodes", "-passin", "pass:correct horse")
    assert keys.returncode == 0 and "PRIVATE KEY" in keys.stdout
    wrong = openssl("pkcs12", "-info", "-noout", "-in", p12, "-passin", "pass:wrong")
    assert wrong.returncode != 0
    pkcs12.load_key_and_certificates(issued.p12_path.read_bytes(), PASSWORD)


@needs_openssl
def test_openssl_verifies_the_client_certificate_and_shows_the_upn(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    issued = pki.issue(
        "dave", out_dir=tmp_path, p12_password=PASSWORD, upn="dave@corp.example", now=NOW
    )
    result = openssl(
        "verify",
        "-attime",
        str(int(NOW.timestamp())),
        "-CAfile",
        str(pki.paths.ca_cert),
        "-purpose",
        "sslclient",
        str(issued.cert_path),
    )
    assert result.returncode == 0, result.stderr
    text = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(issued.cert_path))
    assert "UPN:" in text.stdout and "dave@corp.example" in text.stdout


def test_issue_refuses_bad_input_duplicates_and_existing_files(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    out = tmp_path / "out"
    for bad in ("", "../x", ".hidden", "a/b", "x" * 65):
        with pytest.raises(PkiError, match="not a usable certificate name"):
            pki.issue(bad, out_dir=out, p12_password=PASSWORD, now=NOW)
    with pytest.raises(PkiError, match="password"):
        pki.issue("erin", out_dir=out, p12_password=b"", now=NOW)
    with pytest.raises(PkiError, match="e-mail"):
        pki.issue("erin", out_dir=out, p12_password=PASSWORD, email="erin", now=NOW)
    pki.issue("erin", out_dir=out, p12_password=PASSWORD, now=NOW)
    with pytest.raises(AlreadyExistsError, match="exists"):
        pki.issue("erin", out_dir=tmp_path / "elsewhere", p12_password=PASSWORD, now=NOW)
    pki.revoke("erin", now=NOW)
    with pytest.raises(AlreadyExistsError, match=r"erin\.crt exists"):
        pki.issue("erin", out_dir=out, p12_password=PASSWORD, now=NOW)
    renewed = pki.issue("erin", out_dir=out, p12_password=PASSWORD, overwrite=True, now=NOW)
    assert load_certificates(out / "erin.crt") == [renewed.certificate]
    assert mode(out / "erin.key") == 0o600


def test_encrypted_ca_key_needs_its_password(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    Pki(directory, key_password=b"ca-pass").init(server_names=["radius.example.com"], now=NOW)
    assert b"ENCRYPTED PRIVATE KEY" in (directory / "ca.key").read_bytes()
    with pytest.raises(PkiError, match="is encrypted; give its password"):
        Pki(directory).issue("x", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    with pytest.raises(PkiError, match="wrong password"):
        Pki(directory, key_password=b"nope").issue(
            "x", out_dir=tmp_path, p12_password=PASSWORD, now=NOW
        )
    issued = Pki(directory, key_password=b"ca-pass").issue(
        "x", out_dir=tmp_path, p12_password=PASSWORD, now=NOW
    )
    assert verify(Pki(directory), [issued.certificate]).ok


def test_group_readable_ca_key_is_refused(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    os.chmod(pki.paths.ca_key, 0o640)
    with pytest.raises(PkiError, match="accessible by group or others"):
        pki.issue("x", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    assert any("chmod 600" in w for w in pki.check(now=NOW))


# --------------------------------------------------------------------------------------------
# verification and revocation


def test_issued_certificate_verifies_with_identity_fields(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    issued = pki.issue(
        "alice",
        out_dir=tmp_path / "out",
        p12_password=PASSWORD,
        email="alice@example.com",
        upn="alice@corp.example.com",
        dns_names=["laptop.corp.example.com"],
        now=NOW,
    )
    result = verify(pki, [issued.certificate], now=NOW + timedelta(days=5))
    assert result.ok and result.failure is None
    assert result.reason.startswith("certificate valid: 'alice' issued by 'Test CA'")
    identity = result.identity
    assert identity is not None
    assert identity.common_name == "alice"
    assert identity.subject == "CN=alice"
    assert identity.issuer == "CN=Test CA" and identity.issuer_common_name == "Test CA"
    assert identity.emails == ("alice@example.com",)
    assert identity.upns == ("alice@corp.example.com",)
    assert identity.dns_names == ("laptop.corp.example.com",)
    assert identity.organizational_units == ()
    assert identity.serial == issued.certificate.serial_number
    assert identity.serial_hex == format(issued.certificate.serial_number, "x")
    assert identity.not_after == NOW + timedelta(days=365)
    assert identity.days_to_expiry == 360
    attributes = identity.as_attributes()
    assert attributes["cert.upn"] == ("alice@corp.example.com",)
    assert attributes["cert.cn"] == ("alice",)
    assert result.path == (issued.certificate, pki.ca_certificate())


def test_revoke_puts_the_serial_in_the_crl_and_the_verifier_rejects(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    issued = pki.issue("alice", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    serial = issued.certificate.serial_number
    cache = CrlCache(pki.paths.crl)
    before = cache.refresh()
    assert len(before) == 1 and len(before[0]) == 0
    number_before = before[0].extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    trusted = pki.ca_certificates()
    assert verify_client_chain([issued.certificate], trusted=trusted, crls=before, now=NOW).ok

    entry = pki.revoke("alice", reason=x509.ReasonFlags.key_compromise, now=NOW)
    assert entry.revoked_at == NOW and entry.revocation_reason == "keyCompromise"

    crls = cache.refresh()  # the file changed: reloaded without a restart
    assert crls is not before
    crl = crls[0]
    revoked = crl.get_revoked_certificate_by_serial_number(serial)
    assert revoked is not None and revoked.revocation_date_utc == NOW
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert crl.is_signature_valid(trusted[0].public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc == NOW + timedelta(days=7)
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == number_before + 1
    assert cache.refresh() is crls  # unchanged file: no reload

    result = verify_client_chain([issued.certificate], trusted=trusted, crls=crls, now=NOW)
    assert not result.ok and result.failure is CertFailure.revoked
    assert result.reason.startswith(f"certificate revoked (serial 0x{serial:x}")
    assert result.identity is not None and result.identity.common_name == "alice"

    # again, by serial: idempotent, same revocation date
    later = NOW + timedelta(hours=1)
    assert pki.revoke(f"0x{serial:x}", now=later).revoked_at == NOW
    assert pki.revoke(serial, now=later).revoked_at == NOW
    with pytest.raises(NotFoundError):
        pki.revoke("nobody", now=NOW)
    with pytest.raises(NotFoundError):
        pki.revoke("0x1234", now=NOW)
    with pytest.raises(PkiError, match="cannot revoke itself"):
        pki.revoke(pki.ca_certificate().serial_number, now=NOW)


@needs_openssl
def test_openssl_sees_the_revocation(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    issued = pki.issue("alice", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    pki.revoke("alice", now=NOW)
    bundle = tmp_path / "ca-and-crl.pem"
    bundle.write_bytes(pki.export_ca() + pki.paths.crl.read_bytes())
    result = openssl(
        "verify",
        "-attime",
        str(int(NOW.timestamp()) + 60),
        "-crl_check",
        "-CAfile",
        str(bundle),
        str(issued.cert_path),
    )
    assert result.returncode != 0 and "revoked" in (result.stdout + result.stderr)


def test_expired_and_not_yet_valid_are_rejected(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, now=NOW - timedelta(days=400))
    old = pki.issue(
        "old", out_dir=tmp_path, p12_password=PASSWORD, days=30, now=NOW - timedelta(days=400)
    )
    result = verify(pki, [old.certificate])
    assert result.failure is CertFailure.expired
    assert result.reason == (
        f"certificate expired on 2024-05-27 12:00 UTC (serial 0x{old.certificate.serial_number:x})"
    )
    assert result.identity is not None and result.identity.days_to_expiry == -370

    future = pki.issue("future", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    early = verify(pki, [future.certificate], now=NOW - timedelta(hours=1))
    assert early.failure is CertFailure.not_yet_valid
    assert "not valid before 2025-06-01 11:55 UTC" in early.reason
    assert verify(pki, [future.certificate], now=NOW - timedelta(minutes=4)).ok  # clock skew


def test_foreign_ca_is_unknown_and_a_namesake_ca_is_a_bad_signature(tmp_path: Path) -> None:
    ours = make_pki(tmp_path, "ours")
    foreign = make_pki(tmp_path, "foreign", common_name="Foreign CA")
    namesake = make_pki(tmp_path, "namesake")  # also "CN=Test CA", another key
    stranger = foreign.issue("mallory", out_dir=tmp_path / "f", p12_password=PASSWORD, now=NOW)
    result = verify(ours, [stranger.certificate])
    assert result.failure is CertFailure.unknown_ca
    assert result.reason == "issuer 'CN=Foreign CA' of 'mallory' is not a trusted CA"
    # sending the foreign CA along does not help
    chain = [stranger.certificate, foreign.ca_certificate()]
    assert verify(ours, chain).failure is CertFailure.unknown_ca

    forged = namesake.issue("mallory", out_dir=tmp_path / "n", p12_password=PASSWORD, now=NOW)
    result = verify(ours, [forged.certificate])
    assert result.failure is CertFailure.bad_signature
    assert "does not verify" in result.reason

    none = verify_client_chain([], trusted=ours.ca_certificates(), now=NOW)
    assert none.failure is CertFailure.unknown_ca and none.identity is None


def test_a_server_certificate_is_not_a_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    result = verify(pki, pki.server_chain())
    assert result.failure is CertFailure.missing_client_auth_eku
    assert "TLS Web Client Authentication" in result.reason
    relaxed = verify_client_chain(
        pki.server_chain(), trusted=pki.ca_certificates(), now=NOW, require_client_auth_eku=False
    )
    assert relaxed.ok


# --------------------------------------------------------------------------------------------
# chains with an intermediate CA (bring your own PKI)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    path_length: int | None = None,
    eku: x509.ObjectIdentifier | None = None,
    days: int = 365,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def test_chain_through_an_intermediate(tmp_path: Path) -> None:
    root_key, int_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("Root", root_key, None, ca=True, path_length=1)
    intermediate = _cert("Issuing", int_key, (root.subject, root_key), ca=True, path_length=0)
    leaf = _cert(
        "host1",
        leaf_key,
        (intermediate.subject, int_key),
        ca=False,
        eku=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    ok = verify_client_chain([leaf, intermediate], trusted=[root], now=NOW)
    assert ok.ok and ok.path == (leaf, intermediate, root)
    missing = verify_client_chain([leaf], trusted=[root], now=NOW)
    assert missing.failure is CertFailure.unknown_ca
    # the root allows no intermediate at all
    strict_root = _cert("Root", root_key, None, ca=True, path_length=0)
    limited = verify_client_chain([leaf, intermediate], trusted=[strict_root], now=NOW)
    assert limited.failure is CertFailure.unknown_ca and "allows 0" in limited.reason
    # an "intermediate" that is not a CA
    not_ca = _cert("Issuing", int_key, (root.subject, root_key), ca=False)
    assert (
        verify_client_chain([leaf, not_ca], trusted=[root], now=NOW).failure
        is CertFailure.unknown_ca
    )
    # a revoked intermediate, on the root's CRL
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(NOW - timedelta(days=1))
        .next_update(NOW + timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(intermediate.serial_number)
            .revocation_date(NOW - timedelta(hours=1))
            .build()
        )
        .sign(root_key, hashes.SHA256())
    )
    revoked = verify_client_chain([leaf, intermediate], trusted=[root], crls=[crl], now=NOW)
    assert revoked.failure is CertFailure.revoked
    assert revoked.reason.startswith("issuing CA 'Issuing' revoked")
    # a CRL with the root's name but another key's signature is ignored
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(NOW - timedelta(days=1))
        .next_update(NOW + timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(intermediate.serial_number)
            .revocation_date(NOW)
            .build()
        )
        .sign(leaf_key, hashes.SHA256())
    )
    assert verify_client_chain([leaf, intermediate], trusted=[root], crls=[forged], now=NOW).ok


def test_bring_your_own_pki_without_a_ca_key(tmp_path: Path) -> None:
    theirs = make_pki(tmp_path, "theirs")
    issued = theirs.issue("frank", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    directory = tmp_path / "ours" / "pki"
    paths = PkiPaths.in_dir(directory).replace(
        ca_cert=theirs.paths.ca_cert,
        ca_key=tmp_path / "no-such.key",
        server_cert=theirs.paths.server_cert,
        server_key=theirs.paths.server_key,
        crl=theirs.paths.crl,
    )
    byo = Pki(directory, paths=paths)
    result = byo.init(server_names=["ignored.example.com"], now=NOW)
    assert not result.created_ca and not result.created_server
    assert verify(byo, [issued.certificate]).ok
    with pytest.raises(PkiError, match=r"CA private key .* not found"):
        byo.issue("x", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    assert byo.refresh_crl_if_due(now=NOW) is False
    assert byo.check(now=NOW) == []


# --------------------------------------------------------------------------------------------
# CRL upkeep, cache, export and checks


def test_crl_cache_keeps_the_last_good_crls(tmp_path: Path) -> None:
    missing = CrlCache(tmp_path / "none.pem")
    assert missing.refresh() == () and missing.last_error is None
    pki = make_pki(tmp_path)
    cache = CrlCache(pki.paths.crl)
    good = cache.refresh()
    assert len(good) == 1
    pki.paths.crl.write_bytes(b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n")
    assert cache.refresh() == good and cache.last_error is not None
    pki.paths.crl.unlink()
    assert cache.refresh() == good and "cannot read" in str(cache.last_error)
    pki.regenerate_crl(now=NOW)
    assert cache.refresh() != good and cache.last_error is None
    der = crls_of(pki)[0].public_bytes(serialization.Encoding.DER)
    assert parse_crls(der) == crls_of(pki)
    with pytest.raises(ValueError):
        parse_crls(b"-----BEGIN CERTIFICATE-----\n")


def test_refresh_crl_if_due(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert pki.refresh_crl_if_due(now=NOW + timedelta(days=1)) is False
    assert pki.refresh_crl_if_due(now=NOW + timedelta(days=6)) is True
    crl = crls_of(pki)[0]
    assert crl.next_update_utc == NOW + timedelta(days=13)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    stale = pki.check(now=NOW + timedelta(days=20))
    assert stale == ["CRL is past its nextUpdate (2025-06-14 12:00 UTC); refresh it"]


def test_export_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert pki.export_ca() == pki.paths.ca_cert.read_bytes()
    der = pki.export_ca(serialization.Encoding.DER)
    assert x509.load_der_x509_certificate(der) == pki.ca_certificate()


def test_check_server_certificate_warnings(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    client = pki.issue("gina", out_dir=tmp_path, p12_password=PASSWORD, now=NOW).certificate
    warnings = check_server_certificate(client, NOW)
    assert any("lacks TLS Web Server Authentication (serverAuth" in w for w in warnings)
    assert any("no subjectAltName DNS name" in w for w in warnings)
    server = pki.server_chain()[0]
    assert check_server_certificate(server, NOW + timedelta(days=800)) == [
        "expires in 25 days (2027-09-04 12:00 UTC)"
    ]
    assert check_server_certificate(server, NOW + timedelta(days=900)) == [
        "expired on 2027-09-04 12:00 UTC"
    ]
    small_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    weak = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(small_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("weak.example")]), False)
        .sign(small_key, hashes.SHA256())
    )
    assert check_server_certificate(weak, NOW) == [
        "no extended key usage: add TLS Web Server Authentication (serverAuth, "
        "1.3.6.1.5.5.7.3.1); Windows and Apple supplicants reject the server without it",
        "RSA key of 1024 bits is too small (use 2048 or more)",
    ]


def test_upn_der_encoding() -> None:
    assert _encode_utf8string("a@b") == b"\x0c\x03a@b"
    long = "ü" * 100 + "@example.com"
    encoded = _encode_utf8string(long)
    assert encoded[:3] == b"\x0c\x81\xd4"
    assert _decode_utf8string(encoded) == long
    assert _decode_utf8string(b"\x0c\x03a@b!") is None  # trailing byte
    assert _decode_utf8string(b"\x16\x03a@b") is None  # IA5String, not UTF8String
    assert _decode_utf8string(b"\x0c\x02\xff\xfe") is None
    assert OID_UPN.dotted_string == "1.3.6.1.4.1.311.20.2.3"
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_client_chain([], trusted=[], now=datetime(2025, 1, 1))


def test_peer_revocation_reads_the_crl_of_a_trusted_ca(tmp_path: Path) -> None:
    """TACACS+ over TLS: a peer certificate as ``ssl`` reports it, checked against the CRL."""
    from nac.pki import PeerRevocation

    pki = make_pki(tmp_path)
    issued = pki.issue("lab-switch", out_dir=tmp_path, p12_password=PASSWORD, now=NOW)
    peer = {"serialNumber": f"{issued.certificate.serial_number:X}"}
    check = PeerRevocation(pki.paths.crl, pki.ca_certificates())
    assert check(peer) is None
    pki.revoke("lab-switch", now=NOW)
    why = check(peer)  # the file changed: read again, no restart
    assert why is not None and why.startswith("certificate revoked (serial 0x")
    assert check({"serialNumber": "zz"}) == "certificate without a serial number"
    # A CRL not signed by a trusted CA is ignored.
    other = make_pki(tmp_path / "other")
    assert PeerRevocation(pki.paths.crl, other.ca_certificates())(peer) is None
