"""MAC address normalization shared by the policy conditions and `nac.services`.

Accepted spellings, any case, surrounding blanks ignored: ``00:11:22:aa:bb:cc``,
``00-11-22-AA-BB-CC``, ``0011.22aa.bbcc`` (Cisco) and ``001122aabbcc`` (bare).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["mac_prefix", "normalize_mac"]

_FULL: Final = re.compile(
    r"[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}"
    r"|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"
    r"|[0-9a-f]{12}"
)
_SEPARATORS: Final = str.maketrans("", "", ":-.")
_HEX: Final = frozenset("0123456789abcdef")
MIN_PREFIX_DIGITS: Final = 6  # an OUI; shorter prefixes match too much to be meant


def normalize_mac(text: str) -> str | None:
    """The MAC in lowercase colon form (``00:11:22:aa:bb:cc``), or None if `text` is not one."""
    if not 12 <= len(text) <= 64:  # most user names are not MACs: say so before any work
        return None
    s = text.strip().lower()
    if _FULL.fullmatch(s) is None:
        return None
    if len(s) == 17 and s[2] == ":":
        return s
    h = s.translate(_SEPARATORS)
    return f"{h[0:2]}:{h[2:4]}:{h[4:6]}:{h[6:8]}:{h[8:10]}:{h[10:12]}"


def mac_prefix(text: str) -> str | None:
    """The lowercase hex digits of a MAC or MAC prefix (at least an OUI), or None.

    ``00:11:22``, ``00-11-22-3``, ``0011.22``, ``001122`` and any full MAC are accepted; groups must
    be whole except the last (``00:11:22:3`` is the 28-bit prefix ``0011223``).
    """
    s = text.strip().lower()
    if "." in s:
        groups, width = s.split("."), 4
    elif ":" in s or "-" in s:
        if ":" in s and "-" in s:
            return None
        groups, width = s.split(":" if ":" in s else "-"), 2
    else:
        groups, width = [s], 12
    if any(len(g) != width for g in groups[:-1]) or not 0 < len(groups[-1]) <= width:
        return None
    digits = "".join(groups)
    if not MIN_PREFIX_DIGITS <= len(digits) <= 12 or not _HEX.issuperset(digits):
        return None
    return digits
