"""`nac pki` (init, issue, revoke, export-ca, list) and the PKI line of `nac check`, through
typer's CliRunner (and `main()` where the one-line error format matters). Real files in
tmp_path, the real clock."""

from __future__ import annotations

import io
import os
import re
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from nac.cli import app, main
from nac.core.config import Settings
from nac.pki import Pki, parse_crls

PASSWORD = "p12-secret-pw"


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """NAC_DATA_DIR / NAC_DB pointing at the test data dir and database (node test-node)."""
    for key in list(os.environ):
        if key.startswith("NAC_") and key != "NAC_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("NAC_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NAC_DB", settings.database_url())
    monkeypatch.setenv("NAC_NODE_NAME", settings.node_name)
    return settings


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def pki_dir(settings: Settings) -> Path:
    return settings.data_dir / "pki"


def issue(name: str, out: Path, *more: str) -> tuple[int, str, str]:
    return run(
        "pki", "issue", name, "--out", str(out), "--p12-password-stdin", *more, input=PASSWORD
    )


def test_init_is_idempotent(env: Settings) -> None:
    code, out, _ = run("pki", "init")
    assert code == 0
    assert "CA created: CN=nac EAP CA" in out
    assert "server certificate created: DNS test-node" in out
    assert "SHA-256 fingerprint " in out
    ca_pem = (pki_dir(env) / "ca.crt").read_bytes()
    server_pem = (pki_dir(env) / "server.crt").read_bytes()
    assert (pki_dir(env) / "crl.pem").exists()

    code, out, _ = run("pki", "init", "--server-name", "radius.example.com", "--rsa")
    assert code == 0
    assert "CA already existed: CN=nac EAP CA" in out
    assert "server certificate already existed: DNS test-node" in out
    assert "--cn and --rsa only apply to a new CA" in out
    assert "--server-name was not applied" in out
    assert (pki_dir(env) / "ca.crt").read_bytes() == ca_pem
    assert (pki_dir(env) / "server.crt").read_bytes() == server_pem


