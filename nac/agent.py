"""``nac-agent``: collect posture facts on this Linux machine and report them to nac.

    nac-agent facts [--facts FILE]
    nac-agent report --server URL --token TOKEN --mac MAC [--facts FILE] [--insecure | --ca FILE]
    nac-agent report --server https://URL --cert FILE --key FILE [--mac MAC] [--ca FILE] [...]

Facts (README "Posture facts"): ``os.family`` (linux), ``os.name`` and ``os.version`` from
/etc/os-release (PRETTY_NAME, VERSION_ID), ``os.distribution`` (ID), ``os.kernel`` (uname -r),
``firewall.enabled`` from ``nft -j list ruleset`` or ``iptables -S`` (an input hook or INPUT
chain that drops by default or holds rules), ``disk.encrypted`` from ``lsblk -J`` (the root
file system sits on a ``crypt`` device; without a root mount in the list, any crypt device),
``av.running`` / ``av.signature_age_days`` when a known antivirus daemon runs (ClamAV's
signature databases give the age), ``patch.age_days`` (days since the package database last
changed), ``host.name``. What cannot be established is left out (a headless box has no screen
lock, so ``screen_lock.enabled`` is omitted; a firewall the agent may not read is omitted, not
reported off). ``--facts FILE`` (a JSON object; ``-`` for stdin) overrides or stands in for
collected facts: for tests and for integrations that take facts from an MDM tool.

Standard library only (the agent runs on endpoints). Exit status: 0 when the server accepted
the report (whatever the state), 1 when it refused it or could not be reached, 2 usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["collect_facts", "main"]

AGENT_VERSION = "0.1"
REPORT_PATH = "/api/v1/posture/reports"
# Process names of antivirus daemons the agent recognizes (comm, at most 15 characters).
AV_DAEMONS = {
    "clamd": "clamav",
    "freshclam": "clamav",
    "falcon-sensor": "crowdstrike",
    "wdavdaemon": "defender",
    "mdatp": "defender",
    "sophos-spl": "sophos",
    "savd": "sophos",
    "esets_daemon": "eset",
    "oneav": "eset",
}
CLAMAV_DBS = ("daily.cld", "daily.cvd", "main.cld", "main.cvd")
CLAMAV_DIRS = ("/var/lib/clamav", "/var/clamav")
PACKAGE_DBS = ("/var/lib/dpkg/status", "/var/lib/rpm", "/var/lib/pacman/local", "/lib/apk/db")

Runner = Callable[[Sequence[str]], str | None]


def _run(argv: Sequence[str]) -> str | None:
    """A command's standard output, or None when it is missing, refused or failed."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument lists, no shell
            list(argv), capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


# --- collectors ------------------------------------------------------------------------------


def os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release(5), quotes removed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def nft_firewall(text: str) -> bool:
    """``nft -j list ruleset``: True when a chain hooked on input drops by default or holds
    rules (a table that filters inbound traffic)."""
    items = json.loads(text).get("nftables", [])
    inputs: set[tuple[str, str, str]] = set()
    for item in items:
        chain = item.get("chain") if isinstance(item, dict) else None
        if isinstance(chain, dict) and chain.get("hook") == "input":
            key = (chain.get("family", ""), chain.get("table", ""), chain.get("name", ""))
            if chain.get("policy") == "drop":
                return True
            inputs.add(key)
    for item in items:
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict):
            key = (rule.get("family", ""), rule.get("table", ""), rule.get("chain", ""))
            if key in inputs:
                return True
    return False


def iptables_firewall(text: str) -> bool:
    """``iptables -S``: True when INPUT drops by default or holds rules."""
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["-P", "INPUT"] and len(parts) > 2 and parts[2] in ("DROP", "REJECT"):
            return True
        if parts[:2] == ["-A", "INPUT"]:
            return True
    return False


