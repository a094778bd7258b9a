"""The conversation table (RADIUS State, timeout, bound, NAS binding) and the session rules
(Identifier matching, duplicates, Nak negotiation, the round cap)."""

from __future__ import annotations

import pytest
from _eap_support import (
    PEAP,
    TLS,
    DeterministicRandom,
    EapPki,
    EapTlsInner,
    TlsPeer,
    client_context,
    drive,
    identity,
    lookup,
    md5_answer,
)
from OpenSSL import SSL

from radius.eap.manager import EapConfig, EapConfigError, EapManager
from radius.eap.method import FailureReason
from radius.eap.packet import EapType, decode_eap
from radius.eap.session import ChallengeIssued, Discarded, Failed, Succeeded
from radius.eap.tls import TlsServerConfig, TlsServerConnection, TlsServerContext


def tls_config(pki: EapPki) -> TlsServerConfig:
    return TlsServerConfig(certificate_chain=pki.server_chain_pem, private_key=pki.server_key_pem)


def md5_manager(**kwargs: object) -> EapManager:
    config = EapConfig(methods=(EapType.MD5Challenge,), **kwargs)  # type: ignore[arg-type]
    return EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())


def start(
    m: EapManager, name: str = "alice", nas: str = "n", now: float = 0.0
) -> tuple[bytes, bytes]:
    step = m.handle(identity(name), None, nas_key=nas, now=now)
    assert isinstance(step.event, ChallengeIssued) and step.state is not None
    return step.state, step.event.eap_message


def test_states_are_16_random_octets_and_never_repeat() -> None:
    m = md5_manager()
    states = {start(m)[0] for _ in range(200)}
    assert len(states) == 200
    assert all(len(s) == 16 for s in states)


def test_idle_conversations_expire() -> None:
    m = md5_manager(conversation_timeout=30.0)
    state, request = start(m, now=0.0)
    start(m, now=20.0)
    assert len(m) == 2
    assert m.expire(now=35.0) == 1
    assert len(m) == 1
    step = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=35.0)
    assert isinstance(step.event, Failed)
    assert step.event.reason is FailureReason.unknown_conversation
    assert m.counters["expired"] == 1 and m.counters["unknown_state"] == 1


def test_activity_keeps_a_conversation_alive(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.TLS,), tls=tls_config(pki), conversation_timeout=10.0)
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_3_VERSION, certificate=True), EapTlsInner())
    message = identity("alice")
    state = None
    now = 0.0
    while True:  # each round 8 s apart: 60+ s in all, never 10 s idle
        step = m.handle(message, state, nas_key="n", now=now)
        if not isinstance(step.event, ChallengeIssued):
            break
        state = step.state
        answer = peer.respond(step.event.eap_message)
        assert answer is not None
        message, now = answer, now + 8.0
    assert isinstance(step.event, Succeeded)
    assert now > 60.0


def test_table_bound_drops_the_longest_idle_first() -> None:
    m = md5_manager(max_conversations=3)
    a = start(m, now=1.0)
    b = start(m, now=2.0)
    c = start(m, now=3.0)
    # b is touched by a repeat of its Identity Response (it gets its Challenge again)
    m.handle(identity("alice"), b[0], nas_key="n", now=4.0)
    d = start(m, now=5.0)
    assert len(m) == 3 and m.counters["evicted"] == 1
    gone = m.handle(md5_answer(a[1], b"correct horse"), a[0], nas_key="n", now=6.0)
    assert isinstance(gone.event, Failed)  # a was idle longest: dropped
    for state, request in (b, c, d):
        ok = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=6.0)
        assert isinstance(ok.event, Succeeded)


def test_a_new_identity_on_an_old_state_starts_over() -> None:
    m = md5_manager()
    state, request = start(m)
    step = m.handle(identity("bob", 9), state, nas_key="n", now=1.0)
    assert isinstance(step.event, ChallengeIssued) and step.state != state
    old = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=1.0)
    assert isinstance(old.event, Failed)
    assert len(m) == 1


