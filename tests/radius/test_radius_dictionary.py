from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radius.constants import ARUBA, HPE, MICROSOFT, AttrType
from radius.crypto import salt_decrypt, unhide_password, unhide_tunnel_password
from radius.dictionary import HIDDEN, AttrDef, default_dictionary, load_dictionary
from radius.errors import LocalProtocolError
from radius.packet import pull_vsa

D = default_dictionary()


def test_pyrad_parses_shipped_files() -> None:
    d = load_dictionary()
    assert d.attributes["Tunnel-Password"].has_tag
    assert d.attributes["Tunnel-Password"].encrypt == 2
    assert not d.skipped_attributes


def test_lookups_match_constants() -> None:
    for member in AttrType:
        d = D.by_code(member.value)
        assert d is not None, member
    assert D.attribute("Message-Authenticator") == AttrDef(
        80, 0, "octets", "Message-Authenticator", False, 0
    )
    assert D.attribute("MS-MPPE-Send-Key").vendor == MICROSOFT
    assert D.name_of(1, ARUBA) == "Aruba-User-Role"
    assert D.name_of(64, HPE) == "HP-Egress-VLANID"
    assert D.name_of(11, MICROSOFT) == "MS-CHAP-Challenge"
    assert D.value_names("Tunnel-Type")["VLAN"] == 13


def test_vlan_assignment_rfc3580() -> None:
    assert D.encode_attribute("Tunnel-Type", "VLAN", 1) == (64, b"\x01\x00\x00\x0d")
    assert D.encode_attribute("Tunnel-Medium-Type", "IEEE-802", 1) == (65, b"\x01\x00\x00\x06")
    assert D.encode_attribute("Tunnel-Private-Group-Id", "100", 1) == (81, b"\x01100")
    assert D.decode_attribute(64, b"\x01\x00\x00\x0d") == [("Tunnel-Type:1", "VLAN")]


def test_vsa_encoding() -> None:
    t, v = D.encode_attribute("Aruba-User-Role", "guest")
    assert t == 26 and pull_vsa(v) == (ARUBA, [(1, b"guest")])
    assert D.decode_attribute(t, v) == [("Aruba-User-Role", "guest")]
    assert D.decode_attribute(26, b"\x00\x00\x00\x63\x07\x03x") == [("Vendor-99-Attr-7", "0x78")]
    assert D.decode_attribute(26, b"\x00\x00\x00\x63\x07") == [("Vendor-Specific", "0x0000006307")]
    assert D.decode_attribute(240, b"\x01") == [("Attr-240", "0x01")]
    assert D.decode_attribute(4, b"\x01") == [("NAS-IP-Address", "0x01")]


def test_hidden_attributes() -> None:
    auth, secret = bytes(range(16)), b"s3"
    t, v = D.encode_attribute("User-Password", "pw", secret=secret, authenticator=auth)
    assert t == 2 and unhide_password(v, secret, auth) == b"pw"
    assert D.decode_attribute(t, v) == [("User-Password", HIDDEN)]
    t, v = D.encode_attribute(
        "Tunnel-Password", "tp", 2, secret=secret, authenticator=auth, salt=b"\x80\x07"
    )
    assert unhide_tunnel_password(v, secret, auth) == (2, b"tp")
    assert D.decode_attribute(t, v) == [("Tunnel-Password:2", HIDDEN)]
    t, v = D.encode_attribute(
        "MS-MPPE-Recv-Key", bytes(32), secret=secret, authenticator=auth, salt=b"\x80\x08"
    )
    _vendor, subs = pull_vsa(v)
    assert salt_decrypt(subs[0][1], secret, auth) == bytes(32)
    assert D.decode_attribute(t, v) == [("MS-MPPE-Recv-Key", HIDDEN)]
    assert D.decode_attribute(3, bytes(17)) == [("CHAP-Password", HIDDEN)]
    assert D.decode_attribute(80, bytes(16)) == [("Message-Authenticator", HIDDEN)]
    with pytest.raises(LocalProtocolError):
        D.encode_attribute("User-Password", "pw")
    with pytest.raises(LocalProtocolError):
        D.encode_attribute("User-Name", "x", 1)
    with pytest.raises(LocalProtocolError):
        D.encode_attribute("NAS-Port", "not-a-number")


def sample_values(d: AttrDef) -> st.SearchStrategy[object]:
    if d.type == "integer":
        top = (1 << 24) - 1 if d.has_tag else (1 << 32) - 1
        named = list(D.value_names(d.name))
        ints = st.integers(0, top)
        return st.one_of(ints, st.sampled_from(named)) if named else ints
    if d.type == "date":
        return st.integers(0, (1 << 32) - 1)
    if d.type == "ipaddr":
        return st.ip_addresses(v=4).map(str)
    if d.type == "ipv6addr":
        return st.ip_addresses(v=6).map(str)
    if d.type == "ipv6prefix":
        return st.ip_addresses(v=6).flatmap(lambda a: st.integers(0, 128).map(lambda n: f"{a}/{n}"))
    if d.type == "ifid":
        return st.binary(min_size=8, max_size=8).map(
            lambda b: ":".join(b[i : i + 2].hex() for i in range(0, 8, 2))
        )
    if d.type == "octets":
        return st.binary(max_size=240)
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


ALL = sorted(D, key=lambda d: (d.vendor, d.code))


@pytest.mark.parametrize("attr", ALL, ids=[d.name for d in ALL])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_attribute_round_trips(attr: AttrDef, data: st.DataObject) -> None:
    value = data.draw(sample_values(attr))
    tag = data.draw(st.integers(1, 31)) if attr.has_tag else None
    kw = {"secret": b"k", "authenticator": bytes(16), "salt": b"\x80\x01"}
    wire = D.encode_attribute(attr.name, value, tag, **kw)  # type: ignore[arg-type]
    rows = D.decode_attribute(*wire)
    assert len(rows) == 1
    name, display = rows[0]
    assert name == (f"{attr.name}:{tag}" if tag is not None else attr.name)
    if attr.encrypt or attr.name in ("CHAP-Password", "Message-Authenticator"):
        assert display == HIDDEN
        return
    again = D.encode_attribute(attr.name, display, tag, **kw)  # type: ignore[arg-type]
    assert again == wire
