"""AV pairs (RFC 8907 8.1), the authorization merge (6.1/6.2) and command normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tacacs.args import (
    AVPair,
    authorize_args,
    command_line,
    get_all,
    get_value,
    pull_args,
    pull_av,
    push_args,
    push_av,
    text,
    wire,
)
from tacacs.constants import AuthorStatus
from tacacs.errors import DecodeError, DecodeFailure, LocalProtocolError


def av(s: str) -> AVPair:
    return pull_av(s.encode())


def test_mandatory_and_optional_separators() -> None:
    assert pull_av(b"service=shell") == AVPair("service", "shell", True)
    assert pull_av(b"timeout*30") == AVPair("timeout", "30", False)


def test_the_first_separator_wins() -> None:
    assert pull_av(b"acl=a*b=c") == AVPair("acl", "a*b=c", True)
    assert pull_av(b"x*y=z") == AVPair("x", "y=z", False)
    assert pull_av(b"addr=10.0.0.1==") == AVPair("addr", "10.0.0.1==", True)


def test_empty_value_is_legal() -> None:
    assert pull_av(b"cmd=") == AVPair("cmd", "", True)
    assert pull_av(b"cmd*") == AVPair("cmd", "", False)


@pytest.mark.parametrize("raw", [b"", b"service", b"=shell", b"*x", b"noseparator\x00"])
def test_malformed_arguments_are_bad_fields(raw: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        pull_av(raw)
    assert e.value.reason is DecodeFailure.BAD_FIELD


def test_hostile_bytes_survive_decoding_and_encoding() -> None:
    raw = b"na\xffme=\x00\x1b[31m\xc3\xa9"
    pair = pull_av(raw)
    assert pair.name == "na\udcffme"
    assert pair.value == "\x00\x1b[31mé"
    assert push_av(pair) == raw


@given(st.binary(max_size=255))
def test_pull_av_is_decode_or_decode_error_and_round_trips(raw: bytes) -> None:
    try:
        pair = pull_av(raw)
    except DecodeError:
        assert (b"=" not in raw and b"*" not in raw) or raw[:1] in (b"=", b"*")
        return
    assert push_av(pair) == raw


@given(st.binary())
def test_text_and_wire_are_inverse(raw: bytes) -> None:
    assert wire(text(raw)) == raw


def test_push_refuses_bad_names_and_long_pairs() -> None:
    for bad in (AVPair("", "x"), AVPair("a=b", "x"), AVPair("a*b", "x")):
        with pytest.raises(LocalProtocolError):
            push_av(bad)
    with pytest.raises(LocalProtocolError):
        push_av(AVPair("a", "x" * 254))
    assert len(push_av(AVPair("a", "x" * 253))) == 255
    with pytest.raises(LocalProtocolError):
        push_args([AVPair("a", "1")] * 256)
    with pytest.raises(LocalProtocolError):
        wire("\ud800")


def test_pull_and_push_args_and_lookup() -> None:
    pairs = pull_args([b"service=shell", b"cmd-arg=a", b"cmd-arg*b"])
    assert push_args(pairs) == (b"service=shell", b"cmd-arg=a", b"cmd-arg*b")
    assert get_value(pairs, "service") == "shell"
    assert get_value(pairs, "nope") is None
    assert get_all(pairs, "cmd-arg") == ["a", "b"]
    assert str(pairs[2]) == "cmd-arg*b"


# ------------------------------------------------------------------------------------------
# authorize_args


def test_server_only_adding_is_pass_add_with_the_additions() -> None:
    d = authorize_args([av("service=shell"), av("cmd*")], [av("priv-lvl=15"), av("timeout*30")])
    assert d.status is AuthorStatus.PASS_ADD
    assert d.args == (av("priv-lvl=15"), av("timeout*30"))


def test_nothing_to_add_is_pass_add_with_no_args() -> None:
    d = authorize_args([av("service=shell"), av("cmd=show")], [])
    assert d.status is AuthorStatus.PASS_ADD
    assert d.args == ()


def test_same_value_from_both_sides_is_not_a_change() -> None:
    d = authorize_args(
        [av("service=ppp"), av("protocol=ip"), av("addr=10.0.0.9")], [av("addr=10.0.0.9")]
    )
    assert d.status is AuthorStatus.PASS_ADD
    assert d.args == ()


def test_changed_value_is_pass_repl_with_the_full_list() -> None:
    d = authorize_args(
        [av("service=ppp"), av("protocol=ip"), av("addr=10.0.0.9")],
        [av("addr=10.1.1.1"), av("idletime=5")],
    )
    assert d.status is AuthorStatus.PASS_REPL
    assert d.args == (av("service=ppp"), av("protocol=ip"), av("addr=10.1.1.1"), av("idletime=5"))


def test_unknown_mandatory_argument_fails() -> None:
    d = authorize_args([av("service=shell"), av("frobnicate=yes")], [av("priv-lvl=1")])
    assert d.status is AuthorStatus.FAIL
    assert d.args == ()
    assert "frobnicate" in d.reason


def test_unknown_optional_argument_is_dropped_with_pass_repl() -> None:
    d = authorize_args([av("service=shell"), av("frobnicate*yes")], [av("priv-lvl=1")])
    assert d.status is AuthorStatus.PASS_REPL
    assert d.args == (av("service=shell"), av("priv-lvl=1"))


def test_known_names_are_accepted_without_a_server_value() -> None:
    d = authorize_args([av("service=shell"), av("x-custom=1")], [], known={"service", "x-custom"})
    assert d.status is AuthorStatus.PASS_ADD


def test_multi_valued_names_compare_as_ordered_lists() -> None:
    req = [av("service=ppp"), av("route=10.0.0.0/8"), av("route=192.168.0.0/16")]
    same = authorize_args(req, [av("route=10.0.0.0/8"), av("route=192.168.0.0/16")])
    assert same.status is AuthorStatus.PASS_ADD
    changed = authorize_args(req, [av("route=10.0.0.0/8")])
    assert changed.status is AuthorStatus.PASS_REPL
    assert changed.args == (av("service=ppp"), av("route=10.0.0.0/8"))


# ------------------------------------------------------------------------------------------
# command_line


def test_command_line_joins_cmd_and_args_and_drops_trailing_cr() -> None:
    pairs = [av("service=shell"), av("cmd=show"), av("cmd-arg=running-config"), av("cmd-arg=<cr>")]
    assert command_line(pairs) == "show running-config"


def test_command_line_keeps_a_cr_that_is_not_last_and_skips_empty_args() -> None:
    pairs = [av("cmd=echo"), av("cmd-arg=<cr>"), av("cmd-arg="), av("cmd-arg*x")]
    assert command_line(pairs) == "echo <cr> x"


def test_command_line_for_shell_start_and_no_command() -> None:
    assert command_line([av("service=shell"), av("cmd*")]) == ""
    assert command_line([av("service=ppp"), av("protocol=ip")]) is None