def lsblk_encrypted(text: str) -> bool:
    """``lsblk -J -o NAME,TYPE,MOUNTPOINT``: whether / sits on a crypt device (any crypt
    device when / is not among the block devices, e.g. in a container)."""
    devices = json.loads(text).get("blockdevices", [])
    any_crypt = False
    root_on_crypt: bool | None = None

    def walk(nodes: list[Any], crypt_above: bool) -> None:
        nonlocal any_crypt, root_on_crypt
        for node in nodes:
            if not isinstance(node, dict):
                continue
            crypt = crypt_above or node.get("type") == "crypt"
            any_crypt = any_crypt or node.get("type") == "crypt"
            mounts = node.get("mountpoints") or [node.get("mountpoint")]
            if "/" in mounts:
                root_on_crypt = crypt
            walk(node.get("children") or [], crypt)

    walk(devices, False)
    return root_on_crypt if root_on_crypt is not None else any_crypt


def _days_since(path: Path, now: float) -> float | None:
    try:
        return max(0.0, round((now - path.stat().st_mtime) / 86400, 1))
    except OSError:
        return None


def _running_av(proc: Path) -> str | None:
    try:
        entries = list(proc.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in AV_DAEMONS:
            return AV_DAEMONS[comm]
    return None


def collect_facts(
    *,
    run: Runner = _run,
    root: Path = Path("/"),
    now: float | None = None,
) -> dict[str, Any]:
    """Facts about this machine (`run` and `root` are parameters for the tests)."""
    now = time.time() if now is None else now
    facts: dict[str, Any] = {"os.family": platform.system().lower() or "linux"}
    for name in ("etc/os-release", "usr/lib/os-release"):
        try:
            release = os_release((root / name).read_text())
        except OSError:
            continue
        if release.get("PRETTY_NAME"):
            facts["os.name"] = release["PRETTY_NAME"]
        if release.get("VERSION_ID"):
            facts["os.version"] = release["VERSION_ID"]
        if release.get("ID"):
            facts["os.distribution"] = release["ID"]
        break
    facts["os.kernel"] = platform.release()
    facts["host.name"] = socket.gethostname()

    nft = run(["nft", "-j", "list", "ruleset"])
    firewall: bool | None = None
    if nft is not None:
        try:
            firewall = nft_firewall(nft)
        except (ValueError, AttributeError):
            firewall = None
    if not firewall:
        ipt = run(["iptables", "-S"])
        if ipt is not None:
            firewall = iptables_firewall(ipt) or bool(firewall)
    if firewall is not None:
        facts["firewall.enabled"] = firewall

    blk = run(["lsblk", "-J", "-o", "NAME,TYPE,MOUNTPOINT"])
    if blk is not None:
        with contextlib.suppress(ValueError, AttributeError):
            facts["disk.encrypted"] = lsblk_encrypted(blk)

    av = _running_av(root / "proc")
    if av is not None:
        facts["av.running"] = True
        facts["av.product"] = av
        if av == "clamav":
            ages = [
                age
                for d in CLAMAV_DIRS
                for db in CLAMAV_DBS
                if (age := _days_since(root / d.lstrip("/") / db, now)) is not None
            ]
            if ages:
                facts["av.signature_age_days"] = min(ages)
    for db in PACKAGE_DBS:
        age = _days_since(root / db.lstrip("/"), now)
        if age is not None:
            facts["patch.age_days"] = age
            break
    return facts


# --- the command ----------------------------------------------------------------------------


def _load_overrides(name: str | None) -> dict[str, Any]:
    if not name:
        return {}
    text = sys.stdin.read() if name == "-" else Path(name).read_text()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"--facts {name}: expected a JSON object of facts")
    return data


def _context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.server.startswith("https://"):
        if args.cert:
            raise ValueError("--cert needs an https:// --server (nac serve --web-tls)")
        return None
    if args.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if args.cert:
            ctx.load_cert_chain(args.cert, args.key)
        return ctx
    ctx = ssl.create_default_context(cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)  # the key file: unencrypted, or a prompt
    return ctx


def _url(server: str) -> str:
    server = server.rstrip("/")
    return server if server.endswith(REPORT_PATH) else server + REPORT_PATH


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        return Path(args.token_file).read_text().strip()
    token = args.token or os.environ.get("NAC_AGENT_TOKEN", "")
    if not token:
        raise ValueError("a token is required: --token, --token-file or NAC_AGENT_TOKEN")
    return str(token)


