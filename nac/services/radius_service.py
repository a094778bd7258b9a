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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any

from nac.db.records import AccountingRecordIn
from nac.services.audit import RequestAttributes, authn_record, endpoint_record
from nac.services.eap_service import METHOD_NAMES, EapService
from nac.services.identity import (
    ChapCredentials,
    EapAuthenticated,
    MacCredentials,
    MsChapCredentials,
    PapCredentials,
    SnapshotResolver,
)
from nac.services.metrics import LatencyHistogram
from nac.services.profiler import Observation, Profiler
from nac.services.render import ProfileRenderer
from nac.services.snapshot import ClientEntry, RuntimeSnapshot, SnapshotStore
from nac.services.writer import BatchWriter
from policy.engine import evaluate
from policy.mac import normalize_mac
from policy.model import (
    AccessContext,
    AuthnResult,
    Decision,
    EndpointInfo,
    NasInfo,
    Outcome,
    ReasonCode,
    TraceStep,
)
from posture.profiling import accounting_signals
from radius.constants import CISCO, MICROSOFT, AttrType, Code
from radius.crypto import hide_password, unhide_password
from radius.dictionary import RadiusDictionary
from radius.eap import (
    ChallengeIssued,
    Discarded,
    EapType,
    Failed,
    Succeeded,
    eap_message_from_attributes,
    mppe_key_attributes,
    split_eap_message,
)
from radius.eap.keys import mppe_keys
from radius.errors import DecodeError
from radius.mschap import (
    generate_authenticator_response_from_hash,
    mppe_keys_v2,
    ms_chap2_success,
    ms_chap_error,
    mschap_v1_mppe_keys,
    nt_password_hash,
)
from radius.packet import Packet, encode_vsa, pull_vsa
from radius.server import ClientConfig, RequestReceived

log = logging.getLogger("nac.radius")

Reply = tuple[int, Sequence[tuple[int, bytes]]]

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
A_STATE = int(AttrType.State)
A_FRAMED_MTU = int(AttrType.FramedMtu)
A_CHALLENGE = int(Code.AccessChallenge)
A_ACCEPT = int(Code.AccessAccept)
A_REJECT = int(Code.AccessReject)
A_REPLY_MESSAGE = int(AttrType.ReplyMessage)
_OUTCOME_TEXT = {o: o.value for o in Outcome}
_UNKNOWN_ENDPOINT: tuple[bool, str | None, str | None] = (False, None, None)
_CISCO_VENDOR = CISCO.to_bytes(4, "big")


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


