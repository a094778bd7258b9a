"""Full EAP-TLS and PEAP-MSCHAPv2 authentications per second: `nac serve` against FreeRADIUS
3.2, the same certificates, users and TLS version, measured in the same run.

Usage (from the repository root):

    .venv/bin/python bench/eap.py [--duration 10] [--methods tls,peap] [--tls 1.2|1.3]
                                  [--window 16] [--procs 2] [--nac-workers 1,2]
                                  [--only nac|freeradius]

One PKI is made in a temporary directory (`nac.pki.Pki`: CA, server certificate, a client
certificate for alice) and both servers use it: nac through NAC_EAP_CA_CERT /
NAC_EAP_SERVER_CERT / NAC_EAP_SERVER_KEY, FreeRADIUS through its eap module's tls-config. Each
server is first checked with eapol_test (one authentication per method, MPPE keys compared),
then loaded by `--procs` generator processes, each a Python EAP peer (pyOpenSSL over memory
BIOs) keeping `--window` conversations in flight over UDP. Every authentication is a full
handshake: the peer never offers a session to resume, nor asks for a ticket (FreeRADIUS's
session cache is off unless --freeradius-cache; nac's in-memory one is always on). Every reply's
Response Authenticator and Message-Authenticator is checked, and every Access-Accept's
EAP-Success, MS-MPPE keys (against the peer's own TLS exporter) and VLAN. Server CPU seconds
come from /proc/<pid>/stat (the process and its descendants), the generator's from each of its
processes' own CPU clock. Results are printed and written as JSON to bench/out/. Every number
is measured in this run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import _root  # noqa: F401  (first: bench/tacacs.py must not hide the tacacs package)
from OpenSSL import SSL
from OpenSSL._util import lib as _ssl_lib
from radius_pap import (
    CLK_TCK,
    FREERADIUS_BASE,
    FREERADIUS_BIN,
    HOST,
    PASSWORD,
    SECRET,
    USER,
    VLAN,
    Server,
    audit_rows,
    free_udp_port,
    machine_busy_seconds,
    write_report,
)

from nac.pki import Pki
from radius import mschap
from radius.crypto import (
    message_authenticator,
    response_authenticator,
    salt_decrypt,
    verify_message_authenticator,
)
from radius.eap.packet import eap_message_from_attributes, split_eap_message
from radius.errors import DecodeError
from radius.packet import decode_packet, push_attributes

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
SERVER_NAME = "radius.bench"
OUTER_IDENTITY = {"tls": USER, "peap": "anonymous"}
EAP_TYPES = {"tls": 13, "peap": 25}
METHOD_LABEL = {"tls": "EAP-TLS", "peap": "PEAP-MSCHAPv2"}
TLS_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}
RATIO_TARGET = 0.8
PEER_FRAGMENT = 1398  # wpa_supplicant's default fragment_size
FRAMED_MTU = 1400  # what eapol_test sends
# The key exchange groups the peer offers: OpenSSL 3.0's default list without FFDHE, which is
# what eapol_test (system OpenSSL) offers. pyOpenSSL here runs on the OpenSSL bundled with
# `cryptography`, whose default adds X25519MLKEM768: a 1.2 KB key share that nac's TLS (same
# library) accepts and FreeRADIUS's (system OpenSSL 3.0) cannot, so TLS 1.3 would differ.
DEFAULT_GROUPS = "X25519:P-256:X448:P-521:P-384"

DEFAULT_NAC_CMD = (
    "{nac} serve --demo --data-dir {data_dir} --bind {host} "
    "--radius-auth-port {auth_port} --radius-acct-port {acct_port} --log-level warning"
)

# EAP (RFC 3748 section 4), EAP-TLS flags (RFC 5216 section 3.1), RADIUS attribute types
EAP_REQUEST, EAP_RESPONSE, EAP_SUCCESS, EAP_FAILURE = 1, 2, 3, 4
EAP_IDENTITY, EAP_NAK, EAP_MSCHAPV2, EAP_EXTENSIONS = 1, 3, 26, 33
FLAG_L, FLAG_M, FLAG_S = 0x80, 0x40, 0x20
ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
A_USER_NAME, A_NAS_IP, A_NAS_PORT, A_SERVICE_TYPE, A_FRAMED_MTU = 1, 4, 5, 6, 12
A_STATE, A_CALLED, A_CALLING, A_TUNNEL_GROUP, A_PORT_TYPE = 24, 30, 31, 81, 61
A_EAP_MESSAGE, A_MSG_AUTH = 79, 80
MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY = 16, 17
MS_VENDOR = (311).to_bytes(4, "big")  # Microsoft (RFC 2548)
MPPE_KEY_TYPES = (bytes((MS_MPPE_SEND_KEY,)), bytes((MS_MPPE_RECV_KEY,)))
ZERO16 = bytes(16)
RESULT_TLV_SUCCESS = b"\x80\x03\x00\x02\x00\x01"  # PEAP Result TLV, Success (MS-PEAP 2.2.8.1)


def log(msg: str) -> None:
    print(f"[eap] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the EAP peer


class PeerError(Exception):
    """The server sent something this peer does not expect: the conversation is dropped."""


@dataclass(frozen=True)
class PeerConfig:
    method: str  # "tls" or "peap"
    port: int
    tls_version: str
    ca_file: str
    client_cert: str
    client_key: str
    window: int
    timeout_s: float
    index: int = 0  # generator process number: its NAS-Port and Calling-Station-Ids
    cpus: tuple[int, ...] = ()  # pin the generator processes to these CPUs (--gen-cpus)
    groups: str = DEFAULT_GROUPS


def eap_packet(code: int, identifier: int, eap_type: int, data: bytes = b"") -> bytes:
    """An EAP Request/Response (RFC 3748 section 4.1)."""
    length = 5 + len(data)
    return bytes((code, identifier, length >> 8, length & 0xFF, eap_type)) + data


def client_context(cfg: PeerConfig) -> SSL.Context:
    """One client context per process: the CA to verify the server, alice's certificate for
    EAP-TLS, one TLS version, no session cache and no tickets (every handshake is full)."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(TLS_VERSIONS[cfg.tls_version])
    ctx.set_max_proto_version(TLS_VERSIONS[cfg.tls_version])
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    if _ssl_lib.SSL_CTX_set1_curves_list(ctx._context, cfg.groups.encode()) != 1:
        raise ValueError(f"OpenSSL refuses the group list {cfg.groups!r}")
    ctx.load_verify_locations(cfg.ca_file)
    ctx.set_verify(SSL.VERIFY_PEER, None)
    if cfg.method == "tls":
        ctx.use_certificate_file(cfg.client_cert)
        ctx.use_privatekey_file(cfg.client_key)
        ctx.check_privatekey()
    return ctx


