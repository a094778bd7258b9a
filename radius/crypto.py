"""RADIUS cryptography: authenticators, Message-Authenticator, attribute hiding.

RFC 2865 sections 3 and 5.2, RFC 2866 section 3, RFC 2868 section 3.5, RFC 2548 section 2.4,
RFC 3579 section 3.2, RFC 5176 section 3.5, RFC 1994 / RFC 2865 section 2.2 (CHAP).
Every comparison of secret-derived material is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from radius.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "accounting_request_authenticator",
    "chap_verify",
    "hide_password",
    "hide_tunnel_password",
    "message_authenticator",
    "response_authenticator",
    "salt_decrypt",
    "salt_encrypt",
    "unhide_password",
    "unhide_tunnel_password",
    "verify_accounting_request",
    "verify_message_authenticator",
]

_md5 = hashlib.md5
_ZERO16 = bytes(16)
_MAX_PASSWORD = 128


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding (RFC 2865 section 5.2).

    The password is padded with NULs to a multiple of 16 octets (at least 16); at most 128.
    b1 = MD5(S + RA), c(1) = p1 xor b1, b(i) = MD5(S + c(i-1)).
    """
    n = len(password)
    if n > _MAX_PASSWORD:
        raise LocalProtocolError(f"password of {n} octets exceeds 128")
    padded = password + bytes(-n % 16 if n else 16)
    out: list[bytes] = []
    prev = authenticator
    for i in range(0, len(padded), 16):
        c = _xor16(padded[i : i + 16], _md5(secret + prev).digest())
        out.append(c)
        prev = c
    return b"".join(out)


