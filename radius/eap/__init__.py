"""Sans-I/O EAP server for 802.1X: EAP-MD5, EAP-TLS, PEAPv0/EAP-MSCHAPv2, EAP-TTLS with PAP
or MS-CHAPv2; TLS 1.2 and 1.3 through pyOpenSSL memory BIOs. No sockets, no clock, no
randomness of its own: ``now`` and ``token_bytes`` are parameters.

How a RADIUS service uses it
----------------------------

Once, at start-up::

    manager = EapManager(
        EapConfig(methods=(EapType.PEAP, EapType.TTLS, EapType.TLS),
                  tls=TlsServerConfig(certificate_chain=Path(".../server.crt"),
                                      private_key=Path(".../server.key"),
                                      client_ca=Path(".../ca.crt"))),
        credentials=lookup,           # identity -> PasswordMaterial | None, synchronous
        token_bytes=secrets.token_bytes,
        certificate_check=None,       # optional: chain -> None | reason, early EAP-TLS refusal
    )

Per Access-Request that carries EAP-Message (the RadiusServer has checked its
Message-Authenticator; RFC 3579 requires one)::

    eap = eap_message_from_attributes(packet.attributes)  # None: not EAP; b"": EAP-Start
    step = manager.handle(eap, packet.get(AttrType.State), nas_key=client_ip,
                          framed_mtu=framed_mtu_or_none, now=clock.monotonic())
    match step.event:
        case ChallengeIssued(eap_message=m):
            reply AccessChallenge: [(79, v) for v in split_eap_message(m)] + [(24, step.state)]
        case Succeeded() as ok:                  # authenticated: now the policy decides
            decision = policy(ok.inner_identity, ok.outer_identity, ok.method, ok.peer_chain, ...)
            if accepted:                         # (EAP-TLS: verify ok.peer_chain first!)
                attrs = EAP-Message(ok.eap_message) + mppe_key_attributes(
                    ok.msk, secret, packet.authenticator, secrets.token_bytes) + profile
                reply AccessAccept
            else:
                reply AccessReject with EAP-Message(ok.eap_failure)
            manager.finish(step.state, accepted=accepted, now=...)
        case Failed(eap_message=m, reason=r):    # audit r / detail; then
            reply AccessReject with EAP-Message(m)
        case Discarded(reason=r):                # count r; send nothing
            pass

``nas_key`` is whatever identifies the NAS (its IP address; not the source port, which some
NASes rotate): a State is only honoured from the NAS it was issued to. The table lives in
one process: with several workers, a NAS's requests must keep reaching the same one.
``framed_mtu`` is the Access-Request's Framed-MTU; it lowers the fragment size for that
conversation (less 14 octets of EAPOL/EAP/TLS headers).
The EAP identities are not checked against RADIUS User-Name; the caller may.

Every reply carries Message-Authenticator (RadiusServer.reply puts it first). ``Succeeded``
never decides access: a resumed TLS session (``resumed=True``) gets a fresh policy decision
like any other. ``finish(accepted=False)`` or a timeout withdraws the TLS session from the
resumption cache. ``manager.expire(now)`` may be called from a timer; ``handle`` calls it too.

Modules: ``packet`` (RFC 3748 codec, RFC 3579 EAP-Message helpers), ``fragment`` (EAP-TLS
framing), ``tls`` (the TLS engine and key export), ``eaptls``/``peap``/``ttls``/``md5``/
``mschapv2`` (the methods), ``session`` (one conversation), ``manager`` (the State table),
``keys`` (MS-MPPE keys).
"""

from __future__ import annotations

from radius.eap.keys import mppe_key_attributes
from radius.eap.manager import Abandoned, EapConfig, EapConfigError, EapManager, Step
from radius.eap.method import CertificateCheck, CredentialLookup, FailureReason, PasswordMaterial
from radius.eap.packet import (
    EapCode,
    EapPacket,
    EapType,
    decode_eap,
    eap_message_from_attributes,
    encode_eap,
    join_eap_message,
    split_eap_message,
)
from radius.eap.session import ChallengeIssued, Discarded, EapSession, Event, Failed, Succeeded
from radius.eap.tls import TlsConfigError, TlsError, TlsServerConfig, TlsVersion

__all__ = [
    "Abandoned",
    "CertificateCheck",
    "ChallengeIssued",
    "CredentialLookup",
    "Discarded",
    "EapCode",
    "EapConfig",
    "EapConfigError",
    "EapManager",
    "EapPacket",
    "EapSession",
    "EapType",
    "Event",
    "Failed",
    "FailureReason",
    "PasswordMaterial",
    "Step",
    "Succeeded",
    "TlsConfigError",
    "TlsError",
    "TlsServerConfig",
    "TlsVersion",
    "decode_eap",
    "eap_message_from_attributes",
    "encode_eap",
    "join_eap_message",
    "mppe_key_attributes",
    "split_eap_message",
]
