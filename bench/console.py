"""The console's live log over a large audit table: page times with 1,000,000 rows in SQLite.

Run: .venv/bin/python bench/console.py [--rows 1000000] [--repeat 20]

Makes a data dir with `nac init --demo`, fills `audit_log` with ``--rows`` RADIUS-like decisions
(1,000 users, 5,000 MACs, 10% rejects, spread over 30 days; stored the way the audit writer
stores them, with the raw request and reply and the replay context) straight through sqlite3,
starts `nac serve` on free ports, logs in as the demo admin through the login form, and times
the pages an admin opens: the first page of the live log, a page deep in it (keyset
``before=``), filtered by user, by MAC, by result, by reason code, by SSID (40% of the rows
are wireless), by policy set, by stream, by a time range, a record page with its replayed trace,
the same through the REST API, the live page's poll for new rows, a 10,000-row CSV export, and
the dashboard (its API over a 1 h and a 24 h window, 20,000 accounting sessions). Prints
p50/p95/max per page; the issue's bar is a live-log page under 300 ms. Measured, not asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _root  # noqa: F401  (then the repository)
from radius_pap import free_udp_port, log, write_report

NAC = str(Path(sys.executable).with_name("nac"))
SSIDS = ("corp", "corp", "corp", "guest", None, None, None, None, None, None)
SESSIONS = 20_000


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(db: Path, rows: int) -> float:
    """Insert ``rows`` audit rows like the writer's; returns the seconds it took."""
    from nac.services.audit import redact_packet  # the writer's own redaction
    from radius.packet import encode_packet

    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / rows
    # A handful of real request packets (User-Name, a hidden password, NAS-IP, Calling-Station).
    packets = []
    for i in range(50):
        user = f"user{i}".encode()
        attrs = [(1, user), (2, bytes(16)), (4, bytes([10, 0, 0, 1])), (31, b"00-11-22-33-44-55")]
        packets.append(redact_packet(encode_packet(1, i, bytes(16), attrs)))
    reply = bytes([64, 6, 0, 0, 0, 13, 65, 6, 0, 0, 0, 6, 81, 5]) + b"100"
    con = sqlite3.connect(db)
    cols = (
        "ts, node, protocol, nas_name, nas_ip, username, mac, method, result, reason_code, "
        "reason, policy_set, authentication_rule, authorization_rule, profile, session_class, "
        "latency_us, request_raw, reply_raw, context"
    )
    sql = f"INSERT INTO audit_log ({cols}) VALUES ({','.join('?' * 20)})"
    t0 = time.perf_counter()
    batch = []
    for n in range(rows):
        ts = start + step * n
        reject = rng.random() < 0.1
        user = f"user{rng.randrange(1000)}"
        mac = ":".join(f"{b:02x}" for b in rng.randrange(5000).to_bytes(6, "big"))
        ssid = rng.choice(SSIDS)  # wireless rows carry one, wired ones none
        called = f"00-11-22-33-44-{n % 200:02X}:{ssid}" if ssid else None
        batch.append(
            (
                ts.replace(tzinfo=None).isoformat(" ", "microseconds"),
                "bench",
                "radius",
                f"switch-{rng.randrange(20)}",
                f"10.0.{rng.randrange(20)}.1",
                user,
                mac,
                "pap",
                "reject" if reject else "accept",
                12011 if reject else 5200,
                "wrong password" if reject else "accepted by rule employees",
                "default",
                "local-users",
                None if reject else "employees",
                None if reject else "employees-vlan100",
                None,
                rng.randrange(80, 400),
                packets[rng.randrange(50)],
                b"" if reject else reply,
                json.dumps(
                    [
                        ts.timestamp(),
                        1,
                        "",
                        "",
                        "generic",
                        None,
                        None,
                        None,
                        called,
                        None,
                        ssid,
                        None,
                        "unknown",
                        None,
                        None,
                    ]
                ),
            )
        )
        if len(batch) == 20_000:
            con.executemany(sql, batch)
            con.commit()
            batch.clear()
    if batch:
        con.executemany(sql, batch)
        con.commit()
    # Active accounting sessions for the dashboard's count.
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    con.executemany(
        "INSERT INTO accounting_sessions (unique_key, acct_session_id, status, last_update, "
        "session_time, input_octets, output_octets, input_packets, output_packets) "
        "VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0)",
        [(f"s{i}", f"s{i}", "active" if i % 4 else "stopped", now) for i in range(SESSIONS)],
    )
    con.commit()
    con.close()
    return time.perf_counter() - t0


