"""Argument-value pairs (RFC 8907 section 6.1 and section 8) and the authorization algorithm.

An argument is one string ``name=value`` (mandatory) or ``name*value`` (optional); the
separator is the FIRST '=' or '*' in the string, so a name never contains either and a value
may contain both. The value may be empty. Names and values are exposed as ``str`` decoded from
UTF-8 with ``surrogateescape``: any byte string decodes, and ``push_av(pull_av(b)) == b``
always. Nothing is assumed printable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from tacacs.constants import MAX_U8_FIELD, AuthorStatus
from tacacs.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "DEFAULT_KNOWN",
    "AVPair",
    "ArgsDecision",
    "authorize_args",
    "command_line",
    "get_all",
    "get_value",
    "pull_args",
    "pull_av",
    "push_args",
    "push_av",
    "text",
    "wire",
]

MANDATORY = "="
OPTIONAL = "*"
DEFAULT_KNOWN = frozenset(("service", "protocol", "cmd", "cmd-arg"))
"""Names that describe the request itself (RFC 8907 section 8.2): always understood, even when
the server has no value of its own for them."""


def text(raw: bytes) -> str:
    """Wire bytes as ``str``: UTF-8 with ``surrogateescape`` (lossless, never raises)."""
    return raw.decode("utf-8", "surrogateescape")


def wire(value: str) -> bytes:
    """The inverse of ``text``. Raises LocalProtocolError for a lone surrogate that does not
    come from ``text`` (a caller bug)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise LocalProtocolError("string cannot be encoded for the wire") from None


class AVPair(NamedTuple):
    """One argument (RFC 8907 section 8.1): ``mandatory`` is True for '=' and False for '*'.
    A named tuple: several are built per request, at a third of a frozen dataclass's cost."""

    name: str
    value: str
    mandatory: bool = True

    def __str__(self) -> str:
        return f"{self.name}{MANDATORY if self.mandatory else OPTIONAL}{self.value}"


_MANDATORY_OCTET = ord("=")


def pull_av(raw: bytes) -> AVPair:
    """Split one argument at its first '=' or '*' (RFC 8907 section 8.1).

    Raises DecodeError(BAD_FIELD) if there is no separator or the name is empty."""
    eq = raw.find(b"=")
    star = raw.find(b"*")
    if eq < 0 and star < 0:
        raise DecodeError(DecodeFailure.BAD_FIELD, "argument without '=' or '*'")
    sep = eq if star < 0 or 0 <= eq < star else star
    if sep == 0:
        raise DecodeError(DecodeFailure.BAD_FIELD, "argument with an empty name")
    return AVPair(
        raw[:sep].decode("utf-8", "surrogateescape"),
        raw[sep + 1 :].decode("utf-8", "surrogateescape"),
        raw[sep] == _MANDATORY_OCTET,
    )


def push_av(pair: AVPair) -> bytes:
    """Encode one argument (RFC 8907 section 8.1). Raises LocalProtocolError for an empty
    name, a name containing '=' or '*', or more than 255 octets in all."""
    name = wire(pair.name)
    if not name or b"=" in name or b"*" in name:
        raise LocalProtocolError(f"invalid argument name {pair.name!r}")
    raw = name + (b"=" if pair.mandatory else b"*") + wire(pair.value)
    if len(raw) > MAX_U8_FIELD:
        raise LocalProtocolError(f"argument {pair.name!r} of {len(raw)} octets exceeds 255")
    return raw


def pull_args(raws: Iterable[bytes]) -> tuple[AVPair, ...]:
    """Decode every argument of a request or response; raises DecodeError(BAD_FIELD)."""
    return tuple(pull_av(r) for r in raws)


def push_args(pairs: Iterable[AVPair]) -> tuple[bytes, ...]:
    """Encode arguments; raises LocalProtocolError (see ``push_av``) or for more than 255."""
    out = tuple(push_av(p) for p in pairs)
    if len(out) > MAX_U8_FIELD:
        raise LocalProtocolError(f"{len(out)} arguments exceed 255")
    return out


