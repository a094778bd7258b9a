"""Whole conversations through EapManager: our TLS server engine against a pyOpenSSL client
over memory BIOs (TLS 1.2 and 1.3), EAP-TLS with a client certificate, PEAPv0/MSCHAPv2,
TTLS/PAP and TTLS/MSCHAPv2; keys compared with what the client exports; resumption."""

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
    client_context,
    drive,
    lookup,
    make_manager,
)
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from radius.eap.manager import EapConfig, EapManager
from radius.eap.method import FailureReason
from radius.eap.packet import EapType
from radius.eap.session import Failed, Succeeded
from radius.eap.tls import TlsServerConfig, TlsVersion

VERSIONS = {
    "TLSv1.2": (SSL.TLS1_2_VERSION, TlsVersion.TLSv1_2),
    "TLSv1.3": (SSL.TLS1_3_VERSION, TlsVersion.TLSv1_3),
}


@pytest.mark.parametrize("version", VERSIONS)
def test_eap_tls_with_client_certificate(
    pki: EapPki, token_bytes: DeterministicRandom, version: str
) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (EapType.TLS,))
    inner = EapTlsInner()
    peer = TlsPeer(TLS, client_context(pki, client_version, certificate=True), inner)
    run = drive(manager, peer, identity="alice")
    assert isinstance(run.event, Succeeded), run.event
    ok = run.event
    assert ok.method == EapType.TLS
    assert ok.outer_identity == ok.inner_identity == "alice"
    assert ok.tls_version == version
    assert not ok.resumed
    assert ok.peer_chain[0] == pki.client
    assert peer.outcome == 3  # the peer saw EAP-Success
    material = peer.keys()
    assert ok.msk == material[:64]
    assert ok.emsk == material[64:]
    assert inner.protected_success is (version == "TLSv1.3")  # RFC 9190 section 2.5
    assert peer.requests_with_l_flag >= 1  # the server's flight was fragmented
    assert len(manager) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_eap_tls_without_client_certificate_fails(
    pki: EapPki, token_bytes: DeterministicRandom, version: str
) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (EapType.TLS,))
    peer = TlsPeer(TLS, client_context(pki, client_version), EapTlsInner())
    run = drive(manager, peer, identity="alice")
    assert isinstance(run.event, Failed), run.event
    assert run.event.reason is FailureReason.tls_failed
    assert "certificate" in run.event.detail
    assert run.event.outer_identity == "alice"
    assert peer.outcome == 4
    assert len(manager) == 0


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("user", ["alice", "bob", "CORP\\carol"])
def test_peap_mschapv2(
    pki: EapPki, token_bytes: DeterministicRandom, version: str, user: str
) -> None:
    client_version, _ = VERSIONS[version]
    password = {"alice": "correct horse", "bob": "battery staple", "CORP\\carol": "Tr0ub4dor&3"}[
        user
    ]
    manager = make_manager(pki, token_bytes, (EapType.PEAP,))
    inner = PeapInner(user, password)
    peer = TlsPeer(PEAP, client_context(pki, client_version), inner)
    run = drive(manager, peer)
    assert isinstance(run.event, Succeeded), run.event
    ok = run.event
    assert ok.method == EapType.PEAP
    assert ok.outer_identity == "anonymous@example.org"
    assert ok.inner_identity == user
    assert ok.tls_version == version
    assert inner.server_verified and inner.result_seen
    assert inner.rounds == ["identity", "challenge", "success", "result"]
    material = peer.keys()
    assert (ok.msk, ok.emsk) == (material[:64], material[64:])
    assert ok.peer_chain == ()


@pytest.mark.parametrize("version", VERSIONS)
def test_peap_wrong_password(pki: EapPki, token_bytes: DeterministicRandom, version: str) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (EapType.PEAP,))
    peer = TlsPeer(PEAP, client_context(pki, client_version), PeapInner("alice", "wrong"))
    run = drive(manager, peer)
    assert isinstance(run.event, Failed), run.event
    assert run.event.reason is FailureReason.wrong_password
    assert run.event.inner_identity == "alice"
    assert peer.outcome == 4


def test_peap_unknown_user_and_name_mismatch(pki: EapPki, token_bytes: DeterministicRandom) -> None:
    manager = make_manager(pki, token_bytes, (EapType.PEAP,))
    ctx = client_context(pki, SSL.TLS1_2_VERSION)
    run = drive(manager, TlsPeer(PEAP, ctx, PeapInner("mallory", "x")))
    assert isinstance(run.event, Failed) and run.event.reason is FailureReason.unknown_user
    peer = TlsPeer(PEAP, ctx, PeapInner("alice", "correct horse", name="bob"))
    run = drive(manager, peer)
    assert isinstance(run.event, Failed) and run.event.reason is FailureReason.identity_mismatch


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mode", ["pap", "mschapv2"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_ttls(
    pki: EapPki, token_bytes: DeterministicRandom, version: str, mode: str, user: str
) -> None:
    client_version, _ = VERSIONS[version]
    password = {"alice": "correct horse", "bob": "battery staple"}[user]
    manager = make_manager(pki, token_bytes, (EapType.TTLS,))
    inner = TtlsInner(user, password, mode=mode)
    peer = TlsPeer(TTLS, client_context(pki, client_version), inner)
    run = drive(manager, peer)
    assert isinstance(run.event, Succeeded), run.event
    ok = run.event
    assert (ok.method, ok.inner_identity, ok.tls_version) == (EapType.TTLS, user, version)
    material = peer.keys()
    assert (ok.msk, ok.emsk) == (material[:64], material[64:])
    assert inner.server_verified is (mode == "mschapv2")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mode", ["pap", "mschapv2"])