class Conversation:
    """One authentication in progress: EAP-TLS or PEAPv0 framing (fragments, ACKs), the
    client TLS connection over memory BIOs, and PEAP's inner EAP-MSCHAPv2."""

    __slots__ = (
        "conn",
        "eap_type",
        "established",
        "inbuf",
        "mschap_challenge",
        "msk",
        "nakked",
        "nt_response",
        "out",
        "out_pos",
        "peer_challenge",
        "requests",
        "result_seen",
        "server_verified",
        "started",
        "state",
    )

    def __init__(self, ctx: SSL.Context, eap_type: int, now: float) -> None:
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_connect_state()
        self.eap_type = eap_type
        self.started = now
        self.state: bytes | None = None
        self.requests = 0
        self.established = False
        self.nakked = False
        self.inbuf: list[bytes] = []
        self.out = b""
        self.out_pos = 0
        self.msk = b""
        self.mschap_challenge = b""
        self.peer_challenge = b""
        self.nt_response = b""
        self.server_verified = False
        self.result_seen = False

    # EAP-TLS / PEAP framing (RFC 5216 section 2.1.5, MS-PEAP 2.2.5) --------------------

    def respond(self, request: bytes, peer: Peer) -> bytes:
        """Our EAP-Response to one EAP-Request of an Access-Challenge."""
        if len(request) < 5:
            raise PeerError("short EAP packet")
        code, identifier = request[0], request[1]
        if code != EAP_REQUEST or (request[2] << 8 | request[3]) != len(request):
            raise PeerError(f"EAP code {code} / bad length in an Access-Challenge")
        eap_type = request[4]
        if eap_type != self.eap_type:
            if self.nakked or eap_type == EAP_IDENTITY:
                raise PeerError(f"server insists on EAP type {eap_type}")
            self.nakked = True  # the server proposed another method first: Legacy Nak
            return eap_packet(EAP_RESPONSE, identifier, EAP_NAK, bytes((self.eap_type,)))
        if len(request) < 6:
            raise PeerError("EAP-TLS request without flags")
        flags, body = request[5], request[6:]
        if flags & FLAG_L:
            body = body[4:]
        if self.out_pos < len(self.out):  # the server ACKed a fragment of ours
            if body or flags & FLAG_M:
                raise PeerError("server data while it owed us an ACK")
            return self._fragment(identifier)
        if flags & FLAG_S:
            self._handshake(peer)
            return self._send(identifier)
        if body:
            self.inbuf.append(body)
        if flags & FLAG_M:
            return eap_packet(EAP_RESPONSE, identifier, self.eap_type, b"\x00")
        message = b"".join(self.inbuf)
        self.inbuf = []
        if message:
            self.conn.bio_write(message)
        if not self.established:
            self._handshake(peer)
        if self.established:
            data = self._read()
            if data and self.eap_type == EAP_TYPES["peap"]:
                self._peap_inner(data, peer)
        return self._send(identifier)

    def _handshake(self, peer: Peer) -> None:
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return
        self.established = True
        # Key_Material is 128 octets, MSK its first 64; TLS 1.3's exporter output depends on
        # the length asked for, so ask for all 128 (RFC 9190 2.3, RFC 9427 2.1)
        if self.conn.get_protocol_version_name() == "TLSv1.3":
            context = bytes((self.eap_type,))
            key_material = self.conn.export_keying_material(
                b"EXPORTER_EAP_TLS_Key_Material", 128, context
            )
        else:  # RFC 5216 2.3; PEAPv0 without cryptobinding uses the same label
            key_material = self.conn.export_keying_material(b"client EAP encryption", 128)
        self.msk = key_material[:64]
        if peer.tls_seen is None:
            conn = self.conn
            peer.tls_seen = (
                f"{conn.get_protocol_version_name()} {conn.get_cipher_name()}"
                f" {conn.get_group_name() or '?'}"
            )

    def _read(self) -> bytes:
        parts = []
        while True:
            try:
                parts.append(self.conn.recv(65536))
            except (SSL.WantReadError, SSL.ZeroReturnError):
                return b"".join(parts)

    def _send(self, identifier: int) -> bytes:
        out = []
        while True:
            try:
                out.append(self.conn.bio_read(65536))
            except SSL.WantReadError:
                break
        if not out:
            return eap_packet(EAP_RESPONSE, identifier, self.eap_type, b"\x00")
        self.out, self.out_pos = b"".join(out), 0
        return self._fragment(identifier)

    def _fragment(self, identifier: int) -> bytes:
        first = self.out_pos == 0
        chunk = self.out[self.out_pos : self.out_pos + PEER_FRAGMENT]
        self.out_pos += len(chunk)
        more = self.out_pos < len(self.out)
        flags, head = (FLAG_M, b"") if more else (0, b"")
        if first and more:
            flags |= FLAG_L
            head = len(self.out).to_bytes(4, "big")
        if not more:
            self.out, self.out_pos = b"", 0
        return eap_packet(EAP_RESPONSE, identifier, self.eap_type, bytes((flags,)) + head + chunk)

    # PEAPv0 inner EAP (headerless except Extensions) and EAP-MSCHAPv2 (RFC 2759) ----------

    def _peap_inner(self, data: bytes, peer: Peer) -> None:
        conn = self.conn
        if len(data) >= 11 and data[0] == EAP_REQUEST and data[4] == EAP_EXTENSIONS:
            if data[5:11] != RESULT_TLV_SUCCESS:
                raise PeerError(f"PEAP Result TLV {data[5:].hex()}")
            if not self.server_verified:
                raise PeerError("Result TLV success before MS-CHAPv2 success")
            self.result_seen = True
            conn.send(eap_packet(EAP_RESPONSE, data[1], EAP_EXTENSIONS, RESULT_TLV_SUCCESS))
            return
        if data == bytes((EAP_IDENTITY,)) or data[:5] == bytes((EAP_REQUEST, data[1], 0, 5, 1)):
            # headerless (nac), or with its EAP header (FreeRADIUS: as wpa_supplicant accepts)
            conn.send(bytes((EAP_IDENTITY,)) + peer.user)
            return
        if len(data) < 5 or data[0] != EAP_MSCHAPV2:
            raise PeerError(f"unexpected tunnel data {data[:8].hex()}")
        opcode, ms_id = data[1], data[2]
        if opcode == 1:  # Challenge: Value-Size 16, the authenticator challenge, name
            if len(data) < 22 or data[5] != 16:
                raise PeerError("short MS-CHAPv2 Challenge")
            self.mschap_challenge = data[6:22]
            self.peer_challenge = os.urandom(16)
            self.nt_response = mschap.generate_nt_response_from_hash(
                self.mschap_challenge, self.peer_challenge, peer.user, peer.nt_hash
            )
            value = self.peer_challenge + bytes(8) + self.nt_response + b"\x00"
            length = 4 + 1 + len(value) + len(peer.user)
            head = bytes((EAP_MSCHAPV2, 2, ms_id)) + length.to_bytes(2, "big") + b"\x31"
            conn.send(head + value + peer.user)
        elif opcode == 3:  # Success: "S=<authenticator response> M=..."
            self.server_verified = mschap.check_authenticator_response(
                data[5:],
                self.nt_response,
                self.peer_challenge,
                self.mschap_challenge,
                peer.user,
                password_hash=peer.nt_hash,
            )
            if not self.server_verified:
                raise PeerError("MS-CHAPv2 authenticator response does not verify")
            conn.send(bytes((EAP_MSCHAPV2, 3)))
        elif opcode == 4:
            raise PeerError(f"MS-CHAPv2 Failure {data[5:40]!r}")
        else:
            raise PeerError(f"MS-CHAPv2 OpCode {opcode}")