def test_init_options(env: Settings) -> None:
    code, out, _ = run(
        "pki", "init", "--cn", "Lab CA", "--server-name", "radius.lab", "--server-name", "r2.lab"
    )
    assert code == 0
    assert "CA created: CN=Lab CA" in out and "DNS radius.lab, r2.lab" in out
    server = x509.load_pem_x509_certificate((pki_dir(env) / "server.crt").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["radius.lab", "r2.lab"]


def test_issue_writes_three_files(env: Settings, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, _ = issue("alice", out_dir, "--email", "alice@example.com", "--days", "30")
    assert code == 0
    assert "no CA in" in out and "CA created:" in out  # implicit init, and it says so
    assert "issued alice: serial 0x" in out
    for suffix in ("crt", "key", "p12"):
        assert str(out_dir / f"alice.{suffix}") in out
    assert stat.S_IMODE((out_dir / "alice.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out_dir / "alice.p12").stat().st_mode) == 0o600

    key, cert, cas = pkcs12.load_key_and_certificates(
        (out_dir / "alice.p12").read_bytes(), PASSWORD.encode()
    )
    crt = x509.load_pem_x509_certificate((out_dir / "alice.crt").read_bytes())
    assert key is not None and cert == crt
    assert cas == [x509.load_pem_x509_certificate((pki_dir(env) / "ca.crt").read_bytes())]
    assert f"serial 0x{crt.serial_number:x}," in out
    san = crt.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((out_dir / "alice.p12").read_bytes(), b"wrong")

    code, out, _ = issue("bob", out_dir, "--legacy-p12")  # the CA exists now: no init
    assert code == 0 and "CA created" not in out and "no CA in" not in out
    _, cert, _ = pkcs12.load_key_and_certificates(
        (out_dir / "bob.p12").read_bytes(), PASSWORD.encode()
    )
    assert cert is not None and cert.subject.rfc4514_string() == "CN=bob"


def test_issue_password_sources(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, _ = run("pki", "issue", "carol", "--out", str(tmp_path), "--p12-password", "pw")
    assert code == 0
    pkcs12.load_key_and_certificates((tmp_path / "carol.p12").read_bytes(), b"pw")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["typed-pw", "typed-pw"])
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["pki", "issue", "dave", "--out", str(tmp_path)]) == 0
    pkcs12.load_key_and_certificates((tmp_path / "dave.p12").read_bytes(), b"typed-pw")


def test_issue_without_password_is_one_line_error(
    env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["pki", "issue", "erin", "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "nac: error: no PKCS#12 password: use --p12-password-stdin, --p12-password, "
        "or run interactively\n"
    )
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "out").exists()
    assert not pki_dir(env).exists()  # refused before creating anything

    args = ["pki", "issue", "erin", "--out", str(tmp_path), "--p12-password-stdin"]
    assert main(args) == 1
    assert capsys.readouterr().err == "nac: error: no PKCS#12 password on standard input\n"
    assert main([*args, "--p12-password", "x"]) == 1
    assert capsys.readouterr().err.count("\n") == 1

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["one", "two"])
    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["pki", "issue", "erin", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "nac: error: passwords do not match\n"


def test_export_ca(env: Settings, tmp_path: Path) -> None:
    assert run("pki", "init")[0] == 0
    ca = x509.load_pem_x509_certificate((pki_dir(env) / "ca.crt").read_bytes())
    result = CliRunner().invoke(app, ["pki", "export-ca"])
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_pem_x509_certificates(result.stdout_bytes) == [ca]  # nothing else on stdout

    der = tmp_path / "ca.der"
    code, out, _ = run("pki", "export-ca", "--der", "--out", str(der))
    assert code == 0 and str(der) in out
    assert x509.load_der_x509_certificate(der.read_bytes()) == ca


def test_revoke_updates_crl_and_list(env: Settings, tmp_path: Path) -> None:
    assert issue("alice", tmp_path)[0] == 0
    assert issue("bob", tmp_path)[0] == 0
    alice = x509.load_pem_x509_certificate((tmp_path / "alice.crt").read_bytes())
    bob = x509.load_pem_x509_certificate((tmp_path / "bob.crt").read_bytes())

    code, out, _ = run("pki", "revoke", "alice")
    assert code == 0
    assert f"revoked client certificate alice (serial 0x{alice.serial_number:x})" in out
    assert "takes effect without a restart" in out
    code, out, _ = run("pki", "revoke", f"0x{bob.serial_number:x}")
    assert code == 0 and "revoked client certificate bob" in out
    code, out, _ = run("pki", "revoke", "alice")  # again: says so, keeps the first date
    assert code == 0 and "was already revoked on" in out

    (crl,) = parse_crls((pki_dir(env) / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(alice.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(bob.serial_number) is not None

    code, out, _ = run("pki", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "SERIAL", "NOT-AFTER", "REVOKED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["test-node"][1:2] == ["server"] and rows["test-node"][-1] == "no"
    assert rows["alice"][1:3] == ["client", f"0x{alice.serial_number:x}"]
    assert rows["alice"][4] == "yes" and rows["bob"][4] == "yes"

    code, _, _ = issue("alice", tmp_path / "again")  # revoked: the name can be reissued
    assert code == 0
    code, out, _ = run("pki", "list")
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("alice")][-1] == "no"


def test_errors_are_one_line(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["pki", "list"], ["pki", "revoke", "alice"], ["pki", "export-ca"]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("nac: error: ") and err.count("\n") == 1 and "nac pki init" in err
    assert not pki_dir(env).exists()

    assert main(["pki", "init"]) == 0
    capsys.readouterr()
    assert main(["pki", "revoke", "nobody"]) == 1
    assert capsys.readouterr().err == "nac: error: no certificate named 'nobody' was issued here\n"
    args = ["pki", "issue", "frank", "--out", str(tmp_path), "--p12-password", "pw"]
    assert main(args) == 0
    assert main(args) == 1  # the files are in the way
    assert capsys.readouterr().err.endswith("exists (remove it or pass overwrite)\n")
    assert main([*args, "--overwrite"]) == 1  # an active certificate for the name
    assert "revoke it first" in capsys.readouterr().err


def test_init_rejects_a_node_name_that_is_no_dns_name(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NAC_NODE_NAME", "node one")
    assert main(["pki", "init"]) == 1
    assert capsys.readouterr().err == (
        "nac: error: node name 'node one' is not a DNS name: "
        "give the server's name with --server-name\n"
    )
    assert not pki_dir(env).exists()
    assert main(["pki", "init", "--server-name", "radius.example.com"]) == 0


def test_own_pki_is_not_managed(
    env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["pki", "init", "--data-dir", str(tmp_path / "other")]) == 0
    own = tmp_path / "other" / "pki"
    monkeypatch.setenv("NAC_EAP_CA_CERT", str(own / "ca.crt"))
    monkeypatch.setenv("NAC_EAP_SERVER_CERT", str(own / "server.crt"))
    monkeypatch.setenv("NAC_EAP_SERVER_KEY", str(own / "server.key"))
    capsys.readouterr()
    assert main(["pki", "init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nac: error: eap_server_cert is set") and err.count("\n") == 1
    assert main(["pki", "export-ca"]) == 0  # the configured CA
    assert capsys.readouterr().out.encode() == (own / "ca.crt").read_bytes()
    assert run("init")[0] == 0
    code, out, _ = run("check")
    assert code == 0
    assert f"eap certificates (your own): CA {own / 'ca.crt'}, server {own / 'server.crt'}" in out
    assert "warning: eap" not in out


def test_check_prints_the_pki_line(env: Settings) -> None:
    assert run("init")[0] == 0
    code, out, _ = run("check")
    assert code == 0
    assert (
        f"eap certificates: none yet in {pki_dir(env)} "
        "('nac pki init' or the first 'nac serve' creates them)"
    ) in out
    assert "warning: eap" not in out

    assert run("pki", "init")[0] == 0
    code, out, _ = run("check")
    assert code == 0
    assert (
        f"eap certificates: CA {pki_dir(env) / 'ca.crt'}, server {pki_dir(env) / 'server.crt'} "
        "(DNS test-node, expires "
    ) in out
    assert "warning: eap" not in out

    (pki_dir(env) / "server.key").chmod(0o644)
    code, out, _ = run("check")
    assert code == 0
    assert f"warning: eap: {pki_dir(env) / 'server.key'} is accessible by group or others" in out


def test_check_warns_about_the_server_certificate(env: Settings) -> None:
    assert run("init")[0] == 0
    assert run("pki", "init")[0] == 0
    pki = Pki.for_data_dir(env.data_dir)
    pki.reissue_server(server_names=["test-node"], days=10)  # expiring within 30 days
    code, out, _ = run("check")
    assert code == 0
    assert re.search(r"warning: eap: server certificate: expires in (9|10) days", out)

    # A server certificate without the serverAuth extended key usage (a hand-made one).
    ca = pki.ca_certificate()
    ca_key = serialization.load_pem_private_key((pki_dir(env) / "ca.key").read_bytes(), None)
    server_key = serialization.load_pem_private_key(
        (pki_dir(env) / "server.key").read_bytes(), None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-node")]))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("test-node")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (pki_dir(env) / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    code, out, _ = run("check")
    assert code == 0
    assert "warning: eap: server certificate: no extended key usage: add TLS Web Server " in out
    assert "expires in" not in out