def get_value(pairs: Iterable[AVPair], name: str) -> str | None:
    """The value of the first argument called ``name``, or None."""
    for p in pairs:
        if p.name == name:
            return p.value
    return None


def get_all(pairs: Iterable[AVPair], name: str) -> list[str]:
    """Every value of ``name``, in order."""
    return [p.value for p in pairs if p.name == name]


def command_line(pairs: Sequence[AVPair]) -> str | None:
    """The command of a shell command authorization (RFC 8907 section 8.2): the ``cmd`` value
    and the ``cmd-arg`` values in order, joined by single spaces; empty values are skipped and
    a trailing ``<cr>`` argument (what Cisco-style clients append) is dropped.

    None when there is no ``cmd`` argument; "" when ``cmd`` is empty and there are no
    arguments (the shell itself, section 8.2: "If no value is present, then the shell itself is
    being referred to")."""
    cmd = get_value(pairs, "cmd")
    if cmd is None:
        return None
    cmd_args = get_all(pairs, "cmd-arg")
    if cmd_args and cmd_args[-1] == "<cr>":
        cmd_args.pop()
    return " ".join(part for part in (cmd, *cmd_args) if part)


@dataclass(frozen=True, slots=True)
class ArgsDecision:
    """What to answer an authorization request with (RFC 8907 section 6.2): the status and
    the arguments to send, and in words why (for the audit trace)."""

    status: AuthorStatus
    args: tuple[AVPair, ...]
    reason: str


def authorize_args(
    request: Sequence[AVPair],
    authorized: Sequence[AVPair],
    *,
    known: Collection[str] = DEFAULT_KNOWN,
) -> ArgsDecision:
    """Merge the client's arguments with the ones the server authorizes (RFC 8907 6.1, 6.2).

    ``authorized`` is what policy grants (e.g. ``priv-lvl=15``, ``timeout=30``); ``known`` are
    names the server understands without setting a value. Arguments are grouped by name:

    * a request name the server also sets: kept when the values (in order) are the same,
      otherwise replaced by the server's arguments of that name (a change);
    * a request name only in ``known``: kept;
    * a request name the server neither sets nor knows: a mandatory one makes the whole
      request FAIL (the server cannot honour it); an optional one is dropped (a change);
    * server names the client did not send are added.

    With no change the status is PASS_ADD and ``args`` holds only the added arguments (the
    client keeps its own, section 6.2); with any change it is PASS_REPL and ``args`` is the
    complete list the client must use instead of its own (request order, additions last).
    The caller decides first whether the request is permitted at all (FAIL otherwise)."""
    server_by_name: dict[str, list[AVPair]] = {}
    for p in authorized:
        server_by_name.setdefault(p.name, []).append(p)
    request_by_name: dict[str, list[AVPair]] = {}
    for p in request:
        request_by_name.setdefault(p.name, []).append(p)

    changed: list[str] = []
    final: list[AVPair] = []
    for name, pairs in request_by_name.items():
        theirs = server_by_name.get(name)
        if theirs is not None:
            if [p.value for p in pairs] == [p.value for p in theirs]:
                final.extend(pairs)
            else:
                final.extend(theirs)
                changed.append(f"replaced {name}")
        elif name in known:
            final.extend(pairs)
        elif any(p.mandatory for p in pairs):
            return ArgsDecision(AuthorStatus.FAIL, (), f"mandatory argument {name!r} not supported")
        else:
            changed.append(f"dropped optional {name}")
    added = [p for name, ps in server_by_name.items() if name not in request_by_name for p in ps]
    if changed:
        reason = "; ".join(changed) + (f"; added {len(added)}" if added else "")
        return ArgsDecision(AuthorStatus.PASS_REPL, (*final, *added), reason)
    return ArgsDecision(
        AuthorStatus.PASS_ADD, tuple(added), f"added {len(added)}" if added else "as requested"
    )