@dataclass
class Slot:
    """One connected UDP socket (its own source port, identifiers 0-255) carrying one
    conversation at a time."""

    sock: socket.socket
    fixed: bytes  # the encoded attributes every request of this slot carries
    conv: Conversation | None = None
    identifier: int = 0
    authenticator: bytes = ZERO16
    deadline: float = 0.0


def new_counts() -> dict[str, Any]:
    return {
        "started": 0,
        "accepts": 0,
        "accepts_with_vlan": 0,
        "keys_ok": 0,
        "keys_mismatch": 0,
        "rejects": 0,
        "timeouts": 0,
        "errors": 0,
        "bad_replies": 0,
        "stale_replies": 0,
        "requests": 0,
        "latencies": [],
        "error_kinds": Counter(),
    }


class Peer:
    """A window of concurrent EAP conversations from one process, over `window` sockets,
    driven by one selector loop (closed loop: a finished conversation starts the next)."""

    def __init__(self, cfg: PeerConfig) -> None:
        self.cfg = cfg
        self.ctx = client_context(cfg)
        self.eap_type = EAP_TYPES[cfg.method]
        self.secret = SECRET.encode()
        self.user = USER.encode()
        self.identity = OUTER_IDENTITY[cfg.method].encode()
        self.nt_hash = mschap.nt_password_hash(PASSWORD)
        self.tls_seen: str | None = None
        self.counts = new_counts()
        self.sel = selectors.DefaultSelector()
        self.slots: list[Slot] = []
        base = (
            (A_NAS_IP, socket.inet_aton(HOST)),
            (A_NAS_PORT, (cfg.index + 1).to_bytes(4, "big")),
            (A_SERVICE_TYPE, (2).to_bytes(4, "big")),  # Framed
            (A_PORT_TYPE, (19).to_bytes(4, "big")),  # Wireless-802.11, as eapol_test says
            (A_FRAMED_MTU, FRAMED_MTU.to_bytes(4, "big")),
            (A_CALLED, b"02-00-00-00-00-01:nac-bench"),
        )
        for n in range(cfg.window):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((HOST, cfg.port))
            calling = f"02-00-{cfg.index:02X}-00-{n >> 8:02X}-{n & 0xFF:02X}".encode()
            fixed = ((A_MSG_AUTH, ZERO16), (A_USER_NAME, self.identity), *base)
            slot = Slot(sock, push_attributes((*fixed, (A_CALLING, calling))))
            self.sel.register(sock, selectors.EVENT_READ, slot)
            self.slots.append(slot)

    def close(self) -> None:
        for slot in self.slots:
            self.sel.unregister(slot.sock)
            slot.sock.close()
        self.sel.close()

    # one conversation ------------------------------------------------------------------

    def start(self, slot: Slot, now: float) -> None:
        slot.conv = Conversation(self.ctx, self.eap_type, now)
        self.counts["started"] += 1
        self.send(slot, eap_packet(EAP_RESPONSE, 0, EAP_IDENTITY, self.identity), now)

    def send(self, slot: Slot, eap: bytes, now: float) -> None:
        conv = slot.conv
        assert conv is not None
        slot.identifier = (slot.identifier + 1) & 0xFF
        slot.authenticator = os.urandom(16)
        attrs = [(A_EAP_MESSAGE, value) for value in split_eap_message(eap)]
        if conv.state is not None:
            attrs.append((A_STATE, conv.state))
        body = slot.fixed + push_attributes(attrs)  # Message-Authenticator first, zeroed
        length = 20 + len(body)
        head = bytes((ACCESS_REQUEST, slot.identifier, length >> 8, length & 0xFF))
        packet = head + slot.authenticator + body
        mac = message_authenticator(packet, self.secret)  # RFC 3579 3.2
        packet = packet[:22] + mac + packet[38:]
        conv.requests += 1
        self.counts["requests"] += 1
        slot.deadline = now + self.cfg.timeout_s
        slot.sock.send(packet)

    def finish(self, slot: Slot, now: float, outcome: str, detail: str = "") -> None:
        counts = self.counts
        conv = slot.conv
        slot.conv = None
        if conv is not None and outcome == "accepts":
            counts["latencies"].append(now - conv.started)
        counts[outcome] += 1
        if detail:
            counts["error_kinds"][detail[:80]] += 1

    def received(self, slot: Slot, data: bytes, now: float) -> None:
        conv = slot.conv
        if conv is None or len(data) < 20 or data[1] != slot.identifier:
            self.counts["stale_replies"] += 1
            return
        length = data[2] << 8 | data[3]
        if length < 20 or length > len(data):
            self.finish(slot, now, "bad_replies", "reply length")
            return
        raw = data[:length]
        code = raw[0]
        expected = response_authenticator(code, raw[1], slot.authenticator, raw[20:], self.secret)
        if expected != raw[4:20]:
            self.finish(slot, now, "bad_replies", "Response Authenticator")
            return
        try:
            packet = decode_packet(raw)
            offset = message_authenticator_offset(raw)
            if offset < 0 or not verify_message_authenticator(
                raw, offset, self.secret, slot.authenticator
            ):
                self.finish(slot, now, "bad_replies", "Message-Authenticator")
                return
            eap = eap_message_from_attributes(packet.attributes)
            if code == ACCESS_CHALLENGE:
                if not eap:
                    raise PeerError("Access-Challenge without EAP-Message")
                conv.state = packet.get(A_STATE)
                self.send(slot, conv.respond(eap, self), now)
            elif code == ACCESS_ACCEPT:
                self.accepted(slot, conv, packet.attributes, eap, now)
            elif code == ACCESS_REJECT:
                self.finish(slot, now, "rejects", "Access-Reject")
            else:
                self.finish(slot, now, "bad_replies", f"RADIUS code {code}")
        except (PeerError, SSL.Error, DecodeError, ValueError) as exc:
            self.finish(slot, now, "errors", f"{type(exc).__name__}: {exc}")

    def accepted(
        self,
        slot: Slot,
        conv: Conversation,
        attributes: tuple[tuple[int, bytes], ...],
        eap: bytes | None,
        now: float,
    ) -> None:
        if not eap or eap[0] != EAP_SUCCESS or not conv.established:
            self.finish(slot, now, "errors", "Access-Accept without EAP-Success")
            return
        if conv.eap_type == EAP_TYPES["peap"] and not conv.result_seen:
            self.finish(slot, now, "errors", "PEAP accept before the inner method ended")
            return
        keys: dict[int, bytes] = {}
        vlan = False
        for attr, value in attributes:
            if attr == A_TUNNEL_GROUP:
                vlan = (value[1:] if value and value[0] < 0x20 else value) == VLAN.encode()
            elif attr == 26 and value[:4] == MS_VENDOR and value[4:5] in MPPE_KEY_TYPES:
                keys[value[4]] = salt_decrypt(value[6:], self.secret, slot.authenticator)
        # RFC 5216 2.3 / RFC 3079: MS-MPPE-Recv-Key = MSK[0:32], MS-MPPE-Send-Key = MSK[32:64]
        good = (
            keys.get(MS_MPPE_RECV_KEY) == conv.msk[:32]
            and keys.get(MS_MPPE_SEND_KEY) == conv.msk[32:64]
        )
        self.counts["keys_ok" if good else "keys_mismatch"] += 1
        self.counts["accepts_with_vlan"] += vlan
        self.finish(slot, now, "accepts")

    # the loop --------------------------------------------------------------------------

    def run(self, *, t_mark: float, t_end: float, max_done: int = 0) -> dict[str, Any]:
        """Run until `t_end` (or `max_done` finished conversations). Counters restart at
        `t_mark`: what came before is the warm-up, returned under "warmup"."""
        marked = False
        warm: dict[str, Any] = {}
        cpu_mark = time.process_time()
        wall_mark = time.monotonic()
        select = self.sel.select
        while True:
            now = time.monotonic()
            if not marked and now >= t_mark:
                marked = True
                warm, self.counts = self.counts, new_counts()
                cpu_mark, wall_mark = time.process_time(), now
            if now >= t_end:
                break
            done = self.finished()
            if max_done and done >= max_done:
                break
            for slot in self.slots:
                if slot.conv is None:
                    if not max_done or self.counts["started"] < max_done:
                        self.start(slot, now)
                elif now >= slot.deadline:
                    self.finish(slot, now, "timeouts", "timeout")
            wake = min(
                [s.deadline for s in self.slots if s.conv is not None]
                + [t_end, t_mark if not marked else t_end]
            )
            for key, _ in select(max(0.0, wake - now)):
                slot = key.data
                while True:
                    try:
                        data = slot.sock.recv(8192)
                    except (BlockingIOError, InterruptedError):
                        break
                    except ConnectionRefusedError:  # ICMP port unreachable: not up yet
                        break
                    self.received(slot, data, time.monotonic())
        counts = self.counts
        counts["elapsed_s"] = time.monotonic() - wall_mark
        counts["cpu_s"] = time.process_time() - cpu_mark
        counts["tls"] = self.tls_seen
        counts["error_kinds"] = dict(counts["error_kinds"])
        if warm:
            warm["error_kinds"] = dict(warm["error_kinds"])
            warm["latencies"] = len(warm["latencies"])
            counts["warmup"] = warm
        return counts

    def finished(self) -> int:
        c = self.counts
        return int(c["accepts"] + c["rejects"] + c["errors"] + c["timeouts"] + c["bad_replies"])


