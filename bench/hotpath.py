"""Per-request cost of each stage of the RADIUS hot path, in one process, no sockets.

Run: .venv/bin/python bench/hotpath.py
Prints microseconds per call for: receive_datagram, handle_auth (context + policy + render +
the audit item), reply (Message-Authenticator + Response Authenticator), and, off the request
path, the stored row the audit writer process makes of an item and the read-side replay.
Measured, not asserted: use it with a profiler to see what bounds the request rate.
"""

from __future__ import annotations

import asyncio
import os
import timeit

import _root  # noqa: F401  (first: bench/tacacs.py must not hide the tacacs package)

from nac.db.defaults import demo_policy
from nac.db.runtime import RuntimeClient, RuntimeConfig, RuntimeEndpoint, RuntimeUser
from nac.services.audit import STORED_COLUMNS, AuditRenderer, stored_row
from nac.services.radius_service import RadiusService
from nac.services.snapshot import build_snapshot
from nac.services.writer import BatchWriter
from radius.constants import AttrType, Code
from radius.crypto import hide_password, message_authenticator
from radius.dictionary import default_dictionary
from radius.packet import encode_packet
from radius.server import RadiusServer, RequestReceived

SECRET = b"testing123"


class _Store:
    def __init__(self, snapshot):
        self.current = snapshot


def make_request(user: str, password: str) -> bytes:
    auth = os.urandom(16)
    attrs = [
        (int(AttrType.MessageAuthenticator), bytes(16)),
        (int(AttrType.UserName), user.encode()),
        (int(AttrType.UserPassword), hide_password(password.encode(), SECRET, auth)),
        (int(AttrType.NasIpAddress), bytes([127, 0, 0, 1])),
        (int(AttrType.NasPort), (7).to_bytes(4, "big")),
    ]
    data = encode_packet(int(Code.AccessRequest), 1, auth, attrs)
    return data[:22] + message_authenticator(data, SECRET) + data[38:]


async def main() -> None:
    config = RuntimeConfig(
        version=1,
        policy=demo_policy(),
        policy_version=1,
        clients=(
            RuntimeClient(
                name="lab-switch",
                addresses=("127.0.0.0/8",),
                secret="testing123",
                tacacs_key=None,
                vendor="generic",
                device_group="",
                location="",
                require_message_authenticator="auto",
                limit_proxy_state="auto",
            ),
        ),
        users=(
            RuntimeUser(name="alice", password="alice-pass", enabled=True, groups=("employees",)),
        ),
        endpoints=(RuntimeEndpoint(mac="00:11:22:33:44:55", profile="printer", group=None),),
    )
    snapshot = build_snapshot(config)

    async def nothing(items):
        return None

    audit = BatchWriter(name="audit", flush=nothing)
    acct = BatchWriter(name="acct", flush=nothing)
    service = RadiusService(
        store=_Store(snapshot),  # type: ignore[arg-type]
        audit=audit,
        accounting=acct,
        dictionary=default_dictionary(),
        node="bench",
    )
    server = RadiusServer(service.lookup_client)
    packets = [make_request("alice", "alice-pass") for _ in range(200_000)]
    it = iter(packets)
    port = iter(range(10_000_000))

    def recv():
        return server.receive_datagram(next(it), ("127.0.0.1", next(port)), 1.0)

    events = [recv() for _ in range(50_000)]
    n = 40_000

    def per_call(fn, number=n):
        return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6

    print(f"receive_datagram      {per_call(recv):6.1f} us")
    ev = events[0]
    assert isinstance(ev, RequestReceived)
    print(f"handle_auth           {per_call(lambda: service.handle_auth(ev)):6.1f} us")
    audit._items.clear()
    code, attrs = service.handle_auth(ev)
    print(f"reply (M-A + auth)    {per_call(lambda: server.reply(ev, code, attrs, 1.0)):6.1f} us")
    item = audit._items[0]
    contexts: dict[object, str] = {}
    store = per_call(lambda: stored_row(item, sqlite=True, contexts=contexts))
    print(f"stored_row (writer)   {store:6.1f} us")
    from types import SimpleNamespace

    values = stored_row(item, sqlite=False)
    row = SimpleNamespace(
        id=1, request=None, reply=None, trace=None, **dict(zip(STORED_COLUMNS, values, strict=True))
    )
    renderer = AuditRenderer(default_dictionary(), lambda version: snapshot.policy)
    print(f"render + replay (read) {per_call(lambda: renderer.render(row), 2000):5.1f} us")
    print(f"writer process, per item {writer_cycle(item):5.1f} us  (unpickle, row, insert)")


def writer_cycle(item: tuple, batch: int = 500, batches: int = 40) -> float:
    """CPU per audit item in the writer process: a pickled batch as the pipe carries it,
    unpickled, made into rows and inserted (migrated SQLite file, WAL, its indexes)."""
    import pickle
    import tempfile
    import time
    from pathlib import Path

    from nac.core.config import Settings
    from nac.db.engine import create_sync_engine
    from nac.db.migrate import upgrade_database
    from nac.services.audit_process import AuditInserter

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        upgrade_database(settings)
        engine = create_sync_engine(settings)
        inserter = AuditInserter(engine)
        payload = pickle.dumps([item] * batch, protocol=pickle.HIGHEST_PROTOCOL)
        inserter.insert(inserter.rows(pickle.loads(payload)))  # warm
        start = time.process_time()
        for _ in range(batches):
            inserter.insert(inserter.rows(pickle.loads(payload)))
        spent = time.process_time() - start
        engine.dispose()
    return spent / (batch * batches) * 1e6


if __name__ == "__main__":
    asyncio.run(main())
