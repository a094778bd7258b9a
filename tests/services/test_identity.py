"""nac.services.identity.SnapshotResolver: internal users and endpoints over one snapshot."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from nac.services.identity import (
    ChapCredentials,
    MacCredentials,
    PapCredentials,
    SnapshotResolver,
)
from nac.services.snapshot import build_snapshot
from policy.model import AccessContext, AuthnResult, AuthnStatus, NasInfo, ReasonCode

from .support import PRINTER_MAC, config

CHALLENGE = bytes(range(100, 116))


def chap(password: bytes, ident: int = 7, challenge: bytes = CHALLENGE) -> ChapCredentials:
    """CHAP-Password: ident octet + MD5(ident + password + challenge) (RFC 1994 4.1)."""
    digest = hashlib.md5(bytes((ident,)) + password + challenge).digest()
    return ChapCredentials(bytes((ident,)) + digest, challenge)


def authenticate(
    source: str,
    *,
    username: str | None = None,
    mac: str | None = None,
    credentials: object | None = None,
    method: str = "pap",
) -> AuthnResult:
    resolver = SnapshotResolver(build_snapshot(config()))
    ctx = AccessContext(
        protocol="radius",
        now=datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
        nas=NasInfo(name="sw1", ip="192.0.2.1"),
        auth_method=method,
        username=username,
        mac=mac,
        credentials=credentials,
    )
    return resolver.authenticate(source, ctx)


def status(result: AuthnResult) -> tuple[AuthnStatus, ReasonCode]:
    return result.status, result.reason_code


def test_pap_ok() -> None:
    r = authenticate("internal_users", username="alice", credentials=PapCredentials(b"alice-pass"))
    assert status(r) == (AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED)
    assert r.identity is not None
    assert (r.identity.name, r.identity.source) == ("alice", "internal_users")
    assert r.identity.groups == frozenset({"employees"})


@pytest.mark.parametrize(
    "password", [b"wrong", b"alice-pas", b"alice-pass\x00x", b"", b"ALICE-PASS"]
)
def test_pap_wrong_password(password: bytes) -> None:
    r = authenticate("internal_users", username="alice", credentials=PapCredentials(password))
    assert status(r) == (AuthnStatus.FAILED, ReasonCode.WRONG_PASSWORD)
    assert r.reason == "wrong password"
    assert r.identity is None


@pytest.mark.parametrize("username", ["mallory", "", None, "Alice"])
def test_pap_unknown_user(username: str | None) -> None:
    r = authenticate("internal_users", username=username, credentials=PapCredentials(b"x"))
    assert status(r) == (AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_USER)
    assert r.identity is None


def test_disabled_user_rejected_even_with_the_right_password() -> None:
    r = authenticate("internal_users", username="carol", credentials=PapCredentials(b"carol-pass"))
    assert status(r) == (AuthnStatus.DISABLED, ReasonCode.USER_DISABLED)
    assert r.identity is None


def test_chap_ok() -> None:
    r = authenticate(
        "internal_users", username="alice", credentials=chap(b"alice-pass"), method="chap"
    )
    assert status(r) == (AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED)
    assert r.identity is not None
    assert r.identity.name == "alice"


@pytest.mark.parametrize(
    "creds",
    [
        chap(b"wrong"),
        # the right response computed for another challenge
        ChapCredentials(chap(b"alice-pass", challenge=bytes(16)).chap_password, CHALLENGE),
        # the right response under another ident octet
        ChapCredentials(b"\x08" + chap(b"alice-pass", ident=7).chap_password[1:], CHALLENGE),
        ChapCredentials(chap(b"alice-pass").chap_password[:16], CHALLENGE),  # truncated
    ],
)
def test_chap_wrong(creds: ChapCredentials) -> None:
    r = authenticate("internal_users", username="alice", credentials=creds, method="chap")
    assert status(r) == (AuthnStatus.FAILED, ReasonCode.WRONG_PASSWORD)


@pytest.mark.parametrize("creds", [None, MacCredentials(PRINTER_MAC)])
def test_internal_users_without_a_password(creds: object | None) -> None:
    r = authenticate("internal_users", username="alice", credentials=creds)
    assert status(r) == (AuthnStatus.UNSUPPORTED, ReasonCode.MISSING_CREDENTIALS)


def test_internal_users_with_an_unknown_credential_type() -> None:
    r = authenticate("internal_users", username="alice", credentials=object(), method="mschapv2")
    assert status(r) == (AuthnStatus.UNSUPPORTED, ReasonCode.METHOD_NOT_SUPPORTED)
    assert "mschapv2" in r.reason


def test_mab_known_mac() -> None:
    r = authenticate("endpoints", mac=PRINTER_MAC, method="mab")
    assert status(r) == (AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED)
    assert r.identity is not None
    assert (r.identity.name, r.identity.source) == (PRINTER_MAC, "endpoints")
    assert r.identity.groups == frozenset({"printers"})
    assert dict(r.identity.attributes) == {"profile": "printer"}


def test_mab_unknown_mac() -> None:
    r = authenticate("endpoints", mac="00:11:22:33:44:56", method="mab")
    assert status(r) == (AuthnStatus.NOT_FOUND, ReasonCode.UNKNOWN_MAC)
    assert r.identity is None


def test_mab_without_mac() -> None:
    r = authenticate("endpoints", username="alice", method="mab")
    assert status(r) == (AuthnStatus.UNSUPPORTED, ReasonCode.MISSING_CREDENTIALS)


def test_unknown_identity_source() -> None:
    r = authenticate("ldap", username="alice", credentials=PapCredentials(b"alice-pass"))
    assert status(r) == (AuthnStatus.ERROR, ReasonCode.UNKNOWN_IDENTITY_SOURCE)
    assert "ldap" in r.reason
    assert r.identity is None


def test_credentials_never_show_their_secrets() -> None:
    assert "alice-pass" not in repr(PapCredentials(b"alice-pass"))
    creds = chap(b"alice-pass")
    assert creds.chap_password.hex() not in repr(creds)
