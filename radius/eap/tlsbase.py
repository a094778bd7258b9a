"""The part EAP-TLS, PEAP and EAP-TTLS share: the Start, fragment handling both ways, the TLS
handshake and the hand-over to the tunnel (RFC 5216 sections 2.1 and 2.1.5; RFC 5281 section
9.2; draft-kamath-pppext-peapv0).

One Response is handled as hostapd's eap_server_tls_common.c does:

1. while our fragments are outstanding the Response must be an empty ACK -> next fragment;
2. a peer fragment with M set is buffered (``Reassembler``) and ACKed with an empty Request;
3. a complete message goes to OpenSSL; when the handshake completes the subclass's
   ``_tunnel_started`` runs, then any application data the peer sent with its last
   handshake flight goes to ``_tunnel_data``; an empty Response with the tunnel up goes to
   ``_tunnel_ack``;
4. what OpenSSL wrote (handshake, post-handshake tickets, tunnel records) is sent, cut to
   the NAS's fragment size. A success that still has records to send (TLS 1.2 Finished,
   TLS 1.3 tickets and the protected success indication) is held until the peer ACKs them.

Subclasses write tunnel data with ``self._tls.write`` and return None (continue), or a
``MethodSucceeded`` / ``MethodFailed``.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography import x509

from radius.eap.fragment import (
    DEFAULT_MAX_MESSAGE,
    Fragmenter,
    Reassembler,
    TlsFrame,
    pull_tls_frame,
    push_tls_frame,
)
from radius.eap.fragment import TlsFlags as _Flags
from radius.eap.method import FailureReason, MethodFailed, MethodResult, MethodSucceeded
from radius.eap.method import RoundContext as Round
from radius.eap.tls import TlsError, TlsServerConnection, TlsServerContext

__all__ = ["TlsBasedMethod", "TunnelOutcome"]

_VERSION = 0
"""PEAPv0 and EAP-TTLSv0 put 0 in the version bits; EAP-TLS keeps them reserved (0)."""

TunnelOutcome: TypeAlias = MethodSucceeded | MethodFailed | None
"""What a tunnel hook returns: None to go on (after writing to the tunnel, or not)."""


class TlsBasedMethod:
    """Base of the TLS-based methods; ``eap_type`` comes from the context."""

    _remember_identity = False
    """PEAP and TTLS: on accept, remember the inner identity for the session's resumption."""

    def __init__(
        self,
        context: TlsServerContext,
        *,
        outer_identity: str,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._context = context
        self._connection: TlsServerConnection | None = None
        self._outer_identity = outer_identity
        self._reassembler = Reassembler(max_message_size)
        self._fragmenter: Fragmenter | None = None
        self._held: MethodSucceeded | None = None
        self._preface = b""
        self._handshake_pending = False
        """Handshake records (TLS 1.2 Finished, TLS 1.3 tickets) were still to be sent when
        the tunnel came up: PEAP waits for their ACK before its first inner Request."""

    @property
    def eap_type(self) -> int:
        return self._context.eap_type

    @property
    def _tls(self) -> TlsServerConnection:
        # Made when the peer's first TLS record arrives, not with the method: the server
        # proposes its first method to every peer, and one that NAKs it (EAP-TLS peers told
        # PEAP first) would otherwise cost an OpenSSL connection for nothing.
        conn = self._connection
        if conn is None:
            conn = self._connection = self._context.connection()
        return conn

    def start(self, ctx: Round) -> bytes:
        """EAP-TLS Start (RFC 5216 section 3.1: S flag, no data; the version bits 0)."""
        return push_tls_frame(TlsFrame(_Flags.Start | _VERSION))

    def process(self, type_data: bytes, ctx: Round) -> MethodResult:
        frame = pull_tls_frame(type_data)
        if frame.start:
            return self._fail(FailureReason.protocol_violation, "S flag in a Response")
        if frame.version != _VERSION:
            return self._fail(FailureReason.protocol_violation, f"version {frame.version}")
        if self._fragmenter is not None and not self._fragmenter.done:
            if not frame.is_ack:
                return self._fail(FailureReason.protocol_violation, "data while ACK was due")
            return self._next_fragment(ctx)
        message = self._reassembler.add(frame)
        if message is None:
            return push_tls_frame(TlsFrame(_VERSION))  # ACK the peer's fragment
        try:
            outcome = self._on_records(message, ctx) if message else self._on_ack(ctx)
        except TlsError as e:
            return self._fail(FailureReason.tls_failed, str(e))
        return self._reply(outcome, ctx)

    # ------------------------------------------------------------------ internals

    def _on_ack(self, ctx: Round) -> TunnelOutcome:
        if self._held is not None:
            held, self._held = self._held, None
            return held
        if not self._tls.established:
            return self._fail(FailureReason.protocol_violation, "empty Response in the handshake")
        self._handshake_pending = False
        return self._tunnel_ack(ctx)

    def _on_records(self, message: bytes, ctx: Round) -> TunnelOutcome:
        tls = self._tls
        tls.receive(message)
        if not tls.established:
            if not tls.handshake():
                return None
            return self._started(ctx)
        data = tls.read()
        if self._held is not None:
            return self._fail(FailureReason.protocol_violation, "data after the final flight")
        if not data:
            return self._fail(FailureReason.protocol_violation, "no tunnel data in Response")
        return self._tunnel_data(data, ctx)

    def _started(self, ctx: Round) -> TunnelOutcome:
        tls = self._tls
        self._preface = tls.data_to_send()
        self._handshake_pending = bool(self._preface)
        outcome = self._tunnel_started(ctx)
        if outcome is None:
            data = tls.read()
            if data:
                outcome = self._tunnel_data(data, ctx)
        return outcome

    def _reply(self, outcome: TunnelOutcome, ctx: Round) -> MethodResult:
        if isinstance(outcome, MethodFailed):
            return outcome
        out = self._preface + self._tls.data_to_send()
        self._preface = b""
        if isinstance(outcome, MethodSucceeded):
            if not out:
                return outcome
            self._held = outcome
        if not out:
            return push_tls_frame(TlsFrame(_VERSION))  # nothing to say: an empty Request
        self._fragmenter = Fragmenter(out, _VERSION)
        return self._next_fragment(ctx)

    def _next_fragment(self, ctx: Round) -> bytes:
        assert self._fragmenter is not None
        return push_tls_frame(self._fragmenter.next_frame(ctx.fragment_size))

    def _fail(self, reason: FailureReason, detail: str) -> MethodFailed:
        return MethodFailed(reason, detail, self._identity())

    def _identity(self) -> str | None:
        return None

    def _succeeded(
        self, identity: str, peer_chain: tuple[x509.Certificate, ...] = ()
    ) -> MethodSucceeded:
        """The success of this tunnel: keys, version, resumption, and what to do on accept."""
        tls = self._tls
        msk, emsk = tls.eap_keys()
        return MethodSucceeded(
            identity=identity,
            msk=msk,
            emsk=emsk,
            peer_chain=peer_chain,
            tls_version=tls.version,
            tls_cipher=tls.cipher,
            resumed=tls.resumed,
            on_accept=self._on_accept,
        )

    def _on_accept(self, now: float) -> None:
        tls = self._tls
        tls.keep_session()
        identity = self._identity()
        key = tls.session_key()
        if self._remember_identity and key is not None and identity is not None:
            tls.context.resumption_cache.put(key, identity, now)

    # ------------------------------------------------------------------ subclass hooks

    def _tunnel_started(self, ctx: Round) -> TunnelOutcome:
        """The handshake just completed (``self._handshake_pending`` tells whether handshake
        records still go out with this Request)."""
        raise NotImplementedError

    def _tunnel_data(self, data: bytes, ctx: Round) -> TunnelOutcome:
        """Decrypted application data from the peer."""
        return self._fail(FailureReason.protocol_violation, "unexpected tunnel data")

    def _tunnel_ack(self, ctx: Round) -> TunnelOutcome:
        """An empty Response while the tunnel is up and nothing was outstanding."""
        return self._fail(FailureReason.protocol_violation, "unexpected empty Response")
