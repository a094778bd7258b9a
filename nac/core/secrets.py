"""Secrets at rest: AES-256-GCM under a key file ``<data_dir>/secret.key`` (mode 0600).

A ciphertext is ``nonce (12 bytes) || ciphertext+tag``; the ``purpose`` is the associated
data, so a blob encrypted for one column (a user password) does not decrypt as another
(a NAS shared secret). A key file readable by group or others is refused, not just warned
about: every RADIUS secret and user password depends on it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nac.core.errors import SecretError

KEY_FILE_NAME = "secret.key"
KEY_SIZE = 32
NONCE_SIZE = 12

# Purposes used by nac.db (associated data; never change a value once data exists).
PURPOSE_NAS_SECRET = "nas-secret"  # noqa: S105 - a label, not a secret
PURPOSE_TACACS_KEY = "tacacs-key"
PURPOSE_USER_PASSWORD = "user-password"  # noqa: S105 - a label, not a secret
PURPOSE_ENABLE_SECRET = "enable-secret"  # noqa: S105 - a label, not a secret


class SecretBox:
    """Encrypts and decrypts short secrets. Build with `SecretBox.open(data_dir)`."""

    __slots__ = ("_aead", "path")

    def __init__(self, key: bytes, *, path: Path | None = None) -> None:
        if len(key) != KEY_SIZE:
            raise SecretError(f"secret key must be {KEY_SIZE} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.path = path

    def __repr__(self) -> str:
        return f"SecretBox(path={str(self.path) if self.path else None!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("SecretBox cannot be pickled")

    @classmethod
    def open(cls, data_dir: Path, *, create: bool = True) -> SecretBox:
        """Load ``<data_dir>/secret.key``, creating it (and ``data_dir``) on first use."""
        path = data_dir / KEY_FILE_NAME
        if create and not path.exists():
            _create_key_file(path)
        return cls(_read_key_file(path), path=path)

    def encrypt(self, plaintext: str, *, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())

    def decrypt(self, blob: bytes, *, purpose: str) -> str:
        if len(blob) < NONCE_SIZE + 16:
            raise SecretError(f"cannot decrypt {purpose}: ciphertext too short")
        try:
            data = self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], purpose.encode())
        except InvalidTag:
            raise SecretError(
                f"cannot decrypt {purpose}: wrong key file or data encrypted for another purpose"
            ) from None
        return data.decode("utf-8")


def _create_key_file(path: Path) -> None:
    """Write a new random key atomically: O_EXCL temp file (0600), then link() into place.

    link() never replaces an existing file, so two processes starting at once agree on one
    key and nobody ever reads a half-written key file.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(KEY_SIZE))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else won the race; use their key
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    except OSError as exc:
        raise SecretError(f"cannot create key file {path}: {exc.strerror or exc}") from None


def _read_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SecretError(f"key file {path} does not exist (run 'nac init')") from None
    except OSError as exc:
        raise SecretError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
            )
        key = os.read(fd, KEY_SIZE + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_SIZE:
        raise SecretError(f"key file {path} is damaged: expected {KEY_SIZE} bytes")
    return key