class RadiusService:
    def __init__(
        self,
        *,
        store: SnapshotStore,
        audit: BatchWriter[tuple[Any, ...]],
        accounting: BatchWriter[AccountingRecordIn],
        dictionary: RadiusDictionary,
        node: str,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        wall_clock: Callable[[], float] = time.time,
        eap: EapService | None = None,
        profiler: Profiler | None = None,
    ) -> None:
        self._store = store
        self._profiler = profiler  # device-sensor attributes in accounting (issue 6)
        self._eap = eap
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
        # For nac.services.metrics, read when scraped: (NAS client, result, reason code) ->
        # decisions; (NAS client, stored|failed|malformed) -> accounting requests.
        self.decisions: dict[tuple[str, str, int], int] = {}
        self.accounting_results: dict[tuple[str, str], int] = {}
        self.challenges: dict[str, int] = {}
        self.latency = LatencyHistogram()
        self._clients_seen: dict[str, float] = {}
        # Value names (Service-Type, NAS-Port-Type, ...) come from the shipped dictionary.
        self._service_types = _codes_to_names(dictionary, "Service-Type")
        self._port_types = _codes_to_names(dictionary, "NAS-Port-Type")
        self._terminate_causes = _codes_to_names(dictionary, "Acct-Terminate-Cause")
        self._nas_cache: dict[tuple[str, bytes | None, bytes | None, str], NasInfo] = {}
        self._cache_snapshot: RuntimeSnapshot | None = None
        self._authn_records: dict[int, tuple[AuthnResult, tuple[Any, ...] | None]] = {}
        self.eap_discards: Counter[str] = Counter()
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
            self._new_snapshot(snapshot)
        packet = event.packet
        username = password = chap = challenge = calling = called = None
        service = port_type = port_id = nas_ip = nas_ip6 = eap = None
        vsas: list[bytes] | None = None
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
            elif t == A_VSA:
                if vsas is None:
                    vsas = [v]
                else:
                    vsas.append(v)
        user_text = None if username is None else username.decode("utf-8", "replace")
        calling_text = None if calling is None else calling.decode("utf-8", "replace")
        service_code = _u32(service) if service is not None else None

        mac = normalize_mac(calling_text) if calling_text else None
        credentials: object | None = None
        done: _EapDone | None = None
        if eap is not None:
            method = "eap"
            if self._eap is not None:
                step = self._eap_step(event)
                if not isinstance(step, _EapDone):
                    if step is not None:
                        self.challenges[client.name] = self.challenges.get(client.name, 0) + 1
                    return step  # an Access-Challenge, or None: dropped
                done = step
                method = step.method
                user_text = step.username
                credentials = EapAuthenticated(method)
        elif service_code == 10:  # Call-Check: MAC authentication bypass (Cisco, HPE, Juniper)
            method = "mab"
            mac = mac or (normalize_mac(user_text) if user_text else None)
        elif password is not None:
            method = "pap"
        elif chap is not None:
            method = "chap"
        else:
            method = "none"
            if vsas is not None:
                mschap = _mschap_credentials(vsas, username or b"")
                if mschap is not None:
                    method = "mschapv2" if mschap.version == 2 else "mschap"
                    credentials = mschap
        if method == "pap" and password is not None:
            clear = unhide_password(password, client.radius.secret, packet.authenticator)
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

        endpoint: EndpointInfo | None = None
        endpoint_facts: tuple[Any, ...] | None = None
        posture = "unknown"
        if mac is not None:
            entry = snapshot.endpoints.get(mac)
            if entry is None:
                endpoint = EndpointInfo(mac=mac, known=False)
                endpoint_facts = _UNKNOWN_ENDPOINT
            else:
                endpoint = entry.info  # built once per snapshot entry
                posture = entry.posture_state
                endpoint_facts = endpoint_record(entry)
        nas_key = (client.name, nas_ip, nas_ip6, event.addr[0])
        nas = self._nas_cache.get(nas_key)
        if nas is None:
            nas = self._nas_info(client, nas_key)
        wall = self._wall_clock()
        self._clients_seen[client.name] = wall
        called_text = None if called is None else called.decode("utf-8", "replace")
        service_name = self._value_name(self._service_types, service_code)
        port_type_name = (
            None if port_type is None else self._value_name(self._port_types, _u32(port_type))
        )
        port_id_text = None if port_id is None else port_id.decode("utf-8", "replace")
        ssid = _ssid(called_text)
        ctx = AccessContext(
            protocol="radius",
            now=datetime.fromtimestamp(wall, UTC),
            nas=nas,
            auth_method=method,
            username=user_text,
            mac=mac,
            endpoint=endpoint,
            service_type=service_name,
            nas_port_type=port_type_name,
            nas_port_id=port_id_text,
            called_station_id=called_text,
            calling_station_id=calling_text,
            ssid=ssid,
            posture=posture,
            attributes=RequestAttributes(packet.attributes, self._dictionary),
            certificate=done.certificate if done is not None else _NO_CERTIFICATE,
            credentials=credentials,
        )
        policy_version: int | None = snapshot.policy_version
        if done is not None and done.decision is not None:
            decision = done.decision  # the EAP method or the certificate check said no
            policy_version = None
        elif method == "eap" or method == "none":
            decision = _unsupported(method)
            policy_version = None
        else:
            decision = evaluate(snapshot.policy, ctx, self._resolver(snapshot), trace=False)

        session_class: str | None = None
        profile = decision.profile
        outcome = decision.outcome
        if outcome is Outcome.ACCEPT:
            code = A_ACCEPT
            rendered = self._renderer.render(profile, client.vendor) if profile else ()
            session_class = f"{self._class_prefix}{next(self._class_counter)}"
            attrs: list[tuple[int, bytes]] = [*rendered, (A_CLASS, session_class.encode())]
            if type(credentials) is MsChapCredentials:
                user = snapshot.users.get(user_text or "")
                if user is not None:
                    attrs += _mschap_accept(
                        credentials, user.password, client.radius.secret, packet, self._token_bytes
                    )
            elif done is not None:
                attrs += self._eap_accept(done, client.radius.secret, packet)
        else:
            code = A_REJECT
            attrs = []
            if profile is not None and profile.reply_message:
                attrs.append((A_REPLY_MESSAGE, profile.reply_message.encode()))
            if done is not None:
                attrs += [(A_EAP, v) for v in split_eap_message(done.eap_failure)]
                if self._eap is not None and done.state is not None:
                    self._eap.manager.finish(done.state, accepted=False, now=time.monotonic())
            elif eap is not None and len(eap) >= 2:
                # RFC 3579 2.6.3: an Access-Reject answering EAP carries EAP-Failure.
                attrs.append((A_EAP, bytes((4, eap[1], 0, 4))))
            if type(credentials) is MsChapCredentials:
                # RFC 2548 2.1.5: the NAS relays the failure to the peer; no retry offered.
                version = 3 if credentials.version == 2 else 2
                challenge = bytes(8) if version == 2 else b""  # MS-CHAPv1 challenges are 8
                error = ms_chap_error(credentials.ident, version=version, challenge=challenge)
                attrs.append((A_VSA, encode_vsa(MICROSOFT, 2, error)))
        result = _OUTCOME_TEXT[outcome]
        reason_code = int(decision.reason_code)
        self.results[result] += 1
        counted = (client.name, result, reason_code)
        decisions = self.decisions
        decisions[counted] = decisions.get(counted, 0) + 1
        hits = self.hits
        for key in decision.matched_rules:
            hits[key] += 1
        latency_us = int((time.perf_counter() - started) * 1e6)
        self.latency.observe(latency_us)
        self._audit.submit(
            (
                wall,
                "radius",
                self._node,
                client.name,
                nas.ip,
                user_text,
                mac,
                method,
                result,
                reason_code,
                decision.reason,
                decision.policy_set,
                decision.authentication_rule,
                decision.authorization_rule,
                profile.name if profile is not None else None,
                session_class,
                latency_us,
                packet.raw,
                attrs,
                (
                    policy_version,
                    nas.device_group,
                    nas.location,
                    nas.vendor,
                    service_name,
                    port_type_name,
                    port_id_text,
                    called_text,
                    calling_text,
                    ssid,
                    endpoint_facts,
                    ctx.posture,
                    self._authn_record(decision.authn),
                    done.record if done is not None else None,
                ),
            )
        )
        return code, attrs

    def _eap_step(self, event: RequestReceived) -> Reply | _EapDone | None:
        """One round of an EAP conversation: an Access-Challenge to send, None (dropped), or
        the end of the conversation for the policy to decide."""
        eap = self._eap
        assert eap is not None
        packet = event.packet
        try:
            message = eap_message_from_attributes(packet.attributes)
        except DecodeError as exc:
            self.eap_discards[str(exc.reason)] += 1
            return None
        state = packet.get(A_STATE)
        framed_mtu = _u32(packet.get(A_FRAMED_MTU))
        if eap.manager.abandoned:
            self.audit_abandoned()
        step = eap.manager.handle(
            message or b"",
            state,
            nas_key=event.addr[0],
            framed_mtu=framed_mtu,
            now=time.monotonic(),
        )
        match step.event:
            case ChallengeIssued(eap_message=m):
                attrs = [(A_EAP, v) for v in split_eap_message(m)]
                if step.state is not None:
                    attrs.append((A_STATE, step.state))
                return A_CHALLENGE, attrs
            case Discarded(reason=reason):
                self.eap_discards[reason] += 1
                return None
            case Failed() as failed:
                method = METHOD_NAMES.get(failed.method or 0, "eap")
                decision = _eap_failed(failed.reason, failed.detail)
                record = _eap_record(method, failed.outer_identity, failed.inner_identity)
                user = failed.inner_identity or failed.outer_identity
                return _EapDone(method, user, failed.eap_message, None, b"", b"", record, decision)
            case Succeeded() as ok:
                method = METHOD_NAMES.get(ok.method, "eap")
                user = ok.inner_identity
                certificate: dict[str, tuple[str, ...]] = {}
                rejected: Decision | None = None
                cert_subject = cert_serial = None
                if ok.method == EapType.TLS:
                    cert = eap.verify(ok.peer_chain)
                    cert_subject, cert_serial = cert.subject, cert.serial
                    if not cert.ok:
                        rejected = _certificate_rejected(cert.reason)
                    else:
                        certificate = cert.attributes or {}
                        user = cert.user or user  # the certificate names the user
                record = _eap_record(
                    method,
                    ok.outer_identity,
                    ok.inner_identity,
                    ok.tls_version,
                    ok.tls_cipher,
                    ok.resumed,
                    cert_subject,
                    cert_serial,
                    tuple(sorted(certificate.items())),
                )
                return _EapDone(
                    method,
                    user,
                    ok.eap_failure,
                    step.state,
                    ok.eap_message,
                    ok.msk or b"",
                    record,
                    rejected,
                    certificate,
                )
        return None

    def expire_eap(self, now: float) -> None:
        """Time out idle EAP conversations (also done on every EAP request) and audit them."""
        if self._eap is not None:
            self._eap.manager.expire(now)
            self.audit_abandoned()

    def audit_abandoned(self) -> int:
        """Audit the EAP conversations that timed out unfinished (a client that gave up on
        the TLS handshake, say because it does not trust the server certificate)."""
        if self._eap is None:
            return 0
        abandoned = self._eap.manager.take_abandoned()
        snapshot = self._store.current
        wall = self._wall_clock()
        for gone in abandoned:
            nas_ip = str(gone.nas_key)
            entry = snapshot.client_for_ip(nas_ip) if snapshot is not None else None
            method = METHOD_NAMES.get(gone.method or 0, "eap")
            what = "TLS handshake" if method in ("eap-tls", "peap", "ttls") else "EAP conversation"
            words = f"client abandoned the {what} (no answer for {gone.idle:.0f} s)"
            decision = _reject_decision(ReasonCode.EAP_FAILED, words, method)
            self.results["reject"] += 1
            counted = (entry.name if entry is not None else "", "reject", int(decision.reason_code))
            self.decisions[counted] = self.decisions.get(counted, 0) + 1
            self._audit.submit(
                (
                    wall,
                    "radius",
                    self._node,
                    entry.name if entry is not None else None,
                    nas_ip,
                    gone.outer_identity,
                    None,
                    method,
                    "reject",
                    int(decision.reason_code),
                    decision.reason,
                    None,
                    None,
                    None,
                    None,
                    None,
                    0,
                    b"",
                    (),
                    (
                        None,
                        "",
                        "",
                        "generic",
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        "unknown",
                        None,
                        _eap_record(method, gone.outer_identity, None),
                    ),
                )
            )
        return len(abandoned)

    def _eap_accept(self, done: _EapDone, secret: bytes, packet: Packet) -> list[tuple[int, bytes]]:
        """EAP-Success and the MS-MPPE keys from the MSK (RFC 3579 2.6.3, RFC 2548 2.4)."""
        attrs = [(A_EAP, v) for v in split_eap_message(done.eap_success)]
        if done.msk:
            attrs += mppe_key_attributes(done.msk, secret, packet.authenticator, self._token_bytes)
        if self._eap is not None and done.state is not None:
            self._eap.manager.finish(done.state, accepted=True, now=time.monotonic())
        return attrs

    def _new_snapshot(self, snapshot: RuntimeSnapshot) -> None:
        self._cache_snapshot = snapshot
        self._nas_cache.clear()
        self._authn_records.clear()

    def _nas_info(
        self, client: ClientEntry, key: tuple[str, bytes | None, bytes | None, str]
    ) -> NasInfo:
        base = client.nas
        nas = NasInfo(
            name=base.name,
            ip=_ipv4(key[1]) or _ipv6(key[2]) or key[3],
            device_group=base.device_group,
            location=base.location,
            vendor=base.vendor,
        )
        if len(self._nas_cache) > 10_000:
            self._nas_cache.clear()
        self._nas_cache[key] = nas
        return nas

    def _authn_record(self, result: AuthnResult | None) -> tuple[Any, ...] | None:
        """The identity answer as plain data, built once per answer object: the resolver
        hands out the same object for the same user within a snapshot. The memo holds the
        object itself, so its id cannot be reused while the entry lives."""
        if result is None:
            return None
        memo = self._authn_records
        entry = memo.get(id(result))
        if entry is not None and entry[0] is result:
            return entry[1]
        record = authn_record(result)
        if len(memo) > 100_000:
            memo.clear()
        memo[id(result)] = (result, record)
        return record

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
            self._count_accounting(client.name, "malformed")
            return None
        if self._profiler is not None and record.mac:
            self._profile_accounting(event, record.mac, record.username)
        try:
            await self._accounting.submit_wait(record)
        except Exception as exc:
            log.error("accounting from %s not stored, not answered: %s", client.name, exc)
            self._count_accounting(client.name, "failed")
            return None
        self._count_accounting(client.name, "stored")
        return int(Code.AccountingResponse), ()

    def _profile_accounting(self, event: RequestReceived, mac: str, username: str | None) -> None:
        """Hand the switch's device-sensor Cisco-AVPairs (dhcp-option=, cdp-tlv=, lldp-tlv=,
        ...) and the user to the profiler's queue: no waiting, never fails the request."""
        assert self._profiler is not None
        try:
            pairs: list[bytes] = []
            for t, v in event.packet.attributes:
                if t == A_VSA and v[:4] == _CISCO_VENDOR:
                    _vendor, subs = pull_vsa(v)
                    pairs.extend(value for sub, value in subs if sub == 1)
            signals = accounting_signals(pairs) if pairs else {}
            user = username if username and normalize_mac(username) != mac else None
            if signals or user:
                self._profiler.submit(
                    Observation(
                        mac=mac,
                        signals=signals,
                        channel="radius-acct",
                        decide=bool(signals),
                        user=user,
                    )
                )
        except DecodeError:
            pass  # a malformed VSA says nothing about the device
        except Exception:
            log.exception("accounting attributes not profiled")

    def _count_accounting(self, nas: str, result: str) -> None:
        key = (nas, result)
        self.accounting_results[key] = self.accounting_results.get(key, 0) + 1

    def eap_in_flight(self) -> int | None:
        """EAP conversations waiting for their next round (None without EAP)."""
        return len(self._eap.manager) if self._eap is not None else None

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
            calling_station_id=calling[:253] if calling else None,
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


