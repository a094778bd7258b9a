"""`nac admin add|list`, the first console admin of a fresh install, the demo's admin."""

from __future__ import annotations

import re

import pytest

from nac.cli import main
from nac.core.config import Settings
from nac.core.passwords import verify_password
from nac.db import crud
from nac.db.bootstrap import open_storage

from .test_cli import env, run

__all__ = ["env"]


def test_first_init_prints_a_generated_one_time_admin_password(env: dict[str, str]) -> None:
    code, out, _ = run("init")
    assert code == 0
    match = re.search(r"console admin 'admin' created with the one-time password (\S+)", out)
    assert match, out
    password = match.group(1)
    assert len(password) >= 16 and password != "admin-pass"
    code, out, _ = run("init")  # only once
    assert "one-time password" not in out
    code, out, _ = run("admin", "list")
    assert re.search(r"^admin\s+admin\s+no\s", out, re.M) and password not in out


def test_admin_add_and_list(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    run("init")
    code, out, _ = run(
        "admin", "add", "carol", "--role", "operator", "--password-stdin", input="carol-secret-1\n"
    )
    assert code == 0 and "admin carol added (role operator)" in out
    assert "carol-secret-1" not in out
    code, out, _ = run("admin", "add", "dave", "--role", "auditor")
    generated = out.split("password (shown once): ")[1].strip()
    assert code == 0 and len(generated) >= 16
    assert main(["admin", "add", "erin", "--role", "root"]) == 1
    assert "must be one of auditor, operator, admin" in capsys.readouterr().err
    assert main(["admin", "add", "carol", "--role", "auditor"]) == 1
    assert capsys.readouterr().err.endswith("nac: error: admin 'carol' already exists\n")
    code, out, _ = run("admin", "list")
    assert re.search(r"^carol\s+operator\s+no\s", out, re.M)
    assert re.search(r"^dave\s+auditor\s+no\s", out, re.M)
    assert "$argon2" not in out
    code, out, _ = run("admin", "passwd", "carol", "--password-stdin", input="carol-secret-2\n")
    assert code == 0 and "password of admin carol changed" in out
    assert main(["admin", "passwd", "nobody", "--password-stdin"]) == 1


async def test_demo_has_the_console_admin(settings: Settings) -> None:
    storage = await open_storage(settings, demo=True)
    try:
        async with storage.db.session() as session:
            admins = await crud.list_admins(session)
        assert [(a.name, a.role) for a in admins] == [("admin", "admin")]
        assert verify_password(admins[0].password_hash, "admin-pass")
        assert admins[0].password_hash.startswith("$argon2id$")
        assert not any("one-time password" in note for note in storage.notes)
    finally:
        await storage.db.dispose()
