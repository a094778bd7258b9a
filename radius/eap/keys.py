"""MS-MPPE-Send-Key and MS-MPPE-Recv-Key for an Access-Accept (RFC 2548 sections 2.4.2 and
2.4.3; the split of the MSK is RFC 5216 section 2.3 / RFC 3748's AAA-Key use, as hostapd's
and FreeRADIUS's RADIUS servers send it).

MS-MPPE-Recv-Key = MSK[0:32], MS-MPPE-Send-Key = MSK[32:64], each salt-encrypted under the
shared secret and the Access-Request's Request Authenticator with its own salt (most
significant bit set, unique within the packet).
"""

from __future__ import annotations

from radius.constants import VENDOR_MICROSOFT, AttrType
from radius.crypto import salt_encrypt
from radius.eap.method import TokenBytes
from radius.errors import LocalProtocolError
from radius.packet import encode_vsa

__all__ = ["MS_MPPE_RECV_KEY", "MS_MPPE_SEND_KEY", "mppe_key_attributes", "mppe_keys"]

MS_MPPE_SEND_KEY = 16
"""RFC 2548 section 2.4.2 (vendor 311)."""
MS_MPPE_RECV_KEY = 17
"""RFC 2548 section 2.4.3 (vendor 311)."""


def _salt(token_bytes: TokenBytes) -> bytes:
    raw = token_bytes(2)
    if len(raw) != 2:
        raise LocalProtocolError("token_bytes returned the wrong length")
    return bytes((raw[0] | 0x80, raw[1]))


def mppe_key_attributes(
    msk: bytes, secret: bytes, request_authenticator: bytes, token_bytes: TokenBytes
) -> list[tuple[int, bytes]]:
    """The two Vendor-Specific attributes ``(26, value)`` carrying the MPPE keys of ``msk``
    (at least 64 octets), Send-Key first as hostapd orders them."""
    if len(msk) < 64:
        raise LocalProtocolError(f"an MSK of {len(msk)} octets; 64 needed")
    return mppe_keys(msk[32:64], msk[0:32], secret, request_authenticator, token_bytes)


def mppe_keys(
    send_key: bytes,
    recv_key: bytes,
    secret: bytes,
    request_authenticator: bytes,
    token_bytes: TokenBytes,
) -> list[tuple[int, bytes]]:
    """MS-MPPE-Send-Key and MS-MPPE-Recv-Key ``(26, value)`` for keys of any length (EAP's
    32 octets from the MSK, MS-CHAPv2's 16 from RFC 3079), each with its own salt."""
    if len(request_authenticator) != 16:
        raise LocalProtocolError("the Request Authenticator is 16 octets")
    send_salt = _salt(token_bytes)
    recv_salt = _salt(token_bytes)
    if recv_salt == send_salt:  # RFC 2548: unique per attribute of the packet
        recv_salt = bytes((recv_salt[0], recv_salt[1] ^ 1))
    send = salt_encrypt(send_key, secret, request_authenticator, send_salt)
    recv = salt_encrypt(recv_key, secret, request_authenticator, recv_salt)
    vsa = int(AttrType.VendorSpecific)
    return [
        (vsa, encode_vsa(VENDOR_MICROSOFT, MS_MPPE_SEND_KEY, send)),
        (vsa, encode_vsa(VENDOR_MICROSOFT, MS_MPPE_RECV_KEY, recv)),
    ]