_MS_CHAP_RESPONSE = 1
_MS_CHAP_CHALLENGE = 11
_MS_CHAP2_RESPONSE = 25
_MS_CHAP2_SUCCESS = 26
_MS_CHAP_MPPE_KEYS = 12
_MS_MPPE_ENCRYPTION_POLICY = 7
_MS_MPPE_ENCRYPTION_TYPES = 8


def _mschap_credentials(vsas: Sequence[bytes], username: bytes) -> MsChapCredentials | None:
    """MS-CHAP-Challenge with MS-CHAP2-Response (RFC 2548 2.3.2: Ident, Flags, Peer-Challenge
    16, Reserved 8, Response 24) or MS-CHAP-Response (2.1.3: Ident, Flags, LM-Response 24,
    NT-Response 24). Malformed values are no credentials (the request is then rejected as
    having none)."""
    challenge = v2 = v1 = None
    for value in vsas:
        try:
            vendor, subs = pull_vsa(value)
        except DecodeError:
            continue
        if vendor != MICROSOFT:
            continue
        for sub_type, sub_value in subs:
            if sub_type == _MS_CHAP_CHALLENGE:
                challenge = sub_value
            elif sub_type == _MS_CHAP2_RESPONSE:
                v2 = sub_value
            elif sub_type == _MS_CHAP_RESPONSE:
                v1 = sub_value
    if challenge is None:
        return None
    if v2 is not None and len(v2) == 50:
        return MsChapCredentials(2, v2[0], challenge, v2[2:18], v2[26:50], username)
    if v1 is not None and len(v1) == 50:
        return MsChapCredentials(1, v1[0], challenge, b"", v1[26:50], username)
    return None


