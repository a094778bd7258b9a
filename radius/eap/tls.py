"""TLS server engine for EAP-TLS, PEAP and EAP-TTLS over pyOpenSSL memory BIOs.

No sockets: ``receive`` feeds TLS records that arrived in EAP, ``data_to_send`` drains what
OpenSSL wrote. One ``TlsServerContext`` (an ``SSL_CTX``) per EAP method, made once at start-up
from a ``TlsServerConfig``; one ``TlsServerConnection`` per conversation.

Keys (MSK = first 64 octets, EMSK = next 64, RFC 3748 section 7.10):

- TLS 1.2: TLS-PRF(master secret, label, client.random + server.random), the RFC 5705
  exporter without context: "client EAP encryption" for EAP-TLS (RFC 5216 section 2.3) and
  PEAPv0 without crypto-binding ([MS-PEAP] 3.1.5.7), "ttls keying material" for EAP-TTLS
  (RFC 5281 section 8).
- TLS 1.3: TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", Type-Code, 128) with the EAP Type
  as the one-octet context: 0x0D for EAP-TLS (RFC 9190 section 2.3), 0x15 for TTLS and 0x19
  for PEAP (RFC 9427 section 2.1; hostapd's eap_server_ttls.c / eap_server_peap.c agree).
- The TTLS implicit challenge: exporter "ttls challenge" without context (RFC 5281 section
  11.1; RFC 9427 keeps the label for TLS 1.3).

Session resumption, and what pyOpenSSL 26 allows. The context enables OpenSSL's internal,
stateful server session cache (``set_session_cache_mode(SESS_CACHE_SERVER)``, a session id
context per EAP method with ``set_session_id``, lifetime with ``set_timeout``) and turns
stateless tickets off (``OP_NO_TICKET``, as hostapd does for these methods): TLS 1.2 resumes
by session ID and TLS 1.3 gets *stateful* tickets that point into the same cache, so a
session can be withdrawn. OpenSSL bounds the cache (SSL_SESSION_CACHE_MAX_SIZE_DEFAULT,
20480 sessions) and expires entries on its own clock; pyOpenSSL exposes neither
``SSL_CTX_sess_set_cache_size`` nor ``SSL_CTX_set_num_tickets`` (TLS 1.3 servers send
OpenSSL's default of two tickets) nor ``SSL_session_reused``, which is read from the cffi
binding pyOpenSSL carries (``_session_reused`` below). OpenSSL removes a session from its cache
when a connection is freed without a shutdown; ``keep_session`` marks a connection shut down
so that only conversations the caller accepted stay resumable. Caveat of the two TLS 1.3
tickets: only the session of the last one is withdrawn on a reject; a peer resuming with the
first gets a resumed handshake again, which is harmless here: EAP-TLS hands the remembered
certificate to the policy again, and PEAP/TTLS find no remembered identity for it and run
the inner method.

PEAP and TTLS skip the inner method on resumption only when they find the identity the
tunnel authenticated: ``ResumptionCache`` maps a hash of the session's master secret (TLS
1.2: the same on resumption; TLS 1.3: the PSK of the ticket the peer presents, which is
the master key OpenSSL shows right after the ClientHello) to that identity, bounded and
expiring with the caller's ``now``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import SSL
from OpenSSL._util import lib as _ssl_lib
from OpenSSL.crypto import X509

from radius.errors import RadiusError

__all__ = [
    "EAP_KEY_MATERIAL_LENGTH",
    "ResumptionCache",
    "TlsConfigError",
    "TlsError",
    "TlsServerConfig",
    "TlsServerConnection",
    "TlsServerContext",
    "TlsVersion",
]

EAP_KEY_MATERIAL_LENGTH = 128
"""MSK (64) + EMSK (64). The TLS 1.3 exporter mixes the length in, so it is always asked
for all 128 octets and split (RFC 9190 section 2.3)."""

_EAP_TLS = 13
_EAP_TTLS = 21
_EAP_PEAP = 25
_LABELS_TLS12 = {
    _EAP_TLS: b"client EAP encryption",
    _EAP_PEAP: b"client EAP encryption",
    _EAP_TTLS: b"ttls keying material",
}
_LABEL_TLS13 = b"EXPORTER_EAP_TLS_Key_Material"
_TTLS_CHALLENGE = b"ttls challenge"
_READ_CHUNK = 16384


class TlsVersion(IntEnum):
    """Protocol versions the engine may be limited to (OpenSSL's constants)."""

    TLSv1_2 = 0x0303
    TLSv1_3 = 0x0304


class TlsError(RadiusError):
    """The TLS handshake or record layer failed; the message is OpenSSL's reason."""


class TlsConfigError(RadiusError):
    """The certificate, key or options given for a TLS context are unusable."""


@dataclass(frozen=True, slots=True)
class TlsServerConfig:
    """The server side of every TLS-based method. PEM as bytes or as a path to read once.

    ``certificate_chain`` is the server certificate followed by any intermediates;
    ``client_ca`` (EAP-TLS) names the CAs the CertificateRequest advertises: it does not
    verify anything, the caller's policy does. ``session_lifetime`` is in seconds; 0 turns
    resumption off.
    """

    certificate_chain: bytes | Path
    private_key: bytes | Path = field(repr=False)
    private_key_password: bytes | None = field(default=None, repr=False)
    client_ca: bytes | Path | None = None
    min_version: TlsVersion = TlsVersion.TLSv1_2
    max_version: TlsVersion = TlsVersion.TLSv1_3
    session_lifetime: int = 3600
    cipher_list: str | None = None
    """OpenSSL cipher string for TLS 1.2 (None: OpenSSL's default at its security level)."""
    tls13_ciphersuites: str | None = None
    resumption_cache_size: int = 20480
    """Bound of the PEAP/TTLS ``ResumptionCache`` (OpenSSL's own session cache default)."""


def _pem(source: bytes | Path) -> bytes:
    return source.read_bytes() if isinstance(source, Path) else source


def _accept_any(_conn: SSL.Connection, _cert: X509, _errno: int, _depth: int, _ok: int) -> bool:
    """Take whatever chain the peer sends: the policy verifies it (``peer_chain``).

    OpenSSL still checks the CertificateVerify signature, so the peer holds the leaf's key.
    """
    return True


def _describe(error: SSL.Error) -> str:
    reasons: list[str] = []
    for arg in error.args:
        if isinstance(arg, list):
            for item in arg:
                if isinstance(item, tuple) and item:
                    reasons.append(str(item[-1]))
                else:
                    reasons.append(str(item))
        else:
            reasons.append(str(arg))
    return "; ".join(r for r in reasons if r) or type(error).__name__


def _session_reused(conn: SSL.Connection) -> bool:
    """SSL_session_reused: pyOpenSSL 26 binds it in its cffi library but has no method."""
    return bool(_ssl_lib.SSL_session_reused(conn._ssl))


class ResumptionCache:
    """identity per resumable TLS session, for PEAP/TTLS to skip the inner method.

    Keys are SHA-256 of the session's master secret (never the secret itself); entries
    expire ``lifetime`` seconds after they were stored and the oldest go first when the
    cache is full. Time is the caller's ``now``.
    """

    __slots__ = ("_entries", "_lifetime", "_max_entries")

    def __init__(self, *, lifetime: float, max_entries: int) -> None:
        self._lifetime = lifetime
        self._max_entries = max(0, max_entries)
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: bytes, identity: str, now: float) -> None:
        if self._lifetime <= 0 or self._max_entries == 0:
            return
        self._expire(now)
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (now + self._lifetime, identity)

    def get(self, key: bytes, now: float) -> str | None:
        self._expire(now)
        entry = self._entries.get(key)
        return entry[1] if entry is not None else None

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (expires, _identity) = next(iter(entries.items()))
            if expires > now:
                return
            del entries[key]


