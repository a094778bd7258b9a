"""TACACS+ requests decided by the policy engine (the only place TACACS+ meets policy).

``TacacsService.device_for`` tells the adapter which device a connection comes from (most
specific CIDR of the NAS clients, as for RADIUS); ``handle`` answers the events that need an
answer, with the bytes of the reply:

* authentication (PAP, ASCII login, CHAP, MS-CHAP v1/v2): ``policy.engine.evaluate`` with the
  protocol ``tacacs`` and the internal users as identity source; PASS only on accept.
* ``enable`` (service ENABLE): the user's enable secret, else the device's (for ``$enab15$``
  and password-only prompts); then the user's device-admin authorization must grant the
  privilege level asked for.
* authorization: ``evaluate_device_admin`` for the user, who must still exist and be enabled;
  a shell start gets the shell profile's arguments (PASS_ADD or PASS_REPL, RFC 8907 6.1), a
  command is checked against the command set.
* accounting: stored in the audit log, answered SUCCESS only after it is stored.

Every decision is audited as words (``nac.services.audit.words_item``): the request fields
(never a password), the reply and the trace. Packet fields are hostile text: they go into
the audit as data and into logs only through ``repr``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from nac.db.records import AuditRecordIn
from nac.services.audit import DEVICE_ADMIN, TACACS_LOGIN, authn_record, words_item
from nac.services.identity import (
    ChapCredentials,
    MsChapCredentials,
    PapCredentials,
    SnapshotResolver,
)
from nac.services.metrics import LatencyHistogram
from nac.services.snapshot import ClientEntry, RuntimeSnapshot, SnapshotStore
from nac.services.writer import BatchWriter
from policy.engine import evaluate, evaluate_device_admin, uses_time
from policy.model import AccessContext, AuthnStatus, Decision, NasInfo, Outcome, ReasonCode
from tacacs.aio import DeviceConfig, Link
from tacacs.args import AVPair, authorize_args, get_value
from tacacs.constants import (
    AcctFlag,
    AcctStatus,
    AuthenService,
    AuthenStatus,
    AuthenType,
    AuthorStatus,
)
from tacacs.events import (
    AcctRequestReceived,
    AuthenContinueReceived,
    AuthenticationRefused,
    AuthenticationRequested,
    AuthorRequestReceived,
    BadKey,
    Event,
    PacketDiscarded,
)

log = logging.getLogger("nac.tacacs")

ENABLE_USERS = ("", "$enab15$")  # enable without a user of our own: the device's secret
_METHODS = {
    AuthenType.ASCII: "ascii",
    AuthenType.PAP: "pap",
    AuthenType.CHAP: "chap",
    AuthenType.MSCHAP: "mschap",
    AuthenType.MSCHAPV2: "mschapv2",
}
_FAILED_MSG = "Authentication failed"


def _service_name(service: int) -> str:
    try:
        return AuthenService(service).name.lower()
    except ValueError:
        return str(service)


Rows: TypeAlias = tuple[tuple[str, str], ...]


def _pairs(fields: dict[str, Any]) -> Rows:
    """Request or reply fields as (name, value) rows, as RADIUS attributes are shown; each
    argument (``args``) its own ``arg`` row. Tuples: the audit writer memoizes their JSON."""
    out: list[tuple[str, str]] = []
    for name, value in fields.items():
        if name == "args":
            out.extend(("arg", str(a)) for a in value)
        else:
            out.append((name, str(value)))
    return tuple(out)


_PASS_ADD_ROWS: Rows = (("status", "PASS_ADD"),)
_STATUS_ROWS: dict[AuthenStatus, Rows] = {s: (("status", s.name),) for s in AuthenStatus}


def certificate_names(certificate: dict[str, Any]) -> list[str]:
    """The CN and the DNS subject alternative names of a peer certificate as ``ssl`` gives it."""
    names = [
        value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"
    ]
    names += [value for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"]
    return names


def _acct_kind(flags: AcctFlag) -> str:
    if flags & AcctFlag.STOP:
        return "stop"
    if flags & AcctFlag.WATCHDOG:
        return "watchdog" if not flags & AcctFlag.START else "watchdog-start"
    return "start"


class TacacsService:
    """Answers TACACS+ events from the in-memory snapshot; never waits on the database except
    to store accounting before acknowledging it."""

    def __init__(
        self,
        *,
        store: SnapshotStore,
        audit: BatchWriter[tuple[Any, ...]],
        accounting: BatchWriter[AuditRecordIn],
        node: str,
        revoked: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        self._store = store
        # TACACS+ over TLS: why a verified device certificate is revoked (its CA's CRL).
        self._revoked = revoked
        self._audit = audit
        self._accounting = accounting
        self._node = node
        self._for: RuntimeSnapshot | None = None
        self._resolver: SnapshotResolver | None = None
        self._by_name: dict[str, ClientEntry] = {}
        self._nas: dict[tuple[str, str], NasInfo] = {}
        self._decisions: dict[tuple[str | None, ...], Decision] | None = None
        # A request's audit rows (authentication and authorization), by its fields: devices
        # repeat them (see _remember_rows for the bound).
        self._request_rows: dict[tuple[Any, ...], Rows] = {}
        self.results: dict[str, int] = {}
        # For nac.services.metrics, read when scraped: (kind, device, result, reason code) ->
        # decisions; (device, stored|failed) -> accounting; reason -> packets discarded.
        self.decisions: dict[tuple[str, str, str, int], int] = {}
        self.accounting_results: dict[tuple[str, str], int] = {}
        self.discards: dict[str, int] = {}
        self.latency = LatencyHistogram()
        self._bad_key_logged: dict[str, float] = {}

    # -- devices ------------------------------------------------------------------------

    def device_for(self, ip: str, certificate: dict[str, Any] | None) -> DeviceConfig | None:
        """The device a connection comes from: by its address (most specific CIDR), or over
        TLS (RFC 9887) by its verified certificate: the NAS client whose name is the
        certificate's CN or one of its DNS names. A TLS connection needs no key."""
        if certificate is not None:
            if self._revoked is not None:
                why = self._revoked(certificate)
                if why is not None:
                    self.discards["certificate_revoked"] = (
                        self.discards.get("certificate_revoked", 0) + 1
                    )
                    names = ", ".join(certificate_names(certificate)) or "?"
                    log.warning("TACACS+ over TLS from %s (%s) refused: %s", ip, names, why)
                    return None
            current = self._snapshot()
            if current is None:
                return None
            for name in certificate_names(certificate):
                entry = self._by_name.get(name)
                if entry is not None:
                    return DeviceConfig(name=entry.name, keys=())
            return None
        snapshot = self._store.current
        if snapshot is None:
            return None
        entry = snapshot.client_for_ip(ip)
        return entry.tacacs if entry is not None else None

    def _snapshot(self) -> tuple[RuntimeSnapshot, SnapshotResolver] | None:
        snapshot = self._store.current
        if snapshot is None:
            return None
        if snapshot is not self._for or self._resolver is None:
            self._for = snapshot
            self._resolver = SnapshotResolver(snapshot)
            self._by_name = {c.name: c for c in snapshot.clients}
            self._nas = {}
            # Device-admin decisions are pure functions of the request under one snapshot
            # unless a condition reads the clock: then they are remembered (automation runs
            # the same commands again and again).
            self._decisions = None if uses_time(snapshot.policy, endpoints=False) else {}
        return snapshot, self._resolver

    def on_event(self, link: Link | None, event: Event | str) -> None:
        """Connection-level happenings: bad keys (logged once a minute per device), discards."""
        if isinstance(event, str):
            log.info("tacacs+: %s", event)
            return
        device = link.device.name if link is not None else "?"
        if isinstance(event, BadKey):
            self.discards["bad_key"] = self.discards.get("bad_key", 0) + 1
            now = time.monotonic()
            if now - self._bad_key_logged.get(device, -1e9) >= 60.0:
                self._bad_key_logged[device] = now
                peer = link.peer[0] if link is not None else "?"
                log.error(
                    "tacacs+: bad key from device %s (%s): no configured key (%d tried) "
                    "decodes its packets; connection closed",
                    device,
                    peer,
                    event.keys_tried,
                )
        elif isinstance(event, AuthenticationRefused) and link is not None:
            # The connection answered FAIL by itself (CHPASS, malformed credentials, ...).
            now = time.time()
            self._audit_words(
                link,
                now,
                time.perf_counter(),
                kind="authen",
                user="",
                result="reject",
                code=int(ReasonCode.METHOD_NOT_SUPPORTED),
                reason=event.reason,
                decision=None,
                request=_pairs({"type": "authentication", "session_id": event.session_id}),
                reply=_pairs(
                    {"status": AuthenStatus(event.status).name, "server_msg": event.server_msg}
                ),
                trace=[f"refused by the TACACS+ core: {event.reason}"],
            )
        elif isinstance(event, PacketDiscarded):
            reason = str(event.reason)
            self.discards[reason] = self.discards.get(reason, 0) + 1
            log.warning(
                "tacacs+: packet from %s discarded: %s %r", device, event.reason, event.detail
            )

    # -- dispatch -----------------------------------------------------------------------

    def handle(self, link: Link, event: Event) -> bytes | Awaitable[bytes] | None:
        if type(event) is AuthorRequestReceived:
            return self._authorize(link, event)
        if type(event) is AuthenticationRequested:
            return self._authenticate(link, event)
        if type(event) is AcctRequestReceived:
            return self._account(link, event)
        if type(event) is AuthenContinueReceived:  # we never prompt by ourselves
            return link.connection.send_authen_reply(
                event.session_id, AuthenStatus.FAIL, server_msg=_FAILED_MSG
            )
        return None

    def _context(
        self,
        link: Link,
        entry: ClientEntry | None,
        *,
        method: str,
        user: str,
        port: str,
        rem_addr: str,
        service: str,
        credentials: object | None = None,
        now: float,
    ) -> AccessContext:
        nas = self._nas_info(link, entry)
        return AccessContext(
            protocol="tacacs",
            now=datetime.fromtimestamp(now, UTC),
            nas=nas,
            auth_method=method,
            username=user or None,
            nas_port_id=port or None,
            calling_station_id=rem_addr or None,
            tacacs_service=service,
            credentials=credentials,
        )

    def _nas_info(self, link: Link, entry: ClientEntry | None) -> NasInfo:
        key = (link.device.name, link.peer[0])
        nas = self._nas.get(key)
        if nas is None:
            base = entry.nas if entry is not None else NasInfo(name=link.device.name, ip="")
            nas = NasInfo(
                name=base.name,
                ip=link.peer[0],
                device_group=base.device_group,
                location=base.location,
                vendor=base.vendor,
            )
            if len(self._nas) > 10_000:
                self._nas.clear()
            self._nas[key] = nas
        return nas

    # -- authentication -----------------------------------------------------------------

    def _authenticate(self, link: Link, ev: AuthenticationRequested) -> bytes:
        started = time.perf_counter()
        now = time.time()
        conn = link.connection
        current = self._snapshot()
        if current is None:
            return conn.send_authen_reply(ev.session_id, AuthenStatus.ERROR)
        snapshot, resolver = current
        entry = self._by_name.get(link.device.name)
        if ev.service == AuthenService.ENABLE:
            return self._enable(link, ev, snapshot, resolver, entry, started, now)
        method = _METHODS.get(AuthenType(ev.authen_type), str(int(ev.authen_type)))
        credentials: object | None = None
        if ev.password is not None:
            credentials = PapCredentials(ev.password.encode("utf-8", "surrogateescape"))
        elif ev.chap is not None:
            credentials = ChapCredentials(
                bytes([ev.chap.ppp_id]) + ev.chap.response, ev.chap.challenge
            )
        elif ev.mschapv2 is not None:
            m = ev.mschapv2
            credentials = MsChapCredentials(
                version=2,
                ident=m.ppp_id,
                challenge=m.challenge,
                peer_challenge=m.peer_challenge,
                nt_response=m.nt_response,
                username=ev.user.encode("utf-8", "surrogateescape"),
            )
        elif ev.mschap is not None:
            m1 = ev.mschap
            credentials = MsChapCredentials(
                version=1,
                ident=m1.ppp_id,
                challenge=m1.challenge,
                peer_challenge=b"",
                nt_response=m1.nt_response,
                username=ev.user.encode("utf-8", "surrogateescape"),
            )
        ctx = self._context(
            link,
            entry,
            method=method,
            user=ev.user,
            port=ev.port,
            rem_addr=ev.rem_addr,
            service=_service_name(ev.service),
            credentials=credentials,
            now=now,
        )
        decision = evaluate(snapshot.policy, ctx, resolver, trace=False)
        if decision.outcome is Outcome.ACCEPT:
            status = AuthenStatus.PASS
            data = conn.send_authen_reply(ev.session_id, status)
        else:
            status = AuthenStatus.FAIL
            data = conn.send_authen_reply(ev.session_id, status, server_msg=_FAILED_MSG)
        nas = ctx.nas
        identity = decision.identity
        # The trace is replayed from this when the record is read (nac.services.audit).
        replay = (
            TACACS_LOGIN,
            snapshot.policy_version,
            ev.user,
            tuple(sorted(identity.groups)) if identity is not None else (),
            nas.device_group,
            nas.location,
            nas.vendor,
            method,
            ctx.tacacs_service,
            None,
            ev.port,
            ev.rem_addr,
            authn_record(decision.authn),
        )
        self._audit_decision(
            link,
            now,
            started,
            kind=method,
            user=ev.user,
            decision=decision,
            request=self._authen_request(ev),
            reply=_STATUS_ROWS[status],
            replay=replay,
        )
        return data

    def _enable(
        self,
        link: Link,
        ev: AuthenticationRequested,
        snapshot: RuntimeSnapshot,
        resolver: SnapshotResolver,
        entry: ClientEntry | None,
        started: float,
        now: float,
    ) -> bytes:
        conn = link.connection
        user = snapshot.users.get(ev.user) if ev.user not in ENABLE_USERS else None
        secret = user.enable_secret if user is not None and user.enable_secret else None
        whose = f"user {ev.user}"
        if secret is None and entry is not None and entry.enable_secret:
            secret, whose = entry.enable_secret, f"device {entry.name}"
        given = (ev.password or "").encode("utf-8", "surrogateescape")
        words: list[str] = []
        if ev.user not in ENABLE_USERS and user is None:
            ok, code, reason = False, ReasonCode.UNKNOWN_USER, "enable: unknown user"
        elif user is not None and not user.enabled:
            ok, code, reason = False, ReasonCode.USER_DISABLED, "enable: user disabled"
        elif secret is None:
            ok, code = False, ReasonCode.MISSING_CREDENTIALS
            reason = f"enable: no enable secret for {ev.user or 'this device'} or its device"
        elif not hmac.compare_digest(given, secret):
            ok, code, reason = (
                False,
                ReasonCode.WRONG_PASSWORD,
                f"enable: wrong {whose} enable secret",
            )
        else:
            ok, code, reason = (
                True,
                ReasonCode.AUTHENTICATION_SUCCEEDED,
                f"enable secret of {whose} verified",
            )
        decision: Decision | None = None
        if ok and user is not None:
            # The privilege level must be one the user's device-admin authorization grants.
            known = resolver.known_user(user.name)
            ctx = self._context(
                link,
                entry,
                method="enable",
                user=ev.user,
                port=ev.port,
                rem_addr=ev.rem_addr,
                service="enable",
                now=now,
            )
            decision = evaluate_device_admin(snapshot.policy, ctx, known.identity)
            words = decision.trace_lines()
            shell = decision.profile.shell_profile if decision.profile is not None else None
            if decision.outcome is not Outcome.ACCEPT or shell is None:
                ok, code = False, decision.reason_code
                reason = f"enable: {decision.reason}"
            elif shell.priv_lvl < ev.priv_lvl:
                ok, code = False, ReasonCode.DENIED_BY_RULE
                reason = (
                    f"enable: privilege level {ev.priv_lvl} not authorized "
                    f"(shell profile {shell.name} grants {shell.priv_lvl})"
                )
        status = AuthenStatus.PASS if ok else AuthenStatus.FAIL
        data = conn.send_authen_reply(ev.session_id, status, server_msg="" if ok else _FAILED_MSG)
        words.append(f"decision: {'accept' if ok else 'reject'} ({int(code)} {reason})")
        self._audit_words(
            link,
            now,
            started,
            kind="enable",
            user=ev.user,
            result="accept" if ok else "reject",
            code=int(code),
            reason=reason,
            decision=decision,
            request=self._authen_request(ev),
            reply=_STATUS_ROWS[status],
            trace=words,
        )
        return data

    def _authen_request(self, ev: AuthenticationRequested) -> Rows:
        """The authentication request's audit rows, made once per distinct request."""
        key = (
            "authen",
            ev.action,
            ev.authen_type,
            ev.service,
            ev.priv_lvl,
            ev.user,
            ev.port,
            ev.rem_addr,
        )
        rows = self._request_rows.get(key)
        if rows is None:
            rows = _pairs(
                {
                    "type": "authentication",
                    "action": ev.action.name.lower()
                    if hasattr(ev.action, "name")
                    else int(ev.action),
                    "authen_type": _METHODS.get(AuthenType(ev.authen_type), int(ev.authen_type)),
                    "service": _service_name(ev.service),
                    "priv_lvl": ev.priv_lvl,
                    "user": ev.user,
                    "port": ev.port,
                    "rem_addr": ev.rem_addr,
                }
            )
            self._remember_rows(key, rows)
        return rows

    # -- authorization ------------------------------------------------------------------

    def _authorize(self, link: Link, ev: AuthorRequestReceived) -> bytes:
        started = time.perf_counter()
        now = time.time()
        conn = link.connection
        current = self._snapshot()
        if current is None:
            return conn.send_author_response(ev.session_id, AuthorStatus.ERROR)
        snapshot, resolver = current
        entry = self._by_name.get(link.device.name)
        args = ev.args
        service = get_value(args, "service") or ""
        command = ev.command or None
        request = self._author_rows(ev)
        known = resolver.known_user(ev.user)
        if known.status is not AuthnStatus.OK:  # the identity source says no: FAIL at once
            msg = f"{known.reason}: {ev.user!r}"
            data = conn.send_author_response(ev.session_id, AuthorStatus.FAIL, server_msg=msg)
            self._audit_words(
                link,
                now,
                started,
                kind="command" if command else "author",
                user=ev.user,
                result="reject",
                code=int(known.reason_code),
                reason=known.reason,
                decision=None,
                request=request,
                reply=_pairs({"status": "FAIL", "server_msg": msg}),
                trace=[f"identity internal_users: no match - {known.reason}"],
            )
            return data
        identity = known.identity
        memo = self._decisions
        key = (link.device.name, ev.user, service, command, ev.port, ev.rem_addr)
        decision = memo.get(key) if memo is not None else None
        if decision is None:
            ctx = self._context(
                link,
                entry,
                method="author",
                user=ev.user,
                port=ev.port,
                rem_addr=ev.rem_addr,
                service=service,
                now=now,
            )
            decision = evaluate_device_admin(
                snapshot.policy, ctx, identity, command=command, trace=False
            )
            if memo is not None:
                if len(memo) > 50_000:
                    memo.clear()
                memo[key] = decision
        nas = self._nas_info(link, entry)
        # The trace is replayed from this when the record is read (nac.services.audit).
        replay: tuple[Any, ...] | None = (
            DEVICE_ADMIN,
            snapshot.policy_version,
            ev.user,
            tuple(sorted(identity.groups)) if identity is not None else (),
            nas.device_group,
            nas.location,
            nas.vendor,
            "author",
            service,
            command,
            ev.port,
            ev.rem_addr,
        )
        reply: Rows
        if decision.outcome is not Outcome.ACCEPT:
            data = conn.send_author_response(
                ev.session_id, AuthorStatus.FAIL, server_msg=decision.reason
            )
            reply = _pairs({"status": "FAIL", "server_msg": decision.reason})
        elif command is not None:
            data = conn.send_author_response(ev.session_id, AuthorStatus.PASS_ADD)
            reply = _PASS_ADD_ROWS
        else:
            shell = decision.profile.shell_profile if decision.profile is not None else None
            granted = (
                [AVPair(a.name, a.value, a.mandatory) for a in shell.arguments()]
                if shell is not None
                else []
            )
            merged = authorize_args(args, granted)
            if merged.status == AuthorStatus.FAIL:
                data = conn.send_author_response(
                    ev.session_id, AuthorStatus.FAIL, server_msg=merged.reason
                )
                reply = _pairs({"status": "FAIL", "server_msg": merged.reason})
                decision = _rejected(decision, merged.reason)
                replay = None  # not what the policy alone decided: keep the words
            else:
                data = conn.send_author_response(ev.session_id, merged.status, args=merged.args)
                reply = _pairs(
                    {
                        "status": AuthorStatus(merged.status).name,
                        "args": [str(a) for a in merged.args],
                    }
                )
        self._audit_decision(
            link,
            now,
            started,
            kind="command" if command is not None else "author",
            user=ev.user,
            decision=decision,
            request=request,
            reply=reply,
            replay=replay,
        )
        return data

    def _author_rows(self, ev: AuthorRequestReceived) -> Rows:
        """The request's audit rows, made once per distinct request (bounded)."""
        key = ("author", ev.user, ev.port, ev.rem_addr, ev.priv_lvl, ev.request.args)
        rows = self._request_rows.get(key)
        if rows is None:
            rows = _pairs(
                {
                    "type": "authorization",
                    "user": ev.user,
                    "port": ev.port,
                    "rem_addr": ev.rem_addr,
                    "priv_lvl": ev.priv_lvl,
                    "args": [a.decode("utf-8", "surrogateescape") for a in ev.request.args],
                }
            )
            self._remember_rows(key, rows)
        return rows

    def _remember_rows(self, key: tuple[Any, ...], rows: Rows) -> None:
        if len(self._request_rows) >= 10_000:
            self._request_rows.clear()
        self._request_rows[key] = rows

    # -- accounting ---------------------------------------------------------------------

    def _account(self, link: Link, ev: AcctRequestReceived) -> Awaitable[bytes]:
        now = time.time()
        kind = _acct_kind(ev.flags)
        args = [str(a) for a in ev.args]
        task_id = get_value(ev.args, "task_id")
        cmd = get_value(ev.args, "cmd")
        summary = f"accounting {kind}"
        if task_id:
            summary += f" task {task_id}"
        if cmd:
            summary += f": {cmd}"
        record = AuditRecordIn(
            ts=datetime.fromtimestamp(now, UTC),
            protocol="tacacs",
            result=kind,
            node=self._node,
            nas_name=link.device.name,
            nas_ip=link.peer[0],
            username=ev.user or None,
            method="acct",
            reason=summary,
            request=_pairs(
                {
                    "type": "accounting",
                    "flags": kind,
                    "user": ev.user,
                    "port": ev.port,
                    "rem_addr": ev.rem_addr,
                    "priv_lvl": ev.priv_lvl,
                    "service": _service_name(ev.service),
                    "args": args,
                }
            ),
            reply=(("status", "SUCCESS"),),
            trace=[summary],
        )
        stored = self._accounting.submit_wait(record)
        self.results["acct"] = self.results.get("acct", 0) + 1

        async def answer() -> bytes:
            try:
                await stored  # acknowledged only once it is in the database
            except Exception:
                self._count_accounting(link.device.name, "failed")
                raise
            self._count_accounting(link.device.name, "stored")
            return link.connection.send_acct_reply(ev.session_id, AcctStatus.SUCCESS)

        return answer()

    def _count_accounting(self, nas: str, result: str) -> None:
        key = (nas, result)
        self.accounting_results[key] = self.accounting_results.get(key, 0) + 1

    # -- audit --------------------------------------------------------------------------

    def _audit_decision(
        self,
        link: Link,
        now: float,
        started: float,
        *,
        kind: str,
        user: str,
        decision: Decision,
        request: Rows,
        reply: Rows,
        replay: tuple[Any, ...] | None = None,
    ) -> None:
        self._audit_words(
            link,
            now,
            started,
            kind=kind,
            user=user,
            result=decision.outcome.value,
            code=int(decision.reason_code),
            reason=decision.reason,
            decision=decision,
            request=request,
            reply=reply,
            trace=[f"{decision.reason}"] if not decision.trace else decision.trace_lines(),
            replay=replay,
        )

    def _audit_words(
        self,
        link: Link,
        now: float,
        started: float,
        *,
        kind: str,
        user: str,
        result: str,
        code: int,
        reason: str,
        decision: Decision | None,
        request: Rows,
        reply: Rows,
        trace: list[str],
        replay: tuple[Any, ...] | None = None,
    ) -> None:
        key = f"{kind}:{result}"
        self.results[key] = self.results.get(key, 0) + 1
        counted = (kind, link.device.name, result, code)
        self.decisions[counted] = self.decisions.get(counted, 0) + 1
        latency_us = int((time.perf_counter() - started) * 1e6)
        self.latency.observe(latency_us)
        profile = decision.profile if decision is not None else None
        self._audit.submit(
            words_item(
                ts=now,
                protocol="tacacs",
                node=self._node,
                nas_name=link.device.name,
                nas_ip=link.peer[0],
                username=user or None,
                method=kind,
                result=result,
                reason_code=code,
                reason=reason,
                policy_set=decision.policy_set if decision is not None else None,
                authentication_rule=decision.authentication_rule if decision is not None else None,
                authorization_rule=decision.authorization_rule if decision is not None else None,
                profile=profile.name if profile is not None else None,
                latency_us=latency_us,
                request=request,
                reply=reply,
                trace=trace,
                replay=replay,
            )
        )


def _rejected(decision: Decision, reason: str) -> Decision:
    """The decision, turned into a reject because its arguments cannot be honoured."""
    return Decision(
        outcome=Outcome.REJECT,
        reason_code=ReasonCode.DENIED_BY_RULE,
        reason=reason,
        policy_set=decision.policy_set,
        authentication_rule=decision.authentication_rule,
        authorization_rule=decision.authorization_rule,
        profile=decision.profile,
        identity=decision.identity,
        trace=decision.trace,
        matched_rules=decision.matched_rules,
        authn=decision.authn,
        command=decision.command,
    )
