"""A tiny TACACS+ client for connection tests: builds client packets, decodes server ones."""

from __future__ import annotations

from dataclasses import dataclass

from tacacs.constants import HEADER_LENGTH, HeaderFlag
from tacacs.packet import (
    AcctRequest,
    AuthenContinue,
    AuthenStart,
    AuthorRequest,
    Body,
    Header,
    decode_packet,
    encode_packet,
    pull_header,
)

KEY = b"s3cret-key"

ASCII_START = AuthenStart(1, 1, 1, 1, b"", b"tty0", b"192.0.2.7")


def split_packets(data: bytes) -> list[bytes]:
    out = []
    while data:
        h = pull_header(data)
        n = HEADER_LENGTH + h.length
        out.append(data[:n])
        data = data[n:]
    return out


def decode_replies(data: bytes, key: bytes | None = KEY) -> list[tuple[Header, Body]]:
    out = []
    for raw in split_packets(data):
        h = pull_header(raw)
        out.append(decode_packet(raw, None if h.unencrypted else key))
    return out


def decode_one(data: bytes, key: bytes | None = KEY) -> tuple[Header, Body]:
    replies = decode_replies(data, key)
    assert len(replies) == 1, replies
    return replies[0]


@dataclass
class Client:
    session_id: int = 0x5EED0001
    key: bytes | None = KEY
    version: int = 0xC0
    single: bool = False

    def packet(
        self,
        body: AuthenStart | AuthenContinue | AuthorRequest | AcctRequest,
        seq: int = 1,
        *,
        version: int | None = None,
        flags: int | None = None,
    ) -> bytes:
        if flags is None:
            flags = HeaderFlag.SINGLE_CONNECT if self.single else 0
            if self.key is None:
                flags |= HeaderFlag.UNENCRYPTED
        return encode_packet(
            body,
            version=self.version if version is None else version,
            seq_no=seq,
            session_id=self.session_id,
            key=None if flags & HeaderFlag.UNENCRYPTED else self.key,
            flags=flags,
        )
