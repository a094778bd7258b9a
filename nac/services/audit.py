"""Audit records of RADIUS decisions: what the request path hands over, what is stored, and how
a stored record is read back in words.

The request path pays only for a plain tuple per decision (``ITEM_FIELDS`` order): names and
numbers it already holds, the request as received, the reply attributes, and the context the
policy saw (``CONTEXT`` below) with the identity source's answer. Nothing is rendered there.

The audit writer process turns an item into a row (``stored_row``): the request and reply
attributes as wire bytes with every secret value removed (User-Password, CHAP-Password,
Tunnel-Password, MS-CHAP material, MS-MPPE keys; EAP-Message cut to its header), the context
as JSON text. Rows are cheap to insert, and no secret is ever at rest.

A reader (``AuditRenderer``) renders a row: attribute names and values from the shipped
dictionary, and the trace in words by replaying the decision. ``policy.engine.evaluate`` is
pure, so the policy version the decision used, the recorded context and the recorded answer of
the identity source give back the same decision with every rule tried and why; the replay is
checked against the stored outcome and reason code, and a mismatch is said in the trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nac.db import crud
from nac.db.defaults import default_policy
from policy.compile import compile_policy
from policy.engine import evaluate, evaluate_device_admin
from policy.model import (
    AccessContext,
    AuthnResult,
    AuthnStatus,
    Decision,
    EndpointInfo,
    Identity,
    NasInfo,
    ReasonCode,
)
from policy.rules import PolicySnapshot
from radius.constants import MICROSOFT, AttrType
from radius.dictionary import HIDDEN, RadiusDictionary
from radius.errors import DecodeError
from radius.packet import pull_attributes, push_attributes

__all__ = [
    "CONTEXT_FIELDS",
    "EAP_FIELDS",
    "ITEM_FIELDS",
    "STORED_COLUMNS",
    "WORDS_COLUMNS",
    "AuditRenderer",
    "RequestAttributes",
    "authn_record",
    "display_attributes",
    "load_policies",
    "redact",
    "redact_packet",
    "stored_row",
    "words_item",
]

# The item the request path submits, a plain tuple in this order.
ITEM_FIELDS: tuple[str, ...] = (
    "ts",  # Unix time (float), also the policy's ``now``
    "protocol",
    "node",
    "nas_name",
    "nas_ip",
    "username",
    "mac",
    "method",
    "result",
    "reason_code",  # int
    "reason",
    "policy_set",
    "authentication_rule",
    "authorization_rule",
    "profile",
    "session_class",
    "latency_us",
    "request",  # the request packet as received (bytes), redacted by ``stored_row``
    "reply",  # the reply attributes, ((type, value), ...), redacted by ``stored_row``
    "context",  # tuple in CONTEXT_FIELDS order
)
ITEM = {name: n for n, name in enumerate(ITEM_FIELDS)}
_REQUEST = ITEM["request"]
_REPLY = ITEM["reply"]
_CONTEXT = ITEM["context"]

# What the policy saw beyond the item's own fields. ``policy_version`` None: the decision was
# not made by the policy engine (e.g. a method the server does not offer) and has no replay.
CONTEXT_FIELDS: tuple[str, ...] = (
    "policy_version",
    "nas_group",
    "nas_location",
    "nas_vendor",
    "service_type",
    "nas_port_type",
    "nas_port_id",
    "called_station_id",
    "calling_station_id",
    "ssid",
    # None or (known, profile, group[, blocked, posture score, failed check ids, posture_at,
    # first_seen (epoch seconds or None), vendor, randomized]): `endpoint_record`
    "endpoint",
    "posture",
    "authn",  # None or authn_record(...)
    "eap",  # None or a tuple in EAP_FIELDS order
)
# What the audit keeps of an EAP conversation (the RADIUS service builds it).
EAP_FIELDS: tuple[str, ...] = (
    "method",
    "outer_identity",
    "inner_identity",
    "tls_version",
    "tls_cipher",
    "resumed",
    "certificate_subject",
    "certificate_serial",
    "certificate",  # the cert.* fields the policy saw: ((name, (values...)), ...)
)

# Columns of audit_log written by the audit writer, in ``stored_row`` order.
STORED_COLUMNS: tuple[str, ...] = (
    *ITEM_FIELDS[: ITEM["request"]],
    "request_raw",
    "reply_raw",
    "context",
)

# A protocol whose records are words, not RADIUS wire bytes (TACACS+): its item has the same
# leading ``ITEM_FIELDS``, then the request and the reply as JSON-able words (never a secret)
# and, in the context slot, ``(WORDS, trace lines)``. Stored in the JSON columns.
WORDS = "words"
WORDS_COLUMNS: tuple[str, ...] = (
    *ITEM_FIELDS[: ITEM["request"]],
    "request",
    "reply",
    "trace",
    "context",
)
# A TACACS+ device-administration decision is not rendered on the request path either: its
# context (``DEVICE_ADMIN_FIELDS``, after the marker and the policy version) is stored and
# the reader replays ``evaluate_device_admin`` for the trace, as for RADIUS.
DEVICE_ADMIN = "tacacs-device-admin"
TACACS_LOGIN = "tacacs-login"  # a TACACS+ authentication, replayed with ``evaluate``
DEVICE_ADMIN_FIELDS: tuple[str, ...] = (  # the time is the row's own ``ts``
    "user",
    "groups",
    "nas_group",
    "nas_location",
    "nas_vendor",
    "method",
    "service",
    "command",
    "port",
    "rem_addr",
)
TACACS_LOGIN_FIELDS: tuple[str, ...] = (*DEVICE_ADMIN_FIELDS, "authn")  # + authn_record(...)


def words_item(
    *,
    ts: float,
    protocol: str,
    node: str,
    nas_name: str | None,
    nas_ip: str | None,
    username: str | None,
    method: str,
    result: str,
    reason_code: int,
    reason: str,
    policy_set: str | None = None,
    authentication_rule: str | None = None,
    authorization_rule: str | None = None,
    profile: str | None = None,
    latency_us: int = 0,
    request: Any = None,
    reply: Any = None,
    trace: Sequence[str] = (),
    replay: tuple[Any, ...] | None = None,
) -> tuple[Any, ...]:
    """An audit item of words (``WORDS_COLUMNS``): what a TACACS+ record is. With ``replay``
    (``(DEVICE_ADMIN, policy version, *DEVICE_ADMIN_FIELDS)``) the trace is not stored but
    replayed when read."""
    return (
        ts,
        protocol,
        node,
        nas_name,
        nas_ip,
        username,
        None,  # mac
        method,
        result,
        reason_code,
        reason,
        policy_set,
        authentication_rule,
        authorization_rule,
        profile,
        None,  # session_class
        latency_us,
        request,
        reply,
        (WORDS, tuple(trace), replay),
    )


def is_words(item: Sequence[Any]) -> bool:
    context = item[_CONTEXT]
    return bool(context) and context[0] == WORDS


def words_row(
    item: Sequence[Any], *, sqlite: bool, memo: dict[Any, str] | None = None
) -> tuple[Any, ...]:
    """A words item as the values of ``WORDS_COLUMNS`` (JSON columns as JSON text).

    ``memo`` keeps the JSON of request, reply and replay values seen before: a device sends
    the same requests again and again (hashable ones only: tuples, as the service makes them).
    """
    ts = item[0]
    _, trace, replay = item[_CONTEXT]
    dumps = json.dumps if memo is None else partial(_memo_json, memo)
    return (
        _sqlite_ts(ts) if sqlite else _aware_ts(ts),
        *item[1:_REQUEST],
        dumps(item[_REQUEST]),
        dumps(item[_REPLY]),
        None if replay is not None else json.dumps(list(trace)),
        None if replay is None else dumps(replay),
    )


def _memo_json(memo: dict[Any, str], value: Any) -> str:
    try:
        return memo[value]
    except KeyError:
        text = json.dumps(value)
    except TypeError:  # not hashable
        return json.dumps(value)
    if len(memo) > 50_000:
        memo.clear()
    memo[value] = text
    return text


_VSA = int(AttrType.VendorSpecific)
_EAP = int(AttrType.EapMessage)
# Values removed before anything is stored (RFC 2865 5.2/5.3, RFC 2868 3.5, RFC 3579 3.2).
_SECRET_TYPES = frozenset(
    int(t)
    for t in (
        AttrType.UserPassword,
        AttrType.ChapPassword,
        AttrType.TunnelPassword,
        AttrType.MessageAuthenticator,
    )
)
_MICROSOFT = MICROSOFT.to_bytes(4, "big")
# Microsoft VSAs (RFC 2548) carrying password material: MS-CHAP(2) responses, challenges and
# password changes, MS-CHAP-MPPE-Keys, MS-MPPE-Send/Recv-Key.
MS_SECRET_TYPES = frozenset((1, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 17, 25))
_MS_SECRET_BYTES = frozenset(bytes((n,)) for n in MS_SECRET_TYPES)
_EAP_HEADER = 5  # code, identifier, length, type: enough to say what it was


def _is_ms_secret(value: bytes) -> bool:
    return value[:4] == _MICROSOFT and value[4:5] in _MS_SECRET_BYTES


def redact(attributes: Iterable[tuple[int, bytes]]) -> bytes:
    """The attributes as wire bytes with secret values removed: a secret attribute is kept
    with an empty value (a Microsoft one as vendor, type and an empty value), so a reader
    can say it was there; EAP-Message keeps only its header octets."""
    attributes = tuple(attributes)
    for t, _ in attributes:
        if t in _SECRET_TYPES or t in (_VSA, _EAP):
            break
    else:  # nothing to remove: the common reply
        return push_attributes(attributes)
    out: list[tuple[int, bytes]] = []
    for t, v in attributes:
        if t in _SECRET_TYPES:
            out.append((t, b""))
        elif t == _VSA and _is_ms_secret(v):
            out.append((t, v[:5] + b"\x02"))
        elif t == _EAP and len(v) > _EAP_HEADER:
            out.append((t, v[:_EAP_HEADER]))
        else:
            out.append((t, v))
    return push_attributes(out)


def redact_packet(raw: bytes) -> bytes:
    """``redact`` for a whole received packet: its attribute section with secret values
    removed, cut by offsets (the packet passed the core's checks, so its lengths add up)."""
    out: list[bytes] = []
    n = len(raw)
    pos = last = 20
    while pos + 2 <= n:
        t = raw[pos]
        end = pos + raw[pos + 1]
        if end <= pos + 1:
            break  # cannot happen after decode_packet; keep what was read
        if t in _SECRET_TYPES:
            out.append(raw[last:pos])
            out.append(bytes((t, 2)))
            last = end
        elif (
            t == _VSA
            and raw[pos + 2 : pos + 6] == _MICROSOFT
            and raw[pos + 6 : pos + 7] in (_MS_SECRET_BYTES)
        ):
            out.append(raw[last:pos])
            out.append(bytes((t, 8)) + raw[pos + 2 : pos + 7] + b"\x02")
            last = end
        elif t == _EAP and end - pos > 2 + _EAP_HEADER:
            out.append(raw[last:pos])
            out.append(bytes((t, 2 + _EAP_HEADER)) + raw[pos + 2 : pos + 2 + _EAP_HEADER])
            last = end
        pos = end
    out.append(raw[last:n])
    return b"".join(out)


def authn_record(result: AuthnResult | None) -> tuple[Any, ...] | None:
    """The identity source's answer as plain, hashable data, for the replay."""
    if result is None:
        return None
    identity = result.identity
    if identity is None:
        return (result.status.value, int(result.reason_code), result.reason, None)
    return (
        result.status.value,
        int(result.reason_code),
        result.reason,
        identity.name,
        identity.source,
        tuple(sorted(identity.groups)),
        tuple(sorted(identity.attributes.items())),
    )


def _authn_result(record: Sequence[Any] | None) -> AuthnResult | None:
    if record is None:
        return None
    identity = None
    if len(record) >= 7 and record[3] is not None:
        identity = Identity(
            name=str(record[3]),
            source=str(record[4]),
            groups=frozenset(str(g) for g in record[5]),
            attributes={str(k): str(v) for k, v in record[6]},
        )
    return AuthnResult(
        status=AuthnStatus(record[0]),
        reason_code=ReasonCode(int(record[1])),
        reason=str(record[2]),
        identity=identity,
    )


def _sqlite_ts(ts: float) -> str:
    # The format SQLAlchemy's SQLite DATETIME stores (naive UTC, microseconds always shown).
    naive = datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds")


def _aware_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _aware(value: datetime) -> datetime:
    """A row's timestamp as aware UTC (UTCDateTime gives aware values; be sure)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def stored_row(
    item: Sequence[Any], *, sqlite: bool, contexts: dict[Any, str] | None = None
) -> tuple[Any, ...]:
    """One audit item as the values of ``STORED_COLUMNS`` (what the writer inserts).

    ``contexts`` memoizes the JSON of contexts seen before (they repeat: same NAS, same
    identity answer); the time is put in front of it as the first element of the array.
    """
    context = item[_CONTEXT]
    if contexts is None:
        tail = json.dumps(context, separators=(",", ":"))
    else:
        tail = contexts.get(context) or _remember(contexts, context)
    ts = item[0]
    return (
        _sqlite_ts(ts) if sqlite else _aware_ts(ts),
        *item[1:_REQUEST],
        redact_packet(item[_REQUEST]),
        redact(item[_REPLY]),
        f"[{ts!r},{tail[1:]}",
    )


def _remember(contexts: dict[Any, str], context: tuple[Any, ...]) -> str:
    text = json.dumps(context, separators=(",", ":"))
    if len(contexts) > 50_000:
        contexts.clear()
    contexts[context] = text
    return text


def _replayed_lines(row: Any, decision: Decision) -> list[str]:
    """The replayed decision's trace, saying so if it disagrees with the stored one."""
    lines = decision.trace_lines()
    if decision.outcome.value != row.result or int(decision.reason_code) != row.reason_code:
        lines.append(
            f"replay differs from the stored decision ({decision.outcome.value}"
            f" {int(decision.reason_code)}): the trace above may not be what happened"
        )
    return lines


def display_attributes(
    dictionary: RadiusDictionary, attributes: Iterable[tuple[int, bytes]]
) -> list[tuple[str, str]]:
    """``(name, value)`` rows; secrets (also the emptied ones of a stored row) say hidden."""
    out: list[tuple[str, str]] = []
    for t, v in attributes:
        if t == _VSA and _is_ms_secret(v):
            name = dictionary.name_of(v[4], MICROSOFT) or f"Microsoft-{v[4]}"
            out.append((name, HIDDEN))
        elif t in _SECRET_TYPES:
            out.append((dictionary.name_of(t) or f"Attr-{t}", HIDDEN))
        else:
            out.extend(dictionary.decode_attribute(t, v))
    return out


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def endpoint_record(entry: Any) -> tuple[Any, ...]:
    """What the audit keeps of a recorded endpoint (a snapshot's EndpointEntry) so the replay
    sees the posture and endpoint facts the policy saw (JSON-able, hashable)."""
    failed = entry.posture_failed
    return (
        entry.registered,
        entry.profile,
        entry.group,
        entry.blocked,
        entry.posture_score,
        tuple(sorted(failed)) if failed else (),
        _epoch(entry.posture_at),
        _epoch(entry.first_seen),
        entry.vendor,
        entry.randomized,
    )


def _endpoint_info(mac: str, record: Sequence[Any]) -> EndpointInfo:
    if len(record) < 10:  # written before posture (known, profile, group)
        return EndpointInfo(mac=mac, known=bool(record[0]), profile=record[1], group=record[2])

    def when(value: Any) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(float(value), UTC)

    return EndpointInfo(
        mac=mac,
        known=bool(record[0]),
        profile=record[1],
        group=record[2],
        blocked=bool(record[3]),
        posture_score=int(record[4] or 0),
        posture_failed=frozenset(str(f) for f in record[5] or ()),
        posture_at=when(record[6]),
        first_seen=when(record[7]),
        vendor=record[8],
        randomized=bool(record[9]),
    )


class RequestAttributes(Mapping[str, tuple[str, ...]]):
    """Request attributes by dictionary name (``radius.NAME`` in conditions), decoded only if
    a rule asks; secrets never appear."""

    __slots__ = ("_attrs", "_decoded", "_dictionary")

    def __init__(self, attrs: Sequence[tuple[int, bytes]], dictionary: RadiusDictionary) -> None:
        self._attrs = attrs
        self._dictionary = dictionary
        self._decoded: dict[str, tuple[str, ...]] | None = None

    def _table(self) -> dict[str, tuple[str, ...]]:
        if self._decoded is None:
            table: dict[str, list[str]] = {}
            for t, v in self._attrs:
                if t in _SECRET_TYPES or (t == _VSA and _is_ms_secret(v)):
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


class _Recorded:
    """An IdentityResolver that gives back the recorded answer (the replay)."""

    __slots__ = ("_answer",)

    def __init__(self, answer: AuthnResult | None) -> None:
        self._answer = answer

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult:
        if self._answer is None:
            return AuthnResult(
                AuthnStatus.ERROR, ReasonCode.IDENTITY_SOURCE_ERROR, "no answer recorded", None
            )
        return self._answer


PolicyLoader = Callable[[int], PolicySnapshot | None]


class AuditRenderer:
    """Renders stored audit rows: attributes in words and the replayed trace.

    The compiled policies the rows were decided by come from ``add_policy`` (an async caller
    loads the versions ``versions_needed`` names) or from ``policy_for(version)``; a version
    that is gone renders as a trace that says so. Rows written before migration 0002 carry
    their words in the JSON columns and are shown as they are.
    """

    def __init__(
        self, dictionary: RadiusDictionary, policy_for: PolicyLoader | None = None
    ) -> None:
        self._dictionary = dictionary
        self._policy_for = policy_for
        self._policies: dict[int, PolicySnapshot | None] = {}

    def versions_needed(self, rows: Iterable[Any]) -> set[int]:
        """Policy versions the rows were decided by that this renderer does not hold yet."""
        out: set[int] = set()
        for row in rows:
            if row.context is None:
                continue
            try:
                version = json.loads(row.context)[1]
            except (ValueError, TypeError, IndexError):
                continue
            if isinstance(version, int) and version not in self._policies:
                out.add(version)
        return out

    def add_policy(self, version: int, document: Mapping[str, Any] | None) -> None:
        """Hold the policy document of a stored version (None: it is gone)."""
        self._policies[version] = compile_stored(document)

    def policy(self, version: int) -> PolicySnapshot | None:
        if version not in self._policies:
            self._policies[version] = self._policy_for(version) if self._policy_for else None
        return self._policies[version]

    def request(self, row: Any) -> list[tuple[str, str]] | Any:
        if row.request_raw is None:
            return row.request
        return display_attributes(self._dictionary, _pull(row.request_raw))

    def reply(self, row: Any) -> list[tuple[str, str]] | Any:
        if row.reply_raw is None:
            return row.reply
        return display_attributes(self._dictionary, _pull(row.reply_raw))

    def trace(self, row: Any) -> list[str] | Any:
        """The decision in words, one line per step (see ``Decision.trace_lines``)."""
        if row.context is None:
            return row.trace
        decision_line = f"decision: {row.result} ({row.reason_code} {row.reason})"
        try:
            stored = json.loads(row.context)
            if stored and stored[0] in (DEVICE_ADMIN, TACACS_LOGIN):
                return self._device_admin_trace(row, stored, decision_line)
            ts, *context = stored
            ctx_fields = dict(zip(CONTEXT_FIELDS, context, strict=True))
        except (ValueError, TypeError, IndexError) as exc:
            return [f"trace not available: context unreadable ({exc})"]
        version = ctx_fields["policy_version"]
        if version is None:
            return [f"authentication {row.method}: no match - {row.reason}", decision_line]
        policy = self.policy(int(version))
        if policy is None:
            return [f"trace not available: policy version {version} is not stored", decision_line]
        decision = self.replay(row, float(ts), ctx_fields, policy)
        return _replayed_lines(row, decision)

    def _device_admin_trace(self, row: Any, stored: list[Any], decision_line: str) -> list[str]:
        """TACACS+: a login (``evaluate`` with the recorded identity answer) or an
        authorization (``evaluate_device_admin``) replayed from its stored context."""
        login = stored[0] == TACACS_LOGIN
        version = stored[1]
        names = TACACS_LOGIN_FIELDS if login else DEVICE_ADMIN_FIELDS
        fields = dict(zip(names, stored[2:], strict=True))
        policy = self.policy(int(version))
        if policy is None:
            return [f"trace not available: policy version {version} is not stored", decision_line]
        ctx = AccessContext(
            protocol="tacacs",
            now=_aware(row.ts),
            nas=NasInfo(
                name=row.nas_name or "",
                ip=row.nas_ip or "",
                device_group=fields["nas_group"] or "",
                location=fields["nas_location"] or "",
                vendor=fields["nas_vendor"] or "generic",
            ),
            auth_method=fields["method"],
            username=fields["user"] or None,
            nas_port_id=fields["port"] or None,
            calling_station_id=fields["rem_addr"] or None,
            tacacs_service=fields["service"],
        )
        identity = Identity(
            name=fields["user"],
            source="internal_users",
            groups=frozenset(fields["groups"]),
            attributes={},
        )
        if login:
            decision = evaluate(policy, ctx, _Recorded(_authn_result(fields["authn"])))
        else:
            decision = evaluate_device_admin(policy, ctx, identity, command=fields["command"])
        return _replayed_lines(row, decision)

    def replay(
        self, row: Any, ts: float, fields: dict[str, Any], policy: PolicySnapshot
    ) -> Decision:
        endpoint = fields["endpoint"]
        ctx = AccessContext(
            protocol=row.protocol,
            now=datetime.fromtimestamp(ts, UTC),
            nas=NasInfo(
                name=row.nas_name or "",
                ip=row.nas_ip or "",
                device_group=fields["nas_group"] or "",
                location=fields["nas_location"] or "",
                vendor=fields["nas_vendor"] or "generic",
            ),
            auth_method=row.method or "none",
            username=row.username,
            mac=row.mac,
            endpoint=None if endpoint is None else _endpoint_info(row.mac or "", endpoint),
            service_type=fields["service_type"],
            nas_port_type=fields["nas_port_type"],
            nas_port_id=fields["nas_port_id"],
            called_station_id=fields["called_station_id"],
            calling_station_id=fields["calling_station_id"],
            ssid=fields["ssid"],
            posture=fields["posture"] or "unknown",
            attributes=RequestAttributes(_pull(row.request_raw or b""), self._dictionary),
            certificate=_certificate(fields.get("eap")),
        )
        return evaluate(policy, ctx, _Recorded(_authn_result(fields["authn"])))

    def render(self, row: Any) -> dict[str, Any]:
        """The row as a JSON-able dict: every column but the raw ones, with ``request``,
        ``reply`` (lists of (name, value)) and ``trace`` (lines) rendered."""
        out: dict[str, Any] = {}
        for name in _SHOWN:
            value = getattr(row, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["request"] = [tuple(p) for p in self.request(row) or ()]
        out["reply"] = [tuple(p) for p in self.reply(row) or ()]
        out["trace"] = self.trace(row)
        eap = self.eap(row)
        if eap is not None:
            out["eap"] = eap
        return out

    def eap(self, row: Any) -> dict[str, Any] | None:
        """Method, outer and inner identity, TLS version and cipher, certificate subject and
        serial of an EAP decision (None for other requests)."""
        if row.context is None:
            return None
        try:
            context = json.loads(row.context)
        except ValueError:
            return None
        if not context or context[0] == DEVICE_ADMIN:
            return None
        record = (
            context[1 + CONTEXT_FIELDS.index("eap")] if len(context) > len(CONTEXT_FIELDS) else None
        )
        if not record:
            return None
        shown = dict(zip(EAP_FIELDS, record, strict=False))
        shown.pop("certificate", None)
        return shown


_SHOWN = ("id", *(n for n in ITEM_FIELDS[: ITEM["request"]]))


def _certificate(record: Sequence[Any] | None) -> dict[str, tuple[str, ...]]:
    if not record or len(record) < len(EAP_FIELDS):
        return {}
    return {str(name): tuple(str(v) for v in values) for name, values in record[-1]}


def _pull(data: bytes) -> tuple[tuple[int, bytes], ...]:
    try:
        return pull_attributes(data, 0, len(data))
    except DecodeError:
        return ()


def compile_stored(document: Mapping[str, Any] | None) -> PolicySnapshot | None:
    """Compile a stored policy document for the replay (None if it no longer compiles)."""
    if document is None:
        return None
    try:
        return compile_policy(dict(document))
    except ValueError:
        return None


async def load_policies(
    renderer: AuditRenderer, session: AsyncSession, rows: Iterable[Any]
) -> None:
    """Give ``renderer`` the stored policy versions ``rows`` were decided by (version 0 is
    the built-in reject-everything policy a database starts with)."""
    for version in sorted(renderer.versions_needed(rows)):
        if version == 0:
            renderer.add_policy(0, default_policy())
            continue
        stored = await crud.get_policy(session, version=version)
        renderer.add_policy(version, stored.document if stored is not None else None)
