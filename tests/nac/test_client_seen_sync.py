"""Per-client state shared between workers through the database (nac.main._ClientSeenSync):
a worker that saw a client send Message-Authenticator tells the others within a sync."""

from __future__ import annotations

import time
from typing import Any, cast

from nac.core.secrets import SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import NasClientCreate
from nac.main import _ClientSeenSync
from nac.services.radius_service import RadiusService
from radius.server import RadiusServer


class _Service:
    """What the sync takes from a RadiusService: the clients heard from since last time."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def take_clients_seen(self) -> dict[str, float]:
        seen, self.seen = self.seen, {}
        return seen


def _worker(db: Database) -> tuple[_Service, RadiusServer, _ClientSeenSync]:
    service = _Service()
    server = RadiusServer(lambda _ip: None)
    return service, server, _ClientSeenSync(db, cast(RadiusService, service), server)


async def test_message_authenticator_sighting_reaches_the_other_worker(
    database: Database, box: SecretBox
) -> None:
    async with database.session() as s:
        for name in ("sw1", "sw2"):
            await crud.create_client(
                s, client=NasClientCreate(name=name, addresses=["10.0.0.1"], secret="s"), box=box
            )
    service_a, server_a, sync_a = _worker(database)
    _, server_b, sync_b = _worker(database)
    await sync_b.sync()
    assert not server_b.message_authenticator_seen("sw1")

    server_a.note_message_authenticator_seen("sw1")  # worker A saw one from sw1
    service_a.seen = {"sw1": time.time(), "sw2": time.time()}
    await sync_a.sync()
    await sync_b.sync()
    assert server_b.message_authenticator_seen("sw1")
    assert not server_b.message_authenticator_seen("sw2")
    async with database.session() as s:
        rows: dict[str, Any] = {c.name: c for c in await crud.list_clients(s)}
    assert rows["sw1"].message_authenticator_seen and rows["sw2"].last_seen is not None
    probe = sync_b._probe
    if database.dialect == "sqlite":
        assert probe.direct_reads == 2 and probe.pooled_reads == 0
    probe.close()
    sync_a._probe.close()
