"""Device profiling end to end: a real ``nac serve --demo`` with its DHCP listener on a free
port, DHCP messages built by scapy and unicast to it as a relay would (giaddr set,
ip helper-address), RADIUS accounting with device-sensor attributes, and a policy decided on
the profiled value (radclient MAB)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from radius.constants import AttrType, Code
from radius.crypto import accounting_request_authenticator
from radius.packet import decode_packet, encode_packet, encode_vsa
from tests.interop.conftest import (
    NacServer,
    free_udp_port,
    make_server,
    radclient,
    require_tool,
)

pytestmark = pytest.mark.interop

scapy_dhcp = pytest.importorskip("scapy.layers.dhcp")
BOOTP, DHCP = scapy_dhcp.BOOTP, scapy_dhcp.DHCP

WINDOWS_PARAMS = [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]
WINDOWS_MAC = "3c:97:0e:11:22:33"  # Wistron (a laptop maker)
PRINTER_MAC = "00:1b:a9:44:55:66"  # Brother Industries
SPOOF_MAC = "00:1b:a9:77:88:99"


def windows_options(kind: str) -> list[Any]:
    return [
        ("message-type", kind),
        ("client_id", b"\x01" + bytes.fromhex(WINDOWS_MAC.replace(":", ""))),
        ("hostname", b"DESKTOP-4F2K9QZ"),
        ("vendor_class_id", b"MSFT 5.0"),
        ("param_req_list", WINDOWS_PARAMS),
        "end",
    ]


def printer_options(kind: str) -> list[Any]:
    return [
        ("message-type", kind),
        ("hostname", b"BRN001BA9445566"),
        ("vendor_class_id", b"Hewlett-Packard JetDirect"),
        ("param_req_list", [1, 3, 6, 15, 44, 47]),
        "end",
    ]


def relayed(mac: str, options: list[Any], xid: int) -> bytes:
    """A client message as a relay agent forwards it (RFC 2131 4.1: giaddr, hops 1)."""
    pkt = BOOTP(
        op=1,
        htype=1,
        hlen=6,
        hops=1,
        xid=xid,
        giaddr="10.20.0.1",
        chaddr=bytes.fromhex(mac.replace(":", "")),
    ) / DHCP(options=options)
    return bytes(pkt)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    require_tool("radclient")
    srv = make_server(tmp_path_factory.mktemp("dhcp"))
    srv.dhcp_port = free_udp_port()  # type: ignore[attr-defined]
    srv.start("--demo", "--dhcp-port", str(srv.dhcp_port))  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def send(server: NacServer, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in datagrams:
            s.sendto(data, ("127.0.0.1", server.dhcp_port))  # type: ignore[attr-defined]
            time.sleep(0.01)


def show(server: NacServer, mac: str) -> dict[str, Any] | None:
    res = server.cli("profile", "show", mac, "--json", check=False)
    if res.returncode != 0:
        return None
    return dict(json.loads(res.stdout))


def wait_for(server: NacServer, mac: str, check: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = show(server, mac)
        if info is not None and check(info):
            return info
        time.sleep(0.2)
    raise AssertionError(f"endpoint {mac} never got there: {info}\n{server.log()[-3000:]}")


def test_listener_is_up(server: NacServer) -> None:
    assert f"port {server.dhcp_port} (DHCP profiling)" in server.log()  # type: ignore[attr-defined]


def test_windows_and_printer_fingerprints(server: NacServer) -> None:
    send(
        server,
        relayed(WINDOWS_MAC, windows_options("discover"), 1),
        relayed(WINDOWS_MAC, windows_options("request"), 1),
        relayed(PRINTER_MAC, printer_options("discover"), 2),
        relayed(PRINTER_MAC, printer_options("request"), 2),
    )
    win = wait_for(server, WINDOWS_MAC, lambda i: i["profile"] is not None)
    assert win["profile"] == "windows-workstation"
    assert win["profile_confidence"] == 93  # params 70, vendor class 60, hostname 40
    assert win["profile_source"] == "dhcp"
    assert win["vendor"] == "Wistron InfoComm(Kunshan)Co.,Ltd."
    assert win["hostname"] == "DESKTOP-4F2K9QZ"
    assert win["dhcp_fingerprint"] == ",".join(map(str, WINDOWS_PARAMS))
    assert win["dhcp_vendor_class"] == "MSFT 5.0"
    assert win["randomized"] is False and win["registered"] is False
    assert win["signals"]["dhcp.vendor_class"]["value"] == "MSFT 5.0"
    assert [e["kind"] for e in win["events"]] == ["profile_change"]

    printer = wait_for(server, PRINTER_MAC, lambda i: i["profile"] is not None)
    assert printer["profile"] == "printer"
    assert printer["vendor"] == "Brother industries, LTD."
    # JetDirect 85, BRN hostname 70, Brother OUI 50: 100 * (1 - .15 * .3 * .5) = 98
    assert printer["profile_confidence"] == 98


def test_printer_turning_windows_is_possible_spoofing(server: NacServer) -> None:
    send(
        server,
        relayed(SPOOF_MAC, printer_options("discover"), 3),
        relayed(SPOOF_MAC, printer_options("request"), 3),
    )
    wait_for(server, SPOOF_MAC, lambda i: i["profile"] == "printer")
    # The same MAC now speaks like a Windows PC (a laptop cloning the printer's MAC).
    send(server, relayed(SPOOF_MAC, windows_options("request"), 4))
    info = wait_for(server, SPOOF_MAC, lambda i: i["profile"] == "windows-workstation")
    kinds = [e["kind"] for e in info["events"]]  # newest first
    assert kinds[:2] == ["profile_change", "possible_spoofing"] or kinds[:2] == [
        "possible_spoofing",
        "profile_change",
    ]
    spoof = next(e for e in info["events"] if e["kind"] == "possible_spoofing")["detail"]
    assert spoof["from"] == "printer" and spoof["to"] == "windows-workstation"
    assert spoof["from_class"] == "printer" and spoof["to_class"] == "computer"
    assert "possible MAC spoofing on 00:1b:a9:77:88:99" in server.log()


def test_malformed_packets_are_counted_and_the_listener_goes_on(server: NacServer) -> None:
    good = relayed("00:40:8c:01:02:03", [("message-type", "request"), "end"], 5)
    bad_cookie = good[:236] + b"\x00\x00\x00\x00" + good[240:]
    truncated = good[:236] + good[236:240] + bytes((55, 40, 1, 3))
    send(server, b"\x01\x02", bad_cookie, truncated, good)
    camera = wait_for(server, "00:40:8c:01:02:03", lambda i: i["profile"] is not None)
    assert camera["profile"] == "camera" and camera["profile_source"] == "oui"
    assert camera["vendor"] == "Axis Communications AB"
    metrics = scrape(server)
    assert 'reason="too_short"' in metrics and 'reason="bad_magic_cookie"' in metrics
    assert 'reason="option_truncated"' in metrics
    line = next(
        m for m in metrics.splitlines() if m.startswith("nac_dropped_total") and "bad_magic" in m
    )
    assert line.endswith(" 1.0") and 'protocol="dhcp"' in line


def scrape(server: NacServer) -> str:
    """GET /metrics with an auditor API token made for the demo's console admin."""
    import asyncio
    import urllib.request

    from nac.core.config import load_settings
    from nac.db import crud
    from nac.db.engine import create_engines
    from nac.db.models import ApiTokenCreate

    async def token() -> str:
        db = create_engines(
            load_settings(
                config_file=None, overrides={"data_dir": server.data_dir, "db": server.db}
            )
        )
        try:
            async with db.session() as session:
                _, secret = await crud.create_api_token(
                    session,
                    admin_name="admin",
                    token=ApiTokenCreate(name=f"scrape-{time.monotonic_ns()}", role="auditor"),
                )
                return secret
        finally:
            await db.dispose()

    req = urllib.request.Request(f"http://127.0.0.1:{server.web_port}/metrics")
    req.add_header("Authorization", f"Bearer {asyncio.run(token())}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.read().decode())


def _accounting(port: int, attrs: list[tuple[int, bytes]]) -> int | None:
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    auth = accounting_request_authenticator(int(Code.AccountingRequest), 7, body, b"testing123")
    data = encode_packet(int(Code.AccountingRequest), 7, auth, attrs)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(data, ("127.0.0.1", port))
        reply, _ = s.recvfrom(4096)
    return decode_packet(reply).code


def test_device_sensor_accounting(server: NacServer) -> None:
    """A Cisco switch's device sensor: DHCP options and CDP as binary TLVs in Cisco-AVPairs."""
    mac = "00:aa:bb:00:00:42"
    attrs = [
        (int(AttrType.AcctStatusType), (1).to_bytes(4, "big")),  # Start
        (int(AttrType.AcctSessionId), b"sess-42"),
        (int(AttrType.UserName), b"alice"),
        (int(AttrType.CallingStationId), b"00-AA-BB-00-00-42"),
        (int(AttrType.VendorSpecific), encode_vsa(9, 1, b"audit-session-id=0A0B0C")),
        (
            int(AttrType.VendorSpecific),
            encode_vsa(9, 1, b"cdp-tlv=\x00\x06\x00\x16Cisco IP Phone CP-8845"),
        ),
        (
            int(AttrType.VendorSpecific),
            encode_vsa(9, 1, b"dhcp-option=\x00\x3c\x00\x1cCisco Systems, Inc. IP Phone"),
        ),
    ]
    assert _accounting(server.acct_port, attrs) == int(Code.AccountingResponse)
    info = wait_for(server, mac, lambda i: i["profile"] is not None)
    assert info["profile"] == "ip-phone" and info["profile_source"] == "radius-acct"
    assert info["profile_confidence"] == 99  # CDP platform 90, vendor class 90
    assert info["last_user"] == "alice"
    assert info["signals"]["cdp.platform"]["value"] == "Cisco IP Phone CP-8845"


def test_policy_decides_on_the_profiled_value(server: NacServer, tmp_path: Path) -> None:
    """The demo policy sends MAB printers to VLAN 300 (rule known-printers). An endpoint the
    admin registered without a profile is rejected until DHCP profiles it as a printer."""
    mac = "00:1b:a9:12:34:56"
    server.cli("endpoint", "add", mac)

    def mab() -> Any:
        return radclient(
            server.auth_port,
            "auth",
            "User-Name = 001ba9123456\nUser-Password = 001ba9123456\n"
            "Calling-Station-Id = 00-1B-A9-12-34-56\nService-Type = Call-Check\n"
            "NAS-Port-Type = Ethernet\n",
        )

    deadline = time.monotonic() + 10
    while (reply := mab()).code != "Access-Reject" and time.monotonic() < deadline:
        time.sleep(0.2)  # the endpoint reaches the worker's snapshot within a reload
    assert reply.code == "Access-Reject", reply.raw
    send(
        server,
        relayed(mac, printer_options("discover"), 9),
        relayed(mac, printer_options("request"), 9),
    )
    wait_for(server, mac, lambda i: i["profile"] == "printer")
    deadline = time.monotonic() + 5
    while (reply := mab()).code != "Access-Accept" and time.monotonic() < deadline:
        time.sleep(0.1)  # workers patch their snapshot within 100 ms of the write
    assert reply.code == "Access-Accept", reply.raw
    vlan = reply.values("Tunnel-Private-Group-Id:0") + reply.values("Tunnel-Private-Group-Id")
    assert vlan == ["300"], reply.raw


# --- the same over a wire: a broadcast from a client in a network namespace -------------------

NETNS_SENDER = """
import sys
from scapy.all import Ether, IP, UDP, sendp
from scapy.layers.dhcp import BOOTP, DHCP
iface, port, mac = sys.argv[1], int(sys.argv[2]), sys.argv[3]
raw = bytes.fromhex(mac.replace(":", ""))
for kind in ("discover", "request"):
    frame = (
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=port)
        / BOOTP(op=1, chaddr=raw, xid=0x4242, flags=0x8000)
        / DHCP(options=[("message-type", kind), ("hostname", b"axis-accc8e010203"),
                        ("param_req_list", [1, 3, 6, 12, 15, 28, 42]), "end"])
    )
    sendp(frame, iface=iface, verbose=False)
"""


@pytest.fixture(scope="module")
def netns_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NacServer, str, str, str]]:
    """A server whose DHCP listener is on the wildcard address, and a veth pair whose far
    end is in a new network namespace (one for the module: the tests use their own MACs,
    and the capture test's packets go to port 67, not to this listener)."""
    from tests.interop.test_wired_8021x import run, tool, unavailable

    if os.geteuid() != 0:
        unavailable("the DHCP broadcast test makes a network namespace: run as root")
    ip = tool("ip")
    suffix = secrets.token_hex(3)
    ns, host_if, client_if = f"nacdhcp-{suffix}", f"nacdh-{suffix}", f"nacdc-{suffix}"
    made = run(ip, "netns", "add", ns, check=False)
    if made.returncode != 0:
        unavailable(f"cannot create a network namespace (ip netns add): {made.stderr.strip()}")
    srv = make_server(tmp_path_factory.mktemp("dhcp-netns"))
    srv.dhcp_port = free_udp_port()  # type: ignore[attr-defined]
    try:
        run(ip, "link", "add", host_if, "type", "veth", "peer", "name", client_if)
        run(ip, "link", "set", client_if, "netns", ns)
        run(ip, "addr", "add", "10.99.0.1/24", "dev", host_if)
        run(ip, "link", "set", host_if, "up")
        run(ip, "netns", "exec", ns, ip, "link", "set", client_if, "up")
        srv.start(
            "--demo",
            "--dhcp-port",
            str(srv.dhcp_port),
            "--dhcp-bind",
            "0.0.0.0",  # type: ignore[attr-defined]
        )
        yield srv, ns, client_if, host_if
    finally:
        if srv.proc is not None:
            srv.stop()
        run(ip, "link", "del", host_if, check=False)
        run(ip, "netns", "del", ns, check=False)


