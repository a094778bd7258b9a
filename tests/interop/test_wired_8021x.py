"""A real wired 802.1X port: hostapd (driver=wired) is the authenticator on one end of a veth
pair and asks `nac serve --demo` over RADIUS; wpa_supplicant (driver=wired) is the supplicant
on the other end, inside a network namespace the test makes. PEAP-MSCHAPv2 as alice must
leave the port authorized on both sides, and nac's audit log must show the accept with VLAN 100.

Needs root (network namespaces) and the Debian packages hostapd and wpasupplicant."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from tests.interop.conftest import SECRET, NacServer, make_server

pytestmark = pytest.mark.interop

WAIT = 20.0  # seconds any one thing may take to happen

TOOLS = {
    "hostapd": "hostapd",
    "hostapd_cli": "hostapd",
    "wpa_supplicant": "wpasupplicant",
    "wpa_cli": "wpasupplicant",
    "ip": "iproute2",
}


def unavailable(message: str) -> NoReturn:
    """Missing tools or privileges fail in CI and skip elsewhere (as eapol_test_binary)."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    # The daemons live in /usr/sbin, which a non-login PATH may lack.
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        unavailable(f"{name} is not installed (Debian package {TOOLS[name]})")
    return path


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr}{res.stdout}")
    return res


def poll(what: str, probe: Callable[[], str | None], detail: Callable[[], str]) -> str:
    """Call ``probe`` until it returns something (up to WAIT seconds)."""
    deadline = time.monotonic() + WAIT
    while True:
        got = probe()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{detail()}")
        time.sleep(0.2)


@dataclass
class WiredLink:
    """A veth pair: ``auth_if`` stays in the root namespace, ``supp_if`` is moved into ``ns``."""

    ns: str
    auth_if: str
    supp_if: str
    ctrl: Path  # hostapd's and wpa_supplicant's control sockets
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, cmd: list[str], log: Path, netns: bool = False) -> subprocess.Popen[str]:
        if netns:
            cmd = [tool("ip"), "netns", "exec", self.ns, *cmd]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture
def tools() -> dict[str, str]:
    found = {name: tool(name) for name in TOOLS}
    if os.geteuid() != 0:
        unavailable("the wired 802.1X test makes a network namespace and a veth pair: run as root")
    return found


@pytest.fixture
def wired_server(tools: dict[str, str], tmp_path: Path) -> Iterator[NacServer]:
    server = make_server(tmp_path)
    server.start("--demo")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def link(tools: dict[str, str], wired_server: NacServer) -> Iterator[WiredLink]:
    """Set up after the server and so torn down before it: hostapd and wpa_supplicant stop,
    then the veth pair and the namespace go."""
    ip = tools["ip"]
    suffix = secrets.token_hex(3)  # names of 12 characters: the kernel allows 15
    ctrl = Path(tempfile.mkdtemp(prefix="nac8021x-"))  # short: unix socket paths are limited
    wired = WiredLink(f"nac8021x-{suffix}", f"nacau-{suffix}", f"nacsu-{suffix}", ctrl)
    made = run(ip, "netns", "add", wired.ns, check=False)
    if made.returncode != 0:
        shutil.rmtree(ctrl, ignore_errors=True)
        unavailable(f"cannot create a network namespace (ip netns add): {made.stderr.strip()}")
    try:
        run(ip, "link", "add", wired.auth_if, "type", "veth", "peer", "name", wired.supp_if)
        run(ip, "link", "set", wired.supp_if, "netns", wired.ns)
        run(ip, "link", "set", wired.auth_if, "up")
        run(ip, "netns", "exec", wired.ns, ip, "link", "set", wired.supp_if, "up")
        yield wired
    finally:
        wired.stop_all()
        run(ip, "link", "del", wired.auth_if, check=False)  # takes its peer with it
        run(ip, "netns", "del", wired.ns, check=False)
        shutil.rmtree(ctrl, ignore_errors=True)


def hostapd_conf(link: WiredLink, server: NacServer, ctrl: Path) -> str:
    return "\n".join(
        [
            f"interface={link.auth_if}",
            "driver=wired",
            f"ctrl_interface={ctrl}",
            "logger_stdout=-1",
            "logger_stdout_level=1",
            "ieee8021x=1",
            "eapol_version=2",
            "use_pae_group_addr=1",
            "eap_reauth_period=0",
            "nas_identifier=lab-switch",
            "own_ip_addr=127.0.0.1",
            "auth_server_addr=127.0.0.1",
            f"auth_server_port={server.auth_port}",
            f"auth_server_shared_secret={SECRET}",
            "",
        ]
    )


def supplicant_conf(server: NacServer, ctrl: Path) -> str:
    ca = server.data_dir / "pki" / "ca.crt"
    return f"""ctrl_interface={ctrl}
ap_scan=0
eapol_version=2
network={{
    key_mgmt=IEEE8021X
    eap=PEAP
    identity="alice"
    anonymous_identity="anonymous"
    password="alice-pass"
    ca_cert="{ca}"
    phase2="auth=MSCHAPV2"
    eapol_flags=0
}}
"""


