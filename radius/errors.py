"""One error family for the RADIUS core.

``DecodeError`` is the peer's fault (a packet we drop, with a named reason); ``LocalProtocolError``
is ours (a reply or attribute we were asked to build that the RFCs forbid).
"""

from __future__ import annotations

from enum import StrEnum


class DecodeFailure(StrEnum):
    """Every reason a received datagram is silently discarded (counted under this name)."""

    too_short = "too_short"
    """Fewer than 20 octets, or a Length field below 20 (RFC 2865 section 3)."""
    too_long = "too_long"
    """A Length field above 4096 (RFC 2865 section 3)."""
    length_mismatch = "length_mismatch"
    """Fewer octets received than the Length field says (RFC 2865 section 3)."""
    attribute_too_short = "attribute_too_short"
    """An attribute Length below 2, or a lone type octet (RFC 2865 section 5)."""
    attribute_overflow = "attribute_overflow"
    """An attribute running past the packet Length (RFC 2865 section 5)."""
    bad_vsa = "bad_vsa"
    """A Vendor-Specific value that is not vendor id + type/length sub-attributes (5.26)."""
    unknown_code = "unknown_code"
    """A code this server does not accept (RFC 2865 section 3: silently discarded)."""
    unknown_client = "unknown_client"
    """Source address is not a configured client (RFC 2865 section 3)."""
    bad_authenticator = "bad_authenticator"
    """Accounting-Request Request Authenticator does not verify (RFC 2866 section 3)."""
    bad_message_authenticator = "bad_message_authenticator"
    """Message-Authenticator present and wrong (RFC 3579 section 3.2)."""
    missing_message_authenticator = "missing_message_authenticator"
    """Required Message-Authenticator absent (RFC 5997 section 3; BlastRADIUS rules)."""
    message_authenticator_length = "message_authenticator_length"
    """Message-Authenticator whose Length is not 18 (RFC 3579 section 3.2)."""
    multiple_message_authenticator = "multiple_message_authenticator"
    """More than one Message-Authenticator (RFC 3579 section 3.3 table: 0-1)."""
    eap_without_message_authenticator = "eap_without_message_authenticator"
    """EAP-Message without Message-Authenticator (RFC 3579 section 3.2)."""
    proxy_state_without_message_authenticator = "proxy_state_without_message_authenticator"
    """Proxy-State without Message-Authenticator under limit_proxy_state (CVE-2024-3596)."""
    bad_attribute_value = "bad_attribute_value"
    """An attribute value that cannot be decoded (e.g. a salt-encrypted value, RFC 2868 3.5)."""
    missing_user_credentials = "missing_user_credentials"
    """Access-Request without User-Password, CHAP-Password, EAP-Message or State (RFC 2865
    section 4.1 "MUST"); only enforced when the server is configured to (Call-Check exempt)."""
    bad_eap = "bad_eap"
    """An EAP packet with a malformed header: fewer than 4 octets, a Length below 4 (5 for a
    Request or Response), above the octets received, or an unknown Code (RFC 3748 section 4);
    or EAP-Message attributes that are not consecutive (RFC 3579 section 3.1)."""
    bad_eap_type_data = "bad_eap_type_data"
    """Type-Data that does not parse for its Type: an empty Nak, an MD5-Challenge Value-Size
    past the end, an Expanded Type shorter than 7 octets (RFC 3748 sections 5.3, 5.4, 5.7), an
    EAP-MSCHAPv2 packet too short for its OpCode (draft-kamath-pppext-eap-mschapv2)."""
    bad_eap_tls = "bad_eap_tls"
    """EAP-TLS/PEAP/TTLS framing that breaks RFC 5216 section 3.1: no Flags octet, an L flag
    without the 4-octet TLS Message Length, a fragment past that length, a reassembled message
    whose size is not the announced length, data where an acknowledgement was due."""
    eap_too_large = "eap_too_large"
    """A fragmented TLS message announced or reassembled beyond the configured cap (64 KiB by
    default), the memory bound against peers that never stop sending fragments."""
    unexpected_response = "unexpected_response"
    """A Disconnect/CoA ACK or NAK that answers no request in flight from that socket and NAS
    (identifier, source address), or whose code does not answer the request's (RFC 5176 2.3)."""
    bad_eap_tunnel = "bad_eap_tunnel"
    """Malformed data inside the TLS tunnel: a Diameter AVP (RFC 5281 section 10.1), a PEAP TLV
    ([MS-PEAP] 2.2.8) or a tunneled EAP packet whose lengths do not add up."""


class RadiusError(Exception):
    """Base of every error raised by the ``radius`` package."""


class DecodeError(RadiusError):
    """A received packet cannot be accepted; the caller discards it silently."""

    __slots__ = ("detail", "offset", "reason")

    def __init__(self, reason: DecodeFailure, offset: int = 0, detail: str = "") -> None:
        super().__init__(f"{reason.value} at offset {offset}: {detail}" if detail else reason.value)
        self.reason = reason
        self.offset = offset
        self.detail = detail


class LocalProtocolError(RadiusError):
    """We were asked to build something the RFCs forbid (oversized reply, value too long)."""
