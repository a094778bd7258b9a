"""Console admin passwords (argon2id) and API tokens (random, stored as SHA-256).

A dummy hash lets a login for an unknown name cost the same as a wrong password.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
TOKEN_PREFIX = "nac_"  # noqa: S105 - a prefix, not a secret


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


class DummyHash:
    """One hash made lazily, verified against for unknown names (equal timing)."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def verify(self, password: str) -> None:
        if self._hash is None:
            self._hash = hash_password(secrets.token_urlsafe(16))
        verify_password(self._hash, password)


def generate_password() -> str:
    """A one-time password for a new admin (about 120 bits)."""
    return secrets.token_urlsafe(15)


def new_token() -> str:
    """A fresh API token, shown once; only ``token_digest`` of it is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
