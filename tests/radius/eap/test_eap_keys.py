"""MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 sections 2.4.2 and 2.4.3)."""

from __future__ import annotations

import pytest
from _eap_support import DeterministicRandom

from radius.crypto import salt_decrypt
from radius.eap.keys import MS_MPPE_RECV_KEY, MS_MPPE_SEND_KEY, mppe_key_attributes
from radius.errors import LocalProtocolError
from radius.packet import pull_vsa

SECRET = b"testing123"
AUTHENTICATOR = bytes(range(16))
MSK = bytes(range(64))


def test_keys_are_the_msk_halves_salt_encrypted() -> None:
    attrs = mppe_key_attributes(MSK, SECRET, AUTHENTICATOR, DeterministicRandom())
    assert [t for t, _ in attrs] == [26, 26]
    found = {}
    salts = []
    for _, value in attrs:
        vendor, subs = pull_vsa(value)
        assert vendor == 311 and len(subs) == 1
        vendor_type, data = subs[0]
        assert len(data) == 2 + 48  # salt + (length octet + 32 key octets + padding)
        salts.append(data[:2])
        assert data[0] & 0x80
        found[vendor_type] = salt_decrypt(data, SECRET, AUTHENTICATOR)
    assert found[MS_MPPE_RECV_KEY] == MSK[:32]
    assert found[MS_MPPE_SEND_KEY] == MSK[32:64]
    assert salts[0] != salts[1]


def test_salts_stay_unique_even_if_the_source_repeats() -> None:
    attrs = mppe_key_attributes(MSK, SECRET, AUTHENTICATOR, lambda n: b"\x12" * n)
    salts = [pull_vsa(v)[1][0][1][:2] for _, v in attrs]
    assert salts[0] != salts[1] and all(s[0] & 0x80 for s in salts)


def test_short_msk_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        mppe_key_attributes(bytes(32), SECRET, AUTHENTICATOR, DeterministicRandom())
