"""RFC 5176 dynamic authorization, client side: Disconnect-Request and CoA-Request out, their
ACK/NAK in, sans-I/O.

- ``push_request`` builds a request: Message-Authenticator (RFC 5176 3.3, RFC 3579 3.2) and
  Event-Timestamp (RFC 5176 3, replay protection), then the Request Authenticator
  MD5(Code|Identifier|Length|16 zero octets|Attributes|Secret) (RFC 5176 2.3 and 3.5, the RFC
  2866 section 3 scheme).
- ``pull_response`` verifies and decodes an ACK or NAK: the Response Authenticator over the
  request's authenticator, the Message-Authenticator when present (required on demand), the
  Error-Cause values (RFC 5176 3.6) with their names. It raises only ``DecodeError``.
- ``session_request`` turns an accounting session and an action into the code and attributes a
  vendor's DAS takes (generic RFC 5176, Cisco, Aruba, Juniper), with only the session
  identifiers that vendor matches on.
- ``CoaClient`` allocates identifiers per (source socket, NAS address), so more than 256
  requests in flight to one NAS never collide, schedules retransmissions with exponential
  backoff (``handle_timer(now)``), and matches answers by (socket, NAS address, identifier)
  and then by authenticator. The asyncio adapter owns the sockets and the clock.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, TypeAlias

from radius.constants import (
    ARUBA,
    CISCO,
    HEADER_LENGTH,
    JUNIPER,
    AttrType,
    Code,
)
from radius.crypto import (
    accounting_request_authenticator,
    message_authenticator,
    response_authenticator,
    verify_message_authenticator,
)
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.packet import decode_packet, encode_packet, encode_vsa

__all__ = [
    "ERROR_CAUSE_WORDS",
    "Action",
    "Address",
    "CoaClient",
    "CoaRequest",
    "CoaResponse",
    "ErrorCause",
    "Outgoing",
    "PacketDiscarded",
    "ResponseReceived",
    "SessionIdentity",
    "TimedOut",
    "UnsupportedAction",
    "error_cause_words",
    "pull_response",
    "push_request",
    "session_request",
]

Attribute: TypeAlias = tuple[int, bytes]
Address: TypeAlias = tuple[str, int]

_MA = int(AttrType.MessageAuthenticator)
_ERROR_CAUSE = int(AttrType.ErrorCause)
_ZERO16 = bytes(16)
_ANSWERS = {
    int(Code.DisconnectRequest): (int(Code.DisconnectACK), int(Code.DisconnectNAK)),
    int(Code.CoARequest): (int(Code.CoAACK), int(Code.CoANAK)),
}

CISCO_AVPAIR = 1
ARUBA_USER_ROLE = 1
JUNIPER_AV_PAIR = 51


class ErrorCause(IntEnum):
    """Error-Cause values (RFC 5176 section 3.6): 2xx success, 4xx client, 5xx NAS errors."""

    ResidualSessionContextRemoved = 201
    InvalidEapPacket = 202
    UnsupportedAttribute = 401
    MissingAttribute = 402
    NasIdentificationMismatch = 403
    InvalidRequest = 404
    UnsupportedService = 405
    UnsupportedExtension = 406
    InvalidAttributeValue = 407
    AdministrativelyProhibited = 501
    RequestNotRoutable = 502
    SessionContextNotFound = 503
    SessionContextNotRemovable = 504
    OtherProxyProcessingError = 505
    ResourcesUnavailable = 506
    RequestInitiated = 507
    MultipleSessionSelectionUnsupported = 508


ERROR_CAUSE_WORDS: dict[int, str] = {
    201: "Residual Session Context Removed",
    202: "Invalid EAP Packet (Ignored)",
    401: "Unsupported Attribute",
    402: "Missing Attribute",
    403: "NAS Identification Mismatch",
    404: "Invalid Request",
    405: "Unsupported Service",
    406: "Unsupported Extension",
    407: "Invalid Attribute Value",
    501: "Administratively Prohibited",
    502: "Request Not Routable (Proxy)",
    503: "Session Context Not Found",
    504: "Session Context Not Removable",
    505: "Other Proxy Processing Error",
    506: "Resources Unavailable",
    507: "Request Initiated",
    508: "Multiple Session Selection Unsupported",
}
"""The names RFC 5176 section 3.6 gives the Error-Cause values."""


def error_cause_words(code: int) -> str:
    """``401 Unsupported Attribute``; an unassigned value is named by its class (3.6)."""
    words = ERROR_CAUSE_WORDS.get(code)
    if words is None:
        kind = {2: "success", 4: "client error", 5: "NAS error"}.get(code // 100, "unassigned")
        words = f"unknown ({kind})"
    return f"{code} {words}"


# --- requests and responses ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoaRequest:
    """A Disconnect-Request or CoA-Request as sent (retransmissions send ``data`` again,
    byte for byte: same Identifier, authenticator and Event-Timestamp, RFC 5080 2.2.1)."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[Attribute, ...]
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class CoaResponse:
    """A verified ACK or NAK (RFC 5176 2.3)."""

    code: int
    identifier: int
    attributes: tuple[Attribute, ...]
    error_causes: tuple[int, ...] = ()
    message_authenticator: bool = False

    @property
    def acked(self) -> bool:
        return self.code in (int(Code.DisconnectACK), int(Code.CoAACK))

    @property
    def reason(self) -> str:
        """The Error-Cause values in words, "" when there is none."""
        return ", ".join(error_cause_words(c) for c in self.error_causes)


