"""Posture reports per second accepted by POST /api/v1/posture/reports.

Run: .venv/bin/python bench/posture_reports.py [--clients 1,8,32] [--duration 10]
         [--db postgresql://postgres@127.0.0.1:5432/test] [--profile]

Starts `nac serve --demo` on free loopback ports in a temporary data dir (SQLite unless --db),
enrolls one endpoint per client (`posture_service.enroll`, as `nac posture enroll` does), then
runs ``--clients`` concurrent HTTP clients (httpx, one keep-alive connection each), each
posting its endpoint's reports as fast as the server answers for ``--duration`` seconds,
alternating a non-compliant and a compliant
report so every report changes the state (report row + endpoint state + posture_change event
in one transaction, the worker snapshots patched, and a CoA lookup scheduled). Prints, per
client count, accepted reports/s, latency p50/p99, refusals, the server's CPU per report and
the CPU the rest of the machine used meanwhile (`other`: rerun when it is not near 0).
``--db`` names a PostgreSQL server: the bench creates a fresh database on it and drops it
after. ``--profile`` samples the server with py-spy (``pip install py-spy``; GIL-holding
samples only) during the largest client count and prints the hottest functions.
Measured, not asserted. There is no reference peer for this figure (no open-source NAC
exposes a comparable posture report API to run here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _root  # noqa: F401  (first: the repository before bench/, see _root.py)
import httpx
from radius_pap import free_udp_port, machine_busy_seconds, tree_cpu_seconds, write_report

NAC = str(Path(sys.executable).with_name("nac"))
BAD = {"firewall.enabled": False, "disk.encrypted": True, "os.family": "linux"}
GOOD = {"firewall.enabled": True, "disk.encrypted": True, "os.family": "linux"}


def say(msg: str) -> None:
    print(f"[posture] {msg}", file=sys.stderr, flush=True)


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    data_dir: Path, db: str | None, acct_port: int | None = None
) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    """``nac serve --demo`` on free loopback ports (RADIUS accounting on ``acct_port`` when
    given); waits for the console. Returns the process, the web port and its environment."""
    env = dict(os.environ, NAC_DATA_DIR=str(data_dir))
    if db:
        env["NAC_DB"] = db
    web = free_tcp_port()
    acct = acct_port or free_udp_port()
    cmd = [NAC, "serve", "--demo", "--bind", "127.0.0.1", "--log-level", "warning"]
    cmd += ["--radius-auth-port", str(free_udp_port()), "--radius-acct-port", str(acct)]
    cmd += ["--tacacs-port", "0", "--tacacs-tls-port", "0", "--dhcp-port", "0"]
    cmd += ["--web-port", str(web)]
    log = (data_dir.parent / "nac.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"nac serve exited: {(data_dir.parent / 'nac.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{web}/login", timeout=1).status_code == 200:
                return proc, web, env
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("nac serve did not start")


def enroll(env: dict[str, str], macs: list[str]) -> list[tuple[str, str]]:
    """Posture tokens for ``macs``, made as ``nac posture enroll`` makes them (in-process:
    one CLI start per endpoint costs a second each)."""
    from nac.core.config import Settings
    from nac.db.engine import create_engines
    from nac.services import posture_service

    settings = Settings(data_dir=Path(env["NAC_DATA_DIR"]), db=env.get("NAC_DB"))

    async def go() -> list[tuple[str, str]]:
        db = create_engines(settings)
        out = []
        try:
            for mac in macs:
                async with db.session() as session:
                    _, token = await posture_service.enroll(session, mac=mac)
                out.append((mac, token))
        finally:
            await db.dispose()
        return out

    return asyncio.run(go())


async def client(
    url: str, token: str, mac: str, stop_at: float, latencies: list[float], counts: dict[str, int]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    n = 0
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) as http:
        while time.monotonic() < stop_at:
            body = {"mac": mac, "facts": BAD if n % 2 == 0 else GOOD}
            t0 = time.perf_counter()
            try:
                response = await http.post(url, json=body, headers=headers)
            except httpx.HTTPError:
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            key = "accepted" if response.status_code == 201 else f"http {response.status_code}"
            counts[key] = counts.get(key, 0) + 1
            n += 1


async def run(url: str, tokens: list[tuple[str, str]], duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    counts: dict[str, int] = {"accepted": 0, "errors": 0}
    stop_at = time.monotonic() + duration
    t0 = time.perf_counter()
    await asyncio.gather(*(client(url, t, m, stop_at, latencies, counts) for m, t in tokens))
    elapsed = time.perf_counter() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    return {
        "elapsed_s": round(elapsed, 2),
        "accepted": counts["accepted"],
        "accepted_per_s": round(counts["accepted"] / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0,
        "refused": {k: v for k, v in counts.items() if k not in ("accepted",)},
    }


def fresh_postgres(url: str) -> tuple[str, str]:
    """A new empty database on the PostgreSQL server of ``url``: (its URL, its name)."""
    import uuid

    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"nac_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}", name


def drop_postgres(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        say("py-spy not found (pip install py-spy): no profile")
        return None
    cmd = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250", "--gil"]
    cmd += ["-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(raw: Path, top: int = 30) -> None:
    """From py-spy's raw (collapsed) output: the functions with the most samples in their
    stack (inclusive, the ASGI middleware chain left out), then the most own samples."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    print(f"py-spy: {total} samples holding the GIL, share of them (inclusive):")
    chain = ("middleware", "Middleware", "threading.py", "runners.py", "uvloop", "typer", "click")
    chain += ("nac/main.py", "nac/cli.py", "<module>", "_exception_handler", "applications.py")
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    for frame, n in [kv for kv in ranked if not any(x in kv[0] for x in chain)][:top]:
        print(f"  {100 * n / max(total, 1):5.1f}%  {frame}")
    print("own samples:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {100 * n / max(total, 1):5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32", help="client counts [1,8,32]")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--db", help="PostgreSQL server URL [default: SQLite in the temp dir]")
    parser.add_argument("--profile", action="store_true", help="py-spy the largest count")
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in str(args.clients).split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="nac-bench-posture-"))
    db_url, db_name = fresh_postgres(args.db) if args.db else (None, "")
    proc, web, env = start(tmp / "data", db_url)
    results: list[dict[str, Any]] = []
    try:
        n = max(counts)
        macs = [f"02:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(n)]
        say(f"enrolling {n} endpoints")
        tokens = enroll(env, macs)
        url = f"http://127.0.0.1:{web}/api/v1/posture/reports"
        for count in counts:
            say(f"{count} clients: warm-up {args.warmup}s, then {args.duration}s")
            asyncio.run(run(url, tokens[:count], args.warmup))
            spy = None
            if args.profile and count == n:
                spy = profile(proc.pid, args.duration, tmp / "profile.raw")
            cpu0, busy0 = tree_cpu_seconds(proc.pid), machine_busy_seconds()
            result = asyncio.run(run(url, tokens[:count], args.duration))
            srv = tree_cpu_seconds(proc.pid) - cpu0
            busy = machine_busy_seconds() - busy0
            result.update(clients=count, server_cpu_s=round(srv, 2))
            result["server_cpu_ms_per_report"] = round(1000 * srv / max(result["accepted"], 1), 2)
            result["busy_cpu_s"] = round(busy, 2)
            results.append(result)
            if spy is not None:
                spy.wait(timeout=args.duration + 30)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if db_url and args.db:
            drop_postgres(args.db, db_name)
    db = "postgresql" if args.db else "sqlite"
    load = os.getloadavg()
    print(f"posture reports accepted by POST /api/v1/posture/reports ({db}, 1 worker;")
    print(f" load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    head = f"{'clients':>7} {'reports/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'srv ms/rep':>10}"
    print(head + f" {'busy s':>7} {'elapsed':>7}  refused/errors")
    for r in results:
        print(
            f"{r['clients']:>7} {r['accepted_per_s']:>9} {r['p50_ms']:>8} {r['p99_ms']:>8}"
            f" {r['server_cpu_ms_per_report']:>10} {r['busy_cpu_s']:>7} {r['elapsed_s']:>7}"
            f"  {r['refused']}"
        )
    print("`busy s`: the whole machine's busy CPU seconds over the run (2 cores: at most")
    print(" 2 x elapsed); the clients share the machine with the server.")
    print("no reference peer: no open-source NAC with a comparable posture report API runs here")
    if args.profile and (tmp / "profile.raw").exists():
        print_profile(tmp / "profile.raw")
    if not args.keep_tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_report("posture", stamp, {"db": db, "load": load, "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
