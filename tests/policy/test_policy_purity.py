"""policy/ and posture/ stay pure: no I/O, clock, randomness or protocol imports (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_MODULES = {"asyncio", "socket", "ssl", "random", "secrets", "time", "threading"}
FORBIDDEN_MODULES |= {"nac", "radius", "tacacs", "web", "sqlalchemy", "sqlmodel", "fastapi"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "open", "urandom", "token_bytes"}
PURE_FILES = sorted([*(ROOT / "policy").rglob("*.py"), *(ROOT / "posture").rglob("*.py")])


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert name not in FORBIDDEN_CALLS, f"{path}:{node.lineno} calls {name}()"
            continue
        else:
            continue
        assert not roots & FORBIDDEN_MODULES, f"{path}:{node.lineno} imports {roots}"


def test_the_pure_packages_were_found():
    names = {p.name for p in PURE_FILES}
    assert {"engine.py", "conditions.py", "model.py"} <= names