def push_request(
    code: int,
    identifier: int,
    attributes: Iterable[Attribute],
    secret: bytes,
    *,
    event_timestamp: int | None,
    with_message_authenticator: bool = True,
) -> CoaRequest:
    """Encode a Disconnect-Request (40) or CoA-Request (43) (RFC 5176 sections 2.3, 3.3, 3.5).

    ``event_timestamp`` (seconds since the epoch, the caller's clock) is added as
    Event-Timestamp unless None or already in ``attributes``. The Message-Authenticator goes
    first, computed over the packet with a zero Request Authenticator, then the Request
    Authenticator is computed over the result. Raises LocalProtocolError for another code or
    an identifier outside 0..255, and for what ``encode_packet`` refuses."""
    if code not in _ANSWERS:
        raise LocalProtocolError(f"code {code} is not a Disconnect-Request or CoA-Request")
    if not 0 <= identifier <= 255:
        raise LocalProtocolError(f"identifier {identifier} out of range 0..255")
    if not secret:
        raise LocalProtocolError("an empty shared secret")
    attrs = [(t, v) for t, v in attributes if t != _MA]
    if event_timestamp is not None and all(t != int(AttrType.EventTimestamp) for t, _ in attrs):
        attrs.append((int(AttrType.EventTimestamp), struct.pack("!I", event_timestamp)))
    if with_message_authenticator:
        attrs.insert(0, (_MA, _ZERO16))
    data = encode_packet(code, identifier, _ZERO16, attrs)
    if with_message_authenticator:
        mac = message_authenticator(data, secret)
        data = data[: HEADER_LENGTH + 2] + mac + data[HEADER_LENGTH + 18 :]
        attrs[0] = (_MA, mac)
    body = data[HEADER_LENGTH:]
    auth = accounting_request_authenticator(code, identifier, body, secret)
    data = data[:4] + auth + body
    return CoaRequest(code, identifier, auth, tuple(attrs), data)


