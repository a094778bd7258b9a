"""EAP-TLS (RFC 5216; RFC 9190 for TLS 1.3).

The server requests a client certificate and accepts whatever chain the peer sends: the
TLS handshake proves the peer holds the leaf's private key, and the caller's policy decides
whether the chain is trusted, unrevoked and authorized (``MethodSucceeded.peer_chain``).
With TLS 1.3 the server sends the protected success indication, one application-data octet
0x00, after its tickets (RFC 9190 section 2.5) and waits for the peer's empty Response
before EAP-Success, as hostapd does. The 0x00 tells the peer it is authenticated; a caller
that wants the chain verified before that promise passes ``certificate_check`` (the policy
still decides after Succeeded, and may still answer with EAP-Failure).
"""

from __future__ import annotations

from radius.eap.fragment import DEFAULT_MAX_MESSAGE
from radius.eap.method import CertificateCheck, FailureReason, MethodFailed
from radius.eap.method import RoundContext as Round
from radius.eap.tls import TlsServerContext
from radius.eap.tlsbase import TlsBasedMethod, TunnelOutcome

__all__ = ["EapTlsMethod"]

_PROTECTED_SUCCESS = b"\x00"


class EapTlsMethod(TlsBasedMethod):
    """EAP-TLS: the identity is the outer EAP-Identity; the certificate is the credential."""

    def __init__(
        self,
        context: TlsServerContext,
        *,
        outer_identity: str,
        certificate_check: CertificateCheck | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        super().__init__(context, outer_identity=outer_identity, max_message_size=max_message_size)
        self._certificate_check = certificate_check

    def _identity(self) -> str | None:
        return self._outer_identity

    def _tunnel_started(self, ctx: Round) -> TunnelOutcome:
        chain = self._tls.peer_chain()
        if not chain:
            return MethodFailed(
                FailureReason.no_client_certificate, "no peer certificate", self._outer_identity
            )
        if self._certificate_check is not None:
            refusal = self._certificate_check(chain)
            if refusal is not None:
                return MethodFailed(
                    FailureReason.certificate_rejected, refusal, self._outer_identity
                )
        if self._tls.is_tls13:
            self._tls.write(_PROTECTED_SUCCESS)
        return self._succeeded(self._outer_identity, chain)