def message_authenticator_offset(raw: bytes) -> int:
    pos = 20
    while pos + 1 < len(raw):
        if raw[pos] == A_MSG_AUTH:
            return pos
        if raw[pos + 1] < 2:
            return -1
        pos += raw[pos + 1]
    return -1


def generator_process(cfg: PeerConfig, conn: Connection) -> None:
    """One generator process: build the peer, say ready, run when told, send the counts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if cfg.cpus:
        os.sched_setaffinity(0, cfg.cpus)
    try:
        peer = Peer(cfg)
        conn.send(("ready", None))
        t_mark, t_end = conn.recv()
        counts = peer.run(t_mark=t_mark, t_end=t_end)
        peer.close()
        conn.send(("done", counts))
    except Exception:  # reported to the parent, which fails loudly
        conn.send(("error", traceback.format_exc()))


# ---------------------------------------------------------------------------- servers


@dataclass
class EapServer(Server):
    """radius_pap's Server, started with extra environment (nac's EAP certificates)."""

    env: dict[str, str] = field(default_factory=dict)
    cpus: str = ""  # taskset CPU list (--server-cpus); threads and children inherit it

    def start(self) -> None:
        cmd = ["taskset", "-c", self.cpus, *self.cmd] if self.cpus else self.cmd
        log(f"starting {self.name}: {shlex.join(cmd)}")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,  # Ctrl-C reaches us; we stop it ourselves
            )


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(tmp: Path) -> Certs:
    """The built-in CA of nac (ECDSA P-256) with a server certificate and alice's client
    certificate, shared by both servers."""
    pki = Pki(tmp / "pki")
    pki.init(server_names=[SERVER_NAME])
    alice = pki.issue(USER, out_dir=tmp / "client", p12_password=b"x")
    p = pki.paths
    return Certs(p.ca_cert, p.server_cert, p.server_key, alice.cert_path, alice.key_path)


FREERADIUS_CONF = (
    FREERADIUS_BASE
    + """\