def pull_response(
    data: bytes,
    request: CoaRequest,
    secret: bytes,
    *,
    require_message_authenticator: bool = False,
) -> CoaResponse:
    """Verify and decode the answer to ``request`` (RFC 5176 sections 2.3, 3.3, 3.5, 3.6).

    Raises DecodeError with: the packet codec's failures (too_short, too_long,
    length_mismatch, attribute_too_short, attribute_overflow, bad_vsa); unexpected_response
    for an identifier other than the request's or a code that does not answer it;
    bad_authenticator when the Response Authenticator (MD5 over the request's authenticator
    and the secret) does not verify; message_authenticator_length,
    multiple_message_authenticator, bad_message_authenticator for a malformed, repeated or
    wrong Message-Authenticator; missing_message_authenticator when one is required and
    absent; bad_attribute_value for an Error-Cause that is not 4 octets."""
    packet = decode_packet(data)
    if packet.identifier != request.identifier:
        raise DecodeError(
            DecodeFailure.unexpected_response,
            1,
            f"identifier {packet.identifier}, request {request.identifier}",
        )
    if packet.code not in _ANSWERS[request.code]:
        raise DecodeError(
            DecodeFailure.unexpected_response, 0, f"code {packet.code} to {request.code}"
        )
    raw = packet.raw
    expected = response_authenticator(
        packet.code, packet.identifier, request.authenticator, raw[HEADER_LENGTH:], secret
    )
    if not hmac.compare_digest(expected, packet.authenticator):
        raise DecodeError(DecodeFailure.bad_authenticator, 4, "Response Authenticator")
    ma_offset = _message_authenticator_offset(raw)
    if ma_offset is not None:
        if not verify_message_authenticator(raw, ma_offset, secret, request.authenticator):
            raise DecodeError(DecodeFailure.bad_message_authenticator, ma_offset)
    elif require_message_authenticator:
        raise DecodeError(DecodeFailure.missing_message_authenticator, 0)
    causes: list[int] = []
    for t, v in packet.attributes:
        if t == _ERROR_CAUSE:
            if len(v) != 4:
                raise DecodeError(
                    DecodeFailure.bad_attribute_value, 0, f"Error-Cause of {len(v)} octets"
                )
            causes.append(int.from_bytes(v, "big"))
    return CoaResponse(
        packet.code,
        packet.identifier,
        packet.attributes,
        tuple(causes),
        ma_offset is not None,
    )


def _message_authenticator_offset(raw: bytes) -> int | None:
    """Offset of the one Message-Authenticator in ``raw`` (a decoded packet), or None."""
    found: int | None = None
    pos, end = HEADER_LENGTH, len(raw)
    while pos + 2 <= end:
        t, n = raw[pos], raw[pos + 1]
        if t == _MA:
            if n != 18:
                raise DecodeError(DecodeFailure.message_authenticator_length, pos, f"length {n}")
            if found is not None:
                raise DecodeError(DecodeFailure.multiple_message_authenticator, pos)
            found = pos
        pos += n
    return found


# --- vendor flavours -------------------------------------------------------------------------


class Action(StrEnum):
    """What an administrator or a trigger asks of a session."""

    disconnect = "disconnect"
    reauthenticate = "reauthenticate"
    bounce_port = "bounce-port"
    disable_port = "disable-port"
    coa = "coa-with-attributes"


class UnsupportedAction(LocalProtocolError):
    """The vendor's DAS has no way to do this action."""


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """What accounting told us about one session (RFC 2866); None: not reported."""

    nas_ip: str | None = None
    acct_session_id: str | None = None
    calling_station_id: str | None = None
    username: str | None = None
    nas_port: int | None = None
    nas_port_id: str | None = None
    framed_ip: str | None = None
    class_: bytes | None = None
    nas_identifier: str | None = None


def _text(t: AttrType, value: str) -> Attribute:
    raw = value.encode()
    if not raw or len(raw) > 253:
        raise LocalProtocolError(f"attribute {t.name}: {len(raw)} octets")
    return (int(t), raw)


def _nas_address(session: SessionIdentity) -> list[Attribute]:
    """NAS identification (RFC 5176 3): NAS-IP-Address or NAS-IPv6-Address."""
    if not session.nas_ip:
        return []
    try:
        ip = ipaddress.ip_address(session.nas_ip)
    except ValueError:
        return []
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return [(int(AttrType.NasIpAddress), ip.ipv4_mapped.packed)]
        return [(int(AttrType.NasIpv6Address), ip.packed)]
    return [(int(AttrType.NasIpAddress), ip.packed)]