class TlsServerContext:
    """One OpenSSL server context for one EAP method (its own session cache and id context,
    so a session from PEAP can never resume EAP-TLS, RFC 9190 section 5.7)."""

    __slots__ = ("_ctx", "eap_type", "request_client_certificate", "resumption_cache")

    def __init__(
        self, config: TlsServerConfig, *, eap_type: int, request_client_certificate: bool
    ) -> None:
        if config.min_version > config.max_version:
            raise TlsConfigError("min_version is above max_version")
        self.eap_type = eap_type
        self.request_client_certificate = request_client_certificate
        self.resumption_cache = ResumptionCache(
            lifetime=config.session_lifetime, max_entries=config.resumption_cache_size
        )
        try:
            self._ctx = self._build(config)
        except SSL.Error as e:
            raise TlsConfigError(_describe(e)) from None
        except (ValueError, TypeError, OSError) as e:
            raise TlsConfigError(str(e)) from None

    def _build(self, config: TlsServerConfig) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(int(config.min_version))
        ctx.set_max_proto_version(int(config.max_version))
        ctx.set_options(
            SSL.OP_NO_TICKET
            | SSL.OP_NO_RENEGOTIATION
            | SSL.OP_NO_COMPRESSION
            | SSL.OP_CIPHER_SERVER_PREFERENCE
        )
        chain = x509.load_pem_x509_certificates(_pem(config.certificate_chain))
        ctx.use_certificate(chain[0])
        for cert in chain[1:]:
            ctx.add_extra_chain_cert(cert)
        key = serialization.load_pem_private_key(
            _pem(config.private_key), config.private_key_password
        )
        if not isinstance(
            key,
            dsa.DSAPrivateKey
            | ec.EllipticCurvePrivateKey
            | ed25519.Ed25519PrivateKey
            | ed448.Ed448PrivateKey
            | rsa.RSAPrivateKey,
        ):
            raise TlsConfigError(f"unsupported private key type {type(key).__name__}")
        ctx.use_privatekey(key)
        ctx.check_privatekey()
        if self.request_client_certificate:
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _accept_any)
            if config.client_ca is not None:
                for ca in x509.load_pem_x509_certificates(_pem(config.client_ca)):
                    ctx.add_client_ca(ca)
        else:
            ctx.set_verify(SSL.VERIFY_NONE)
        ctx.set_session_id(b"nac-eap-" + bytes((self.eap_type,)))
        if config.session_lifetime > 0:
            ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
            ctx.set_timeout(config.session_lifetime)
        else:
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        if config.cipher_list is not None:
            ctx.set_cipher_list(config.cipher_list.encode("ascii"))
        if config.tls13_ciphersuites is not None:
            ctx.set_tls13_ciphersuites(config.tls13_ciphersuites.encode("ascii"))
        return ctx

    def connection(self) -> TlsServerConnection:
        return TlsServerConnection(self)


