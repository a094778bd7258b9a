"""bench/tacblast.c, the TACACS+ load generator: its codec against independent implementations
(hashlib per RFC 8907 4.5, the tacacs_plus PyPI client), and its client against its own responder
and against small Python servers that answer correctly but in pieces, wrongly, or not at all."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

tacacs_plus = pytest.importorskip("tacacs_plus")
from tacacs_plus.authentication import (  # noqa: E402
    TACACSAuthenticationContinue,
    TACACSAuthenticationStart,
)
from tacacs_plus.authorization import TACACSAuthorizationStart  # noqa: E402
from tacacs_plus.client import TACACSClient  # noqa: E402
from tacacs_plus.flags import (  # noqa: E402
    TAC_PLUS_AUTHEN_METH_TACACSPLUS,
    TAC_PLUS_AUTHEN_TYPE_ASCII,
    TAC_PLUS_AUTHEN_TYPE_PAP,
)
from tacacs_plus.packet import TACACSHeader, crypt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "bench" / "tacblast.c"
KEY = "testing123"
USER, PASSWORD = "alice", "alice-pass"
TTY, REM_ADDR = "tty1", "127.0.0.1"  # tacblast's defaults for port / rem_addr
SINGLE, UNENC = 0x04, 0x01

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")


@pytest.fixture(scope="module")
def tacblast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("tacblast") / "tacblast"
    subprocess.run(
        ["cc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(SRC), "-lm"],
        check=True,
        capture_output=True,
    )
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"responder exited: {proc.communicate()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def run_client(binary: Path, port: int, *args: str, timeout: float = 60) -> dict[str, Any]:
    proc = subprocess.run(
        [str(binary), "--port", str(port), "--key", KEY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return dict(json.loads(lines[0]))


class Responder:
    def __init__(self, binary: Path, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--respond",
                "--port",
                str(self.port),
                "--key",
                KEY,
                "--duration",
                "600",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_listening(self.port, self.proc)

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def responder(tacblast: Path) -> Iterator[Responder]:
    r = Responder(tacblast)
    yield r
    r.stop()


# ------------------------------------------------------------------ the codec


def rfc8907_pad(session_id: int, key: bytes, version: int, seq_no: int, length: int) -> bytes:
    """RFC 8907 4.5: MD5_1 = MD5(session_id, key, version, seq_no), MD5_n = MD5(..., MD5_n-1)."""
    base = struct.pack("!I", session_id) + key + bytes([version, seq_no])
    pad, prev = b"", b""
    while len(pad) < length:
        prev = hashlib.md5(base + prev).digest()
        pad += prev
    return pad[:length]


def selftest_output(binary: Path) -> list[str]:
    proc = subprocess.run([str(binary), "--selftest"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "selftest passed" in proc.stderr
    assert "FAIL" not in proc.stderr
    return proc.stderr.splitlines()


def test_selftest_pad_matches_hashlib(tacblast: Path) -> None:
    lines = selftest_output(tacblast)
    (line,) = [x for x in lines if "tacacs pad sid=3f5a9c21" in x]
    got = line.rsplit(" ", 1)[1]
    want = rfc8907_pad(0x3F5A9C21, b"testing123", 0xC1, 1, 40).hex()
    assert got == want


def test_selftest_bodies_match_tacacs_plus(tacblast: Path) -> None:
    lines = selftest_output(tacblast)
    bodies = {x.split()[1]: bytes.fromhex(x.split()[2]) for x in lines if x.startswith("body ")}
    pap = TACACSAuthenticationStart(
        USER,
        TAC_PLUS_AUTHEN_TYPE_PAP,
        priv_lvl=1,
        data=PASSWORD.encode(),
        rem_addr=REM_ADDR,
        port=TTY,
    ).packed
    ascii_start = TACACSAuthenticationStart(
        "", TAC_PLUS_AUTHEN_TYPE_ASCII, priv_lvl=1, rem_addr=REM_ADDR, port=TTY
    ).packed
    args = [b"service=shell", b"cmd=show", b"cmd-arg=running-config", b"cmd-arg=<cr>"]
    authz = TACACSAuthorizationStart(
        USER,
        TAC_PLUS_AUTHEN_METH_TACACSPLUS,
        1,
        TAC_PLUS_AUTHEN_TYPE_ASCII,
        args,
        rem_addr=REM_ADDR,
        port=TTY,
    ).packed
    assert bodies["pap"] == pap
    assert bodies["ascii-start"] == ascii_start
    assert bodies["ascii-user"] == TACACSAuthenticationContinue(USER).packed
    assert bodies["ascii-pass"] == TACACSAuthenticationContinue(PASSWORD).packed
    assert bodies["authz"] == authz

    (line,) = [x for x in lines if x.startswith("packet pap sid=01020304 ")]
    header = TACACSHeader(0xC1, 1, 0x01020304, len(pap), seq_no=1, flags=0)
    assert bytes.fromhex(line.split()[3]) == header.packed + crypt(header, pap, KEY)


# ------------------------------------------- the responder vs tacacs_plus


def test_tacacs_plus_client_against_responder(responder: Responder) -> None:
    def client() -> TACACSClient:
        return TACACSClient("127.0.0.1", responder.port, KEY, timeout=5)

    assert client().authenticate(USER, PASSWORD, authen_type=TAC_PLUS_AUTHEN_TYPE_PAP).valid
    assert client().authenticate(USER, PASSWORD).valid  # ASCII: START+user, GETPASS, CONTINUE
    assert client().authorize(USER, arguments=[b"service=shell", b"cmd=show"]).valid


def raw_packet(version: int, ptype: int, seq: int, flags: int, sid: int, body: bytes) -> bytes:
    header = TACACSHeader(version, ptype, sid, len(body), seq_no=seq, flags=flags)
    return header.packed + crypt(header, body, KEY)


def read_packet(sock: socket.socket) -> tuple[TACACSHeader, bytes]:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            assert chunk, "connection closed"
            buf += chunk
        return buf

    header = TACACSHeader.unpacked(exact(12))
    return header, crypt(header, exact(header.length), KEY)


def test_responder_pipelined_and_split_packets(responder: Responder) -> None:
    """Two sessions in one write, then one packet split over two writes, on one connection."""
    pap = TACACSAuthenticationStart(
        USER, TAC_PLUS_AUTHEN_TYPE_PAP, priv_lvl=1, data=PASSWORD.encode()
    ).packed
    with socket.create_connection(("127.0.0.1", responder.port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(raw_packet(0xC1, 1, 1, SINGLE, 111, pap) + raw_packet(0xC1, 1, 1, 0, 222, pap))
        for sid, flags in ((111, SINGLE), (222, 0)):
            header, body = read_packet(s)
            assert (header.session_id, header.seq_no, header.flags, header.version) == (
                sid,
                2,
                flags,
                0xC1,
            )
            assert body == b"\x01\x00\x00\x00\x00\x00"  # PASS, no message, no data
        pkt = raw_packet(0xC1, 1, 1, 0, 333, pap)
        s.sendall(pkt[:7])
        time.sleep(0.05)
        s.sendall(pkt[7:])
        header, body = read_packet(s)
        assert header.session_id == 333 and body[0] == 1


# ------------------------------------------------- the client vs the responder


@pytest.mark.parametrize("connections", [1, 8])
@pytest.mark.parametrize("single", [False, True], ids=["per-connection", "single-connect"])
@pytest.mark.parametrize("mode", ["pap", "authz", "ascii"])
def test_client_against_responder(
    tacblast: Path, responder: Responder, mode: str, single: bool, connections: int
) -> None:
    args = ["--mode", mode, "--connections", str(connections), "--duration", "1"]
    r = run_client(tacblast, responder.port, *args, *(["--single-connect"] if single else []))
    assert r["completed"] > 0
    assert r["passed"] == r["completed"]
    assert r["bad_replies"] == 0 and r["timeouts"] == 0 and r["conn_lost"] == 0
    assert r["mode"] == mode and r["connections"] == connections and r["single_connect"] is single
    assert r["packets_sent"] == r["sent"] * (3 if mode == "ascii" else 1)
    if single:
        assert r["connects"] == connections
        assert r["single_connect_established"] == connections
        assert r["reconnects_no_single_connect"] == 0
    else:
        assert r["connects"] >= r["completed"]
    assert 0 <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert r["cpu_s"] > 0


def test_single_connect_refused_falls_back_to_reconnecting(tacblast: Path) -> None:
    refusing = Responder(tacblast, "--no-single-connect")
    try:
        r = run_client(
            tacblast, refusing.port, "--single-connect", "--connections", "4", "--duration", "0.5"
        )
    finally:
        stats = refusing.stop()
    assert r["completed"] > 0 and r["bad_replies"] == 0 and r["timeouts"] == 0
    assert r["single_connect_established"] == 0
    assert r["reconnects_no_single_connect"] > 0
    assert r["connects"] >= r["completed"]
    assert stats["single_connect"] == 0 and stats["bad"] == 0


def test_unencrypted(tacblast: Path, responder: Responder) -> None:
    r = run_client(
        tacblast, responder.port, "--unencrypted", "--single-connect", "--duration", "0.5"
    )
    assert r["completed"] > 0 and r["bad_replies"] == 0 and r["unencrypted"] is True


def test_idle_connections_stay_open(tacblast: Path, responder: Responder) -> None:
    r = run_client(
        tacblast,
        responder.port,
        "--idle",
        "20",
        "--single-connect",
        "--connections",
        "2",
        "--duration",
        "0.5",
    )
    assert r["idle_established"] == 20 and r["idle_single_connect"] == 20
    assert r["idle_open_at_end"] == 20
    assert r["completed"] > 0 and r["bad_replies"] == 0
    assert r["connects"] == 22


def test_max_caps_the_sessions(tacblast: Path, responder: Responder) -> None:
    r = run_client(tacblast, responder.port, "--max", "25", "--connections", "3", "--duration", "5")
    assert r["sent"] == 25 and r["completed"] == 25


# ------------------------------------------ the client vs odd Python servers


class FakeServer:
    """A threaded TACACS+ server: PASS to everything, optionally broken in one way."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.05)
        self.port = int(self.listener.getsockname()[1])
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _recv_exact(self, conn: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = conn.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(2)
        first = True
        b = self.behaviour
        try:
            while not self.stop_event.is_set():
                raw = self._recv_exact(conn, 12)
                if raw is None:
                    return
                h = TACACSHeader.unpacked(raw)
                body = self._recv_exact(conn, h.length)
                if body is None:
                    return
                if b == "silent":
                    continue
                ver, ptype, seq, sid = h.version, h.type, h.seq_no + 1, h.session_id
                flags = h.flags & SINGLE if first else 0
                first = False
                reply = struct.pack("!BBHH", 1, 0, 0, 0)  # PASS / PASS_ADD, nothing else
                if b == "seq":
                    seq += 2
                elif b == "session":
                    sid ^= 1
                elif b == "version":
                    ver ^= 1
                elif b == "type":
                    ptype = 2 if ptype == 1 else 1
                elif b == "flags":
                    flags |= UNENC  # claims to be unencrypted, but is obfuscated
                elif b == "lengths":
                    reply = struct.pack("!BBHH", 1, 0, 1, 0)  # server_msg_len 1, no message
                elif b == "trailing":
                    reply += b"x"
                elif b == "status":
                    reply = struct.pack("!BBHH", 3, 0, 0, 0)  # GETDATA to a PAP START
                elif b == "huge":
                    reply = b""
                header = TACACSHeader(ver, ptype, sid, len(reply), seq_no=seq, flags=flags)
                pkt = header.packed + crypt(header, reply, KEY)
                if b == "huge":
                    pkt = pkt[:8] + struct.pack("!I", 1 << 24)  # a 16 MB body
                if b == "chunked":  # one byte per segment: many short reads
                    for i in range(len(pkt)):
                        conn.sendall(pkt[i : i + 1])
                        time.sleep(0.0002)
                else:
                    conn.sendall(pkt)
                if b == "duplicate":
                    conn.sendall(pkt)
        except OSError:
            pass
        finally:
            conn.close()


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    server = FakeServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("fake", ["chunked"], indirect=True)
@pytest.mark.parametrize("mode", ["pap", "authz"])
def test_short_reads(tacblast: Path, fake: FakeServer, mode: str) -> None:
    r = run_client(tacblast, fake.port, "--mode", mode, "--single-connect", "--duration", "0.5")
    assert r["completed"] > 0 and r["passed"] == r["completed"]
    assert r["bad_replies"] == 0 and r["timeouts"] == 0


@pytest.mark.parametrize(
    "fake",
    ["seq", "session", "version", "type", "flags", "lengths", "trailing", "status", "huge"],
    indirect=True,
)
def test_bad_replies_are_counted(tacblast: Path, fake: FakeServer) -> None:
    r = run_client(tacblast, fake.port, "--single-connect", "--max", "20", "--duration", "3")
    assert r["sent"] == 20
    assert r["completed"] == 0
    assert r["bad_replies"] == 20


@pytest.mark.parametrize("fake", ["duplicate"], indirect=True)
def test_unsolicited_second_reply_is_bad(tacblast: Path, fake: FakeServer) -> None:
    r = run_client(tacblast, fake.port, "--single-connect", "--max", "20", "--duration", "3")
    assert r["completed"] > 0 and r["bad_replies"] > 0
    assert r["completed"] + r["bad_replies"] + r["conn_lost"] >= 20


@pytest.mark.parametrize("fake", ["silent"], indirect=True)
def test_no_reply_is_a_timeout(tacblast: Path, fake: FakeServer) -> None:
    r = run_client(
        tacblast, fake.port, "--connections", "2", "--timeout", "0.2", "--duration", "0.5"
    )
    assert r["completed"] == 0 and r["bad_replies"] == 0
    assert r["timeouts"] >= 2 and r["timeouts"] == r["sent"]