modules {{
\tfiles {{
\t\tfilename = ${{confdir}}/users
\t}}
\tmschap {{
\t}}
\teap {{
\t\tdefault_eap_type = peap
\t\ttimer_expire = 60
\t\tignore_unknown_eap_types = no
\t\tcisco_accounting_username_bug = no
\t\tmax_sessions = 65536
\t\ttls-config tls-common {{
\t\t\tprivate_key_file = {server_key}
\t\t\tcertificate_file = {server_cert}
\t\t\tca_file = {ca}
\t\t\tcipher_list = "DEFAULT"
\t\t\tcipher_server_preference = no
\t\t\ttls_min_version = "{tls}"
\t\t\ttls_max_version = "{tls}"
\t\t\tecdh_curve = ""
\t\t\tfragment_size = 1024
\t\t\tinclude_length = yes
\t\t\tauto_chain = no  # send server.crt as it is (nac: the same)
\t\t\tcheck_crl = no
\t\t\tcheck_cert_cn = %{{User-Name}}
\t\t\tcache {{
\t\t\t\tenable = {cache}
\t\t\t\tlifetime = 1
\t\t\t\tmax_entries = 20480
{cache_store}\t\t\t}}
\t\t\tverify {{
\t\t\t}}
\t\t\tocsp {{
\t\t\t\tenable = no
\t\t\t}}
\t\t}}
\t\ttls {{
\t\t\ttls = tls-common
\t\t}}
\t\tpeap {{
\t\t\ttls = tls-common
\t\t\tdefault_eap_type = mschapv2
\t\t\tcopy_request_to_tunnel = no
\t\t\tuse_tunneled_reply = yes
\t\t\tvirtual_server = "inner-tunnel"
\t\t}}
\t\tmschapv2 {{
\t\t}}
\t}}
}}
server default {{
\tlisten {{
\t\ttype = auth
\t\tipaddr = {host}
\t\tport = {port}
\t\trecv_buff = 4194304
\t}}
\tauthorize {{
\t\teap {{
\t\t\tok = return
\t\t}}
\t\tfiles
\t}}
\tauthenticate {{
\t\tAuth-Type EAP {{
\t\t\teap
\t\t}}
\t}}
\tpost-auth {{
\t\tif (&User-Name == "{user}") {{
{vlan}
\t\t}}
\t}}
}}
server inner-tunnel {{
\tauthorize {{
\t\teap {{
\t\t\tok = return
\t\t}}
\t\tfiles
\t\tmschap
\t}}
\tauthenticate {{
\t\tAuth-Type MS-CHAP {{
\t\t\tmschap
\t\t}}
\t\teap
\t}}
\tpost-auth {{
\t\tif (&User-Name == "{user}") {{
{vlan}
\t\t}}
\t}}
}}
"""
)

FREERADIUS_VLAN = f"""\
\t\t\tupdate reply {{
\t\t\t\tTunnel-Type := VLAN
\t\t\t\tTunnel-Medium-Type := IEEE-802
\t\t\t\tTunnel-Private-Group-Id := "{VLAN}"
\t\t\t}}"""


def freeradius_server(tmp: Path, certs: Certs, args: argparse.Namespace) -> EapServer:
    root = tmp / "freeradius"
    for sub in ("raddb", "log", "run", "tlscache"):
        (root / sub).mkdir(parents=True)
    port = free_udp_port()
    conf = FREERADIUS_CONF.format(
        root=root,
        host=HOST,
        secret=SECRET,
        threads=args.freeradius_threads,
        port=port,
        server_key=certs.server_key,
        server_cert=certs.server_cert,
        ca=certs.ca,
        tls=args.tls,
        cache="yes" if args.freeradius_cache else "no",
        # FreeRADIUS 3.2 resumes only sessions it wrote to persist_dir (two files each)
        cache_store=(
            f'\t\t\t\tname = "bench"\n\t\t\t\tpersist_dir = "{root / "tlscache"}"\n'
            if args.freeradius_cache
            else ""
        ),
        user=USER,
        vlan=FREERADIUS_VLAN,
    )
    (root / "raddb" / "radiusd.conf").write_text(conf)
    (root / "raddb" / "users").write_text(f'{USER}\tCleartext-Password := "{PASSWORD}"\n')
    cmd = [FREERADIUS_BIN, "-f", "-d", str(root / "raddb"), "-l", "stdout"]
    return EapServer("freeradius", cmd, port, root / "server.log", root, cpus=args.server_cpus)


def nac_server(tmp: Path, certs: Certs, args: argparse.Namespace, workers: int) -> EapServer:
    root = tmp / f"nac-w{workers}"
    root.mkdir()
    auth_port, acct_port = free_udp_port(), free_udp_port()
    nac_script = Path(sys.executable).parent / "nac"
    text = args.nac_cmd.format(
        nac=shlex.quote(str(nac_script) if nac_script.exists() else "nac"),
        data_dir=shlex.quote(str(root / "nacdata")),
        host=HOST,
        auth_port=auth_port,
        acct_port=acct_port,
    )
    text += f" --workers {workers}"
    env = {
        "NAC_EAP_CA_CERT": str(certs.ca),
        "NAC_EAP_SERVER_CERT": str(certs.server_cert),
        "NAC_EAP_SERVER_KEY": str(certs.server_key),
        "NAC_EAP_TLS_MIN_VERSION": args.tls,
        "NAC_EAP_TLS_MAX_VERSION": args.tls,
        # only RADIUS: the servers of one run are up side by side and would share these ports
        "NAC_TACACS_PORT": "0",
        "NAC_TACACS_TLS_PORT": "0",
        "NAC_WEB_PORT": "0",
        "NAC_DHCP_PORT": "0",
    }
    audit_db = root / "nacdata" / "nac.db" if "{data_dir}" in args.nac_cmd else None
    return EapServer(
        f"nac-w{workers}",
        shlex.split(text),
        auth_port,
        root / "server.log",
        root,
        audit_db,
        env=env,
        cpus=args.server_cpus,
    )


# ---------------------------------------------------------------------------- checks


def peer_config(server: Server, certs: Certs, args: argparse.Namespace, method: str) -> PeerConfig:
    return PeerConfig(
        method=method,
        port=server.auth_port,
        tls_version=args.tls,
        ca_file=str(certs.ca),
        client_cert=str(certs.client_cert),
        client_key=str(certs.client_key),
        window=args.window,
        timeout_s=args.timeout,
        cpus=tuple(args.gen_cpus),
        groups=args.groups,
    )


def one_auth(cfg: PeerConfig, limit_s: float) -> dict[str, Any]:
    """One conversation of this process's own peer (window 1)."""
    peer = Peer(replace(cfg, window=1, index=99))
    try:
        now = time.monotonic()
        return peer.run(t_mark=now, t_end=now + limit_s, max_done=1)
    finally:
        peer.close()


def wait_ready(server: EapServer, cfg: PeerConfig, limit_s: float) -> None:
    """Probe with single conversations until one is accepted."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        r = one_auth(replace(cfg, timeout_s=0.5), 10.0)
        server.answered += r["accepts"] + r["rejects"]
        if r["accepts"] == 1:
            return
        if r["rejects"] or r["errors"] or r["bad_replies"]:
            raise RuntimeError(
                f"{server.name}: {METHOD_LABEL[cfg.method]} did not succeed: {r['error_kinds']}"
                f"\n{server.log_tail()}"
            )
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {limit_s:.0f} s:\n{server.log_tail()}")


def check_peer(server: EapServer, cfg: PeerConfig) -> dict[str, Any]:
    """One authentication by the bench's peer: accepted, MPPE keys and VLAN as expected."""
    r = one_auth(cfg, 20.0)
    server.answered += r["accepts"] + r["rejects"]
    if r["accepts"] != 1 or r["keys_ok"] != 1:
        raise RuntimeError(
            f"{server.name}: the bench peer's {METHOD_LABEL[cfg.method]} failed: {r}"
            f"\n{server.log_tail()}"
        )
    if r["accepts_with_vlan"] != 1:
        log(f"warning: {server.name} accepted {cfg.method} without VLAN {VLAN}")
    return r


PHASE1 = {
    "1.2": "tls_disable_tlsv1_0=1 tls_disable_tlsv1_1=1 tls_disable_tlsv1_3=1",
    "1.3": "tls_disable_tlsv1_0=1 tls_disable_tlsv1_1=1 tls_disable_tlsv1_2=1 "
    "tls_disable_tlsv1_3=0",
}


