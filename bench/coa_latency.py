"""Time from a posture report to the Disconnect-Request leaving nac (RFC 5176), p50/p99.

Run: .venv/bin/python bench/coa_latency.py [--reports 200] [--endpoints 20] [--db postgresql://...]

Starts `nac serve --demo` (temporary data dir, free loopback ports; SQLite unless --db, which
names a PostgreSQL server: a fresh database is made on it and dropped after) and a small fake
DAS on 127.0.0.1 (a thread here; it checks each request's Request Authenticator and
Message-Authenticator as a NAS would, answers Disconnect-ACK, and notes the arrival time).
The demo NAS ``lab-switch`` gets the DAS's port as its CoA and Disconnect port. Each of
``--endpoints`` MACs gets an active accounting session (radclient Accounting-Request Start,
Calling-Station-Id = the MAC) and a posture token. Then ``--reports`` reports are posted one
at a time, each endpoint alternating non-compliant / compliant so every report changes its
state, and for each the bench waits for that endpoint's Disconnect-Request:

- ``total``: report sent -> Disconnect-Request arrived at the DAS;
- ``answer``: report sent -> the API's 201;
- ``after``: 201 -> Disconnect-Request: mostly the wait until every worker's snapshot holds
  the new endpoint state (they poll every 100 ms and publish what they hold in shared memory;
  ``coa_settle_seconds`` caps the wait), then the session lookup and the send.

Measured, not asserted. There is no reference peer for this figure: no open-source NAC with
a posture API and RFC 5176 client runs here to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _root  # noqa: F401
import httpx
from posture_reports import BAD, GOOD, drop_postgres, enroll, fresh_postgres, start
from radius_pap import free_udp_port, machine_busy_seconds, write_report

from nac.core.config import Settings
from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import create_engines
from nac.db.models import NasClientUpdate
from radius.crypto import (
    message_authenticator,
    response_authenticator,
    verify_accounting_request,
    verify_message_authenticator,
)
from radius.packet import decode_packet, encode_packet

SECRET = "testing123"
NAS = "lab-switch"
CALLING_STATION_ID = 31
MESSAGE_AUTHENTICATOR = 80
DISCONNECT_REQUEST, DISCONNECT_ACK = 40, 41


def say(msg: str) -> None:
    print(f"[coa] {msg}", file=sys.stderr, flush=True)


@dataclass
class FakeDas:
    """A UDP DAS on 127.0.0.1: verifies, ACKs, and records (arrival, MAC) of each
    Disconnect-Request; ``bad`` counts requests that failed the checks."""

    secret: bytes = SECRET.encode()
    sock: socket.socket = field(
        default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    bad: int = 0
    other: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="fake-das", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            at = time.perf_counter()
            try:
                packet = decode_packet(data)
            except Exception:
                self.bad += 1
                continue
            ma = [i for i, (t, _) in enumerate(packet.attributes) if t == MESSAGE_AUTHENTICATOR]
            ok = verify_accounting_request(data, self.secret)  # RFC 5176 2.3: the same scheme
            if ma:  # RFC 5176 3.3 / RFC 3579 3.2 (nac sends it first), zeroed authenticator
                ok = ok and ma == [0]
                ok = ok and verify_message_authenticator(data, 20, self.secret, bytes(16))
            if not ok:
                self.bad += 1
                continue
            if packet.code != DISCONNECT_REQUEST:
                self.other += 1
                continue
            macs = [v for t, v in packet.attributes if t == CALLING_STATION_ID]
            self.sock.sendto(self._ack(packet), addr)
            with self.cond:
                self.arrivals.append((at, macs[0].decode() if macs else ""))
                self.cond.notify_all()

    def _ack(self, packet: Any) -> bytes:
        attrs: list[tuple[int, bytes]] = [(MESSAGE_AUTHENTICATOR, bytes(16))]
        draft = encode_packet(DISCONNECT_ACK, packet.identifier, packet.authenticator, attrs)
        attrs[0] = (MESSAGE_AUTHENTICATOR, message_authenticator(draft, self.secret))
        body = encode_packet(DISCONNECT_ACK, packet.identifier, bytes(16), attrs)[20:]
        auth = response_authenticator(
            DISCONNECT_ACK, packet.identifier, packet.authenticator, body, self.secret
        )
        return encode_packet(DISCONNECT_ACK, packet.identifier, auth, attrs)

    def wait_for(self, index: int, timeout: float) -> tuple[float, str] | None:
        """The ``index``-th arrival (0-based), waiting up to ``timeout`` s."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.arrivals) > index, timeout=timeout)
            return self.arrivals[index] if len(self.arrivals) > index else None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def point_nas_at(env: dict[str, str], port: int) -> None:
    """lab-switch's CoA and Disconnect port = the fake DAS (a config change: the workers
    reload it within a second)."""
    settings = Settings(data_dir=Path(env["NAC_DATA_DIR"]), db=env.get("NAC_DB"))

    async def go() -> None:
        db = create_engines(settings)
        try:
            async with db.session() as session:
                await crud.update_client(
                    session,
                    name=NAS,
                    update=NasClientUpdate(coa_port=port, disconnect_port=port),
                    box=SecretBox.open(settings.data_dir),
                )
        finally:
            await db.dispose()

    asyncio.run(go())


