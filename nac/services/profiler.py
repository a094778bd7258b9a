"""The profiler: signals from DHCP, RADIUS accounting and capture become endpoint state.

Sources hand observations to ``Profiler.submit`` (never blocks, never touches the database:
the RADIUS hot path and the DHCP listener call it). A task coalesces them per MAC and writes
with ``crud.set_endpoint_state`` (fields and events in one transaction): a profile change at
once, other changes at most once per ``min_interval`` per MAC, and a MAC whose signals only
repeat (counts and timestamps) at most once per ``refresh_interval``. So a DHCP storm costs
at most one write per MAC per second, and a flood of MACs is bounded by ``max_pending``
(the rest are dropped and counted).

The decisions themselves are pure (``posture.profiling.evaluate``): OUI vendor (netaddr's
copy of the IEEE registry, no network), the locally administered bit, accumulated signals,
weighted rules (from the ``profile_rules`` table, reloaded every few seconds) and hysteresis.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from nac.db import crud
from nac.db.engine import Database, StateProbe
from nac.db.models import Endpoint, normalize_mac
from nac.db.profiles import ENABLED_RULES_SQL, RULE_FIELDS
from posture.dhcp import DhcpMessage, DhcpMessageType
from posture.profiling import (
    Hysteresis,
    ProfileRule,
    RuleError,
    compile_rules,
    current_values,
    dhcp_signals,
    evaluate,
    is_locally_administered,
    mac_signals,
)

log = logging.getLogger("nac.profiler")

ProfileCallback = Callable[[str, str | None, str | None], "Awaitable[Any] | None"]

# DHCP messages a client sends; DHCPREQUEST decides, DISCOVER/INFORM/DECLINE/RELEASE only add
# signals. Server messages (OFFER, ACK, NAK: op BOOTREPLY) are not the client's own words.
_DECIDES = frozenset({DhcpMessageType.DHCPREQUEST})
_ACCUMULATES = frozenset(
    {DhcpMessageType.DHCPDISCOVER, DhcpMessageType.DHCPINFORM, DhcpMessageType.DHCPREQUEST}
)


@dataclass(slots=True)
class Observation:
    """What one packet or accounting record says about one MAC."""

    mac: str
    signals: dict[str, str]
    channel: str  # dhcp, radius-acct, capture
    decide: bool  # choose the profile now (a DHCPREQUEST, an accounting record)
    user: str | None = None  # the accounting User-Name (not for MAB, where it is the MAC)


def observe_dhcp(msg: DhcpMessage, *, channel: str = "dhcp") -> Observation | str:
    """An observation from a client's DHCP message, or why it is ignored (a counter name)."""
    if msg.op != 1:
        return "ignored_reply"
    kind = msg.message_type
    if kind is None:
        return "ignored_bootp"
    if kind not in _ACCUMULATES:
        return "ignored_type"
    mac = msg.mac
    if mac is None or mac == "00:00:00:00:00:00":
        return "ignored_no_mac"
    return Observation(mac=mac, signals=dhcp_signals(msg), channel=channel, decide=kind in _DECIDES)


@lru_cache(maxsize=4096)
def _oui_org(prefix: str) -> str | None:
    from netaddr import EUI
    from netaddr.core import NotRegisteredError

    try:
        org = EUI(prefix + ":00:00:00").oui.registration().org
    except (NotRegisteredError, ValueError, IndexError):
        return None
    return str(org).strip() or None


def oui_vendor(mac: str) -> str | None:
    """The IEEE registration of the MAC's OUI (netaddr ships the registry); None for a
    locally administered (randomized) or unregistered MAC."""
    if is_locally_administered(mac):
        return None
    return _oui_org(mac[:8])


@dataclass(slots=True)
class _Pending:
    signals: dict[str, str] = field(default_factory=dict)
    channel: str = "dhcp"
    decide: bool = False
    user: str | None = None
    packets: int = 0


@dataclass(slots=True)
class _Known:
    """What this process last wrote (or read) for a MAC."""

    written_at: float
    values: dict[str, str]
    profile: str | None
    fields: dict[str, Any]


_FIELDS = (
    "profile",
    "profile_source",
    "profile_confidence",
    "vendor",
    "randomized",
    "hostname",
    "dhcp_fingerprint",
    "dhcp_vendor_class",
    "last_user",
)


@dataclass(slots=True)
class _Row:
    profile: str | None
    confidence: int
    source: str | None
    registered: bool
    signals: dict[str, Any]
    fields: dict[str, Any]


@dataclass(slots=True)
class ProfilerStats:
    observed: int = 0
    coalesced: int = 0
    dropped: int = 0  # pending table full
    written: int = 0
    write_errors: int = 0
    profile_changes: int = 0
    spoofing_events: int = 0


