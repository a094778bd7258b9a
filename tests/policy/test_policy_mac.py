"""normalize_mac and mac_prefix: the four spellings, and what is not a MAC."""

from __future__ import annotations

import pytest

from policy.mac import mac_prefix, normalize_mac


@pytest.mark.parametrize(
    "text",
    [
        "00:1a:2b:3c:4d:5e",
        "00:1A:2B:3C:4D:5E",
        "00-1a-2b-3c-4d-5e",
        "00-1A-2B-3C-4D-5E",
        "001a.2b3c.4d5e",
        "001A.2B3C.4D5E",
        "001a2b3c4d5e",
        "001A2B3C4D5E",
        "  00:1a:2b:3c:4d:5e\n",
    ],
)
def test_every_spelling_normalizes_to_lowercase_colons(text: str):
    assert normalize_mac(text) == "00:1a:2b:3c:4d:5e"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00:1a:2b:3c:4d",
        "00:1a:2b:3c:4d:5e:6f",
        "00:1a-2b:3c:4d:5e",  # mixed separators
        "001a:2b3c:4d5e",
        "00.1a.2b.3c.4d.5e",
        "001a2b3c4d5",
        "001a2b3c4d5g",
        "0:1a:2b:3c:4d:5e",
        "\uff10\uff101a2b3c4d5e",  # full-width digits
    ],
)
def test_non_macs_are_none(text: str):
    assert normalize_mac(text) is None


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("00:11:22", "001122"),
        ("00-11-22", "001122"),
        ("0011.22", "001122"),
        ("001122", "001122"),
        ("00:11:22:3", "0011223"),
        ("00:11:22:33:44:55", "001122334455"),
        ("0011.2233.4455", "001122334455"),
    ],
)
def test_prefixes(text: str, digits: str):
    assert mac_prefix(text) == digits


@pytest.mark.parametrize("text", ["00:11", "0011", "00:11:22:", "00:1:22", "00:11-22", "zz:11:22"])
def test_bad_prefixes(text: str):
    assert mac_prefix(text) is None
