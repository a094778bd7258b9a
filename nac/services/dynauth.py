"""RFC 5176 dynamic authorization: nac as the CoA client of its NASes.

When an endpoint's state changes (posture, profile, blocked), a user is disabled, or an admin
asks for it on a live session, ``DynamicAuthorizer`` finds the ACTIVE accounting sessions
concerned, picks each session's NAS from the running snapshot (secret, vendor, CoA and
Disconnect ports, coa_mode), and sends a Disconnect-Request or CoA-Request
(``radius.coa.session_request``: the vendor's dialect, only the identifiers it matches on).
Retransmissions back off exponentially (``coa_timeout``, doubled each time, ``coa_tries`` in
all). Each exchange and its answer (ACK, NAK with Error-Cause in words, timeout) is written to
the audit log (protocol "coa") and as an EndpointEvent of kind "coa", in one transaction.

Before a state-change trigger sends anything it waits ``settle`` seconds, so the workers'
snapshots (endpoint state polled every 100 ms, configuration every second) hold the new state
when the NAS comes back with the re-authentication.

Which request: ``coa_mode`` "off" sends nothing; "disconnect" always disconnects; "auto" asks
a Cisco NAS to re-authenticate in place (CoA ``subscriber:command=reauthenticate``) and
disconnects elsewhere; "coa" also sends a CoA-Request to other vendors, carrying the
authorization re-decided from the session's last decision with the endpoint's new state (a
reject, or no decision to start from, falls back to a Disconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nac.db import crud
from nac.db.engine import Database, StateProbe
from nac.db.models import AccountingSession
from nac.db.records import AuditRecordIn
from nac.services.audit import CONTEXT_FIELDS, AuditRenderer
from nac.services.render import ProfileRenderer
from nac.services.snapshot import ClientEntry, SnapshotStore
from policy.model import Outcome
from radius.coa import (
    Action,
    CoaClient,
    Outgoing,
    PacketDiscarded,
    ResponseReceived,
    SessionIdentity,
    TimedOut,
    session_request,
)
from radius.constants import Code
from radius.dictionary import RadiusDictionary, default_dictionary
from radius.errors import LocalProtocolError

log = logging.getLogger("nac.coa")

Attribute = tuple[int, bytes]
# A hook giving the authorization a CoA-Request applies in place (None: disconnect instead).
Authorizer = Callable[[AccountingSession, ClientEntry], Awaitable[Sequence[Attribute] | None]]

# State changes the workers learn by a configuration reload (once a second), not by the
# 100 ms endpoint-state poll.
CONFIG_TRIGGERS = frozenset({"endpoint-blocked", "endpoint-unblocked", "user-disabled"})
CONFIG_POLL = 1.0


@dataclass(frozen=True, slots=True)
class CoaOutcome:
    """One session's dynamic authorization exchange, as audited."""

    session_id: int | None
    mac: str | None
    username: str | None
    nas: str | None
    nas_ip: str | None
    action: str  # disconnect | reauthenticate | coa-with-attributes | ...
    request: str  # Disconnect-Request | CoA-Request | "" (nothing sent)
    result: str  # ack | nak | timeout | skipped | error
    reason: str = ""
    error_causes: tuple[int, ...] = ()
    attempts: int = 0
    latency_ms: float = 0.0
    trigger: str = ""


def calling_station_id(row: AccountingSession) -> str | None:
    """Calling-Station-Id as the NAS sent it when accounting kept it; otherwise the MAC in the
    RFC 3580 3.21 form (``00-11-22-33-44-55``, upper case), which 802.1X switches and hostapd
    send."""
    raw = getattr(row, "calling_station_id", None)
    if raw:
        return str(raw)
    if row.mac:
        return row.mac.replace(":", "-").upper()
    return None


def session_identity(row: AccountingSession) -> SessionIdentity:
    class_ = row.class_
    return SessionIdentity(
        nas_ip=row.nas_ip,
        acct_session_id=row.acct_session_id or None,
        calling_station_id=calling_station_id(row),
        username=row.username,
        nas_port=row.nas_port,
        nas_port_id=row.nas_port_id,
        framed_ip=row.framed_ip,
        class_=class_.encode() if class_ else None,
    )


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, owner: DynamicAuthorizer, family: int, index: int) -> None:
        self.owner = owner
        self.family = family
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._datagram(self.family, self.index, data, addr)

    def error_received(self, exc: Exception) -> None:
        self.owner.counters["socket_errors"] += 1


@dataclass(slots=True)
class _Family:
    core: CoaClient
    sockets: list[_Socket] = field(default_factory=list)