def eapol_test_check(
    server: EapServer, certs: Certs, tmp: Path, method: str, tls: str
) -> dict[str, Any]:
    """One authentication with wpa_supplicant's eapol_test: SUCCESS and matching MPPE keys,
    or a RuntimeError with its output."""
    binary = shutil.which("eapol_test") or "/usr/sbin/eapol_test"
    if method == "tls":
        network = {
            "eap": "TLS",
            "identity": f'"{USER}"',
            "client_cert": f'"{certs.client_cert}"',
            "private_key": f'"{certs.client_key}"',
            "phase1": f'"{PHASE1[tls]}"',
        }
    else:
        network = {
            "eap": "PEAP",
            "identity": f'"{USER}"',
            "anonymous_identity": f'"{OUTER_IDENTITY["peap"]}"',
            "password": f'"{PASSWORD}"',
            "phase1": f'"{PHASE1[tls]} peapver=0"',
            "phase2": '"auth=MSCHAPV2"',
        }
    network["ca_cert"] = f'"{certs.ca}"'
    lines = "".join(f"    {k}={v}\n" for k, v in network.items())
    conf = tmp / f"eapol_test-{server.name}-{method}.conf"
    conf.write_text(f'network={{\n    ssid="bench"\n    key_mgmt=WPA-EAP\n{lines}}}\n')
    cmd = [binary, "-c", str(conf), "-a", HOST, "-p", str(server.auth_port), "-s", SECRET]
    cmd += ["-t", "15"]
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise RuntimeError(f"{binary} not found (Debian package eapoltest)") from None
    out = res.stdout + res.stderr
    ok = res.returncode == 0 and out.rstrip().endswith("SUCCESS")
    keys_ok = "MPPE keys OK: 1  mismatch: 0" in out
    if not (ok and keys_ok):
        raise RuntimeError(
            f"eapol_test {METHOD_LABEL[method]} against {server.name} failed "
            f"(rc {res.returncode}, keys {'ok' if keys_ok else 'NOT ok'}):\n{out[-3000:]}\n"
            f"--- {server.name} log ---\n{server.log_tail()}"
        )
    server.answered += 1
    rounds = out.count("RADIUS message: code=11") + 1
    vlan = "Attribute 81 (Tunnel-Private-Group-Id)" in out
    log(f"  eapol_test {METHOD_LABEL[method]}: SUCCESS, MPPE keys OK, {rounds} round trips")
    return {"ok": True, "round_trips": rounds, "vlan": vlan, "s": round(time.monotonic() - t0, 2)}


# ---------------------------------------------------------------------------- load


def tree_cpu_by_pid(pid: int) -> dict[int, float]:
    """User+system CPU seconds of `pid` and each live descendant (radius_pap's
    tree_cpu_seconds, not summed): shows whether one process (nac's worker) was the limit."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        out[p] = ticks.get(p, 0) / CLK_TCK
        todo.extend(children.get(p, []))
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return -1.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_load(server: EapServer, cfg: PeerConfig, args: argparse.Namespace) -> dict[str, Any]:
    """`--procs` generator processes: warm-up, then the measured `--duration`."""
    ctx = mp.get_context("fork")
    procs: list[tuple[Any, Connection]] = []
    completed = False
    try:
        for index in range(args.procs):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=generator_process, args=(replace(cfg, index=index), theirs), daemon=True
            )
            proc.start()
            theirs.close()
            procs.append((proc, ours))
        for _, conn in procs:
            if not conn.poll(30):
                raise RuntimeError("a generator process did not start")
            kind, payload = conn.recv()
            if kind != "ready":
                raise RuntimeError(f"generator failed:\n{payload}")
        t_mark = time.monotonic() + 0.1 + args.warmup
        t_end = t_mark + args.duration
        for _, conn in procs:
            conn.send((t_mark, t_end))
        time.sleep(max(0.0, t_mark - time.monotonic()))
        cpu0, busy0 = tree_cpu_by_pid(server.pid), machine_busy_seconds()
        time.sleep(max(0.0, t_end - time.monotonic()))
        cpu1, busy1 = tree_cpu_by_pid(server.pid), machine_busy_seconds()
        parts = []
        for _, conn in procs:
            if not conn.poll(args.timeout + 30):
                raise RuntimeError("a generator process did not report")
            kind, payload = conn.recv()
            if kind != "done":
                raise RuntimeError(f"generator failed:\n{payload}")
            parts.append(payload)
        completed = True
    finally:
        for proc, conn in procs:
            conn.close()
            if completed:
                proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    if not server.alive():
        raise RuntimeError(f"{server.name} died during the run:\n{server.log_tail()}")
    per_process = [cpu1[p] - cpu0.get(p, 0.0) for p in cpu1]
    return summarize(parts, server_cpu=per_process, busy=busy1 - busy0, args=args)


def summarize(
    parts: list[dict[str, Any]],
    *,
    server_cpu: list[float],
    busy: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The generator processes' counts added up, with the CPU figures of the run
    (`server_cpu`: seconds per server process)."""
    server_max = max(server_cpu, default=0.0)
    server_total = sum(server_cpu)
    keys = [
        "started",
        "accepts",
        "accepts_with_vlan",
        "keys_ok",
        "keys_mismatch",
        "rejects",
        "timeouts",
        "errors",
        "bad_replies",
        "stale_replies",
        "requests",
    ]
    total = {k: sum(p[k] for p in parts) for k in keys}
    warm = {k: sum(p["warmup"][k] for p in parts) for k in keys}
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["error_kinds"])
        errors.update(p["warmup"]["error_kinds"])
    latencies = [x for p in parts for x in p["latencies"]]
    elapsed = max(p["elapsed_s"] for p in parts)
    gen_cpu = sum(p["cpu_s"] for p in parts)
    accepts = total["accepts"]
    done = accepts + total["rejects"] + total["errors"] + total["timeouts"]
    return {
        **total,
        "rate_per_s": round(accepts / elapsed, 1) if elapsed > 0 else 0.0,
        "elapsed_s": round(elapsed, 3),
        "round_trips_per_auth": round(total["requests"] / done, 2) if done else 0.0,
        "p50_ms": round(pct(latencies, 0.50) * 1000, 2),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 2),
        "server_cpu_s": round(server_total, 3),
        "gen_cpu_s": round(gen_cpu, 3),
        "gen_cpu_s_per_proc": [round(p["cpu_s"], 3) for p in parts],
        "other_cpu_s": round(max(busy - server_total - gen_cpu, 0.0), 3),
        "machine_busy_pct": round(100 * busy / (elapsed * (os.cpu_count() or 1)), 1),
        "server_processes": len(server_cpu),
        "server_proc_max_pct": round(100 * server_max / elapsed, 1),
        "gen_proc_max_pct": round(100 * max(p["cpu_s"] for p in parts) / elapsed, 1),
        "server_ms_per_auth": round(server_total / accepts * 1000, 3) if accepts else None,
        "gen_ms_per_auth": round(gen_cpu / accepts * 1000, 3) if accepts else None,
        "tls": next((p["tls"] for p in parts if p["tls"]), None),
        "error_kinds": dict(errors.most_common(10)),
        "warmup": warm,
        "window_per_proc": args.window,
        "procs": args.procs,
        "rounds": args.rounds,
    }


