"""TacacsService behind a real TacacsListener on 127.0.0.1: what the interop clients cannot
send (single-connect sessions across a policy reload, MS-CHAPv2, $enab15$, PASS_REPL,
rotated keys, connection limits), each over TCP with packets from the tacacs codec."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from nac.db.defaults import demo_policy
from nac.db.runtime import RuntimeUser
from nac.services.snapshot import build_snapshot
from nac.services.tacacs_service import TacacsService
from radius.mschap import generate_nt_response
from tacacs.aio import TacacsListener
from tacacs.constants import (
    AcctFlag,
    AuthenService,
    AuthenStatus,
    AuthenType,
    AuthorStatus,
    HeaderFlag,
)
from tacacs.packet import (
    AcctRequest,
    AuthenContinue,
    AuthenStart,
    AuthorRequest,
    decode_packet,
    encode_packet,
    pull_header,
)
from tests.services.support import FakeStore, Recorder, client, config

KEY = b"tacacs-key-1"
OLD_KEY = b"tacacs-key-0"


def _users() -> tuple[RuntimeUser, ...]:
    return (
        RuntimeUser(
            name="admin",
            password="admin-pass",
            enabled=True,
            groups=("netadmins",),
            enable_secret="enable-pass",
        ),
        RuntimeUser(name="ops", password="ops-pass", enabled=True, groups=("netops",)),
        RuntimeUser(name="gone", password="gone-pass", enabled=False, groups=("netops",)),
    )


def _snapshot(policy: dict[str, Any] | None = None) -> Any:
    device = client(
        tacacs_key=KEY.decode(), tacacs_extra_keys=(OLD_KEY.decode(),), enable_secret="dev-enable"
    )
    return build_snapshot(config(policy=policy or demo_policy(), clients=(device,), users=_users()))


@dataclass
class Served:
    store: FakeStore
    audit: Recorder
    accounting: Recorder
    listener: TacacsListener
    port: int


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    store = FakeStore(_snapshot())
    audit, accounting = Recorder(), Recorder()
    service = TacacsService(store=store, audit=audit, accounting=accounting, node="t")  # type: ignore[arg-type]
    listener = TacacsListener(
        device_for=service.device_for,
        handler=service.handle,
        on_event=service.on_event,
        max_per_device=3,
    )
    server = await listener.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Served(store, audit, accounting, listener, port)
    await listener.close()


class Client:
    """A TACACS+ client over one TCP connection, built on the codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes):
        self.reader, self.writer, self.key = reader, writer, key

    @classmethod
    async def connect(cls, port: int, key: bytes = KEY) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, key)

    async def exchange(
        self, body: Any, *, session_id: int, seq_no: int = 1, version: int = 0xC0, flags: int = 0
    ) -> Any:
        self.writer.write(
            encode_packet(
                body,
                version=version,
                seq_no=seq_no,
                session_id=session_id,
                key=self.key,
                flags=flags,
            )
        )
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readexactly(12), 5)
        header = pull_header(head)
        data = head + await self.reader.readexactly(header.length)
        got_header, reply = decode_packet(data, self.key)
        assert got_header.session_id == session_id and got_header.seq_no == seq_no + 1
        self.last_flags = got_header.flags
        return reply

    async def closed(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), 5) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


def _pap(user: str, password: str) -> AuthenStart:
    return AuthenStart(
        1,
        1,
        AuthenType.PAP,
        AuthenService.LOGIN,
        user.encode(),
        b"tty1",
        b"10.0.0.9",
        password.encode(),
    )


def _author(user: str, *args: str) -> AuthorRequest:
    return AuthorRequest(
        6,
        1,
        AuthenType.ASCII,
        AuthenService.LOGIN,
        user.encode(),
        b"tty1",
        b"10.0.0.9",
        tuple(a.encode() for a in args),
    )


def _sid() -> int:
    return int.from_bytes(os.urandom(4), "big")


