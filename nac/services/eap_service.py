"""802.1X for the RADIUS service: the EAP core (``radius.eap``) fed from the snapshot and the
PKI, and what the policy and the audit log need from a finished conversation.

The EAP core authenticates (TLS handshakes, inner MS-CHAPv2 or PAP, EAP-MD5) against the
credentials of the current snapshot; the certificate chain of EAP-TLS is verified here with
``nac.pki`` against the CA and its CRL (re-read when the file changes, so a revocation takes
effect without a restart). What it does not do is decide access: ``RadiusService`` runs the
policy on every ``Succeeded``, a resumed TLS session included.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from nac.core.config import Settings
from nac.pki import CertVerification, CrlCache, Pki, configured_pki, verify_client_chain
from nac.services.snapshot import SnapshotStore
from radius.eap import (
    EapConfig,
    EapManager,
    EapType,
    PasswordMaterial,
    TlsServerConfig,
    TlsVersion,
)

log = logging.getLogger("nac.eap")

METHOD_TYPES = {
    "peap": EapType.PEAP,
    "ttls": EapType.TTLS,
    "tls": EapType.TLS,
    "md5": EapType.MD5Challenge,
}
# The policy's auth.method for each EAP type.
METHOD_NAMES = {
    int(EapType.PEAP): "peap",
    int(EapType.TTLS): "ttls",
    int(EapType.TLS): "eap-tls",
    int(EapType.MD5Challenge): "eap-md5",
}
_VERSIONS = {"1.2": TlsVersion.TLSv1_2, "1.3": TlsVersion.TLSv1_3}
# An EAP-TLS chain is checked when the tunnel comes up (before TLS 1.3's protected success
# indication) and its result is wanted again when the conversation succeeds, a few round
# trips later: the first result is kept that long for that one use, never across
# conversations, and only while the CRL it was taken against is still the current one.
_RECHECK_WITHIN_S = 5.0
_MAX_PENDING_CHAINS = 4096
_MAX_PENDING_PER_CHAIN = 256
_PendingCheck = tuple[float, tuple[x509.CertificateRevocationList, ...], "CertificateResult"]


def ensure_pki(settings: Settings) -> Pki:
    """The PKI for EAP; the built-in CA and a server certificate are made if absent."""
    pki = configured_pki(settings)
    if settings.eap_server_cert is None:
        result = pki.init(server_names=[settings.node_name])
        if result.created_ca:
            log.info("created the built-in CA for 802.1X in %s", pki.directory)
    return pki


@dataclass(frozen=True, slots=True)
class CertificateResult:
    """The EAP-TLS chain check, for the policy context and the audit record."""

    ok: bool
    reason: str
    subject: str | None = None
    serial: str | None = None
    user: str | None = None  # whom it names: the CN, else the SAN UPN, else the SAN email
    attributes: dict[str, tuple[str, ...]] | None = None


class EapService:
    """One process's EAP conversations and certificate checks."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: SnapshotStore,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        wall_clock: Callable[[], float] = time.time,
        worker: tuple[int, int] | None = None,
    ) -> None:
        """``worker`` = (index, count) when several processes share the port: each State
        names its worker, and the port's BPF program routes the next round there."""
        self._store = store
        pki = ensure_pki(settings)
        paths = pki.paths
        self._trusted = pki.ca_certificates()
        self._crls = CrlCache(paths.crl) if Path(paths.crl).exists() else None
        self._wall_clock = wall_clock
        self._monotonic = time.monotonic
        # chain -> its conversations' tunnel-start results, oldest first, each (taken at,
        # CRLs it was checked against, result): see _RECHECK_WITHIN_S. A list, as several
        # conversations may present the same certificate at once.
        self._pending: dict[tuple[x509.Certificate, ...], list[_PendingCheck]] = {}
        methods = tuple(METHOD_TYPES[m] for m in settings.eap_methods.split(","))
        tls = TlsServerConfig(
            certificate_chain=Path(paths.server_cert),
            private_key=Path(paths.server_key),
            client_ca=Path(paths.ca_cert),
            min_version=_VERSIONS[settings.eap_tls_min_version],
            max_version=_VERSIONS[settings.eap_tls_max_version],
        )
        config = EapConfig(
            methods=methods,
            tls=tls,
            server_name=settings.node_name,
            fragment_size=settings.eap_fragment_size,
        )
        self.manager = EapManager(
            config,
            credentials=self._credentials,
            token_bytes=token_bytes,
            certificate_check=self._early_check,
            state_tag=worker,
        )

    def _credentials(self, identity: str) -> PasswordMaterial | None:
        snapshot = self._store.current
        if snapshot is None:
            return None
        user = snapshot.users.get(identity)
        if user is None or not user.enabled:
            return None
        return PasswordMaterial(password=user.password)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock(), UTC)

    def verify(self, chain: tuple[x509.Certificate, ...]) -> CertificateResult:
        """The client chain against the CA and the current CRL.

        Reuses the result of this chain's tunnel-start check when that was taken within
        the last few seconds against the CRL still current (each such result serves once).
        """
        crls = self._crls.refresh() if self._crls is not None else ()
        waiting = self._pending.get(chain)
        if waiting is not None:
            horizon = self._monotonic() - _RECHECK_WITHIN_S
            found: CertificateResult | None = None
            while waiting and found is None:  # the oldest first; stale ones are dropped
                taken, checked_crls, result = waiting.pop(0)
                if checked_crls is crls and taken >= horizon:
                    found = result
            if not waiting:
                del self._pending[chain]
            if found is not None:
                return found
        return self._check(chain, crls)

    def _check(
        self,
        chain: tuple[x509.Certificate, ...],
        crls: tuple[x509.CertificateRevocationList, ...],
    ) -> CertificateResult:
        result: CertVerification = verify_client_chain(
            list(chain), trusted=self._trusted, crls=crls, now=self._now()
        )
        identity = result.identity
        if identity is None:
            return CertificateResult(False, result.reason)
        # The user the certificate names: its CN, else the SAN UPN, else the SAN email.
        name = identity.common_name or next(iter(identity.upns + identity.emails), None)
        return CertificateResult(
            result.ok,
            result.reason,
            subject=identity.subject,
            serial=identity.serial_hex,
            user=name,
            attributes={k: tuple(v) for k, v in identity.as_attributes().items()},
        )

    def _early_check(self, chain: tuple[x509.Certificate, ...]) -> str | None:
        # Before TLS 1.3's protected success indication: a revoked or foreign certificate
        # never hears "authenticated". The full result is taken again after Succeeded.
        crls = self._crls.refresh() if self._crls is not None else ()
        result = self._check(chain, crls)
        if result.ok:  # a refusal ends the conversation here: nothing to keep
            waiting = self._pending.get(chain)
            if waiting is None:
                if len(self._pending) >= _MAX_PENDING_CHAINS:
                    self._expire_pending()
                waiting = self._pending[chain] = []
            elif len(waiting) >= _MAX_PENDING_PER_CHAIN:
                del waiting[0]
            waiting.append((self._monotonic(), crls, result))
        return None if result.ok else result.reason

    def _expire_pending(self) -> None:
        # Conversations that died after their check (peer gone) leave entries behind: drop
        # the chains whose newest entry is stale, and if that is not enough, the oldest chain.
        horizon = self._monotonic() - _RECHECK_WITHIN_S
        for chain in [c for c, waiting in self._pending.items() if waiting[-1][0] < horizon]:
            del self._pending[chain]
        if len(self._pending) >= _MAX_PENDING_CHAINS:
            del self._pending[next(iter(self._pending))]
