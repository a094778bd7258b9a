"""nac.services.radius_service: Access-Requests from the real protocol core, decided and
rendered; audit rows; accounting records. No sockets."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from nac.db.defaults import demo_policy
from nac.db.runtime import RuntimeUser
from nac.services.audit import ITEM_FIELDS, STORED_COLUMNS, AuditRenderer, stored_row
from nac.services.radius_service import RadiusService
from nac.services.snapshot import RuntimeSnapshot, build_snapshot
from policy.model import Outcome, ReasonCode
from radius.constants import AttrType, Code
from radius.crypto import hide_password, salt_decrypt
from radius.mschap import (
    generate_authenticator_response,
    generate_nt_response,
    mppe_keys_v2,
    nt_password_hash,
)
from radius.packet import encode_vsa
from radius.server import RadiusServer, RequestReceived

from .support import (
    AUTH,
    DICTIONARY,
    NAS_ADDR,
    PRINTER_MAC,
    SECRET,
    WALL,
    FakeStore,
    Recorder,
    access_request,
    accounting_request,
    client,
    config,
    u32,
)

CLASS_PREFIX = "nac:node-1:00010203:"
VLAN_100 = [(64, b"\x00\x00\x00\x0d"), (65, b"\x00\x00\x00\x06"), (81, b"100")]
VLAN_300 = [(64, b"\x00\x00\x00\x0d"), (65, b"\x00\x00\x00\x06"), (81, b"300")]

A = AttrType


class Harness:
    def __init__(self, snapshot: RuntimeSnapshot) -> None:
        self.store = FakeStore(snapshot)
        self.audit = Recorder()
        self.accounting = Recorder()
        self.service = RadiusService(
            store=self.store,  # type: ignore[arg-type]
            audit=self.audit,  # type: ignore[arg-type]
            accounting=self.accounting,  # type: ignore[arg-type]
            dictionary=DICTIONARY,
            node="node-1",
            token_bytes=lambda n: bytes(range(n)),
            wall_clock=lambda: WALL,
        )
        self.server = RadiusServer(self.service.lookup_client)
        self.port = 40000

    def event(self, data: bytes) -> RequestReceived:
        self.port += 1  # a fresh source port: never a duplicate
        ev = self.server.receive_datagram(data, (NAS_ADDR[0], self.port), 1.0)
        assert isinstance(ev, RequestReceived), ev
        return ev

    def auth(self, attrs: list[tuple[int, bytes]], **kw: Any) -> tuple[int, list[Any]]:
        reply = self.service.handle_auth(self.event(access_request(attrs, **kw)))
        assert reply is not None
        code, out = reply
        return code, list(out)

    def last_row(self) -> dict[str, Any]:
        """The last audit item the way a reader sees it: stored as the writer stores it
        (``self.stored``), then rendered, the trace replayed against the current policy."""
        item = self.audit.items[-1]
        assert isinstance(item, tuple)
        assert len(item) == len(ITEM_FIELDS)
        self.stored = stored_row(item, sqlite=False)
        columns = dict(zip(STORED_COLUMNS, self.stored, strict=True))
        row = SimpleNamespace(id=1, request=None, reply=None, trace=None, **columns)
        renderer = AuditRenderer(DICTIONARY, lambda version: self.store.current.policy)
        return renderer.render(row)


@pytest.fixture
def h() -> Harness:
    return Harness(build_snapshot(config()))


def pap(user: str, password: str, *extra: tuple[int, bytes]) -> list[tuple[int, bytes]]:
    return [
        (A.UserName, user.encode()),
        (A.UserPassword, hide_password(password.encode(), SECRET, AUTH)),
        (A.NasIpAddress, bytes([10, 0, 0, 1])),
        *extra,
    ]


def test_pap_accept_renders_vlan_and_class(h: Harness) -> None:
    code, attrs = h.auth(pap("alice", "alice-pass"))
    assert code == Code.AccessAccept
    assert attrs == [*VLAN_100, (A.Class, f"{CLASS_PREFIX}1".encode())]
    row = h.last_row()
    assert (row["result"], row["username"], row["method"]) == ("accept", "alice", "pap")
    assert row["reason_code"] == ReasonCode.AUTHENTICATION_SUCCEEDED
    assert (row["nas_name"], row["nas_ip"], row["node"]) == ("lab-switch", "10.0.0.1", "node-1")
    assert row["protocol"] == "radius"
    assert row["ts"] == datetime.fromtimestamp(WALL, UTC).isoformat()
    assert row["session_class"] == f"{CLASS_PREFIX}1"
    assert (row["authorization_rule"], row["profile"]) == ("employees", "employees-vlan100")
    assert ("Tunnel-Private-Group-Id", "100") in row["reply"]
    assert row["trace"][-1].startswith("decision: accept")
    # Every accept gets its own Class cookie.
    _, again = h.auth(pap("alice", "alice-pass"))
    assert again[-1] == (A.Class, f"{CLASS_PREFIX}2".encode())
    assert h.service.results["accept"] == 2


def test_wrong_password_rejects_without_attributes(h: Harness) -> None:
    code, attrs = h.auth(pap("alice", "not-alice-pass"))
    assert (code, attrs) == (Code.AccessReject, [])
    row = h.last_row()
    assert (row["result"], row["reason"], row["username"], row["method"]) == (
        "reject",
        "wrong password",
        "alice",
        "pap",
    )
    assert row["reason_code"] == ReasonCode.WRONG_PASSWORD
    assert row["session_class"] is None
    assert row["reply"] == []


@pytest.mark.parametrize(
    ("user", "password", "reason"),
    [
        ("mallory", "x", ReasonCode.UNKNOWN_USER),
        ("carol", "carol-pass", ReasonCode.USER_DISABLED),
    ],
)
def test_pap_rejects(h: Harness, user: str, password: str, reason: ReasonCode) -> None:
    code, attrs = h.auth(pap(user, password))
    assert (code, attrs) == (Code.AccessReject, [])
    assert h.last_row()["reason_code"] == reason


def test_audit_row_never_holds_the_password(h: Harness) -> None:
    for password in ("alice-pass", "not-alice-pass"):
        h.auth(pap("alice", password))
        row = h.last_row()
        hidden = hide_password(password.encode(), SECRET, AUTH)
        text = repr(row)
        assert password not in text
        assert hidden.hex() not in text
        stored = b"".join(v for v in h.stored if isinstance(v, bytes))
        assert hidden not in stored and password.encode() not in stored
        assert [v for n, v in row["request"] if "Password" in n] == ["<hidden>"]
        assert ("Message-Authenticator", "<hidden>") in row["request"]


def test_hidden_secrets_keep_their_dictionary_names(h: Harness) -> None:
    h.auth(pap("alice", "alice-pass"))
    assert ("User-Password", "<hidden>") in h.last_row()["request"]
    h.auth(chap_attrs(b"alice-pass", None))
    assert ("CHAP-Password", "<hidden>") in h.last_row()["request"]


def chap_attrs(password: bytes, challenge: bytes | None) -> list[tuple[int, bytes]]:
    ident = 42
    digest = hashlib.md5(bytes((ident,)) + password + (challenge or AUTH)).digest()
    attrs = [(A.UserName, b"alice"), (A.ChapPassword, bytes((ident,)) + digest)]
    if challenge is not None:
        attrs.append((A.ChapChallenge, challenge))
    return attrs


@pytest.mark.parametrize("challenge", [None, b"C" * 16], ids=["authenticator", "chap-challenge"])
def test_chap(h: Harness, challenge: bytes | None) -> None:
    code, attrs = h.auth(chap_attrs(b"alice-pass", challenge))
    assert code == Code.AccessAccept
    assert attrs[:3] == VLAN_100
    row = h.last_row()
    assert row["method"] == "chap"
    assert [v for n, v in row["request"] if "Password" in n] == ["<hidden>"]
    assert bytes(chap_attrs(b"alice-pass", challenge)[1][1]).hex() not in repr(row)
    code, attrs = h.auth(chap_attrs(b"wrong", challenge))
    assert (code, attrs) == (Code.AccessReject, [])
    assert h.last_row()["reason_code"] == ReasonCode.WRONG_PASSWORD


MAC_SPELLINGS = [
    "001122aabbcc",
    "00-11-22-aa-bb-cc",
    "00:11:22:aa:bb:cc",
    "0011.22aa.bbcc",
]


@pytest.mark.parametrize("spelling", [*MAC_SPELLINGS, *(s.upper() for s in MAC_SPELLINGS)])
def test_mab_call_check_each_mac_format(h: Harness, spelling: str) -> None:
    code, attrs = h.auth(
        [
            (A.UserName, spelling.encode()),
            (A.ServiceType, u32(10)),  # Call-Check
            (A.CallingStationId, spelling.encode()),
        ]
    )
    assert code == Code.AccessAccept
    assert attrs[:3] == VLAN_300
    row = h.last_row()
    assert (row["method"], row["mac"], row["username"]) == ("mab", PRINTER_MAC, spelling)
    assert row["authorization_rule"] == "known-printers"


def test_mab_call_check_mac_from_user_name_only(h: Harness) -> None:
    code, attrs = h.auth([(A.UserName, b"00-11-22-AA-BB-CC"), (A.ServiceType, u32(10))])
    assert code == Code.AccessAccept
    assert attrs[:3] == VLAN_300
    assert h.last_row()["mac"] == PRINTER_MAC


def test_mab_unknown_mac(h: Harness) -> None:
    code, attrs = h.auth(
        [
            (A.UserName, b"001122334499"),
            (A.ServiceType, u32(10)),
            (A.CallingStationId, b"00-11-22-33-44-99"),
        ]
    )
    assert (code, attrs) == (Code.AccessReject, [])
    row = h.last_row()
    assert (row["method"], row["reason_code"]) == ("mab", ReasonCode.UNKNOWN_MAC)


@pytest.mark.parametrize(
    ("user", "password", "calling"),
    [
        ("001122aabbcc", "001122aabbcc", None),
        ("001122AABBCC", "001122aabbcc", b"00:11:22:AA:BB:CC"),
        ("00-11-22-aa-bb-cc", "0011.22aa.bbcc", b"00-11-22-AA-BB-CC"),
    ],
)
def test_aruba_style_mab(h: Harness, user: str, password: str, calling: bytes | None) -> None:
    extra = [(A.CallingStationId, calling)] if calling else []
    code, attrs = h.auth(pap(user, password, *extra))
    assert code == Code.AccessAccept
    assert attrs[:3] == VLAN_300
    row = h.last_row()
    assert (row["method"], row["mac"]) == ("mab", PRINTER_MAC)
    assert hide_password(password.encode(), SECRET, AUTH).hex() not in repr(row)


@pytest.mark.parametrize(
    ("user", "password", "calling"),
    [
        ("001122aabbcc", "secret-word", None),  # a user named like a MAC, with a password
        ("001122aabbcc", "001122aabbcc", b"00-11-22-33-44-99"),  # station is another MAC
    ],
)
def test_pap_with_mac_user_name_is_not_mab(
    h: Harness, user: str, password: str, calling: bytes | None
) -> None:
    extra = [(A.CallingStationId, calling)] if calling else []
    code, attrs = h.auth(pap(user, password, *extra))
    assert (code, attrs) == (Code.AccessReject, [])
    row = h.last_row()
    assert (row["method"], row["reason_code"]) == ("pap", ReasonCode.UNKNOWN_USER)
    assert hide_password(password.encode(), SECRET, AUTH).hex() not in repr(row)
    if password != user:
        assert password not in repr(row)


def test_eap_is_rejected_with_eap_failure(h: Harness) -> None:
    eap_identity = bytes((2, 0x5A, 0, 10, 1)) + b"alice"  # EAP-Response/Identity, id 0x5A
    code, attrs = h.auth([(A.UserName, b"alice"), (A.EapMessage, eap_identity)])
    assert code == Code.AccessReject
    assert attrs == [(A.EapMessage, bytes((4, 0x5A, 0, 4)))]  # EAP-Failure, same identifier
    row = h.last_row()
    assert (row["method"], row["reason_code"]) == ("eap", ReasonCode.METHOD_NOT_SUPPORTED)


def test_request_without_credentials(h: Harness) -> None:
    code, attrs = h.auth([(A.UserName, b"alice"), (A.NasPort, u32(3))])
    assert (code, attrs) == (Code.AccessReject, [])
    row = h.last_row()
    assert (row["result"], row["method"], row["username"]) == ("reject", "none", "alice")
    assert row["reason_code"] == ReasonCode.MISSING_CREDENTIALS


def ssid_policy(ssid: str) -> dict[str, Any]:
    policy = demo_policy()
    policy["results"]["wifi-vlan500"] = {"decision": "accept", "vlan": "500"}
    policy["policy_sets"][0]["authorization"].insert(
        0,
        {
            "name": "corp-ssid",
            "condition": {"attr": "ssid", "op": "equals", "value": ssid},
            "result": "wifi-vlan500",
        },
    )
    return policy


@pytest.mark.parametrize(
    ("called", "vlan"),
    [
        (b"AA-BB-CC-DD-EE-FF:corp-wifi", b"500"),
        (b"aa:bb:cc:dd:ee:ff:corp-wifi", b"500"),
        (b"AA-BB-CC-DD-EE-FF:guest-wifi", b"100"),
        (b"AA-BB-CC-DD-EE-FF", b"100"),  # wired: no SSID
        (b"corp-wifi", b"100"),  # no MAC in front: not an SSID
    ],
)
def test_ssid_from_called_station_id(called: bytes, vlan: bytes) -> None:
    h = Harness(build_snapshot(config(policy=ssid_policy("corp-wifi"))))
    code, attrs = h.auth(pap("alice", "alice-pass", (A.CalledStationId, called)))
    assert code == Code.AccessAccept
    assert attrs[2] == (A.TunnelPrivateGroupId, vlan)


def test_ssid_may_contain_a_colon() -> None:
    h = Harness(build_snapshot(config(policy=ssid_policy("corp:wifi"))))
    code, attrs = h.auth(
        pap("alice", "alice-pass", (A.CalledStationId, b"AA-BB-CC-DD-EE-FF:corp:wifi"))
    )
    assert code == Code.AccessAccept
    assert attrs[2] == (A.TunnelPrivateGroupId, b"500")


def test_audit_row_redacts_ms_chap(h: Harness) -> None:
    response = bytes(range(50))  # ident, flags, peer challenge, reserved, NT-Response
    h.auth(
        [
            (A.UserName, b"alice"),
            (A.VendorSpecific, encode_vsa(311, 11, b"\x11" * 16)),  # MS-CHAP-Challenge
            (A.VendorSpecific, encode_vsa(311, 25, response)),  # MS-CHAP2-Response
        ]
    )
    text = repr(h.last_row())
    assert response.hex() not in text
    assert ("11" * 16) not in text
    stored = b"".join(v for v in h.stored if isinstance(v, bytes))
    assert response[2:] not in stored and b"\x11" * 16 not in stored


def test_snapshot_swap_reaches_every_cache(h: Harness) -> None:
    code, attrs = h.auth(pap("alice", "alice-pass"))
    assert code == Code.AccessAccept
    assert attrs[:3] == VLAN_100
    assert h.last_row()["nas_name"] == "lab-switch"
    h.store.current = build_snapshot(
        config(
            version=2,
            clients=(client("aruba-ctl", vendor="aruba"),),
            users=(
                RuntimeUser(name="alice", password="alice-pass", enabled=False, groups=()),
                RuntimeUser(name="dave", password="dave-pass", enabled=True, groups=("employees",)),
            ),
        )
    )
    code, attrs = h.auth(pap("alice", "alice-pass"))
    assert (code, attrs) == (Code.AccessReject, [])
    assert h.last_row()["reason_code"] == ReasonCode.USER_DISABLED
    assert h.last_row()["nas_name"] == "aruba-ctl"
    code, attrs = h.auth(pap("dave", "dave-pass"))
    assert code == Code.AccessAccept
    assert DICTIONARY.decode_attribute(*attrs[0]) == [("Aruba-User-Vlan", "100")]


def test_no_snapshot_no_answer(h: Harness) -> None:
    event = h.event(access_request(pap("alice", "alice-pass")))
    h.store.current = None
    assert h.service.handle_auth(event) is None
    assert h.service.lookup_client(NAS_ADDR[0]) is None


def test_clients_seen(h: Harness) -> None:
    h.auth(pap("alice", "alice-pass"))
    assert h.service.take_clients_seen() == {"lab-switch": WALL}
    assert h.service.take_clients_seen() == {}


def test_hit_counters(h: Harness) -> None:
    h.auth(pap("alice", "alice-pass"))
    h.auth(pap("alice", "wrong"))
    assert h.service.results == {"accept": 1, "reject": 1}
    assert h.service.hits["default/authz/employees"] == 1
    assert h.service.hits["default"] == 2


# -- accounting ---------------------------------------------------------------------------


def acct(h: Harness, attrs: list[tuple[int, bytes]], ident: int = 1) -> Any:
    event = h.event(accounting_request(attrs, ident))
    entry = h.store.current.client_for_ip(event.addr[0])  # type: ignore[union-attr]
    assert entry is not None
    return h.service.accounting_record(event, entry)


SESSION = [
    (A.UserName, b"alice"),
    (A.NasIpAddress, bytes([10, 0, 0, 1])),
    (A.NasPort, u32(7)),
    (A.AcctSessionId, b"S-0001"),
    (A.CallingStationId, b"00-11-22-AA-BB-CC"),
]


def test_accounting_start(h: Harness) -> None:
    r = acct(
        h,
        [
            (A.AcctStatusType, u32(1)),
            *SESSION,
            (A.FramedIpAddress, bytes([10, 1, 1, 5])),
            (A.Class, b"nac:node-1:00010203:1"),
        ],
    )
    assert r.status_type == 1
    assert r.event_time == datetime.fromtimestamp(WALL, UTC)
    assert (r.acct_session_id, r.username, r.mac) == ("S-0001", "alice", PRINTER_MAC)
    assert (r.nas_name, r.nas_ip, r.nas_port) == ("lab-switch", "10.0.0.1", 7)
    assert (r.framed_ip, r.class_) == ("10.1.1.5", "nac:node-1:00010203:1")
    assert (r.input_octets, r.output_octets, r.terminate_cause) == (0, 0, None)
    assert len(r.unique_key) == 32


def test_accounting_stop_folds_gigawords(h: Harness) -> None:
    r = acct(
        h,
        [
            (A.AcctStatusType, u32(2)),
            *SESSION,
            (A.AcctInputOctets, u32(5)),
            (A.AcctInputGigawords, u32(2)),
            (A.AcctOutputOctets, u32(0xFFFFFFFF)),
            (A.AcctOutputGigawords, u32(1)),
            (A.AcctInputPackets, u32(11)),
            (A.AcctOutputPackets, u32(12)),
            (A.AcctSessionTime, u32(3600)),
            (A.AcctTerminateCause, u32(1)),
            (A.EventTimestamp, u32(1_700_000_100)),
        ],
    )
    assert r.status_type == 2
    assert r.input_octets == 2 * 2**32 + 5
    assert r.output_octets == 2**32 + 0xFFFFFFFF
    assert (r.input_packets, r.output_packets, r.session_time) == (11, 12, 3600)
    assert r.terminate_cause == "User-Request"
    assert r.event_time == datetime.fromtimestamp(1_700_000_100, UTC)


@pytest.mark.parametrize(
    ("cause", "name"),
    [
        (2, "Lost-Carrier"),
        (4, "Idle-Timeout"),
        (5, "Session-Timeout"),
        (6, "Admin-Reset"),
        (11, "NAS-Reboot"),
        (18, "Host-Request"),
        (99, "99"),
    ],
)
def test_terminate_cause_names(h: Harness, cause: int, name: str) -> None:
    r = acct(h, [(A.AcctStatusType, u32(2)), *SESSION, (A.AcctTerminateCause, u32(cause))])
    assert r.terminate_cause == name


def test_unique_key(h: Harness) -> None:
    start = [(A.AcctStatusType, u32(1)), *SESSION]
    key = acct(h, start, ident=1).unique_key
    # Re-sent (new identifier, so a new authenticator; Acct-Delay-Time added): same session.
    resent = acct(h, [*start, (A.AcctDelayTime, u32(5))], ident=2)
    assert resent.unique_key == key
    stop = acct(h, [(A.AcctStatusType, u32(2)), *SESSION], ident=3)
    assert stop.unique_key == key
    other_session = [(t, b"S-0002" if t == A.AcctSessionId else v) for t, v in start]
    assert acct(h, other_session, ident=4).unique_key != key
    other_port = [(t, u32(8) if t == A.NasPort else v) for t, v in start]
    assert acct(h, other_port, ident=5).unique_key != key


def test_accounting_without_status_type(h: Harness) -> None:
    assert acct(h, SESSION) is None


def test_accounting_nas_ip_falls_back_to_the_source(h: Harness) -> None:
    r = acct(h, [(A.AcctStatusType, u32(7))])  # Accounting-On
    assert (r.status_type, r.nas_ip, r.nas_name) == (7, NAS_ADDR[0], "lab-switch")


def test_accounting_nas_ipv6_address(h: Harness) -> None:
    nas_v6 = bytes.fromhex("20010db8000000000000000000000001")
    r = acct(h, [(A.AcctStatusType, u32(1)), (A.NasIpv6Address, nas_v6), (A.AcctSessionId, b"S")])
    assert r.nas_ip == "2001:db8::1"


async def test_handle_acct_answers_after_the_writer(h: Harness) -> None:
    event = h.event(accounting_request([(A.AcctStatusType, u32(1)), *SESSION]))
    assert await h.service.handle_acct(event) == (Code.AccountingResponse, ())
    assert [r.acct_session_id for r in h.accounting.items] == ["S-0001"]
    event = h.event(accounting_request(SESSION, ident=9))
    assert await h.service.handle_acct(event) is None
    assert len(h.accounting.items) == 1


def test_outcome_values_match_audit_results() -> None:
    assert {o.value for o in Outcome} == {"accept", "reject"}


def mschapv2_attrs(password: str, user: bytes = b"alice") -> list[tuple[int, bytes]]:
    challenge, peer = b"A" * 16, b"P" * 16
    nt = generate_nt_response(challenge, peer, user, password)
    response = bytes((7, 0)) + peer + bytes(8) + nt  # Ident 7, Flags, Peer-Challenge, NT-Resp
    return [
        (A.UserName, user),
        (A.VendorSpecific, encode_vsa(311, 11, challenge)),
        (A.VendorSpecific, encode_vsa(311, 25, response)),
    ]


def ms_values(attrs: list[tuple[int, bytes]]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for t, v in attrs:
        if t == A.VendorSpecific and v[:4] == (311).to_bytes(4, "big"):
            out.setdefault(v[4], []).append(v[6:])
    return out


def test_mschapv2_accept_has_success_and_mppe_keys(h: Harness) -> None:
    attrs = mschapv2_attrs("alice-pass")
    code, reply = h.auth(attrs)
    assert code == Code.AccessAccept
    assert reply[:3] == VLAN_100
    ms = ms_values(reply)
    nt = attrs[2][1][6:][26:50]
    expected = generate_authenticator_response("alice-pass", nt, b"P" * 16, b"A" * 16, b"alice")
    assert ms[26] == [bytes((7,)) + expected.encode()]  # MS-CHAP2-Success, the peer's Ident
    send, recv = mppe_keys_v2(nt_password_hash("alice-pass"), nt)
    assert salt_decrypt(ms[16][0], SECRET, AUTH) == send  # MS-MPPE-Send-Key
    assert salt_decrypt(ms[17][0], SECRET, AUTH) == recv  # MS-MPPE-Recv-Key
    salts = {ms[16][0][:2], ms[17][0][:2]}
    assert len(salts) == 2 and all(s[0] & 0x80 for s in salts)
    row = h.last_row()
    assert row["method"] == "mschapv2"
    assert ("MS-MPPE-Send-Key", "<hidden>") in row["reply"]
    assert ("MS-CHAP2-Response", "<hidden>") in row["request"]


def test_mschapv2_wrong_password_gets_ms_chap_error(h: Harness) -> None:
    code, reply = h.auth(mschapv2_attrs("not-it"))
    assert code == Code.AccessReject
    error = ms_values(reply)[2][0]
    assert error[0] == 7 and b"E=691 R=0" in error and b"V=3" in error
    assert h.last_row()["reason_code"] == ReasonCode.WRONG_PASSWORD


def test_mschap_malformed_response_is_no_credentials(h: Harness) -> None:
    code, _ = h.auth(
        [
            (A.UserName, b"alice"),
            (A.VendorSpecific, encode_vsa(311, 11, b"A" * 16)),
            (A.VendorSpecific, encode_vsa(311, 25, b"short")),
        ]
    )
    assert code == Code.AccessReject
    assert h.last_row()["reason_code"] == ReasonCode.MISSING_CREDENTIALS


def test_abandoned_eap_conversation_is_audited(tmp_path: Any) -> None:
    """A client that stops answering mid-conversation (e.g. it does not trust the server
    certificate) leaves an audit record when the conversation times out."""
    import time as _time

    from nac.core.config import Settings
    from nac.services.eap_service import EapService

    store = FakeStore(build_snapshot(config()))
    eap = EapService(settings=Settings(data_dir=tmp_path), store=store)  # type: ignore[arg-type]
    audit = Recorder()
    service = RadiusService(
        store=store,  # type: ignore[arg-type]
        audit=audit,  # type: ignore[arg-type]
        accounting=Recorder(),  # type: ignore[arg-type]
        dictionary=DICTIONARY,
        node="node-1",
        eap=eap,
    )
    server = RadiusServer(service.lookup_client)
    identity = bytes((2, 1, 0, 10, 1)) + b"alice"  # EAP-Response/Identity
    event = server.receive_datagram(
        access_request([(A.UserName, b"alice"), (A.EapMessage, identity)]), NAS_ADDR, 1.0
    )
    assert isinstance(event, RequestReceived)
    reply = service.handle_auth(event)
    assert reply is not None and reply[0] == Code.AccessChallenge
    assert not audit.items  # rounds are not decisions
    service.expire_eap(_time.monotonic() + 31)
    item = dict(zip(ITEM_FIELDS, audit.items[-1], strict=True))
    assert (item["result"], item["username"], item["method"]) == ("reject", "alice", "peap")
    assert item["reason"].startswith("client abandoned the TLS handshake")
    assert item["reason_code"] == ReasonCode.EAP_FAILED
    stored = stored_row(audit.items[-1], sqlite=True)  # the writer can store it
    assert len(stored) == len(STORED_COLUMNS)
