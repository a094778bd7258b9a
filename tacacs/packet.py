"""Packet codec: header (RFC 8907 section 4.1), obfuscation (section 4.5) and the seven bodies
(sections 5.1-5.3, 6.1-6.2, 7.1-7.2), as ``pull_*`` / ``push_*`` pairs.

Conventions:

* Every field is kept as the raw ``bytes`` on the wire (user, port, rem_addr, server_msg, data,
  user_msg, each argument) and every code point as a plain ``int``: nothing is decoded or
  validated against the enums here, so unknown values and non-printable text round-trip
  unchanged. Treat every field as hostile; text decoding (UTF-8 with ``surrogateescape``) and
  enum checks happen in ``tacacs.args`` and ``tacacs.connection``.
* Decoders read inside a bounded view of the body and require the field lengths to add up
  EXACTLY to the body length (section 4.5); they raise only ``DecodeError``.
* Encoders raise ``LocalProtocolError`` for a value that does not fit its length field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeAlias

from tacacs.constants import (
    HEADER_LENGTH,
    MAX_BODY_LENGTH,
    MAX_U8_FIELD,
    MAX_U16_FIELD,
    TAC_PLUS_MAJOR_VER,
    HeaderFlag,
    PacketType,
)
from tacacs.errors import DecodeError, DecodeFailure, LocalProtocolError

__all__ = [
    "AcctReply",
    "AcctRequest",
    "AuthenContinue",
    "AuthenReply",
    "AuthenStart",
    "AuthorRequest",
    "AuthorResponse",
    "Body",
    "ClientBody",
    "Header",
    "ServerBody",
    "decode_packet",
    "encode_packet",
    "obfuscate",
    "pull_acct_reply",
    "pull_acct_request",
    "pull_authen_continue",
    "pull_authen_reply",
    "pull_authen_start",
    "pull_author_request",
    "pull_author_response",
    "pull_body",
    "pull_header",
    "push_acct_reply",
    "push_acct_request",
    "push_authen_continue",
    "push_authen_reply",
    "push_authen_start",
    "push_author_request",
    "push_author_response",
    "push_body",
    "push_header",
]

_EMPTY_ARGS: tuple[bytes, ...] = ()


# --------------------------------------------------------------------------------------------
# Header and obfuscation


_UNENCRYPTED_FLAG = int(HeaderFlag.UNENCRYPTED)
_SINGLE_CONNECT_FLAG = int(HeaderFlag.SINGLE_CONNECT)


@dataclass(frozen=True, slots=True)
class Header:
    """The 12-byte cleartext header (RFC 8907 section 4.1). ``version`` is the whole octet
    (major << 4 | minor); ``length`` is the body length."""

    version: int
    type: int
    seq_no: int
    flags: int
    session_id: int
    length: int

    @property
    def major_version(self) -> int:
        return self.version >> 4

    @property
    def minor_version(self) -> int:
        return self.version & 0x0F

    @property
    def unencrypted(self) -> bool:
        return bool(self.flags & _UNENCRYPTED_FLAG)

    @property
    def single_connect(self) -> bool:
        return bool(self.flags & _SINGLE_CONNECT_FLAG)


def pull_header(data: bytes | bytearray | memoryview, *, max_body: int = MAX_BODY_LENGTH) -> Header:
    """Read the header from the first 12 octets of ``data`` (RFC 8907 section 4.1).

    Raises DecodeError(TRUNCATED) for fewer than 12 octets, DecodeError(BAD_VERSION) for a
    major_version other than 0xc, DecodeError(BODY_TOO_LONG) for a length above ``max_body``.
    The type is not checked here (section 3.6 answers an unknown type with the same header).
    """
    if len(data) < HEADER_LENGTH:
        raise DecodeError(DecodeFailure.TRUNCATED, f"header of {len(data)} octets")
    version = data[0]
    if version >> 4 != TAC_PLUS_MAJOR_VER:
        raise DecodeError(DecodeFailure.BAD_VERSION, f"major version {version >> 4:#x}")
    length = int.from_bytes(data[8:12], "big")
    if length > max_body:
        raise DecodeError(DecodeFailure.BODY_TOO_LONG, f"length {length} above {max_body}")
    return Header(
        version=version,
        type=data[1],
        seq_no=data[2],
        flags=data[3],
        session_id=int.from_bytes(data[4:8], "big"),
        length=length,
    )


def push_header(header: Header) -> bytes:
    """Encode the header (RFC 8907 section 4.1). Raises LocalProtocolError for a field out of
    range."""
    for name, value, limit in (
        ("version", header.version, 0xFF),
        ("type", header.type, 0xFF),
        ("seq_no", header.seq_no, 0xFF),
        ("flags", header.flags, 0xFF),
        ("session_id", header.session_id, 0xFFFFFFFF),
        ("length", header.length, 0xFFFFFFFF),
    ):
        if not 0 <= value <= limit:
            raise LocalProtocolError(f"header {name} {value} out of range")
    return (
        bytes((header.version, header.type, header.seq_no, header.flags))
        + header.session_id.to_bytes(4, "big")
        + header.length.to_bytes(4, "big")
    )


def _pad(n: int, session_id: int, key: bytes, version: int, seq_no: int) -> bytes:
    """The pseudo_pad of RFC 8907 section 4.5 truncated to ``n`` octets:
    MD5_1 = MD5{session_id, key, version, seq_no}, MD5_i = MD5{..., MD5_i-1}."""
    # MD5 is what the RFC specifies; it is obfuscation, not a security primitive here.
    seeded = hashlib.md5(
        session_id.to_bytes(4, "big") + key + bytes((version, seq_no)), usedforsecurity=False
    )
    prev = seeded.digest()
    if n <= 16:
        return prev[:n]
    parts = [prev]
    total = 16
    while total < n:
        h = seeded.copy()  # the seed is hashed once; each block adds the previous digest
        h.update(prev)
        prev = h.digest()
        parts.append(prev)
        total += 16
    return b"".join(parts)[:n]


def obfuscate(body: bytes, session_id: int, key: bytes, version: int, seq_no: int) -> bytes:
    """XOR ``body`` with the MD5 pseudo-pad (RFC 8907 section 4.5). Symmetric: the same call
    de-obfuscates. ``version`` is the whole version octet of the header."""
    n = len(body)
    if n == 0:
        return b""
    pad = _pad(n, session_id, key, version, seq_no)
    return (int.from_bytes(body, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")


# --------------------------------------------------------------------------------------------
# Bounded view


class _View:
    """A read cursor over ``data[start:end]`` that never reads past ``end``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.end:
            raise DecodeError(DecodeFailure.TRUNCATED, f"{what} needs {n} octets")

    def u8(self) -> int:
        self.need(1, "u8")
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16(self) -> int:
        self.need(2, "u16")
        v = (self.data[self.pos] << 8) | self.data[self.pos + 1]
        self.pos += 2
        return v

    def take(self, n: int) -> bytes:
        self.need(n, "field")
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v

    def expect_exact(self, lengths: Sequence[int], what: str) -> None:
        """Section 4.5: the variable fields must fill the rest of the body exactly."""
        want = sum(lengths)
        have = self.end - self.pos
        if want != have:
            raise DecodeError(
                DecodeFailure.LENGTH_MISMATCH, f"{what}: fields sum to {want}, {have} left"
            )

    def finish(self) -> None:
        if self.pos != self.end:
            raise DecodeError(DecodeFailure.LENGTH_MISMATCH, f"{self.end - self.pos} octets left")


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Wrap any stray low-level error into DecodeError (the public decoders raise only it)."""
    try:
        yield
    except DecodeError:
        raise
    except (IndexError, ValueError, TypeError, OverflowError) as exc:
        raise DecodeError(DecodeFailure.TRUNCATED, f"{what}: {type(exc).__name__}") from None


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


def _u8_len(name: str, value: bytes) -> int:
    n = len(value)
    if n > MAX_U8_FIELD:
        raise LocalProtocolError(f"{name} of {n} octets exceeds {MAX_U8_FIELD}")
    return n


def _u16_len(name: str, value: bytes) -> bytes:
    n = len(value)
    if n > MAX_U16_FIELD:
        raise LocalProtocolError(f"{name} of {n} octets exceeds {MAX_U16_FIELD}")
    return n.to_bytes(2, "big")


def _octets(**values: int) -> bytes:
    for name, v in values.items():
        if not 0 <= v <= 0xFF:
            raise LocalProtocolError(f"{name} {v} out of range 0..255")
    return bytes(values.values())


def _args_lens(args: Sequence[bytes]) -> bytes:
    if len(args) > MAX_U8_FIELD:
        raise LocalProtocolError(f"{len(args)} arguments exceed {MAX_U8_FIELD}")
    return bytes(_u8_len(f"argument {i + 1}", a) for i, a in enumerate(args))


# --------------------------------------------------------------------------------------------
# Authentication


@dataclass(frozen=True, slots=True)
class AuthenStart:
    """Authentication START body (RFC 8907 section 5.1). ``data`` may hold a PAP password or
    CHAP material (section 5.4.2), hence out of the repr."""

    action: int
    priv_lvl: int
    authen_type: int
    authen_service: int
    user: bytes = b""
    port: bytes = b""
    rem_addr: bytes = b""
    data: bytes = field(default=b"", repr=False)


def pull_authen_start(body: bytes | bytearray | memoryview) -> AuthenStart:
    """Decode an Authentication START body (RFC 8907 section 5.1)."""
    with _decoding("authen start"):
        v = _View(_as_bytes(body))
        action, priv_lvl, authen_type, service = v.u8(), v.u8(), v.u8(), v.u8()
        lens = (v.u8(), v.u8(), v.u8(), v.u8())
        v.expect_exact(lens, "authen start")
        user, port, rem_addr, data = (v.take(n) for n in lens)
        v.finish()
        return AuthenStart(action, priv_lvl, authen_type, service, user, port, rem_addr, data)


def push_authen_start(start: AuthenStart) -> bytes:
    """Encode an Authentication START body (RFC 8907 section 5.1)."""
    fields = (start.user, start.port, start.rem_addr, start.data)
    names = ("user", "port", "rem_addr", "data")
    return (
        _octets(
            action=start.action,
            priv_lvl=start.priv_lvl,
            authen_type=start.authen_type,
            authen_service=start.authen_service,
        )
        + bytes(_u8_len(n, f) for n, f in zip(names, fields, strict=True))
        + b"".join(fields)
    )


@dataclass(frozen=True, slots=True)
class AuthenReply:
    """Authentication REPLY body (RFC 8907 section 5.2)."""

    status: int
    flags: int = 0
    server_msg: bytes = b""
    data: bytes = field(default=b"", repr=False)


def pull_authen_reply(body: bytes | bytearray | memoryview) -> AuthenReply:
    """Decode an Authentication REPLY body (RFC 8907 section 5.2)."""
    with _decoding("authen reply"):
        v = _View(_as_bytes(body))
        status, flags = v.u8(), v.u8()
        lens = (v.u16(), v.u16())
        v.expect_exact(lens, "authen reply")
        server_msg, data = (v.take(n) for n in lens)
        v.finish()
        return AuthenReply(status, flags, server_msg, data)


def push_authen_reply(reply: AuthenReply) -> bytes:
    """Encode an Authentication REPLY body (RFC 8907 section 5.2)."""
    return (
        _octets(status=reply.status, flags=reply.flags)
        + _u16_len("server_msg", reply.server_msg)
        + _u16_len("data", reply.data)
        + reply.server_msg
        + reply.data
    )


@dataclass(frozen=True, slots=True)
class AuthenContinue:
    """Authentication CONTINUE body (RFC 8907 section 5.3). ``user_msg`` carries what the user
    typed, passwords included, hence out of the repr."""

    user_msg: bytes = field(default=b"", repr=False)
    data: bytes = field(default=b"", repr=False)
    flags: int = 0


def pull_authen_continue(body: bytes | bytearray | memoryview) -> AuthenContinue:
    """Decode an Authentication CONTINUE body (RFC 8907 section 5.3)."""
    with _decoding("authen continue"):
        v = _View(_as_bytes(body))
        lens = (v.u16(), v.u16())
        flags = v.u8()
        v.expect_exact(lens, "authen continue")
        user_msg, data = (v.take(n) for n in lens)
        v.finish()
        return AuthenContinue(user_msg, data, flags)


def push_authen_continue(cont: AuthenContinue) -> bytes:
    """Encode an Authentication CONTINUE body (RFC 8907 section 5.3)."""
    return (
        _u16_len("user_msg", cont.user_msg)
        + _u16_len("data", cont.data)
        + _octets(flags=cont.flags)
        + cont.user_msg
        + cont.data
    )


# --------------------------------------------------------------------------------------------
# Authorization


@dataclass(frozen=True, slots=True)
class AuthorRequest:
    """Authorization REQUEST body (RFC 8907 section 6.1); ``args`` raw, in wire order."""

    authen_method: int
    priv_lvl: int
    authen_type: int
    authen_service: int
    user: bytes = b""
    port: bytes = b""
    rem_addr: bytes = b""
    args: tuple[bytes, ...] = _EMPTY_ARGS


def _pull_request_tail(v: _View, what: str) -> tuple[bytes, bytes, bytes, tuple[bytes, ...]]:
    """user_len, port_len, rem_addr_len, arg_cnt, arg lengths, then the fields (6.1, 7.1).
    Reads the view's bytes directly (the request path's hottest decoder), with the same
    checks as the cursor methods: every length inside the body, the fields filling it exactly."""
    data, pos, end = v.data, v.pos, v.end
    if pos + 4 > end:
        raise DecodeError(DecodeFailure.TRUNCATED, f"{what}: lengths need 4 octets")
    user_len, port_len, rem_len, arg_cnt = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
    pos += 4
    if pos + arg_cnt > end:
        raise DecodeError(DecodeFailure.TRUNCATED, f"{what}: {arg_cnt} argument lengths")
    arg_lens = data[pos : pos + arg_cnt]
    pos += arg_cnt
    want = user_len + port_len + rem_len + sum(arg_lens)
    if want != end - pos:
        raise DecodeError(
            DecodeFailure.LENGTH_MISMATCH, f"{what}: fields sum to {want}, {end - pos} left"
        )
    user = data[pos : pos + user_len]
    pos += user_len
    port = data[pos : pos + port_len]
    pos += port_len
    rem_addr = data[pos : pos + rem_len]
    pos += rem_len
    args = []
    for n in arg_lens:
        args.append(data[pos : pos + n])
        pos += n
    v.pos = pos
    return user, port, rem_addr, tuple(args)


def _push_request_tail(user: bytes, port: bytes, rem_addr: bytes, args: Sequence[bytes]) -> bytes:
    lens = _args_lens(args)
    return (
        bytes(
            (
                _u8_len("user", user),
                _u8_len("port", port),
                _u8_len("rem_addr", rem_addr),
                len(args),
            )
        )
        + lens
        + user
        + port
        + rem_addr
        + b"".join(args)
    )


def pull_author_request(body: bytes | bytearray | memoryview) -> AuthorRequest:
    """Decode an Authorization REQUEST body (RFC 8907 section 6.1)."""
    with _decoding("author request"):
        v = _View(_as_bytes(body))
        method, priv_lvl, authen_type, service = v.u8(), v.u8(), v.u8(), v.u8()
        user, port, rem_addr, args = _pull_request_tail(v, "author request")
        return AuthorRequest(method, priv_lvl, authen_type, service, user, port, rem_addr, args)


def push_author_request(req: AuthorRequest) -> bytes:
    """Encode an Authorization REQUEST body (RFC 8907 section 6.1)."""
    return _octets(
        authen_method=req.authen_method,
        priv_lvl=req.priv_lvl,
        authen_type=req.authen_type,
        authen_service=req.authen_service,
    ) + _push_request_tail(req.user, req.port, req.rem_addr, req.args)


@dataclass(frozen=True, slots=True)
class AuthorResponse:
    """Authorization RESPONSE body (RFC 8907 section 6.2)."""

    status: int
    args: tuple[bytes, ...] = _EMPTY_ARGS
    server_msg: bytes = b""
    data: bytes = b""


def pull_author_response(body: bytes | bytearray | memoryview) -> AuthorResponse:
    """Decode an Authorization RESPONSE body (RFC 8907 section 6.2)."""
    with _decoding("author response"):
        v = _View(_as_bytes(body))
        status, arg_cnt = v.u8(), v.u8()
        msg_len, data_len = v.u16(), v.u16()
        arg_lens = [v.u8() for _ in range(arg_cnt)]
        v.expect_exact([msg_len, data_len, *arg_lens], "author response")
        server_msg, data = v.take(msg_len), v.take(data_len)
        args = tuple(v.take(n) for n in arg_lens)
        v.finish()
        return AuthorResponse(status, args, server_msg, data)


def push_author_response(resp: AuthorResponse) -> bytes:
    """Encode an Authorization RESPONSE body (RFC 8907 section 6.2)."""
    lens = _args_lens(resp.args)
    return (
        _octets(status=resp.status)
        + bytes((len(resp.args),))
        + _u16_len("server_msg", resp.server_msg)
        + _u16_len("data", resp.data)
        + lens
        + resp.server_msg
        + resp.data
        + b"".join(resp.args)
    )


# --------------------------------------------------------------------------------------------
# Accounting


@dataclass(frozen=True, slots=True)
class AcctRequest:
    """Accounting REQUEST body (RFC 8907 section 7.1); ``args`` raw, in wire order."""

    flags: int
    authen_method: int
    priv_lvl: int
    authen_type: int
    authen_service: int
    user: bytes = b""
    port: bytes = b""
    rem_addr: bytes = b""
    args: tuple[bytes, ...] = _EMPTY_ARGS


def pull_acct_request(body: bytes | bytearray | memoryview) -> AcctRequest:
    """Decode an Accounting REQUEST body (RFC 8907 section 7.1)."""
    with _decoding("acct request"):
        v = _View(_as_bytes(body))
        flags, method, priv_lvl, authen_type, service = v.u8(), v.u8(), v.u8(), v.u8(), v.u8()
        user, port, rem_addr, args = _pull_request_tail(v, "acct request")
        return AcctRequest(
            flags, method, priv_lvl, authen_type, service, user, port, rem_addr, args
        )


def push_acct_request(req: AcctRequest) -> bytes:
    """Encode an Accounting REQUEST body (RFC 8907 section 7.1)."""
    return _octets(
        flags=req.flags,
        authen_method=req.authen_method,
        priv_lvl=req.priv_lvl,
        authen_type=req.authen_type,
        authen_service=req.authen_service,
    ) + _push_request_tail(req.user, req.port, req.rem_addr, req.args)


@dataclass(frozen=True, slots=True)
class AcctReply:
    """Accounting REPLY body (RFC 8907 section 7.2)."""

    status: int
    server_msg: bytes = b""
    data: bytes = b""


def pull_acct_reply(body: bytes | bytearray | memoryview) -> AcctReply:
    """Decode an Accounting REPLY body (RFC 8907 section 7.2)."""
    with _decoding("acct reply"):
        v = _View(_as_bytes(body))
        lens = (v.u16(), v.u16())
        status = v.u8()
        v.expect_exact(lens, "acct reply")
        server_msg, data = (v.take(n) for n in lens)
        v.finish()
        return AcctReply(status, server_msg, data)


def push_acct_reply(reply: AcctReply) -> bytes:
    """Encode an Accounting REPLY body (RFC 8907 section 7.2)."""
    return (
        _u16_len("server_msg", reply.server_msg)
        + _u16_len("data", reply.data)
        + _octets(status=reply.status)
        + reply.server_msg
        + reply.data
    )


# --------------------------------------------------------------------------------------------
# Dispatch and whole packets

ClientBody: TypeAlias = AuthenStart | AuthenContinue | AuthorRequest | AcctRequest
ServerBody: TypeAlias = AuthenReply | AuthorResponse | AcctReply
Body: TypeAlias = ClientBody | ServerBody

_PUSHERS: dict[type, Callable[..., bytes]] = {
    AuthenStart: push_authen_start,
    AuthenReply: push_authen_reply,
    AuthenContinue: push_authen_continue,
    AuthorRequest: push_author_request,
    AuthorResponse: push_author_response,
    AcctRequest: push_acct_request,
    AcctReply: push_acct_reply,
}
_BODY_TYPES: dict[type, int] = {
    AuthenStart: PacketType.AUTHEN,
    AuthenReply: PacketType.AUTHEN,
    AuthenContinue: PacketType.AUTHEN,
    AuthorRequest: PacketType.AUTHOR,
    AuthorResponse: PacketType.AUTHOR,
    AcctRequest: PacketType.ACCT,
    AcctReply: PacketType.ACCT,
}


def pull_body(packet_type: int, seq_no: int, body: bytes | bytearray | memoryview) -> Body:
    """Decode a cleartext body by header type and seq_no: odd seq_no is a client packet
    (START at 1, CONTINUE after; REQUEST for authorization and accounting), even is a server
    reply (RFC 8907 sections 4.1, 5-7). Raises DecodeError(BAD_TYPE) for an unknown type."""
    client = seq_no % 2 == 1
    if packet_type == PacketType.AUTHEN:
        if client:
            return pull_authen_start(body) if seq_no == 1 else pull_authen_continue(body)
        return pull_authen_reply(body)
    if packet_type == PacketType.AUTHOR:
        return pull_author_request(body) if client else pull_author_response(body)
    if packet_type == PacketType.ACCT:
        return pull_acct_request(body) if client else pull_acct_reply(body)
    raise DecodeError(DecodeFailure.BAD_TYPE, f"type {packet_type:#x}")


def push_body(body: Body) -> bytes:
    """Encode any of the seven bodies."""
    return _PUSHERS[type(body)](body)


def decode_packet(
    data: bytes | bytearray | memoryview,
    key: bytes | None,
    *,
    max_body: int = MAX_BODY_LENGTH,
) -> tuple[Header, Body]:
    """Decode one complete packet (header, then the body de-obfuscated with ``key`` unless the
    UNENCRYPTED flag is set; sections 4.1, 4.5). Raises only DecodeError: TRUNCATED if fewer
    octets than the header announces, LENGTH_MISMATCH if more, TRUNCATED if the body is
    obfuscated and ``key`` is None."""
    data = _as_bytes(data)
    header = pull_header(data, max_body=max_body)
    total = HEADER_LENGTH + header.length
    if len(data) < total:
        raise DecodeError(DecodeFailure.TRUNCATED, f"{len(data)} of {total} octets")
    if len(data) > total:
        raise DecodeError(DecodeFailure.LENGTH_MISMATCH, f"{len(data) - total} trailing octets")
    body = data[HEADER_LENGTH:]
    if not header.unencrypted:
        if key is None:
            raise DecodeError(DecodeFailure.TRUNCATED, "obfuscated body and no key")
        body = obfuscate(body, header.session_id, key, header.version, header.seq_no)
    return header, pull_body(header.type, header.seq_no, body)


def encode_packet(
    body: Body,
    *,
    version: int,
    seq_no: int,
    session_id: int,
    key: bytes | None,
    flags: int = 0,
) -> bytes:
    """Header + body, the body obfuscated with ``key`` (sections 4.1, 4.5). ``key`` must be
    None exactly when ``flags`` has UNENCRYPTED; raises LocalProtocolError otherwise."""
    unencrypted = bool(flags & _UNENCRYPTED_FLAG)
    if unencrypted != (key is None):
        raise LocalProtocolError("key must be given exactly when the UNENCRYPTED flag is clear")
    raw = push_body(body)
    header = Header(version, _BODY_TYPES[type(body)], seq_no, flags, session_id, len(raw))
    head = push_header(header)
    if key is not None:
        raw = obfuscate(raw, session_id, key, version, seq_no)
    return head + raw