class DynamicAuthorizer:
    """The CoA client (one per process that sends; ``nac.main`` makes it in worker 0)."""

    def __init__(
        self,
        *,
        db: Database,
        store: SnapshotStore,
        node: str = "",
        timeout: float = 1.0,
        tries: int = 3,
        settle: float = 0.25,
        config_poll: float = CONFIG_POLL,
        max_sockets: int = 16,
        dictionary: RadiusDictionary | None = None,
        renderer: AuditRenderer | None = None,
        authorizer: Authorizer | None = None,
        wall_clock: Callable[[], float] = time.time,
        applied: Callable[[], Sequence[int]] | None = None,
    ) -> None:
        self._db = db
        # The endpoint sequence each worker's snapshot holds (nac.main's shared slots): with
        # it an endpoint trigger waits only until every worker has the change, ``settle`` at
        # most; without it, ``settle`` always.
        self._applied = applied
        self._store = store
        self.node = node
        self.timeout = timeout
        self.tries = tries
        self.settle = settle
        self.config_poll = config_poll
        self.max_sockets = max_sockets
        self._dictionary = dictionary or default_dictionary()
        self._renderer = renderer or AuditRenderer(self._dictionary)
        self._profiles = ProfileRenderer(self._dictionary)
        self._authorizer = authorizer or self.redecided_authorization
        self._wall = wall_clock
        self._families: dict[int, _Family] = {}
        self._waiting: dict[int, asyncio.Future[ResponseReceived | TimedOut]] = {}
        self._next_tag = 0
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._open_lock = asyncio.Lock()
        self.counters: dict[str, int] = {}
        self._closed = False

    # -- the triggers ----------------------------------------------------------------------

    async def endpoint_changed(
        self,
        mac: str,
        *,
        trigger: str,
        detail: str = "",
        settle: float | None = None,
        action: Action | str | None = None,
    ) -> list[CoaOutcome]:
        """Re-authorize every active session of ``mac`` after its state changed (posture,
        profile, blocked ...): a CoA or a Disconnect per NAS capabilities, after the workers
        had time to see the change. ``action`` forces one (e.g. "disconnect")."""
        await self._settle(trigger, settle)
        async with self._db.session() as session:
            rows = await crud.list_sessions(session, status="active", mac=mac, limit=50)
        return await self._run_all(rows, action, trigger=trigger, detail=detail, admin=None)

    async def user_changed(
        self, username: str, *, trigger: str, detail: str = "", settle: float | None = None
    ) -> list[CoaOutcome]:
        """Disconnect (or re-authorize) every active session of ``username``."""
        await self._settle(trigger, settle)
        async with self._db.session() as session:
            rows = await crud.list_sessions(session, status="active", username=username, limit=50)
        action = Action.disconnect if trigger == "user-disabled" else None
        return await self._run_all(rows, action, trigger=trigger, detail=detail, admin=None)

    async def session_action(
        self, session_id: int, action: Action | str, *, admin: str
    ) -> CoaOutcome:
        """An admin's "reauthenticate" or "disconnect" on one live session (raises
        NotFoundError for an unknown session)."""
        act = Action(action)
        async with self._db.session() as session:
            row = await crud.get_accounting_session(session, id=session_id)
        forced = Action.disconnect if act is Action.disconnect else None
        return await self._run(row, forced, trigger=f"admin-{act.value}", detail="", admin=admin)

    def schedule(self, method: str, *args: Any, **kwargs: Any) -> asyncio.Task[Any] | None:
        """Fire and forget ``endpoint_changed`` / ``user_changed`` / ``session_action``: the
        task is kept until done and a failure is logged, never raised to the caller."""
        if self._closed:
            return None
        coro: Coroutine[Any, Any, Any] = getattr(self, method)(*args, **kwargs)
        task = asyncio.get_running_loop().create_task(coro, name=f"coa-{method}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("dynamic authorization failed: %s", exc, exc_info=exc)

    async def follow_profile_changes(self, stop: asyncio.Event, *, interval: float = 0.5) -> None:
        """Re-authorize on profile changes made by any process of this node: the profiler runs
        in every worker (accounting reaches any of them), this authorizer only in worker 0, so
        the changes are read back from ``endpoint_events`` (those stamped with this node's
        name: every node acts on its own, so no CoA is sent twice).

        Events are only looked for when the endpoint state sequence moved (``StateProbe``, a
        cheap read): every event is written with a state change that takes the next number,
        so an unmoved sequence means no new event, and a busy worker is spared a query on the
        database driver's thread twice a second."""
        probe = StateProbe(self._db)
        async with self._db.session() as session:
            last = await crud.last_endpoint_event_id(session)
        looked_at = -1  # the sequence when events were last read
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                if stop.is_set():
                    return
                try:
                    _, seq = await probe.read()
                    if seq == looked_at:
                        continue
                    # read before the events: those of every state change up to ``seq`` are
                    # committed, so all of them are in this read (later ones move it again)
                    async with self._db.session() as session:
                        events = await crud.list_endpoint_events(session, after_id=last, limit=500)
                except Exception as exc:
                    log.warning("reading endpoint events failed: %s", exc)
                    continue
                looked_at = seq if len(events) < 500 else -1  # a full page: more to read
                for event in events:
                    last = max(last, event.id or 0)
                    self._follow(event)
        finally:
            probe.close()

    def _follow(self, event: Any) -> None:
        detail = event.detail or {}
        if event.kind != "profile_change" or detail.get("node", "") != self.node:
            return
        words = f"{detail.get('from') or '-'} -> {detail.get('to') or '-'}"
        self.schedule("endpoint_changed", event.mac, trigger="profile", detail=words)

    async def drain(self) -> None:
        """Wait for every scheduled trigger to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        await self.drain()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for fam in self._families.values():
            for sock in fam.sockets:
                if sock.transport is not None:
                    sock.transport.close()
        self._families.clear()

    async def _settle(self, trigger: str, settle: float | None) -> None:
        wait = self.settle if settle is None else settle
        if settle is None and trigger in CONFIG_TRIGGERS:
            wait += self.config_poll
        elif settle is None and self._applied is not None and wait > 0:
            await self._until_applied(wait)
            return
        if wait > 0:
            await asyncio.sleep(wait)

    async def _until_applied(self, wait: float) -> None:
        """Wait until every worker's snapshot holds the endpoint state committed now (at most
        ``wait`` seconds: a stalled worker costs the old fixed delay, no more)."""
        assert self._applied is not None
        async with self._db.session() as session:
            target = await crud.get_endpoint_seq(session)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if min(self._applied(), default=target) >= target:
                self.counters["settled"] = self.counters.get("settled", 0) + 1
                return
            if loop.time() >= deadline:
                self.counters["settle_timeouts"] = self.counters.get("settle_timeouts", 0) + 1
                return
            await asyncio.sleep(0.005)

    # -- one session -----------------------------------------------------------------------

    async def _run_all(
        self,
        rows: Sequence[AccountingSession],
        action: Action | str | None,
        *,
        trigger: str,
        detail: str,
        admin: str | None,
    ) -> list[CoaOutcome]:
        results = await asyncio.gather(
            *(self._run(row, action, trigger=trigger, detail=detail, admin=admin) for row in rows)
        )
        return list(results)

    def _client_for(self, row: AccountingSession) -> ClientEntry | None:
        snapshot = self._store.current
        if snapshot is None:
            return None
        if row.nas_name:
            for client in snapshot.clients:
                if client.name == row.nas_name:
                    return client
        return snapshot.client_for_ip(row.nas_ip) if row.nas_ip else None

    async def _plan(
        self, row: AccountingSession, client: ClientEntry, forced: Action | str | None
    ) -> tuple[Action, Sequence[Attribute]]:
        """What to ask of ``client`` for ``row`` (see the module docstring)."""
        if forced is not None:
            return Action(forced), ()
        mode, vendor = client.coa_mode, client.vendor
        if mode == "disconnect":
            return Action.disconnect, ()
        if mode == "coa" and vendor != "cisco":
            attributes = await self._authorizer(row, client)
            if attributes:
                return Action.coa, attributes
        # Cisco re-authenticates in place; elsewhere this is a Disconnect-Request, after which
        # the supplicant re-authenticates (radius.coa.session_request).
        return Action.reauthenticate, ()

    async def _run(
        self,
        row: AccountingSession,
        forced: Action | str | None,
        *,
        trigger: str,
        detail: str,
        admin: str | None,
    ) -> CoaOutcome:
        client = self._client_for(row)
        base: dict[str, Any] = {
            "session_id": row.id,
            "mac": row.mac,
            "username": row.username,
            "nas": client.name if client else row.nas_name,
            "nas_ip": row.nas_ip,
            "trigger": trigger,
        }
        trace = [f"trigger: {trigger}" + (f" ({detail})" if detail else "")]
        if admin:
            trace.append(f"asked by admin {admin}")
        if client is None:
            outcome = CoaOutcome(
                **base,
                action=str(forced or ""),
                request="",
                result="skipped",
                reason=f"no NAS client for {row.nas_name or row.nas_ip}",
            )
            await self._record(outcome, trace, [], [])
            return outcome
        if client.coa_mode == "off":
            outcome = CoaOutcome(
                **base,
                action=str(forced or ""),
                request="",
                result="skipped",
                reason=f"dynamic authorization is off for NAS {client.name}",
            )
            await self._record(outcome, trace, [], [])
            return outcome
        action, attributes = await self._plan(row, client, forced)
        try:
            code, attrs = session_request(client.vendor, action, session_identity(row), attributes)
        except LocalProtocolError as exc:
            outcome = CoaOutcome(
                **base, action=action.value, request="", result="error", reason=str(exc)
            )
            await self._record(outcome, trace, [], [])
            return outcome
        request_name = "Disconnect-Request" if code == Code.DisconnectRequest else "CoA-Request"
        port = client.disconnect_port if code == Code.DisconnectRequest else client.coa_port
        trace.append(
            f"{client.vendor} NAS {client.name} (coa_mode {client.coa_mode}): {action.value} "
            f"as {request_name} to {row.nas_ip} port {port}"
        )
        started = time.monotonic()
        try:
            got = await self._exchange(row.nas_ip or "", port, code, attrs, client.radius.secret)
        except OSError as exc:
            outcome = CoaOutcome(
                **base,
                action=action.value,
                request=request_name,
                result="error",
                reason=f"cannot send: {exc}",
            )
            await self._record(outcome, trace, attrs, [])
            return outcome
        elapsed = (time.monotonic() - started) * 1000
        if isinstance(got, TimedOut):
            outcome = CoaOutcome(
                **base,
                action=action.value,
                request=request_name,
                result="timeout",
                reason=f"no answer after {got.attempts} tries",
                attempts=got.attempts,
                latency_ms=elapsed,
            )
            trace.append(f"no answer after {got.attempts} tries (backoff from {self.timeout} s)")
            await self._record(outcome, trace, list(got.request.attributes), [])
            return outcome
        response = got.response
        answer = {41: "Disconnect-ACK", 42: "Disconnect-NAK", 44: "CoA-ACK", 45: "CoA-NAK"}
        outcome = CoaOutcome(
            **base,
            action=action.value,
            request=request_name,
            result="ack" if response.acked else "nak",
            reason=response.reason or (answer[response.code]),
            error_causes=response.error_causes,
            attempts=got.attempts,
            latency_ms=elapsed,
        )
        trace.append(
            f"{answer[response.code]} after {got.attempts} "
            f"{'try' if got.attempts == 1 else 'tries'}"
            + (f": {response.reason}" if response.reason else "")
        )
        await self._record(outcome, trace, list(got.request.attributes), list(response.attributes))
        return outcome

    # -- the re-decided authorization for "coa" mode -----------------------------------------

    async def redecided_authorization(
        self, row: AccountingSession, client: ClientEntry
    ) -> Sequence[Attribute] | None:
        """The attributes of the session's last accept decided again with the current policy
        and the endpoint's current state (posture, profile, group); None when there is no
        decision to start from, or it now rejects."""
        snapshot = self._store.current
        if snapshot is None or not row.mac:
            return None
        async with self._db.session() as session:
            found = await crud.list_audit(
                session, mac=row.mac, result="accept", protocol="radius", limit=1
            )
        if not found or not found[-1].context:
            return None
        last = found[-1]
        try:
            _ts, *context = json.loads(last.context or "")
            fields = dict(zip(CONTEXT_FIELDS, context, strict=True))
        except (ValueError, TypeError):
            return None
        entry = snapshot.endpoints.get(row.mac)
        if entry is not None:
            fields["posture"] = entry.posture_state
            fields["endpoint"] = (entry.registered, entry.profile, entry.group)
        decision = self._renderer.replay(last, self._wall(), fields, snapshot.policy)
        if decision.outcome is not Outcome.ACCEPT or decision.profile is None:
            return None
        return list(self._profiles.render(decision.profile, client.vendor))

    # -- the wire --------------------------------------------------------------------------

    async def _family(self, family: int) -> _Family:
        fam = self._families.get(family)
        if fam is None:
            fam = _Family(CoaClient(sockets=0, timeout=self.timeout, tries=self.tries))
            self._families[family] = fam
        if not fam.sockets:
            await self._add_socket(family, fam)
        return fam

    async def _add_socket(self, family: int, fam: _Family) -> None:
        async with self._open_lock:
            loop = asyncio.get_running_loop()
            index = len(fam.sockets)
            host = "::" if family == socket.AF_INET6 else "0.0.0.0"  # noqa: S104 - any source
            _, proto = await loop.create_datagram_endpoint(
                lambda: _Socket(self, family, index), local_addr=(host, 0), family=family
            )
            fam.sockets.append(proto)
            fam.core.add_socket()

    async def _exchange(
        self, ip: str, port: int, code: int, attrs: Sequence[Attribute], secret: bytes
    ) -> ResponseReceived | TimedOut:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        fam = await self._family(family)
        loop = asyncio.get_running_loop()
        tag = self._next_tag
        self._next_tag += 1
        while True:
            out = fam.core.send(
                (ip, port),
                code,
                attrs,
                secret,
                now=loop.time(),
                event_timestamp=int(self._wall()),
                tag=tag,
            )
            if out is not None:
                break
            if len(fam.sockets) < self.max_sockets:
                await self._add_socket(family, fam)  # 256 more identifiers towards that NAS
                continue
            self._room.clear()
            await self._room.wait()
        future: asyncio.Future[ResponseReceived | TimedOut] = loop.create_future()
        self._waiting[tag] = future
        self._send(fam, out)
        self._ensure_timer()
        try:
            return await future
        finally:
            self._waiting.pop(tag, None)

    def _send(self, fam: _Family, out: Outgoing) -> None:
        transport = fam.sockets[out.socket].transport
        if transport is None or transport.is_closing():
            return
        transport.sendto(out.data, out.addr)
        self.counters["sent" if out.attempt == 1 else "retransmitted"] = (
            self.counters.get("sent" if out.attempt == 1 else "retransmitted", 0) + 1
        )

    def _datagram(self, family: int, index: int, data: bytes, addr: Any) -> None:
        fam = self._families.get(family)
        if fam is None:
            return
        event = fam.core.receive_datagram(index, data, addr)
        match event:
            case ResponseReceived(tag=tag):
                self._resolve(tag, event)
            case PacketDiscarded(reason=reason, addr=src, detail=detail):
                key = f"discarded_{reason.value}"
                self.counters[key] = self.counters.get(key, 0) + 1
                log.debug("dropped CoA answer from %s: %s %s", src[0], reason.value, detail)

    def _resolve(self, tag: Any, event: ResponseReceived | TimedOut) -> None:
        future = self._waiting.get(tag)
        if future is not None and not future.done():
            future.set_result(event)
        self._room.set()

    def _ensure_timer(self) -> None:
        self._wake.set()
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._timers(), name="coa-timer")

    async def _timers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            deadlines = [
                d for fam in self._families.values() if (d := fam.core.next_deadline()) is not None
            ]
            if not deadlines:
                await self._wake.wait()
                continue
            delay = max(0.0, min(deadlines) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            now = loop.time()
            for fam in self._families.values():
                for item in fam.core.handle_timer(now):
                    if isinstance(item, Outgoing):
                        self._send(fam, item)
                    else:
                        self._resolve(item.tag, item)

    # -- the record ------------------------------------------------------------------------

    def _words(self, attrs: Sequence[Attribute]) -> list[list[str]]:
        rows: list[list[str]] = []
        for t, v in attrs:
            rows.extend([name, value] for name, value in self._dictionary.decode_attribute(t, v))
        return rows

    async def _record(
        self,
        outcome: CoaOutcome,
        trace: list[str],
        request: Sequence[Attribute],
        reply: Sequence[Attribute],
    ) -> None:
        log.info(
            "CoA %s %s to %s for %s: %s %s",
            outcome.action or "-",
            outcome.request or "(not sent)",
            outcome.nas or outcome.nas_ip,
            outcome.mac or outcome.username,
            outcome.result,
            outcome.reason,
        )
        audit = AuditRecordIn(
            ts=datetime.now(UTC),
            protocol="coa",
            result=outcome.result,
            node=self.node,
            nas_name=outcome.nas,
            nas_ip=outcome.nas_ip,
            username=outcome.username,
            mac=outcome.mac,
            method=outcome.action or None,
            reason_code=outcome.error_causes[0] if outcome.error_causes else 0,
            reason=outcome.reason,
            latency_us=int(outcome.latency_ms * 1000),
            request=self._words(request),
            reply=self._words(reply),
            trace=trace,
        )
        detail = {
            "session_id": outcome.session_id,
            "trigger": outcome.trigger,
            "action": outcome.action,
            "request": outcome.request,
            "result": outcome.result,
            "reason": outcome.reason,
            "error_causes": list(outcome.error_causes),
            "nas": outcome.nas,
            "attempts": outcome.attempts,
        }
        try:
            async with self._db.session() as session:
                await crud.record_coa(session, audit=audit, mac=outcome.mac, detail=detail)
        except Exception as exc:  # the exchange happened; a failed record must not hide it
            log.error("CoA record not written: %s", exc)
