"""Events the server connection returns (names in the past tense, STYLE.md convention 5).

Text fields (user, port, rem_addr, messages, argument names and values) are ``str`` decoded
from UTF-8 with ``surrogateescape`` (lossless; never assume printable); binary fields (``data``,
CHAP material) are ``bytes``. Secrets are out of every repr.

Events that need an answer from the service, for the same ``session_id``:

* ``AuthenticationRequested`` and ``AuthenContinueReceived``: ``send_authen_reply``
* ``AuthorRequestReceived``: ``send_author_response``
* ``AcctRequestReceived``: ``send_acct_reply``

All others are informational (log or count them); the connection already queued any answer
they imply in ``data_to_send()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from tacacs.args import AVPair, command_line
from tacacs.chap import ChapData, MsChapV1Data, MsChapV2Data
from tacacs.constants import (
    AcctFlag,
    AuthenAction,
    AuthenMethod,
    AuthenService,
    AuthenStatus,
    AuthenType,
)
from tacacs.errors import DecodeFailure, ProtocolFailure
from tacacs.packet import AcctRequest, AuthenStart, AuthorRequest

__all__ = [
    "AcctRequestReceived",
    "AuthenContinueReceived",
    "AuthenStartReceived",
    "AuthenticationAborted",
    "AuthenticationRefused",
    "AuthenticationRequested",
    "AuthorRequestReceived",
    "BadKey",
    "CloseReason",
    "ConnectionShouldClose",
    "Event",
    "PacketDiscarded",
    "SessionTimedOut",
]


class CloseReason(StrEnum):
    """Why ``ConnectionShouldClose`` was emitted."""

    SESSION_COMPLETE = "session_complete"
    """The only session ended and Single Connection Mode is not in use (RFC 8907 4.3, 4.4)."""
    PROTOCOL_ERROR = "protocol_error"
    """The stream cannot be trusted or framed any more (bad major version, body too long,
    refused UNENCRYPTED flag, obfuscation over TLS)."""
    BAD_KEY = "bad_key"
    """No configured key fits (RFC 8907 section 4.5)."""
    IDLE_TIMEOUT = "idle_timeout"
    """No complete packet for ``idle_timeout`` seconds (RFC 8907 section 4.3 "MUST be
    configured to time out")."""
    SESSION_TIMEOUT = "session_timeout"
    """A session timed out and Single Connection Mode is not in use."""


@dataclass(frozen=True, slots=True)
class AuthenStartReceived:
    """A valid authentication START was accepted (informational: never answer it; the
    connection prompts by itself, or an ``AuthenticationRequested`` follows)."""

    session_id: int
    version: int
    start: AuthenStart


@dataclass(frozen=True, slots=True)
class AuthenticationRequested:
    """All credentials of an authentication are gathered; the service decides and answers
    with ``send_authen_reply`` (PASS, FAIL, ERROR; for ASCII/ENABLE flows also RESTART or a
    further GETDATA/GETUSER/GETPASS prompt).

    ``password`` is set for ASCII (from the CONTINUE), ENABLE and PAP (START data); ``chap``,
    ``mschap`` or ``mschapv2`` for those types (RFC 8907 5.4.2). ``user`` may be "" for an
    ENABLE request that carried no username."""

    session_id: int
    action: AuthenAction
    authen_type: AuthenType
    service: AuthenService
    priv_lvl: int
    user: str
    port: str
    rem_addr: str
    password: str | None = field(default=None, repr=False)
    chap: ChapData | None = None
    mschap: MsChapV1Data | None = None
    mschapv2: MsChapV2Data | None = None
    data: bytes = field(default=b"", repr=False)
    """The raw START data field."""


@dataclass(frozen=True, slots=True)
class AuthenContinueReceived:
    """The client answered a prompt the SERVICE sent (``prompt`` is that status); answer with
    ``send_authen_reply``. ``user`` is the session's username."""

    session_id: int
    prompt: AuthenStatus
    user: str
    user_msg: str = field(repr=False)
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class AuthenticationAborted:
    """The client sent CONTINUE with the ABORT flag (RFC 8907 5.4.3); the session is over and
    nothing is sent. ``message`` is the client's reason (hostile text)."""

    session_id: int
    message: str


@dataclass(frozen=True, slots=True)
class AuthenticationRefused:
    """The connection answered FAIL by itself (an option it does not implement: CHPASS,
    SENDAUTH; missing or malformed credentials; no username after the retries; RFC 8907
    5.4.2 "MUST respond with TAC_PLUS_AUTHEN_STATUS_FAIL"). Informational."""

    session_id: int
    status: AuthenStatus
    server_msg: str
    reason: str


@dataclass(frozen=True, slots=True)
class AuthorRequestReceived:
    """An authorization REQUEST (RFC 8907 6.1); answer with ``send_author_response``."""

    session_id: int
    authen_method: AuthenMethod
    priv_lvl: int
    authen_type: AuthenType
    service: AuthenService
    user: str
    port: str
    rem_addr: str
    args: tuple[AVPair, ...]
    request: AuthorRequest = field(repr=False)

    @property
    def command(self) -> str | None:
        """The normalised command line (``tacacs.args.command_line``), or None."""
        return command_line(self.args)


@dataclass(frozen=True, slots=True)
class AcctRequestReceived:
    """An accounting REQUEST (RFC 8907 7.1) with valid flags (START, STOP, WATCHDOG or
    WATCHDOG|START); answer with ``send_acct_reply``."""

    session_id: int
    flags: AcctFlag
    authen_method: AuthenMethod
    priv_lvl: int
    authen_type: AuthenType
    service: AuthenService
    user: str
    port: str
    rem_addr: str
    args: tuple[AVPair, ...]
    request: AcctRequest = field(repr=False)


@dataclass(frozen=True, slots=True)
class BadKey:
    """No configured key de-obfuscated the body into lengths that add up (RFC 8907 4.5).
    Nothing is answered (it could only be garbage to the client); ``ConnectionShouldClose``
    follows. Log it per device: a mismatched key or a stranger."""

    session_id: int
    keys_tried: int


@dataclass(frozen=True, slots=True)
class PacketDiscarded:
    """A packet was refused for ``reason``; its session (if any) is terminated. ``replied``
    says whether an ERROR (or FAIL, for too many rounds) answer is queued in
    ``data_to_send()``. Count it per reason."""

    reason: DecodeFailure | ProtocolFailure
    session_id: int | None
    detail: str
    replied: bool


@dataclass(frozen=True, slots=True)
class ConnectionShouldClose:
    """Flush ``data_to_send()``, then close the TCP connection."""

    reason: CloseReason


@dataclass(frozen=True, slots=True)
class SessionTimedOut:
    """The client did not answer a prompt within ``session_timeout``; the session is gone."""

    session_id: int


Event: TypeAlias = (
    AuthenStartReceived
    | AuthenticationRequested
    | AuthenContinueReceived
    | AuthenticationAborted
    | AuthenticationRefused
    | AuthorRequestReceived
    | AcctRequestReceived
    | BadKey
    | PacketDiscarded
    | ConnectionShouldClose
    | SessionTimedOut
)
