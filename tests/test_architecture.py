"""The pure packages stay pure: no I/O, no clocks, no randomness (STYLE.md conventions 1, 8).

import-linter (pyproject.toml) checks the package graph; this checks the standard library
modules and calls that import-linter cannot see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ["radius", "tacacs", "policy", "posture"]
FORBIDDEN_MODULES = {"asyncio", "socket", "ssl", "random", "selectors", "threading", "subprocess"}
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("os", "urandom"),
}
ADAPTERS = {"aio.py"}  # the thin asyncio transports beside the cores


def pure_files() -> list[Path]:
    return sorted(p for pkg in PURE for p in (ROOT / pkg).rglob("*.py") if p.name not in ADAPTERS)


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_has_no_io_clock_or_randomness(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
            if node.module == "secrets" or any(a.name == "token_bytes" for a in node.names):
                names.append("secrets")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_CALLS, (
                f"{path.name}:{node.lineno} calls {node.value.id}.{node.attr}; "
                "take it as a parameter"
            )
            continue
        else:
            continue
        bad = (set(names) & FORBIDDEN_MODULES) | ({"secrets"} & set(names))
        assert not bad, f"{path.name}:{node.lineno} imports {sorted(bad)}"


def test_the_check_itself_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\n")
    with pytest.raises(AssertionError):
        test_pure_module_has_no_io_clock_or_randomness(bad)