def test_a_flood_of_half_open_conversations_stays_bounded(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.PEAP,), tls=tls_config(pki), max_conversations=50)
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    for i in range(300):
        step = m.handle(identity(f"flood{i}"), None, nas_key=("10.0.0.1", i), now=0.0)
        assert isinstance(step.event, ChallengeIssued)
    assert len(m) == 50
    assert m.counters["evicted"] == 250


def test_state_is_bound_to_its_nas() -> None:
    m = md5_manager()
    state, request = start(m, nas="nas-a")
    other = m.handle(md5_answer(request, b"correct horse"), state, nas_key="nas-b", now=0.0)
    assert isinstance(other.event, Failed)
    assert other.event.reason is FailureReason.unknown_conversation
    mine = m.handle(md5_answer(request, b"correct horse"), state, nas_key="nas-a", now=0.0)
    assert isinstance(mine.event, Succeeded)


def test_eap_start_gets_an_identity_request() -> None:
    m = md5_manager()
    step = m.handle(b"", None, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued)
    request = decode_eap(step.event.eap_message)
    assert (request.code, request.type) == (1, EapType.Identity)
    nxt = m.handle(identity("alice", request.identifier), step.state, nas_key="n", now=0.0)
    assert isinstance(nxt.event, ChallengeIssued)
    assert decode_eap(nxt.event.eap_message).type == EapType.MD5Challenge


def test_wrong_identifier_and_garbage_are_discarded() -> None:
    m = md5_manager()
    state, request = start(m)
    answer = bytearray(md5_answer(request, b"correct horse"))
    answer[1] ^= 0xFF
    step = m.handle(bytes(answer), state, nas_key="n", now=0.0)
    assert step.event == Discarded("identifier_mismatch", step.event.detail)  # type: ignore[union-attr]
    assert m.handle(b"\x02\x01", state, nas_key="n", now=0.0).event == Discarded(
        "bad_eap", "2 octets"
    )
    request_not_response = bytes((1, 5, 0, 5, 1))
    assert isinstance(m.handle(request_not_response, state, nas_key="n", now=0.0).event, Discarded)
    ok = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=0.0)
    assert isinstance(ok.event, Succeeded)  # the conversation survived the noise


def test_a_repeated_response_gets_the_same_answer() -> None:
    m = md5_manager()
    step = m.handle(b"", None, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued)
    ident = identity("alice", decode_eap(step.event.eap_message).identifier)
    first = m.handle(ident, step.state, nas_key="n", now=0.0)
    again = m.handle(ident, step.state, nas_key="n", now=0.0)
    assert first.event == again.event


def test_no_state_and_no_identity_is_discarded() -> None:
    m = md5_manager()
    step = m.handle(bytes((2, 1, 0, 6, 4, 0)), None, nas_key="n", now=0.0)
    assert isinstance(step.event, Discarded)


def test_nak_switches_to_the_next_common_method(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.PEAP, EapType.MD5Challenge), tls=tls_config(pki))
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    state, request = start(m)
    assert decode_eap(request).type == EapType.PEAP
    nak = bytes((2, request[1], 0, 7, 3, 13, 4))  # EAP-TLS (not offered), EAP-MD5
    step = m.handle(nak, state, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued) and step.event.method == EapType.MD5Challenge
    done = m.handle(
        md5_answer(step.event.eap_message, b"correct horse"), state, nas_key="n", now=0.0
    )
    assert isinstance(done.event, Succeeded) and done.event.method == EapType.MD5Challenge


