"""The session transition table (tacacs.state)."""

from __future__ import annotations

import pytest

from tacacs.errors import LocalProtocolError
from tacacs.state import CLIENT_TURN, TRANSITIONS, SessionState, Transition, transition

S = SessionState
T = Transition


def test_ascii_login_path() -> None:
    s = transition(S.IDLE, T.ASK_USER)
    assert s is S.WAIT_USERNAME
    s = transition(s, T.ASK_PASS)
    assert s is S.WAIT_PASSWORD
    s = transition(s, T.HAND_OVER)
    assert s is S.AWAIT_SERVICE
    s = transition(s, T.SERVICE_PROMPT)
    assert s is S.WAIT_CONTINUE
    assert transition(s, T.HAND_OVER) is S.AWAIT_SERVICE
    assert transition(S.AWAIT_SERVICE, T.FINISH) is S.DONE


@pytest.mark.parametrize(
    ("state", "move"),
    [
        (S.AWAIT_SERVICE, T.ABORT),  # abort arrives only as a CONTINUE, on the client's turn
        (S.AWAIT_SERVICE, T.HAND_OVER),
        (S.WAIT_PASSWORD, T.ASK_USER),
        (S.IDLE, T.SERVICE_PROMPT),
        (S.DONE, T.FINISH),
    ],
)
def test_moves_not_in_the_table_raise(state: SessionState, move: Transition) -> None:
    with pytest.raises(LocalProtocolError):
        transition(state, move)


def test_every_client_turn_state_can_abort_and_done_is_terminal() -> None:
    for state in CLIENT_TURN:
        assert TRANSITIONS[state][T.ABORT] is S.DONE
    assert TRANSITIONS[S.DONE] == {}
    assert set(TRANSITIONS) == set(SessionState)