def test_ttls_wrong_password(
    pki: EapPki, token_bytes: DeterministicRandom, version: str, mode: str
) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (EapType.TTLS,))
    peer = TlsPeer(TTLS, client_context(pki, client_version), TtlsInner("alice", "no", mode=mode))
    run = drive(manager, peer)
    assert isinstance(run.event, Failed), run.event
    assert run.event.reason is FailureReason.wrong_password
    assert run.event.inner_identity == "alice"


def test_ttls_mschapv2_challenge_must_come_from_the_tunnel(
    pki: EapPki, token_bytes: DeterministicRandom
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TTLS,))
    inner = TtlsInner("alice", "correct horse", mode="mschapv2")
    inner.tamper_challenge = True
    run = drive(manager, TlsPeer(TTLS, client_context(pki, SSL.TLS1_2_VERSION), inner))
    assert isinstance(run.event, Failed)
    assert run.event.reason is FailureReason.protocol_violation
    assert "challenge" in run.event.detail


def _inner(method: int) -> EapTlsInner | PeapInner | TtlsInner:
    if method == TLS:
        return EapTlsInner()
    if method == PEAP:
        return PeapInner("alice", "correct horse")
    return TtlsInner("alice", "correct horse", mode="mschapv2")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("method", [TLS, PEAP, TTLS], ids=["tls", "peap", "ttls"])
def test_resumption_shortens_the_second_handshake(
    pki: EapPki, token_bytes: DeterministicRandom, version: str, method: int
) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (method,))
    ctx = client_context(pki, client_version, certificate=method == TLS)
    first_peer = TlsPeer(method, ctx, _inner(method))
    first = drive(manager, first_peer, identity="alice", now=100.0)
    assert isinstance(first.event, Succeeded) and not first.event.resumed
    manager.finish(first.state or b"", accepted=True, now=101.0)
    session = first_peer.conn.get_session()
    assert session is not None

    inner = _inner(method)
    peer = TlsPeer(method, ctx, inner, session=session)
    second = drive(manager, peer, identity="alice", now=200.0)
    assert isinstance(second.event, Succeeded), second.event
    ok = second.event
    assert ok.resumed
    assert ok.inner_identity == "alice"
    assert second.rounds < first.rounds
    material = peer.keys()
    assert (ok.msk, ok.emsk) == (material[:64], material[64:])
    assert ok.msk != first.event.msk
    if method == TLS:
        assert ok.peer_chain[0] == pki.client  # the leaf the session remembers
    if isinstance(inner, PeapInner):
        assert inner.rounds == ["result"]  # phase 2 skipped: the accepted identity is known
    if isinstance(inner, TtlsInner):
        assert not inner.server_verified  # no MS-CHAP2-Success: the inner method was skipped
        assert inner.protected_success is (version == "TLSv1.3")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("method", [TLS, PEAP], ids=["tls", "peap"])
def test_rejected_or_abandoned_sessions_do_not_resume(
    pki: EapPki, token_bytes: DeterministicRandom, version: str, method: int
) -> None:
    client_version, _ = VERSIONS[version]
    manager = make_manager(pki, token_bytes, (method,))
    ctx = client_context(pki, client_version, certificate=method == TLS)
    first_peer = TlsPeer(method, ctx, _inner(method))
    first = drive(manager, first_peer, identity="alice")
    assert isinstance(first.event, Succeeded)
    manager.finish(first.state or b"", accepted=False, now=1001.0)  # the policy said no
    session = first_peer.conn.get_session()
    second = drive(manager, TlsPeer(method, ctx, _inner(method), session=session), identity="alice")
    assert isinstance(second.event, Succeeded)
    assert not second.event.resumed


def test_peap_resumed_without_remembered_identity_runs_phase_2(
    pki: EapPki, token_bytes: DeterministicRandom
) -> None:
    tls = TlsServerConfig(
        certificate_chain=pki.server_chain_pem,
        private_key=pki.server_key_pem,
        resumption_cache_size=0,
    )
    manager = EapManager(
        EapConfig(methods=(EapType.PEAP,), tls=tls), credentials=lookup, token_bytes=token_bytes
    )
    ctx = client_context(pki, SSL.TLS1_2_VERSION)
    first_peer = TlsPeer(PEAP, ctx, _inner(PEAP))
    first = drive(manager, first_peer)
    manager.finish(first.state or b"", accepted=True, now=1001.0)
    inner = PeapInner("bob", "battery staple")
    run = drive(manager, TlsPeer(PEAP, ctx, inner, session=first_peer.conn.get_session()))
    assert isinstance(run.event, Succeeded)
    assert run.event.resumed and run.event.inner_identity == "bob"
    assert inner.rounds == ["identity", "challenge", "success", "result"]