def test_broadcast_from_a_namespace_is_profiled(
    netns_server: tuple[NacServer, str, str, str],
) -> None:
    server, ns, client_if, _ = netns_server
    mac = "ac:cc:8e:01:02:03"  # Axis Communications
    res = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-c",
            NETNS_SENDER,
            client_if,
            str(server.dhcp_port),
            mac,
        ],  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    info = wait_for(server, mac, lambda i: i["profile"] is not None)
    assert info["profile"] == "camera"
    assert info["hostname"] == "axis-accc8e010203"
    assert info["vendor"] == "Axis Communications AB"
    assert info["dhcp_fingerprint"] == "1,3,6,12,15,28,42"
    # OUI 70 and the axis- hostname 50: 100 * (1 - .3 * .5) = 85
    assert info["profile_confidence"] == 85 and info["profile_source"] == "dhcp"


def test_capture_on_a_span_port(netns_server: tuple[NacServer, str, str, str]) -> None:
    """`nac capture` (the nac[capture] extra) sniffs the host end of the veth pair as a SPAN
    port would be, and feeds the same profiler."""
    server, ns, client_if, host_if = netns_server
    mac = "44:19:b6:0a:0b:0c"  # Hikvision
    log_path = server.data_dir.parent / "capture.log"
    with log_path.open("w") as log:
        capture = subprocess.Popen(
            [str(Path(sys.executable).with_name("nac")), "capture", "-i", host_if, "--count", "2"],
            env=server.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "capturing DHCP on" not in log_path.read_text():  # the sniffer's socket is open
            assert capture.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        res = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", NETNS_SENDER, client_if, "67", mac],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        capture.wait(timeout=30)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    out = log_path.read_text()
    assert capture.returncode == 0, out
    assert "capture stopped" in out and "'profiled': 2" in out, out
    info = wait_for(server, mac, lambda i: i["profile"] is not None)
    assert info["profile"] == "camera" and info["profile_source"] == "capture"
    assert info["vendor"] == "Hangzhou Hikvision Digital Technology Co.,Ltd."
