"""Client certificates on the console's HTTPS port (``nac serve --web-tls``).

The console's TLS context asks for an OPTIONAL client certificate (`request_client_certificates`)
chained to the EAP CA: a browser without one goes on as before, a nac-agent shows the
certificate ``nac pki issue MAC`` made for its endpoint. uvicorn does not hand the peer
certificate to the application, so `with_peer_certificate` subclasses the HTTP protocol class
uvicorn picked: after the handshake it puts the asgiref TLS extension into every request's
scope of that connection (``scope["extensions"]["tls"]``, with ``client_cert_chain`` a list of
PEM strings, the client's certificate first; Python 3.11's ssl gives the leaf only). The web
layer reads that scope key and nothing else of this module's I/O.

`ClientCertificateAuth` then checks the certificate in the application, as EAP-TLS does
(`nac.pki.verify_client_chain` against the CA with the current CRL, `CrlCache`): a revoked,
expired or not-yet-valid certificate is refused with words (401), and the endpoint's MAC is
read from the certificate (`certificate_mac`). OpenSSL already refuses a certificate of a
foreign CA in the handshake (alert unknown_ca): the TLS context skips only the time check,
so that an expired certificate reaches the application and gets its 401 in words.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nac.core.config import Settings
from nac.db.models import normalize_mac
from nac.pki import CrlCache, configured_pki, verify_client_chain

__all__ = [
    "MAC_URN_PREFIX",
    "CertificateEndpoint",
    "ClientCertificateAuth",
    "ClientCertificateError",
    "certificate_mac",
    "client_certificate_chain",
    "pem_chain",
    "request_client_certificates",
    "tls_extension",
    "with_peer_certificate",
]

# X509_V_FLAG_NO_CHECK_TIME (OpenSSL 1.1.0+): validity dates are checked by the application.
_NO_CHECK_TIME: Final = 0x200000
# RFC 9039 section 3.1: urn:dev:mac: and the 48-bit MAC (or EUI-64) as hex digits.
MAC_URN_PREFIX: Final = "urn:dev:mac:"
_MAC_URN_RE: Final = re.compile(r"urn:dev:mac:([0-9a-f]{12})", re.IGNORECASE)
_TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def request_client_certificates(context: ssl.SSLContext, ca_file: Path) -> None:
    """Ask every TLS client for an optional certificate issued by the CA(s) in ``ca_file``
    (their names go in the CertificateRequest, so a browser offers only such certificates)."""
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cafile=str(ca_file))
    context.verify_flags |= _NO_CHECK_TIME


# --- uvicorn: the peer certificate into the scope ------------------------------------------


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """The asgiref TLS extension for one connection's ``ssl.SSLObject``."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        try:
            name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        except ValueError:
            name = None
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class _ScopeTls:
    """The connection's ASGI app with the TLS extension added to each scope."""

    __slots__ = ("app", "extension")

    def __init__(self, app: Any, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = self.extension
            scope["extensions"] = extensions
        await self.app(scope, receive, send)


def with_peer_certificate(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A subclass of uvicorn's HTTP protocol class ``base`` (h11 or httptools: both call
    ``self.app`` per request) whose connections add the TLS extension to their scopes."""

    class PeerCertificateProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                app: Any = self.app  # type: ignore[has-type]
                self.app = _ScopeTls(app, tls_extension(ssl_object))

    PeerCertificateProtocol.__name__ = PeerCertificateProtocol.__qualname__ = (
        f"PeerCertificate{base.__name__}"
    )
    return PeerCertificateProtocol


def client_certificate_chain(scope: Any) -> list[x509.Certificate]:
    """The client's certificates from a scope's TLS extension (empty: none shown)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    out: list[x509.Certificate] = []
    for pem in tls.get("client_cert_chain") or ():
        try:
            out.append(x509.load_pem_x509_certificate(pem.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            return []
    return out


# --- the endpoint a certificate names -------------------------------------------------------


def certificate_mac(cert: x509.Certificate) -> str | None:
    """The endpoint MAC a certificate names (normalized ``aa:bb:cc:dd:ee:ff``), tried in
    order: the subject CN (any form `normalize_mac` takes: ``00:11:22:33:44:55``,
    ``00-11-22-33-44-55``, ``0011.2233.4455``), a SAN URI ``urn:dev:mac:001122334455``
    (RFC 9039), a SAN dNSName that is a MAC. None when it names none."""
    for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        mac = _mac_or_none(attr.value if isinstance(attr.value, str) else "")
        if mac is not None:
            return mac
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        match = _MAC_URN_RE.fullmatch(uri)
        if match is not None:
            return normalize_mac(match.group(1))
    for name in san.get_values_for_type(x509.DNSName):
        mac = _mac_or_none(name)
        if mac is not None:
            return mac
    return None


def _mac_or_none(text: str) -> str | None:
    if len(text) > 17:
        return None
    try:
        return normalize_mac(text)
    except ValueError:
        return None


class ClientCertificateError(Exception):
    """A client certificate that does not authenticate an endpoint; ``detail`` in words."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CertificateEndpoint:
    mac: str
    serial_hex: str
    subject: str


class ClientCertificateAuth:
    """Client certificates against the EAP CA and its current CRL (re-read when the file
    changes, so ``nac pki revoke`` counts at the next request)."""

    __slots__ = ("_crls", "_trusted")

    def __init__(self, trusted: Sequence[x509.Certificate], crl_path: Path | None) -> None:
        self._trusted = list(trusted)
        self._crls = CrlCache(crl_path) if crl_path is not None else None

    @classmethod
    def for_settings(cls, settings: Settings) -> ClientCertificateAuth:
        """The configured PKI's CA (``ca.crt`` or ``eap_ca_cert``) and CRL. PkiError."""
        pki = configured_pki(settings)
        return cls(pki.ca_certificates(), Path(pki.paths.crl))

    def authenticate(
        self, chain: Sequence[x509.Certificate], *, now: datetime
    ) -> CertificateEndpoint:
        """The endpoint a verified certificate names, or ClientCertificateError."""
        crls = self._crls.refresh() if self._crls is not None else ()
        result = verify_client_chain(chain, trusted=self._trusted, crls=crls, now=now)
        if not result.ok or result.identity is None:
            raise ClientCertificateError(f"client certificate refused: {result.reason}")
        mac = certificate_mac(chain[0])
        if mac is None:
            raise ClientCertificateError(
                f"client certificate {result.identity.subject} names no MAC address "
                f"(CN, or a subjectAltName {MAC_URN_PREFIX}... URI or DNS name)"
            )
        return CertificateEndpoint(mac, result.identity.serial_hex, result.identity.subject)


def pem_chain(chain: Sequence[x509.Certificate]) -> list[str]:
    """PEM strings as the TLS extension carries them (for tests and tools)."""
    return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain]
