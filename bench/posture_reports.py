"""Posture reports per second accepted by POST /api/v1/posture/reports.

Run: .venv/bin/python bench/posture_reports.py [--clients 8] [--duration 10] [--db postgresql://...]

Starts `nac serve --demo` on free loopback ports in a temporary data dir (SQLite unless --db),
enrolls one endpoint per client with `nac posture enroll`, then runs ``--clients`` concurrent
HTTP clients (httpx, one connection each), every one posting its endpoint's reports as fast as
the server answers for ``--duration`` seconds, alternating a non-compliant and a compliant
report so every report changes the state (report row + endpoint state + posture_change event
in one transaction, and the worker snapshots patched). Prints accepted reports/s, latency
p50/p99, refusals, and the server's CPU. Measured, not asserted. There is no reference peer
for this figure (no open-source NAC exposes a comparable posture report API to run here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from radius_pap import free_udp_port, tree_cpu_seconds, write_report

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


def start(data_dir: Path, db: str | None) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    env = dict(os.environ, NAC_DATA_DIR=str(data_dir))
    if db:
        env["NAC_DB"] = db
    web = free_tcp_port()
    cmd = [NAC, "serve", "--demo", "--bind", "127.0.0.1", "--log-level", "warning"]
    cmd += ["--radius-auth-port", str(free_udp_port()), "--radius-acct-port", str(free_udp_port())]
    cmd += ["--tacacs-port", "0", "--tacacs-tls-port", "0", "--web-port", str(web)]
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


def enroll(env: dict[str, str], mac: str) -> str:
    out = subprocess.run(
        [NAC, "posture", "enroll", mac], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--db", help="database URL [default: SQLite in the temp dir]")
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nac-bench-posture-"))
    proc, web, env = start(tmp / "data", args.db)
    try:
        macs = [f"02:00:00:00:{i // 256:02x}:{i % 256:02x}" for i in range(args.clients)]
        tokens = [(m, enroll(env, m)) for m in macs]
        url = f"http://127.0.0.1:{web}/api/v1/posture/reports"
        say(f"{args.clients} clients, warm-up {args.warmup}s")
        asyncio.run(run(url, tokens, args.warmup))
        cpu0 = tree_cpu_seconds(proc.pid)
        say(f"measuring {args.duration}s")
        result = asyncio.run(run(url, tokens, args.duration))
        result["server_cpu_s"] = round(tree_cpu_seconds(proc.pid) - cpu0, 2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    db = "postgresql" if args.db else "sqlite"
    print(
        f"posture reports: {result['accepted_per_s']} accepted/s with {args.clients} clients"
        f" ({db}, {result['accepted']} in {result['elapsed_s']} s; p50 {result['p50_ms']} ms,"
        f" p99 {result['p99_ms']} ms; server CPU {result['server_cpu_s']} s;"
        f" refused/errors {result['refused']})"
    )
    print("no reference peer: no open-source NAC with a comparable posture report API runs here")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_report("posture", stamp, {"clients": args.clients, "db": db, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
