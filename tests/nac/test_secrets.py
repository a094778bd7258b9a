from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nac.core.errors import SecretError
from nac.core.secrets import PURPOSE_NAS_SECRET, PURPOSE_USER_PASSWORD, SecretBox


def test_round_trip_and_key_file_mode(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path / "data")
    key = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.stat().st_size == 32
    blob = box.encrypt("testing123", purpose=PURPOSE_NAS_SECRET)
    assert b"testing123" not in blob
    assert box.decrypt(blob, purpose=PURPOSE_NAS_SECRET) == "testing123"
    # a second open reuses the same key
    assert (
        SecretBox.open(tmp_path / "data").decrypt(blob, purpose=PURPOSE_NAS_SECRET) == "testing123"
    )
    # fresh nonce each time
    assert box.encrypt("x", purpose="p") != box.encrypt("x", purpose="p")
    assert box.decrypt(box.encrypt("pässwörd", purpose="p"), purpose="p") == "pässwörd"


def test_wrong_purpose_fails(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path)
    blob = box.encrypt("alice-pass", purpose=PURPOSE_USER_PASSWORD)
    with pytest.raises(SecretError, match="cannot decrypt nas-secret"):
        box.decrypt(blob, purpose=PURPOSE_NAS_SECRET)


def test_wrong_key_and_tampering_fail(tmp_path: Path) -> None:
    blob = SecretBox.open(tmp_path / "a").encrypt("x", purpose="p")
    with pytest.raises(SecretError):
        SecretBox.open(tmp_path / "b").decrypt(blob, purpose="p")
    box = SecretBox.open(tmp_path / "a")
    with pytest.raises(SecretError):
        box.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), purpose="p")
    with pytest.raises(SecretError, match="too short"):
        box.decrypt(b"short", purpose="p")


def test_refuses_group_readable_key(tmp_path: Path) -> None:
    SecretBox.open(tmp_path)
    os.chmod(tmp_path / "secret.key", 0o640)
    with pytest.raises(
        SecretError, match=r"accessible by group or others \(mode 0640\); run: chmod 600"
    ):
        SecretBox.open(tmp_path)


def test_missing_or_damaged_key(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        SecretBox.open(tmp_path, create=False)
    fd = os.open(tmp_path / "secret.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"short")
    os.close(fd)
    with pytest.raises(SecretError, match="damaged"):
        SecretBox.open(tmp_path)


def test_repr_never_shows_key(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path)
    key = (tmp_path / "secret.key").read_bytes()
    assert key.hex() not in repr(box) and repr(key) not in repr(box)
    assert "SecretBox(path=" in repr(box)
