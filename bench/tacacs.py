"""TACACS+ PAP authentications/s and command authorizations/s of `nac serve`, with latency.

Usage (from the repository root):

    .venv/bin/python bench/tacacs.py [--duration 5] [--workers 1,2] [--cells all]
                                     [--nac-cmd '...'] [--idle 1000]

nac runs on loopback ports in a temporary directory (`nac serve --demo --workers N`, once per
count in --workers) and is driven by the compiled load generator bench/tacblast.c (built into
the temporary directory with `cc`). Cells: PAP with one session per TCP connection, PAP over
single-connect connections and command authorization over single-connect connections, each
over 1, 8 and 32 concurrent connections, closed loop. Then the same single-connect PAP cell
with --idle idle single-connect connections held open, and tacblast against its own trivial
responder (`--respond`) to show the generator's ceiling. Server CPU seconds come from
/proc/<pid>/stat (the process and its descendants), the generator's from its own getrusage,
the rest of the machine's from /proc/stat. After each cell the script waits until nac's audit
log holds a row for every session nac answered. Every number is measured in this run except
the reference column: tac_plus-ng's figures from the issue (same 2-core machine, its own load
generator; it cannot be built here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radius_pap import (
    HOST,
    Server,
    audit_rows,
    free_udp_port,
    machine_busy_seconds,
    tree_cpu_seconds,
    write_report,
)

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
TACBLAST_SRC = BENCH_DIR / "tacblast.c"
KEY = "testing123"  # the demo's TACACS+ key for lab-switch (127.0.0.0/8)
PAP_USER, PAP_PASSWORD = "admin", "admin-pass"  # netadmins: may log into devices
AUTHZ_USER, AUTHZ_CMD = "ops", "show running-config"  # netops: the demo policy permits it
RATIO_BAR = 0.5
IDLE_SLOWDOWN_OK = 0.9  # with the idle connections held, at least 0.9x the rate without
CONNS = (1, 8, 32)
NOISE_FRACTION = 0.1  # 'other' CPU above 10% of the machine over a cell: the figure is noise

DEFAULT_NAC_CMD = (
    "{nac} serve --demo --data-dir {data_dir} --bind {host} "
    "--radius-auth-port {auth_port} --radius-acct-port {acct_port} "
    "--tacacs-port {tacacs_port} --web-port {web_port} --log-level warning"
)


@dataclass(frozen=True)
class Kind:
    name: str  # as in --cells
    mode: str  # tacblast --mode
    single: bool  # tacblast --single-connect
    label: str
    reference: dict[int, float]  # tac_plus-ng on this machine (the issue), per connection count


KINDS = (
    Kind("pap-conn", "pap", False, "PAP, one session per connection", {1: 2600, 8: 5900, 32: 6700}),
    Kind("pap-sc", "pap", True, "PAP, single-connect", {1: 5400, 8: 16800, 32: 33000}),
    Kind("authz-sc", "authz", True, "authz, single-connect", {1: 6700, 8: 22000, 32: 40000}),
)
KIND_BY_NAME = {k.name: k for k in KINDS}
CEILING_CELLS = (("pap-sc", 32), ("authz-sc", 32))
IDLE_CELL = ("pap-sc", 8)


# ---------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[tacacs] {msg}", file=sys.stderr, flush=True)


def free_tcp_port() -> int:
    """A loopback TCP port that is free right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def raise_nofile(need: int) -> None:
    """Children inherit our RLIMIT_NOFILE: raise the soft limit if --idle needs more (tacblast
    also raises its own; nac holds one descriptor per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    new = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        log(f"raised RLIMIT_NOFILE soft limit {soft} -> {new} for nac and tacblast")
    if new < need:
        log(f"warning: RLIMIT_NOFILE hard limit {hard} is below the {need} --idle needs")


def git_state() -> dict[str, Any]:
    """The commit nac ran from and whether the tree had changes (read only)."""
    root = BENCH_DIR.parent

    def git(*a: str) -> str:
        done = subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": git("rev-parse", "HEAD"), "changed_files": dirty.splitlines()}
    return {}


def compile_tacblast(out_dir: Path) -> Path:
    binary = out_dir / "tacblast"
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-o", str(binary), str(TACBLAST_SRC), "-lm"]
    log("compiling: " + " ".join(cmd))
    subprocess.run(cmd, check=True)
    done = subprocess.run([str(binary), "--selftest"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"tacblast --selftest failed:\n{done.stdout}{done.stderr}")
    return binary


@dataclass
class Generator:
    binary: Path
    port: int
    timeout_s: float = 2.0

    def run(
        self,
        *,
        mode: str,
        single: bool,
        connections: int,
        duration: float,
        idle: int = 0,
        max_total: int = 0,
    ) -> dict[str, Any]:
        if not max_total:  # only bounds the latency array; never reached at these rates
            max_total = min(int(duration * 400_000) + 1000, 100_000_000)
        user, password = (AUTHZ_USER, "") if mode == "authz" else (PAP_USER, PAP_PASSWORD)
        cmd = [
            str(self.binary),
            f"--host={HOST}",
            f"--port={self.port}",
            f"--key={KEY}",
            f"--mode={mode}",
            f"--user={user}",
            f"--connections={connections}",
            f"--duration={duration}",
            f"--max={max_total}",
            f"--timeout={self.timeout_s}",
        ]
        if password:
            cmd.append(f"--password={password}")
        if mode == "authz":
            cmd.append(f"--cmd={AUTHZ_CMD}")
        if single:
            cmd.append("--single-connect")
        if idle:
            cmd.append(f"--idle={idle}")
        bound = duration + self.timeout_s + 60 + idle / 100
        cpu0 = children_cpu_seconds()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=bound)
        if done.returncode != 0 or not done.stdout.strip():
            raise RuntimeError(
                f"tacblast exited {done.returncode}: {shlex.join(cmd)}\n{done.stderr[-2000:]}"
            )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        # everything the process spent, the --idle setup included (cpu_s leaves that out)
        result["gen_total_cpu_s"] = round(children_cpu_seconds() - cpu0, 4)
        if done.stderr.strip():
            result["gen_stderr"] = done.stderr.strip()[-2000:]
        return result


def noisy(run: dict[str, Any]) -> bool:
    """Did the rest of the machine use more than NOISE_FRACTION of it during the run?"""
    return bool(run["other_cpu_s"] > NOISE_FRACTION * (os.cpu_count() or 1) * run["elapsed_s"])


def problems(run: dict[str, Any]) -> list[str]:
    """Everything that is not a clean PASS, in words (empty for a clean run)."""
    out = []
    for key in (
        "failed",
        "errors",
        "bad_replies",
        "timeouts",
        "conn_lost",
        "connect_errors",
        "peer_closed",
        "reconnects_no_single_connect",
        "idle_failed",
        "idle_closed",
    ):
        if run.get(key):
            out.append(f"{run[key]} {key}")
    if run["single_connect"] and run["single_connect_established"] < run["connections"]:
        out.append(
            f"single-connect on only {run['single_connect_established']}"
            f"/{run['connections']} connections"
        )
    if run["idle"] and run["idle_open_at_end"] != run["idle"]:
        out.append(f"idle_open_at_end {run['idle_open_at_end']}/{run['idle']}")
    if run["completed"] == 0:
        out.append("nothing completed")
    return out


# ---------------------------------------------------------------------------- nac


class Nac:
    """One `nac serve` run: the Server from radius_pap plus what this benchmark tracks."""

    def __init__(self, tmp: Path, template: str, workers: int) -> None:
        root = tmp / f"nac-w{workers}"
        root.mkdir()
        self.tacacs_port = free_tcp_port()
        nac_script = Path(sys.executable).parent / "nac"
        text = template.format(
            nac=shlex.quote(str(nac_script) if nac_script.exists() else "nac"),
            data_dir=shlex.quote(str(root / "nacdata")),
            host=HOST,
            auth_port=free_udp_port(),
            acct_port=free_udp_port(),
            tacacs_port=self.tacacs_port,
            web_port=free_tcp_port(),
        )
        text += f" --workers {workers}"
        audit_db = root / "nacdata" / "nac.db" if "{data_dir}" in template else None
        self.workers = workers
        self.server = Server(
            f"nac-w{workers}", shlex.split(text), 0, root / "server.log", root, audit_db
        )
        self.log_seen = 0  # log lines already reported

    def new_log_lines(self) -> list[str]:
        try:
            lines = self.server.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        new, self.log_seen = lines[self.log_seen :], len(lines)
        return new


def wait_ready(nac: Nac, gen: Generator, limit_s: float) -> None:
    """Probe with one single-connect PAP session every 0.2 s until it passes."""
    server = nac.server
    deadline = time.monotonic() + limit_s
    probe = Generator(gen.binary, gen.port, timeout_s=0.5)
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        r = probe.run(mode="pap", single=True, connections=1, duration=0.5, max_total=1)
        server.answered += r["completed"]
        if r["passed"] == 1:
            return
        if r["failed"] or r["errors"]:
            raise RuntimeError(
                f"{server.name} answered FAIL/ERROR to {PAP_USER}/{PAP_PASSWORD}:"
                f"\n{server.log_tail()}"
            )
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {limit_s:.0f} s:\n{server.log_tail()}")


def audit_lag(nac: Nac, run: dict[str, Any], cpu0: float, limit_s: float) -> None:
    """nac answers before it stores: wait until every answered session has its audit row
    (as radius_pap.audit_lag), and say how far behind the writer was."""
    server = nac.server
    assert server.audit_db is not None
    rows = audit_rows(server.audit_db)
    backlog = server.answered - max(rows, 0)
    t0 = time.monotonic()
    stored = rows
    while stored < server.answered and time.monotonic() - t0 < limit_s:
        if not server.alive():
            break
        time.sleep(0.1)
        stored = audit_rows(server.audit_db)
    drain = time.monotonic() - t0 if backlog > 0 else 0.0
    run["audit_rows"] = stored
    run["audit_expected"] = server.answered
    run["audit_backlog_at_end"] = backlog
    run["audit_drain_s"] = round(drain, 2)
    run["audit_all_stored"] = stored >= server.answered
    answered = run["completed"]
    run["stored_rate_per_s"] = round(answered / (run["elapsed_s"] + drain), 1)
    run["server_cpu_s_incl_drain"] = round(server.cpu() - cpu0, 3)


def measured(
    nac: Nac, gen: Generator, kind: Kind, conns: int, args: argparse.Namespace, idle: int = 0
) -> dict[str, Any]:
    server = nac.server
    cpu0, busy0 = server.cpu(), machine_busy_seconds()
    run = gen.run(
        mode=kind.mode, single=kind.single, connections=conns, duration=args.duration, idle=idle
    )
    run["cell"] = f"{kind.name}:{conns}"
    # nac answered the idle connections' one session each as well: each has an audit row
    server.answered += run["completed"] + run["idle_established"]
    run["server_cpu_s"] = round(server.cpu() - cpu0, 3)
    other = machine_busy_seconds() - busy0 - run["server_cpu_s"] - run["gen_total_cpu_s"]
    run["other_cpu_s"] = round(max(other, 0.0), 3)
    done = max(run["completed"], 1)
    run["server_us_per_session"] = round(run["server_cpu_s"] * 1e6 / done, 1)
    run["gen_us_per_session"] = round(run["cpu_s"] * 1e6 / done, 1)
    ref = kind.reference.get(conns)
    if ref:
        run["reference_per_s"] = ref
        run["ratio"] = round(run["rate_per_s"] / ref, 3)
        run["meets_bar"] = run["ratio"] >= RATIO_BAR
    if not server.alive():
        raise RuntimeError(f"{server.name} died during {run['cell']}:\n{server.log_tail()}")
    if server.audit_db is not None:
        audit_lag(nac, run, cpu0, args.audit_wait)
    lines = nac.new_log_lines()
    run["log_lines"] = lines[-20:]
    run["log_lines_total"] = len(lines)
    run["records_dropped"] = [x for x in lines if "records dropped" in x]
    run["problems"] = problems(run)
    return run


def describe(run: dict[str, Any]) -> str:
    text = (
        f"{run['cell']:<12} {run['rate_per_s']:>9.0f}/s  p50 {run['p50_ms']:.3f} p99 "
        f"{run['p99_ms']:.3f} ms  cpu srv {run['server_cpu_s']:.2f} gen {run['cpu_s']:.2f}"
        f" other {run['other_cpu_s']:.2f} s / {run['elapsed_s']:.2f} s"
    )
    if "audit_drain_s" in run:
        text += (
            f"  audit {run['audit_backlog_at_end']} behind, stored {run['audit_drain_s']:.1f} s"
            f" later{'' if run['audit_all_stored'] else ' NOT ALL STORED'}"
        )
    if run["problems"]:
        text += "  !!! " + ", ".join(run["problems"])
    if run["records_dropped"]:
        text += "  !!! nac log: records dropped"
    return text


def bench_nac(
    nac: Nac, gen: Generator, args: argparse.Namespace, cells: list[tuple[Kind, int]]
) -> dict[str, Any]:
    server = nac.server
    server.start()
    wait_ready(nac, gen, args.startup_timeout)
    log(f"{server.name} ready on tcp {HOST}:{nac.tacacs_port}")
    startup_log = nac.new_log_lines()  # not any cell's
    warm: list[dict[str, Any]] = []
    if args.warmup > 0:
        for kind in (KIND_BY_NAME["pap-sc"], KIND_BY_NAME["authz-sc"]):
            w = measured(nac, gen, kind, 8, _with(args, duration=args.warmup))
            log(f"  warm-up  {describe(w)}")
            warm.append(w)
    runs = []
    for kind, conns in cells:
        run = measured(nac, gen, kind, conns, args)
        log(f"  cell     {describe(run)}")
        runs.append(run)
    idle_check: dict[str, Any] | None = None
    if args.idle_check:
        kind, conns = KIND_BY_NAME[IDLE_CELL[0]], IDLE_CELL[1]
        # measured again right before, so both sides see the same machine
        base = measured(nac, gen, kind, conns, args)
        log(f"  no-idle  {describe(base)}")
        with_idle = measured(nac, gen, kind, conns, args, idle=args.idle)
        log(f"  idle     {describe(with_idle)}  idle_open_at_end {with_idle['idle_open_at_end']}")
        ratio = with_idle["rate_per_s"] / base["rate_per_s"] if base["rate_per_s"] else 0.0
        idle_check = {
            "cell": f"{kind.name}:{conns}",
            "idle": args.idle,
            "without": base,
            "table_rate_per_s": next(
                (r["rate_per_s"] for r in runs if r["cell"] == f"{kind.name}:{conns}"), None
            ),
            "with": with_idle,
            "ratio": round(ratio, 3),
            "ok": ratio >= IDLE_SLOWDOWN_OK
            and with_idle["idle_open_at_end"] == args.idle
            and not with_idle["problems"],
            "noisy": noisy(base) or noisy(with_idle),
        }
    server.stop()
    late = nac.new_log_lines()
    return {
        "server": server.name,
        "workers": nac.workers,
        "command": server.cmd,
        "tacacs_port": nac.tacacs_port,
        "log_at_startup": startup_log[-20:],
        "warmup": warm,
        "cells": runs,
        "idle_check": idle_check,
        "log_after_last_cell": late[-20:],
        "records_dropped_after_last_cell": [x for x in late if "records dropped" in x],
    }


def _with(args: argparse.Namespace, **kw: Any) -> argparse.Namespace:
    copy = argparse.Namespace(**vars(args))
    for k, v in kw.items():
        setattr(copy, k, v)
    return copy


# ---------------------------------------------------------------------------- ceiling


def ceiling(binary: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """tacblast against its own trivial responder (no nac): the generator's ceiling."""
    port = free_tcp_port()
    cmd = [str(binary), "--respond", f"--host={HOST}", f"--port={port}", f"--key={KEY}"]
    cmd.append(f"--duration={(args.duration + 10) * len(CEILING_CELLS) + 30}")
    log("starting responder: " + shlex.join(cmd))
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    out: list[dict[str, Any]] = []
    try:
        gen = Generator(binary, port, timeout_s=args.timeout)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tacblast --respond exited: {proc.stderr.read()}")  # type: ignore[union-attr]
            r = gen.run(mode="pap", single=True, connections=1, duration=0.3, max_total=1)
            if r["passed"] == 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("tacblast --respond did not answer")
            time.sleep(0.2)
        for name, conns in CEILING_CELLS:
            kind = KIND_BY_NAME[name]
            cpu0, busy0 = tree_cpu_seconds(proc.pid), machine_busy_seconds()
            run = gen.run(
                mode=kind.mode, single=kind.single, connections=conns, duration=args.duration
            )
            run["cell"] = f"{name}:{conns}"
            run["server_cpu_s"] = round(tree_cpu_seconds(proc.pid) - cpu0, 3)
            other = machine_busy_seconds() - busy0 - run["server_cpu_s"] - run["gen_total_cpu_s"]
            run["other_cpu_s"] = round(max(other, 0.0), 3)
            done = max(run["completed"], 1)
            run["server_us_per_session"] = round(run["server_cpu_s"] * 1e6 / done, 1)
            run["gen_us_per_session"] = round(run["cpu_s"] * 1e6 / done, 1)
            run["records_dropped"] = []
            run["problems"] = problems(run)
            log(f"  ceiling  {describe(run)}")
            out.append(run)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            stdout, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        if out and stdout.strip():
            with contextlib.suppress(ValueError):
                out[-1]["responder_totals"] = json.loads(stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------------------- report


def fmt_rate(x: float) -> str:
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def print_table(result: dict[str, Any]) -> None:
    print(f"\n== {result['server']} (nac serve --workers {result['workers']}) ==")
    head = (
        f"{'cell':<34} {'rate/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv CPU':>7} "
        f"{'gen CPU':>7} {'other':>6} {'elapsed':>7} {'srv us':>7} {'gen us':>7} "
        f"{'stored/s':>8} {'drain':>5} {'tac_plus-ng':>11} {'ratio':>6} {'>=0.5x':>6}  problems"
    )
    print(head)
    print("-" * len(head))
    for r in result["cells"]:
        kind, conns = r["cell"].split(":")
        label = f"{KIND_BY_NAME[kind].label} x{conns}"
        stored = f"{r['stored_rate_per_s']:>8.0f}" if "stored_rate_per_s" in r else f"{'-':>8}"
        drain = f"{r['audit_drain_s']:>5.1f}" if "audit_drain_s" in r else f"{'-':>5}"
        if r.get("audit_all_stored") is False:
            drain = "!!"
        ref = f"{fmt_rate(r['reference_per_s']):>11}" if "reference_per_s" in r else f"{'-':>11}"
        ratio = f"{r['ratio']:>5.2f}x" if "ratio" in r else f"{'-':>6}"
        bar = ("yes" if r["meets_bar"] else "NO") if "meets_bar" in r else "-"
        probs = list(r["problems"])
        if r["records_dropped"]:
            probs.append("nac log: RECORDS DROPPED")
        tail = "!!! " + ", ".join(probs) if probs else "ok"
        if noisy(r):
            tail += "  (noisy: other CPU)"
        print(
            f"{label:<34} {r['rate_per_s']:>8.0f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
            f"{r['max_ms']:>7.1f} "
            f"{r['server_cpu_s']:>7.2f} {r['cpu_s']:>7.2f} {r['other_cpu_s']:>6.2f} "
            f"{r['elapsed_s']:>7.2f} {r['server_us_per_session']:>7.1f} "
            f"{r['gen_us_per_session']:>7.1f} {stored} {drain} {ref} {ratio} {bar:>6}  {tail}"
        )


def print_notes() -> None:
    print(
        "(rate/s = sessions completed / time to the last one; p50/p99 = a session's first send"
        " to its final reply,\n"
        " connect excluded; max = the slowest session; CPU columns in seconds over the cell:"
        " srv = nac's process\n"
        " tree from /proc, gen = tacblast's getrusage, other = the rest of the machine from"
        " /proc/stat, should be ~0\n"
        " (noisy = above 10% of the machine: rerun); srv us / gen us = CPU microseconds per"
        " session; stored/s =\n"
        " sessions over the time until every audit row was stored (drain = seconds after the"
        " cell ended);\n"
        " tac_plus-ng = the C reference's figure on this 2-core machine with its own generator,"
        " from the issue,\n"
        " not measured here)"
    )


def print_idle(result: dict[str, Any]) -> None:
    ic = result["idle_check"]
    if ic is None:
        return
    wo, wi = ic["without"], ic["with"]
    status = "ok" if ic["ok"] else "!!! NOT OK"
    if ic["noisy"]:
        status += (
            f" (but the machine was busy: other CPU {wo['other_cpu_s']:.2f} s without,"
            f" {wi['other_cpu_s']:.2f} s with; rerun)"
        )
    print(
        f"idle check ({result['server']}, {ic['cell']}): {wo['rate_per_s']:.0f}/s"
        f" (p99 {wo['p99_ms']:.2f} ms) without, {wi['rate_per_s']:.0f}/s"
        f" (p99 {wi['p99_ms']:.2f} ms) with {ic['idle']} idle single-connect connections"
        f" held: {ic['ratio']:.2f}x; idle_open_at_end {wi['idle_open_at_end']}/{ic['idle']}"
        f" (established {wi['idle_established']}, single-connect {wi['idle_single_connect']},"
        f" setup {wi['idle_setup_s']:.2f} s); {status}"
    )
    if ic["table_rate_per_s"] is not None:
        print(f"  (the same cell in the table above: {ic['table_rate_per_s']:.0f}/s)")
    if wi["problems"]:
        print(f"  !!! {', '.join(wi['problems'])}")
    if wi["records_dropped"]:
        print("  !!! nac log: records dropped")


def print_loud(results: list[dict[str, Any]]) -> None:
    for res in results:
        allruns = [*res["warmup"], *res["cells"]]
        if res["idle_check"]:
            allruns.append(res["idle_check"]["with"])
        for r in allruns:
            if r["problems"]:
                print(f"!!! {res['server']} {r['cell']}: {', '.join(r['problems'])}")
            for line in r["records_dropped"]:
                print(f"!!! {res['server']} {r['cell']}: nac log: {line}")
            if r.get("audit_all_stored") is False:
                print(
                    f"!!! {res['server']} {r['cell']}: audit log NOT caught up"
                    f" ({r['audit_rows']} of {r['audit_expected']} rows)"
                )
            if r.get("log_lines_total"):
                print(f"nac log during {res['server']} {r['cell']} ({r['log_lines_total']} lines):")
                for line in r["log_lines"][-5:]:
                    print(f"    {line}")
        for line in res["records_dropped_after_last_cell"]:
            print(f"!!! {res['server']} after the last cell: nac log: {line}")


def print_ceiling(ceil: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    if not ceil:
        return
    print("\n== generator ceiling: tacblast against tacblast --respond (no nac) ==")
    for c in ceil:
        kind, conns = c["cell"].split(":")
        label = f"{KIND_BY_NAME[kind].label} x{conns}"
        probs = ("  !!! " + ", ".join(c["problems"])) if c["problems"] else ""
        if noisy(c):
            probs += "  (noisy: other CPU)"
        print(
            f"{label:<34} {c['rate_per_s']:>8.0f}/s  p50 {c['p50_ms']:.3f} p99 {c['p99_ms']:.3f}"
            f" ms  gen {c['cpu_s']:.2f} s = {c['gen_us_per_session']:.1f} us/session,"
            f" responder {c['server_us_per_session']:.1f} us/session, other"
            f" {c['other_cpu_s']:.2f} s{probs}"
        )
        for res in results:
            r = next((x for x in res["cells"] if x["cell"] == c["cell"]), None)
            if r is None:
                continue
            head = c["rate_per_s"] / r["rate_per_s"] if r["rate_per_s"] else float("inf")
            share = (
                r["gen_us_per_session"] / r["server_us_per_session"]
                if r["server_us_per_session"]
                else float("inf")
            )
            print(
                f"  vs {res['server']}: {r['rate_per_s']:.0f}/s, ceiling {head:.1f}x that;"
                f" against nac the generator spent {r['gen_us_per_session']:.1f} us/session,"
                f" nac {r['server_us_per_session']:.1f} us/session (generator = {share:.2f}x"
                f" nac's CPU per session)"
            )


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in results:
        for r in res["cells"]:
            if "ratio" in r:
                out[f"{res['server']}_{r['cell']}_ratio"] = r["ratio"]
                out[f"{res['server']}_{r['cell']}_meets_bar"] = r["meets_bar"]
            out[f"{res['server']}_{r['cell']}_clean"] = (
                not r["problems"] and not r["records_dropped"]
            )
        if res["idle_check"]:
            out[f"{res['server']}_idle_check_ok"] = res["idle_check"]["ok"]
            out[f"{res['server']}_idle_check_noisy"] = res["idle_check"]["noisy"]
        out[f"{res['server']}_noisy_cells"] = [r["cell"] for r in res["cells"] if noisy(r)]
    return out


# ---------------------------------------------------------------------------- main


def parse_cells(
    text: str, ap: argparse.ArgumentParser
) -> tuple[list[tuple[Kind, int]], bool, bool]:
    """`all`, or a comma list of KIND (all three counts), KIND:N, `idle`, `ceiling`."""
    cells: list[tuple[Kind, int]] = []
    idle = ceil = False
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        if item == "all":
            cells += [(k, n) for k in KINDS for n in CONNS]
            idle = ceil = True
        elif item == "idle":
            idle = True
        elif item == "ceiling":
            ceil = True
        else:
            name, _, count = item.partition(":")
            if name not in KIND_BY_NAME:
                ap.error(f"--cells: unknown {item!r} (pap-conn, pap-sc, authz-sc, idle, ceiling)")
            try:
                counts = [int(count)] if count else list(CONNS)
            except ValueError:
                ap.error(f"--cells: bad connection count in {item!r}")
            if any(not 1 <= c <= 10000 for c in counts):
                ap.error(f"--cells: connection count out of range in {item!r}")
            cells += [(KIND_BY_NAME[name], c) for c in counts]
    seen: set[tuple[str, int]] = set()
    unique = []
    for kind, conns in cells:
        if (kind.name, conns) not in seen:
            seen.add((kind.name, conns))
            unique.append((kind, conns))
    return unique, idle, ceil


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per cell (5)")
    ap.add_argument(
        "--warmup", type=float, default=1.0, help="warm-up seconds, PAP and authz x8 (1; 0 = none)"
    )
    ap.add_argument(
        "--workers", default="1,2", help="nac worker counts to measure, a table each (1,2)"
    )
    ap.add_argument(
        "--cells",
        default="all",
        help="all, or a comma list of pap-conn|pap-sc|authz-sc[:N], idle, ceiling (all)",
    )
    ap.add_argument(
        "--idle", type=int, default=1000, help="idle connections held in the idle check (1000)"
    )
    ap.add_argument(
        "--nac-cmd",
        default=DEFAULT_NAC_CMD,
        help="command starting nac; placeholders {nac} {data_dir} {host} {auth_port} {acct_port}"
        " {tacacs_port} {web_port} (--workers N is appended)",
    )
    ap.add_argument("--startup-timeout", type=float, default=60.0, help="seconds (60)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds before a session is lost")
    ap.add_argument(
        "--audit-wait", type=float, default=120.0, help="seconds to wait for the audit log (120)"
    )
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    args.cell_list, args.idle_check, args.ceiling = parse_cells(args.cells, ap)
    try:
        args.worker_list = [int(w) for w in args.workers.split(",") if w]
    except ValueError:
        ap.error("--workers: a comma list of integers")
    if not 0 < args.duration <= 600 or not 0 <= args.warmup <= 60:
        ap.error("--duration must be in (0, 600] and --warmup in [0, 60]")
    if any(not 1 <= w <= 64 for w in args.worker_list):
        ap.error("--workers: between 1 and 64 each")
    if not 1 <= args.idle <= 100_000:
        ap.error("--idle: between 1 and 100000")
    if "{tacacs_port}" not in args.nac_cmd:
        ap.error("--nac-cmd must contain {tacacs_port}")
    if not args.cell_list and not args.idle_check and not args.ceiling:
        ap.error("--cells selects nothing")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_nofile(args.idle + 300 if args.idle_check else 1024)
    source = git_state()
    if source:
        changed = len(source["changed_files"])
        log(f"nac at {source['commit'][:12]}" + (f", {changed} changed files" if changed else ""))
    tmp = Path(tempfile.mkdtemp(prefix="nac-bench-tacacs-"))
    results: list[dict[str, Any]] = []
    ceil: list[dict[str, Any]] = []
    run_nac = bool(args.cell_list) or args.idle_check
    try:
        binary = compile_tacblast(tmp)
        for workers in args.worker_list if run_nac else []:
            nac = Nac(tmp, args.nac_cmd, workers)
            gen = Generator(binary, nac.tacacs_port, timeout_s=args.timeout)
            try:
                results.append(bench_nac(nac, gen, args, args.cell_list))
            finally:
                nac.server.stop()
        if args.ceiling:
            ceil = ceiling(binary, args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
        log(f"failed: {exc}")
        return 1
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    for res in results:
        if res["cells"]:
            print_table(res)
    if any(res["cells"] for res in results):
        print_notes()
    print()
    for res in results:
        print_idle(res)
    print_ceiling(ceil, results)
    print()
    print_loud(results)
    summary = verdict(results)
    OUT_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "benchmark": "tacacs",
        "time": stamp,
        "host": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "argv": sys.argv,
        "source": source,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "pap_user": PAP_USER,
        "authz": {"user": AUTHZ_USER, "cmd": AUTHZ_CMD},
        "reference": "tac_plus-ng on the same 2-core machine with its own generator (the issue)",
        "results": results,
        "ceiling": ceil,
        "verdict": summary,
    }
    write_report("tacacs", stamp, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