class Profiler:
    def __init__(
        self,
        *,
        db: Database,
        node: str = "",
        on_profile_change: ProfileCallback | None = None,
        min_interval: float = 1.0,
        refresh_interval: float = 60.0,
        tick: float = 0.1,
        rules_every: float = 5.0,
        max_pending: int = 50_000,
        cache_size: int = 100_000,
        params: Hysteresis = Hysteresis(),  # noqa: B008 - frozen
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rules: Iterable[ProfileRule] | None = None,
    ) -> None:
        self._db = db
        self.node = node  # stamped on its events: the node whose dynamic authorizer acts
        self.on_profile_change = on_profile_change
        self._min_interval = min_interval
        self._refresh = refresh_interval
        self._tick = tick
        self._rules_every = rules_every
        self._max_pending = max_pending
        self._cache_size = cache_size
        self._params = params
        self._clock = clock
        self._wall = wall
        self._fixed_rules = rules is not None
        self.rules: tuple[ProfileRule, ...] = tuple(rules or ())
        self._rules_at: float | None = None
        self._rule_rows: list[tuple[Any, ...]] | None = None
        self._probe = StateProbe(db)
        self._pending: dict[str, _Pending] = {}
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats = ProfilerStats()

    # -- intake (sync, no I/O) --------------------------------------------------------------

    def submit(self, obs: Observation) -> bool:
        """Queue an observation; False when the pending table is full (dropped, counted)."""
        try:
            mac = normalize_mac(obs.mac)
        except ValueError:
            return False
        self.stats.observed += 1
        pending = self._pending.get(mac)
        if pending is None:
            if len(self._pending) >= self._max_pending:
                self.stats.dropped += 1
                return False
            pending = self._pending[mac] = _Pending(channel=obs.channel)
        else:
            self.stats.coalesced += 1
        pending.signals.update(obs.signals)
        pending.decide = pending.decide or obs.decide
        if obs.signals or obs.decide:
            pending.channel = obs.channel
        if obs.user:
            pending.user = obs.user
        pending.packets += 1
        self._wake.set()
        return True

    def submit_dhcp(self, msg: DhcpMessage, *, channel: str = "dhcp") -> str:
        """Observe a client's DHCP message; returns "profiled" or why it was ignored."""
        obs = observe_dhcp(msg, channel=channel)
        if isinstance(obs, str):
            return obs
        return "profiled" if self.submit(obs) else "dropped_full"

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- the writer task --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._tick * 10)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                log.warning("profiler: %s", exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._tick)
        with suppress(Exception):
            await self.flush(force=True)
        self._probe.close()

    async def load_rules(self) -> None:
        """Read the enabled rules (every ``rules_every`` seconds): one plain statement through
        ``StateProbe`` (in the loop on SQLite, not on the driver's thread), compiled again only
        when they changed."""
        rows = await self._probe.rows(ENABLED_RULES_SQL)
        if rows == self._rule_rows:
            return
        self._rule_rows = rows
        items = [dict(zip(RULE_FIELDS, row, strict=True)) for row in rows]
        rules: list[ProfileRule] = []
        for item in items:  # one bad row (edited by hand) must not stop profiling
            try:
                rules.extend(compile_rules([item]))
            except RuleError as exc:
                log.warning("profiler: rule skipped: %s", exc)
        self.rules = tuple(rules)

    async def flush(self, *, force: bool = False) -> int:
        """Write what is due (everything when ``force``). Returns the endpoints written."""
        now = self._clock()
        if not self._fixed_rules and (
            self._rules_at is None or now - self._rules_at >= self._rules_every
        ):
            self._rules_at = now
            await self.load_rules()
        if not self._pending:
            return 0
        due = [mac for mac, p in self._pending.items() if force or self._is_due(mac, p, now)]
        if not due:
            return 0
        taken = {mac: self._pending.pop(mac) for mac in due}
        written = 0
        changes: list[tuple[str, str | None, str | None]] = []
        async with self._db.session() as session:
            rows = await self._rows(session, list(taken))
            await crud.end_read(session)
            for mac, pending in taken.items():
                row = rows.get(mac)
                try:
                    change = await self._apply(session, mac, pending, row)
                except Exception as exc:
                    self.stats.write_errors += 1
                    log.warning("profiler: endpoint %s not updated: %s", mac, exc)
                    continue
                if change is not None:
                    written += 1
                    if change[0] != change[1]:
                        changes.append((mac, change[0], change[1]))
        for mac, old, new in changes:
            self._notify(mac, old, new)
        return written

    def _is_due(self, mac: str, pending: _Pending, now: float) -> bool:
        known = self._known.get(mac)
        if known is None:
            return True
        if now - known.written_at >= self._min_interval:
            return True
        # A profile change is written at once: judge it on what this process knows.
        if not pending.decide:
            return False
        out = evaluate(
            stored={k: {"value": v} for k, v in known.values.items()},
            new=pending.signals,
            now=self._wall(),
            rules=self.rules,
            profile=known.profile,
            confidence=int(known.fields.get("profile_confidence", 0)),
            source=known.fields.get("profile_source"),
            channel=pending.channel,
            params=Hysteresis(
                self._params.margin, 10**6, self._params.min_confidence, self._params.confident
            ),
        )
        return out.changed or bool(out.events)

    async def _rows(self, session: Any, macs: list[str]) -> dict[str, _Row]:
        """The MACs' rows as plain data (read in batches, before the writes)."""
        out: dict[str, _Row] = {}
        for i in range(0, len(macs), 500):
            chunk = macs[i : i + 500]
            stmt = select(Endpoint).where(col(Endpoint.mac).in_(chunk))
            for row in (await session.execute(stmt)).scalars():
                out[row.mac] = _Row(
                    profile=row.profile,
                    confidence=row.profile_confidence,
                    source=row.profile_source,
                    registered=row.registered,
                    signals=dict(row.signals or {}),
                    fields={name: getattr(row, name) for name in _FIELDS},
                )
        return out

    async def _apply(
        self, session: Any, mac: str, pending: _Pending, row: _Row | None
    ) -> tuple[str | None, str | None] | None:
        """Fold one MAC's pending signals into its row; write when something is due.
        Returns (old profile, new profile) when written, None when nothing needed writing."""
        vendor = oui_vendor(mac)
        new = dict(mac_signals(mac, vendor))
        new.update(pending.signals)
        stored: dict[str, Any] = row.signals if row is not None else {}
        profile = row.profile if row is not None else None
        confidence = row.confidence if row is not None else 0
        source = row.source if row is not None else None
        if row is not None and row.registered and row.profile and source is None:
            source = "admin"  # set by an administrator before profile_source was recorded
        out = evaluate(
            stored=stored,
            new=new,
            now=self._wall(),
            rules=self.rules,
            profile=profile,
            confidence=confidence,
            source=source,
            channel=pending.channel,
            decide=pending.decide,
            params=self._params,
        )
        values = current_values(out.signals)
        fields: dict[str, Any] = {
            "vendor": vendor,
            "randomized": is_locally_administered(mac),
            "hostname": values.get("hostname"),
            "dhcp_fingerprint": values.get("dhcp.params"),
            "dhcp_vendor_class": values.get("dhcp.vendor_class"),
            "profile_confidence": out.confidence,
        }
        if out.profile != profile or source != "admin":
            fields["profile"] = out.profile
            fields["profile_source"] = out.source
        if pending.user:
            fields["last_user"] = pending.user[:253]
        for name in ("hostname", "dhcp_fingerprint", "dhcp_vendor_class"):
            if fields[name] is not None:
                fields[name] = fields[name][: 253 if name != "dhcp_fingerprint" else 512]
        material = (
            row is None
            or bool(out.events)
            or out.changed
            or any(row.fields.get(k) != v for k, v in fields.items())
            or current_values(stored) != values
            or _hysteresis(stored) != _hysteresis(out.signals)
        )
        now = self._clock()
        known = self._known.get(mac)
        if not material and known is not None and now - known.written_at < self._refresh:
            self._remember(
                mac, now=known.written_at, values=values, profile=out.profile, fields=fields
            )
            return None
        await crud.set_endpoint_state(
            session,
            mac=mac,
            events=[(kind, {**detail, "node": self.node}) for kind, detail in out.events],
            signals=out.signals,
            last_seen=self._wall(),
            **fields,
        )
        self.stats.written += 1
        for kind, _ in out.events:
            if kind == "profile_change":
                self.stats.profile_changes += 1
            elif kind == "possible_spoofing":
                self.stats.spoofing_events += 1
                log.warning("possible MAC spoofing on %s: %s -> %s", mac, profile, out.profile)
        self._remember(mac, now=now, values=values, profile=out.profile, fields=fields)
        return profile, out.profile

    def _remember(
        self,
        mac: str,
        *,
        now: float,
        values: dict[str, str],
        profile: str | None,
        fields: dict[str, Any],
    ) -> None:
        self._known[mac] = _Known(now, values, profile, fields)
        self._known.move_to_end(mac)
        while len(self._known) > self._cache_size:
            self._known.popitem(last=False)

    def _notify(self, mac: str, old: str | None, new: str | None) -> None:
        callback = self.on_profile_change
        if callback is None:
            return
        try:
            result = callback(mac, old, new)
        except Exception as exc:
            log.warning("profile change callback for %s failed: %s", mac, exc)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("profile change callback failed: %s", task.exception())


def _hysteresis(signals: Mapping[str, Any]) -> Any:
    return signals.get("profile.candidate"), signals.get("profile.mismatch")
