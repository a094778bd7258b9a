"""One error family for the TACACS+ core (RFC 8907).

``DecodeError`` and ``ProtocolError`` are the peer's fault (bytes that do not parse, a packet
that breaks a protocol rule); each carries a named reason, counted under that name.
``LocalProtocolError`` is ours: a reply the caller asked for that the RFC forbids, or a call
in the wrong session state (h11's split between remote and local protocol errors).

Messages never contain keys, passwords or packet bodies.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DecodeError",
    "DecodeFailure",
    "LocalProtocolError",
    "ProtocolError",
    "ProtocolFailure",
    "TacacsError",
]


class DecodeFailure(StrEnum):
    """Every reason received bytes cannot be decoded."""

    BAD_VERSION = "bad_version"
    """Header major_version is not 0xc (RFC 8907 section 4.1); the stream cannot be framed."""
    BAD_TYPE = "bad_type"
    """Header type is not AUTHEN, AUTHOR or ACCT (RFC 8907 section 4.1, 3.6)."""
    BODY_TOO_LONG = "body_too_long"
    """Header length above the configured cap (RFC 8907 section 4.1: "Implementations MUST
    allow control over maximum packet sizes")."""
    TRUNCATED = "truncated"
    """Fewer octets than a header, or a body shorter than its fixed-size part."""
    LENGTH_MISMATCH = "length_mismatch"
    """The (de-obfuscated) field lengths do not add up exactly to the body length (RFC 8907
    section 4.5): how a wrong key shows."""
    BAD_FIELD = "bad_field"
    """A field whose content does not parse: an argument without '=' or '*' or with an empty
    name (section 8.1), CHAP/MS-CHAP data of the wrong size (section 5.4.2)."""


class ProtocolFailure(StrEnum):
    """Every reason a well-formed packet breaks a rule of the protocol."""

    BAD_KEY = "bad_key"
    """No configured key de-obfuscates the body into lengths that add up (section 4.5)."""
    UNENCRYPTED_REFUSED = "unencrypted_refused"
    """TAC_PLUS_UNENCRYPTED_FLAG set where it is not allowed (RFC 8907 section 4.5)."""
    OBFUSCATED_OVER_TLS = "obfuscated_over_tls"
    """TAC_PLUS_UNENCRYPTED_FLAG clear on a TLS connection (RFC 9887 section 4)."""
    BAD_SEQUENCE = "bad_sequence"
    """seq_no even, not 1 for a new session, not last server seq + 1, or a client packet
    while the server has the turn (RFC 8907 section 4.1)."""
    SEQUENCE_EXHAUSTED = "sequence_exhausted"
    """seq_no reached 2^8-1: the session must terminate (RFC 8907 section 4.1)."""
    TOO_MANY_ROUNDS = "too_many_rounds"
    """More client packets in one authentication session than the configured cap."""
    TOO_MANY_SESSIONS = "too_many_sessions"
    """More concurrent sessions on the connection than the configured cap."""
    NOT_MULTIPLEXED = "not_multiplexed"
    """A second session while Single Connection Mode is not established (section 4.3)."""
    BAD_MINOR_VERSION = "bad_minor_version"
    """minor_version unknown, or not the one section 5.4.1 prescribes for the flow, or a
    CONTINUE whose version differs from its START's."""
    BAD_VALUE = "bad_value"
    """An enumerated field with a value the RFC does not list (section 3.6), or accounting
    flags the section 7.1 table calls INVALID, or priv_lvl above 15 (section 9)."""


class TacacsError(Exception):
    """Base of every error raised by the ``tacacs`` package."""


class DecodeError(TacacsError):
    """Received bytes cannot be decoded; ``reason`` names why (the public decoders raise
    nothing else)."""

    __slots__ = ("detail", "reason")

    def __init__(self, reason: DecodeFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class ProtocolError(TacacsError):
    """The peer broke a protocol rule (the remote side's fault)."""

    __slots__ = ("detail", "reason")

    def __init__(self, reason: ProtocolFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class LocalProtocolError(TacacsError):
    """We were asked to build something the RFC forbids, or to act in the wrong state (a bug
    in the caller, never the peer's doing)."""
