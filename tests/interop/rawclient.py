"""A minimal RADIUS client for tests that need exact bytes (duplicates, malformed packets,
BlastRADIUS rules). Built on our codec; the behaviour tests elsewhere use radclient."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from radius.constants import AttrType, Code
from radius.crypto import hide_password, message_authenticator
from radius.packet import Packet, decode_packet, encode_packet

SECRET = b"testing123"


def access_request(
    user: str,
    password: str,
    *,
    identifier: int = 1,
    with_ma: bool = False,
    extra: Sequence[tuple[int, bytes]] = (),
    secret: bytes = SECRET,
) -> bytes:
    auth = os.urandom(16)
    attrs: list[tuple[int, bytes]] = [
        (int(AttrType.UserName), user.encode()),
        (int(AttrType.UserPassword), hide_password(password.encode(), secret, auth)),
        *extra,
    ]
    if with_ma:
        attrs.insert(0, (int(AttrType.MessageAuthenticator), bytes(16)))
    data = encode_packet(int(Code.AccessRequest), identifier, auth, attrs)
    if with_ma:
        mac = message_authenticator(data, secret)
        data = data[:22] + mac + data[38:]
    return data


class UdpClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)
        self.addr = (host, port)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.addr)

    def recv(self, timeout: float = 1.0) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(4096)
        except TimeoutError:
            return None
        return data

    def ask(self, data: bytes, timeout: float = 1.0) -> Packet | None:
        self.send(data)
        raw = self.recv(timeout)
        return decode_packet(raw) if raw is not None else None

    def close(self) -> None:
        self.sock.close()
