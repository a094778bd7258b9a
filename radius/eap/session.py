"""One EAP conversation, authenticator side (RFC 3748 sections 2.1, 4 and 5.3; the
pass-through authenticator of RFC 3579 is the NAS, this is the backend server).

States and what moves them (h11 style: the whole table is here):

    AWAIT_IDENTITY --Response/Identity--> METHOD (first Request of the preferred method)
    METHOD --Nak before the method's first Response--> METHOD (the next common method)
    METHOD --Response of the method's Type--> METHOD | DONE (Succeeded / Failed)
    any --more than max_rounds Requests--> DONE (Failed too_many_rounds)

Responses are matched on the Identifier of the last Request (others are ``Discarded``, RFC
3748 section 4.1); a byte-identical repeat of the last Response gets the last answer again,
also after the end (a NAS re-sending its last Access-Request under a new RADIUS Identifier).
The events are in the past tense; ``Succeeded`` is an authentication, not a decision: the
caller's policy runs next and sends either ``eap_message`` (EAP-Success, in Access-Accept) or
``eap_failure`` (in Access-Reject).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

from cryptography import x509

from radius.eap.method import (
    EapMethod,
    FailureReason,
    MethodFailed,
    MethodSucceeded,
    RoundContext,
)
from radius.eap.packet import (
    EapCode,
    EapPacket,
    EapType,
    decode_eap,
    eap_failure,
    eap_request,
    eap_success,
    pull_nak,
)
from radius.errors import DecodeError

__all__ = [
    "ChallengeIssued",
    "Discarded",
    "EapSession",
    "Event",
    "Failed",
    "MethodFactory",
    "Succeeded",
]

MethodFactory: TypeAlias = Callable[[int, str], EapMethod]
"""(EAP Type, outer identity) -> a fresh method for this conversation."""


@dataclass(frozen=True, slots=True)
class ChallengeIssued:
    """Send ``eap_message`` (an EAP-Request) in an Access-Challenge."""

    eap_message: bytes
    method: int | None = None


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The peer authenticated. The policy decides next: Access-Accept with ``eap_message``
    (EAP-Success) and the MPPE keys from ``msk``, or Access-Reject with ``eap_failure``.

    ``inner_identity`` is the authenticated name (PEAP/TTLS: the one inside the tunnel;
    EAP-TLS and EAP-MD5: the EAP-Identity). ``peer_chain`` (EAP-TLS) is UNVERIFIED: the
    caller must check it against its trust anchors and revocation before accepting.
    A ``resumed`` session skipped the certificate or the inner method; the policy still
    decides afresh.
    """

    eap_message: bytes
    eap_failure: bytes
    method: int
    outer_identity: str
    inner_identity: str
    msk: bytes | None = field(default=None, repr=False)
    emsk: bytes | None = field(default=None, repr=False)
    peer_chain: tuple[x509.Certificate, ...] = ()
    tls_version: str | None = None
    tls_cipher: str | None = None
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """Authentication failed: send ``eap_message`` (EAP-Failure) in an Access-Reject."""

    eap_message: bytes
    reason: FailureReason
    detail: str = ""
    method: int | None = None
    outer_identity: str | None = None
    inner_identity: str | None = None


@dataclass(frozen=True, slots=True)
class Discarded:
    """The EAP-Message was dropped without an answer (malformed, wrong Identifier, ...)."""

    reason: str
    detail: str = ""


Event: TypeAlias = ChallengeIssued | Succeeded | Failed | Discarded


class _State(Enum):
    AWAIT_IDENTITY = "await_identity"
    METHOD = "method"
    DONE = "done"


