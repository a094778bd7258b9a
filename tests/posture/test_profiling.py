"""Profiling: signals, weighted rules, accumulation, hysteresis and the spoofing event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posture.dhcp import DhcpMessage, push_relay_agent_info
from posture.profiling import (
    Hysteresis,
    Outcome,
    RuleError,
    accounting_signals,
    best_profile,
    compile_rule,
    compile_rules,
    current_values,
    dhcp_signals,
    evaluate,
    is_locally_administered,
    mac_signals,
    score,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SEED = Path(__file__).resolve().parents[2] / "nac" / "db" / "profile_rules.json"
RULES = compile_rules(json.loads(SEED.read_text())["rules"])
WINDOWS_PARAMS = "1,3,6,15,31,33,43,44,46,47,119,121,249,252"


def _windows() -> dict[str, str]:
    return {"dhcp.params": WINDOWS_PARAMS, "dhcp.vendor_class": "MSFT 5.0", "hostname": "PC-7"}


def _printer() -> dict[str, str]:
    return {
        "dhcp.params": "1,3,6,15,44,47",
        "dhcp.vendor_class": "Hewlett-Packard JetDirect",
        "hostname": "NPI0A1B2C",
    }


def test_dhcp_signals_keep_option_55_order() -> None:
    msg = DhcpMessage(
        options=(
            (53, b"\x03"),
            (55, bytes((1, 121, 3, 6, 15))),
            (60, b"android-dhcp-13"),
            (12, b"Pixel\x07-7"),  # a control character is dropped
            (61, b"\x01\x00\x11"),
            (82, push_relay_agent_info(((1, b"Gi1/0/7"), (2, b"\x00\x06\xaa")))),
        )
    )
    assert dhcp_signals(msg) == {
        "dhcp.message_type": "request",
        "dhcp.params": "1,121,3,6,15",
        "dhcp.vendor_class": "android-dhcp-13",
        "hostname": "Pixel-7",
        "dhcp.client_id": "01:00:11",
        "dhcp.circuit_id": "Gi1/0/7",
        "dhcp.remote_id": "00:06:aa",
    }


def test_cisco_device_sensor_pairs() -> None:
    """The binary TLVs a Cisco device sensor sends (two octets type, two length), and the
    text forms."""
    pairs = [
        b"dhcp-option=\x00\x37\x00\x09\x01\x79\x03\x06\x0f\x6c\x72\x77\xfc",
        b"dhcp-option=\x00\x0c\x00\x04ipad",
        b"cdp-tlv=\x00\x06\x00\x16Cisco IP Phone CP-8845",
        b"lldp-tlv=\x00\x06\x00\x0bAcme SIP v2",
        b"lldp-tlv=\x00\x7f\x00\x19\x00\x00\x5e\x01https://mud.example/x",
        "lldpSystemName=room-101",
        "device-platform=Apple iPad",
        "dc-profile-name=Un-Classified Device",  # says nothing
        "audit-session-id=0A0B",
        b"dhcp-option=\x00\x37\x00\x20\x01",  # length past the end: ignored
    ]
    assert accounting_signals(pairs) == {
        "dhcp.params": "1,121,3,6,15,108,114,119,252",
        "hostname": "ipad",
        "cdp.platform": "Cisco IP Phone CP-8845",
        "lldp.system_description": "Acme SIP v2",
        "lldp.mud_url": "https://mud.example/x",
        "lldp.system_name": "room-101",
        "device.platform": "Apple iPad",
    }


def test_mac_signals_and_the_locally_administered_bit() -> None:
    assert is_locally_administered("02:00:00:00:00:01")
    assert is_locally_administered("da-a1-19-00-00-01")
    assert not is_locally_administered("00:1b:a9:00:00:01")
    assert mac_signals("fe:e6:98:e0:4a:a8", None) == {"mac.randomized": "true"}
    assert mac_signals("00:1b:a9:00:00:01", "Brother industries, LTD.") == {
        "mac.randomized": "false",
        "oui.vendor": "Brother industries, LTD.",
    }


def test_rules_are_checked_and_name_the_field() -> None:
    with pytest.raises(RuleError, match=r"^signal:"):
        compile_rule(name="a", signal="nope", match="equals", pattern="x", profile="p", weight=5)
    with pytest.raises(RuleError, match=r"^match:"):
        compile_rule(name="a", signal="hostname", match="glob", pattern="x", profile="p", weight=5)
    with pytest.raises(RuleError, match=r"^pattern: not a regular"):
        compile_rule(name="a", signal="hostname", match="regex", pattern="(", profile="p", weight=5)
    with pytest.raises(RuleError, match=r"^weight:"):
        compile_rule(
            name="a", signal="hostname", match="prefix", pattern="x", profile="p", weight=0
        )
    with pytest.raises(RuleError, match="rule 'b': weight"):
        compile_rules(
            [{"name": "b", "signal": "hostname", "pattern": "x", "profile": "p", "weight": 101}]
        )


def test_match_kinds() -> None:
    def rule(match: str, pattern: str) -> bool:
        r = compile_rule(
            name="r", signal="hostname", match=match, pattern=pattern, profile="p", weight=10
        )
        return r.matches("BRN001BA9AABBCC")

    assert rule("equals", "brn001ba9aabbcc") and not rule("equals", "BRN")
    assert rule("prefix", "brn") and not rule("prefix", "001")
    assert rule("contains", "1ba9") and not rule("contains", "zz")
    assert rule("regex", "^BR[NW][0-9A-F]{12}$") and not rule("regex", "^BRW")


def test_weights_combine_and_stay_under_100() -> None:
    scores = score(RULES, _windows())
    windows = scores["windows-workstation"]
    # 70 (params) and 60 (vendor class): 100 * (1 - 0.3 * 0.4) = 88
    assert windows.confidence == 88
    assert windows.rules == ("windows-10-11-params", "windows-msft-vendor-class")
    printer = best_profile(score(RULES, {**_printer(), "oui.vendor": "Hewlett Packard"}))
    assert printer is not None and printer.profile == "printer"
    assert printer.confidence == 95  # 1 - 0.15 * 0.4 * 0.8
    assert best_profile(score(RULES, {"hostname": "nothing-known"})) is None


@pytest.mark.parametrize(
    ("signals", "profile"),
    [
        ({"dhcp.params": "1,121,3,6,15,108,114,119,252,95,44,46"}, "macos"),
        ({"dhcp.params": "1,121,3,6,15,108,114,119,252", "hostname": "Johns-iPhone"}, "iphone"),
        ({"dhcp.vendor_class": "android-dhcp-14", "hostname": "android-1f2e"}, "android"),
        ({"dhcp.params": "1,28,2,3,15,6,119,12,44,47,26,121,42"}, "linux"),
        ({"hostname": "BRW001BA9AABBCC", "oui.vendor": "Brother industries, LTD."}, "printer"),
        ({"dhcp.vendor_class": "Cisco Systems, Inc. IP Phone CP-8845"}, "ip-phone"),
        ({"dhcp.params": "1,3,6,15,150,66", "oui.vendor": "Polycom"}, "ip-phone"),
        ({"oui.vendor": "Hangzhou Hikvision Digital Technology Co.,Ltd."}, "camera"),
        ({"oui.vendor": "Axis Communications AB"}, "camera"),
    ],
)
def test_seed_rules(signals: dict[str, str], profile: str) -> None:
    best = best_profile(score(RULES, signals))
    assert best is not None and best.profile == profile


def _step(
    state: dict[str, object],
    new: dict[str, str],
    *,
    minutes: int = 0,
    decide: bool = True,
    params: Hysteresis | None = None,
) -> Outcome:
    out = evaluate(
        stored=state["signals"],  # type: ignore[arg-type]
        new=new,
        now=T0 + timedelta(minutes=minutes),
        rules=RULES,
        profile=state["profile"],  # type: ignore[arg-type]
        confidence=state["confidence"],  # type: ignore[arg-type]
        source=state["source"],  # type: ignore[arg-type]
        channel="dhcp",
        decide=decide,
        params=params or Hysteresis(),
    )
    state.update(
        signals=out.signals, profile=out.profile, confidence=out.confidence, source=out.source
    )
    return out


def _fresh() -> dict[str, object]:
    return {"signals": {}, "profile": None, "confidence": 0, "source": None}


def test_signals_accumulate_and_discover_does_not_decide() -> None:
    state = _fresh()
    out = _step(state, {"dhcp.params": WINDOWS_PARAMS}, decide=False)
    assert out.profile is None and not out.changed and out.events == ()
    out = _step(state, {"dhcp.vendor_class": "MSFT 5.0"}, minutes=1)
    assert out.profile == "windows-workstation" and out.changed
    assert out.confidence == 88  # both packets' signals count
    assert out.events[0][0] == "profile_change"
    assert out.source == "dhcp"
    _step(state, {"dhcp.vendor_class": "MSFT 5.0"}, minutes=2)
    entry = state["signals"]["dhcp.vendor_class"]  # type: ignore[index]
    assert entry["count"] == 2 and entry["first"] == (T0 + timedelta(minutes=1)).isoformat()
    assert entry["last"] == (T0 + timedelta(minutes=2)).isoformat()
    assert current_values(state["signals"])["dhcp.params"] == WINDOWS_PARAMS  # type: ignore[arg-type]


def test_an_oui_only_profile_says_so() -> None:
    state = _fresh()
    out = _step(state, {"oui.vendor": "Axis Communications AB"})
    assert out.profile == "camera" and out.source == "oui"


def test_hysteresis_small_lead_needs_confirmation() -> None:
    """linux (60 on params) then a weak macOS hint of 65: the lead of 5 is under the margin,
    so the profile holds until macOS has led on three decisions in a row."""
    state = _fresh()
    _step(state, {"dhcp.params": "1,28,2,3,15,6,119,12,44,47,26,121,42"})
    assert state["profile"] == "linux"
    legacy_mac = {"dhcp.params": "1,121,3,6,15,119,252,95,44,46"}  # macos 65; linux now 0
    # A full replacement of the signal is a clear lead (65 vs 0): at once.
    out = _step(state, legacy_mac, minutes=1)
    assert out.changed and state["profile"] == "macos"

    # Now a real small lead: windows vendor class only (60) against macos with a hostname.
    state = _fresh()
    _step(state, {"dhcp.vendor_class": "udhcp 1.36"})  # linux 40
    assert state["profile"] == "linux"
    flap = {"hostname": "DESKTOP-AB12CD3"}  # windows 40: no lead
    out = _step(state, flap, minutes=1)
    assert not out.changed and state["profile"] == "linux"
    lead = {"hostname": "iphone"}  # iphone 40 vs linux 40: a tie is no lead
    out = _step(state, lead, minutes=2)
    assert not out.changed
    small = {"dhcp.user_class": "x", "hostname": "ipad-of-kim"}  # ipad 50 vs 40: lead 10
    params = Hysteresis(margin=15, confirm=3)
    for i in range(2):
        out = _step(state, small, minutes=3 + i, params=params)
        assert not out.changed and state["profile"] == "linux"
        assert state["signals"]["profile.candidate"]["count"] == i + 1  # type: ignore[index]
    out = _step(state, small, minutes=5, params=params)
    assert out.changed and state["profile"] == "ipad"
    assert "profile.candidate" not in state["signals"]  # type: ignore[operator]


def test_class_change_on_a_confident_profile_is_possible_spoofing() -> None:
    state = _fresh()
    _step(state, {**_printer(), "oui.vendor": "Hewlett Packard"})
    assert state["profile"] == "printer" and state["confidence"] == 95
    out = _step(state, _windows(), minutes=5)
    assert out.changed and state["profile"] == "windows-workstation"
    kinds = [k for k, _ in out.events]
    assert kinds == ["profile_change", "possible_spoofing"]
    detail = out.events[1][1]
    assert detail["from"] == "printer" and detail["to"] == "windows-workstation"
    assert detail["from_class"] == "printer" and detail["to_class"] == "computer"
    assert detail["old_confidence"] == 95


def test_same_class_change_is_not_spoofing_and_weak_profiles_are_not_either() -> None:
    state = _fresh()
    _step(state, {"dhcp.params": "1,28,2,3,15,6,119,12,44,47,26,121,42"})  # linux 60
    out = _step(state, _windows(), minutes=1)
    assert [k for k, _ in out.events] == ["profile_change"]
    state = _fresh()
    _step(state, {"oui.vendor": "Hewlett Packard", "hostname": "Canon-x"})  # printer 52
    state["confidence"] = 40  # not confident
    out = _step(state, _windows(), minutes=1)
    assert [k for k, _ in out.events] == ["profile_change"]


def test_an_admin_profile_is_kept_and_a_mismatch_reported_once() -> None:
    state = {"signals": {}, "profile": "printer", "confidence": 0, "source": "admin"}
    out = _step(state, _windows())
    assert state["profile"] == "printer" and not out.changed
    assert [k for k, _ in out.events] == ["possible_spoofing"]
    out = _step(state, _windows(), minutes=1)
    assert out.events == ()


def test_nothing_confident_keeps_the_current_profile() -> None:
    state = _fresh()
    _step(state, _windows())
    out = _step(
        state, {"dhcp.params": "1,2,3", "dhcp.vendor_class": "x", "hostname": "y"}, minutes=1
    )
    assert state["profile"] == "windows-workstation" and not out.changed
