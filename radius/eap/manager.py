"""The table of EAP conversations of one RADIUS server, keyed by the RADIUS State attribute
(RFC 3579 section 2.6.1; RFC 2865 section 5.24).

A State is 16 octets from ``token_bytes``: unpredictable, and never handed out again (a
new conversation always draws a new one). A conversation belongs to the NAS that began it
(``nas_key``); it ends on Failed, on ``finish`` after Succeeded, after ``conversation_timeout``
seconds without a Response, or when the table is full and it is the one idle longest: a flood
of half-open handshakes costs at most ``max_conversations`` TLS sessions of memory, each with
at most ``max_message_size`` octets of reassembly buffer.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass

from radius.eap.eaptls import EapTlsMethod
from radius.eap.fragment import DEFAULT_FRAGMENT_SIZE, DEFAULT_MAX_MESSAGE
from radius.eap.md5 import Md5Method
from radius.eap.method import (
    CertificateCheck,
    CredentialLookup,
    EapMethod,
    FailureReason,
    TokenBytes,
)
from radius.eap.packet import EapCode, EapType, decode_eap, eap_failure
from radius.eap.peap import PeapMethod
from radius.eap.session import (
    ChallengeIssued,
    Discarded,
    EapSession,
    Event,
    Failed,
    Succeeded,
)
from radius.eap.tls import TlsServerConfig, TlsServerContext
from radius.eap.ttls import TtlsMethod
from radius.errors import DecodeError, LocalProtocolError, RadiusError

__all__ = [
    "FRAMED_MTU_OVERHEAD",
    "Abandoned",
    "EapConfig",
    "EapConfigError",
    "EapManager",
    "Step",
]

STATE_LENGTH = 16
FRAMED_MTU_OVERHEAD = 14
"""EAPOL header (4) + EAP header and Type (5) + Flags (1) + TLS Message Length (4): what a
Framed-MTU loses before TLS data (FreeRADIUS subtracts the same)."""
_MIN_FRAMED_MTU = 128
"""A smaller Framed-MTU is ignored (a misconfigured NAS must not cost hundreds of rounds)."""
_TLS_TYPES = (EapType.TLS, EapType.PEAP, EapType.TTLS)
_SUPPORTED = frozenset((EapType.MD5Challenge, *_TLS_TYPES))


class EapConfigError(RadiusError, ValueError):
    """The EAP configuration cannot work (no TLS settings for a TLS method, ...)."""


@dataclass(frozen=True, slots=True)
class EapConfig:
    """EAP settings. ``methods`` is the preference order: the first is proposed after
    EAP-Identity, a Nak may switch to any other listed one (RFC 3748 section 5.3.1)."""

    methods: tuple[int, ...] = (EapType.PEAP, EapType.TTLS, EapType.TLS)
    tls: TlsServerConfig | None = None
    server_name: str = "nac"
    """The Name of MD5 and MS-CHAPv2 Challenges."""
    fragment_size: int = DEFAULT_FRAGMENT_SIZE
    max_message_size: int = DEFAULT_MAX_MESSAGE
    max_rounds: int = 64
    conversation_timeout: float = 30.0
    max_conversations: int = 4096

    def __post_init__(self) -> None:
        if not self.methods:
            raise EapConfigError("at least one EAP method")
        unknown = [m for m in self.methods if m not in _SUPPORTED]
        if unknown:
            raise EapConfigError(f"unsupported EAP methods {unknown}")
        if len(set(self.methods)) != len(self.methods):
            raise EapConfigError("an EAP method is listed twice")
        if self.tls is None and any(m in _TLS_TYPES for m in self.methods):
            raise EapConfigError("TLS-based methods need tls settings")
        if not 64 <= self.fragment_size <= 4000:
            raise EapConfigError("fragment_size must be 64..4000")
        if self.max_message_size < 16384:
            raise EapConfigError("max_message_size below one TLS record")
        if self.max_rounds < 3 or self.max_conversations < 1 or self.conversation_timeout <= 0:
            raise EapConfigError("max_rounds, max_conversations, conversation_timeout too small")


@dataclass(frozen=True, slots=True)
class Step:
    """What ``handle`` says to do: ``event`` (see ``radius.eap.session``) and the RADIUS
    State to send with an Access-Challenge (and to pass to ``finish`` after Succeeded)."""

    event: Event
    state: bytes | None = None

    @property
    def eap_message(self) -> bytes | None:
        """The EAP packet to send (EAP-Success for Succeeded), None for Discarded."""
        event = self.event
        if isinstance(event, Discarded):
            return None
        return event.eap_message

    @property
    def is_challenge(self) -> bool:
        return isinstance(self.event, ChallengeIssued)

    @property
    def is_terminal(self) -> bool:
        return isinstance(self.event, Succeeded | Failed)


@dataclass(slots=True)
class _Conversation:
    session: EapSession
    nas_key: Hashable
    last_seen: float


@dataclass(frozen=True, slots=True)
class Abandoned:
    """A conversation that timed out before it ended: the peer (or the NAS) gave up, e.g. a
    client that does not trust the server certificate and abandons the TLS handshake."""

    nas_key: Hashable
    outer_identity: str | None
    method: int | None
    idle: float


class EapManager:
    """All EAP conversations; sans-I/O (``now`` and ``token_bytes`` come from the caller).

    Conversations that time out before they end are reported in ``abandoned`` (bounded;
    the caller takes them with ``take_abandoned`` to audit them)."""

    def __init__(
        self,
        config: EapConfig,
        *,
        credentials: CredentialLookup,
        token_bytes: TokenBytes,
        certificate_check: CertificateCheck | None = None,
        state_tag: tuple[int, int] | None = None,
    ) -> None:
        """``credentials`` serves EAP-MD5 and the inner methods of PEAP/TTLS;
        ``certificate_check`` (optional) vets an EAP-TLS chain inside the handshake.
        ``state_tag`` = (index, count): the first octet of every State is ``index`` modulo
        ``count``, so a port shared by ``count`` processes can route a conversation's next
        Access-Request back to this one (15 random octets remain)."""
        if state_tag is not None and not 0 <= state_tag[0] < state_tag[1] <= 256:
            raise EapConfigError("state_tag must be (index, count) with 0 <= index < count <= 256")
        self._state_tag = state_tag
        self._config = config
        self._credentials = credentials
        self._certificate_check = certificate_check
        self._token_bytes = token_bytes
        self._server_name = config.server_name.encode("utf-8")
        self._contexts: dict[int, TlsServerContext] = {}
        for eap_type in config.methods:
            if eap_type in _TLS_TYPES:
                assert config.tls is not None
                self._contexts[eap_type] = TlsServerContext(
                    config.tls,
                    eap_type=eap_type,
                    request_client_certificate=eap_type == EapType.TLS,
                )
        self.abandoned: deque[Abandoned] = deque(maxlen=1024)
        self._active: OrderedDict[bytes, _Conversation] = OrderedDict()
        self._decided: OrderedDict[bytes, _Conversation] = OrderedDict()
        self.counters: dict[str, int] = {
            "started": 0,
            "succeeded": 0,
            "failed": 0,
            "discarded": 0,
            "expired": 0,
            "evicted": 0,
            "unknown_state": 0,
        }

    def __len__(self) -> int:
        return len(self._active)

    @property
    def config(self) -> EapConfig:
        return self._config

    def tls_context(self, eap_type: int) -> TlsServerContext | None:
        return self._contexts.get(eap_type)

    def handle(
        self,
        eap_message: bytes,
        state: bytes | None,
        *,
        nas_key: Hashable,
        framed_mtu: int | None = None,
        now: float,
    ) -> Step:
        """One Access-Request's EAP-Message (joined, ``b""`` for EAP-Start) and State."""
        self.expire(now)
        fragment_size = self.fragment_size(framed_mtu)
        conversation = self._active.get(state) if state is not None else None
        if conversation is not None and conversation.nas_key != nas_key:
            conversation = None  # another NAS's State is no State of ours
        if conversation is None and state is not None:
            decided = self._decided.get(state)
            if (
                decided is not None
                and decided.nas_key == nas_key
                and decided.session.is_repeat(eap_message)  # the last Request, re-sent
            ):
                event = decided.session.receive(eap_message, fragment_size=1, now=now)
                return Step(event, state)
        identity = self._is_identity_response(eap_message)
        if (
            conversation is not None
            and state is not None
            and identity
            and not conversation.session.awaiting_identity
            and not conversation.session.is_repeat(eap_message)
        ):
            del self._active[state]  # the peer started over (FreeRADIUS does the same)
            conversation = None
        if conversation is not None and state is not None:
            conversation.last_seen = now
            self._active.move_to_end(state)
            event = conversation.session.receive(eap_message, fragment_size=fragment_size, now=now)
            return self._settle(state, conversation, event)
        if eap_message and not identity:
            if state is not None:
                self.counters["unknown_state"] += 1
                return Step(
                    Failed(
                        eap_failure(self._identifier_of(eap_message)),
                        FailureReason.unknown_conversation,
                        "no conversation for this State",
                    )
                )
            self.counters["discarded"] += 1
            return Step(Discarded("no_conversation", "neither EAP-Start nor EAP-Identity"))
        return self._begin(eap_message, nas_key, fragment_size, now)

    def finish(self, state: bytes, *, accepted: bool, now: float) -> None:
        """The caller answered a Succeeded with Access-Accept (``accepted``) or Access-Reject.
        Only accepted TLS sessions stay resumable (and remember their inner identity)."""
        conversation = self._decided.pop(state, None) or self._active.pop(state, None)
        if conversation is not None and accepted:
            conversation.session.accept(now)

    def expire(self, now: float) -> int:
        """Drop conversations idle for ``conversation_timeout``; returns how many."""
        limit = now - self._config.conversation_timeout
        dropped = 0
        for table in (self._active, self._decided):
            while table:
                state, conversation = next(iter(table.items()))
                if conversation.last_seen > limit:
                    break
                del table[state]
                dropped += 1
                if table is self._active:
                    session = conversation.session
                    self.abandoned.append(
                        Abandoned(
                            conversation.nas_key,
                            session.outer_identity,
                            session.method,
                            now - conversation.last_seen,
                        )
                    )
        self.counters["expired"] += dropped
        return dropped

    def take_abandoned(self) -> list[Abandoned]:
        """The conversations that timed out since the last call."""
        out = list(self.abandoned)
        self.abandoned.clear()
        return out

    def fragment_size(self, framed_mtu: int | None) -> int:
        """TLS data per EAP packet for a NAS announcing ``framed_mtu`` (RFC 3580 3.12)."""
        size = self._config.fragment_size
        if framed_mtu is not None and framed_mtu >= _MIN_FRAMED_MTU:
            size = min(size, framed_mtu - FRAMED_MTU_OVERHEAD)
        return size

    # ------------------------------------------------------------------ internals

    def _begin(self, eap_message: bytes, nas_key: Hashable, fragment_size: int, now: float) -> Step:
        session = EapSession(
            methods=self._config.methods, factory=self._method, max_rounds=self._config.max_rounds
        )
        if eap_message:
            event = session.receive(eap_message, fragment_size=fragment_size, now=now)
        else:
            event = session.request_identity(self._token_bytes(1)[0])
        if not isinstance(event, ChallengeIssued):
            self._count(event)
            return Step(event)
        while len(self._active) >= self._config.max_conversations:
            self._active.popitem(last=False)
            self.counters["evicted"] += 1
        state = self._new_state()
        self._active[state] = _Conversation(session, nas_key, now)
        self.counters["started"] += 1
        return Step(event, state)

    def _settle(self, state: bytes, conversation: _Conversation, event: Event) -> Step:
        self._count(event)
        if isinstance(event, Succeeded):
            del self._active[state]
            while len(self._decided) >= self._config.max_conversations:
                self._decided.popitem(last=False)
            self._decided[state] = conversation
        elif isinstance(event, Failed):
            del self._active[state]
            return Step(event)
        return Step(event, state)

    def _count(self, event: Event) -> None:
        if isinstance(event, Succeeded):
            self.counters["succeeded"] += 1
        elif isinstance(event, Failed):
            self.counters["failed"] += 1
        elif isinstance(event, Discarded):
            self.counters["discarded"] += 1

    def _new_state(self) -> bytes:
        for _ in range(4):
            state = self._token_bytes(STATE_LENGTH)
            if len(state) != STATE_LENGTH:
                raise LocalProtocolError("token_bytes returned the wrong length")
            if self._state_tag is not None:
                index, count = self._state_tag
                first = state[0] - state[0] % count + index
                if first > 255:
                    first -= count
                state = bytes((first,)) + state[1:]
            if state not in self._active and state not in self._decided:
                return state
        raise LocalProtocolError("token_bytes keeps repeating itself")

    def _method(self, eap_type: int, outer_identity: str) -> EapMethod:
        config = self._config
        if eap_type == EapType.MD5Challenge:
            return Md5Method(
                identity=outer_identity,
                credentials=self._credentials,
                token_bytes=self._token_bytes,
                server_name=self._server_name,
            )
        context = self._contexts[eap_type]
        if eap_type == EapType.TLS:
            return EapTlsMethod(
                context,
                outer_identity=outer_identity,
                certificate_check=self._certificate_check,
                max_message_size=config.max_message_size,
            )
        if eap_type == EapType.PEAP:
            return PeapMethod(
                context,
                outer_identity=outer_identity,
                credentials=self._credentials,
                token_bytes=self._token_bytes,
                server_name=self._server_name,
                max_message_size=config.max_message_size,
            )
        return TtlsMethod(
            context,
            outer_identity=outer_identity,
            credentials=self._credentials,
            max_message_size=config.max_message_size,
        )

    @staticmethod
    def _is_identity_response(eap_message: bytes) -> bool:
        try:
            packet = decode_eap(eap_message)
        except DecodeError:
            return False
        return packet.code == EapCode.Response and packet.type == EapType.Identity

    @staticmethod
    def _identifier_of(eap_message: bytes) -> int:
        return eap_message[1] if len(eap_message) >= 2 else 0
