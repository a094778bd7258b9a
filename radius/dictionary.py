"""Attribute definitions from the shipped dictionary files (FreeRADIUS/pyrad syntax).

Not on the hot path: the server works on raw ``(type, bytes)`` pairs. This module turns names
and human values into wire pairs for replies (``encode_attribute``), and wire pairs into
``(name, display)`` rows for audit logs (``decode_attribute``), hiding secrets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pyrad import tools as _pyrad_tools
from pyrad.dictionary import Dictionary

from radius.crypto import hide_password, hide_tunnel_password, salt_encrypt
from radius.errors import DecodeError, LocalProtocolError
from radius.packet import encode_vsa, pull_vsa

__all__ = [
    "HIDDEN",
    "AttrDef",
    "RadiusDictionary",
    "default_dictionary",
    "dictionary_path",
    "load_dictionary",
]

HIDDEN = "<hidden>"
_VENDOR_SPECIFIC = 26
# Shown masked whatever the dictionary says (RFC 2865 5.2/5.3, RFC 2868 3.5, RFC 2548, 3579).
_ALWAYS_HIDDEN = frozenset(("CHAP-Password", "Message-Authenticator"))


@dataclass(frozen=True, slots=True)
class AttrDef:
    """One attribute definition. ``vendor`` is 0 for a standard attribute; ``encrypt`` is
    1 (User-Password style, RFC 2865 5.2), 2 (salt, RFC 2868 3.5) or 0."""

    code: int
    vendor: int
    type: str
    name: str
    has_tag: bool
    encrypt: int


def dictionary_path() -> Path:
    """Path of the shipped top-level ``dictionary`` file."""
    return Path(__file__).resolve().parent / "dictionaries" / "dictionary"


@lru_cache(maxsize=8)
def load_dictionary(path: str | None = None) -> Dictionary:
    """Parse (once) the shipped dictionary, or another top-level file, with pyrad."""
    return Dictionary(str(path) if path is not None else str(dictionary_path()))


@lru_cache(maxsize=8)
def default_dictionary() -> RadiusDictionary:
    """The ``RadiusDictionary`` over the shipped files (cached)."""
    return RadiusDictionary(load_dictionary())


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RadiusDictionary:
    """Name/code lookups, value names and value encoding over a pyrad ``Dictionary``."""

    def __init__(self, pyrad_dictionary: Dictionary) -> None:
        self.pyrad = pyrad_dictionary
        vendors: dict[str, int] = dict(pyrad_dictionary.vendors.forward)
        self._by_name: dict[str, AttrDef] = {}
        self._by_code: dict[tuple[int, int], AttrDef] = {}
        self._values: dict[str, dict[str, int]] = {}
        self._value_names: dict[str, dict[int, str]] = {}
        for name, a in pyrad_dictionary.attributes.items():
            if a.is_sub_attribute or a.type == "tlv":
                continue
            d = AttrDef(
                code=int(a.code),
                vendor=vendors.get(a.vendor, 0) if a.vendor else 0,
                type=str(a.type),
                name=str(name),
                has_tag=bool(a.has_tag),
                encrypt=int(a.encrypt),
            )
            self._by_name[d.name] = d
            self._by_code[(d.vendor, d.code)] = d
            if a.values and len(a.values):
                fwd = {str(k): int.from_bytes(v, "big") for k, v in a.values.forward.items()}
                self._values[d.name] = fwd
                self._value_names[d.name] = {v: k for k, v in fwd.items()}

    # -- lookups -------------------------------------------------------------------------

    def attribute(self, name: str) -> AttrDef:
        """The definition named ``name``; KeyError if unknown."""
        return self._by_name[name]

    def by_code(self, code: int, vendor: int = 0) -> AttrDef | None:
        """The definition of (vendor, code), vendor 0 for standard attributes."""
        return self._by_code.get((vendor, code))

    def name_of(self, code: int, vendor: int = 0) -> str | None:
        d = self._by_code.get((vendor, code))
        return d.name if d is not None else None

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def value_names(self, name: str) -> dict[str, int]:
        """Named values of an integer attribute (e.g. Tunnel-Type: {"VLAN": 13, ...})."""
        return dict(self._values.get(name, {}))

    # -- encoding ------------------------------------------------------------------------

    def encode_attribute(
        self,
        name: str,
        value: str | int | bytes,
        tag: int | None = None,
        *,
        secret: bytes | None = None,
        authenticator: bytes | None = None,
        salt: bytes | None = None,
    ) -> tuple[int, bytes]:
        """The on-wire ``(type, value)`` of attribute ``name`` (VSAs wrapped in type 26).

        ``value`` is an int, a value name ("VLAN"), a decimal string, a str (UTF-8), bytes or
        "0x.." hex for octets, an address string, an int or "YYYY-MM-DDTHH:MM:SSZ" for dates.
        ``tag`` (1..31, RFC 2868 3.x) is for tagged attributes. Hidden attributes need
        ``secret`` and ``authenticator`` (the Request Authenticator being answered) and, for
        salt encryption, a two-octet ``salt`` with the top bit set (RFC 2868 3.5).
        Raises KeyError for an unknown name, LocalProtocolError for an unencodable value.
        """
        d = self._by_name[name]
        if tag is not None and (not d.has_tag or not 0 <= tag <= 0x1F):
            raise LocalProtocolError(f"{name}: tag {tag} not allowed")
        try:
            data = self._encode_value(d, value, tag)
        except (ValueError, TypeError, OverflowError) as e:
            raise LocalProtocolError(f"{name}: cannot encode {value!r}: {e}") from e
        if d.encrypt:
            if secret is None or authenticator is None:
                raise LocalProtocolError(f"{name} is hidden: secret and authenticator needed")
            if d.encrypt == 1:
                data = hide_password(data, secret, authenticator)
            else:
                if salt is None:
                    raise LocalProtocolError(f"{name} is salt-encrypted: salt needed")
                if d.has_tag:
                    data = hide_tunnel_password(data, secret, authenticator, salt, tag or 0)
                else:
                    data = salt_encrypt(data, secret, authenticator, salt)
        if d.vendor:
            return _VENDOR_SPECIFIC, encode_vsa(d.vendor, d.code, data)
        if len(data) > 253:
            raise LocalProtocolError(f"{name}: value of {len(data)} octets exceeds 253")
        return d.code, data

    def _encode_value(self, d: AttrDef, value: str | int | bytes, tag: int | None) -> bytes:
        t = d.type
        if t == "integer":
            n = self._to_int(d, value)
            if d.has_tag:  # RFC 2868 3.1: tag octet + 24-bit value
                return bytes((tag or 0,)) + n.to_bytes(3, "big")
            return n.to_bytes(4, "big")
        if t in ("string", "octets"):
            if isinstance(value, bytes):
                raw = value
            elif isinstance(value, int):
                raise TypeError("int given for a string attribute")
            elif t == "octets" and value[:2] in ("0x", "0X"):
                raw = bytes.fromhex(value[2:])
            else:
                raw = value.encode("utf-8")
            if d.has_tag and not d.encrypt and (tag is not None or (raw and raw[0] <= 0x1F)):
                return bytes((tag or 0,)) + raw  # RFC 2868 3.x: optional tag octet
            return raw
        if t == "ipaddr":
            return ipaddress.IPv4Address(_text(value)).packed
        if t == "ipv6addr":
            return ipaddress.IPv6Address(_text(value)).packed
        if t == "date":
            if isinstance(value, int):
                return value.to_bytes(4, "big")
            s = _text(value)
            if s.isdigit():
                return int(s).to_bytes(4, "big")
            ts = datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return int(ts.timestamp()).to_bytes(4, "big")
        encoded: bytes = _pyrad_tools.EncodeAttr(t, value)
        return encoded

    def _to_int(self, d: AttrDef, value: str | int | bytes) -> int:
        if isinstance(value, int):
            return value
        s = _text(value)
        named = self._values.get(d.name, {}).get(s)
        if named is not None:
            return named
        return int(s, 0)

    # -- display -------------------------------------------------------------------------

    def decode_attribute(self, attr_type: int, value: bytes) -> list[tuple[str, str]]:
        """``(name, display value)`` rows for an audit log; never raises.

        Vendor-Specific is expanded into its sub-attributes; tagged attributes are named
        ``Name:tag``; secrets (User-Password, CHAP-Password, Tunnel-Password, MS-MPPE keys,
        Message-Authenticator, anything ``encrypt=``) are shown as "<hidden>"; unknown
        attributes as ``Attr-N`` / ``Vendor-V-Attr-N`` with a hex value.
        """
        if attr_type == _VENDOR_SPECIFIC:
            try:
                vendor, subs = pull_vsa(value)
            except DecodeError:
                return [("Vendor-Specific", "0x" + value.hex())]
            rows: list[tuple[str, str]] = []
            for st, sv in subs:
                d = self._by_code.get((vendor, st))
                if d is None:
                    rows.append((f"Vendor-{vendor}-Attr-{st}", "0x" + sv.hex()))
                else:
                    rows.append(self._display(d, sv))
            return rows
        d = self._by_code.get((0, attr_type))
        if d is None:
            return [(f"Attr-{attr_type}", "0x" + value.hex())]
        return [self._display(d, value)]

    def _display(self, d: AttrDef, value: bytes) -> tuple[str, str]:
        if d.encrypt or d.name in _ALWAYS_HIDDEN:
            if d.has_tag and value and value[0] <= 0x1F:
                return f"{d.name}:{value[0]}", HIDDEN
            return d.name, HIDDEN
        name = d.name
        t = d.type
        try:
            if t == "integer":
                if d.has_tag:
                    if len(value) != 4:
                        raise ValueError
                    name = f"{name}:{value[0]}"
                    n = int.from_bytes(value[1:], "big")
                else:
                    if len(value) != 4:
                        raise ValueError
                    n = int.from_bytes(value, "big")
                return name, self._value_names.get(d.name, {}).get(n, str(n))
            if t in ("string", "octets"):
                if d.has_tag and value and value[0] <= 0x1F:
                    name = f"{name}:{value[0]}"
                    value = value[1:]
                if t == "string":
                    try:
                        text = value.decode("utf-8")
                    except UnicodeDecodeError:
                        return name, "0x" + value.hex()
                    if text.isprintable():
                        return name, text
                return name, "0x" + value.hex()
            if t == "ipaddr":
                return name, str(ipaddress.IPv4Address(value))
            if t == "ipv6addr":
                return name, str(ipaddress.IPv6Address(value))
            if t == "date":
                if len(value) != 4:
                    raise ValueError
                return name, _utc(int.from_bytes(value, "big"))
            return name, str(_pyrad_tools.DecodeAttr(t, value))
        except Exception:  # display must never fail: show the raw value
            return name, "0x" + value.hex()


def _text(value: str | int | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
