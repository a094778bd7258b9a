"""Helpers of the EAP tests: a throw-away PKI made with ``cryptography`` (ECDSA P-256, so it
is fast), deterministic ``token_bytes``, a credential store, and a minimal EAP peer (EAP-TLS,
PEAPv0/MSCHAPv2, TTLS/PAP and MSCHAPv2) over a pyOpenSSL client with memory BIOs."""

from __future__ import annotations

import datetime
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL

from radius import mschap
from radius.eap.manager import EapConfig, EapManager
from radius.eap.md5 import md5_response
from radius.eap.method import PasswordMaterial
from radius.eap.packet import (
    EapType,
    decode_eap,
    join_eap_message,
    pull_md5_challenge,
    split_eap_message,
)
from radius.eap.session import ChallengeIssued, Event, Failed, Succeeded
from radius.eap.tls import TlsServerConfig
from radius.mschap import nt_password_hash


@dataclass(frozen=True)
class EapPki:
    ca: x509.Certificate
    ca_pem: bytes
    ca_path: Path
    server_chain_pem: bytes
    server_key_pem: bytes
    client: x509.Certificate
    client_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    eku: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1))
        .not_valid_after(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(directory: Path) -> EapPki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test EAP CA", ca_key, None, ca_key, ca=True)
    int_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = _cert("Test EAP Intermediate", int_key, ca, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(
        "radius.test",
        server_key,
        intermediate,
        int_key,
        ca=False,
        eku=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("alice", client_key, ca, ca_key, ca=False, eku=ExtendedKeyUsageOID.CLIENT_AUTH)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(_pem(ca))
    return EapPki(
        ca=ca,
        ca_pem=_pem(ca),
        ca_path=ca_path,
        server_chain_pem=_pem(server) + _pem(intermediate),
        server_key_pem=server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        client=client,
        client_key=client_key,
        intermediate=intermediate,
    )


class DeterministicRandom:
    """``token_bytes`` stand-in: SHA-256 in counter mode (STYLE.md convention 1)."""

    def __init__(self, seed: bytes = b"eap-tests") -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


USERS = {
    "alice": PasswordMaterial(password="correct horse"),
    "bob": PasswordMaterial(nt_hash=nt_password_hash("battery staple")),
    "CORP\\carol": PasswordMaterial(password="Tr0ub4dor&3"),
}


def lookup(identity: str) -> PasswordMaterial | None:
    return USERS.get(identity)


# ----------------------------------------------------------------------------- the peer
# Written from the RFCs independently of radius.eap's codecs, so the two check each other.

REQUEST, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
IDENTITY, NAK, MD5, TLS, TTLS, PEAP, MSCHAPV2, EXTENSIONS = 1, 3, 4, 13, 21, 25, 26, 33
FLAG_L, FLAG_M, FLAG_S = 0x80, 0x40, 0x20


def eap(code: int, identifier: int, eap_type: int | None = None, data: bytes = b"") -> bytes:
    body = b"" if eap_type is None else bytes((eap_type,)) + data
    return struct.pack("!BBH", code, identifier, 4 + len(body)) + body


def identity_response(identity: str, identifier: int = 0) -> bytes:
    return eap(RESPONSE, identifier, IDENTITY, identity.encode())


def client_context(
    pki: EapPki,
    version: int,
    *,
    certificate: bool = False,
    verify: bool = True,
) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    if verify:
        ctx.load_verify_locations(str(pki.ca_path))
        ctx.set_verify(SSL.VERIFY_PEER, None)
    if certificate:
        ctx.use_certificate(pki.client)
        ctx.use_privatekey(pki.client_key)
    return ctx


class Inner:
    """What runs in the tunnel on the peer side (EAP-TLS: nothing but the 0x00)."""

    def started(self, conn: SSL.Connection) -> None:
        """The client's handshake just completed."""

    def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
        raise AssertionError(f"unexpected tunnel data {data.hex()}")


class EapTlsInner(Inner):
    def __init__(self) -> None:
        self.protected_success = False

    def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
        assert data == b"\x00", data
        self.protected_success = True


class PeapInner(Inner):
    """PEAPv0 peer: headerless inner EAP, EAP-MSCHAPv2, Result TLV."""

    def __init__(self, username: str, password: str, *, name: str | None = None) -> None:
        self.username = username
        self.password = password
        self.name = name if name is not None else username
        self.server_verified = False
        self.result_seen = False
        self.rounds: list[str] = []
        self._challenge = b""
        self._peer_challenge = hashlib.sha256(b"peer").digest()[:16]
        self._nt = b""

    def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
        if len(data) >= 5 and data[0] == REQUEST and data[4] == EXTENSIONS:
            (length,) = struct.unpack("!H", data[2:4])
            assert length == len(data)
            tlv = data[5:]
            assert tlv[:2] == b"\x80\x03" and tlv[4:6] == b"\x00\x01", tlv.hex()
            self.result_seen = True
            self.rounds.append("result")
            conn.send(eap(RESPONSE, data[1], EXTENSIONS, b"\x80\x03\x00\x02\x00\x01"))
            return
        if data == b"\x01":
            self.rounds.append("identity")
            conn.send(b"\x01" + self.username.encode())
            return
        assert data[0] == MSCHAPV2, data.hex()
        opcode, ms_id = data[1], data[2]
        if opcode == 1:
            self.rounds.append("challenge")
            assert data[5] == 16
            self._challenge = data[6:22]
            self._nt = mschap.generate_nt_response(
                self._challenge, self._peer_challenge, self.name.encode(), self.password
            )
            value = self._peer_challenge + bytes(8) + self._nt + b"\x00"
            body = bytes((2, ms_id)) + struct.pack("!H", 4 + 1 + 49 + len(self.name)) + b"\x31"
            conn.send(bytes((MSCHAPV2,)) + body + value + self.name.encode())
        elif opcode == 3:
            self.rounds.append("success")
            message = data[5:]
            self.server_verified = mschap.check_authenticator_response(
                message,
                self._nt,
                self._peer_challenge,
                self._challenge,
                self.name.encode(),
                password_hash=mschap.nt_password_hash(self.password),
            )
            assert self.server_verified
            conn.send(bytes((MSCHAPV2, 3)))
        else:
            raise AssertionError(f"MSCHAPv2 OpCode {opcode}")


def avp(code: int, data: bytes, vendor: int = 0) -> bytes:
    flags = 0x40 | (0x80 if vendor else 0)
    head = struct.pack("!I", code) + bytes((flags,))
    vid = struct.pack("!I", vendor) if vendor else b""
    length = 8 + len(vid) + len(data)
    return head + length.to_bytes(3, "big") + vid + data + bytes(-length % 4)


class TtlsInner(Inner):
    """TTLSv0 peer: PAP or MS-CHAPv2 AVPs right after the handshake."""

    def __init__(self, username: str, password: str, *, mode: str = "pap") -> None:
        self.username = username
        self.password = password
        self.mode = mode
        self.server_verified = False
        self.protected_success = False
        self._peer_challenge = hashlib.sha256(b"ttls-peer").digest()[:16]
        self._challenge = b""
        self._nt = b""
        self.tamper_challenge = False

    def started(self, conn: SSL.Connection) -> None:
        user = avp(1, self.username.encode())
        if self.mode == "pap":
            pw = self.password.encode()
            conn.send(user + avp(2, pw + bytes(-len(pw) % 16 or 0)))
            return
        implicit = conn.export_keying_material(b"ttls challenge", 17)
        self._challenge = implicit[:16]
        if self.tamper_challenge:
            self._challenge = bytes(16)
        ident = implicit[16]
        self._nt = mschap.generate_nt_response(
            self._challenge, self._peer_challenge, self.username.encode(), self.password
        )
        response = bytes((ident, 0)) + self._peer_challenge + bytes(8) + self._nt
        conn.send(user + avp(11, self._challenge, 311) + avp(25, response, 311))

    def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
        if data == b"\x00":
            self.protected_success = True
            return
        code, flags_len, vendor = struct.unpack("!III", data[:12])
        assert (code, vendor) == (26, 311), (code, vendor)
        length = flags_len & 0xFFFFFF
        success = data[12:length]
        self.server_verified = mschap.check_authenticator_response(
            success[1:],
            self._nt,
            self._peer_challenge,
            self._challenge,
            self.username.encode(),
            password_hash=mschap.nt_password_hash(self.password),
        )
        assert self.server_verified


class TlsPeer:
    """An EAP-TLS / PEAPv0 / TTLSv0 peer: its own fragmentation (``fragment_size`` octets of
    TLS data per Response, L on the first of several), reassembly with ACKs, a pyOpenSSL
    client over memory BIOs, and an ``Inner`` for the tunnel."""

    def __init__(
        self,
        eap_type: int,
        ctx: SSL.Context,
        inner: Inner,
        *,
        fragment_size: int = 400,
        session: SSL.Session | None = None,
        length_on_every_fragment: bool = False,
    ) -> None:
        self.eap_type = eap_type
        self.inner = inner
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_connect_state()
        if session is not None:
            self.conn.set_session(session)
        self.fragment_size = fragment_size
        self.length_on_every_fragment = length_on_every_fragment
        self.established = False
        self.outcome: int | None = None
        self.server_fragments = 0
        self.server_messages: list[bytes] = []
        self.requests_with_l_flag = 0
        self._in: list[bytes] = []
        self._out = b""
        self._out_pos = 0

    # the EAP layer -------------------------------------------------------------------

    def respond(self, request: bytes) -> bytes | None:
        code, identifier, length = struct.unpack("!BBH", request[:4])
        assert length == len(request)
        if code in (SUCCESS, FAILURE):
            self.outcome = code
            if code == SUCCESS:
                self.conn.set_shutdown(SSL.SENT_SHUTDOWN)  # keep the session resumable
            return None
        assert code == REQUEST and request[4] == self.eap_type, request[:6].hex()
        flags = request[5]
        body = request[6:]
        if flags & FLAG_L:
            self.requests_with_l_flag += 1
            (total,) = struct.unpack("!I", body[:4])
            body = body[4:]
            assert flags & FLAG_M, "L without M on an unfragmented message"
            assert total > len(body)
        if self._out_pos < len(self._out):
            assert not body and not flags & FLAG_M, "server data while it owed us an ACK"
            return self._fragment(identifier)
        if flags & FLAG_S:
            self._handshake()
            return self._send(identifier)
        self.server_fragments += 1
        if body:
            self._in.append(body)
        if flags & FLAG_M:
            return eap(RESPONSE, identifier, self.eap_type, b"\x00")
        message = b"".join(self._in)
        self._in = []
        if message:
            self.server_messages.append(message)
            self.conn.bio_write(message)
        if not self.established:
            self._handshake()
        if self.established:
            data = self._read()
            if data:
                self.inner.data(self.conn, data, identifier)
        return self._send(identifier)

    def _handshake(self) -> None:
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return
        self.established = True
        self.inner.started(self.conn)

    def _read(self) -> bytes:
        parts = []
        while True:
            try:
                parts.append(self.conn.recv(65536))
            except SSL.WantReadError:
                return b"".join(parts)

    def _send(self, identifier: int) -> bytes:
        out = b""
        while True:
            try:
                out += self.conn.bio_read(65536)
            except SSL.WantReadError:
                break
        if not out:
            return eap(RESPONSE, identifier, self.eap_type, b"\x00")
        self._out, self._out_pos = out, 0
        return self._fragment(identifier)

    def _fragment(self, identifier: int) -> bytes:
        first = self._out_pos == 0
        chunk = self._out[self._out_pos : self._out_pos + self.fragment_size]
        self._out_pos += len(chunk)
        more = self._out_pos < len(self._out)
        flags = FLAG_M if more else 0
        head = b""
        if (first and more) or (self.length_on_every_fragment and (more or not first)):
            flags |= FLAG_L
            head = struct.pack("!I", len(self._out))
        if not more:
            self._out, self._out_pos = b"", 0
        return eap(RESPONSE, identifier, self.eap_type, bytes((flags,)) + head + chunk)

    def keys(self, context: bytes | None = None) -> bytes:
        version = self.conn.get_protocol_version_name()
        if version == "TLSv1.3":
            return self.conn.export_keying_material(
                b"EXPORTER_EAP_TLS_Key_Material", 128, bytes((self.eap_type,))
            )
        label = b"ttls keying material" if self.eap_type == TTLS else b"client EAP encryption"
        return self.conn.export_keying_material(label, 128)


@dataclass
class Run:
    event: Event
    state: bytes | None
    rounds: int
    requests: list[bytes]


def drive(
    manager: EapManager,
    peer: TlsPeer | Callable[[bytes], bytes | None],
    *,
    identity: str = "anonymous@example.org",
    nas_key: str = "nas-1",
    framed_mtu: int | None = None,
    now: float = 1000.0,
    max_rounds: int = 200,
) -> Run:
    """Run one conversation through the manager, as the NAS would, the EAP-Message going
    through split/join (RFC 3579) each way."""
    respond = peer.respond if isinstance(peer, TlsPeer) else peer
    message = identity_response(identity, 7)
    state: bytes | None = None
    requests: list[bytes] = []
    for rounds in range(max_rounds):
        step = manager.handle(message, state, nas_key=nas_key, framed_mtu=framed_mtu, now=now)
        event = step.event
        if not isinstance(event, ChallengeIssued):
            if isinstance(event, Succeeded | Failed):
                respond(event.eap_message)
            return Run(event, step.state, rounds, requests)
        state = step.state
        request = join_eap_message(split_eap_message(event.eap_message))
        assert all(len(v) <= 253 for v in split_eap_message(event.eap_message))
        requests.append(request)
        answer = respond(request)
        assert answer is not None
        message = answer
    raise AssertionError("conversation did not end")


def identity(name: str, identifier: int = 1) -> bytes:
    return identity_response(name, identifier)


def md5_answer(request: bytes, password: bytes) -> bytes:
    packet = decode_eap(request)
    assert packet.type == EapType.MD5Challenge
    challenge = pull_md5_challenge(packet.type_data)
    assert challenge.name == b"nac" and len(challenge.value) == 16
    value = md5_response(packet.identifier, password, challenge.value)
    body = bytes((4, 16)) + value + b"alice"
    return bytes((2, packet.identifier, 0, 4 + len(body))) + body


def make_manager(
    pki: EapPki,
    token_bytes: DeterministicRandom,
    methods: tuple[int, ...],
    *,
    fragment_size: int = 1024,
) -> EapManager:
    tls = TlsServerConfig(
        certificate_chain=pki.server_chain_pem,
        private_key=pki.server_key_pem,
        client_ca=pki.ca_pem,
    )
    config = EapConfig(methods=methods, tls=tls, fragment_size=fragment_size)
    return EapManager(config, credentials=lookup, token_bytes=token_bytes)