class EapSession:
    """The state machine of one conversation; ``EapManager`` keeps one per RADIUS State."""

    __slots__ = (
        "_factory",
        "_identifier",
        "_last",
        "_max_rounds",
        "_method",
        "_method_answered",
        "_methods",
        "_outer_identity",
        "_rounds",
        "_state",
        "_success",
        "_tried",
    )

    def __init__(
        self, *, methods: Sequence[int], factory: MethodFactory, max_rounds: int = 64
    ) -> None:
        if not methods:
            raise ValueError("at least one EAP method")
        self._methods = tuple(methods)
        self._factory = factory
        self._max_rounds = max_rounds
        self._state = _State.AWAIT_IDENTITY
        self._identifier = 0
        self._rounds = 0
        self._method: EapMethod | None = None
        self._method_answered = False
        self._tried: set[int] = set()
        self._outer_identity: str | None = None
        self._last: tuple[bytes, Event] | None = None
        self._success: MethodSucceeded | None = None

    @property
    def outer_identity(self) -> str | None:
        return self._outer_identity

    @property
    def method(self) -> int | None:
        return self._method.eap_type if self._method is not None else None

    @property
    def finished(self) -> bool:
        return self._state is _State.DONE

    @property
    def rounds(self) -> int:
        return self._rounds

    @property
    def awaiting_identity(self) -> bool:
        return self._state is _State.AWAIT_IDENTITY

    def is_repeat(self, data: bytes) -> bool:
        """``data`` is the last Response again (it gets the last answer again)."""
        return self._last is not None and data == self._last[0]

    def request_identity(self, identifier: int) -> ChallengeIssued:
        """The answer to EAP-Start (RFC 3579 section 2.1): EAP-Request/Identity."""
        self._identifier = identifier & 0xFF
        self._rounds += 1
        return ChallengeIssued(eap_request(self._identifier, EapType.Identity))

    def receive(self, data: bytes, *, fragment_size: int, now: float) -> Event:
        """Take one EAP-Message (a whole EAP packet) and say what to send."""
        if self._last is not None and data == self._last[0]:
            return self._last[1]
        if self._state is _State.DONE:
            return Discarded("finished", "the conversation is over")
        try:
            packet = decode_eap(data)
        except DecodeError as e:
            return Discarded(e.reason.value, e.detail)
        if packet.code != EapCode.Response:
            return Discarded("not_a_response", f"Code {packet.code}")
        if packet.identifier != self._identifier and self._rounds:
            return Discarded("identifier_mismatch", f"{packet.identifier} != {self._identifier}")
        ctx = RoundContext((packet.identifier + 1) & 0xFF, fragment_size, now)
        event = self._dispatch(packet, ctx)
        self._last = (data, event)
        return event

    def accept(self, now: float) -> None:
        """The caller sent Access-Accept: let the method keep what resumption needs."""
        success, self._success = self._success, None
        if success is not None and success.on_accept is not None:
            success.on_accept(now)

    # ------------------------------------------------------------------ transitions

    def _dispatch(self, packet: EapPacket, ctx: RoundContext) -> Event:
        if self._state is _State.AWAIT_IDENTITY:
            if packet.type != EapType.Identity:
                return self._failed(packet, FailureReason.protocol_violation, "no EAP-Identity")
            self._outer_identity = packet.type_data.decode("utf-8", "replace")
            return self._propose(self._methods[0], packet, ctx)
        method = self._method
        assert method is not None
        if packet.type == EapType.Nak:
            return self._nak(packet, ctx)
        if packet.type != method.eap_type:
            return self._failed(
                packet, FailureReason.protocol_violation, f"Type {packet.type} in {method.eap_type}"
            )
        self._method_answered = True
        try:
            result = method.process(packet.type_data, ctx)
        except DecodeError as e:
            return self._failed(packet, FailureReason.malformed_message, e.reason.value)
        if isinstance(result, MethodFailed):
            return self._failed(packet, result.reason, result.detail, result.identity)
        if isinstance(result, MethodSucceeded):
            return self._succeeded(packet, result)
        return self._challenge(ctx, method.eap_type, result)

    def _nak(self, packet: EapPacket, ctx: RoundContext) -> Event:
        if self._method_answered:
            return self._failed(
                packet, FailureReason.protocol_violation, "Nak after the method began"
            )
        desired = pull_nak(packet.type_data)
        for candidate in self._methods:
            if candidate in desired and candidate not in self._tried:
                return self._propose(candidate, packet, ctx)
        return self._failed(
            packet, FailureReason.no_common_method, f"peer wants {sorted(set(desired))}"
        )

    def _propose(self, eap_type: int, packet: EapPacket, ctx: RoundContext) -> Event:
        assert self._outer_identity is not None
        self._tried.add(eap_type)
        self._method = self._factory(eap_type, self._outer_identity)
        self._method_answered = False
        self._state = _State.METHOD
        return self._challenge(ctx, eap_type, self._method.start(ctx))

    def _challenge(self, ctx: RoundContext, eap_type: int, type_data: bytes) -> Event:
        if self._rounds >= self._max_rounds:
            return self._failed_id(
                ctx.identifier - 1, FailureReason.too_many_rounds, f"{self._rounds} rounds"
            )
        self._rounds += 1
        self._identifier = ctx.identifier
        return ChallengeIssued(eap_request(ctx.identifier, eap_type, type_data), eap_type)

    def _succeeded(self, packet: EapPacket, result: MethodSucceeded) -> Event:
        assert self._outer_identity is not None and self._method is not None
        self._state = _State.DONE
        self._success = result
        return Succeeded(
            eap_message=eap_success(packet.identifier),
            eap_failure=eap_failure(packet.identifier),
            method=self._method.eap_type,
            outer_identity=self._outer_identity,
            inner_identity=result.identity,
            msk=result.msk,
            emsk=result.emsk,
            peer_chain=result.peer_chain,
            tls_version=result.tls_version,
            tls_cipher=result.tls_cipher,
            resumed=result.resumed,
        )

    def _failed(
        self,
        packet: EapPacket,
        reason: FailureReason,
        detail: str = "",
        inner_identity: str | None = None,
    ) -> Event:
        return self._failed_id(packet.identifier, reason, detail, inner_identity)

    def _failed_id(
        self,
        identifier: int,
        reason: FailureReason,
        detail: str = "",
        inner_identity: str | None = None,
    ) -> Event:
        self._state = _State.DONE
        return Failed(
            eap_message=eap_failure(identifier & 0xFF),
            reason=reason,
            detail=detail,
            method=self.method,
            outer_identity=self._outer_identity,
            inner_identity=inner_identity,
        )
