"""The refusals of the TLS-based methods and of the TLS engine: each ends in Failed with a
reason, never in an exception out of EapManager.handle."""

from __future__ import annotations

import pytest
from _eap_support import (
    PEAP,
    TLS,
    TTLS,
    DeterministicRandom,
    EapPki,
    EapTlsInner,
    PeapInner,
    TlsPeer,
    TtlsInner,
    avp,
    client_context,
    drive,
    eap,
    identity_response,
    lookup,
    make_manager,
)
from OpenSSL import SSL

from radius.eap.manager import EapConfig, EapManager
from radius.eap.method import FailureReason
from radius.eap.packet import EapType
from radius.eap.session import ChallengeIssued, Failed, Succeeded
from radius.eap.tls import ResumptionCache, TlsConfigError, TlsServerConfig, TlsVersion


def failed(run_event: object, reason: FailureReason) -> Failed:
    assert isinstance(run_event, Failed), run_event
    assert run_event.reason is reason, (run_event.reason, run_event.detail)
    return run_event


class TtlsSends(TtlsInner):
    def __init__(self, payload: bytes) -> None:
        super().__init__("alice", "correct horse")
        self.payload = payload

    def started(self, conn: SSL.Connection) -> None:
        conn.send(self.payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            avp(1, b"alice") + avp(79, b"\x02\x01\x00\x05\x01"),
            FailureReason.unsupported_inner_method,
        ),
        (avp(2, b"secret"), FailureReason.protocol_violation),  # no User-Name
        (
            avp(1, b"alice") + avp(4242, b"x"),
            FailureReason.protocol_violation,
        ),  # mandatory, unknown
        (avp(1, b"alice") + avp(3, bytes(17)), FailureReason.unsupported_inner_method),  # CHAP
        (avp(1, b"alice") + avp(25, bytes(50), 311), FailureReason.malformed_message),
        (b"\x00\x00\x00\x01\x40\x00\x00\xff", FailureReason.malformed_message),
        (avp(1, b"mallory") + avp(2, b"x" * 16), FailureReason.unknown_user),
    ],
)
def test_ttls_refusals(
    pki: EapPki, token_bytes: DeterministicRandom, payload: bytes, reason: FailureReason
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TTLS,))
    peer = TlsPeer(TTLS, client_context(pki, SSL.TLS1_2_VERSION), TtlsSends(payload))
    failed(drive(manager, peer).event, reason)


def test_ttls_nt_hash_only_user_with_pap(pki: EapPki, token_bytes: DeterministicRandom) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TTLS,))
    ok = drive(
        manager,
        TlsPeer(TTLS, client_context(pki, SSL.TLS1_3_VERSION), TtlsInner("bob", "battery staple")),
    )
    assert isinstance(ok.event, Succeeded)
    bad = drive(
        manager, TlsPeer(TTLS, client_context(pki, SSL.TLS1_3_VERSION), TtlsInner("bob", "x"))
    )
    failed(bad.event, FailureReason.wrong_password)


class PeapScript(PeapInner):
    """A PEAP peer that answers one inner step with ``answer`` instead."""

    def __init__(self, at: str, answer: bytes) -> None:
        super().__init__("alice", "correct horse")
        self.at = at
        self.answer = answer

    def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
        step = (
            "result"
            if data[:1] == b"\x01" and len(data) > 4 and data[4] == 33
            else "identity"
            if data == b"\x01"
            else {1: "challenge", 3: "success"}.get(data[1], "?")
        )
        if step == self.at:
            conn.send(
                self.answer.replace(b"ID", bytes((data[1],))) if step == "result" else self.answer
            )
            return
        super().data(conn, data, identifier)


@pytest.mark.parametrize(
    ("at", "answer", "reason"),
    [
        ("identity", b"\x03\x04", FailureReason.unsupported_inner_method),  # inner Nak
        ("identity", b"\x1a\x02", FailureReason.protocol_violation),
        ("challenge", b"\x1a\x02\x00", FailureReason.malformed_message),
        ("challenge", b"\x04\x00", FailureReason.protocol_violation),
        ("success", b"\x1a\x04", FailureReason.peer_failure),  # MSCHAPv2 Failure Response
        ("success", b"\x1a\x07", FailureReason.protocol_violation),
        ("result", eap(2, 0, 33, b"\x80\x03\x00\x02\x00\x02"), FailureReason.peer_failure),
        ("result", eap(2, 0, 33, b"\x80\x07\x00\x00"), FailureReason.protocol_violation),
        ("result", eap(2, 0, 1, b"x"), FailureReason.protocol_violation),
        ("result", b"\x02\x00", FailureReason.malformed_message),
    ],
)
def test_peap_refusals(
    pki: EapPki, token_bytes: DeterministicRandom, at: str, answer: bytes, reason: FailureReason
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.PEAP,))
    peer = TlsPeer(PEAP, client_context(pki, SSL.TLS1_2_VERSION), PeapScript(at, answer))
    failed(drive(manager, peer).event, reason)


def test_peap_password_unavailable(pki: EapPki, token_bytes: DeterministicRandom) -> None:
    from radius.eap.method import PasswordMaterial

    tls = TlsServerConfig(certificate_chain=pki.server_chain_pem, private_key=pki.server_key_pem)
    manager = EapManager(
        EapConfig(methods=(EapType.PEAP,), tls=tls),
        credentials=lambda name: PasswordMaterial(),
        token_bytes=token_bytes,
    )
    peer = TlsPeer(PEAP, client_context(pki, SSL.TLS1_2_VERSION), PeapInner("alice", "x"))
    failed(drive(manager, peer).event, FailureReason.password_unavailable)


