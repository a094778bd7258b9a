"""What every EAP method of this server shares: credentials, the per-round context, the
method results and the interface ``EapSession`` drives (RFC 3748 section 7.1's method layer).

A method turns the Type-Data of each Response into the Type-Data of the next Request of its
own Type, or into a result: ``MethodSucceeded`` (with the keys, RFC 3748 section 7.10) or
``MethodFailed`` (with a reason in words). Methods never see EAP headers, RADIUS or time
except through ``RoundContext``; randomness comes from the ``token_bytes`` they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeAlias

from cryptography import x509

from radius.mschap import NT_HASH_LENGTH, nt_password_hash

__all__ = [
    "CertificateCheck",
    "CredentialLookup",
    "EapMethod",
    "FailureReason",
    "MethodFailed",
    "MethodResult",
    "MethodSucceeded",
    "PasswordMaterial",
    "RoundContext",
    "TokenBytes",
]

TokenBytes: TypeAlias = Callable[[int], bytes]
"""``secrets.token_bytes`` or a deterministic stand-in in tests (STYLE.md convention 1)."""


@dataclass(frozen=True, slots=True)
class PasswordMaterial:
    """What the credential store knows about one identity.

    ``password`` is the cleartext (needed by EAP-MD5; enough for everything); ``nt_hash`` is
    NtPasswordHash (RFC 2759 section 8.3), enough for MS-CHAPv2 and for checking a PAP
    password. Either may be absent; a method that cannot work with what is given fails with
    ``FailureReason.password_unavailable``.
    """

    password: str | None = field(default=None, repr=False)
    nt_hash: bytes | None = field(default=None, repr=False)

    def nt_password_hash(self) -> bytes | None:
        if self.nt_hash is not None and len(self.nt_hash) == NT_HASH_LENGTH:
            return self.nt_hash
        if self.password is not None:
            return nt_password_hash(self.password)
        return None


CertificateCheck: TypeAlias = Callable[[tuple[x509.Certificate, ...]], str | None]
"""EAP-TLS, optional: the peer's chain (leaf first, unverified) -> None to go on, or the
reason to refuse it. Runs before the TLS 1.3 protected success indication is sent."""

CredentialLookup: TypeAlias = Callable[[str], PasswordMaterial | None]
"""identity -> what is known about it, or None for an unknown identity. Called synchronously
while a Response is processed (the inner identity for PEAP/TTLS, the outer one for EAP-MD5
and outer EAP-MSCHAPv2); it must not block."""


class FailureReason(StrEnum):
    """Why a conversation ended in EAP-Failure (the words an audit record shows)."""

    unknown_user = "unknown_user"
    wrong_password = "wrong_password"  # noqa: S105 - a reason, not a password
    password_unavailable = "password_unavailable"  # noqa: S105
    """The store has no usable form of the password for this method (e.g. EAP-MD5 needs the
    cleartext and only an NT hash is kept)."""
    no_common_method = "no_common_method"
    """The peer's Nak lists no method this server offers (RFC 3748 section 5.3)."""
    tls_failed = "tls_failed"
    """The TLS handshake or record layer failed (detail: OpenSSL's reason)."""
    no_client_certificate = "no_client_certificate"
    certificate_rejected = "certificate_rejected"
    """The caller's early ``certificate_check`` refused the peer's chain (EAP-TLS)."""
    identity_mismatch = "identity_mismatch"
    """The MS-CHAPv2 Name differs from the identity the peer gave (after the domain)."""
    unsupported_inner_method = "unsupported_inner_method"
    peer_failure = "peer_failure"
    """The peer reported failure (PEAP Result TLV, MS-CHAPv2 Failure Response)."""
    protocol_violation = "protocol_violation"
    """A message the method's state does not allow (data where an ACK was due, a Nak after
    the method started, an unexpected Type)."""
    malformed_message = "malformed_message"
    """Method data that does not decode (detail: the DecodeFailure name)."""
    too_many_rounds = "too_many_rounds"
    unknown_conversation = "unknown_conversation"
    """A State this server does not hold (expired, finished, or never issued)."""


@dataclass(frozen=True, slots=True)
class RoundContext:
    """Per-Response facts a method needs: the Identifier of the Request it is building (the
    MS-CHAPv2-ID, the MD5 Identifier), the fragment size for this NAS and the time."""

    identifier: int
    fragment_size: int
    now: float


@dataclass(frozen=True, slots=True)
class MethodSucceeded:
    """The method authenticated ``identity`` (RFC 3748 section 7.2 "success").

    ``msk``/``emsk`` are 64 octets each for key-deriving methods (RFC 3748 section 7.10),
    None for EAP-MD5. ``peer_chain`` is the certificate chain the peer sent (leaf first),
    *unverified*: EAP-TLS leaves the verdict to the caller's policy. ``on_accept`` is what
    the method does once the caller has sent Access-Accept (keep the TLS session resumable).
    """

    identity: str
    msk: bytes | None = field(default=None, repr=False)
    emsk: bytes | None = field(default=None, repr=False)
    peer_chain: tuple[x509.Certificate, ...] = ()
    tls_version: str | None = None
    tls_cipher: str | None = None
    resumed: bool = False
    on_accept: Callable[[float], None] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MethodFailed:
    """The method failed; ``identity`` is the one it was working on, if it got that far."""

    reason: FailureReason
    detail: str = ""
    identity: str | None = None


MethodResult: TypeAlias = bytes | MethodSucceeded | MethodFailed
"""``bytes`` is the Type-Data of the next Request (same Type); the others end the method."""


class EapMethod(Protocol):
    """An authenticator-side EAP method (RFC 3748 section 7.1)."""

    @property
    def eap_type(self) -> int: ...

    def start(self, ctx: RoundContext) -> bytes:
        """The Type-Data of the method's first Request."""
        ...

    def process(self, type_data: bytes, ctx: RoundContext) -> MethodResult:
        """Take the Type-Data of the peer's Response; raises DecodeError for malformed data."""
        ...
