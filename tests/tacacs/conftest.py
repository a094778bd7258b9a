from __future__ import annotations

from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parent / "vectors"


def load_vectors(name: str) -> dict[str, bytes]:
    """Read a hex vector file: ``[name]`` headers, hex lines, ``#`` comments."""
    out: dict[str, bytes] = {}
    current: str | None = None
    for line in (VECTORS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            out[current] = b""
        else:
            assert current is not None
            out[current] += bytes.fromhex(line)
    return out


@pytest.fixture(scope="session")
def rfc8907() -> dict[str, bytes]:
    return load_vectors("rfc8907_bodies.txt")