def _identity(session: SessionIdentity, names: Sequence[str]) -> list[Attribute]:
    """The session identification attributes ``names`` (in that order) the session has."""
    out: list[Attribute] = []
    for name in names:
        if name == "nas":
            out += _nas_address(session)
        elif name == "nas_identifier" and session.nas_identifier:
            out.append(_text(AttrType.NasIdentifier, session.nas_identifier))
        elif name == "username" and session.username:
            out.append(_text(AttrType.UserName, session.username))
        elif name == "acct_session_id" and session.acct_session_id:
            out.append(_text(AttrType.AcctSessionId, session.acct_session_id))
        elif name == "calling_station_id" and session.calling_station_id:
            out.append(_text(AttrType.CallingStationId, session.calling_station_id))
        elif name == "nas_port" and session.nas_port is not None:
            out.append((int(AttrType.NasPort), struct.pack("!I", session.nas_port & 0xFFFFFFFF)))
        elif name == "nas_port_id" and session.nas_port_id:
            out.append(_text(AttrType.NasPortId, session.nas_port_id))
        elif name == "framed_ip" and session.framed_ip:
            with contextlib.suppress(ValueError):
                out.append(
                    (int(AttrType.FramedIpAddress), ipaddress.IPv4Address(session.framed_ip).packed)
                )
    return out


def _vsa(vendor: int, vendor_type: int, text: str) -> Attribute:
    return (int(AttrType.VendorSpecific), encode_vsa(vendor, vendor_type, text.encode()))


# Session identification per vendor, in the order sent. Cisco IOS NAKs a request unless every
# identifier it carries matches the session ("all of them must match"), so it gets exactly
# the three accounting gave us; hostapd and most RFC 5176 DASes match on what is present.
IDENTITY: dict[str, tuple[str, ...]] = {
    "generic": ("nas", "username", "acct_session_id", "calling_station_id"),
    "cisco": ("nas", "acct_session_id", "calling_station_id"),
    "aruba": ("nas", "username", "nas_port", "calling_station_id"),
    "juniper": ("nas", "acct_session_id", "calling_station_id"),
    "hpe": ("nas", "username", "nas_port", "calling_station_id"),
}

CISCO_COMMANDS = {
    Action.reauthenticate: "subscriber:command=reauthenticate",
    Action.bounce_port: "subscriber:command=bounce-host-port",
    Action.disable_port: "subscriber:command=disable-host-port",
}


def session_request(
    vendor: str,
    action: Action | str,
    session: SessionIdentity,
    attributes: Sequence[Attribute] = (),
) -> tuple[int, list[Attribute]]:
    """The (code, attributes) of ``action`` on ``session`` in ``vendor``'s dialect (RFC 5176
    section 3 for the identification attributes; Event-Timestamp and Message-Authenticator are
    added by ``push_request``).

    - disconnect: Disconnect-Request with the vendor's session identifiers.
    - reauthenticate: Cisco CoA-Request with ``subscriber:command=reauthenticate`` (the
      session stays up and is decided again); elsewhere a Disconnect-Request, after which the
      supplicant re-authenticates.
    - bounce-port / disable-port: Cisco ``subscriber:command=bounce-host-port`` /
      ``disable-host-port``; Juniper ``Juniper-AV-Pair = Port-Bounce`` for a bounce.
    - coa-with-attributes: CoA-Request with the identifiers and ``attributes`` (a new VLAN,
      Filter-Id, Aruba-User-Role: the authorization changed in place).

    Raises UnsupportedAction for what the vendor cannot do, and LocalProtocolError when the
    session has no identifier the vendor matches on (a DAS would NAK it with 402)."""
    act = Action(action)
    names = IDENTITY.get(vendor, IDENTITY["generic"])
    ident = _identity(session, names)
    if not any(
        t != int(AttrType.NasIpAddress) and t != int(AttrType.NasIpv6Address) for t, _ in ident
    ):
        raise LocalProtocolError("the session has no identifier the NAS can match")
    if act is Action.disconnect:
        return int(Code.DisconnectRequest), ident
    if act is Action.coa:
        if not attributes:
            raise LocalProtocolError("a CoA-Request needs the attributes to change")
        return int(Code.CoARequest), ident + list(attributes)
    if vendor == "cisco":
        return int(Code.CoARequest), [*ident, _vsa(CISCO, CISCO_AVPAIR, CISCO_COMMANDS[act])]
    if act is Action.reauthenticate:
        return int(Code.DisconnectRequest), ident
    if vendor == "juniper" and act is Action.bounce_port:
        return int(Code.CoARequest), [*ident, _vsa(JUNIPER, JUNIPER_AV_PAIR, "Port-Bounce")]
    raise UnsupportedAction(f"{act.value} is not supported by {vendor} NASes")


