"""The built-in certificate authority for 802.1X (EAP-TLS, PEAP, EAP-TTLS).

A `Pki` owns one directory, by default ``<data_dir>/pki/``::

    ca.crt      the CA certificate (PEM; may be a bundle when you bring your own PKI)
    ca.key      the CA private key (PKCS#8 PEM, mode 0600, optionally encrypted)
    server.crt  the RADIUS server's EAP certificate (PEM, leaf first, then any intermediates)
    server.key  its private key (PKCS#8 PEM, mode 0600, never encrypted: the server starts alone)
    crl.pem     the CA's certificate revocation list (PEM)
    index.json  every certificate issued here: serial, name, kind, not_after, revoked_at, ...
    .lock       taken (flock) while the CA signs anything, so two commands cannot interleave

Every file is written to a temporary file created with ``os.open(..., 0o600 or 0o644)`` and
moved into place with ``os.replace`` (or ``os.link`` where an existing file must never be
replaced, as for the CA): a reader sees the old file or the new one, never half of one.

Algorithms: keys are ECDSA P-256 signed with SHA-256 by default (`KeyType.EC_P256`). Every
EAP peer in use (wpa_supplicant, Windows 7+, macOS/iOS, Android, ChromeOS) supports it, and it
keeps the certificates small, which matters in EAP: the server's chain travels in ~1000-octet
EAP fragments, one RADIUS round trip each. `KeyType.RSA_2048` / `RSA_3072` exist for old
embedded supplicants (printers, phones) that only do RSA; RSA server and client certificates
also carry keyEncipherment. PKCS#12 files are encrypted with PBES2 (PBKDF2-HMAC-SHA256,
AES-256-CBC) and a SHA-256 MAC, which OpenSSL 3 and current Windows, macOS, iOS and Android
import; ``legacy_p12=True`` uses PBE-SHA1-3DES with a SHA-1 MAC for older importers (Windows
before 10 1709, older Android and macOS keychains) that fail on PBES2.

API for the CLI (``nac pki init|issue|revoke|export-ca``)::

    pki = Pki.for_data_dir(settings.data_dir, key_password=None)    # or Pki(directory, paths=...)
    pki.init(common_name="Example NAC CA", server_names=["radius.example.com"])  -> InitResult
    pki.issue("alice", out_dir=Path("."), p12_password=b"...", email="alice@example.com",
              upn="alice@corp.example.com", days=365)                          -> IssuedCertificate
    pki.revoke("alice")  # or pki.revoke("0x1a2b...") / pki.revoke(0x1a2b)     -> IndexEntry
    pki.export_ca()      # PEM bytes (export_ca(serialization.Encoding.DER) for a single CA)
    pki.reissue_server(server_names=[...])                                      -> x509.Certificate
    pki.refresh_crl_if_due()  # call daily from `nac serve`: crl.pem's nextUpdate is 7 days out
    pki.check()          # -> list[str] of warnings for `nac check`
    pki.entries()        # -> list[IndexEntry] for a `nac pki list`

Errors are `PkiError` (a `NacError`: one line for the operator), `NotFoundError` (revoke of an
unknown name or serial) and `AlreadyExistsError` (an active certificate of that name exists, or
an output file is in the way).

Bring your own PKI: point `PkiPaths` at your files, e.g.
``Pki(d, paths=PkiPaths.in_dir(d).replace(ca_cert=..., server_cert=..., server_key=...,
crl=...))``. Without a CA key `init` only checks that the server files exist, and `issue` /
`revoke` raise `PkiError`; verification and `CrlCache` work the same.

API for EAP-TLS (the pure part does no I/O and takes `now`)::

    trusted = pki.ca_certificates()                      # once, at startup
    crl_cache = CrlCache(pki.paths.crl)                  # once
    crls = crl_cache.refresh()                           # per authentication (one stat call)
    result = verify_client_chain(peer_chain, trusted=trusted, crls=crls, now=now)
    result.ok, result.failure (CertFailure | None), result.reason ("certificate revoked
    (serial 0x..)"), result.identity (CertIdentity: common_name, issuer, emails, upns, ...)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

if TYPE_CHECKING:
    from nac.core.config import Settings

from nac.core.errors import AlreadyExistsError, NacError, NotFoundError

if sys.platform != "win32":
    import fcntl

__all__ = [
    "CA_DAYS",
    "CLIENT_DAYS",
    "CRL_DAYS",
    "OID_UPN",
    "SERVER_DAYS",
    "CertFailure",
    "CertIdentity",
    "CertVerification",
    "CrlCache",
    "IndexEntry",
    "InitResult",
    "IssuedCertificate",
    "KeyType",
    "Pki",
    "PkiError",
    "PkiPaths",
    "check_server_certificate",
    "identity_of",
    "load_certificates",
    "parse_crls",
    "verify_client_chain",
]

CA_CERT_FILE: Final = "ca.crt"
CA_KEY_FILE: Final = "ca.key"
SERVER_CERT_FILE: Final = "server.crt"
SERVER_KEY_FILE: Final = "server.key"
CRL_FILE: Final = "crl.pem"
INDEX_FILE: Final = "index.json"
LOCK_FILE: Final = ".lock"
INDEX_VERSION: Final = 1

DEFAULT_CA_NAME: Final = "nac EAP CA"
CA_DAYS: Final = 3650
SERVER_DAYS: Final = 825
CLIENT_DAYS: Final = 365
CRL_DAYS: Final = 7
EXPIRY_WARNING_DAYS: Final = 30
CA_EXPIRY_WARNING_DAYS: Final = 90
CRL_REFRESH_MARGIN: Final = timedelta(days=2)
CLOCK_SKEW: Final = timedelta(minutes=5)  # notBefore is backdated by this much
MAX_CHAIN_DEPTH: Final = 4  # intermediates between the client certificate and a trusted CA
P12_KDF_ROUNDS: Final = 100_000
MIN_RSA_BITS: Final = 2048
MIN_EC_BITS: Final = 256

OID_UPN: Final = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft User Principal Name
_OID_EMAIL_ADDRESS: Final = NameOID.EMAIL_ADDRESS  # legacy emailAddress in the subject
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,63}")
_SERIAL_RE: Final = re.compile(r"0[xX][0-9A-Fa-f]{1,40}")

SigningKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_E = TypeVar("_E", bound=x509.ExtensionType)
_ISSUER_KEY_TYPES: Final = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    dsa.DSAPublicKey,
)


class PkiError(NacError):
    """The PKI files are missing, unreadable or unsafe, or an operation cannot be done."""


class KeyType(StrEnum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"


class CertFailure(StrEnum):
    """Every reason `verify_client_chain` rejects a peer certificate chain."""

    expired = "expired"
    """A certificate in the path is past its notAfter."""
    not_yet_valid = "not_yet_valid"
    """A certificate in the path is before its notBefore (or the clock is wrong)."""
    revoked = "revoked"
    """A certificate in the path is on a CRL signed by its issuer."""
    unknown_ca = "unknown_ca"
    """No path to a trusted CA: unknown issuer, an issuer that is not a CA, too long a chain,
    or no certificate at all."""
    bad_signature = "bad_signature"
    """An issuer of the right name was found but its key does not verify the signature."""
    missing_client_auth_eku = "missing_client_auth_eku"
    """The client certificate lacks TLS Web Client Authentication (1.3.6.1.5.5.7.3.2)."""


# ---------------------------------------------------------------------------------------------
# Identity and verification (pure: no I/O, time is a parameter)


@dataclass(frozen=True, slots=True)
class CertIdentity:
    """What a policy can use from a (client) certificate. Names as RFC 4514 strings."""

    subject: str
    common_name: str | None
    issuer: str
    issuer_common_name: str | None
    emails: tuple[str, ...]  # SAN rfc822Name, then any subject emailAddress
    upns: tuple[str, ...]  # SAN otherName 1.3.6.1.4.1.311.20.2.3
    dns_names: tuple[str, ...]  # SAN dNSName (machine certificates)
    organizational_units: tuple[str, ...]
    serial: int
    not_before: datetime
    not_after: datetime
    days_to_expiry: int  # whole days from `now` to notAfter; negative once expired
    sha256_fingerprint: str  # lowercase hex

    @property
    def serial_hex(self) -> str:
        """The serial as lowercase hex without a prefix (``1a2b...``)."""
        return format(self.serial, "x")

    def as_attributes(self) -> dict[str, tuple[str, ...]]:
        """The fields as ``cert.*`` policy attributes (`AccessContext.attributes` shape)."""

        def one(value: str | None) -> tuple[str, ...]:
            return () if value is None else (value,)

        return {
            "cert.subject": (self.subject,),
            "cert.cn": one(self.common_name),
            "cert.issuer": (self.issuer,),
            "cert.issuer_cn": one(self.issuer_common_name),
            "cert.email": self.emails,
            "cert.upn": self.upns,
            "cert.dns": self.dns_names,
            "cert.ou": self.organizational_units,
            "cert.serial": (self.serial_hex,),
            "cert.not_after": (self.not_after.isoformat(),),
            "cert.days_to_expiry": (str(self.days_to_expiry),),
            "cert.sha256": (self.sha256_fingerprint,),
        }


@dataclass(frozen=True, slots=True)
class CertVerification:
    """The outcome of `verify_client_chain`. `reason` is ready for the audit log."""

    ok: bool
    failure: CertFailure | None
    reason: str
    identity: CertIdentity | None  # of the leaf; None only when no certificate was presented
    path: tuple[x509.Certificate, ...] = field(default=(), repr=False, compare=False)


def identity_of(cert: x509.Certificate, now: datetime) -> CertIdentity:
    """The identity fields of `cert`; `days_to_expiry` counted from `now` (aware)."""
    _require_aware(now)
    emails: list[str] = []
    upns: list[str] = []
    dns_names: list[str] = []
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        emails.extend(san.get_values_for_type(x509.RFC822Name))
        dns_names.extend(san.get_values_for_type(x509.DNSName))
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == OID_UPN:
                upn = _decode_utf8string(other.value)
                if upn is not None:
                    upns.append(upn)
    for attr in cert.subject.get_attributes_for_oid(_OID_EMAIL_ADDRESS):
        value = _attr_text(attr)
        if value not in emails:
            emails.append(value)
    not_after = cert.not_valid_after_utc
    return CertIdentity(
        subject=cert.subject.rfc4514_string(),
        common_name=_common_name(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_common_name(cert.issuer),
        emails=tuple(emails),
        upns=tuple(upns),
        dns_names=tuple(dns_names),
        organizational_units=tuple(
            _attr_text(a)
            for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        ),
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_to_expiry=(not_after - now).days,
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def verify_client_chain(
    chain: Sequence[x509.Certificate],
    *,
    trusted: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    now: datetime,
    require_client_auth_eku: bool = True,
    max_depth: int = MAX_CHAIN_DEPTH,
) -> CertVerification:
    """Check an EAP-TLS peer's chain (leaf first, as sent in the TLS Certificate message).

    The path runs from the leaf through certificates of `chain` to any certificate in
    `trusted` (each one is an anchor). Checks, in order: a path exists (unknown_ca) and its
    signatures verify (bad_signature); no certificate in it is on a CRL signed by its issuer
    (revoked); each is within its validity at `now` (expired, not_yet_valid); the leaf has the
    clientAuth extended key usage (missing_client_auth_eku). A CRL whose issuer or signature
    does not match is ignored; an issuer without a CRL is not an error (nothing is revoked),
    and a CRL past its nextUpdate still counts (its revocations still hold). Pure and
    synchronous: fit for the hot path.
    """
    _require_aware(now)
    if not chain:
        return CertVerification(
            False, CertFailure.unknown_ca, "no client certificate presented", None
        )
    leaf = chain[0]
    identity = identity_of(leaf, now)

    def fail(failure: CertFailure, reason: str) -> CertVerification:
        return CertVerification(False, failure, reason, identity)

    path = _build_path(leaf, chain[1:], trusted, max_depth)
    if isinstance(path, _Rejected):
        return fail(path.failure, path.reason)

    for index, (cert, issuer) in enumerate(itertools.pairwise(path)):
        entry = _revoked_entry(cert, issuer, crls)
        if entry is not None:
            when = entry.revocation_date_utc.strftime("%Y-%m-%d %H:%M UTC")
            what = "certificate" if index == 0 else f"issuing CA {_label(cert)}"
            return fail(
                CertFailure.revoked,
                f"{what} revoked (serial 0x{cert.serial_number:x}, on {when})",
            )

    for index, cert in enumerate(path):
        what = "certificate" if index == 0 else f"CA certificate {_label(cert)}"
        if now < cert.not_valid_before_utc:
            return fail(
                CertFailure.not_yet_valid,
                f"{what} not valid before {_day(cert.not_valid_before_utc)} "
                f"(serial 0x{cert.serial_number:x})",
            )
        if now > cert.not_valid_after_utc:
            return fail(
                CertFailure.expired,
                f"{what} expired on {_day(cert.not_valid_after_utc)} "
                f"(serial 0x{cert.serial_number:x})",
            )

    if require_client_auth_eku:
        try:
            eku = _extension(leaf, x509.ExtendedKeyUsage)
        except ValueError as exc:
            return fail(CertFailure.missing_client_auth_eku, f"unreadable extensions: {exc}")
        if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return fail(
                CertFailure.missing_client_auth_eku,
                "certificate lacks the TLS Web Client Authentication extended key usage "
                f"(serial 0x{leaf.serial_number:x})",
            )

    return CertVerification(
        True,
        None,
        f"certificate valid: {_label(leaf)} issued by {_label(path[-1])}, "
        f"serial 0x{leaf.serial_number:x}, expires in {identity.days_to_expiry} days",
        identity,
        tuple(path),
    )


@dataclass(frozen=True, slots=True)
class _Rejected:
    failure: CertFailure
    reason: str


def _build_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    max_depth: int,
) -> list[x509.Certificate] | _Rejected:
    path = [leaf]
    pool = list(intermediates)
    current = leaf
    for _ in range(max_depth + 1):
        name_matched = False
        not_ca: x509.Certificate | None = None
        for ca in trusted:
            if ca.subject != current.issuer:
                continue
            name_matched = True
            if _signed_by(current, ca):
                if _is_ca(ca):
                    path.append(ca)
                    return _check_path_lengths(path)
                not_ca = ca
        for candidate in pool:
            if candidate.subject != current.issuer or candidate == current:
                continue
            name_matched = True
            if _signed_by(current, candidate):
                if _is_ca(candidate):
                    pool.remove(candidate)
                    path.append(candidate)
                    current = candidate
                    break
                not_ca = candidate
        else:
            if not_ca is not None:
                return _Rejected(
                    CertFailure.unknown_ca,
                    f"issuer {_label(not_ca)} of {_label(current)} is not a CA certificate",
                )
            if name_matched:
                return _Rejected(
                    CertFailure.bad_signature,
                    f"signature on {_label(current)} does not verify with the key of its "
                    f"issuer {current.issuer.rfc4514_string()!r}",
                )
            return _Rejected(
                CertFailure.unknown_ca,
                f"issuer {current.issuer.rfc4514_string()!r} of {_label(current)} "
                "is not a trusted CA",
            )
    return _Rejected(
        CertFailure.unknown_ca, f"no trusted CA within {max_depth} intermediate certificates"
    )


def _check_path_lengths(
    path: list[x509.Certificate],
) -> list[x509.Certificate] | _Rejected:
    # path[k] for k >= 1 is a CA with k - 1 intermediate CAs below it.
    for k in range(2, len(path)):
        constraints = _extension(path[k], x509.BasicConstraints)
        limit = constraints.path_length if constraints is not None else None
        if limit is not None and k - 1 > limit:
            return _Rejected(
                CertFailure.unknown_ca,
                f"{_label(path[k])} allows {limit} intermediate CAs below it, "
                f"the chain has {k - 1}",
            )
    return path


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = _extension(cert, x509.BasicConstraints)
        usage = _extension(cert, x509.KeyUsage)
    except ValueError:
        return False
    if constraints is None or not constraints.ca:
        return False
    return usage is None or usage.key_cert_sign


def _revoked_entry(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
) -> x509.RevokedCertificate | None:
    for crl in crls:
        if not _crl_signed_by(crl, issuer):
            continue
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return entry
    return None


def check_server_certificate(
    cert: x509.Certificate, now: datetime, *, warn_days: int = EXPIRY_WARNING_DAYS
) -> list[str]:
    """Warnings about an EAP server certificate, for ``nac check``; empty when it looks fine."""
    _require_aware(now)
    warnings: list[str] = []
    try:
        eku = _extension(cert, x509.ExtendedKeyUsage)
        san = _extension(cert, x509.SubjectAlternativeName)
        constraints = _extension(cert, x509.BasicConstraints)
    except ValueError as exc:
        return [f"cannot read the certificate's extensions: {exc}"]
    if eku is None:
        warnings.append(
            "no extended key usage: add TLS Web Server Authentication (serverAuth, "
            "1.3.6.1.5.5.7.3.1); Windows and Apple supplicants reject the server without it"
        )
    elif ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        warnings.append(
            "extended key usage lacks TLS Web Server Authentication (serverAuth, "
            "1.3.6.1.5.5.7.3.1); Windows and Apple supplicants reject the server without it"
        )
    not_after = cert.not_valid_after_utc
    if now > not_after:
        warnings.append(f"expired on {_day(not_after)}")
    elif now < cert.not_valid_before_utc:
        warnings.append(f"not valid before {_day(cert.not_valid_before_utc)}")
    elif not_after - now <= timedelta(days=warn_days):
        warnings.append(f"expires in {(not_after - now).days} days ({_day(not_after)})")
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        warnings.append(f"RSA key of {key.key_size} bits is too small (use {MIN_RSA_BITS} or more)")
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        warnings.append(f"EC key on {key.curve.name} is too small (use P-256 or larger)")
    elif isinstance(key, dsa.DSAPublicKey):
        warnings.append("DSA keys are not supported by EAP supplicants (use EC P-256 or RSA)")
    algorithm = cert.signature_hash_algorithm
    if isinstance(algorithm, hashes.SHA1 | hashes.MD5):
        warnings.append(f"signed with {algorithm.name.upper()}; modern supplicants reject it")
    if san is None or not san.get_values_for_type(x509.DNSName):
        warnings.append(
            "no subjectAltName DNS name: supplicants that check the server name "
            "(wpa_supplicant domain_match, Android 'Domain') cannot match it"
        )
    if constraints is not None and constraints.ca:
        warnings.append("is a CA certificate (basicConstraints CA:TRUE); issue a leaf instead")
    return warnings


# ---------------------------------------------------------------------------------------------
# CRLs: parsing (pure) and a cache that reloads the file when it changes


def parse_crls(data: bytes) -> tuple[x509.CertificateRevocationList, ...]:
    """Every CRL in `data`: one DER CRL, or any number of PEM ``X509 CRL`` blocks.

    Raises ValueError for data that holds no CRL or a damaged one.
    """
    if b"-----BEGIN" not in data:
        return (x509.load_der_x509_crl(data),)
    blocks = re.findall(
        rb"-----BEGIN X509 CRL-----\r?\n.*?-----END X509 CRL-----", data, flags=re.DOTALL
    )
    if not blocks:
        raise ValueError("no 'BEGIN X509 CRL' block found")
    return tuple(x509.load_pem_x509_crl(block) for block in blocks)


class CrlCache:
    """The CRLs in one file, reloaded when the file changes (mtime, size or inode).

    `refresh()` is the I/O (one stat call; a read and parse only after a change) and belongs
    before the pure `verify_client_chain`. A file that disappears or fails to parse keeps the
    last good CRLs (a revocation is never forgotten by accident); `last_error` says why.
    """

    __slots__ = ("_crls", "_stamp", "last_error", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._crls: tuple[x509.CertificateRevocationList, ...] = ()
        self._stamp: tuple[int, int, int] | None = None
        self.last_error: str | None = None

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        return self._crls

    def refresh(self) -> tuple[x509.CertificateRevocationList, ...]:
        try:
            info = os.stat(self.path)
        except OSError as exc:
            if self._stamp is not None or not isinstance(exc, FileNotFoundError):
                self.last_error = f"cannot read {self.path}: {exc.strerror or exc}"
            return self._crls
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return self._crls
        try:
            crls = parse_crls(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            self.last_error = f"cannot load {self.path}: {exc}"
            return self._crls
        self._crls = crls
        self._stamp = stamp
        self.last_error = None
        return crls


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates in a PEM file (or the one in a DER file). Raises PkiError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path} does not exist (run 'nac pki init')") from None
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise PkiError(f"{path} holds no readable certificate: {exc}") from None
    return certs


# ---------------------------------------------------------------------------------------------
# The certificate authority on disk


@dataclass(frozen=True, slots=True)
class PkiPaths:
    """Where the PKI files live. `in_dir` gives the default layout; replace any for BYO."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    crl: Path
    index: Path

    @classmethod
    def in_dir(cls, directory: Path) -> PkiPaths:
        return cls(
            ca_cert=directory / CA_CERT_FILE,
            ca_key=directory / CA_KEY_FILE,
            server_cert=directory / SERVER_CERT_FILE,
            server_key=directory / SERVER_KEY_FILE,
            crl=directory / CRL_FILE,
            index=directory / INDEX_FILE,
        )

    def replace(self, **changes: Path) -> PkiPaths:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One certificate issued by this CA, as recorded in ``index.json``."""

    serial: int
    name: str
    kind: str  # "ca" | "server" | "client"
    issued_at: datetime
    not_after: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None  # x509.ReasonFlags value, e.g. "keyCompromise"
    email: str | None = None
    upn: str | None = None

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now <= self.not_after

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial_hex,
            "name": self.name,
            "kind": self.kind,
            "issued_at": self.issued_at.isoformat(),
            "not_after": self.not_after.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "email": self.email,
            "upn": self.upn,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexEntry:
        revoked = data.get("revoked_at")
        return cls(
            serial=int(str(data["serial"]), 16),
            name=str(data["name"]),
            kind=str(data.get("kind", "client")),
            issued_at=datetime.fromisoformat(str(data["issued_at"])),
            not_after=datetime.fromisoformat(str(data["not_after"])),
            revoked_at=datetime.fromisoformat(str(revoked)) if revoked else None,
            revocation_reason=data.get("revocation_reason"),
            email=data.get("email"),
            upn=data.get("upn"),
        )


@dataclass(frozen=True, slots=True)
class InitResult:
    created_ca: bool
    created_server: bool
    ca_certificate: x509.Certificate = field(repr=False)
    server_certificate: x509.Certificate = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    entry: IndexEntry
    certificate: x509.Certificate = field(repr=False)
    cert_path: Path
    key_path: Path
    p12_path: Path


@dataclass(slots=True)
class _Index:
    crl_number: int = 0
    entries: list[IndexEntry] = field(default_factory=list)


class Pki:
    """The CA in one directory. Every method that takes `now` uses the clock when it is None."""

    __slots__ = ("_key_password", "directory", "paths")

    def __init__(
        self,
        directory: Path,
        *,
        paths: PkiPaths | None = None,
        key_password: bytes | None = None,
    ) -> None:
        self.directory = directory
        self.paths = paths if paths is not None else PkiPaths.in_dir(directory)
        self._key_password = key_password or None

    def __repr__(self) -> str:
        return f"Pki({str(self.directory)!r})"

    @classmethod
    def for_data_dir(
        cls, data_dir: Path, *, paths: PkiPaths | None = None, key_password: bytes | None = None
    ) -> Pki:
        """The PKI under ``<data_dir>/pki/``."""
        return cls(data_dir / "pki", paths=paths, key_password=key_password)

    @classmethod
    def configured(
        cls,
        data_dir: Path,
        *,
        ca_cert: Path | None = None,
        server_cert: Path | None = None,
        server_key: Path | None = None,
    ) -> Pki:
        """The EAP certificates a server uses: your own files when the three are given
        (settings ``eap_ca_cert``, ``eap_server_cert``, ``eap_server_key``), else the
        built-in CA under ``<data_dir>/pki/``."""
        paths = None
        if server_cert is not None:
            if ca_cert is None or server_key is None:
                raise PkiError("the CA certificate, server certificate and key go together")
            paths = PkiPaths.in_dir(data_dir / "pki").replace(
                ca_cert=ca_cert, server_cert=server_cert, server_key=server_key
            )
        return cls.for_data_dir(data_dir, paths=paths)

    # -- reading ----------------------------------------------------------------------------

    def ca_certificates(self) -> list[x509.Certificate]:
        """The trusted CA certificates (``ca.crt``; several for a BYO bundle)."""
        return load_certificates(self.paths.ca_cert)

    def ca_certificate(self) -> x509.Certificate:
        """The CA that signs here: the first certificate in ``ca.crt``."""
        return self.ca_certificates()[0]

    def server_chain(self) -> list[x509.Certificate]:
        """``server.crt``: the server certificate first, then any intermediates."""
        return load_certificates(self.paths.server_cert)

    def export_ca(self, encoding: serialization.Encoding = serialization.Encoding.PEM) -> bytes:
        """The CA certificate(s) to install on supplicants: PEM, or DER for a single CA."""
        certs = self.ca_certificates()
        if encoding is serialization.Encoding.PEM:
            return b"".join(c.public_bytes(encoding) for c in certs)
        if encoding is serialization.Encoding.DER:
            if len(certs) != 1:
                raise PkiError(f"{self.paths.ca_cert} holds {len(certs)} certificates; use PEM")
            return certs[0].public_bytes(encoding)
        raise PkiError(f"cannot export the CA as {encoding}")

    def entries(self) -> list[IndexEntry]:
        """Every certificate issued here, oldest first."""
        return list(self._read_index().entries)

    # -- creating ---------------------------------------------------------------------------

    def init(
        self,
        *,
        common_name: str = DEFAULT_CA_NAME,
        server_names: Sequence[str],
        key_type: KeyType = KeyType.EC_P256,
        ca_days: int = CA_DAYS,
        server_days: int = SERVER_DAYS,
        now: datetime | None = None,
    ) -> InitResult:
        """Create the CA, the server certificate and an empty CRL, each only if absent.

        Idempotent: an existing CA is never replaced (a CA key without its certificate is an
        error, not a reason to start over); an existing server certificate is kept (use
        `reissue_server` to change its names).
        """
        now = _clock(now)
        if not server_names:
            raise PkiError("give at least one server DNS name for the EAP server certificate")
        with self._locked():
            created_ca = False
            if not self.paths.ca_cert.exists():
                if self.paths.ca_key.exists():
                    raise PkiError(
                        f"{self.paths.ca_key} exists but {self.paths.ca_cert} does not; "
                        "refusing to create a new CA over an existing key"
                    )
                self._create_ca(common_name, key_type, ca_days, now)
                created_ca = True
            ca = self.ca_certificate()
            created_server = False
            if not self.paths.server_cert.exists():
                if self.paths.server_key.exists():
                    raise PkiError(
                        f"{self.paths.server_key} exists but {self.paths.server_cert} does not; "
                        "remove it or use reissue_server"
                    )
                server_key_type = key_type if created_ca else None  # else: the CA's algorithm
                self._issue_server(server_names, server_key_type, server_days, now, replace=False)
                created_server = True
            if not self.paths.crl.exists() and self.paths.ca_key.exists():
                self._write_crl(self._read_index(), now)
            return InitResult(
                created_ca=created_ca,
                created_server=created_server,
                ca_certificate=ca,
                server_certificate=self.server_chain()[0],
            )

    def reissue_server(
        self,
        *,
        server_names: Sequence[str],
        key_type: KeyType | None = None,
        days: int = SERVER_DAYS,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """A new server key and certificate, replacing ``server.key`` and ``server.crt``.

        `key_type` defaults to the CA's algorithm. The old certificate stays valid until it
        expires (revoke it by serial if its key leaked). Restart the server to use the new one.
        """
        now = _clock(now)
        if not server_names:
            raise PkiError("give at least one server DNS name for the EAP server certificate")
        with self._locked():
            return self._issue_server(server_names, key_type, days, now, replace=True)

    def issue(
        self,
        name: str,
        *,
        out_dir: Path,
        p12_password: bytes,
        email: str | None = None,
        upn: str | None = None,
        dns_names: Sequence[str] = (),
        days: int = CLIENT_DAYS,
        key_type: KeyType | None = None,
        legacy_p12: bool = False,
        overwrite: bool = False,
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """Issue a client certificate for EAP-TLS: ``out_dir/NAME.crt``, ``.key``, ``.p12``.

        Subject CN=name; SAN rfc822Name `email`, otherName UPN `upn`, dNSName `dns_names`
        (machine certificates) when given; EKU clientAuth. The PKCS#12 holds the key, the
        certificate and the CA, encrypted with `p12_password`. Refuses a name that already
        has an active certificate (revoke it first) and, unless `overwrite`, existing files.
        """
        now = _clock(now)
        _check_name(name)
        _check_days(days)
        if not p12_password:
            raise PkiError("the PKCS#12 password must not be empty")
        if email is not None and ("@" not in email or not email.isascii()):
            raise PkiError(f"{email!r} is not an e-mail address (ASCII, with '@')")
        if upn is not None and not upn:
            raise PkiError("the UPN must not be empty")
        dns = [_check_dns_name(n) for n in dns_names]
        cert_path = out_dir / f"{name}.crt"
        key_path = out_dir / f"{name}.key"
        p12_path = out_dir / f"{name}.p12"
        if not overwrite:
            for path in (cert_path, key_path, p12_path):
                if path.exists():
                    raise AlreadyExistsError(f"{path} exists (remove it or pass overwrite)")
        with self._locked():
            index = self._read_index()
            for entry in index.entries:
                if entry.name == name and entry.kind == "client" and entry.is_active(now):
                    raise AlreadyExistsError(
                        f"an active certificate for {name!r} exists "
                        f"(serial 0x{entry.serial_hex}); revoke it first"
                    )
            ca = self.ca_certificate()
            ca_key = self._load_ca_key(ca)
            key = _generate_key(key_type or _key_type_of(ca_key))
            san: list[x509.GeneralName] = []
            if email is not None:
                san.append(x509.RFC822Name(email))
            if upn is not None:
                san.append(x509.OtherName(OID_UPN, _encode_utf8string(upn)))
            san.extend(x509.DNSName(n) for n in dns)
            builder = _leaf_builder(
                ca, key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), days, now
            )
            builder = builder.add_extension(_leaf_key_usage(key), critical=True).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            cert = builder.sign(ca_key, hashes.SHA256())
            entry = IndexEntry(
                serial=cert.serial_number,
                name=name,
                kind="client",
                issued_at=now,
                not_after=cert.not_valid_after_utc,
                email=email,
                upn=upn,
            )
            index.entries.append(entry)
            self._write_index(index)  # recorded before handed out: it can always be revoked
            p12 = pkcs12.serialize_key_and_certificates(
                name.encode("utf-8"), key, cert, [ca], _p12_encryption(p12_password, legacy_p12)
            )
            out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_file(cert_path, _pem(cert), mode=0o644, replace=overwrite)
            _write_file(key_path, _key_pem(key, None), mode=0o600, replace=overwrite)
            _write_file(p12_path, p12, mode=0o600, replace=overwrite)
        return IssuedCertificate(entry, cert, cert_path, key_path, p12_path)

    def revoke(
        self,
        name_or_serial: str | int,
        *,
        reason: x509.ReasonFlags | None = None,
        now: datetime | None = None,
    ) -> IndexEntry:
        """Revoke by name (its active certificate) or serial (int, or ``"0x..."``) and re-sign
        ``crl.pem``. Revoking a revoked certificate keeps its first revocation (date and
        reason), re-signs the CRL and returns the entry. A name picks its active certificate,
        else its newest one.
        """
        now = _clock(now)
        with self._locked():
            index = self._read_index()
            position = _find_entry(index.entries, name_or_serial, now)
            entry = index.entries[position]
            if entry.kind == "ca":
                raise PkiError("the CA cannot revoke itself; create a new PKI instead")
            if entry.revoked_at is None:
                entry = replace(
                    entry,
                    revoked_at=now,
                    revocation_reason=reason.value if reason is not None else None,
                )
                index.entries[position] = entry
                self._write_index(index)
            self._write_crl(index, now)
            return entry

    def regenerate_crl(self, *, now: datetime | None = None) -> x509.CertificateRevocationList:
        """Re-sign ``crl.pem`` (a new CRL number, nextUpdate `CRL_DAYS` from `now`)."""
        now = _clock(now)
        with self._locked():
            return self._write_crl(self._read_index(), now)

    def refresh_crl_if_due(
        self, *, now: datetime | None = None, margin: timedelta = CRL_REFRESH_MARGIN
    ) -> bool:
        """Re-sign the CRL when it is missing or its nextUpdate is within `margin`.

        For a daily task in ``nac serve`` (and ``nac check --fix``); False when nothing was
        due or there is no CA key to sign with (BYO PKI).
        """
        now = _clock(now)
        if not self.paths.ca_key.exists():
            return False
        try:
            crls = parse_crls(self.paths.crl.read_bytes())
            next_update = crls[0].next_update_utc
        except (OSError, ValueError):
            next_update = None
        if next_update is not None and next_update - now > margin:
            return False
        self.regenerate_crl(now=now)
        return True

    def check(self, *, now: datetime | None = None) -> list[str]:
        """Warnings about the whole PKI for ``nac check``: files, expiry, CRL, key modes."""
        now = _clock(now)
        warnings: list[str] = []
        try:
            cas = self.ca_certificates()
        except PkiError as exc:
            return [f"PKI: {exc}"]
        for ca in cas:
            if now > ca.not_valid_after_utc:
                warnings.append(f"CA {_label(ca)} expired on {_day(ca.not_valid_after_utc)}")
            elif ca.not_valid_after_utc - now <= timedelta(days=CA_EXPIRY_WARNING_DAYS):
                warnings.append(f"CA {_label(ca)} expires on {_day(ca.not_valid_after_utc)}")
        try:
            chain = self.server_chain()
        except PkiError as exc:
            warnings.append(f"server certificate: {exc}")
            chain = []
        if chain:
            server = chain[0]
            warnings.extend(
                f"server certificate: {w}" for w in check_server_certificate(server, now)
            )
            if not any(_signed_by(server, issuer) for issuer in [*chain[1:], *cas]):
                warnings.append(
                    f"server certificate is not issued by a CA in {self.paths.ca_cert}; "
                    "supplicants configured with that CA will reject it"
                )
            warnings.extend(self._check_server_key(server))
        for key_path in (self.paths.ca_key, self.paths.server_key):
            warnings.extend(_check_key_mode(key_path))
        try:
            crls = parse_crls(self.paths.crl.read_bytes())
        except FileNotFoundError:
            if self.paths.ca_key.exists():
                warnings.append(f"{self.paths.crl} is missing (revoke or refresh re-creates it)")
        except (OSError, ValueError) as exc:
            warnings.append(f"{self.paths.crl} is unreadable: {exc}")
        else:
            for crl in crls:
                next_update = crl.next_update_utc
                if next_update is not None and next_update < now:
                    warnings.append(f"CRL is past its nextUpdate ({_day(next_update)}); refresh it")
                if not any(
                    crl.issuer == ca.subject
                    and isinstance(key := ca.public_key(), _ISSUER_KEY_TYPES)
                    and crl.is_signature_valid(key)
                    for ca in cas
                ):
                    warnings.append(f"CRL by {crl.issuer.rfc4514_string()!r} is not signed by a CA")
        return warnings

    # -- internals --------------------------------------------------------------------------

    def _create_ca(self, common_name: str, key_type: KeyType, days: int, now: datetime) -> None:
        _check_days(days)
        if not common_name or len(common_name) > 64:
            raise PkiError("the CA common name must be 1 to 64 characters")
        key = _generate_key(key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The key first: a crash in between leaves a key without a certificate, which init
        # refuses to paper over, rather than a certificate nobody can sign with.
        _write_file(self.paths.ca_key, _key_pem(key, self._key_password), mode=0o600, replace=False)
        _write_file(self.paths.ca_cert, _pem(cert), mode=0o644, replace=False)
        index = self._read_index()
        index.entries.append(
            IndexEntry(
                serial=cert.serial_number,
                name=common_name,
                kind="ca",
                issued_at=now,
                not_after=cert.not_valid_after_utc,
            )
        )
        self._write_index(index)

    def _issue_server(
        self,
        server_names: Sequence[str],
        key_type: KeyType | None,
        days: int,
        now: datetime,
        *,
        replace: bool,
    ) -> x509.Certificate:
        _check_days(days)
        names = [_check_dns_name(n) for n in server_names]
        ca = self.ca_certificate()
        ca_key = self._load_ca_key(ca)
        key = _generate_key(key_type or _key_type_of(ca_key))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
        cert = (
            _leaf_builder(ca, key, subject, days, now)
            .add_extension(_leaf_key_usage(key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        index = self._read_index()
        index.entries.append(
            IndexEntry(
                serial=cert.serial_number,
                name=names[0],
                kind="server",
                issued_at=now,
                not_after=cert.not_valid_after_utc,
            )
        )
        self._write_index(index)
        _write_file(self.paths.server_key, _key_pem(key, None), mode=0o600, replace=replace)
        _write_file(self.paths.server_cert, _pem(cert), mode=0o644, replace=replace)
        return cert

    def _write_crl(self, index: _Index, now: datetime) -> x509.CertificateRevocationList:
        ca = self.ca_certificate()
        ca_key = self._load_ca_key(ca)
        number = index.crl_number
        with contextlib.suppress(OSError, ValueError, x509.ExtensionNotFound, IndexError):
            previous = parse_crls(self.paths.crl.read_bytes())[0]
            number = max(
                number, previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            )
        number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now)
            .next_update(now + timedelta(days=CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(_authority_key_id(ca), critical=False)
        )
        for entry in index.entries:
            if entry.revoked_at is None:
                continue
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
            )
            if entry.revocation_reason is not None:
                revoked = revoked.add_extension(
                    x509.CRLReason(x509.ReasonFlags(entry.revocation_reason)), critical=False
                )
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(ca_key, hashes.SHA256())
        _write_file(
            self.paths.crl, crl.public_bytes(serialization.Encoding.PEM), mode=0o644, replace=True
        )
        index.crl_number = number
        self._write_index(index)
        return crl

    def _load_ca_key(self, ca: x509.Certificate) -> SigningKey:
        path = self.paths.ca_key
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise PkiError(
                f"CA private key {path} not found; with your own CA, issue and revoke there"
            ) from None
        except OSError as exc:
            raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise PkiError(
                    f"CA key {path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read()
        finally:
            os.close(fd)
        try:
            key = serialization.load_pem_private_key(data, password=self._key_password)
        except TypeError:
            if self._key_password is None:
                raise PkiError(f"CA key {path} is encrypted; give its password") from None
            raise PkiError(f"CA key {path} is not encrypted, but a password was given") from None
        except ValueError:
            raise PkiError(f"cannot load CA key {path}: wrong password or damaged file") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise PkiError(f"CA key {path} is neither EC nor RSA")
        if key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != _spki(ca):
            raise PkiError(f"CA key {path} does not belong to {self.paths.ca_cert}")
        return key

    def _check_server_key(self, server: x509.Certificate) -> list[str]:
        try:
            data = self.paths.server_key.read_bytes()
            key = serialization.load_pem_private_key(data, password=None)
        except FileNotFoundError:
            return [f"server key {self.paths.server_key} is missing"]
        except (OSError, TypeError, ValueError) as exc:
            return [f"server key {self.paths.server_key} is unreadable: {exc}"]
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            return [f"server key {self.paths.server_key} is neither EC nor RSA"]
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki != _spki(server):
            return [f"server key {self.paths.server_key} does not match the server certificate"]
        return []

    def _read_index(self) -> _Index:
        try:
            raw = self.paths.index.read_bytes()
        except FileNotFoundError:
            return _Index()
        except OSError as exc:
            raise PkiError(f"cannot read {self.paths.index}: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw)
            if data.get("version") != INDEX_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            return _Index(
                crl_number=int(data.get("crl_number", 0)),
                entries=[IndexEntry.from_json(e) for e in data["certificates"]],
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PkiError(f"{self.paths.index} is damaged: {exc}") from None

    def _write_index(self, index: _Index) -> None:
        data = {
            "version": INDEX_VERSION,
            "crl_number": index.crl_number,
            "certificates": [e.to_json() for e in index.entries],
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        _write_file(self.paths.index, text.encode("utf-8"), mode=0o600, replace=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``.lock`` (flock) so two processes never sign or rewrite the index at once."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if sys.platform == "win32":
            yield
            return
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


# ---------------------------------------------------------------------------------------------
# Helpers


def _clock(now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    _require_aware(now)
    return now.astimezone(UTC).replace(microsecond=0)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise PkiError(
            f"{name!r} is not a usable certificate name: 1-64 of A-Z a-z 0-9 . _ @ + -, "
            "not starting with '.'"
        )


def _check_days(days: int) -> None:
    if days < 1:
        raise PkiError(f"validity must be at least 1 day, got {days}")


def _check_dns_name(name: str) -> str:
    if not name or not name.isascii() or any(c.isspace() or c in "/\\@" for c in name):
        raise PkiError(f"{name!r} is not a DNS name (use the xn-- form for international names)")
    return name


def _find_entry(entries: Sequence[IndexEntry], key: str | int, now: datetime) -> int:
    if isinstance(key, int) or _SERIAL_RE.fullmatch(key):
        serial = key if isinstance(key, int) else int(key, 16)
        for position, entry in enumerate(entries):
            if entry.serial == serial:
                return position
        raise NotFoundError(f"no certificate with serial 0x{serial:x} was issued here")
    matches = [p for p, e in enumerate(entries) if e.name == key and e.kind != "ca"]
    if not matches:
        raise NotFoundError(f"no certificate named {key!r} was issued here")
    active = [p for p in matches if entries[p].is_active(now)]
    unrevoked = [p for p in matches if entries[p].revoked_at is None]
    return (active or unrevoked or matches)[-1]


def _generate_key(key_type: KeyType) -> SigningKey:
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    bits = 2048 if key_type is KeyType.RSA_2048 else 3072
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _key_type_of(key: SigningKey) -> KeyType:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyType.EC_P256
    return KeyType.RSA_3072 if key.key_size >= 3072 else KeyType.RSA_2048


def _leaf_builder(
    ca: x509.Certificate, key: SigningKey, subject: x509.Name, days: int, now: datetime
) -> x509.CertificateBuilder:
    not_after = min(now + timedelta(days=days), ca.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(ca), critical=False)
    )


def _leaf_key_usage(key: SigningKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),  # TLS 1.0-1.2 RSA key transport
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = _extension(ca, x509.SubjectKeyIdentifier)
    if ski is not None:
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    key = ca.public_key()
    if not isinstance(key, _ISSUER_KEY_TYPES):
        raise PkiError(f"CA {_label(ca)} has an unusable public key")
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(key)


def _p12_encryption(password: bytes, legacy: bool) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(P12_KDF_ROUNDS)
    if legacy:
        return (
            builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - what old PKCS#12 importers understand
            .build(password)
        )
    return (
        builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: SigningKey, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _write_file(path: Path, data: bytes, *, mode: int, replace: bool) -> None:
    """Write `data` to a new temp file created with `mode`, then move it into place.

    `replace=False` links instead of renaming, so an existing file is never replaced
    (AlreadyExistsError). Either way a reader sees the whole old or the whole new file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise PkiError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise AlreadyExistsError(f"{path} exists; not replacing it") from None
    except OSError as exc:
        raise PkiError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _check_key_mode(path: Path) -> list[str]:
    try:
        info = path.stat()
    except OSError:
        return []
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        ]
    return []


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    """The extension's value, or None when absent. ValueError for a malformed extension."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return _attr_text(attrs[0]) if attrs else None


def _attr_text(attr: x509.NameAttribute[str | bytes]) -> str:
    value = attr.value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _label(cert: x509.Certificate) -> str:
    cn = _common_name(cert.subject)
    return f"'{cn}'" if cn is not None else repr(cert.subject.rfc4514_string())


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _encode_utf8string(text: str) -> bytes:
    """DER UTF8String (tag 12), the value of an otherName UPN (X.690 8.21, 10.1)."""
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        return bytes((0x0C, len(raw))) + raw
    size = len(raw).to_bytes((len(raw).bit_length() + 7) // 8, "big")
    return bytes((0x0C, 0x80 | len(size))) + size + raw


def _decode_utf8string(data: bytes) -> str | None:
    """The text of a DER UTF8String that fills `data` exactly; None for anything else."""
    if len(data) < 2 or data[0] != 0x0C:
        return None
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            return None
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if offset + length != len(data):
        return None
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def configured_pki(settings: Settings) -> Pki:
    """The EAP certificates of these settings (``eap_ca_cert``, ``eap_server_cert``,
    ``eap_server_key``: your own files), else the built-in CA in ``<data_dir>/pki/``."""
    return Pki.configured(
        settings.data_dir,
        ca_cert=settings.eap_ca_cert,
        server_cert=settings.eap_server_cert,
        server_key=settings.eap_server_key,
    )


class PeerRevocation:
    """Is a TLS peer's certificate, as ``ssl`` reports it (``getpeercert()``: its issuer and
    serial number), on a CRL that one of ``trusted`` signed? For listeners whose handshake
    ``ssl`` already verified against the CA (TACACS+ over TLS): `CrlCache` re-reads the file
    when it changes, so ``nac pki revoke`` takes effect on the next connection, no restart."""

    __slots__ = ("_cache", "_trusted")

    def __init__(self, crl_path: Path, trusted: Sequence[x509.Certificate]) -> None:
        self._cache = CrlCache(crl_path)
        self._trusted = tuple(trusted)

    def __call__(self, peer: Mapping[str, Any]) -> str | None:
        """Why the certificate is revoked, in words; None when it is not."""
        try:
            serial = int(str(peer.get("serialNumber", "")), 16)
        except ValueError:
            return "certificate without a serial number"
        for crl in self._cache.refresh():
            if not any(_crl_signed_by(crl, ca) for ca in self._trusted):
                continue  # not signed by a trusted CA: ignored, as verify_client_chain does
            entry = crl.get_revoked_certificate_by_serial_number(serial)
            if entry is not None:
                when = entry.revocation_date_utc.strftime("%Y-%m-%d %H:%M UTC")
                return f"certificate revoked (serial {serial:#x}, on {when})"
        return None


# Whether a CRL verifies under a CA's key never changes, and the check (a public-key
# signature verification) would otherwise run on every authentication: remembered per CRL
# object (CRLs do not hash; the entry holds the object, so its id is not reused) and CA.
_CRL_SIGNATURES: dict[int, tuple[x509.CertificateRevocationList, dict[x509.Certificate, bool]]] = {}
_CRL_SIGNATURES_MAX = 64


def _crl_signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    if crl.issuer != ca.subject:
        return False
    held = _CRL_SIGNATURES.get(id(crl))
    if held is not None and held[0] is crl:
        known = held[1].get(ca)
        if known is not None:
            return known
    else:
        if len(_CRL_SIGNATURES) >= _CRL_SIGNATURES_MAX:
            del _CRL_SIGNATURES[next(iter(_CRL_SIGNATURES))]
        held = (crl, {})
        _CRL_SIGNATURES[id(crl)] = held
    valid = _crl_signature_valid(crl, ca)
    held[1][ca] = valid
    return valid


def _crl_signature_valid(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    if not isinstance(key, _ISSUER_KEY_TYPES):
        return False
    try:
        return crl.is_signature_valid(key)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False