def start_sessions(acct_port: int, macs: list[str]) -> None:
    """One Accounting-Request Start per MAC (radclient), Calling-Station-Id = the MAC."""
    radclient = shutil.which("radclient")
    if radclient is None:
        raise SystemExit("radclient is needed (Debian package freeradius-utils)")
    lines = []
    for i, mac in enumerate(macs):
        lines.append(
            f'Acct-Status-Type = Start, Acct-Session-Id = "bench-{i:04d}", User-Name = "alice",'
            f' NAS-IP-Address = 127.0.0.1, NAS-Port = {i + 1}, Calling-Station-Id = "{mac}",'
            f" Framed-IP-Address = 10.9.{i // 256}.{i % 256 or 1}"
        )
    out = subprocess.run(
        [radclient, "-x", "-r", "3", "-t", "2", f"127.0.0.1:{acct_port}", "acct", SECRET],
        input="\n\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    answered = out.stdout.count("Accounting-Response")
    if answered != len(macs):
        raise SystemExit(f"radclient: {answered}/{len(macs)} answered:\n{out.stdout}{out.stderr}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure(
    url: str,
    tokens: list[tuple[str, str]],
    das: FakeDas,
    reports: int,
    timeout: float,
    sent_per_mac: dict[str, int],
) -> dict[str, Any]:
    """``reports`` reports, one at a time; ``sent_per_mac`` (kept across calls) decides
    whether an endpoint's next report is the non-compliant or the compliant one."""
    total: list[float] = []
    answer: list[float] = []
    after: list[float] = []
    lost = wrong = refused = 0
    with httpx.Client(timeout=30) as http:
        for i in range(reports):
            mac, token = tokens[i % len(tokens)]
            n = sent_per_mac.get(mac, 0)
            sent_per_mac[mac] = n + 1
            body = {"mac": mac, "facts": BAD if n % 2 == 0 else GOOD}
            index = len(das.arrivals)
            t0 = time.perf_counter()
            response = http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
            t1 = time.perf_counter()
            if response.status_code != 201 or not response.json().get("changed"):
                refused += 1
                continue
            got = das.wait_for(index, timeout)
            if got is None:
                lost += 1
                continue
            at, seen = got
            if seen.lower().replace("-", ":") != mac:
                wrong += 1
            total.append(at - t0)
            answer.append(t1 - t0)
            after.append(at - t1)
            time.sleep(0.02)  # let the ACK's audit write finish; one report in flight at a time
    return {
        "total": total,
        "answer": answer,
        "after": after,
        "lost": lost,
        "wrong": wrong,
        "refused": refused,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="reports before measuring")
    parser.add_argument("--timeout", type=float, default=5.0, help="per Disconnect-Request, s")
    parser.add_argument("--db", help="PostgreSQL server URL [default: SQLite in the temp dir]")
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    settle = Settings().coa_settle_seconds
    tmp = Path(tempfile.mkdtemp(prefix="nac-bench-coa-"))
    db_url, db_name = fresh_postgres(args.db) if args.db else (None, "")
    das = FakeDas()
    acct_port = free_udp_port()
    proc, web, env = start(tmp / "data", db_url, acct_port=acct_port)
    try:
        point_nas_at(env, das.port)
        macs = [f"02:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(args.endpoints)]
        start_sessions(acct_port, macs)
        tokens = enroll(env, macs)
        time.sleep(1.5)  # the configuration poll (1 s): the workers hold the new CoA port
        url = f"http://127.0.0.1:{web}/api/v1/posture/reports"
        say(f"warm-up: {args.warmup} reports")
        sent: dict[str, int] = {}
        measure(url, tokens, das, args.warmup, args.timeout, sent)
        say(f"measuring {args.reports} reports over {args.endpoints} endpoints (DAS :{das.port})")
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        result = measure(url, tokens[::-1], das, args.reports, args.timeout, sent)
        busy = machine_busy_seconds() - busy0
        elapsed = time.monotonic() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        das.close()
        if db_url and args.db:
            drop_postgres(args.db, db_name)
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    db = "postgresql" if args.db else "sqlite"
    ms = 1000.0
    rows = [
        ("total: report sent -> Disconnect-Request", result["total"]),
        ("answer: report sent -> 201", result["answer"]),
        (f"after: 201 -> Disconnect (wait <= {settle * ms:.0f} ms)", result["after"]),
    ]
    load = os.getloadavg()
    print(
        f"posture report -> Disconnect-Request ({db}; {len(result['total'])} measured;"
        f" machine busy {busy / max(elapsed, 1e-9):.2f} of 2 CPUs; load {load[0]:.2f})"
    )
    print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
    for name, values in rows:
        if not values:
            continue
        print(
            f"{name:44} {pct(values, 0.5) * ms:8.1f} {pct(values, 0.99) * ms:8.1f}"
            f" {statistics.fmean(values) * ms:8.1f} {max(values) * ms:8.1f}"
        )
    print(
        f"lost (no Disconnect in {args.timeout} s) {result['lost']}, wrong MAC {result['wrong']},"
        f" refused/unchanged {result['refused']}, bad requests at the DAS {das.bad},"
        f" other codes {das.other}"
    )
    print(
        "no reference peer: no open-source NAC with a posture API and an RFC 5176 client runs here"
    )
    summary = {
        "db": db,
        "settle_s": settle,
        "load": load,
        **{
            name.split(":")[0]: {"p50_ms": pct(v, 0.5) * ms, "p99_ms": pct(v, 0.99) * ms}
            for name, v in rows
            if v
        },
        "lost": result["lost"],
        "wrong": result["wrong"],
        "refused": result["refused"],
        "das_bad": das.bad,
    }
    write_report("coa_latency", datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), summary)
    return 0 if not (result["lost"] or result["wrong"] or das.bad) else 1


if __name__ == "__main__":
    sys.exit(main())