def aruba_role(role: str) -> Attribute:
    """Aruba-User-Role (vendor 14823, type 1): the role a CoA-Request applies in place."""
    return _vsa(ARUBA, ARUBA_USER_ROLE, role)


# --- the client core: identifiers, retransmissions, matching ---------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Send ``data`` from socket ``socket`` to ``addr``."""

    socket: int
    addr: Address
    data: bytes = field(repr=False)
    tag: Any = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    tag: Any
    request: CoaRequest
    response: CoaResponse
    attempts: int
    addr: Address


@dataclass(frozen=True, slots=True)
class TimedOut:
    tag: Any
    request: CoaRequest
    attempts: int
    addr: Address


@dataclass(frozen=True, slots=True)
class PacketDiscarded:
    reason: DecodeFailure
    addr: Address
    detail: str = ""


Event: TypeAlias = ResponseReceived | PacketDiscarded


@dataclass(slots=True)
class _Pending:
    tag: Any
    key: tuple[int, Address, int]
    request: CoaRequest
    secret: bytes = field(repr=False)
    require_ma: bool
    deadline: float
    attempts: int = 1


def _addr(addr: Sequence[Any]) -> Address:
    """(host, port) of an IPv4 or IPv6 socket address, IPv4-mapped folded to IPv4."""
    host = str(addr[0]).split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host, int(addr[1])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(addr[1])


