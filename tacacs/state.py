"""Per-session state machine of the server side, as a table (after h11's ``_state.py``).

A session (RFC 8907 section 3.5) is one authentication sequence, or one authorization or
accounting exchange. The connection moves each session with ``transition``; a move the table
does not list is a bug in the caller and raises LocalProtocolError.

States::

    IDLE           nothing received yet (a new session, transient)
    AWAIT_SERVICE  the service has the turn: it was handed an event and must send a reply
    WAIT_USERNAME  we sent GETUSER ourselves; the client's CONTINUE carries the username
    WAIT_PASSWORD  we sent GETPASS ourselves; the client's CONTINUE carries the password
    WAIT_CONTINUE  the service sent GETDATA/GETUSER/GETPASS; the CONTINUE goes to the service
    DONE           a final reply was sent, the client aborted, or the session was terminated

Transitions::

    ASK_USER        connection prompts GETUSER (START without user; empty username, retried)
    ASK_PASS        connection prompts GETPASS (username known; ENABLE asks only for this)
    HAND_OVER       all credentials gathered / request received / CONTINUE for the service
    SERVICE_PROMPT  the service replied GETDATA, GETUSER or GETPASS
    FINISH          final reply (PASS, FAIL, ERROR, RESTART; SUCCESS/ERROR...), refusal,
                    protocol error, timeout
    ABORT           CONTINUE with TAC_PLUS_CONTINUE_FLAG_ABORT (RFC 8907 section 5.4.3)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, auto

from tacacs.errors import LocalProtocolError

__all__ = ["CLIENT_TURN", "TRANSITIONS", "SessionState", "Transition", "transition"]


class SessionState(Enum):
    IDLE = auto()
    AWAIT_SERVICE = auto()
    WAIT_USERNAME = auto()
    WAIT_PASSWORD = auto()
    WAIT_CONTINUE = auto()
    DONE = auto()


class Transition(Enum):
    ASK_USER = auto()
    ASK_PASS = auto()
    HAND_OVER = auto()
    SERVICE_PROMPT = auto()
    FINISH = auto()
    ABORT = auto()


_S = SessionState
_T = Transition

TRANSITIONS: Mapping[SessionState, Mapping[Transition, SessionState]] = {
    _S.IDLE: {
        _T.ASK_USER: _S.WAIT_USERNAME,
        _T.ASK_PASS: _S.WAIT_PASSWORD,
        _T.HAND_OVER: _S.AWAIT_SERVICE,
        _T.FINISH: _S.DONE,
    },
    _S.WAIT_USERNAME: {
        _T.ASK_USER: _S.WAIT_USERNAME,
        _T.ASK_PASS: _S.WAIT_PASSWORD,
        _T.FINISH: _S.DONE,
        _T.ABORT: _S.DONE,
    },
    _S.WAIT_PASSWORD: {
        _T.HAND_OVER: _S.AWAIT_SERVICE,
        _T.FINISH: _S.DONE,
        _T.ABORT: _S.DONE,
    },
    _S.AWAIT_SERVICE: {
        _T.SERVICE_PROMPT: _S.WAIT_CONTINUE,
        _T.FINISH: _S.DONE,
    },
    _S.WAIT_CONTINUE: {
        _T.HAND_OVER: _S.AWAIT_SERVICE,
        _T.FINISH: _S.DONE,
        _T.ABORT: _S.DONE,
    },
    _S.DONE: {},
}

CLIENT_TURN = frozenset((_S.WAIT_USERNAME, _S.WAIT_PASSWORD, _S.WAIT_CONTINUE))
"""States in which the next packet of the session is the client's CONTINUE."""


def transition(state: SessionState, move: Transition) -> SessionState:
    """The state after ``move``; LocalProtocolError if the table does not allow it."""
    try:
        return TRANSITIONS[state][move]
    except KeyError:
        raise LocalProtocolError(f"{move.name} is not allowed in state {state.name}") from None