def test_sessions_of_one_method_do_not_resume_another(
    pki: EapPki, token_bytes: DeterministicRandom
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.PEAP, EapType.TLS))
    ctx = client_context(pki, SSL.TLS1_2_VERSION, certificate=True)
    first_peer = TlsPeer(PEAP, ctx, _inner(PEAP))
    first = drive(manager, first_peer)
    manager.finish(first.state or b"", accepted=True, now=1001.0)
    session = first_peer.conn.get_session()
    # the peer Naks PEAP and asks for EAP-TLS, offering the PEAP session
    peer = TlsPeer(TLS, ctx, EapTlsInner(), session=session)

    def respond(request: bytes) -> bytes | None:
        if len(request) > 4 and request[4] == PEAP:
            return bytes((2, request[1], 0, 6, 3, TLS))
        return peer.respond(request)

    run = drive(manager, respond, identity="alice")
    assert isinstance(run.event, Succeeded)
    assert run.event.method == EapType.TLS and not run.event.resumed


@pytest.mark.parametrize("mtu", [300, 600, 1400])
def test_framed_mtu_sets_the_fragment_size(
    pki: EapPki, token_bytes: DeterministicRandom, mtu: int
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TLS,))
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_3_VERSION, certificate=True), EapTlsInner())
    run = drive(manager, peer, identity="alice", framed_mtu=mtu)
    assert isinstance(run.event, Succeeded)
    largest = max(len(r) for r in run.requests)
    assert largest <= min(mtu, 1024 + 14) - 4  # EAP packet within Framed-MTU less EAPOL


def test_peer_sending_length_on_every_fragment(
    pki: EapPki, token_bytes: DeterministicRandom
) -> None:
    manager = make_manager(pki, token_bytes, (EapType.TLS,))
    ctx = client_context(pki, SSL.TLS1_3_VERSION, certificate=True)
    peer = TlsPeer(TLS, ctx, EapTlsInner(), fragment_size=200, length_on_every_fragment=True)
    run = drive(manager, peer, identity="alice")
    assert isinstance(run.event, Succeeded)


@pytest.mark.parametrize("version", VERSIONS)
def test_certificate_check_runs_before_the_protected_success(
    pki: EapPki, token_bytes: DeterministicRandom, version: str
) -> None:
    client_version, _ = VERSIONS[version]
    seen: list[tuple[x509.Certificate, ...]] = []

    def refuse(chain: tuple[x509.Certificate, ...]) -> str | None:
        seen.append(chain)
        return "revoked (test)"

    tls = TlsServerConfig(certificate_chain=pki.server_chain_pem, private_key=pki.server_key_pem)
    manager = EapManager(
        EapConfig(methods=(EapType.TLS,), tls=tls),
        credentials=lookup,
        token_bytes=token_bytes,
        certificate_check=refuse,
    )
    inner = EapTlsInner()
    peer = TlsPeer(TLS, client_context(pki, client_version, certificate=True), inner)
    run = drive(manager, peer, identity="alice")
    assert isinstance(run.event, Failed)
    assert run.event.reason is FailureReason.certificate_rejected
    assert run.event.detail == "revoked (test)"
    assert seen and seen[0][0] == pki.client
    assert not inner.protected_success


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from([PEAP, TTLS]),
    junk=st.binary(min_size=1, max_size=300),
)
def test_garbage_in_the_tunnel_ends_in_an_event(pki: EapPki, method: int, junk: bytes) -> None:
    """Whatever the peer encrypts into the tunnel, the manager answers with an event."""
    manager = make_manager(pki, DeterministicRandom(), (method,))

    class Junk(TtlsInner):
        def started(self, conn: SSL.Connection) -> None:
            if method == TTLS:
                conn.send(junk)

        def data(self, conn: SSL.Connection, data: bytes, identifier: int) -> None:
            conn.send(junk)

    peer = TlsPeer(method, client_context(pki, SSL.TLS1_2_VERSION), Junk("x", "y"))
    run = drive(manager, peer)
    assert isinstance(run.event, Failed | Succeeded)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=6))
def test_garbage_eap_messages_end_in_events(pki: EapPki, messages: list[bytes]) -> None:
    manager = make_manager(pki, DeterministicRandom(), (EapType.TLS, EapType.MD5Challenge))
    first = manager.handle(bytes.fromhex("0201000a01") + b"alice", None, nas_key="n", now=0.0)
    state = first.state
    for message in messages:
        step = manager.handle(message, state, nas_key="n", now=0.0)
        assert step.event is not None