class CoaClient:
    """Identifiers, retransmissions and answer matching for Disconnect/CoA requests.

    A request is identified at the NAS by (source address, source port, Identifier): each of
    ``sockets`` source sockets has its own 256 identifiers per NAS address, so up to 256 x
    sockets requests may be in flight to one NAS (``add_socket`` makes room for more).
    Retransmissions happen at ``timeout``, 2x, 4x ... (exponential backoff) until ``tries``
    transmissions went unanswered."""

    def __init__(self, *, sockets: int = 1, timeout: float = 1.0, tries: int = 3) -> None:
        if sockets < 0 or tries < 1 or timeout <= 0:
            raise LocalProtocolError("tries must be at least 1, timeout above 0")
        self.sockets = sockets
        self.timeout = timeout
        self.tries = tries
        self._pending: dict[tuple[int, Address, int], _Pending] = {}
        self._next_id: dict[tuple[int, Address], int] = {}
        self._used: dict[tuple[int, Address], set[int]] = {}
        self._rotate = 0
        self.counters: Counter[str] = Counter()

    # -- identifiers ---------------------------------------------------------------------

    def add_socket(self) -> int:
        """Room for 256 more requests per NAS; returns the new socket's index."""
        self.sockets += 1
        return self.sockets - 1

    def in_flight(self, addr: Sequence[Any] | None = None) -> int:
        if addr is None:
            return len(self._pending)
        a = _addr(addr)
        return sum(1 for k in self._pending if k[1] == a)

    def _allocate(self, addr: Address) -> tuple[int, int] | None:
        for step in range(self.sockets):
            sock = (self._rotate + step) % self.sockets
            used = self._used.setdefault((sock, addr), set())
            if len(used) >= 256:
                continue
            ident = self._next_id.get((sock, addr), 0)
            while ident in used:
                ident = (ident + 1) & 0xFF
            used.add(ident)
            # The next request starts after this one: an identifier just freed is not
            # reused at once, so a late answer to it cannot match a new request.
            self._next_id[(sock, addr)] = (ident + 1) & 0xFF
            self._rotate = (sock + 1) % self.sockets
            return sock, ident
        return None

    # -- sending -------------------------------------------------------------------------

    def send(
        self,
        addr: Sequence[Any],
        code: int,
        attributes: Iterable[Attribute],
        secret: bytes,
        *,
        now: float,
        event_timestamp: int | None,
        tag: Any = None,
        require_message_authenticator: bool = False,
    ) -> Outgoing | None:
        """Build a request to ``addr`` and take an identifier for it; None when every
        socket's 256 identifiers towards that NAS are in flight (add a socket, or wait)."""
        a = _addr(addr)
        got = self._allocate(a)
        if got is None:
            self.counters["no_identifier"] += 1
            return None
        sock, ident = got
        try:
            request = push_request(code, ident, attributes, secret, event_timestamp=event_timestamp)
        except LocalProtocolError:
            self._used[(sock, a)].discard(ident)
            raise
        key = (sock, a, ident)
        self._pending[key] = _Pending(
            tag, key, request, secret, require_message_authenticator, now + self.timeout
        )
        self.counters["sent"] += 1
        return Outgoing(sock, a, request.data, tag, 1)

    def _release(self, key: tuple[int, Address, int]) -> None:
        self._pending.pop(key, None)
        self._used.get((key[0], key[1]), set()).discard(key[2])

    def cancel(self, tag: Any) -> None:
        for key in [k for k, p in self._pending.items() if p.tag == tag]:
            self._release(key)

    # -- timers --------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` has work next (None: nothing in flight)."""
        if not self._pending:
            return None
        return min(p.deadline for p in self._pending.values())

    def handle_timer(self, now: float) -> list[Outgoing | TimedOut]:
        """Retransmissions due by ``now`` (the same bytes, RFC 5080 2.2.1) and requests that
        went ``tries`` times unanswered (their identifiers are freed)."""
        out: list[Outgoing | TimedOut] = []
        for key, p in list(self._pending.items()):
            if p.deadline > now:
                continue
            if p.attempts >= self.tries:
                self._release(key)
                self.counters["timed_out"] += 1
                out.append(TimedOut(p.tag, p.request, p.attempts, key[1]))
                continue
            p.attempts += 1
            p.deadline = now + self.timeout * (2 ** (p.attempts - 1))
            self.counters["retransmitted"] += 1
            out.append(Outgoing(key[0], key[1], p.request.data, p.tag, p.attempts))
        return out

    # -- answers -------------------------------------------------------------------------

    def receive_datagram(self, socket: int, data: bytes, addr: Sequence[Any]) -> Event:
        """Match a datagram that arrived on ``socket`` from ``addr`` to its request and verify
        it. A datagram that matches nothing or does not verify is discarded (counted by
        reason) and the request stays in flight: a forged answer cannot end it."""
        a = _addr(addr)
        if len(data) < HEADER_LENGTH:
            return self._discard(DecodeFailure.too_short, a, f"{len(data)} octets")
        key = (socket, a, data[1])
        pending = self._pending.get(key)
        if pending is None:
            return self._discard(
                DecodeFailure.unexpected_response, a, f"identifier {data[1]} not in flight"
            )
        try:
            response = pull_response(
                data,
                pending.request,
                pending.secret,
                require_message_authenticator=pending.require_ma,
            )
        except DecodeError as exc:
            return self._discard(exc.reason, a, exc.detail)
        self._release(key)
        self.counters["answered"] += 1
        return ResponseReceived(pending.tag, pending.request, response, pending.attempts, a)

    def _discard(self, reason: DecodeFailure, addr: Address, detail: str) -> PacketDiscarded:
        self.counters[f"discarded_{reason.value}"] += 1
        return PacketDiscarded(reason, addr, detail)
