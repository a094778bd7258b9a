"""Every operator of the condition language, on contexts built for the purpose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from policy_helpers import make_ctx

from policy import EndpointInfo, Identity, NasInfo
from policy.conditions import compile_condition
from policy.model import AccessContext

EMPLOYEE = Identity("alice", "internal_users", frozenset({"employees", "vpn"}), {})


def check(cond: dict[str, Any], ctx: AccessContext, identity: Identity | None = None) -> bool:
    compiled = compile_condition(cond)
    matched, why = compiled.evaluate(ctx, identity)
    if "attr" in cond:
        assert why.startswith(compiled.describe())
    assert compiled.test(ctx, identity) is matched
    verdict = "yes" if matched else "no"
    assert why.endswith(f": {verdict}") or f": {verdict} (" in why
    return matched


def leaf(attr: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"attr": attr, "op": op, **extra}
    if value is not None:
        out["value"] = value
    return out


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (leaf("auth.method", "equals", "pap"), True),
        (leaf("auth.method", "equals", "PAP"), False),
        (leaf("auth.method", "equals", "PAP", case_insensitive=True), True),
        (leaf("auth.method", "not_equals", "pap"), False),
        (leaf("auth.method", "not_equals", "chap"), True),
        (leaf("user.name", "not_equals", "ALICE", case_insensitive=True), False),
        (leaf("ssid", "not_equals", "corp"), True),  # absent counts as not equal
        (leaf("auth.method", "in", ["chap", "pap"]), True),
        (leaf("auth.method", "in", ["chap", "mab"]), False),
        (leaf("nas.name", "in", ["SW1"], case_insensitive=True), True),
        (leaf("nas.name", "contains", "w"), True),
        (leaf("nas.name", "contains", "W"), False),
        (leaf("nas.name", "contains", "W", case_insensitive=True), True),
        (leaf("request.username", "matches", r"al[a-z]+"), True),
        (leaf("request.username", "matches", r"al"), False),  # fullmatch, not search
        (leaf("request.username", "matches", r"AL.*", case_insensitive=True), True),
        (leaf("nas.location", "starts_with", "h"), True),
        (leaf("nas.location", "starts_with", "q"), False),
        (leaf("nas.location", "ends_with", "Q", case_insensitive=True), True),
        (leaf("nas.location", "ends_with", "h"), False),
        (leaf("nas.group", "equals", "switches"), True),
        (leaf("nas.vendor", "equals", "generic"), True),
        (leaf("protocol", "in", ["radius"]), True),
        (leaf("posture.state", "equals", "unknown"), True),
        (leaf("ssid", "exists", True), False),
        (leaf("ssid", "exists", False), True),
        (leaf("user.name", "exists"), True),  # value defaults to true
        (leaf("time", "exists"), True),
        (leaf("endpoint.known", "exists", False), False),
    ],
)
def test_text_operators(cond: dict[str, Any], expected: bool):
    assert check(cond, make_ctx()) is expected


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (leaf("user.groups", "contains", "employees"), True),
        (leaf("user.groups", "contains", "Employees"), False),
        (leaf("user.groups", "contains", "Employees", case_insensitive=True), True),
        (leaf("user.groups", "equals", "vpn"), True),
        (leaf("user.groups", "in", ["contractors", "vpn"]), True),
        (leaf("user.groups", "in", ["contractors"]), False),
        (leaf("user.groups", "in", ["VPN"], case_insensitive=True), True),
        (leaf("user.groups", "starts_with", "emp"), True),
        (leaf("user.groups", "ends_with", "ors"), False),
        (leaf("user.groups", "matches", "v.n"), True),
        (leaf("user.groups", "exists", True), True),
        (leaf("user.source", "equals", "internal_users"), True),
        (leaf("user.name", "equals", "alice"), True),
    ],
)
def test_group_operators_with_identity(cond: dict[str, Any], expected: bool):
    assert check(cond, make_ctx(), EMPLOYEE) is expected


def test_user_attributes_without_identity():
    ctx = make_ctx(username="bob")
    assert check(leaf("user.groups", "exists", True), ctx) is False
    assert check(leaf("user.source", "exists", False), ctx) is True
    assert check(leaf("user.name", "equals", "bob"), ctx) is True  # falls back to the request
    authenticated = Identity("robert", "ad", frozenset(), {})
    assert check(leaf("user.name", "equals", "robert"), ctx, authenticated) is True
    assert check(leaf("request.username", "equals", "bob"), ctx, authenticated) is True


def test_group_words_name_the_groups():
    cond = compile_condition(leaf("user.groups", "contains", "employees"))
    contractor = Identity("carol", "x", frozenset({"contractors", "b-team"}), {})
    assert cond.evaluate(make_ctx(), contractor) == (
        False,
        "user.groups contains 'employees': no (user.groups: b-team, contractors)",
    )
    assert cond.explain(make_ctx()) == "user.groups contains 'employees': no (user.groups: none)"


def test_radius_attributes_match_any_value():
    ctx = make_ctx(attributes={"Cisco-AVPair": ("a=1", "device-type=phone"), "NAS-Port": ("7",)})
    assert check(leaf("radius.Cisco-AVPair", "equals", "device-type=phone"), ctx)
    assert check(leaf("radius.Cisco-AVPair", "contains", "phone"), ctx)
    assert check(leaf("radius.Cisco-AVPair", "starts_with", "device-type="), ctx)
    assert not check(leaf("radius.Cisco-AVPair", "not_equals", "a=1"), ctx)
    assert check(leaf("radius.NAS-Port", "in", ["6", "7"]), ctx)
    assert check(leaf("radius.NAS-Port", "matches", "[0-9]+"), ctx)
    assert check(leaf("radius.Framed-IP-Address", "exists", False), ctx)
    assert not check(leaf("radius.Framed-IP-Address", "equals", "x"), ctx)
    words = compile_condition(leaf("radius.NAS-Port", "equals", "8")).explain(ctx)
    assert words == "radius.NAS-Port equals '8': no (radius.NAS-Port: 7)"


def test_certificate_fields_of_eap_tls():
    cert = {
        "cert.cn": ("alice",),
        "cert.issuer": ("CN=nac EAP CA",),
        "cert.email": ("alice@example.com", "a@example.org"),
        "cert.days_to_expiry": ("12",),
    }
    ctx = make_ctx(auth_method="eap-tls", certificate=cert)
    assert check(leaf("cert.issuer", "equals", "CN=nac EAP CA"), ctx)
    assert check(leaf("cert.email", "ends_with", "@example.org"), ctx)
    assert check(leaf("cert.ou", "exists", False), ctx)
    assert not check(leaf("cert.cn", "in", ["bob", "carol"]), ctx)
    assert check(leaf("cert.days_to_expiry", "matches", "[0-9]|[12][0-9]"), ctx)
    assert not check(leaf("cert.cn", "equals", "alice"), make_ctx())  # no certificate
    words = compile_condition(leaf("cert.cn", "equals", "bob")).explain(ctx)
    assert words == "cert.cn equals 'bob': no (cert.cn: alice)"
    with pytest.raises(ValueError, match="unknown attribute"):
        compile_condition(leaf("cert.favourite_colour", "equals", "x"))


def test_endpoint_attributes():
    mac = "00:11:22:33:44:55"
    ctx = make_ctx(mac=mac, endpoint=EndpointInfo(mac, True, "printer", "lobby"))
    assert check(leaf("endpoint.known", "equals", True), ctx)
    assert not check(leaf("endpoint.known", "not_equals", True), ctx)
    assert check(leaf("endpoint.profile", "equals", "printer"), ctx)
    assert check(leaf("endpoint.group", "equals", "lobby"), ctx)
    assert check(leaf("endpoint.mac", "equals", mac), ctx)
    bare = make_ctx()
    assert check(leaf("endpoint.known", "equals", False), bare)
    assert check(leaf("endpoint.profile", "exists", False), bare)
    assert check(leaf("endpoint.mac", "exists", False), bare)


@pytest.mark.parametrize(
    "spelling",
    ["00:11:22:aa:bb:cc", "00-11-22-AA-BB-CC", "0011.22aa.bbcc", "001122AABBCC", " 001122aabbcc "],
)
def test_mac_in_accepts_every_format_on_both_sides(spelling: str):
    cond = leaf("calling_station_id", "mac_in", [spelling])
    for station in ("00-11-22-AA-BB-CC", "00:11:22:aa:bb:cc", "0011.22AA.BBCC", "001122aabbcc"):
        assert check(cond, make_ctx(calling_station_id=station))
    assert not check(cond, make_ctx(calling_station_id="00-11-22-AA-BB-CD"))
    assert not check(cond, make_ctx(calling_station_id="not a mac"))


@pytest.mark.parametrize("prefix", ["00:11:22", "00-11-22", "001122", "0011.22", "00:11:22:3"])
def test_mac_in_prefixes(prefix: str):
    cond = leaf("endpoint.mac", "mac_in", ["aa:bb:cc:dd:ee:ff", prefix])
    assert check(cond, make_ctx(mac="00:11:22:33:44:55"))
    assert check(cond, make_ctx(mac="aa:bb:cc:dd:ee:ff"))
    assert not check(cond, make_ctx(mac="00:11:32:33:44:55"))
    assert not check(cond, make_ctx())  # no MAC at all


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.1.2.3", True),
        ("10.255.0.1", True),
        ("11.0.0.1", False),
        ("192.168.7.7", True),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.1.2.3", True),  # IPv4-mapped
        ("fe80::1", False),
        ("not-an-ip", False),
    ],
)
def test_ip_in_cidr_v4_and_v6(ip: str, expected: bool):
    cond = leaf("nas.ip", "ip_in_cidr", ["10.0.0.0/8", "192.168.7.7/32", "2001:db8::/32"])
    ctx = make_ctx(nas=NasInfo("sw", ip))
    assert check(cond, ctx) is expected


def window(**value: Any) -> dict[str, Any]:
    return leaf("time", "time_window", value)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> AccessContext:
    return make_ctx(now=datetime(year, month, day, hour, minute, tzinfo=UTC))


def test_time_window_office_hours_in_berlin():
    office = window(days=["mon", "tue", "wed", "thu", "fri"], start="08:00", end="18:00",
                    tz="Europe/Berlin")  # fmt: skip
    # 2025-03-04 is a Tuesday; Berlin is UTC+1 in March before the DST switch
    assert not check(office, at(2025, 3, 4, 6, 59))  # 07:59 local
    assert check(office, at(2025, 3, 4, 7, 0))  # 08:00 local
    assert check(office, at(2025, 3, 4, 16, 59))  # 17:59 local
    assert not check(office, at(2025, 3, 4, 17, 0))  # 18:00 local: end is exclusive
    assert not check(office, at(2025, 3, 8, 10))  # Saturday
    # in July Berlin is UTC+2
    assert check(office, at(2025, 7, 1, 6, 0))  # 08:00 local
    assert not check(office, at(2025, 7, 1, 16, 0))  # 18:00 local


def test_time_window_across_midnight_belongs_to_the_day_it_starts():
    night = window(days=["fri"], start="22:00", end="06:00")
    assert check(night, at(2025, 3, 7, 22, 0))  # Friday 22:00
    assert check(night, at(2025, 3, 8, 3, 0))  # Saturday 03:00, the tail of Friday's window
    assert not check(night, at(2025, 3, 8, 6, 0))  # Saturday 06:00
    assert not check(night, at(2025, 3, 8, 22, 30))  # Saturday night is not listed
    assert not check(night, at(2025, 3, 7, 3, 0))  # Friday 03:00 is Thursday's window


def test_time_window_across_midnight_sunday_to_monday_and_time_zones():
    night = window(days=["sun"], start="23:00", end="01:00", tz="America/New_York")
    # Sunday 2025-03-02 23:30 in New York (UTC-5) is Monday 04:30 UTC
    assert check(night, at(2025, 3, 3, 4, 30))
    assert not check(night, at(2025, 3, 3, 6, 30))  # Monday 01:30 local


def test_time_window_defaults_to_every_day_utc_and_24_00():
    evening = window(start="20:00", end="24:00")
    assert check(evening, at(2025, 3, 9, 23, 59))
    assert not check(evening, at(2025, 3, 9, 0, 0))


def test_time_window_words_show_local_time():
    cond = compile_condition(window(days=["tue"], start="08:00", end="18:00", tz="Asia/Tokyo"))
    assert cond.explain(at(2025, 3, 4, 12)) == (
        "time within tue 08:00-18:00 Asia/Tokyo: no (time: tue 21:00 Asia/Tokyo)"
    )


def test_composites_and_their_words():
    ctx = make_ctx(auth_method="mab", endpoint=EndpointInfo("00:11:22:33:44:55", True, "camera"))
    both = {
        "all": [leaf("auth.method", "equals", "mab"), leaf("endpoint.profile", "equals", "printer")]
    }
    either = {
        "any": [
            leaf("auth.method", "equals", "pap"),
            leaf("endpoint.profile", "equals", "camera"),
            leaf("ssid", "exists"),
        ]
    }
    negated = {"not": leaf("auth.method", "equals", "mab")}
    assert not check(both, ctx)
    assert check(either, ctx)
    assert not check(negated, ctx)
    assert check({"all": [either, {"not": negated}]}, ctx)
    assert compile_condition(both).explain(ctx) == (
        "all of [auth.method equals 'mab': yes (auth.method: mab); "
        "endpoint.profile equals 'printer': no (endpoint.profile: camera)]: no"
    )
    assert compile_condition(negated).describe() == "not [auth.method equals 'mab']"


def test_three_way_all_and_any_short_circuit_correctly():
    t, f = leaf("auth.method", "equals", "pap"), leaf("auth.method", "equals", "mab")
    ctx = make_ctx()
    assert check({"all": [t, t, t]}, ctx) and not check({"all": [t, t, f]}, ctx)
    assert check({"any": [f, f, t]}, ctx) and not check({"any": [f, f, f]}, ctx)
