"""Sans-I/O server side of one TACACS+ TCP (or TLS) connection (RFC 8907, RFC 9887).

``ServerConnection.receive_data(data, now)`` takes whatever the transport read (any
fragmentation, several packets at once) and returns events; automatic answers (prompts,
ERROR and FAIL replies) are queued and drained with ``data_to_send()``; the service answers
the events that need it with ``send_authen_reply`` / ``send_author_response`` /
``send_acct_reply``, which return the bytes to write. ``get_timer()`` / ``handle_timer(now)``
drive the idle and per-session timeouts. No sockets, no clock, no randomness.

Adapter loop::

    for event in conn.receive_data(chunk, now):
        ...                                # match on the event types (tacacs.events)
    writer.write(conn.data_to_send())
    if conn.should_close: close after flushing

Session state is keyed on session_id WITHIN this connection only; the adapter keys
connections (by peer), never session_id globally.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tacacs.args import AVPair, pull_args, push_args, text, wire
from tacacs.chap import pull_chap, pull_mschap_v1, pull_mschap_v2
from tacacs.constants import (
    ACCT_FLAG_MASK,
    HEADER_LENGTH,
    MAX_BODY_LENGTH,
    MAX_SEQ_NO,
    PRIV_LVL_MAX,
    VALID_ACCT_FLAGS,
    AcctFlag,
    AcctStatus,
    AuthenAction,
    AuthenMethod,
    AuthenService,
    AuthenStatus,
    AuthenType,
    AuthorStatus,
    ContinueFlag,
    HeaderFlag,
    MinorVersion,
    PacketType,
    ReplyFlag,
)
from tacacs.errors import (
    DecodeError,
    DecodeFailure,
    LocalProtocolError,
    ProtocolFailure,
)
from tacacs.events import (
    AcctRequestReceived,
    AuthenContinueReceived,
    AuthenStartReceived,
    AuthenticationAborted,
    AuthenticationRefused,
    AuthenticationRequested,
    AuthorRequestReceived,
    BadKey,
    CloseReason,
    ConnectionShouldClose,
    Event,
    PacketDiscarded,
    SessionTimedOut,
)
from tacacs.packet import (
    AcctReply,
    AcctRequest,
    AuthenContinue,
    AuthenReply,
    AuthenStart,
    AuthorRequest,
    AuthorResponse,
    Body,
    ClientBody,
    Header,
    encode_packet,
    obfuscate,
    pull_body,
    pull_header,
    push_header,
)
from tacacs.state import CLIENT_TURN, SessionState, Transition, transition

__all__ = ["PROMPT_GETPASS", "PROMPT_GETUSER", "ServerConnection"]

PROMPT_GETUSER = "Username: "
"""Default server_msg of the GETUSER prompt (RFC 8907 5.4: the server SHOULD provide one)."""
PROMPT_GETPASS = "Password: "
"""Default server_msg of the GETPASS prompt (sent with TAC_PLUS_REPLY_FLAG_NOECHO)."""

_S = SessionState
_T = Transition
_TYPES = frozenset(int(t) for t in PacketType)
_ACTIONS = frozenset(int(a) for a in AuthenAction)
_SERVICES = frozenset(int(s) for s in AuthenService)
_METHODS = frozenset(int(m) for m in AuthenMethod)
_AUTHEN_TYPES = frozenset(int(t) for t in AuthenType)
_START_TYPES = frozenset(
    (AuthenType.ASCII, AuthenType.PAP, AuthenType.CHAP, AuthenType.MSCHAP, AuthenType.MSCHAPV2)
)
"""RFC 8907 section 5.1 lists these for START (not NOT_SET, not ARAP)."""
_V0 = MinorVersion.DEFAULT
_V1 = MinorVersion.ONE
_START_MINOR: dict[tuple[int, int], MinorVersion] = {
    (AuthenAction.LOGIN, AuthenType.ASCII): _V0,
    (AuthenAction.CHPASS, AuthenType.ASCII): _V0,
    (AuthenAction.LOGIN, AuthenType.PAP): _V1,
    (AuthenAction.SENDAUTH, AuthenType.PAP): _V1,
    (AuthenAction.LOGIN, AuthenType.CHAP): _V1,
    (AuthenAction.SENDAUTH, AuthenType.CHAP): _V1,
    (AuthenAction.LOGIN, AuthenType.MSCHAP): _V1,
    (AuthenAction.SENDAUTH, AuthenType.MSCHAP): _V1,
    (AuthenAction.LOGIN, AuthenType.MSCHAPV2): _V1,
    (AuthenAction.SENDAUTH, AuthenType.MSCHAPV2): _V1,
}
"""RFC 8907 section 5.4.1 Table 1; a pair that is absent is '-' (not valid)."""
_PROMPTS = frozenset((AuthenStatus.GETDATA, AuthenStatus.GETUSER, AuthenStatus.GETPASS))
_SINGLE_ROUND_FINAL = frozenset((AuthenStatus.PASS, AuthenStatus.FAIL, AuthenStatus.ERROR))
"""RFC 8907 5.4.2.2-5.4.2.5: the REPLY to PAP/CHAP/MS-CHAP is PASS, FAIL or ERROR."""
_ASCII_FINAL = _SINGLE_ROUND_FINAL | {AuthenStatus.RESTART}
_AUTHOR_STATUSES = frozenset(
    (AuthorStatus.PASS_ADD, AuthorStatus.PASS_REPL, AuthorStatus.FAIL, AuthorStatus.ERROR)
)
_ACCT_STATUSES = frozenset((AcctStatus.SUCCESS, AcctStatus.ERROR))
_ERROR_BODIES: dict[int, Body] = {
    PacketType.AUTHEN: AuthenReply(AuthenStatus.ERROR),
    PacketType.AUTHOR: AuthorResponse(AuthorStatus.ERROR),
    PacketType.ACCT: AcctReply(AcctStatus.ERROR),
}
_ENDED_MEMORY = 256


# Code points by value: a dict lookup, where calling the IntEnum costs about 0.5 us (the
# values were checked against these tables when the packet was accepted).
_AUTHENTYPE = {int(m): m for m in AuthenType}
_AUTHENSERVICE = {int(m): m for m in AuthenService}
_AUTHENMETHOD = {int(m): m for m in AuthenMethod}
_AUTHENACTION = {int(m): m for m in AuthenAction}
_UNENCRYPTED = int(HeaderFlag.UNENCRYPTED)
_SINGLE_CONNECT = int(HeaderFlag.SINGLE_CONNECT)


@dataclass(slots=True)
class _Session:
    session_id: int
    type: int
    version: int
    unencrypted: bool
    last_seq: int
    deadline: float = 0.0
    state: SessionState = SessionState.IDLE
    rounds: int = 1
    start: AuthenStart | None = None
    user: bytes = field(default=b"", repr=False)
    user_attempts: int = 0
    prompt: AuthenStatus = AuthenStatus.GETDATA
    single_round: bool = False


class _Refused(Exception):
    """Internal: a packet breaks a rule; answered with ERROR and its session terminated."""

    def __init__(self, reason: DecodeFailure | ProtocolFailure, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class ServerConnection:
    """Server side of one connection. ``keys`` are the shared secrets configured for the
    client device, tried in order on the first obfuscated packet (key rotation); the one that
    fits is kept for the connection (``key_index``).

    ``allow_unencrypted`` accepts TAC_PLUS_UNENCRYPTED_FLAG on a non-TLS connection (RFC 8907
    4.5 says it MUST NOT be used in production; refused with ERROR + close otherwise).
    ``tls=True`` is RFC 9887: the flag is then REQUIRED and obfuscated packets are refused;
    ``keys`` are not used. ``single_connect_allowed`` lets the connection accept Single
    Connection Mode when the client's first packet asks for it (RFC 8907 4.3).

    Limits: ``max_body`` caps the header length field (checked before buffering the body);
    ``max_sessions`` concurrent sessions; ``max_rounds`` client packets per authentication
    session (1..128); ``max_username_attempts`` GETUSER prompts (RFC 8907 5.4.2.1 recommends
    three); CHAP challenges shorter than ``min_chap_challenge`` are refused (5.4.2.3).

    Timers: a session waiting for the client's CONTINUE times out ``session_timeout`` seconds
    after the client's last packet in it; the connection times out ``idle_timeout`` seconds
    after the last complete packet (or ``now`` given here, or the first ``receive_data``) while
    no session waits for the service. ``now`` arms the idle timer from accept time.
    """

    def __init__(
        self,
        keys: Sequence[bytes],
        *,
        allow_unencrypted: bool,
        single_connect_allowed: bool,
        max_body: int = MAX_BODY_LENGTH,
        max_sessions: int = 16,
        max_rounds: int = 16,
        tls: bool = False,
        idle_timeout: float = 600.0,
        session_timeout: float = 120.0,
        username_prompt: str = PROMPT_GETUSER,
        password_prompt: str = PROMPT_GETPASS,
        enable_prompt: str = PROMPT_GETPASS,
        max_username_attempts: int = 3,
        min_chap_challenge: int = 8,
        now: float | None = None,
    ) -> None:
        self._keys = tuple(bytes(k) for k in keys)
        if any(not k for k in self._keys):
            raise ValueError("empty TACACS+ key")
        if not tls and not self._keys and not allow_unencrypted:
            raise ValueError("no key configured and unencrypted packets not allowed")
        if not 0 <= max_body <= 0xFFFFFFFF:
            raise ValueError("max_body out of range")
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if not 1 <= max_rounds <= 128:
            raise ValueError("max_rounds must be 1..128 (seq_no never wraps)")
        if idle_timeout <= 0 or session_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if max_username_attempts < 1:
            raise ValueError("max_username_attempts must be at least 1")
        self._allow_unencrypted = allow_unencrypted
        self._single_allowed = single_connect_allowed
        self._max_body = max_body
        self._max_sessions = max_sessions
        self._max_rounds = max_rounds
        self._tls = tls
        self._idle_timeout = idle_timeout
        self._session_timeout = session_timeout
        self._username_prompt = wire(username_prompt)
        self._password_prompt = wire(password_prompt)
        self._enable_prompt = wire(enable_prompt)
        self._max_username_attempts = max_username_attempts
        self._min_chap_challenge = min_chap_challenge

        self._buffer = bytearray()
        self._header: Header | None = None
        self._key_index: int | None = None
        self._sessions: dict[int, _Session] = {}
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._packets = 0
        self._sessions_opened = 0
        self._client_single = False
        self._single: bool | None = None
        self._closed = False
        self._close_reason: CloseReason | None = None
        self._out: list[bytes] = []
        self._last_packet = now

    def __repr__(self) -> str:
        return (
            f"<ServerConnection sessions={len(self._sessions)} single={self._single} "
            f"key_index={self._key_index} closed={self._closed}>"
        )

    # ----------------------------------------------------------------------------------------
    # Public state

    @property
    def should_close(self) -> bool:
        """True once the connection must be closed (after flushing ``data_to_send()``)."""
        return self._closed

    @property
    def close_reason(self) -> CloseReason | None:
        return self._close_reason

    @property
    def single_connect(self) -> bool | None:
        """Single Connection Mode: None until the first reply is sent, then True or False."""
        return self._single

    @property
    def key_index(self) -> int | None:
        """Index in ``keys`` of the key this client uses (None until one fitted)."""
        return self._key_index

    @property
    def sessions(self) -> tuple[int, ...]:
        """session_ids of the sessions in progress."""
        return tuple(self._sessions)

    def data_to_send(self) -> bytes:
        """The automatic answers queued since the last call (prompts, ERROR, FAIL)."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    # ----------------------------------------------------------------------------------------
    # Input

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the transport; returns the events they complete. Never raises
        for anything the peer sends."""
        events: list[Event] = []
        if self._closed:
            return events
        if self._last_packet is None:
            self._last_packet = now
        buf = self._buffer
        buf += data
        pos = 0
        while not self._closed and len(buf) - pos >= HEADER_LENGTH:
            if self._header is None:
                try:
                    self._header = pull_header(
                        bytes(buf[pos : pos + HEADER_LENGTH]), max_body=self._max_body
                    )
                except DecodeError as exc:
                    events.append(PacketDiscarded(exc.reason, None, exc.detail, False))
                    self._close(CloseReason.PROTOCOL_ERROR, events)
                    break
            header = self._header
            end = pos + HEADER_LENGTH + header.length
            if len(buf) < end:
                break
            body = bytes(buf[pos + HEADER_LENGTH : end])
            pos = end
            self._header = None
            self._last_packet = now
            self._handle_packet(header, body, now, events)
        if self._closed:
            buf.clear()
        elif pos:
            del buf[:pos]
        return events

    def get_timer(self) -> float | None:
        """When ``handle_timer`` should next be called, or None."""
        if self._closed:
            return None
        times = [s.deadline for s in self._sessions.values() if s.state in CLIENT_TURN]
        waiting = any(s.state is _S.AWAIT_SERVICE for s in self._sessions.values())
        if self._last_packet is not None and not waiting:
            times.append(self._last_packet + self._idle_timeout)
        return min(times, default=None)

    def handle_timer(self, now: float) -> list[Event]:
        """Expire sessions and the idle connection whose time has come."""
        events: list[Event] = []
        if self._closed:
            return events
        for session in list(self._sessions.values()):
            if session.state in CLIENT_TURN and session.deadline <= now:
                events.append(SessionTimedOut(session.session_id))
                self._end_session(session, events, reason=CloseReason.SESSION_TIMEOUT)
                if self._closed:
                    return events
        waiting = any(s.state is _S.AWAIT_SERVICE for s in self._sessions.values())
        if (
            not waiting
            and self._last_packet is not None
            and self._last_packet + self._idle_timeout <= now
        ):
            self._close(CloseReason.IDLE_TIMEOUT, events)
        return events

    # ----------------------------------------------------------------------------------------
    # Output (the service's answers)

    def send_authen_reply(
        self,
        session_id: int,
        status: AuthenStatus,
        *,
        server_msg: str = "",
        data: bytes = b"",
        flags: int = 0,
    ) -> bytes:
        """Answer an ``AuthenticationRequested`` or ``AuthenContinueReceived`` (RFC 8907 5.2).

        PASS, FAIL, ERROR (and RESTART for ASCII/ENABLE flows) end the session; GETDATA,
        GETUSER, GETPASS ask the client again and its CONTINUE comes back as
        ``AuthenContinueReceived`` (not allowed for PAP/CHAP/MS-CHAP: single START and REPLY).
        ``flags`` may only carry NOECHO. Returns b"" if the session or the connection was
        already ended by the peer or a timeout; LocalProtocolError for any other misuse."""
        session = self._service_session(session_id, PacketType.AUTHEN)
        if session is None:
            return b""
        try:
            st = AuthenStatus(status)
        except ValueError:
            raise LocalProtocolError(f"unknown authentication status {status!r}") from None
        if flags & ~ReplyFlag.NOECHO:
            raise LocalProtocolError("REPLY flags other than NOECHO")
        allowed = _SINGLE_ROUND_FINAL if session.single_round else _ASCII_FINAL | _PROMPTS
        if st not in allowed:
            raise LocalProtocolError(f"status {st.name} not allowed in this flow")
        packet = self._reply(session, AuthenReply(st, flags, wire(server_msg), data))
        if st in _PROMPTS:
            session.state = transition(session.state, _T.SERVICE_PROMPT)
            session.prompt = st
        else:
            self._end_session(session, None, by_service=True)
        return packet

    def send_author_response(
        self,
        session_id: int,
        status: AuthorStatus,
        *,
        args: Sequence[AVPair] = (),
        server_msg: str = "",
        data: str = "",
    ) -> bytes:
        """Answer an ``AuthorRequestReceived`` (RFC 8907 6.2): PASS_ADD, PASS_REPL, FAIL or
        ERROR (FOLLOW is deprecated and refused). Ends the session."""
        session = self._service_session(session_id, PacketType.AUTHOR)
        if session is None:
            return b""
        if status not in _AUTHOR_STATUSES:
            raise LocalProtocolError(f"authorization status {status!r} not allowed")
        body = AuthorResponse(int(status), push_args(args), wire(server_msg), wire(data))
        packet = self._reply(session, body)
        self._end_session(session, None, by_service=True)
        return packet

    def send_acct_reply(
        self,
        session_id: int,
        status: AcctStatus,
        *,
        server_msg: str = "",
        data: str = "",
    ) -> bytes:
        """Answer an ``AcctRequestReceived`` (RFC 8907 7.2): SUCCESS or ERROR. Ends the
        session."""
        session = self._service_session(session_id, PacketType.ACCT)
        if session is None:
            return b""
        if status not in _ACCT_STATUSES:
            raise LocalProtocolError(f"accounting status {status!r} not allowed")
        packet = self._reply(session, AcctReply(AcctStatus(status), wire(server_msg), wire(data)))
        self._end_session(session, None, by_service=True)
        return packet

    # ----------------------------------------------------------------------------------------
    # Internals: sessions and packets out

    def _service_session(self, session_id: int, packet_type: PacketType) -> _Session | None:
        if self._closed:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            if session_id in self._ended:
                return None
            raise LocalProtocolError(f"no session {session_id:#010x} on this connection")
        if session.type != packet_type:
            raise LocalProtocolError(f"session {session_id:#010x} is not {packet_type.name}")
        if session.state is not _S.AWAIT_SERVICE:
            raise LocalProtocolError(f"session {session_id:#010x} is not waiting for a reply")
        return session

    def _packet(
        self, session_id: int, version: int, seq_no: int, unencrypted: bool, body: Body
    ) -> bytes:
        """Encode a reply; the first reply on the connection settles Single Connection Mode
        (RFC 8907 4.3) and carries the flag when it is accepted."""
        single = self._single
        if single is None:
            single = self._client_single and self._single_allowed
        flags = _UNENCRYPTED if unencrypted else 0
        if single:
            flags |= _SINGLE_CONNECT
        if unencrypted:
            key = None
        elif self._key_index is not None:
            key = self._keys[self._key_index]
        else:  # pragma: no cover - every obfuscated reply follows a decoded request
            raise LocalProtocolError("no key established for an obfuscated reply")
        packet = encode_packet(
            body, version=version, seq_no=seq_no, session_id=session_id, key=key, flags=flags
        )
        self._single = single
        return packet

    def _reply(self, session: _Session, body: Body) -> bytes:
        """A reply in ``session``: its START's version octet, client seq_no + 1."""
        packet = self._packet(
            session.session_id, session.version, session.last_seq + 1, session.unencrypted, body
        )
        session.last_seq += 1
        return packet

    def _queue(self, session: _Session, body: Body) -> None:
        self._out.append(self._reply(session, body))

    def _close(self, reason: CloseReason, events: list[Event] | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        self._buffer.clear()
        self._header = None
        for sid in self._sessions:
            self._remember_ended(sid)
        self._sessions.clear()
        if events is not None:
            events.append(ConnectionShouldClose(reason))

    def _remember_ended(self, session_id: int) -> None:
        self._ended[session_id] = None
        self._ended.move_to_end(session_id)
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)

    def _end_session(
        self,
        session: _Session,
        events: list[Event] | None,
        *,
        by_service: bool = False,
        reason: CloseReason = CloseReason.SESSION_COMPLETE,
    ) -> None:
        """RFC 8907 4.4: without Single Connection Mode the connection closes when its
        session ends."""
        if session.state is not _S.DONE:
            session.state = transition(session.state, _T.FINISH)
        if self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]
            if not by_service:
                self._remember_ended(session.session_id)
            else:
                self._ended.pop(session.session_id, None)
        if self._single is not True and not self._sessions:
            self._close(reason, events)

    def _error_reply(self, header: Header, unencrypted: bool) -> bool:
        """Queue an ERROR of the packet's type in answer to ``header`` if one can be sent:
        a client seq_no below 255, and cleartext or a known key."""
        if header.seq_no % 2 == 0 or header.seq_no >= MAX_SEQ_NO:
            return False
        if not unencrypted and self._key_index is None:
            return False
        body = _ERROR_BODIES[header.type]
        self._out.append(
            self._packet(header.session_id, header.version, header.seq_no + 1, unencrypted, body)
        )
        return True

    def _discard(
        self,
        events: list[Event],
        reason: DecodeFailure | ProtocolFailure,
        header: Header,
        detail: str,
        *,
        replied: bool,
        session: _Session | None,
        fatal: CloseReason | None = None,
    ) -> None:
        events.append(PacketDiscarded(reason, header.session_id, detail, replied))
        if session is not None:
            self._end_session(session, events, reason=fatal or CloseReason.SESSION_COMPLETE)
        if fatal is not None:
            self._close(fatal, events)
        elif self._single is not True and not self._sessions:
            self._close(CloseReason.PROTOCOL_ERROR, events)

    # ----------------------------------------------------------------------------------------
    # Internals: packets in

    def _handle_packet(self, h: Header, body: bytes, now: float, events: list[Event]) -> None:
        sid = h.session_id
        if self._packets == 0:
            self._client_single = h.single_connect
        self._packets += 1
        session = self._sessions.get(sid)

        if h.type not in _TYPES:
            # RFC 8907 3.6: the identical header, seq_no + 1, length zero.
            replied = h.seq_no % 2 == 1 and h.seq_no < MAX_SEQ_NO
            if replied:
                self._out.append(
                    push_header(Header(h.version, h.type, h.seq_no + 1, h.flags, sid, 0))
                )
            self._discard(
                events,
                DecodeFailure.BAD_TYPE,
                h,
                f"type {h.type:#x}",
                replied=replied,
                session=session,
            )
            return

        unencrypted = h.unencrypted
        if self._tls and not unencrypted:
            # RFC 9887 section 4: ERROR with the UNENCRYPTED flag set, terminate.
            replied = self._error_reply(h, unencrypted=True)
            self._discard(
                events,
                ProtocolFailure.OBFUSCATED_OVER_TLS,
                h,
                "obfuscated packet on a TLS connection",
                replied=replied,
                session=session,
                fatal=CloseReason.PROTOCOL_ERROR,
            )
            return
        if unencrypted and not self._tls and not self._allow_unencrypted:
            replied = self._error_reply(h, unencrypted=True)
            self._discard(
                events,
                ProtocolFailure.UNENCRYPTED_REFUSED,
                h,
                "TAC_PLUS_UNENCRYPTED_FLAG set",
                replied=replied,
                session=session,
                fatal=CloseReason.PROTOCOL_ERROR,
            )
            return

        seq = h.seq_no
        failure: ProtocolFailure | None = None
        detail = ""
        if seq % 2 == 0:
            failure, detail = ProtocolFailure.BAD_SEQUENCE, f"even seq_no {seq} from the client"
        elif seq == MAX_SEQ_NO:
            failure, detail = ProtocolFailure.SEQUENCE_EXHAUSTED, "seq_no reached 255"
        elif session is None:
            if seq != 1:
                failure, detail = ProtocolFailure.BAD_SEQUENCE, f"seq_no {seq} for no session"
            elif not (self._single is True or self._sessions_opened == 0):
                failure = ProtocolFailure.NOT_MULTIPLEXED
                detail = "second session without Single Connection Mode"
        elif session.state not in CLIENT_TURN:
            failure, detail = ProtocolFailure.BAD_SEQUENCE, f"seq_no {seq} out of turn"
        elif seq != session.last_seq + 1:
            failure = ProtocolFailure.BAD_SEQUENCE
            detail = f"seq_no {seq}, expected {session.last_seq + 1}"
        if failure is not None:
            self._discard(events, failure, h, detail, replied=False, session=session)
            return

        parsed = self._decode(h, body, unencrypted, events)
        if parsed is None:
            return
        if isinstance(parsed, DecodeError):
            replied = self._error_reply(h, unencrypted)
            self._discard(events, parsed.reason, h, parsed.detail, replied=replied, session=session)
            return

        if session is None:
            if len(self._sessions) >= self._max_sessions:
                replied = self._error_reply(h, unencrypted)
                self._discard(
                    events,
                    ProtocolFailure.TOO_MANY_SESSIONS,
                    h,
                    f"{len(self._sessions)} sessions in progress",
                    replied=replied,
                    session=None,
                )
                return
            session = _Session(sid, h.type, h.version, unencrypted, last_seq=seq)
            session.deadline = now + self._session_timeout
            self._sessions[sid] = session
            self._sessions_opened += 1
        else:
            session.last_seq = seq
            session.rounds += 1
            session.unencrypted = unencrypted
            session.deadline = now + self._session_timeout
            if session.rounds > self._max_rounds:
                self._queue(session, AuthenReply(AuthenStatus.FAIL, 0, b"Too many attempts"))
                self._discard(
                    events,
                    ProtocolFailure.TOO_MANY_ROUNDS,
                    h,
                    f"more than {self._max_rounds} client packets",
                    replied=True,
                    session=session,
                )
                return

        try:
            self._dispatch(session, h, parsed, events)
        except (_Refused, DecodeError) as exc:
            self._queue(session, _ERROR_BODIES[session.type])
            self._discard(events, exc.reason, h, exc.detail, replied=True, session=session)

    def _decode(
        self, h: Header, body: bytes, unencrypted: bool, events: list[Event]
    ) -> ClientBody | DecodeError | None:
        """The cleartext body, a DecodeError (answered with ERROR by the caller), or None
        after BadKey (connection closed). On the first obfuscated packet every key is tried in
        order; the first whose body parses exactly is kept (RFC 8907 4.5)."""
        if unencrypted or self._key_index is not None:
            plain = body
            if not unencrypted and self._key_index is not None:
                key = self._keys[self._key_index]
                plain = obfuscate(body, h.session_id, key, h.version, h.seq_no)
            try:
                return self._pull(h, plain)
            except DecodeError as exc:
                return exc
        for index, key in enumerate(self._keys):
            plain = obfuscate(body, h.session_id, key, h.version, h.seq_no)
            try:
                parsed = self._pull(h, plain)
            except DecodeError:
                continue
            self._key_index = index
            return parsed
        events.append(BadKey(h.session_id, len(self._keys)))
        self._close(CloseReason.BAD_KEY, events)
        return None

    @staticmethod
    def _pull(h: Header, plain: bytes) -> ClientBody:
        parsed = pull_body(h.type, h.seq_no, plain)
        assert isinstance(parsed, AuthenStart | AuthenContinue | AuthorRequest | AcctRequest)
        return parsed

    def _dispatch(
        self, session: _Session, h: Header, parsed: ClientBody, events: list[Event]
    ) -> None:
        if h.minor_version not in (MinorVersion.DEFAULT, MinorVersion.ONE):
            raise _Refused(ProtocolFailure.BAD_MINOR_VERSION, f"minor version {h.minor_version}")
        if isinstance(parsed, AuthenStart):
            self._on_start(session, h, parsed, events)
        elif isinstance(parsed, AuthenContinue):
            self._on_continue(session, h, parsed, events)
        elif isinstance(parsed, AuthorRequest):
            self._on_author(session, h, parsed, events)
        else:
            self._on_acct(session, h, parsed, events)

    @staticmethod
    def _check_common(
        h: Header, authen_type: int, service: int, priv_lvl: int, allowed_types: frozenset[int]
    ) -> None:
        if authen_type not in allowed_types:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"authen_type {authen_type:#x}")
        if service not in _SERVICES:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"authen_service {service:#x}")
        if priv_lvl > PRIV_LVL_MAX:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"priv_lvl {priv_lvl}")

    def _refuse(self, session: _Session, events: list[Event], msg: str, reason: str) -> None:
        """RFC 8907 5.4.2: an option the server does not implement is answered with FAIL."""
        self._queue(session, AuthenReply(AuthenStatus.FAIL, 0, wire(msg)))
        events.append(AuthenticationRefused(session.session_id, AuthenStatus.FAIL, msg, reason))
        self._end_session(session, events)

    def _prompt(self, session: _Session, move: Transition, status: AuthenStatus) -> None:
        if status is AuthenStatus.GETUSER:
            body = AuthenReply(status, 0, self._username_prompt)
        else:
            start = session.start
            enable = start is not None and start.authen_service == AuthenService.ENABLE
            msg = self._enable_prompt if enable else self._password_prompt
            body = AuthenReply(status, ReplyFlag.NOECHO, msg)
        session.state = transition(session.state, move)
        self._queue(session, body)

    def _requested(
        self,
        session: _Session,
        events: list[Event],
        *,
        password: bytes | None = None,
        chap_kind: int | None = None,
    ) -> None:
        start = session.start
        assert start is not None
        chap = mschap = mschapv2 = None
        if chap_kind == AuthenType.CHAP:
            chap = pull_chap(start.data, min_challenge=self._min_chap_challenge)
        elif chap_kind == AuthenType.MSCHAP:
            mschap = pull_mschap_v1(start.data)
        elif chap_kind == AuthenType.MSCHAPV2:
            mschapv2 = pull_mschap_v2(start.data)
        session.state = transition(session.state, _T.HAND_OVER)
        events.append(
            AuthenticationRequested(
                session_id=session.session_id,
                action=_AUTHENACTION[start.action],
                authen_type=_AUTHENTYPE[start.authen_type],
                service=_AUTHENSERVICE[start.authen_service],
                priv_lvl=start.priv_lvl,
                user=text(session.user),
                port=text(start.port),
                rem_addr=text(start.rem_addr),
                password=None if password is None else text(password),
                chap=chap,
                mschap=mschap,
                mschapv2=mschapv2,
                data=start.data,
            )
        )

    def _on_start(
        self, session: _Session, h: Header, start: AuthenStart, events: list[Event]
    ) -> None:
        """RFC 8907 5.1, 5.4.1 (version table), 5.4.2 (flows)."""
        if start.action not in _ACTIONS:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"action {start.action:#x}")
        self._check_common(h, start.authen_type, start.authen_service, start.priv_lvl, _START_TYPES)
        want = _START_MINOR.get((start.action, start.authen_type))
        if want is None:
            raise _Refused(
                ProtocolFailure.BAD_VALUE,
                f"action {start.action:#x} with authen_type {start.authen_type:#x}",
            )
        if h.minor_version != want:
            raise _Refused(
                ProtocolFailure.BAD_MINOR_VERSION,
                f"minor version {h.minor_version} where section 5.4.1 says {int(want)}",
            )
        session.start = start
        session.user = start.user
        events.append(AuthenStartReceived(session.session_id, h.version, start))

        if start.action == AuthenAction.CHPASS:
            self._refuse(session, events, "Password change is not supported", "chpass")
            return
        if start.action == AuthenAction.SENDAUTH:
            self._refuse(session, events, "Outbound authentication is not supported", "sendauth")
            return
        enable = start.authen_service == AuthenService.ENABLE
        if start.authen_type == AuthenType.ASCII:
            # 5.4.2.1 (and 5.4.2.6: ENABLE asks only for the password)
            if start.user or enable:
                self._prompt(session, _T.ASK_PASS, AuthenStatus.GETPASS)
            else:
                session.user_attempts = 1
                self._prompt(session, _T.ASK_USER, AuthenStatus.GETUSER)
            return
        session.single_round = True
        if not start.user and not enable:
            self._refuse(session, events, "A username is required", "no username")
            return
        if start.authen_type == AuthenType.PAP:
            self._requested(session, events, password=start.data)
            return
        try:
            self._requested(session, events, chap_kind=start.authen_type)
        except DecodeError as exc:
            self._refuse(session, events, "Malformed challenge response", exc.detail)

    def _on_continue(
        self, session: _Session, h: Header, cont: AuthenContinue, events: list[Event]
    ) -> None:
        """RFC 8907 5.3, 5.4.2.1, 5.4.3."""
        if h.version != session.version:
            raise _Refused(
                ProtocolFailure.BAD_MINOR_VERSION,
                f"CONTINUE version {h.version:#x}, START was {session.version:#x}",
            )
        if cont.flags & ContinueFlag.ABORT:
            session.state = transition(session.state, _T.ABORT)
            events.append(AuthenticationAborted(session.session_id, text(cont.data)))
            self._end_session(session, events)
            return
        if session.state is _S.WAIT_USERNAME:
            if cont.user_msg:
                session.user = cont.user_msg
                self._prompt(session, _T.ASK_PASS, AuthenStatus.GETPASS)
            elif session.user_attempts >= self._max_username_attempts:
                self._refuse(session, events, "No username entered", "no username")
            else:
                session.user_attempts += 1
                self._prompt(session, _T.ASK_USER, AuthenStatus.GETUSER)
        elif session.state is _S.WAIT_PASSWORD:
            self._requested(session, events, password=cont.user_msg)
        else:
            session.state = transition(session.state, _T.HAND_OVER)
            events.append(
                AuthenContinueReceived(
                    session.session_id,
                    session.prompt,
                    text(session.user),
                    text(cont.user_msg),
                    cont.data,
                )
            )

    def _check_request(
        self, h: Header, method: int, authen_type: int, service: int, priv_lvl: int
    ) -> None:
        """RFC 8907 5.4.1: authorization and accounting use minor_version 0; 6.1/7.1 values."""
        if h.minor_version != MinorVersion.DEFAULT:
            raise _Refused(
                ProtocolFailure.BAD_MINOR_VERSION,
                f"minor version {h.minor_version} for authorization/accounting",
            )
        if method not in _METHODS:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"authen_method {method:#x}")
        self._check_common(h, authen_type, service, priv_lvl, _AUTHEN_TYPES)

    def _on_author(
        self, session: _Session, h: Header, req: AuthorRequest, events: list[Event]
    ) -> None:
        """RFC 8907 6.1."""
        self._check_request(h, req.authen_method, req.authen_type, req.authen_service, req.priv_lvl)
        args = pull_args(req.args)
        session.state = transition(session.state, _T.HAND_OVER)
        events.append(
            AuthorRequestReceived(
                session_id=session.session_id,
                authen_method=_AUTHENMETHOD[req.authen_method],
                priv_lvl=req.priv_lvl,
                authen_type=_AUTHENTYPE[req.authen_type],
                service=_AUTHENSERVICE[req.authen_service],
                user=text(req.user),
                port=text(req.port),
                rem_addr=text(req.rem_addr),
                args=args,
                request=req,
            )
        )

    def _on_acct(self, session: _Session, h: Header, req: AcctRequest, events: list[Event]) -> None:
        """RFC 8907 7.1 (the flags table)."""
        self._check_request(h, req.authen_method, req.authen_type, req.authen_service, req.priv_lvl)
        flags = req.flags & ACCT_FLAG_MASK
        if flags not in VALID_ACCT_FLAGS:
            raise _Refused(ProtocolFailure.BAD_VALUE, f"accounting flags {req.flags:#x}")
        args = pull_args(req.args)
        session.state = transition(session.state, _T.HAND_OVER)
        events.append(
            AcctRequestReceived(
                session_id=session.session_id,
                flags=AcctFlag(flags),
                authen_method=_AUTHENMETHOD[req.authen_method],
                priv_lvl=req.priv_lvl,
                authen_type=_AUTHENTYPE[req.authen_type],
                service=_AUTHENSERVICE[req.authen_service],
                user=text(req.user),
                port=text(req.port),
                rem_addr=text(req.rem_addr),
                args=args,
                request=req,
            )
        )