def day_ago(days: int) -> str:
    """An ISO time ``days`` days before now (UTC), for the time-range cells."""
    when = datetime.now(UTC) - timedelta(days=days)
    return when.replace(tzinfo=None).isoformat(timespec="seconds")


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    res = client.post(
        "/login",
        data={
            "name": "admin",
            "password": "admin-pass",
            "csrf_token": token.group(1),
            "next": "/log",
        },
    )
    assert res.status_code in (302, 303), (res.status_code, res.text[:300])
    return client


def check_content(client: httpx.Client, top: int) -> None:
    """The pages timed are real: 50 rows on the first page, a replayed trace on a record."""
    first = client.get("/api/v1/audit?limit=50").json()
    items = first["items"] if isinstance(first, dict) else first
    assert len(items) == 50, str(first)[:300]
    record = client.get(f"/api/v1/audit/{top // 3}").json()
    trace = record.get("trace") or []
    assert any(str(line).startswith("decision:") for line in trace), str(record)[:500]


def timed(client: httpx.Client, url: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert res.status_code == 200, (url, res.status_code, res.text[:300])
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nac-bench-console-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [NAC, "init", "--demo", "--data-dir", str(data)], check=True, capture_output=True
        )
        db = data / "nac.db"
        log(f"filling {args.rows:,} audit rows")
        fill_s = fill(db, args.rows)
        log(f"filled in {fill_s:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
        web = free_tcp_port()
        cmd = [
            NAC,
            "serve",
            "--data-dir",
            str(data),
            "--bind",
            "127.0.0.1",
            "--radius-auth-port",
            str(free_udp_port()),
            "--radius-acct-port",
            str(free_udp_port()),
            "--tacacs-port",
            "0",
            "--tacacs-tls-port",
            "0",
            "--web-port",
            str(web),
            "--log-level",
            "warning",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{web}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/login", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("nac serve did not start") from None
                    time.sleep(0.2)
            client = login(base)
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            top = con.execute("SELECT max(id) FROM audit_log").fetchone()[0]
            user, mac = con.execute(
                "SELECT username, mac FROM audit_log WHERE id = ?", (top // 2,)
            ).fetchone()
            con.close()
            check_content(client, top)
            pages = {
                "live log, first page": "/log",
                "live log, deep page (before=half)": f"/log?before={top // 2}",
                "filtered by user": f"/log?user={user}",
                "filtered by MAC": f"/log?mac={mac}",
                "rejects only": "/log?result=reject",
                "reason code 12011": "/log?reason_code=12011",
                "NAS switch-3": "/log?nas=switch-3",
                "a reason code no row has (bounded scan)": "/log?reason_code=12040",
                "a NAS no row has (bounded scan)": "/log?nas=nowhere",
                "a record with its replayed trace": f"/log/{top // 3}",
                "API: /api/v1/audit?limit=50": "/api/v1/audit?limit=50",
                "API: rejects of a user": f"/api/v1/audit?user={user}&result=reject",
                "dashboard API, window 1h": "/api/v1/dashboard?window=1h",
                "dashboard API, window 24h": "/api/v1/dashboard?window=24h",
                "dashboard page": "/dashboard",
                "filtered by SSID guest": "/log?ssid=guest",
                "an SSID no row has (bounded scan)": "/log?ssid=nowhere",
                "policy set default, rejects": "/log?policy_set=default&result=reject",
                "stream TACACS+ authorization (none)": "/log?stream=tacacs-author",
                "time range, one day, 10 days ago": f"/log?since={day_ago(10)}&until={day_ago(9)}",
                "time range, 30 days": f"/log?since={day_ago(30)}",
                "user, deep page (before=half)": f"/log?user={user}&before={top // 2}",
                "poll: after_id=newest": f"/api/v1/audit?after_id={top}&limit=100",
                "CSV export, 10,000 rows": "/api/v1/audit.csv?max_rows=10000",
            }
            results = {}
            print(f"\n{args.rows:,} audit rows in SQLite; {args.repeat} requests per page")
            print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, url in pages.items():
                timed(client, url, 2)  # warm
                r = timed(client, url, args.repeat)
                results[name] = {"url": url, **r}
                flag = "" if r["p95_ms"] < 300 else "  (over 300 ms)"
                print(f"{name:40} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}{flag}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    write_report("console", stamp, {"rows": args.rows, "fill_s": fill_s, "pages": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
