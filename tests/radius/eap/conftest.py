"""Fixtures for the EAP tests (the helpers live in _eap_support.py)."""

from __future__ import annotations

import pytest
from _eap_support import DeterministicRandom, EapPki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> EapPki:
    return make_pki(tmp_path_factory.mktemp("eap-pki"))


@pytest.fixture
def token_bytes() -> DeterministicRandom:
    return DeterministicRandom()