def unhide_password(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Recover a User-Password (RFC 2865 section 5.2); trailing NULs are stripped.

    Raises DecodeError(bad_attribute_value) unless the value is 16..128 octets in multiples
    of 16.
    """
    n = len(hidden)
    if n == 16:  # the common case, one block
        return _xor16(hidden, _md5(secret + authenticator).digest()).rstrip(b"\x00")
    if n < 16 or n > _MAX_PASSWORD or n % 16:
        raise DecodeError(DecodeFailure.bad_attribute_value, 0, f"User-Password of {n} octets")
    out: list[bytes] = []
    prev = authenticator
    for i in range(0, n, 16):
        c = hidden[i : i + 16]
        out.append(_xor16(c, _md5(secret + prev).digest()))
        prev = c
    return b"".join(out).rstrip(b"\x00")


def salt_encrypt(plain: bytes, secret: bytes, request_authenticator: bytes, salt: bytes) -> bytes:
    """Salt encryption (RFC 2868 section 3.5, RFC 2548 sections 2.4.2/2.4.3).

    Returns ``salt + ciphertext`` where the plaintext is one length octet, ``plain``, and NUL
    padding to a multiple of 16. b(1) = MD5(S + R + A), b(i) = MD5(S + c(i-1)); R is the
    Request Authenticator of the request being answered. ``salt`` is two octets with the
    most significant bit set, unique per attribute of a reply (the caller draws it: this module
    takes randomness only as a parameter).
    """
    if len(salt) != 2 or not salt[0] & 0x80:
        raise LocalProtocolError("salt must be 2 octets with the most significant bit set")
    n = len(plain)
    if n > 239:
        raise LocalProtocolError(f"salt-encrypted value of {n} octets exceeds 239")
    p = bytes((n,)) + plain
    p += bytes(-len(p) % 16)
    out = [salt]
    prev = request_authenticator + salt
    for i in range(0, len(p), 16):
        c = _xor16(p[i : i + 16], _md5(secret + prev).digest())
        out.append(c)
        prev = c
    return b"".join(out)


def salt_decrypt(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """Inverse of ``salt_encrypt``: ``value`` is salt + ciphertext (no tag octet).

    Raises DecodeError(bad_attribute_value) for a malformed value.
    """
    n = len(value)
    if n < 18 or (n - 2) % 16:
        raise DecodeError(DecodeFailure.bad_attribute_value, 0, f"salted value of {n} octets")
    salt = value[:2]
    if not salt[0] & 0x80:
        raise DecodeError(DecodeFailure.bad_attribute_value, 0, "salt MSB not set")
    out: list[bytes] = []
    prev = request_authenticator + salt
    for i in range(2, n, 16):
        c = value[i : i + 16]
        out.append(_xor16(c, _md5(secret + prev).digest()))
        prev = c
    p = b"".join(out)
    length = p[0]
    if length > len(p) - 1:
        raise DecodeError(DecodeFailure.bad_attribute_value, 2, f"length octet {length}")
    return p[1 : 1 + length]


def hide_tunnel_password(
    password: bytes, secret: bytes, request_authenticator: bytes, salt: bytes, tag: int = 0
) -> bytes:
    """The whole Tunnel-Password value (RFC 2868 section 3.5): tag octet, salt, ciphertext.

    The tag octet is always present in Tunnel-Password (0 when untagged); pass ``tag`` 1..31
    to group it with other tunnel attributes.
    """
    if not 0 <= tag <= 0x1F:
        raise LocalProtocolError(f"tag {tag} out of range 0..31")
    return bytes((tag,)) + salt_encrypt(password, secret, request_authenticator, salt)


def unhide_tunnel_password(
    value: bytes, secret: bytes, request_authenticator: bytes
) -> tuple[int, bytes]:
    """(tag, password) from a whole Tunnel-Password value (RFC 2868 section 3.5)."""
    if not value:
        raise DecodeError(DecodeFailure.bad_attribute_value, 0, "empty Tunnel-Password")
    return value[0], salt_decrypt(value[1:], secret, request_authenticator)


def response_authenticator(
    code: int, identifier: int, request_authenticator: bytes, attrs: bytes, secret: bytes
) -> bytes:
    """MD5(Code + ID + Length + Request Authenticator + Attributes + Secret)
    (RFC 2865 section 3; RFC 2866 section 3 for Accounting-Response)."""
    length = 20 + len(attrs)
    header = bytes((code, identifier, length >> 8, length & 0xFF))
    return _md5(header + request_authenticator + attrs + secret).digest()


def accounting_request_authenticator(
    code: int, identifier: int, attrs: bytes, secret: bytes
) -> bytes:
    """MD5(Code + ID + Length + 16 zero octets + Attributes + Secret) (RFC 2866 section 3;
    the same for CoA-Request and Disconnect-Request, RFC 5176 section 3.5)."""
    return response_authenticator(code, identifier, _ZERO16, attrs, secret)


def verify_accounting_request(raw: bytes, secret: bytes) -> bool:
    """Check the Request Authenticator of a received Accounting-Request (RFC 2866 section 3)
    or CoA/Disconnect-Request (RFC 5176 section 3.5). ``raw`` is the packet without padding."""
    expected = _md5(raw[:4] + _ZERO16 + raw[20:] + secret).digest()
    return hmac.compare_digest(expected, raw[4:20])


_HMAC_KEYS: dict[bytes, tuple[Any, Any]] = {}


def _hmac_states(secret: bytes) -> tuple[Any, Any]:
    """Fresh copies of the HMAC-MD5 (RFC 2104) inner and outer states keyed with ``secret``;
    the keyed states are cached per secret: half the cost of ``hmac.digest`` on OpenSSL 3,
    which looks the digest up on every call."""
    states = _HMAC_KEYS.get(secret)
    if states is None:
        key = _md5(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\x00")
        states = (_md5(bytes(b ^ 0x36 for b in key)), _md5(bytes(b ^ 0x5C for b in key)))
        if len(_HMAC_KEYS) > 4096:
            _HMAC_KEYS.clear()
        _HMAC_KEYS[secret] = states
    return states[0].copy(), states[1].copy()


def _hmac_md5(secret: bytes, data: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104) of ``data`` with cached keyed states (see ``_hmac_states``)."""
    inner, outer = _hmac_states(secret)
    inner.update(data)
    outer.update(inner.digest())
    return bytes(outer.digest())


def message_authenticator(data: bytes, secret: bytes) -> bytes:
    """HMAC-MD5 over a whole packet whose Message-Authenticator value is 16 zero octets
    (RFC 3579 section 3.2). The Authenticator field must already hold what the RFC says:
    the Request Authenticator for Access-Request/Status-Server and for replies to them,
    16 zero octets for Accounting-Request and CoA/Disconnect-Request (RFC 5176 3.3)."""
    return _hmac_md5(secret, data)


def verify_message_authenticator(
    raw: bytes, offset: int, secret: bytes, authenticator: bytes | None = None
) -> bool:
    """Verify the Message-Authenticator attribute whose type octet is at ``raw[offset]``
    (RFC 3579 section 3.2): its 16 value octets are zeroed, and the Authenticator field is
    replaced by ``authenticator`` when given (the request's for a reply, zeros for
    Accounting-Request), then HMAC-MD5 is compared in constant time."""
    end = offset + 18
    received = raw[offset + 2 : end]
    if len(received) != 16:
        return False
    inner, outer = _hmac_states(secret)
    # Fed in pieces: no copy of the packet with the value zeroed is ever built.
    if authenticator is None:
        inner.update(raw[: offset + 2])
    else:
        inner.update(raw[:4])
        inner.update(authenticator)
        inner.update(raw[20 : offset + 2])
    inner.update(_ZERO16)
    inner.update(raw[end:])
    outer.update(inner.digest())
    return hmac.compare_digest(outer.digest(), received)


def chap_verify(chap_password: bytes, challenge: bytes, password: bytes) -> bool:
    """Check a CHAP-Password value (RFC 2865 sections 2.2, 5.3, 5.40; RFC 1994 section 4.1).

    ``chap_password`` is the attribute value: CHAP Ident (1 octet) + Response (16 octets);
    ``challenge`` is the CHAP-Challenge value, or the Request Authenticator when the request
    has no CHAP-Challenge. Response = MD5(Ident + password + challenge).
    """
    if len(chap_password) != 17:
        return False
    expected = _md5(chap_password[:1] + password + challenge).digest()
    return hmac.compare_digest(expected, chap_password[1:])
