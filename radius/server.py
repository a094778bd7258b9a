"""Sans-I/O RADIUS server core (RFC 2865, 2866, 3579, 5080 section 2.2.2, 5997; CVE-2024-3596).

``RadiusServer.receive_datagram(data, addr, now)`` turns one datagram into one event;
``reply(...)`` turns a decision into the bytes to send. No sockets, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from radius.constants import MAX_PACKET, AttrType, Code, ServiceType
from radius.crypto import (
    message_authenticator,
    verify_accounting_request,
    verify_message_authenticator,
)
from radius.errors import DecodeError, DecodeFailure, LocalProtocolError
from radius.packet import Packet, decode_packet, push_attributes

__all__ = [
    "Address",
    "ClientConfig",
    "DuplicateIgnored",
    "DuplicateReplied",
    "Event",
    "PacketDiscarded",
    "RadiusServer",
    "RequestKey",
    "RequestReceived",
    "StatusServerReceived",
]

Address: TypeAlias = tuple[str, int]
"""Source address as the transport gives it ((host, port), or the IPv6 4-tuple)."""
RequestKey: TypeAlias = tuple[str, int, int, int, bytes]
"""Duplicate-detection key (RFC 5080 2.2.2): source IP, source port, code, Identifier,
Request Authenticator."""

_Mode = Literal["auto", "yes", "no"]
_MODES = ("auto", "yes", "no")

_ACCESS_REQUEST = 1
_ACCOUNTING_REQUEST = 4
_STATUS_SERVER = 12
_MA = 80
_PROXY_STATE = 33
_EAP = 79
_CREDENTIALS = frozenset(
    (AttrType.UserPassword, AttrType.ChapPassword, AttrType.EapMessage, AttrType.State)
)
_CALL_CHECK = int(ServiceType.CallCheck).to_bytes(4, "big")
_MA_PLACEHOLDER = bytes((_MA, 18)) + bytes(16)
_MA_HEADER = bytes((_MA, 18))
_ZERO16 = bytes(16)
_REPLY_CODES: dict[int, frozenset[int]] = {
    _ACCESS_REQUEST: frozenset((Code.AccessAccept, Code.AccessReject, Code.AccessChallenge)),
    _ACCOUNTING_REQUEST: frozenset((Code.AccountingResponse,)),
}
_STATUS_REPLY_CODES = frozenset((Code.AccessAccept, Code.AccountingResponse))
_ACCESS_REPLIES = frozenset((Code.AccessAccept, Code.AccessReject, Code.AccessChallenge))
_md5 = hashlib.md5

EVENT_COUNTERS = (
    "request_received",
    "status_server_received",
    "duplicate_replied",
    "duplicate_ignored",
    "packet_discarded",
    "reply_sent",
    "status_reply_sent",
    "forgotten",
    "evicted",
    "handler_errors",
    "socket_errors",
)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A RADIUS client (NAS) as the server knows it.

    ``require_message_authenticator`` and ``limit_proxy_state`` follow FreeRADIUS 3.2.5+
    (BlastRADIUS, CVE-2024-3596): "yes" always, "no" never, "auto" from the first valid
    Message-Authenticator this client sends in an Access-Request.
    """

    name: str
    secret: bytes = field(repr=False)
    require_message_authenticator: _Mode = "auto"
    limit_proxy_state: _Mode = "auto"

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError(f"client {self.name}: empty shared secret")
        if self.require_message_authenticator not in _MODES:
            raise ValueError(f"require_message_authenticator must be one of {_MODES}")
        if self.limit_proxy_state not in _MODES:
            raise ValueError(f"limit_proxy_state must be one of {_MODES}")


@dataclass(slots=True)
class RequestReceived:
    """An Access-Request or Accounting-Request that passed every check; answer it with
    ``RadiusServer.reply`` or release it with ``RadiusServer.forget(key)``. Immutable by
    contract (one is built per request; a frozen dataclass costs ~0.3 us per field)."""

    packet: Packet
    client: ClientConfig
    addr: Address
    key: RequestKey
    proxy_state: bool = True  # whether the request carries Proxy-State (copied into the reply)