def _start(manager: EapManager) -> tuple[bytes, bytes]:
    step = manager.handle(identity_response("alice", 1), None, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued) and step.state is not None
    return step.state, step.event.eap_message


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x20", FailureReason.protocol_violation),  # S flag from the peer
        (b"\x01", FailureReason.protocol_violation),  # version 1
        (b"", FailureReason.malformed_message),  # no Flags octet
        (b"\x00", FailureReason.protocol_violation),  # an ACK before any handshake
        (b"\x00" + b"\x16\x03\x01\x00\x05hello", FailureReason.tls_failed),
        (b"\xc0\x00\x01\x00\x01abc", FailureReason.malformed_message),  # 65 537 announced
    ],
)
def test_tls_framing_refusals(
    pki: EapPki, token_bytes: DeterministicRandom, frame: bytes, reason: FailureReason
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TLS,))
    state, request = _start(manager)
    answer = eap(2, request[1], TLS, frame)
    step = manager.handle(answer, state, nas_key="n", now=0.0)
    event = failed(step.event, reason)
    assert event.eap_message == bytes((4, request[1], 0, 4))


def test_data_while_an_ack_was_due(pki: EapPki, token_bytes: DeterministicRandom) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TLS,), fragment_size=200)
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_2_VERSION, certificate=True), EapTlsInner())
    state, request = _start(manager)
    client_hello = peer.respond(request)
    assert client_hello is not None
    first = manager.handle(client_hello, state, nas_key="n", now=0.0)
    assert isinstance(first.event, ChallengeIssued)
    assert first.event.eap_message[5] & 0xC0 == 0xC0  # L and M: the first of several
    wrong = eap(2, first.event.eap_message[1], TLS, b"\x00junk")
    failed(
        manager.handle(wrong, state, nas_key="n", now=0.0).event, FailureReason.protocol_violation
    )


def test_version_mismatch_fails_the_handshake(
    pki: EapPki, token_bytes: DeterministicRandom
) -> None:
    tls = TlsServerConfig(
        certificate_chain=pki.server_chain_pem,
        private_key=pki.server_key_pem,
        max_version=TlsVersion.TLSv1_2,
    )
    manager = EapManager(
        EapConfig(methods=(EapType.PEAP,), tls=tls), credentials=lookup, token_bytes=token_bytes
    )
    peer = TlsPeer(PEAP, client_context(pki, SSL.TLS1_3_VERSION), PeapInner("alice", "x"))
    failed(drive(manager, peer).event, FailureReason.tls_failed)


def test_no_resumption_when_lifetime_is_zero(pki: EapPki, token_bytes: DeterministicRandom) -> None:
    tls = TlsServerConfig(
        certificate_chain=pki.server_chain_pem, private_key=pki.server_key_pem, session_lifetime=0
    )
    manager = EapManager(
        EapConfig(methods=(EapType.TLS,), tls=tls), credentials=lookup, token_bytes=token_bytes
    )
    ctx = client_context(pki, SSL.TLS1_2_VERSION, certificate=True)
    first_peer = TlsPeer(TLS, ctx, EapTlsInner())
    first = drive(manager, first_peer, identity="alice")
    manager.finish(first.state or b"", accepted=True, now=0.0)
    second = drive(manager, TlsPeer(TLS, ctx, EapTlsInner(), session=first_peer.conn.get_session()))
    assert isinstance(second.event, Succeeded) and not second.event.resumed


def test_bad_tls_configuration(pki: EapPki) -> None:
    good = {"certificate_chain": pki.server_chain_pem, "private_key": pki.server_key_pem}
    for changes in (
        {"private_key": b"not a key"},
        {"certificate_chain": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
        {"min_version": TlsVersion.TLSv1_3, "max_version": TlsVersion.TLSv1_2},
        {"cipher_list": "NO-SUCH-CIPHER"},
    ):
        config = TlsServerConfig(**{**good, **changes})  # type: ignore[arg-type]
        with pytest.raises(TlsConfigError):
            EapManager(
                EapConfig(methods=(EapType.TLS,), tls=config),
                credentials=lookup,
                token_bytes=DeterministicRandom(),
            )


def test_tls_configuration_from_files(pki: EapPki, tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "chain.pem").write_bytes(pki.server_chain_pem)
    (directory / "key.pem").write_bytes(pki.server_key_pem)
    config = TlsServerConfig(
        certificate_chain=directory / "chain.pem",
        private_key=directory / "key.pem",
        client_ca=pki.ca_path,
    )
    manager = EapManager(
        EapConfig(methods=(EapType.TLS,), tls=config),
        credentials=lookup,
        token_bytes=DeterministicRandom(),
    )
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_3_VERSION, certificate=True), EapTlsInner())
    assert isinstance(drive(manager, peer, identity="alice").event, Succeeded)
    assert "PRIVATE KEY" not in repr(TlsServerConfig(b"", pki.server_key_pem))  # repr=False


def test_resumption_cache_expires_and_is_bounded() -> None:
    cache = ResumptionCache(lifetime=10.0, max_entries=2)
    cache.put(b"a", "alice", now=0.0)
    cache.put(b"b", "bob", now=1.0)
    cache.put(b"c", "carol", now=2.0)  # a goes: bound
    assert len(cache) == 2 and cache.get(b"a", now=2.0) is None
    assert cache.get(b"b", now=10.5) == "bob"
    assert cache.get(b"b", now=11.0) is None  # expired
    assert cache.get(b"c", now=11.0) == "carol"
    off = ResumptionCache(lifetime=0.0, max_entries=5)
    off.put(b"a", "alice", now=0.0)
    assert len(off) == 0
