"""RFC 5176 against a real DAS: hostapd (driver=wired, its radius_das_port server) on one end
of a veth pair, wpa_supplicant in a network namespace on the other, `nac serve --demo` as the
RADIUS authentication and accounting server and as the CoA client.

- A posture report marking the endpoint non-compliant makes nac send a Disconnect-Request
  that hostapd ACKs; the port is deauthorized; the supplicant's re-authentication is decided
  into the quarantine VLAN 666 (nac's audit log shows it: hostapd's wired driver cannot apply
  VLANs itself).
- An admin's "disconnect" over the API is ACKed the same way.
- With coa_mode=coa, "re-authenticate" sends a CoA-Request with the re-decided VLAN, which
  hostapd's DAS NAKs with Error-Cause 401 (Unsupported-Attribute): per-NAS capabilities matter.

Needs root and the Debian packages hostapd and wpasupplicant (as test_wired_8021x.py)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop import test_wired_8021x as wired
from tests.interop.conftest import SECRET, NacServer, free_udp_port
from tests.interop.test_wired_8021x import (
    WiredLink,
    hostapd_conf,
    poll,
    run,
    status_fields,
    supplicant_conf,
)

pytestmark = pytest.mark.interop

# The wired 802.1X harness's fixtures: the tools, `nac serve --demo`, the veth pair.
tools = wired.tools
wired_server = wired.wired_server
link = wired.link

CONSOLE_ADMIN = ("admin", "admin-pass")  # nac.db.demo.DEMO_CONSOLE_ADMIN


def console(server: NacServer) -> httpx.Client:
    """A console session of the demo admin; its CSRF token rides on every request."""
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.web_port}", timeout=30)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    name, password = CONSOLE_ADMIN
    done = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    client.headers["X-CSRF-Token"] = client.get("/api/v1/me").json()["csrf_token"]
    return client


@dataclass
class Port:
    """hostapd (authenticator + DAS) and wpa_supplicant on a veth pair, with nac behind."""

    server: NacServer
    link: WiredLink
    tools: dict[str, str]
    tmp: Path
    das_port: int
    api: httpx.Client

    @property
    def ap_ctrl(self) -> Path:
        return self.link.ctrl / "hapd"

    @property
    def sup_ctrl(self) -> Path:
        return self.link.ctrl / "wpas"

    def logs(self) -> str:
        ap, sup = self.tmp / "hostapd.log", self.tmp / "wpa_supplicant.log"
        return (
            f"--- hostapd\n{ap.read_text()[-5000:] if ap.exists() else ''}\n"
            f"--- wpa_supplicant\n{sup.read_text()[-3000:] if sup.exists() else ''}\n"
            f"--- nac\n{self.server.log()[-3000:]}"
        )

    def hostapd_log(self) -> str:
        return (self.tmp / "hostapd.log").read_text()

    def start(self) -> str:
        """Start both ends; returns the supplicant's MAC once the port is authorized."""
        conf = hostapd_conf(self.link, self.server, self.ap_ctrl) + "\n".join(
            [
                "acct_server_addr=127.0.0.1",
                f"acct_server_port={self.server.acct_port}",
                f"acct_server_shared_secret={SECRET}",
                f"radius_das_port={self.das_port}",
                f"radius_das_client=127.0.0.1 {SECRET}",
                "radius_das_require_event_timestamp=1",
                "radius_das_require_message_authenticator=1",
                "",
            ]
        )
        (self.tmp / "hostapd.conf").write_text(conf)
        (self.tmp / "wpa_supplicant.conf").write_text(supplicant_conf(self.server, self.sup_ctrl))
        ap = self.link.spawn(
            [self.tools["hostapd"], "-d", str(self.tmp / "hostapd.conf")], self.tmp / "hostapd.log"
        )

        def ap_ready() -> str | None:
            assert ap.poll() is None, f"hostapd exited ({ap.returncode})\n{self.logs()}"
            res = self.hostapd_cli("ping")
            return res if "PONG" in res else None

        poll("hostapd's control interface", ap_ready, self.logs)
        self.link.spawn(
            [
                self.tools["wpa_supplicant"],
                "-d",
                "-D",
                "wired",
                "-i",
                self.link.supp_if,
                "-c",
                str(self.tmp / "wpa_supplicant.conf"),
            ],
            self.tmp / "wpa_supplicant.log",
            netns=True,
        )
        self.wait_authorized()
        return status_fields(self.wpa_cli("status"))["address"].lower()

    def hostapd_cli(self, *args: str) -> str:
        cmd = [self.tools["hostapd_cli"], "-p", str(self.ap_ctrl), "-i", self.link.auth_if]
        return run(*cmd, *args, check=False).stdout

    def wpa_cli(self, *args: str) -> str:
        cmd = [self.tools["ip"], "netns", "exec", self.link.ns, self.tools["wpa_cli"]]
        cmd += ["-p", str(self.sup_ctrl), "-i", self.link.supp_if]
        return run(*cmd, *args, check=False).stdout

    def wait_authorized(self) -> None:
        def authorized() -> str | None:
            sta = self.hostapd_cli("all_sta")
            st = status_fields(self.wpa_cli("status"))
            ok = "[AUTHORIZED]" in sta and st.get("Supplicant PAE state") == "AUTHENTICATED"
            return sta if ok else None

        poll("the port to be authorized", authorized, self.logs)

    def wait_deauthorized(self, mac: str) -> None:
        """The port unauthorized at once, then the station dropped: hostapd removes it 5 s
        after a deauthentication (AP_MAX_INACTIVITY_AFTER_DEAUTH), and a re-authentication
        before that would be cut by that timer and reuse the old Acct-Session-Id."""

        def unauthorized() -> str | None:
            sta = self.hostapd_cli("all_sta")
            return "no" if mac not in sta.lower() or "[AUTHORIZED]" not in sta else None

        def removed() -> str | None:
            return "gone" if mac not in self.hostapd_cli("all_sta").lower() else None

        poll("hostapd to deauthorize the port", unauthorized, self.logs)
        poll("hostapd to drop the station", removed, self.logs)

    def active_session(self, mac: str, after: int = 0) -> dict[str, Any]:
        """The active accounting session of ``mac`` with an id above ``after``."""

        def found() -> str | None:
            got = self.api.get("/api/v1/sessions", params={"mac": mac})
            assert got.status_code == 200, got.text
            rows = [r for r in got.json() if r["id"] > after]
            return json.dumps(rows[0]) if rows else None

        return dict(json.loads(poll("accounting START in nac", found, self.logs)))

    def audit(self, mac: str) -> list[dict[str, Any]]:
        res = self.server.cli("audit", "tail", "-n", "50", "--json", "--mac", mac)
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def wait_audit(self, what: str, mac: str, match: Any) -> dict[str, Any]:
        def hit() -> str | None:
            rows = [r for r in self.audit(mac) if match(r)]
            return json.dumps(rows[-1]) if rows else None

        return dict(json.loads(poll(what, hit, self.logs)))

    def set_client(self, **change: Any) -> None:
        response = self.api.patch("/api/v1/clients/lab-switch", json=change)
        assert response.status_code == 200, response.text
        time.sleep(1.5)  # the running snapshot reloads the configuration every second

    def reauthenticate_supplicant(self) -> None:
        """hostapd's wired driver drops the station without telling it (no deauth frame on
        a wire), where a switch would restart 802.1X on the port: the supplicant is asked to
        start again (EAPOL-Start), as a link flap would make it."""
        assert "OK" in self.wpa_cli("reauthenticate")