class TlsServerConnection:
    """The server end of one TLS session, driven from memory (sans-I/O).

    ``receive(data)`` then ``handshake()`` (True once complete) or ``read()``; whatever
    OpenSSL answered is in ``data_to_send()``. Errors are ``TlsError``.
    """

    __slots__ = ("_conn", "_context", "_established", "_resumed_key")

    def __init__(self, context: TlsServerContext) -> None:
        self._context = context
        self._conn = SSL.Connection(context._ctx, None)
        self._conn.set_accept_state()
        self._established = False
        self._resumed_key: bytes | None = None

    @property
    def context(self) -> TlsServerContext:
        return self._context

    @property
    def established(self) -> bool:
        return self._established

    @property
    def version(self) -> str:
        """ "TLSv1.2" or "TLSv1.3" (OpenSSL's name) once negotiated."""
        return self._conn.get_protocol_version_name()

    @property
    def is_tls13(self) -> bool:
        return self._conn.get_protocol_version_name() == "TLSv1.3"

    @property
    def cipher(self) -> str | None:
        return self._conn.get_cipher_name()

    @property
    def resumed(self) -> bool:
        return _session_reused(self._conn)

    @property
    def resumed_session_key(self) -> bytes | None:
        """SHA-256 of the resumed session's master secret (TLS 1.3: of the ticket's PSK),
        captured right after the ClientHello; None for a full handshake."""
        return self._resumed_key

    def receive(self, data: bytes) -> None:
        """TLS records from the peer (one reassembled EAP-TLS message)."""
        view = memoryview(data)
        while view:
            n = self._conn.bio_write(bytes(view))
            view = view[n:]

    def handshake(self) -> bool:
        """Advance the handshake with what was received; True once it is complete."""
        if self._established:
            return True
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            done = False
        except SSL.Error as e:
            raise TlsError(_describe(e)) from None
        else:
            done = True
        if self._resumed_key is None and _session_reused(self._conn):
            self._resumed_key = self.session_key()
        self._established = done
        return done

    def read(self, limit: int = 65536) -> bytes:
        """Decrypted application data received so far (``b""`` if none), at most ``limit``
        octets (the rest stays buffered). A close_notify or alert raises TlsError."""
        parts: list[bytes] = []
        total = 0
        while total < limit:
            try:
                chunk = self._conn.recv(min(_READ_CHUNK, limit - total))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                raise TlsError("the peer closed the TLS session") from None
            except SSL.Error as e:
                raise TlsError(_describe(e)) from None
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        """Encrypt application data; the records come out of ``data_to_send``."""
        view = memoryview(data)
        try:
            while view:
                n = self._conn.send(bytes(view))
                view = view[n:]
        except SSL.Error as e:
            raise TlsError(_describe(e)) from None

    def data_to_send(self) -> bytes:
        """Everything OpenSSL has written since the last call."""
        parts: list[bytes] = []
        while True:
            try:
                chunk = self._conn.bio_read(65536)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def peer_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificates the peer sent, leaf first, as ``cryptography`` objects;
        UNVERIFIED (``_accept_any``). On a resumed session only the leaf the session
        remembers may be left."""
        try:
            leaf = self._conn.get_peer_certificate(as_cryptography=True)
            rest = self._conn.get_peer_cert_chain(as_cryptography=True) or []
        except ValueError as e:  # OpenSSL parsed it, cryptography (stricter) does not
            raise TlsError(f"peer certificate not parseable: {e}") from None
        if leaf is None:
            return tuple(rest)
        return (leaf, *(c for c in rest if c != leaf))

    def export(self, label: bytes, length: int, context: bytes | None = None) -> bytes:
        """RFC 5705 / RFC 8446 section 7.5 keying material exporter."""
        try:
            return self._conn.export_keying_material(label, length, context)
        except SSL.Error as e:
            raise TlsError(_describe(e)) from None

    def eap_keys(self) -> tuple[bytes, bytes]:
        """(MSK, EMSK) for this connection's EAP method and TLS version (module docstring)."""
        eap_type = self._context.eap_type
        if self.is_tls13:
            material = self.export(_LABEL_TLS13, EAP_KEY_MATERIAL_LENGTH, bytes((eap_type,)))
        else:
            label = _LABELS_TLS12.get(eap_type)
            if label is None:
                raise TlsError(f"no TLS 1.2 key label for EAP type {eap_type}")
            material = self.export(label, EAP_KEY_MATERIAL_LENGTH)
        return material[:64], material[64:]

    def ttls_challenge(self, length: int = 17) -> bytes:
        """EAP-TTLS implicit challenge (RFC 5281 section 11.1): MS-CHAP-Challenge (16 octets)
        and the Ident octet of MS-CHAP2-Response are the first 17."""
        return self.export(_TTLS_CHALLENGE, length)

    def session_key(self) -> bytes | None:
        """SHA-256 of the current session's master secret (``ResumptionCache`` key)."""
        try:
            secret = self._conn.master_key()
        except SSL.Error:
            return None
        return hashlib.sha256(secret).digest() if secret else None

    def keep_session(self) -> None:
        """Mark the connection as cleanly shut down so OpenSSL keeps its session cached when
        the connection is freed (without this, SSL_free drops it from the cache)."""
        self._conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