def test_a_refused_tls_method_costs_no_tls_connection(
    pki: EapPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    real = TlsServerContext.connection

    def counting(self: TlsServerContext) -> TlsServerConnection:
        made.append(self)
        return real(self)

    monkeypatch.setattr(TlsServerContext, "connection", counting)
    config = EapConfig(methods=(EapType.PEAP, EapType.MD5Challenge), tls=tls_config(pki))
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    state, request = start(m)
    assert decode_eap(request).type == EapType.PEAP
    step = m.handle(bytes((2, request[1], 0, 6, 3, 4)), state, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued) and step.event.method == EapType.MD5Challenge
    assert made == []  # PEAP was proposed and refused before any TLS record arrived


def test_nak_after_the_method_began_fails(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.TLS, EapType.MD5Challenge), tls=tls_config(pki))
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_2_VERSION, certificate=True), EapTlsInner())
    state, request = start(m)
    client_hello = peer.respond(request)
    assert client_hello is not None
    step = m.handle(client_hello, state, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued)
    nak = bytes((2, step.event.eap_message[1], 0, 6, 3, 4))
    done = m.handle(nak, state, nas_key="n", now=0.0)
    assert isinstance(done.event, Failed) and done.event.reason is FailureReason.protocol_violation


def test_round_cap(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.TLS,), tls=tls_config(pki), max_rounds=4)
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    peer = TlsPeer(TLS, client_context(pki, SSL.TLS1_3_VERSION, certificate=True), EapTlsInner())
    run = drive(m, peer, identity="alice")
    assert isinstance(run.event, Failed) and run.event.reason is FailureReason.too_many_rounds
    assert run.rounds == 4


def test_wrong_type_in_the_middle_fails(pki: EapPki) -> None:
    config = EapConfig(methods=(EapType.PEAP,), tls=tls_config(pki))
    m = EapManager(config, credentials=lookup, token_bytes=DeterministicRandom())
    state, request = start(m)
    step = m.handle(bytes((2, request[1], 0, 6, 13, 0)), state, nas_key="n", now=0.0)
    assert isinstance(step.event, Failed) and step.event.reason is FailureReason.protocol_violation


def test_finish_forgets_the_conversation() -> None:
    m = md5_manager()
    state, request = start(m)
    done = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=0.0)
    assert isinstance(done.event, Succeeded) and done.state == state
    assert done.is_terminal and not done.is_challenge and done.eap_message == done.event.eap_message
    m.finish(state, accepted=True, now=0.0)
    again = m.handle(md5_answer(request, b"correct horse"), state, nas_key="n", now=0.0)
    assert isinstance(again.event, Failed)
    assert again.event.reason is FailureReason.unknown_conversation


def test_fragment_size_follows_framed_mtu() -> None:
    m = md5_manager()
    assert m.fragment_size(None) == 1024
    assert m.fragment_size(1500) == 1024
    assert m.fragment_size(600) == 586
    assert m.fragment_size(50) == 1024  # nonsense is ignored


def test_configuration_is_checked() -> None:
    for kwargs in (
        {"methods": ()},
        {"methods": (EapType.PEAP,)},  # no TLS settings
        {"methods": (EapType.OTP,)},
        {"methods": (EapType.MD5Challenge, EapType.MD5Challenge)},
        {"methods": (EapType.MD5Challenge,), "fragment_size": 10},
    ):
        try:
            EapConfig(**kwargs)
        except EapConfigError:
            continue
        raise AssertionError(kwargs)


def test_peap_is_offered_first_by_default(pki: EapPki) -> None:
    m = EapManager(
        EapConfig(tls=tls_config(pki)), credentials=lookup, token_bytes=DeterministicRandom()
    )
    _state, request = start(m)
    assert request[4] == PEAP and request[5] == 0x20  # Start, version 0


def test_a_repeat_of_the_last_response_gets_the_same_success_until_finish() -> None:
    m = md5_manager()
    state, request = start(m)
    answer = md5_answer(request, b"correct horse")
    done = m.handle(answer, state, nas_key="n", now=0.0)
    again = m.handle(answer, state, nas_key="n", now=0.0)
    assert isinstance(again.event, Succeeded) and again.event == done.event
    assert again.state == state
    other = m.handle(answer, state, nas_key="elsewhere", now=0.0)
    assert isinstance(other.event, Failed)
    m.finish(state, accepted=True, now=0.0)
    assert isinstance(m.handle(answer, state, nas_key="n", now=0.0).event, Failed)
