"""CHAP and MS-CHAP material in an Authentication START data field (RFC 8907 5.4.2.3-5.4.2.5).

Only the parsing and the plain MD5 CHAP check live here; MS-CHAP verification belongs to the
identity layer (it needs the NT hash).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from tacacs.errors import DecodeError, DecodeFailure

__all__ = [
    "CHAP_RESPONSE_LENGTH",
    "MSCHAPV1_CHALLENGE_LENGTH",
    "MSCHAPV2_CHALLENGE_LENGTH",
    "MSCHAP_RESPONSE_LENGTH",
    "ChapData",
    "MsChapV1Data",
    "MsChapV2Data",
    "chap_ok",
    "chap_response",
    "pull_chap",
    "pull_mschap_v1",
    "pull_mschap_v2",
]

CHAP_RESPONSE_LENGTH = 16
"""RFC 8907 5.4.2.3: the CHAP response is always 16 octets (MD5)."""
MSCHAP_RESPONSE_LENGTH = 49
"""RFC 8907 5.4.2.4/5.4.2.5: the MS-CHAP response is always 49 octets."""
MSCHAPV1_CHALLENGE_LENGTH = 8
"""RFC 8907 5.4.2.4: the server MUST reject a challenge that is not 8 octets (RFC 2433)."""
MSCHAPV2_CHALLENGE_LENGTH = 16
"""RFC 8907 5.4.2.5: the server MUST reject a challenge that is not 16 octets (RFC 2759)."""


@dataclass(frozen=True, slots=True)
class ChapData:
    """CHAP START data: PPP id (1) + challenge (rest) + response (16) (RFC 8907 5.4.2.3)."""

    ppp_id: int
    challenge: bytes
    response: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MsChapV1Data:
    """MS-CHAP v1 START data: id (1) + challenge (8) + response (49) (RFC 8907 5.4.2.4).
    The response is LM-Response (24), NT-Response (24), Flags (1) (RFC 2433 section 5)."""

    ppp_id: int
    challenge: bytes
    response: bytes = field(repr=False)

    @property
    def lm_response(self) -> bytes:
        return self.response[:24]

    @property
    def nt_response(self) -> bytes:
        return self.response[24:48]

    @property
    def flags(self) -> int:
        return self.response[48]


@dataclass(frozen=True, slots=True)
class MsChapV2Data:
    """MS-CHAP v2 START data: id (1) + authenticator challenge (16) + response (49) (RFC 8907
    5.4.2.5). The response is Peer-Challenge (16), Reserved (8), NT-Response (24), Flags (1)
    (RFC 2759 section 4)."""

    ppp_id: int
    challenge: bytes
    response: bytes = field(repr=False)

    @property
    def peer_challenge(self) -> bytes:
        return self.response[:16]

    @property
    def reserved(self) -> bytes:
        return self.response[16:24]

    @property
    def nt_response(self) -> bytes:
        return self.response[24:48]

    @property
    def flags(self) -> int:
        return self.response[48]


def pull_chap(data: bytes, *, min_challenge: int = 1) -> ChapData:
    """Split CHAP START data (RFC 8907 5.4.2.3); the challenge length is what is left after
    the id and the 16-octet response. Raises DecodeError(BAD_FIELD) when the challenge would
    be shorter than ``min_challenge`` (the RFC recommends rejecting below 8)."""
    n = len(data) - 1 - CHAP_RESPONSE_LENGTH
    if n < max(min_challenge, 0):
        raise DecodeError(DecodeFailure.BAD_FIELD, f"CHAP challenge of {max(n, 0)} octets")
    return ChapData(data[0], data[1 : 1 + n], data[1 + n :])


def _pull_mschap(data: bytes, challenge_len: int, what: str) -> tuple[int, bytes, bytes]:
    want = 1 + challenge_len + MSCHAP_RESPONSE_LENGTH
    if len(data) != want:
        raise DecodeError(DecodeFailure.BAD_FIELD, f"{what} data of {len(data)}, not {want}")
    return data[0], data[1 : 1 + challenge_len], data[1 + challenge_len :]


def pull_mschap_v1(data: bytes) -> MsChapV1Data:
    """Split MS-CHAP v1 START data (RFC 8907 5.4.2.4); DecodeError(BAD_FIELD) unless it is
    exactly 1 + 8 + 49 octets."""
    return MsChapV1Data(*_pull_mschap(data, MSCHAPV1_CHALLENGE_LENGTH, "MS-CHAP"))


def pull_mschap_v2(data: bytes) -> MsChapV2Data:
    """Split MS-CHAP v2 START data (RFC 8907 5.4.2.5); DecodeError(BAD_FIELD) unless it is
    exactly 1 + 16 + 49 octets."""
    return MsChapV2Data(*_pull_mschap(data, MSCHAPV2_CHALLENGE_LENGTH, "MS-CHAPv2"))


def chap_response(ppp_id: int, password: bytes, challenge: bytes) -> bytes:
    """MD5(id || secret || challenge) (RFC 1994 section 4.1, the hash RFC 8907 5.4.2.3 uses)."""
    return hashlib.md5(bytes((ppp_id,)) + password + challenge, usedforsecurity=False).digest()


def chap_ok(ppp_id: int, password: bytes, challenge: bytes, response: bytes) -> bool:
    """Whether ``response`` is the CHAP response for ``password``, compared in constant time."""
    return hmac.compare_digest(chap_response(ppp_id, password, challenge), response)
