"""Take the README's console screenshots from a real `nac serve --demo`.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts `nac serve --demo` on free ports in a temporary directory, makes traffic with the real
peers (radclient accepts, rejects and a MAB, accounting for the printer, a TACACS+ login with
tacacs_client when installed, a posture report through the API), logs in with Playwright
driving Debian's chromium (/usr/bin/chromium; `playwright install` is not used) at 1280x800 and
saves dashboard.png, log.png, record.png (a reject's "why"), policy.png and endpoint.png.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
NAC = str(Path(sys.executable).with_name("nac"))
TACACS_CLIENT = Path(sys.executable).with_name("tacacs_client")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECRET = "testing123"  # noqa: S105 - the demo's well-known lab secret
PRINTER = "00:11:22:33:44:55"  # the demo's printer
VIEWPORT = {"width": 1280, "height": 800}


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`nac serve --demo` in ``workdir`` on free ports."""

    def __init__(self, workdir: Path) -> None:
        self.data = workdir / "data"
        self.log_path = workdir / "nac.log"
        self.auth = free_port(socket.SOCK_DGRAM)
        self.acct = free_port(socket.SOCK_DGRAM)
        self.tacacs = free_port(socket.SOCK_STREAM)
        self.web = free_port(socket.SOCK_STREAM)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "NAC_DATA_DIR": str(self.data)}
        env.pop("NAC_DB", None)
        cmd = [NAC, "serve", "--demo", "--bind", "127.0.0.1"]
        cmd += ["--radius-auth-port", str(self.auth), "--radius-acct-port", str(self.acct)]
        cmd += [
            "--tacacs-port",
            str(self.tacacs),
            "--tacacs-tls-port",
            str(free_port(socket.SOCK_STREAM)),
        ]
        cmd += ["--web-port", str(self.web), "--log-level", "info"]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None or "nac ready" in self.log():
                break
            time.sleep(0.1)
        if "nac ready" not in self.log():
            raise SystemExit(f"nac serve did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web}"


def radclient(port: int, command: str, attributes: str) -> str:
    tool = shutil.which("radclient")
    if tool is None:
        raise SystemExit("radclient is not installed (Debian package freeradius-utils)")
    if command == "auth":
        attributes += "Message-Authenticator = 0x00\n"
    res = subprocess.run(  # noqa: S603 - fixed arguments, our own ports
        [tool, "-x", "-r", "1", "-t", "2", f"127.0.0.1:{port}", command, SECRET],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=30,
    )
    found = re.search(r"Received (\S+)", res.stdout + res.stderr)
    return found.group(1) if found else "none"


def traffic(server: Server) -> None:
    """Decisions of every kind, so the dashboard, the log and the endpoint have content."""
    logins = [("alice", "alice-pass"), ("bob", "bob-pass"), ("bob", "bob-pass")]
    logins += [("dave", "dave-pass"), ("alice", "wrong-password"), ("erin", "x"), ("bob", "no")]
    for user, password in logins:
        attrs = f"User-Name = {user}\nUser-Password = {password}\nNAS-Port-Type = Ethernet\n"
        attrs += "Calling-Station-Id = 3C-22-FB-10-20-30\n"
        print(f"radius {user}: {radclient(server.auth, 'auth', attrs)}")
    for mac in ("00-11-22-33-44-55", "AA-BB-CC-DD-EE-FF"):  # the printer, an unknown device
        attrs = f"User-Name = {mac}\nUser-Password = {mac}\nCalling-Station-Id = {mac}\n"
        attrs += "Service-Type = Call-Check\nNAS-Port-Type = Ethernet\nNAS-Port-Id = Gi1/0/12\n"
        print(f"mab {mac}: {radclient(server.auth, 'auth', attrs)}")
    start = (
        "Acct-Status-Type = Start\nAcct-Session-Id = 5f00a1b2\nUser-Name = 00-11-22-33-44-55\n"
        "Calling-Station-Id = 00-11-22-33-44-55\nNAS-Port-Id = Gi1/0/12\n"
        "Framed-IP-Address = 10.0.30.21\n"
    )
    print(f"accounting start: {radclient(server.acct, 'acct', start)}")
    if TACACS_CLIENT.exists():
        cmd = [str(TACACS_CLIENT), "-H", "127.0.0.1", "-p", str(server.tacacs), "-k", SECRET]
        for user, password in (("admin", "admin-pass"), ("ops", "nope")):
            res = subprocess.run(  # noqa: S603
                [*cmd, "-u", user, "-t", "pap", "authenticate", "-p", password],
                capture_output=True,
                text=True,
                timeout=30,
            )
            print(f"tacacs {user}: {(res.stdout.strip().splitlines() or ['?'])[-1]}")


def log_in(client: httpx.Client) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"name": "admin", "password": "admin-pass", "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 303
    client.headers["X-CSRF-Token"] = client.get("/api/v1/me").json()["csrf_token"]


def posture(server: Server) -> None:
    """Enroll the printer and post two reports (the second fails the firewall check)."""
    with httpx.Client(base_url=server.url) as client:
        log_in(client)
        token = client.post("/api/v1/posture/tokens", json={"mac": PRINTER}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for facts in (
            {"firewall.enabled": True, "disk.encrypted": True},
            {"firewall.enabled": False, "disk.encrypted": True},
        ):
            answer = client.post(
                "/api/v1/posture/reports", json={"mac": PRINTER, "facts": facts}, headers=auth
            )
            print(f"posture report: {answer.status_code} {answer.json().get('state')}")


def shoot(server: Server, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.goto(f"{server.url}/login")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", "admin-pass")
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))
            page.locator("#rate-charts svg").first.wait_for(timeout=10_000)
            page.wait_for_timeout(500)

            def save(name: str) -> None:
                path = out / f"{name}.png"
                page.screenshot(path=str(path))
                saved.append(path)

            save("dashboard")
            page.goto(f"{server.url}/log")
            page.locator("#log tbody tr").first.wait_for()
            save("log")
            reject = page.locator("#log tbody tr.reject", has_text="alice").first
            reject.locator("td a").first.click()
            page.wait_for_url(re.compile(r"/log/\d+$"))
            page.locator("ol.trace").wait_for()
            save("record")
            page.goto(f"{server.url}/policy")
            save("policy")
            page.goto(f"{server.url}/endpoints/{PRINTER}")
            save("endpoint")
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        raise SystemExit("chromium is not installed (Debian package chromium)")
    workdir = Path(tempfile.mkdtemp(prefix="nac-screenshots-"))
    server = Server(workdir)
    try:
        server.start()
        traffic(server)
        posture(server)
        time.sleep(1.5)  # the audit writer flushes in batches
        saved = shoot(server, args.out)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    for path in saved:
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size // 1024} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
