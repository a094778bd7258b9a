"""nac.services.render: a vendor-neutral profile becomes each vendor's reply attributes."""

from __future__ import annotations

import pytest

from nac.services.render import VENDORS, ProfileRenderer
from policy.model import AuthorizationProfile, Outcome
from radius.constants import ARUBA, CISCO
from radius.packet import pull_vsa

from .support import DICTIONARY

Attrs = tuple[tuple[int, bytes], ...]

TUNNEL = [("Tunnel-Type:0", "VLAN"), ("Tunnel-Medium-Type:0", "IEEE-802")]
TIMERS = [
    ("Session-Timeout", "3600"),
    ("Idle-Timeout", "600"),
    ("Termination-Action", "RADIUS-Request"),
]
FULL = AuthorizationProfile(
    name="full",
    decision=Outcome.ACCEPT,
    vlan="100",
    acl="corp-acl",
    vendor_role="staff",
    session_timeout=3600,
    idle_timeout=600,
    reauth=True,
    redirect_url="https://portal.example/login",
    reply_message="welcome",
    custom=(("Framed-MTU", "1400"), ("Reply-Message", "custom text")),
)
CUSTOM_ROWS = [("Framed-MTU", "1400"), ("Reply-Message", "custom text")]


def decoded(attrs: Attrs) -> list[tuple[str, str]]:
    return [row for t, v in attrs for row in DICTIONARY.decode_attribute(t, v)]


def vsas(attrs: Attrs) -> list[tuple[int, int, bytes]]:
    out = []
    for t, v in attrs:
        if t == 26:
            vendor, subs = pull_vsa(v)
            out.extend((vendor, st, sv) for st, sv in subs)
    return out


def render(profile: AuthorizationProfile, vendor: str) -> Attrs:
    return ProfileRenderer(DICTIONARY).render(profile, vendor)


@pytest.mark.parametrize("vendor", ["generic", "cisco", "juniper", "hpe"])
def test_rfc3580_vlan_wire_bytes(vendor: str) -> None:
    profile = AuthorizationProfile(name="v", decision=Outcome.ACCEPT, vlan="100")
    assert render(profile, vendor) == (
        (64, b"\x00\x00\x00\x0d"),  # Tunnel-Type, tag 0, VLAN (13)
        (65, b"\x00\x00\x00\x06"),  # Tunnel-Medium-Type, tag 0, IEEE-802 (6)
        (81, b"100"),  # Tunnel-Private-Group-Id, untagged
    )


def test_generic_full_profile() -> None:
    assert decoded(render(FULL, "generic")) == [
        *TUNNEL,
        ("Tunnel-Private-Group-Id", "100"),
        *TIMERS,
        ("Reply-Message", "welcome"),
        ("Filter-Id", "corp-acl"),  # the ACL name, as no filter_id is set
        *CUSTOM_ROWS,
    ]


@pytest.mark.parametrize("vendor", ["juniper", "hpe", "no-such-vendor"])
def test_juniper_hpe_and_unknown_vendors_render_like_generic(vendor: str) -> None:
    assert render(FULL, vendor) == render(FULL, "generic")


def test_cisco_full_profile() -> None:
    attrs = render(FULL, "cisco")
    assert decoded(attrs) == [
        *TUNNEL,
        ("Tunnel-Private-Group-Id", "100"),
        *TIMERS,
        ("Reply-Message", "welcome"),
        ("Filter-Id", "corp-acl.in"),
        ("Cisco-AVPair", "url-redirect=https://portal.example/login"),
        ("Cisco-AVPair", "url-redirect-acl=corp-acl"),
        ("Cisco-AVPair", "cts:security-group-tag=staff"),
        *CUSTOM_ROWS,
    ]
    assert vsas(attrs) == [
        (CISCO, 1, b"url-redirect=https://portal.example/login"),
        (CISCO, 1, b"url-redirect-acl=corp-acl"),
        (CISCO, 1, b"cts:security-group-tag=staff"),
    ]


def test_cisco_redirect_without_acl_has_no_redirect_acl() -> None:
    profile = AuthorizationProfile(
        name="r", decision=Outcome.ACCEPT, redirect_url="https://portal.example/"
    )
    assert decoded(render(profile, "cisco")) == [
        ("Cisco-AVPair", "url-redirect=https://portal.example/")
    ]