async def test_single_connect_sessions_follow_a_policy_reload(served: Served) -> None:
    """A live single-connect connection is decided by the policy of the moment, not the one it
    was opened under (RFC 8907 4.3 connections can live for days)."""
    c = await Client.connect(served.port)
    single = int(HeaderFlag.SINGLE_CONNECT)
    reply = await c.exchange(
        _author("ops", "service=shell", "cmd=reload"), session_id=_sid(), flags=single
    )
    assert reply.status == AuthorStatus.FAIL and c.last_flags & single
    policy = demo_policy()
    policy["command_sets"]["netops"]["rules"].insert(0, {"action": "permit", "pattern": "reload"})
    served.store.current = _snapshot(policy)
    reply = await c.exchange(
        _author("ops", "service=shell", "cmd=reload"), session_id=_sid(), flags=single
    )
    assert reply.status == AuthorStatus.PASS_ADD
    c.close()


async def test_shell_start_replaces_a_privilege_the_client_asked_for(served: Served) -> None:
    c = await Client.connect(served.port)
    reply = await c.exchange(_author("ops", "service=shell", "priv-lvl=15"), session_id=_sid())
    assert reply.status == AuthorStatus.PASS_REPL
    assert b"priv-lvl=1" in reply.args and b"priv-lvl=15" not in reply.args
    c.close()
    c = await Client.connect(served.port)
    reply = await c.exchange(_author("ops", "service=shell"), session_id=_sid())
    assert reply.status == AuthorStatus.PASS_ADD and reply.args == (b"priv-lvl=1",)
    c.close()


async def test_a_disabled_or_unknown_user_fails_authorization_at_once(served: Served) -> None:
    for user, words in (("gone", b"user disabled"), ("nobody", b"unknown user")):
        c = await Client.connect(served.port)
        reply = await c.exchange(_author(user, "service=shell", "cmd=show"), session_id=_sid())
        assert reply.status == AuthorStatus.FAIL and words in reply.server_msg
        c.close()


async def test_mschapv2_login(served: Served) -> None:
    challenge, peer = os.urandom(16), os.urandom(16)
    for password, status in (("admin-pass", AuthenStatus.PASS), ("nope", AuthenStatus.FAIL)):
        nt = generate_nt_response(challenge, peer, b"admin", password)
        data = bytes([7]) + challenge + peer + bytes(8) + nt + b"\x00"
        start = AuthenStart(
            1, 1, AuthenType.MSCHAPV2, AuthenService.LOGIN, b"admin", b"tty1", b"10.0.0.9", data
        )
        c = await Client.connect(served.port)
        reply = await c.exchange(start, session_id=_sid(), version=0xC1)
        assert reply.status == status
        c.close()


async def _enable(port: int, user: str, secret: str) -> int:
    c = await Client.connect(port)
    sid = _sid()
    start = AuthenStart(
        1, 15, AuthenType.ASCII, AuthenService.ENABLE, user.encode(), b"tty1", b"10.0.0.9", b""
    )
    reply = await c.exchange(start, session_id=sid)
    assert reply.status == AuthenStatus.GETPASS
    reply = await c.exchange(AuthenContinue(secret.encode(), b"", 0), session_id=sid, seq_no=3)
    c.close()
    return int(reply.status)


async def test_enable_secrets(served: Served) -> None:
    assert await _enable(served.port, "admin", "enable-pass") == AuthenStatus.PASS
    assert await _enable(served.port, "admin", "dev-enable") == AuthenStatus.FAIL
    # $enab15$ (and no user): the device's enable secret.
    assert await _enable(served.port, "$enab15$", "dev-enable") == AuthenStatus.PASS
    assert await _enable(served.port, "", "dev-enable") == AuthenStatus.PASS
    # ops has no enable secret of its own, so the device's counts, but netops grants 1, not 15.
    assert await _enable(served.port, "ops", "dev-enable") == AuthenStatus.FAIL
    reasons = [item[10] for item in served.audit.items if item[7] == "enable"]
    assert "enable: privilege level 15 not authorized (shell profile priv-1 grants 1)" in reasons


