"""RADIUS meets policy: requests become an AccessContext, Decisions become replies.

This is the only place where the protocol and the policy engine meet (with the TACACS+
service later). Access-Requests are decided synchronously from the in-memory snapshot and
answered at once; the audit record goes to a batched writer. Accounting is answered only
after the batched writer has committed it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import count
from typing import Any, NamedTuple

from nac.db.records import AccountingRecordIn
from nac.services.identity import ChapCredentials, MacCredentials, PapCredentials, SnapshotResolver
from nac.services.render import ProfileRenderer
from nac.services.snapshot import ClientEntry, RuntimeSnapshot, SnapshotStore
from nac.services.writer import BatchWriter
from policy.engine import evaluate
from policy.mac import normalize_mac
from policy.model import (
    AccessContext,
    Decision,
    EndpointInfo,
    NasInfo,
    Outcome,
    ReasonCode,
    TraceStep,
)
from radius.constants import MICROSOFT, AttrType, Code
from radius.crypto import unhide_password
from radius.dictionary import RadiusDictionary
from radius.server import ClientConfig, RequestReceived

log = logging.getLogger("nac.radius")

Reply = tuple[int, Sequence[tuple[int, bytes]]]

# Never stored, shown or logged: password material.
_SECRET_TYPES = frozenset(
    {int(AttrType.UserPassword), int(AttrType.ChapPassword), int(AttrType.TunnelPassword)}
)

A_USER_NAME = int(AttrType.UserName)
A_USER_PASSWORD = int(AttrType.UserPassword)
A_CHAP_PASSWORD = int(AttrType.ChapPassword)
A_CHAP_CHALLENGE = int(AttrType.ChapChallenge)
A_NAS_IP = int(AttrType.NasIpAddress)
A_NAS_IPV6 = int(AttrType.NasIpv6Address)
A_NAS_ID = int(AttrType.NasIdentifier)
A_NAS_PORT = int(AttrType.NasPort)
A_NAS_PORT_ID = int(AttrType.NasPortId)
A_NAS_PORT_TYPE = int(AttrType.NasPortType)
A_SERVICE_TYPE = int(AttrType.ServiceType)
A_CALLED = int(AttrType.CalledStationId)
A_CALLING = int(AttrType.CallingStationId)
A_EAP = int(AttrType.EapMessage)
A_CLASS = int(AttrType.Class)
A_FRAMED_IP = int(AttrType.FramedIpAddress)
A_STATUS_TYPE = int(AttrType.AcctStatusType)
A_SESSION_ID = int(AttrType.AcctSessionId)
A_SESSION_TIME = int(AttrType.AcctSessionTime)
A_IN_OCTETS = int(AttrType.AcctInputOctets)
A_OUT_OCTETS = int(AttrType.AcctOutputOctets)
A_IN_GIGA = int(AttrType.AcctInputGigawords)
A_OUT_GIGA = int(AttrType.AcctOutputGigawords)
A_IN_PACKETS = int(AttrType.AcctInputPackets)
A_OUT_PACKETS = int(AttrType.AcctOutputPackets)
A_TERM_CAUSE = int(AttrType.AcctTerminateCause)
A_EVENT_TS = int(AttrType.EventTimestamp)
A_VSA = int(AttrType.VendorSpecific)
_MICROSOFT = MICROSOFT.to_bytes(4, "big")
# Microsoft VSAs carrying password material: MS-CHAP(2) responses and challenges, the
# MS-CHAP password-change attributes, MS-MPPE keys.
_MS_SECRET = frozenset(bytes((n,)) for n in (1, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 17, 25))


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace")


def _u32(value: bytes | None) -> int | None:
    if value is None or len(value) != 4:
        return None
    return int(struct.unpack("!I", value)[0])


def _ipv6(value: bytes | None) -> str | None:
    if value is None or len(value) != 16:
        return None
    return str(ipaddress.IPv6Address(value))


def _ipv4(value: bytes | None) -> str | None:
    if value is None or len(value) != 4:
        return None
    return f"{value[0]}.{value[1]}.{value[2]}.{value[3]}"


class _LazyAttributes(Mapping[str, tuple[str, ...]]):
    """Request attributes by dictionary name, decoded only if a policy rule asks."""

    __slots__ = ("_attrs", "_decoded", "_dictionary")

    def __init__(self, attrs: Sequence[tuple[int, bytes]], dictionary: RadiusDictionary) -> None:
        self._attrs = attrs
        self._dictionary = dictionary
        self._decoded: dict[str, tuple[str, ...]] | None = None

    def _table(self) -> dict[str, tuple[str, ...]]:
        if self._decoded is None:
            table: dict[str, list[str]] = {}
            for t, v in self._attrs:
                if t in _SECRET_TYPES:
                    continue
                for name, shown in self._dictionary.decode_attribute(t, v):
                    table.setdefault(name, []).append(shown)
            self._decoded = {k: tuple(v) for k, v in table.items()}
        return self._decoded

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


class PendingAudit(NamedTuple):
    """What the hot path hands to the audit writer; turned into a row off the hot path."""

    ts: float
    protocol: str
    nas: str
    nas_ip: str
    username: str | None
    mac: str | None
    method: str
    decision: Decision
    session_class: str | None
    latency_us: int
    request: Sequence[tuple[int, bytes]]
    reply: Sequence[tuple[int, bytes]]


class RadiusService:
    def __init__(
        self,
        *,
        store: SnapshotStore,
        audit: BatchWriter[PendingAudit],
        accounting: BatchWriter[AccountingRecordIn],
        dictionary: RadiusDictionary,
        node: str,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._audit = audit
        self._accounting = accounting
        self._dictionary = dictionary
        self._renderer = ProfileRenderer(dictionary)
        self._node = node
        self._token_bytes = token_bytes
        self._wall_clock = wall_clock
        self._resolver_for: tuple[RuntimeSnapshot | None, SnapshotResolver | None] = (None, None)
        self.hits: Counter[str] = Counter()
        self.results: Counter[str] = Counter()
        self._clients_seen: dict[str, float] = {}
        # Value names (Service-Type, NAS-Port-Type, ...) come from the shipped dictionary.
        self._service_types = _codes_to_names(dictionary, "Service-Type")
        self._port_types = _codes_to_names(dictionary, "NAS-Port-Type")
        self._terminate_causes = _codes_to_names(dictionary, "Acct-Terminate-Cause")
        self._nas_cache: dict[tuple[str, str], NasInfo] = {}
        self._cache_snapshot: RuntimeSnapshot | None = None
        self._display_cache: dict[tuple[int, bytes], list[tuple[str, str]]] = {}
        self._secret_names: dict[tuple[int, int], str] = {
            (t, 0): dictionary.name_of(t) or str(t) for t in _SECRET_TYPES
        }
        for n in _MS_SECRET:
            name = dictionary.name_of(n[0], MICROSOFT)
            self._secret_names[(A_VSA, n[0])] = name or f"Microsoft-{n[0]}"
        # Class cookies: unique per decision (node, start time, counter), not secret.
        self._class_prefix = f"nac:{node}:{token_bytes(4).hex()}:"
        self._class_counter = count(1)

    @staticmethod
    def _value_name(names: dict[int, str], code: int | None) -> str | None:
        if code is None:
            return None
        return names.get(code) or str(code)

    def take_clients_seen(self) -> dict[str, float]:
        """Client name -> wall time last heard from, since the previous call."""
        seen, self._clients_seen = self._clients_seen, {}
        return seen

    # -- client lookup for the protocol core -------------------------------------------

    def lookup_client(self, ip: str) -> ClientConfig | None:
        snapshot = self._store.current
        if snapshot is None:
            return None
        entry = snapshot.client_for_ip(ip)
        return entry.radius if entry is not None else None

    def _resolver(self, snapshot: RuntimeSnapshot) -> SnapshotResolver:
        cached_snapshot, resolver = self._resolver_for
        if cached_snapshot is not snapshot or resolver is None:
            resolver = SnapshotResolver(snapshot)
            self._resolver_for = (snapshot, resolver)
        return resolver

    # -- Access-Request ------------------------------------------------------------------

    def handle_auth(self, event: RequestReceived) -> Reply | None:
        started = time.perf_counter()
        snapshot = self._store.current
        if snapshot is None:
            return None
        client = snapshot.client_for_ip(event.addr[0])
        if client is None:  # the configuration changed under the request
            return None
        if snapshot is not self._cache_snapshot:
            self._cache_snapshot = snapshot
            self._nas_cache.clear()
        packet = event.packet
        username = password = chap = challenge = calling = called = None
        service = port_type = port_id = nas_ip = nas_ip6 = eap = None
        for t, v in packet.attributes:
            if t == A_USER_NAME:
                username = v
            elif t == A_USER_PASSWORD:
                password = v
            elif t == A_CALLING:
                calling = v
            elif t == A_SERVICE_TYPE:
                service = v
            elif t == A_NAS_PORT_TYPE:
                port_type = v
            elif t == A_NAS_IP:
                nas_ip = v
            elif t == A_CALLED:
                called = v
            elif t == A_NAS_PORT_ID:
                port_id = v
            elif t == A_CHAP_PASSWORD:
                chap = v
            elif t == A_CHAP_CHALLENGE:
                challenge = v
            elif t == A_EAP and eap is None:
                eap = v
            elif t == A_NAS_IPV6:
                nas_ip6 = v
        user_text = _text(username)
        calling_text = _text(calling)
        service_code = _u32(service)
        secret = client.radius.secret

        mac = normalize_mac(calling_text) if calling_text else None
        credentials: object | None = None
        if eap is not None:
            method = "eap"
        elif service_code == 10:  # Call-Check: MAC authentication bypass (Cisco, HPE, Juniper)
            method = "mab"
            mac = mac or (normalize_mac(user_text) if user_text else None)
        elif password is not None:
            method = "pap"
        elif chap is not None:
            method = "chap"
        else:
            method = "none"
        if method == "pap" and password is not None:
            clear = unhide_password(password, secret, packet.authenticator)
            user_mac = normalize_mac(user_text) if user_text else None
            # Aruba/Juniper-style MAB: PAP with the MAC as both user name and password.
            if user_mac is not None and (mac is None or mac == user_mac):
                clear_mac = normalize_mac(clear.decode("latin-1"))
                if clear_mac == user_mac:
                    method = "mab"
                    mac = user_mac
            if method == "pap":
                credentials = PapCredentials(clear)
        elif method == "chap" and chap is not None:
            credentials = ChapCredentials(chap, challenge or packet.authenticator)
        if method == "mab" and mac is not None:
            credentials = MacCredentials(mac)

        endpoint_entry = snapshot.endpoints.get(mac) if mac is not None else None
        endpoint = None
        if mac is not None:
            endpoint = EndpointInfo(
                mac=mac,
                known=endpoint_entry is not None,
                profile=endpoint_entry.profile if endpoint_entry else None,
                group=endpoint_entry.group if endpoint_entry else None,
            )
        nas_key = (client.name, _ipv4(nas_ip) or _ipv6(nas_ip6) or event.addr[0])
        nas = self._nas_cache.get(nas_key)
        if nas is None:
            base = client.nas
            nas = NasInfo(
                name=base.name,
                ip=nas_key[1],
                device_group=base.device_group,
                location=base.location,
                vendor=base.vendor,
            )
            if len(self._nas_cache) > 10_000:
                self._nas_cache.clear()
            self._nas_cache[nas_key] = nas
        wall = self._wall_clock()
        self._clients_seen[client.name] = wall
        now = datetime.fromtimestamp(wall, UTC)
        ctx = AccessContext(
            protocol="radius",
            now=now,
            nas=nas,
            auth_method=method,
            username=user_text,
            mac=mac,
            endpoint=endpoint,
            service_type=self._value_name(self._service_types, service_code),
            nas_port_type=self._value_name(self._port_types, _u32(port_type)),
            nas_port_id=_text(port_id),
            called_station_id=_text(called),
            calling_station_id=calling_text,
            ssid=_ssid(_text(called)),
            attributes=_LazyAttributes(packet.attributes, self._dictionary),
            credentials=credentials,
        )
        if method in ("eap", "none"):
            decision = _unsupported(ctx, method)
        else:
            decision = evaluate(snapshot.policy, ctx, self._resolver(snapshot))

        session_class: str | None = None
        if decision.outcome is Outcome.ACCEPT:
            code = int(Code.AccessAccept)
            profile = decision.profile
            rendered = self._renderer.render(profile, client.vendor) if profile else ()
            session_class = f"{self._class_prefix}{next(self._class_counter)}"
            attrs: list[tuple[int, bytes]] = [*rendered, (A_CLASS, session_class.encode())]
        else:
            code = int(Code.AccessReject)
            attrs = []
            profile = decision.profile
            if profile is not None and profile.reply_message:
                attrs.append((int(AttrType.ReplyMessage), profile.reply_message.encode()))
            if eap is not None and len(eap) >= 2:
                # RFC 3579 2.6.3: an Access-Reject answering EAP carries EAP-Failure.
                attrs.append((A_EAP, bytes((4, eap[1], 0, 4))))
        self._audit.submit(
            PendingAudit(
                wall,
                "radius",
                client.name,
                nas.ip,
                user_text,
                mac,
                method,
                decision,
                session_class,
                int((time.perf_counter() - started) * 1e6),
                packet.attributes,
                attrs,
            )
        )
        return code, attrs

    # -- Accounting-Request --------------------------------------------------------------

    async def handle_acct(self, event: RequestReceived) -> Reply | None:
        snapshot = self._store.current
        client = snapshot.client_for_ip(event.addr[0]) if snapshot is not None else None
        if client is None:
            return None
        self._clients_seen[client.name] = self._wall_clock()
        record = self.accounting_record(event, client)
        if record is None:
            log.warning("accounting request from %s without Acct-Status-Type dropped", client.name)
            return None
        try:
            await self._accounting.submit_wait(record)
        except Exception as exc:
            log.error("accounting from %s not stored, not answered: %s", client.name, exc)
            return None
        return int(Code.AccountingResponse), ()

    def accounting_record(
        self, event: RequestReceived, client: ClientEntry
    ) -> AccountingRecordIn | None:
        values: dict[int, bytes] = {}
        for t, v in event.packet.attributes:
            values.setdefault(t, v)
        status = _u32(values.get(A_STATUS_TYPE))
        if status is None:
            return None
        session_id = _text(values.get(A_SESSION_ID)) or ""
        username = _text(values.get(A_USER_NAME))
        nas_ip = _ipv4(values.get(A_NAS_IP)) or _ipv6(values.get(A_NAS_IPV6)) or event.addr[0]
        nas_port = _u32(values.get(A_NAS_PORT))
        nas_port_id = _text(values.get(A_NAS_PORT_ID))
        nas_identifier = _text(values.get(A_NAS_ID)) or ""
        # Acct-Unique-Session-Id is not on the wire (RFC 2866); build it from the parts that
        # identify one session on one NAS, as FreeRADIUS's acct_unique policy does.
        parts = "\x00".join(
            (
                client.name,
                nas_ip,
                nas_identifier,
                str(nas_port if nas_port is not None else ""),
                nas_port_id or "",
                session_id,
            )
        )
        unique_key = hashlib.sha256(parts.encode()).hexdigest()[:32]
        calling = _text(values.get(A_CALLING))
        event_ts = _u32(values.get(A_EVENT_TS))
        when = event_ts if event_ts is not None else self._wall_clock()
        in_octets = (_u32(values.get(A_IN_GIGA)) or 0) << 32 | (_u32(values.get(A_IN_OCTETS)) or 0)
        out_octets = (_u32(values.get(A_OUT_GIGA)) or 0) << 32 | (
            _u32(values.get(A_OUT_OCTETS)) or 0
        )
        cause = _u32(values.get(A_TERM_CAUSE))
        return AccountingRecordIn(
            status_type=status,
            event_time=datetime.fromtimestamp(when, UTC),
            unique_key=unique_key,
            acct_session_id=session_id,
            username=username,
            mac=normalize_mac(calling) if calling else None,
            nas_name=client.name,
            nas_ip=nas_ip,
            nas_port=nas_port,
            nas_port_id=nas_port_id,
            framed_ip=_ipv4(values.get(A_FRAMED_IP)),
            class_=_text(values.get(A_CLASS)),
            session_time=_u32(values.get(A_SESSION_TIME)),
            input_octets=in_octets,
            output_octets=out_octets,
            input_packets=_u32(values.get(A_IN_PACKETS)),
            output_packets=_u32(values.get(A_OUT_PACKETS)),
            terminate_cause=self._value_name(self._terminate_causes, cause) if cause else None,
        )

    # -- audit rows, built off the hot path ----------------------------------------------

    def audit_row(self, item: PendingAudit) -> tuple[Any, ...]:
        """The audit record as a tuple in ``AUDIT_FIELDS`` order (ts as a Unix time)."""
        d = item.decision
        self.results[d.outcome.value] += 1
        hits = self.hits
        for key in d.matched_rules:
            hits[key] += 1
        profile = d.profile
        return (
            item.ts,
            item.protocol,
            d.outcome.value,
            self._node,
            item.nas,
            item.nas_ip,
            item.username,
            item.mac,
            item.method,
            int(d.reason_code),
            d.reason,
            d.policy_set,
            d.authentication_rule,
            d.authorization_rule,
            profile.name if profile is not None else None,
            item.session_class,
            item.latency_us,
            self._display(item.request),
            self._display(item.reply),
            d.trace_lines(),
        )

    def _display(self, attrs: Sequence[tuple[int, bytes]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        cache = self._display_cache
        for t, v in attrs:
            if t in _SECRET_TYPES or (t == A_VSA and v[:4] == _MICROSOFT and v[4:5] in _MS_SECRET):
                name = self._secret_names.get((t, v[4] if t == A_VSA and len(v) > 4 else 0))
                out.append((name or str(t), "<hidden>"))
                continue
            key = (t, v)
            shown = cache.get(key)
            if shown is None:
                shown = self._dictionary.decode_attribute(t, v)
                if len(cache) > 50_000:
                    cache.clear()
                cache[key] = shown
            out.extend(shown)
        return out


def _codes_to_names(dictionary: RadiusDictionary, attribute: str) -> dict[int, str]:
    return {code: name for name, code in dictionary.value_names(attribute).items()}


def _ssid(called: str | None) -> str | None:
    """Called-Station-Id is 'AA-BB-CC-DD-EE-FF:SSID' on wireless (RFC 3580 3.20); the SSID
    may itself contain colons, so the MAC is matched first (17 or 12 characters)."""
    if not called:
        return None
    for width in (17, 14, 12):
        if (
            len(called) > width + 1
            and called[width] == ":"
            and normalize_mac(called[:width]) is not None
        ):
            return called[width + 1 :] or None
    return None


def _unsupported(ctx: AccessContext, method: str) -> Decision:
    if method == "eap":
        reason = "EAP is not enabled on this server yet"
        code = ReasonCode.METHOD_NOT_SUPPORTED
    else:
        reason = "no credentials in the request (no User-Password, CHAP-Password or EAP)"
        code = ReasonCode.MISSING_CREDENTIALS
    step = TraceStep(stage="authentication", name=method, matched=False, detail=reason)
    return Decision(
        outcome=Outcome.REJECT,
        reason_code=code,
        reason=reason,
        policy_set=None,
        authentication_rule=None,
        authorization_rule=None,
        profile=None,
        identity=None,
        trace=(step,),
        matched_rules=(),
    )