def audit_drain(server: EapServer, limit_s: float = 60.0) -> dict[str, Any] | None:
    """nac stores one audit row per decision after answering: wait until it has caught up."""
    if server.audit_db is None:
        return None
    t0 = time.monotonic()
    behind = server.answered - max(audit_rows(server.audit_db), 0)
    stored = audit_rows(server.audit_db)
    while stored < server.answered and time.monotonic() - t0 < limit_s:
        time.sleep(0.1)
        stored = audit_rows(server.audit_db)
    return {
        "behind_at_end": behind,
        "drain_s": round(time.monotonic() - t0, 2) if behind > 0 else 0.0,
        "all_stored": stored >= server.answered,
    }


def describe(r: dict[str, Any]) -> str:
    return (
        f"{r['rate_per_s']:>7.1f} auth/s  {r['round_trips_per_auth']:.1f} rt/auth  "
        f"p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms  "
        f"rej {r['rejects']} lost {r['timeouts']} err {r['errors']} bad {r['bad_replies']} "
        f"keys-bad {r['keys_mismatch']}  cpu srv {r['server_cpu_s']:.2f} "
        f"gen {r['gen_cpu_s']:.2f} other {r['other_cpu_s']:.2f} s / {r['elapsed_s']:.2f} s"
    )


@dataclass
class Prepared:
    """A started server, checked and ready for load."""

    server: EapServer
    cfgs: dict[str, PeerConfig]
    checks: dict[str, dict[str, Any]]
    runs: dict[str, list[dict[str, Any]]]


def prepare_server(
    server: EapServer, certs: Certs, args: argparse.Namespace, tmp: Path
) -> Prepared:
    server.start()
    cfgs = {m: peer_config(server, certs, args, m) for m in args.methods}
    wait_ready(server, cfgs[args.methods[0]], args.startup_timeout)
    log(f"{server.name} ready on {HOST}:{server.auth_port}")
    checks: dict[str, dict[str, Any]] = {}
    for method in args.methods:
        check: dict[str, Any] = {}
        if not args.skip_eapol_test:
            check["eapol_test"] = eapol_test_check(server, certs, tmp, method, args.tls)
        check["peer_round_trips"] = check_peer(server, cfgs[method])["requests"]
        checks[method] = check
    return Prepared(server, cfgs, checks, {m: [] for m in args.methods})


def measure(prepared: Prepared, method: str, args: argparse.Namespace, label: str) -> None:
    server = prepared.server
    log(
        f"  {server.name} {METHOD_LABEL[method]}{label}: warm-up {args.warmup:.0f} s, then "
        f"{args.duration:.0f} s with {args.procs} x {args.window} conversations"
    )
    run = run_load(server, prepared.cfgs[method], args)
    server.answered += run["accepts"] + run["rejects"]
    server.answered += run["warmup"]["accepts"] + run["warmup"]["rejects"]
    audit = audit_drain(server)  # stored before the next server's turn: no backlog bleeds over
    if audit is not None:
        run["audit"] = audit
    log(f"  {server.name} {METHOD_LABEL[method]:<13} {describe(run)}")
    if run["error_kinds"]:
        log(f"    errors: {run['error_kinds']}")
    prepared.runs[method].append(run)