@pytest.fixture
def port(
    tools: dict[str, str], wired_server: NacServer, link: WiredLink, tmp_path: Path
) -> Iterator[Port]:
    api = console(wired_server)
    das = free_udp_port()
    p = Port(wired_server, link, tools, tmp_path, das, api)
    p.set_client(coa_port=das, disconnect_port=das)
    try:
        yield p
    finally:
        api.close()


def test_non_compliant_posture_disconnects_and_reauthentication_is_quarantined(
    port: Port,
) -> None:
    mac = port.start()
    first = port.active_session(mac)
    accept = port.wait_audit(
        "the first accept", mac, lambda r: r["protocol"] == "radius" and r["result"] == "accept"
    )
    assert ["Tunnel-Private-Group-Id", "100"] in accept["reply"], accept
    enrolled = port.server.cli("posture", "enroll", mac).stdout.strip().splitlines()[-1]
    response = httpx.post(
        f"http://127.0.0.1:{port.server.web_port}/api/v1/posture/reports",
        headers={"Authorization": f"Bearer {enrolled}"},
        json={"mac": mac, "facts": {"firewall.enabled": False, "disk.encrypted": False}},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "non_compliant", response.text

    coa = port.wait_audit("the CoA record", mac, lambda r: r["protocol"] == "coa")
    assert (coa["result"], coa["method"]) == ("ack", "reauthenticate"), coa
    assert any(line.startswith("trigger: posture") for line in coa["trace"]), coa
    assert any("as Disconnect-Request to 127.0.0.1" in line for line in coa["trace"]), coa
    assert ["Acct-Session-Id", first["acct_session_id"]] in coa["request"], coa
    assert ["Calling-Station-Id", mac.replace(":", "-").upper()] in coa["request"], coa
    ap_text = port.hostapd_log()
    assert f"RADIUS DAS: Found a matching session {mac} - disconnecting" in ap_text, port.logs()
    port.wait_deauthorized(mac)

    port.reauthenticate_supplicant()
    port.wait_authorized()
    again = port.wait_audit(
        "the quarantined re-authentication",
        mac,
        lambda r: r["protocol"] == "radius" and r["result"] == "accept" and r["id"] > coa["id"],
    )
    assert ["Tunnel-Private-Group-Id", "666"] in again["reply"], again
    assert ["Filter-Id", "quarantine"] in again["reply"], again
    assert again["authorization_rule"] == "employees-quarantine", again


def test_admin_disconnect_is_acked_and_a_vlan_coa_is_naked_with_401(port: Port) -> None:
    mac = port.start()
    first = port.active_session(mac)
    answer = port.api.post(f"/api/v1/sessions/{first['id']}/disconnect")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["request"], body["result"], body["attempts"]) == ("Disconnect-Request", "ack", 1)
    port.wait_deauthorized(mac)
    coa = port.wait_audit("the CoA ack", mac, lambda r: r["protocol"] == "coa")
    assert coa["result"] == "ack" and "asked by admin admin" in coa["trace"], coa

    # The supplicant comes back, decided again (the demo's VLAN 100 for alice).
    port.reauthenticate_supplicant()
    port.wait_authorized()
    second = port.active_session(mac, after=first["id"])
    accept = port.wait_audit(
        "the new decision",
        mac,
        lambda r: r["protocol"] == "radius" and r["result"] == "accept" and r["id"] > coa["id"],
    )
    assert ["Tunnel-Private-Group-Id", "100"] in accept["reply"], accept

    # Told it can take a CoA in place, nac sends the VLAN as a CoA-Request: hostapd's DAS
    # does not change VLANs and NAKs it with Error-Cause 401.
    port.set_client(coa_mode="coa")
    answer = port.api.post(f"/api/v1/sessions/{second['id']}/reauthenticate")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["request"], body["result"], body["action"]) == (
        "CoA-Request",
        "nak",
        "coa-with-attributes",
    ), body
    assert body["error_causes"] == [401] and body["reason"] == "401 Unsupported Attribute"
    nak = port.wait_audit(
        "the CoA NAK", mac, lambda r: r["protocol"] == "coa" and r["result"] == "nak"
    )
    assert nak["reason"] == "401 Unsupported Attribute" and nak["reason_code"] == 401, nak
    assert ["Tunnel-Private-Group-Id", "100"] in nak["request"], nak
    assert ["Error-Cause", "Unsupported-Attribute"] in nak["reply"], nak
    assert "DAS: Unsupported attribute" in port.hostapd_log(), port.logs()
    # The session was not touched by the NAK.
    assert "[AUTHORIZED]" in port.hostapd_cli("all_sta")
