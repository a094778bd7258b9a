from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.crypto import (
    accounting_request_authenticator,
    chap_verify,
    hide_password,
    hide_tunnel_password,
    message_authenticator,
    response_authenticator,
    salt_decrypt,
    salt_encrypt,
    unhide_password,
    unhide_tunnel_password,
    verify_accounting_request,
    verify_message_authenticator,
)
from radius.errors import DecodeError, LocalProtocolError
from radius.packet import decode_packet, encode_packet

SECRET = b"xyzzy5461"


def test_rfc2865_7_1_password(rfc2865: dict[str, bytes]) -> None:
    req = decode_packet(rfc2865["7.1 access-request"])
    hidden = req.get(2)
    assert hidden is not None
    assert unhide_password(hidden, SECRET, req.authenticator) == b"arctangent"
    assert hide_password(b"arctangent", SECRET, req.authenticator) == hidden


def test_rfc2865_7_3_password(rfc2865: dict[str, bytes]) -> None:
    req = decode_packet(rfc2865["7.3 access-request"])
    hidden = req.get(2)
    assert hidden is not None
    assert unhide_password(hidden, SECRET, req.authenticator) == b"challenge"


@pytest.mark.parametrize(
    ("request_name", "reply_name"),
    [
        ("7.1 access-request", "7.1 access-accept"),
        ("7.2 access-request", "7.2 access-accept"),
        ("7.3 access-request", "7.3 access-challenge"),
    ],
)
def test_rfc2865_response_authenticators(
    rfc2865: dict[str, bytes], request_name: str, reply_name: str
) -> None:
    req = decode_packet(rfc2865[request_name])
    reply = rfc2865[reply_name]
    got = response_authenticator(reply[0], reply[1], req.authenticator, reply[20:], SECRET)
    assert got == reply[4:20]
    assert response_authenticator(reply[0], reply[1], req.authenticator, reply[20:], b"x") != got


@given(
    st.binary(max_size=128), st.binary(min_size=1, max_size=64), st.binary(min_size=16, max_size=16)
)
def test_password_round_trip(password: bytes, secret: bytes, auth: bytes) -> None:
    hidden = hide_password(password, secret, auth)
    assert len(hidden) % 16 == 0 and 16 <= len(hidden) <= 128
    assert unhide_password(hidden, secret, auth) == password.rstrip(b"\x00")


def test_password_limits() -> None:
    with pytest.raises(LocalProtocolError):
        hide_password(bytes(129), SECRET, bytes(16))
    for n in (0, 15, 17, 144):
        with pytest.raises(DecodeError):
            unhide_password(bytes(n), SECRET, bytes(16))


@given(
    st.binary(max_size=200),
    st.binary(min_size=1, max_size=32),
    st.binary(min_size=16, max_size=16),
    st.integers(0x8000, 0xFFFF),
    st.integers(0, 31),
)
def test_tunnel_password_round_trip(
    password: bytes, secret: bytes, auth: bytes, salt: int, tag: int
) -> None:
    s = salt.to_bytes(2, "big")
    value = hide_tunnel_password(password, secret, auth, s, tag)
    assert value[0] == tag and value[1:3] == s
    assert (len(value) - 3) % 16 == 0
    assert unhide_tunnel_password(value, secret, auth) == (tag, password)


def test_salt_encrypt_rfc2868_construction() -> None:
    """b(1) = MD5(S + R + A); c(1) = p(1) xor b(1), with p = length octet + key + padding."""
    secret, auth, salt = b"s", bytes(range(16)), b"\x81\x02"
    key = bytes(range(100, 116))
    value = salt_encrypt(key, secret, auth, salt)
    p = bytes((16,)) + key + bytes(15)
    b1 = hashlib.md5(secret + auth + salt).digest()
    c1 = bytes(x ^ y for x, y in zip(p[:16], b1, strict=True))
    b2 = hashlib.md5(secret + c1).digest()
    c2 = bytes(x ^ y for x, y in zip(p[16:], b2, strict=True))
    assert value == salt + c1 + c2
    assert salt_decrypt(value, secret, auth) == key
    with pytest.raises(LocalProtocolError):
        salt_encrypt(key, secret, auth, b"\x01\x02")
    with pytest.raises(DecodeError):
        salt_decrypt(value[:-1], secret, auth)


def test_chap_verify_rfc1994() -> None:
    challenge = bytes(range(16))
    ident = b"\x16"
    response = hashlib.md5(ident + b"secret" + challenge).digest()
    assert chap_verify(ident + response, challenge, b"secret")
    assert not chap_verify(ident + response, challenge, b"Secret")
    assert not chap_verify(b"\x17" + response, challenge, b"secret")
    assert not chap_verify(ident + response[:15], challenge, b"secret")


def test_chap_rfc2865_7_2_uses_request_authenticator(rfc2865: dict[str, bytes]) -> None:
    req = decode_packet(rfc2865["7.2 access-request"])
    chap = req.get(3)
    assert chap is not None and len(chap) == 17 and chap[0] == 0x16
    # No CHAP-Challenge attribute: the Request Authenticator is the challenge (RFC 2865 2.2).
    # The RFC does not print flopsy's password; it is the 7.1 one, "arctangent".
    assert req.get(60) is None
    assert chap_verify(chap, req.authenticator, b"arctangent")
    assert not chap_verify(chap, req.authenticator, b"arctangenT")


def test_accounting_request_authenticator() -> None:
    attrs = bytes((40, 6, 0, 0, 0, 1, 44, 5)) + b"abc"
    auth = accounting_request_authenticator(4, 9, attrs, SECRET)
    length = 20 + len(attrs)
    expected = hashlib.md5(bytes((4, 9, 0, length)) + bytes(16) + attrs + SECRET).digest()
    assert auth == expected
    raw = bytes((4, 9, 0, length)) + auth + attrs
    assert verify_accounting_request(raw, SECRET)
    assert not verify_accounting_request(raw, b"other")
    assert not verify_accounting_request(raw[:-1] + b"x", SECRET)


def test_message_authenticator_compute_and_verify_by_offset() -> None:
    auth = bytes(range(16))
    attrs = [(1, b"bob"), (80, bytes(16)), (4, b"\x0a\x00\x00\x01")]
    zeroed = encode_packet(1, 3, auth, attrs)
    mac = message_authenticator(zeroed, SECRET)
    assert mac == hmac.new(SECRET, zeroed, "md5").digest()
    data = encode_packet(1, 3, auth, [(1, b"bob"), (80, mac), (4, b"\x0a\x00\x00\x01")])
    offset = 20 + 5
    assert data[offset] == 80
    assert verify_message_authenticator(data, offset, SECRET)
    assert not verify_message_authenticator(data, offset, b"wrong")
    tampered = data[:-1] + b"\x02"
    assert not verify_message_authenticator(tampered, offset, SECRET)
    # Reply form: the Authenticator field is replaced by the request's for the HMAC.
    reply_zeroed = encode_packet(2, 3, auth, [(80, bytes(16))])
    rmac = message_authenticator(reply_zeroed, SECRET)
    reply = encode_packet(2, 3, b"R" * 16, [(80, rmac)])
    assert verify_message_authenticator(reply, 20, SECRET, auth)
    assert not verify_message_authenticator(reply, 20, SECRET)