def median_rounds(prepared: Prepared) -> dict[str, Any]:
    """Each method's median round (by auth/s), with every round's rate beside it."""
    server = prepared.server
    result: dict[str, Any] = {"server": server.name, "command": server.cmd, "methods": {}}
    for method, runs in prepared.runs.items():
        ordered = sorted(runs, key=lambda r: r["rate_per_s"])
        median = dict(ordered[(len(ordered) - 1) // 2])
        median["checks"] = prepared.checks[method]
        median["round_rates_per_s"] = [r["rate_per_s"] for r in runs]
        result["methods"][method] = median
    return result


# ---------------------------------------------------------------------------- report


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    head = (
        f"{'server':<11} {'method':<13} {'auth/s':>7} {'rt':>3} {'p50/p99 ms':>13} "
        f"{'srv CPU s':>9} {'gen CPU s':>9} {'other s':>7} {'busy':>5} {'srv/proc':>8} "
        f"{'gen/proc':>8} {'srv ms/auth':>11} {'gen ms/auth':>11} {'fail':>4}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for method, m in r["methods"].items():
            fail = m["rejects"] + m["timeouts"] + m["errors"] + m["bad_replies"]
            fail += m["keys_mismatch"]
            print(
                f"{r['server']:<11} {METHOD_LABEL[method]:<13} {m['rate_per_s']:>7.1f} "
                f"{m['round_trips_per_auth']:>3.0f} {m['p50_ms']:>6.1f}/{m['p99_ms']:<6.1f} "
                f"{m['server_cpu_s']:>9.2f} {m['gen_cpu_s']:>9.2f} {m['other_cpu_s']:>7.2f} "
                f"{m['machine_busy_pct']:>4.0f}% {m['server_proc_max_pct']:>7.0f}% "
                f"{m['gen_proc_max_pct']:>7.0f}% "
                f"{m['server_ms_per_auth'] or 0:>11.2f} {m['gen_ms_per_auth'] or 0:>11.2f} "
                f"{fail:>4}"
            )
    if args.rounds > 1:
        print(f"(each row: the median of {args.rounds} interleaved rounds; every round's auth/s:)")
        for r in results:
            for method, m in r["methods"].items():
                rates = " / ".join(f"{x:.0f}" for x in m["round_rates_per_s"])
                print(f"  {r['server']:<11} {METHOD_LABEL[method]:<13} {rates}")
    cpus = os.cpu_count() or 1
    seen = {
        f"{r['server']} {METHOD_LABEL[k]}": m["tls"]
        for r in results
        for k, m in r["methods"].items()
    }
    tls = next(iter(seen.values())) if len(set(seen.values())) == 1 else "DIFFERS"
    elapsed = args.duration
    print(
        f"(TLS {tls}, every authentication a full handshake; FreeRADIUS session cache"
        f" {'on (persist_dir)' if args.freeradius_cache else 'off'}, nac's in memory;"
        f" {args.procs} generator processes"
        f" x {args.window} conversations; {elapsed:.0f} s each; rt = RADIUS round trips per"
        " authentication; busy = the whole machine's CPU use; srv/proc, gen/proc = the CPU"
        " of the busiest server / generator process (all its threads) over the run: 100% on"
        " a single-threaded process means it was the limit; fail = rejects, losses,"
        " errors, bad replies or wrong MPPE keys)"
    )
    if args.gen_cpus or args.server_cpus:
        n = len(args.gen_cpus)
        use = [
            f"{r['server']} {k} {100 * m['gen_cpu_s'] / (m['elapsed_s'] * n):.0f}%"
            for r in results
            for k, m in r["methods"].items()
            if n
        ]
        print(
            f"(pinned: server to CPUs {args.server_cpus or 'any'}, generator to"
            f" {args.gen_cpus or 'any'}; the generator's use of its CPUs:"
            f" {', '.join(use) or '-'})"
        )
    if tls == "DIFFERS":
        print("negotiated TLS: " + "; ".join(f"{k}: {v}" for k, v in seen.items()))
    print(
        f"NOTE: this machine has {cpus} CPUs and the generator does TLS too (its side of each"
        " handshake costs about what the server's does), so at busy ~100% the generator and"
        " the server share the CPUs and auth/s measures both together. Then srv ms/auth (the"
        " server's CPU per authentication) compares the servers better than auth/s does."
    )


def verdict(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    by_name = {r["server"]: r for r in results}
    out: dict[str, Any] = {}
    fr = by_name.get("freeradius")
    if fr is None:
        return out
    for name in sorted(n for n in by_name if n.startswith("nac")):
        for method in args.methods:
            nac, ref = by_name[name]["methods"][method], fr["methods"][method]
            if not ref["rate_per_s"]:
                continue
            ratio = nac["rate_per_s"] / ref["rate_per_s"]
            out[f"ratio_{name}_over_freeradius_{method}"] = round(ratio, 3)
            cpu = None
            if nac["server_ms_per_auth"] and ref["server_ms_per_auth"]:
                cpu = ref["server_ms_per_auth"] / nac["server_ms_per_auth"]
                out[f"cpu_efficiency_{name}_over_freeradius_{method}"] = round(cpu, 3)
            status = "meets" if ratio >= RATIO_TARGET else "below"
            text = (
                f"ratio {name}/freeradius {METHOD_LABEL[method]}: {ratio:.3f}x auth/s"
                f" ({status} the {RATIO_TARGET:.1f}x target)"
            )
            if cpu is not None:
                text += f"; server CPU per authentication {cpu:.3f}x"
            print(text)
    return out


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds (10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    ap.add_argument("--methods", default="tls,peap", help="tls and/or peap (tls,peap)")
    ap.add_argument("--tls", choices=("1.2", "1.3"), default="1.2", help="TLS version (1.2)")
    ap.add_argument(
        "--window", type=int, default=16, help="conversations in flight per generator process"
    )
    ap.add_argument("--procs", type=int, default=2, help="generator processes (2)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every server and method this many times, interleaved; the table shows "
        "each one's median round (1)",
    )
    ap.add_argument("--only", choices=("nac", "freeradius"), help="run one server only")
    ap.add_argument(
        "--nac-cmd",
        default=DEFAULT_NAC_CMD,
        help="command starting nac; placeholders {nac} {data_dir} {host} {auth_port} {acct_port}",
    )
    ap.add_argument("--nac-workers", default="1", help="nac worker-process counts, a run each (1)")
    ap.add_argument(
        "--freeradius-threads", type=int, default=4, help="FreeRADIUS worker threads (4)"
    )
    ap.add_argument(
        "--freeradius-cache",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="FreeRADIUS keeps resumable sessions (in persist_dir: two files per session, its"
        " only way to resume), as nac always does in memory (off: FreeRADIUS's best figure);"
        " the peer never resumes either way",
    )
    ap.add_argument("--startup-timeout", type=float, default=60.0, help="seconds (60)")
    ap.add_argument(
        "--timeout", type=float, default=3.0, help="seconds before a round trip is lost (3)"
    )
    ap.add_argument(
        "--skip-eapol-test", action="store_true", help="skip the eapol_test check of each server"
    )
    ap.add_argument(
        "--server-cpus", default="", help="pin the server to these CPUs (taskset list, e.g. 0)"
    )
    ap.add_argument(
        "--groups",
        default=DEFAULT_GROUPS,
        help=f"key exchange groups the peer offers ({DEFAULT_GROUPS})",
    )
    ap.add_argument("--gen-cpus", default="", help="pin the generator to these CPUs (e.g. 1)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    try:
        args.gen_cpus = [int(c) for c in args.gen_cpus.split(",") if c]
    except ValueError:
        ap.error("--gen-cpus: a comma-separated list of CPU numbers")
    args.methods = [m for m in args.methods.split(",") if m]
    args.nac_workers = [int(w) for w in args.nac_workers.split(",") if w]
    if not args.methods or any(m not in EAP_TYPES for m in args.methods):
        ap.error("--methods: a comma-separated list of tls, peap")
    if not 0 < args.duration <= 600 or not 0 < args.warmup <= 60:
        ap.error("--duration must be in (0, 600] and --warmup in (0, 60]")
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds between 1 and 20")
    if not 1 <= args.window <= 1024 or not 1 <= args.procs <= 64:
        ap.error("--window between 1 and 1024, --procs between 1 and 64")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nacs = [f"nac-w{w}" for w in args.nac_workers]
    names = ["freeradius", *nacs]
    if args.only == "freeradius":
        names = ["freeradius"]
    elif args.only == "nac":
        names = nacs
    tmp = Path(tempfile.mkdtemp(prefix="nac-bench-eap-"))
    results: list[dict[str, Any]] = []
    prepared: list[Prepared] = []
    try:
        certs = make_pki(tmp)
        log(f"PKI in {tmp / 'pki'} (CA, server {SERVER_NAME}, client {USER}); TLS {args.tls}")
        # Every server runs for the whole benchmark (idle but for its turn), and the turns are
        # interleaved round by round, each round starting one server later, so a drift in
        # the machine's speed (a shared VM's does drift) falls on every server alike.
        for name in names:
            if name == "freeradius":
                server = freeradius_server(tmp, certs, args)
            else:
                server = nac_server(tmp, certs, args, int(name.removeprefix("nac-w")))
            prepared.append(prepare_server(server, certs, args, tmp))
        for k in range(args.rounds):
            label = f" (round {k + 1}/{args.rounds})" if args.rounds > 1 else ""
            turn = prepared[k % len(prepared) :] + prepared[: k % len(prepared)]
            for p in turn:
                for method in args.methods:
                    measure(p, method, args, label)
        results = [median_rounds(p) for p in prepared]
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        for p in prepared:
            p.server.stop()
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print_table(results, args)
    summary = verdict(results, args)
    OUT_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "benchmark": "eap",
        "time": stamp,
        "host": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "tls_version": args.tls,
        "methods": args.methods,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "procs": args.procs,
        "rounds": args.rounds,
        "window_per_proc": args.window,
        "freeradius_threads": args.freeradius_threads,
        "freeradius_cache": args.freeradius_cache,
        "results": results,
        "verdict": summary,
    }
    write_report("eap", stamp, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
