"""EapService's certificate checks: one chain verification per EAP-TLS conversation, and a
revocation between the tunnel-start check and the final one still rejects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import nac.services.eap_service as eap_service
from nac.core.config import Settings
from nac.pki import Pki
from nac.services.eap_service import EapService


class _Store:
    current = None


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[EapService, Pki, Any, list[int]]:
    settings = Settings(data_dir=tmp_path)
    eap = EapService(settings=settings, store=_Store())  # type: ignore[arg-type]
    pki = Pki.for_data_dir(tmp_path)
    issued = pki.issue("alice", out_dir=tmp_path / "out", p12_password=b"pw")
    calls: list[int] = []
    real = eap_service.verify_client_chain

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(eap_service, "verify_client_chain", counting)
    return eap, pki, (issued.certificate,), calls


def test_one_verification_per_conversation(setup: Any) -> None:
    eap, _pki, chain, calls = setup
    assert eap._early_check(chain) is None
    result = eap.verify(chain)
    assert result.ok and result.user == "alice"
    assert len(calls) == 1  # the final check took the tunnel-start result
    # ... and only once: the next conversation with the same certificate is checked afresh
    assert eap.verify(chain).ok
    assert len(calls) == 2


def test_revocation_between_the_checks_rejects(setup: Any) -> None:
    eap, pki, chain, calls = setup
    assert eap._early_check(chain) is None
    pki.revoke("alice")
    crl = pki.paths.crl
    # make sure the CRL file's stamp changes even on a coarse-mtime filesystem
    stamp = os.stat(crl)
    os.utime(crl, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    result = eap.verify(chain)
    assert not result.ok
    assert "revoked" in result.reason
    assert len(calls) == 2


def test_stale_result_is_not_reused(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    eap, _pki, chain, calls = setup
    clock = [1000.0]
    monkeypatch.setattr(eap, "_monotonic", lambda: clock[0])
    assert eap._early_check(chain) is None
    clock[0] += eap_service._RECHECK_WITHIN_S + 0.1
    assert eap.verify(chain).ok
    assert len(calls) == 2


def test_refused_chain_is_not_kept(setup: Any) -> None:
    eap, pki, chain, _calls = setup
    pki.revoke("alice")
    assert "revoked" in (eap._early_check(chain) or "")
    assert not eap._pending


def test_concurrent_conversations_with_one_certificate(setup: Any) -> None:
    eap, _pki, chain, calls = setup
    for _ in range(3):  # three supplicants with the same certificate, tunnels up at once
        assert eap._early_check(chain) is None
    for _ in range(3):
        assert eap.verify(chain).ok
    assert len(calls) == 3
    assert not eap._pending


def test_abandoned_checks_are_bounded(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    eap, pki, chain, _calls = setup
    monkeypatch.setattr(eap_service, "_MAX_PENDING_PER_CHAIN", 4)
    monkeypatch.setattr(eap_service, "_MAX_PENDING_CHAINS", 2)
    for _ in range(10):  # conversations that never finish
        eap._early_check(chain)
    assert len(eap._pending[chain]) <= 4
    for name in ("bob", "carol"):  # other certificates: the oldest chain makes room
        other = pki.issue(name, out_dir=pki.directory.parent / "out", p12_password=b"pw")
        eap._early_check((other.certificate,))
    assert len(eap._pending) <= 2


def test_an_abandoned_check_does_not_hide_a_fresh_one(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    eap, _pki, chain, calls = setup
    clock = [1000.0]
    monkeypatch.setattr(eap, "_monotonic", lambda: clock[0])
    assert eap._early_check(chain) is None  # a conversation that never finishes
    clock[0] += 60
    assert eap._early_check(chain) is None  # a later one with the same certificate
    assert eap.verify(chain).ok
    assert len(calls) == 2  # the later check served; the stale one was dropped
    assert not eap._pending