def _mschap_accept(
    creds: MsChapCredentials,
    password: str,
    secret: bytes,
    packet: Packet,
    token_bytes: Callable[[int], bytes],
) -> list[tuple[int, bytes]]:
    """The Access-Accept attributes of MS-CHAP: v2 gets MS-CHAP2-Success (the authenticator
    response the peer checks, RFC 2759 8.7) and MS-MPPE-Send/Recv-Key (RFC 3079 3, salt
    encrypted per RFC 2548 2.4.2/2.4.3 by ``radius.eap.keys.mppe_keys``); v1
    gets MS-CHAP-MPPE-Keys (RFC 2548 2.4.1, hidden like User-Password). Both say encryption
    is allowed with 40 or 128-bit RC4 (2.4.4, 2.4.5)."""
    password_hash = nt_password_hash(password)
    auth = packet.authenticator
    out: list[tuple[int, bytes]] = []
    if creds.version == 2:
        response = generate_authenticator_response_from_hash(
            password_hash, creds.nt_response, creds.peer_challenge, creds.challenge, creds.username
        )
        out.append(
            (
                A_VSA,
                encode_vsa(MICROSOFT, _MS_CHAP2_SUCCESS, ms_chap2_success(creds.ident, response)),
            )
        )
        send_key, recv_key = mppe_keys_v2(password_hash, creds.nt_response)
        out += mppe_keys(send_key, recv_key, secret, auth, token_bytes)
    else:
        keys = mschap_v1_mppe_keys(password_hash)
        out.append(
            (A_VSA, encode_vsa(MICROSOFT, _MS_CHAP_MPPE_KEYS, hide_password(keys, secret, auth)))
        )
    out.append((A_VSA, encode_vsa(MICROSOFT, _MS_MPPE_ENCRYPTION_POLICY, (1).to_bytes(4, "big"))))
    out.append((A_VSA, encode_vsa(MICROSOFT, _MS_MPPE_ENCRYPTION_TYPES, (6).to_bytes(4, "big"))))
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