def test_aruba_full_profile() -> None:
    attrs = render(FULL, "aruba")
    assert decoded(attrs) == [
        ("Aruba-User-Vlan", "100"),
        *TIMERS,
        ("Reply-Message", "welcome"),
        ("Aruba-User-Role", "staff"),
        *CUSTOM_ROWS,
    ]
    assert vsas(attrs) == [(ARUBA, 2, b"\x00\x00\x00\x64"), (ARUBA, 1, b"staff")]
    assert not any(t in (64, 65, 81, 11) for t, _ in attrs)  # no RFC 3580 VLAN, no Filter-Id


def test_aruba_named_vlan_and_acl_as_role() -> None:
    profile = AuthorizationProfile(
        name="g", decision=Outcome.ACCEPT, vlan="guests", acl="guest-role"
    )
    attrs = render(profile, "aruba")
    assert decoded(attrs) == [
        ("Aruba-Named-User-Vlan", "guests"),
        ("Aruba-User-Role", "guest-role"),
    ]
    assert vsas(attrs) == [(ARUBA, 9, b"guests"), (ARUBA, 1, b"guest-role")]


@pytest.mark.parametrize("vendor", ["generic", "cisco", "juniper", "hpe"])
def test_named_vlan_rfc3580(vendor: str) -> None:
    profile = AuthorizationProfile(name="g", decision=Outcome.ACCEPT, vlan="guests")
    assert decoded(render(profile, vendor)) == [*TUNNEL, ("Tunnel-Private-Group-Id", "guests")]


FILTER = AuthorizationProfile(
    name="f", decision=Outcome.ACCEPT, filter_id="corp-filter", acl="corp-acl"
)


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("generic", [("Filter-Id", "corp-filter")]),
        ("juniper", [("Filter-Id", "corp-filter")]),
        ("hpe", [("Filter-Id", "corp-filter")]),
        ("cisco", [("Filter-Id", "corp-filter")]),  # the explicit filter wins over the ACL
        ("aruba", [("Filter-Id", "corp-filter"), ("Aruba-User-Role", "corp-acl")]),
    ],
)
def test_filter_id_and_acl(vendor: str, expected: list[tuple[str, str]]) -> None:
    assert decoded(render(FILTER, vendor)) == expected


@pytest.mark.parametrize("vendor", VENDORS)
def test_empty_profile_renders_nothing(vendor: str) -> None:
    assert render(AuthorizationProfile(name="e", decision=Outcome.ACCEPT), vendor) == ()


@pytest.mark.parametrize("vendor", VENDORS)
def test_reauth_off_means_no_termination_action(vendor: str) -> None:
    profile = AuthorizationProfile(name="t", decision=Outcome.ACCEPT, session_timeout=60)
    assert decoded(render(profile, vendor)) == [("Session-Timeout", "60")]


@pytest.mark.parametrize("vendor", VENDORS)
def test_custom_vendor_attribute_passes_through(vendor: str) -> None:
    profile = AuthorizationProfile(
        name="c", decision=Outcome.ACCEPT, custom=(("Aruba-User-Role", "custom-role"),)
    )
    attrs = render(profile, vendor)
    assert vsas(attrs) == [(ARUBA, 1, b"custom-role")]


def test_rendering_is_cached_per_profile_and_vendor() -> None:
    renderer = ProfileRenderer(DICTIONARY)
    first = renderer.render(FULL, "cisco")
    assert renderer.render(FULL, "cisco") is first  # cached per profile object (a snapshot's)
    equal_profile = AuthorizationProfile(**{f: getattr(FULL, f) for f in FULL.__slots__})
    assert renderer.render(equal_profile, "cisco") == first
    aruba = renderer.render(FULL, "aruba")
    assert aruba is not first
    assert aruba != first
    other = AuthorizationProfile(name="full", decision=Outcome.ACCEPT, vlan="200")
    assert decoded(renderer.render(other, "cisco"))[2] == ("Tunnel-Private-Group-Id", "200")
