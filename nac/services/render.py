"""Vendor profiles: an abstract authorization result rendered into RADIUS reply attributes.

The policy engine speaks in VLANs, ACL names and roles; each NAS speaks its own dialect.
A NAS's ``vendor`` picks the dialect (the lesson of PacketFence's switch modules and ISE's
network device profiles). Renderings are pure and cached per (profile, vendor).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from policy.model import AuthorizationProfile
from radius.constants import ARUBA, CISCO, AttrType
from radius.dictionary import RadiusDictionary
from radius.packet import encode_vsa

Attribute = tuple[int, bytes]

# RFC 3580 3.31: Tunnel-Type = VLAN (13), Tunnel-Medium-Type = IEEE-802 (6); tag octet 0.
_TUNNEL_TYPE_VLAN = (int(AttrType.TunnelType), b"\x00\x00\x00\x0d")
_TUNNEL_MEDIUM_802 = (int(AttrType.TunnelMediumType), b"\x00\x00\x00\x06")
_TERMINATION_RADIUS_REQUEST = (int(AttrType.TerminationAction), struct.pack("!I", 1))

ARUBA_USER_ROLE = 1
ARUBA_USER_VLAN = 2
ARUBA_NAMED_USER_VLAN = 9
CISCO_AVPAIR = 1

VENDORS = ("generic", "cisco", "aruba", "juniper", "hpe")


def _u32(attr: AttrType, value: int) -> Attribute:
    return (int(attr), struct.pack("!I", value))


def _text(attr: AttrType, value: str) -> Attribute:
    return (int(attr), value.encode())


def _rfc3580_vlan(vlan: str) -> list[Attribute]:
    return [_TUNNEL_TYPE_VLAN, _TUNNEL_MEDIUM_802, _text(AttrType.TunnelPrivateGroupId, vlan)]


def _common(profile: AuthorizationProfile) -> list[Attribute]:
    """Attributes every vendor understands the RFC 2865 way."""
    out: list[Attribute] = []
    if profile.session_timeout is not None:
        out.append(_u32(AttrType.SessionTimeout, profile.session_timeout))
    if profile.idle_timeout is not None:
        out.append(_u32(AttrType.IdleTimeout, profile.idle_timeout))
    if profile.reauth:
        out.append(_TERMINATION_RADIUS_REQUEST)
    if profile.filter_id is not None:
        out.append(_text(AttrType.FilterId, profile.filter_id))
    if profile.reply_message is not None:
        out.append(_text(AttrType.ReplyMessage, profile.reply_message))
    return out


def _generic(profile: AuthorizationProfile) -> list[Attribute]:
    out = _rfc3580_vlan(profile.vlan) if profile.vlan else []
    out += _common(profile)
    if profile.acl is not None and profile.filter_id is None:
        out.append(_text(AttrType.FilterId, profile.acl))
    return out


def _cisco_pair(text: str) -> Attribute:
    return (int(AttrType.VendorSpecific), encode_vsa(CISCO, CISCO_AVPAIR, text.encode()))


def _cisco(profile: AuthorizationProfile) -> list[Attribute]:
    out = _rfc3580_vlan(profile.vlan) if profile.vlan else []
    out += _common(profile)
    if profile.acl is not None and profile.filter_id is None:
        # IOS applies a locally defined ACL named in Filter-Id with the direction suffix.
        out.append(_text(AttrType.FilterId, f"{profile.acl}.in"))
    if profile.redirect_url is not None:
        out.append(_cisco_pair(f"url-redirect={profile.redirect_url}"))
        if profile.acl is not None:
            out.append(_cisco_pair(f"url-redirect-acl={profile.acl}"))
    if profile.vendor_role is not None:
        out.append(_cisco_pair(f"cts:security-group-tag={profile.vendor_role}"))
    return out


def _aruba(profile: AuthorizationProfile) -> list[Attribute]:
    out: list[Attribute] = []
    if profile.vlan:
        if profile.vlan.isdigit():
            vsa = encode_vsa(ARUBA, ARUBA_USER_VLAN, struct.pack("!I", int(profile.vlan)))
        else:
            vsa = encode_vsa(ARUBA, ARUBA_NAMED_USER_VLAN, profile.vlan.encode())
        out.append((int(AttrType.VendorSpecific), vsa))
    out += _common(profile)
    role = profile.vendor_role or profile.acl
    if role is not None:
        vsa = encode_vsa(ARUBA, ARUBA_USER_ROLE, role.encode())
        out.append((int(AttrType.VendorSpecific), vsa))
    return out


def _juniper_or_hpe(profile: AuthorizationProfile) -> list[Attribute]:
    # Juniper EX and HPE/Aruba-CX switches take RFC 3580 VLANs and a Filter-Id.
    return _generic(profile)


_RENDERERS: dict[str, Callable[[AuthorizationProfile], list[Attribute]]] = {
    "generic": _generic,
    "cisco": _cisco,
    "aruba": _aruba,
    "juniper": _juniper_or_hpe,
    "hpe": _juniper_or_hpe,
}


class ProfileRenderer:
    """Renders profiles for a vendor, caching the result (profiles are immutable)."""

    def __init__(self, dictionary: RadiusDictionary) -> None:
        self._dictionary = dictionary
        self._cache: dict[tuple[int, str], tuple[AuthorizationProfile, tuple[Attribute, ...]]] = {}

    def render(self, profile: AuthorizationProfile, vendor: str) -> tuple[Attribute, ...]:
        # Keyed by the profile object (hashing one hashes all its fields): the entry holds the
        # profile, so its id cannot be reused while the entry lives.
        key = (id(profile), vendor)
        entry = self._cache.get(key)
        if entry is not None and entry[0] is profile:
            return entry[1]
        renderer = _RENDERERS.get(vendor, _generic)
        attrs = renderer(profile)
        for name, value in profile.custom:
            attrs.append(self._dictionary.encode_attribute(name, value))
        result = tuple(attrs)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (profile, result)
        return result