async def test_rotated_key_is_accepted_and_a_wrong_one_gets_no_answer(served: Served) -> None:
    c = await Client.connect(served.port, key=OLD_KEY)
    reply = await c.exchange(_pap("admin", "admin-pass"), session_id=_sid(), version=0xC1)
    assert reply.status == AuthenStatus.PASS
    c.close()
    c = await Client.connect(served.port, key=b"some-other-key")
    c.writer.write(
        encode_packet(
            _pap("admin", "admin-pass"),
            version=0xC1,
            seq_no=1,
            session_id=_sid(),
            key=b"some-other-key",
        )
    )
    assert await c.closed()  # closed without a byte of garbage
    c.close()


async def test_accounting_is_answered_after_it_is_stored(served: Served) -> None:
    c = await Client.connect(served.port)
    req = AcctRequest(
        AcctFlag.START,
        6,
        1,
        AuthenType.ASCII,
        AuthenService.LOGIN,
        b"ops",
        b"tty1",
        b"10.0.0.9",
        (b"task_id=7", b"service=shell", b"cmd=show clock"),
    )
    reply = await c.exchange(req, session_id=_sid())
    assert reply.status == 1  # SUCCESS
    (record,) = served.accounting.items
    assert record.result == "start" and ("arg", "task_id=7") in record.request
    c.close()


async def test_connections_per_device_are_bounded(served: Served) -> None:
    held = [await Client.connect(served.port) for _ in range(3)]
    await asyncio.sleep(0.05)
    extra = await Client.connect(served.port)
    assert await extra.closed()
    assert served.listener.counters.get("refused_device_limit") == 1
    for c in held:
        c.close()


class _Transport:
    """What TacacsProtocol uses of a TCP transport; records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def _replies(data: bytes) -> list[Any]:
    out = []
    while data:
        header = pull_header(data[:12])
        out.append(decode_packet(data[: 12 + header.length], KEY)[1])
        data = data[12 + header.length :]
    return out


async def test_answers_of_one_loop_iteration_are_written_together(served: Served) -> None:
    """Answers made while one iteration's reads are handled go to the transports after
    them, back to back; a connection that closes after its answer (one session per
    connection) writes it before closing."""
    single = int(HeaderFlag.SINGLE_CONNECT)
    protocols = [served.listener() for _ in range(3)]
    transports = [_Transport() for _ in protocols]
    for protocol, transport in zip(protocols, transports, strict=True):
        protocol.connection_made(transport)  # type: ignore[arg-type]
    pap = _pap("admin", "admin-pass")
    protocols[0].data_received(
        encode_packet(pap, version=0xC1, seq_no=1, session_id=_sid(), key=KEY, flags=single)
    )
    author = _author("ops", "service=shell", "cmd=show", "cmd-arg=running-config")
    protocols[1].data_received(
        encode_packet(author, version=0xC0, seq_no=1, session_id=_sid(), key=KEY, flags=single)
    )
    wrong = _pap("admin", "wrong")
    protocols[2].data_received(
        encode_packet(wrong, version=0xC1, seq_no=1, session_id=_sid(), key=KEY)
    )
    # nothing written while reads are being handled, but for the connection that closed
    assert transports[0].writes == [] and transports[1].writes == []
    assert len(transports[2].writes) == 1 and transports[2].closed
    assert _replies(transports[2].writes[0])[0].status == AuthenStatus.FAIL
    await asyncio.sleep(0)
    assert [len(t.writes) for t in transports] == [1, 1, 1]
    assert _replies(transports[0].writes[0])[0].status == AuthenStatus.PASS
    assert _replies(transports[1].writes[0])[0].status == AuthorStatus.PASS_ADD
    assert not transports[0].closed and not transports[1].closed  # single-connect: kept
    for protocol in protocols:
        protocol.connection_lost(None)
