"""EAP-MD5 (RFC 3748 section 5.4) and method negotiation with Legacy-Nak (section 5.3.1)."""

from __future__ import annotations

from _eap_support import DeterministicRandom, identity, lookup, md5_answer

from radius.eap.manager import EapConfig, EapManager
from radius.eap.md5 import md5_response
from radius.eap.method import FailureReason
from radius.eap.packet import EapType, decode_eap
from radius.eap.session import ChallengeIssued, Failed, Succeeded

# Computed with `openssl dgst -md5` over 2a || "password" || 00 01 02 ... 0f
# (Identifier 0x2a, secret "password", the challenge the octets 0..15).
MD5_VECTOR = bytes.fromhex("3e0949a5572c2d338c182b7f6377471d")


def test_md5_response_vector() -> None:
    assert md5_response(0x2A, b"password", bytes(range(16))) == MD5_VECTOR


def manager(methods: tuple[int, ...] = (EapType.MD5Challenge,)) -> EapManager:
    return EapManager(
        EapConfig(methods=methods), credentials=lookup, token_bytes=DeterministicRandom()
    )


def test_md5_success() -> None:
    m = manager()
    step = m.handle(identity("alice"), None, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued) and step.state is not None
    assert decode_eap(step.event.eap_message).identifier == 2  # the Response's + 1
    answer = md5_answer(step.event.eap_message, b"correct horse")
    done = m.handle(answer, step.state, nas_key="n", now=1.0)
    assert isinstance(done.event, Succeeded)
    assert done.event.inner_identity == done.event.outer_identity == "alice"
    assert done.event.msk is None  # EAP-MD5 derives no keys
    assert done.event.eap_message == bytes((3, 2, 0, 4))
    assert done.event.eap_failure == bytes((4, 2, 0, 4))


def test_md5_wrong_password_unknown_user_and_no_cleartext() -> None:
    m = manager()
    for name, password, reason in [
        ("alice", b"nope", FailureReason.wrong_password),
        ("mallory", b"x", FailureReason.unknown_user),
        ("bob", b"battery staple", FailureReason.password_unavailable),  # NT hash only
    ]:
        step = m.handle(identity(name), None, nas_key="n", now=0.0)
        assert isinstance(step.event, ChallengeIssued)
        done = m.handle(
            md5_answer(step.event.eap_message, password), step.state, nas_key="n", now=0.0
        )
        assert isinstance(done.event, Failed), name
        assert done.event.reason is reason
        assert done.event.eap_message[0] == 4
    assert len(m) == 0


def test_nak_without_a_common_method_fails() -> None:
    m = manager()
    step = m.handle(identity("alice"), None, nas_key="n", now=0.0)
    assert isinstance(step.event, ChallengeIssued)
    request = decode_eap(step.event.eap_message)
    nak = bytes((2, request.identifier, 0, 6, 3, 13))  # wants EAP-TLS, not offered
    done = m.handle(nak, step.state, nas_key="n", now=0.0)
    assert isinstance(done.event, Failed)
    assert done.event.reason is FailureReason.no_common_method
    assert "13" in done.event.detail