@dataclass(slots=True)
class _EapDone:
    """A finished EAP conversation, before (or instead of) the policy decision."""

    method: str
    username: str | None
    eap_failure: bytes
    state: bytes | None
    eap_success: bytes
    msk: bytes = field(repr=False)
    record: tuple[Any, ...]
    decision: Decision | None = None  # set when EAP or the certificate check already said no
    certificate: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_NO_CERTIFICATE: Mapping[str, tuple[str, ...]] = {}

# What an audit reader sees for each way an EAP conversation can fail.
_EAP_FAILURES: dict[str, tuple[ReasonCode, str]] = {
    "unknown_user": (ReasonCode.UNKNOWN_USER, "unknown user"),
    "wrong_password": (ReasonCode.WRONG_PASSWORD, "wrong password"),
    "password_unavailable": (ReasonCode.METHOD_NOT_SUPPORTED, "no usable password stored"),
    "no_common_method": (ReasonCode.METHOD_NOT_SUPPORTED, "no EAP method in common"),
    "tls_failed": (ReasonCode.EAP_FAILED, "TLS handshake failed"),
    "no_client_certificate": (ReasonCode.CERTIFICATE_REJECTED, "no client certificate"),
    "certificate_rejected": (ReasonCode.CERTIFICATE_REJECTED, "client certificate rejected"),
    "identity_mismatch": (ReasonCode.EAP_FAILED, "inner identity does not match"),
    "unsupported_inner_method": (ReasonCode.METHOD_NOT_SUPPORTED, "inner method not supported"),
    "peer_failure": (ReasonCode.EAP_FAILED, "the client reported failure"),
    "protocol_violation": (ReasonCode.EAP_FAILED, "EAP protocol violation"),
    "malformed_message": (ReasonCode.EAP_FAILED, "malformed EAP message"),
    "too_many_rounds": (ReasonCode.EAP_FAILED, "too many EAP rounds"),
    "unknown_conversation": (ReasonCode.EAP_FAILED, "unknown or expired EAP conversation"),
}