@dataclass(frozen=True, slots=True)
class StatusServerReceived:
    """A verified Status-Server (RFC 5997); answer with ``RadiusServer.reply_status``."""

    packet: Packet
    client: ClientConfig
    addr: Address


@dataclass(frozen=True, slots=True)
class DuplicateReplied:
    """A retransmission of a request already answered: send ``data`` again (RFC 5080)."""

    data: bytes
    addr: Address


@dataclass(frozen=True, slots=True)
class DuplicateIgnored:
    """A retransmission of a request still being processed: nothing to send."""

    addr: Address


@dataclass(frozen=True, slots=True)
class PacketDiscarded:
    """A datagram silently discarded, with the reason counted."""

    reason: DecodeFailure
    addr: Address
    detail: str = ""


Event: TypeAlias = (
    RequestReceived | StatusServerReceived | DuplicateReplied | DuplicateIgnored | PacketDiscarded
)

# A cache entry: (reply bytes or None while in progress, expiry time).
_Entry: TypeAlias = tuple[bytes | None, float]


class RadiusServer:
    """The protocol core of a RADIUS authentication/accounting server.

    ``lookup_client(source_ip)`` returns the client configuration for a source address (the
    caller does any CIDR matching) or None. ``duplicate_ttl`` is how long a reply is kept
    for retransmissions after it was sent (RFC 5080 2.2.2: 5 to 30 s).
    ``in_progress_timeout`` bounds how long an unanswered, unforgotten request blocks its
    retransmissions. ``discard_without_credentials`` enforces RFC 2865 4.1's "MUST contain
    User-Password, CHAP-Password or State" (EAP-Message counts, RFC 3579; Call-Check exempt).
    """

    def __init__(
        self,
        lookup_client: Callable[[str], ClientConfig | None],
        *,
        duplicate_ttl: float = 10.0,
        max_entries: int = 65536,
        in_progress_timeout: float = 60.0,
        discard_without_credentials: bool = False,
    ) -> None:
        if not 5.0 <= duplicate_ttl <= 30.0:
            raise ValueError("duplicate_ttl must be between 5 and 30 seconds (RFC 5080)")
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._lookup = lookup_client
        self._ttl = duplicate_ttl
        self._max = max_entries
        self._in_progress_timeout = in_progress_timeout
        self._check_credentials = discard_without_credentials
        self._cache: OrderedDict[RequestKey, _Entry] = OrderedDict()
        # Ordered by last touch (insert, then move_to_end on reply), so the front is the entry
        # that expires first except behind a slow in-progress request, which only delays
        # (never advances) expiry; ``max_entries`` bounds memory either way.
        self._next_sweep = math.inf
        self._ma_seen: set[str] = set()
        self.counters: dict[str, int] = dict.fromkeys(
            [*EVENT_COUNTERS, *(r.value for r in DecodeFailure)], 0
        )

    # -- state queries -------------------------------------------------------------------

    def message_authenticator_seen(self, name: str) -> bool:
        """Whether client ``name`` has sent a valid Message-Authenticator in an
        Access-Request (the trigger of the "auto" BlastRADIUS rules)."""
        return name in self._ma_seen

    def note_message_authenticator_seen(self, name: str) -> None:
        """Record that client ``name`` is known to send Message-Authenticator (learned by
        another worker process or before a restart), so "auto" requires it from now on."""
        self._ma_seen.add(name)

    def __len__(self) -> int:
        """Entries in the duplicate cache (in progress and answered)."""
        return len(self._cache)

    # -- input ---------------------------------------------------------------------------

    def _discard(self, reason: DecodeFailure, addr: Address, detail: str = "") -> PacketDiscarded:
        c = self.counters
        c[reason] += 1
        c["packet_discarded"] += 1
        return PacketDiscarded(reason, addr, detail)

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> Event:
        """Classify one received datagram (RFC 2865 section 3 silent-discard rules)."""
        if now >= self._next_sweep:
            self._sweep(now)
        client = self._lookup(addr[0])
        if client is None:
            return self._discard(DecodeFailure.unknown_client, addr, addr[0])
        try:
            packet = decode_packet(data)
        except DecodeError as e:
            return self._discard(e.reason, addr, e.detail)
        code = packet.code
        if code != _ACCESS_REQUEST and code != _ACCOUNTING_REQUEST and code != _STATUS_SERVER:
            return self._discard(DecodeFailure.unknown_code, addr, f"code {code}")

        # One pass over the attributes: Message-Authenticator offset/count, flags.
        ma_offset = -1
        ma_count = 0
        proxy_state = False
        eap = False
        off = 20
        for t, v in packet.attributes:
            if t == _MA:
                ma_count += 1
                ma_offset = off
                if len(v) != 16:
                    return self._discard(
                        DecodeFailure.message_authenticator_length, addr, f"offset {off}"
                    )
            elif t == _PROXY_STATE:
                proxy_state = True
            elif t == _EAP:
                eap = True
            off += 2 + len(v)
        if ma_count > 1:
            return self._discard(DecodeFailure.multiple_message_authenticator, addr)
        raw = packet.raw
        secret = client.secret

        if code == _ACCESS_REQUEST:
            if ma_offset >= 0:
                if not verify_message_authenticator(raw, ma_offset, secret):
                    return self._discard(DecodeFailure.bad_message_authenticator, addr)
                self._ma_seen.add(client.name)
            else:
                if eap:
                    return self._discard(DecodeFailure.eap_without_message_authenticator, addr)
                req = client.require_message_authenticator
                if req != "no" and (req == "yes" or client.name in self._ma_seen):
                    return self._discard(DecodeFailure.missing_message_authenticator, addr)
                if proxy_state:
                    lim = client.limit_proxy_state
                    if lim != "no" and (lim == "yes" or client.name in self._ma_seen):
                        return self._discard(
                            DecodeFailure.proxy_state_without_message_authenticator, addr
                        )
            if self._check_credentials and not self._has_credentials(packet):
                return self._discard(DecodeFailure.missing_user_credentials, addr)
        elif code == _ACCOUNTING_REQUEST:
            if not verify_accounting_request(raw, secret):
                return self._discard(DecodeFailure.bad_authenticator, addr)
            if ma_offset >= 0 and not verify_message_authenticator(raw, ma_offset, secret, _ZERO16):
                return self._discard(DecodeFailure.bad_message_authenticator, addr)
        else:  # Status-Server, RFC 5997 section 3: Message-Authenticator is mandatory
            if ma_offset < 0:
                return self._discard(DecodeFailure.missing_message_authenticator, addr)
            if not verify_message_authenticator(raw, ma_offset, secret):
                return self._discard(DecodeFailure.bad_message_authenticator, addr)
            self.counters["status_server_received"] += 1
            return StatusServerReceived(packet, client, addr)

        # Duplicate detection, RFC 5080 section 2.2.2.
        key: RequestKey = (addr[0], addr[1], code, packet.identifier, packet.authenticator)
        cache = self._cache
        entry = cache.get(key)
        if entry is not None:
            reply = entry[0]
            if reply is None:
                self.counters["duplicate_ignored"] += 1
                return DuplicateIgnored(addr)
            self.counters["duplicate_replied"] += 1
            return DuplicateReplied(reply, addr)
        if len(cache) >= self._max:
            cache.popitem(last=False)
            self.counters["evicted"] += 1
        expires = now + self._in_progress_timeout
        cache[key] = (None, expires)
        if expires < self._next_sweep:
            self._next_sweep = expires
        self.counters["request_received"] += 1
        return RequestReceived(packet, client, addr, key, proxy_state)

    @staticmethod
    def _has_credentials(packet: Packet) -> bool:
        for t, v in packet.attributes:
            if t in _CREDENTIALS:
                return True
            if t == AttrType.ServiceType and v == _CALL_CHECK:
                return True
        return False

    def _sweep(self, now: float) -> None:
        cache = self._cache
        while cache:
            key = next(iter(cache))
            expires = cache[key][1]
            if expires > now:
                self._next_sweep = expires
                return
            del cache[key]
        self._next_sweep = math.inf

    def forget(self, key: RequestKey) -> None:
        """Release a request that will not be answered (e.g. the accounting store failed), so
        a retransmission is processed afresh. Idempotent."""
        entry = self._cache.get(key)
        if entry is not None and entry[0] is None:
            del self._cache[key]
            self.counters["forgotten"] += 1

    # -- output --------------------------------------------------------------------------

    def reply(
        self,
        request: RequestReceived,
        code: int,
        attributes: Sequence[tuple[int, bytes]],
        now: float,
    ) -> bytes:
        """Build, cache and return the response to ``request`` (RFC 2865 section 3).

        Access-Accept/Reject/Challenge start with a Message-Authenticator (RFC 3579 3.2,
        CVE-2024-3596); then ``attributes`` (which must not contain Message-Authenticator or
        Proxy-State); then every Proxy-State of the request, verbatim and in order (RFC 2865
        5.33). Accounting-Response carries no Message-Authenticator (RFC 3579 defines it for
        Access-* only). Raises LocalProtocolError for a code that does not answer the
        request, or a reply over 4096 octets; the request then stays in progress until
        ``forget``.
        """
        packet = request.packet
        allowed = _REPLY_CODES.get(packet.code)
        if allowed is None or code not in allowed:
            raise LocalProtocolError(f"code {code} does not answer code {packet.code}")
        data = _build_reply(
            code,
            packet,
            attributes,
            request.client.secret,
            code in _ACCESS_REPLIES,
            request.proxy_state,
        )
        expires = now + self._ttl
        cache = self._cache
        key = request.key
        cache[key] = (data, expires)
        cache.move_to_end(key)
        if expires < self._next_sweep:
            self._next_sweep = expires
        self.counters["reply_sent"] += 1
        return data

    def reply_status(
        self,
        event: StatusServerReceived,
        code: int,
        attributes: Sequence[tuple[int, bytes]] = (),
    ) -> bytes:
        """Answer a Status-Server (RFC 5997 section 3): Access-Accept on an authentication
        port, Accounting-Response on an accounting port; Message-Authenticator first, computed
        with the Status-Server's Request Authenticator. Not cached for duplicates."""
        if code not in _STATUS_REPLY_CODES:
            raise LocalProtocolError(f"code {code} does not answer Status-Server")
        self.counters["status_reply_sent"] += 1
        return _build_reply(code, event.packet, attributes, event.client.secret, True)


def _build_reply(
    code: int,
    request: Packet,
    attributes: Sequence[tuple[int, bytes]],
    secret: bytes,
    with_ma: bool,
    proxy_state: bool = True,
) -> bytes:
    body = push_attributes(attributes)
    if proxy_state:
        body += push_attributes([(t, v) for t, v in request.attributes if t == _PROXY_STATE])
    if with_ma:
        body = _MA_PLACEHOLDER + body
    length = 20 + len(body)
    if length > MAX_PACKET:
        raise LocalProtocolError(f"reply of {length} octets exceeds {MAX_PACKET}")
    header = bytes((code, request.identifier, length >> 8, length & 0xFF))
    req_auth = request.authenticator
    if with_ma:
        mac = message_authenticator(b"".join((header, req_auth, body)), secret)
        body = b"".join((_MA_HEADER, mac, body[18:]))
    auth = _md5(b"".join((header, req_auth, body, secret))).digest()
    return b"".join((header, auth, body))