def _tls_words(exc: BaseException, cert: bool) -> str:
    """An error, with what it likely means for our client certificate (``cert``): OpenSSL
    refuses a certificate of another CA in the handshake, and under TLS 1.3 the client often
    sees only the connection closing, not the alert."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    text = str(exc)
    if not cert:
        return text
    if isinstance(reason, ssl.SSLError):
        alert = (reason.reason or "").lower()
        for name, words in (
            ("unknown_ca", "the server does not trust the CA of --cert"),
            ("certificate_expired", "the server says the --cert certificate has expired"),
            ("certificate_revoked", "the server says the --cert certificate is revoked"),
            ("bad_certificate", "the server refused the --cert certificate"),
        ):
            if name in alert:
                return f"{text} ({words})"
    if isinstance(reason, ssl.SSLError | ConnectionError):  # RemoteDisconnected is one
        return (
            f"{text} (the server probably refused the --cert certificate in the TLS "
            "handshake: it must be issued by this nac's CA, see 'nac pki issue MAC')"
        )
    return text


def _print_answer(answer: dict[str, Any]) -> None:
    print(f"posture {answer.get('mac')}: {answer.get('state')}, score {answer.get('score')}")
    if answer.get("changed"):
        print(f"  changed from {answer.get('previous_state')}")
    for f in answer.get("failed", []):
        print(f"  failed {f.get('id')}: {f.get('words')}")
    for u in answer.get("unknown", []):
        print(f"  unknown {u.get('id')}: {u.get('words')}")


def _report(args: argparse.Namespace) -> int:
    facts = {**collect_facts(), **_load_overrides(args.facts)}
    body = {
        **({"mac": args.mac} if args.mac else {}),  # with --cert: the certificate's MAC
        "facts": facts,
        "collected_at": datetime.now(UTC).isoformat(),
        "agent": {"name": "nac-agent", "version": AGENT_VERSION},
    }
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's --server
        _url(args.server),
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            **({} if args.cert else {"Authorization": f"Bearer {_token(args)}"}),
            "User-Agent": f"nac-agent/{AGENT_VERSION}",
        },
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=args.timeout, context=_context(args)
        ) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            detail: Any = json.loads(text).get("detail", text)
        except (ValueError, AttributeError):
            detail = text
        if isinstance(detail, list):
            detail = "; ".join(
                f"{d.get('field') or '.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}"
                if isinstance(d, dict)
                else str(d)
                for d in detail
            )
        print(f"nac-agent: report refused: HTTP {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(
            f"nac-agent: cannot reach {args.server}: {_tls_words(exc, bool(args.cert))}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        _print_answer(answer)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nac-agent", description="Report this machine's posture facts to nac."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    facts = sub.add_parser("facts", help="Print the facts collected here (JSON).")
    facts.add_argument("--facts", help="A JSON object of facts merged over the collected ones.")
    report = sub.add_parser("report", help="Post a posture report to the nac server.")
    report.add_argument("--server", required=True, help="The console URL, e.g. http://nac:8080")
    report.add_argument("--token", help="The enrollment token (nac posture enroll MAC).")
    report.add_argument("--token-file", help="Read the token from this file (not visible in ps).")
    report.add_argument(
        "--cert",
        help="Instead of a token: a client certificate (PEM) of the nac CA naming this MAC "
        "(nac pki issue MAC); https only.",
    )
    report.add_argument("--key", help="The --cert certificate's private key (PEM).")
    report.add_argument(
        "--mac",
        help="This endpoint's MAC address (required with a token; with --cert the "
        "certificate's MAC is used when it is left out).",
    )
    report.add_argument("--facts", help="A JSON object of facts merged over the collected ones.")
    tls = report.add_mutually_exclusive_group()
    tls.add_argument("--ca", help="CA certificate file to verify an https server.")
    tls.add_argument("--insecure", action="store_true", help="Do not verify the https server.")
    report.add_argument("--timeout", type=float, default=10.0, help="Seconds [10].")
    report.add_argument("--json", action="store_true", help="Print the server's answer as JSON.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "report":
        if args.cert and (args.token or args.token_file):
            parser.error("--cert replaces --token/--token-file: give one of them")
        if args.key and not args.cert:
            parser.error("--key goes with --cert")
        if not args.cert and not args.mac:
            parser.error("--mac is required with a token")
    try:
        if args.command == "facts":
            print(json.dumps({**collect_facts(), **_load_overrides(args.facts)}, indent=2))
            return 0
        return _report(args)
    except (OSError, ValueError) as exc:
        print(f"nac-agent: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