def _eap_record(
    method: str,
    outer: str | None,
    inner: str | None,
    tls_version: str | None = None,
    tls_cipher: str | None = None,
    resumed: bool = False,
    cert_subject: str | None = None,
    cert_serial: str | None = None,
    certificate: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> tuple[Any, ...]:
    """What the audit keeps of an EAP conversation (``nac.services.audit`` EAP_FIELDS)."""
    return (
        method,
        outer,
        inner,
        tls_version,
        tls_cipher,
        resumed,
        cert_subject,
        cert_serial,
        certificate,
    )


def _eap_failed(reason: str, detail: str) -> Decision:
    code, words = _EAP_FAILURES.get(str(reason), (ReasonCode.EAP_FAILED, str(reason)))
    if str(reason) in ("tls_failed", "certificate_rejected") and detail:
        words = f"{words}: {detail}"
    if str(reason) == "wrong_password" and detail:
        words = f"{words} ({detail})"
    return _reject_decision(code, words, "eap")


def _certificate_rejected(reason: str) -> Decision:
    return _reject_decision(ReasonCode.CERTIFICATE_REJECTED, reason, "eap-tls")


def _reject_decision(code: ReasonCode, words: str, name: str) -> Decision:
    step = TraceStep(stage="authentication", name=name, matched=False, detail=words)
    return Decision(
        outcome=Outcome.REJECT,
        reason_code=code,
        reason=words,
        policy_set=None,
        authentication_rule=None,
        authorization_rule=None,
        profile=None,
        identity=None,
        trace=(step,),
        matched_rules=(),
    )


def _unsupported(method: str) -> Decision:
    if method == "eap":
        reason = "EAP is not enabled on this server yet"
        return _reject_decision(ReasonCode.METHOD_NOT_SUPPORTED, reason, method)
    reason = "no credentials in the request (no User-Password, CHAP-Password or EAP)"
    return _reject_decision(ReasonCode.MISSING_CREDENTIALS, reason, method)