def status_fields(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_wired_port_is_authorized_by_peap_mschapv2(
    tools: dict[str, str], wired_server: NacServer, link: WiredLink, tmp_path: Path
) -> None:
    hostapd, hostapd_cli = tools["hostapd"], tools["hostapd_cli"]
    wpa_supplicant, wpa_cli = tools["wpa_supplicant"], tools["wpa_cli"]
    ca = wired_server.data_dir / "pki" / "ca.crt"
    assert ca.exists(), "nac serve made no CA"

    ap_ctrl, sup_ctrl = link.ctrl / "hapd", link.ctrl / "wpas"
    ap_conf, sup_conf = tmp_path / "hostapd.conf", tmp_path / "wpa_supplicant.conf"
    ap_log, sup_log = tmp_path / "hostapd.log", tmp_path / "wpa_supplicant.log"
    ap_conf.write_text(hostapd_conf(link, wired_server, ap_ctrl))
    sup_conf.write_text(supplicant_conf(wired_server, sup_ctrl))

    def logs() -> str:
        return (
            f"--- hostapd\n{ap_log.read_text()[-4000:]}\n"
            f"--- wpa_supplicant\n{sup_log.read_text()[-4000:] if sup_log.exists() else ''}\n"
            f"--- nac\n{wired_server.log()[-2000:]}"
        )

    # The authenticator first, so the supplicant's EAPOL-Start finds it listening.
    ap = link.spawn([hostapd, "-d", str(ap_conf)], ap_log)

    def ap_ready() -> str | None:
        assert ap.poll() is None, f"hostapd exited ({ap.returncode})\n{logs()}"
        res = run(hostapd_cli, "-p", str(ap_ctrl), "-i", link.auth_if, "ping", check=False)
        return res.stdout if "PONG" in res.stdout else None

    poll("hostapd's control interface", ap_ready, logs)

    sup = link.spawn(
        [wpa_supplicant, "-d", "-D", "wired", "-i", link.supp_if, "-c", str(sup_conf)],
        sup_log,
        netns=True,
    )
    netns_wpa_cli = [tools["ip"], "netns", "exec", link.ns, wpa_cli, "-p", str(sup_ctrl)]

    def supplicant_authenticated() -> str | None:
        assert sup.poll() is None, f"wpa_supplicant exited ({sup.returncode})\n{logs()}"
        res = run(*netns_wpa_cli, "-i", link.supp_if, "status", check=False)
        st = status_fields(res.stdout)
        done = (
            st.get("Supplicant PAE state") == "AUTHENTICATED" and st.get("EAP state") == "SUCCESS"
        )
        return res.stdout if done else None

    def port_authorized() -> str | None:
        res = run(hostapd_cli, "-p", str(ap_ctrl), "-i", link.auth_if, "all_sta", check=False)
        return res.stdout if "[AUTHORIZED]" in res.stdout else None

    sup_status = status_fields(
        poll("the supplicant to authenticate", supplicant_authenticated, logs)
    )
    all_sta = poll("hostapd to authorize the port", port_authorized, logs)

    # The supplicant's side: the PEAP tunnel with MSCHAPv2 inside, to EAP success.
    assert sup_status["EAP state"] == "SUCCESS"
    assert sup_status["selectedMethod"].startswith("25 (EAP-PEAP)"), sup_status
    sup_mac = sup_status["address"]

    # The authenticator's side: the station is the supplicant, its port authorized.
    sta_mac = all_sta.splitlines()[0].strip().lower()
    assert sta_mac == sup_mac.lower(), all_sta
    sta = status_fields(all_sta)
    assert "[AUTHORIZED]" in sta["flags"], all_sta
    assert sta.get("dot1xAuthPaeState") == "5", all_sta  # hostapd counts from 1: AUTHENTICATED
    ap_text = ap_log.read_text()
    assert f"CTRL-EVENT-EAP-SUCCESS2 {sta_mac}" in ap_text, logs()
    assert f"STA {sta_mac} IEEE 802.1X: authorizing port" in ap_text, logs()
    assert "MS-MPPE-Recv-Key" in ap_text, logs()  # the keys reached the authenticator

    # nac's side: the accept for alice over PEAP with the demo policy's VLAN.
    def accepted() -> str | None:
        res = wired_server.cli("audit", "tail", "-n", "5", "--json")
        rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        hits = [r for r in rows if r.get("result") == "accept" and r.get("username") == "alice"]
        return json.dumps(hits[-1]) if hits else None

    rec = json.loads(poll("nac's audit record", accepted, logs))
    assert rec["method"] == "peap", rec
    assert (rec["nas_name"], rec["mac"]) == ("lab-switch", sta_mac), rec
    assert ["Tunnel-Private-Group-Id", "100"] in rec["reply"], rec["reply"]
    eap = rec["eap"]
    assert (eap["outer_identity"], eap["inner_identity"]) == ("anonymous", "alice"), eap
