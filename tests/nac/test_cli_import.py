"""`nac user import`, `nac endpoint import`, `nac config export` / `import` (CliRunner and the
real console script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nac.cli import app
from nac.core.config import Settings

NAC = str(Path(sys.executable).with_name("nac"))


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("NAC_") and key != "NAC_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    values = {"NAC_DATA_DIR": str(settings.data_dir), "NAC_DB": settings.database_url()}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def nac(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NAC, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_user_and_endpoint_import(env: dict[str, str], tmp_path: Path) -> None:
    assert run("init")[0] == 0
    users = tmp_path / "users.csv"
    users.write_text("name,password,groups\nann,a-pw,staff;vpn\nben,b-pw,staff\n")
    code, out, _ = run("user", "import", str(users))
    assert code == 0, out
    assert "2 users imported from" in out and "2 created, 0 updated" in out
    assert "groups created: staff, vpn" in out
    code, out, _ = run("user", "list")
    assert "ann" in out and "staff,vpn" in out and "a-pw" not in out

    # A bad file: every problem on stderr with its line, exit 1, nothing imported.
    bad = tmp_path / "bad.csv"
    bad.write_text("name,password,groups\ncid,c-pw,\nann,x,\nbad name,y,\n")
    res = nac(env, "user", "import", str(bad))
    assert res.returncode == 1
    assert "bad.csv: line 3, column name: user 'ann' already exists" in res.stderr
    assert "bad.csv: line 4, column name: invalid name" in res.stderr
    assert "nac: error: nothing imported: 2 problem(s)" in res.stderr
    assert "cid" not in run("user", "list")[1]

    code, out, _ = run("user", "import", str(tmp_path / "users.csv"), "--update")
    assert code == 0 and "0 created, 2 updated" in out

    endpoints = tmp_path / "ep.csv"
    endpoints.write_text(
        "mac,profile\n" + "".join(f"02:00:00:00:01:{i:02x},cam\n" for i in range(50))
    )
    code, out, _ = run("endpoint", "import", str(endpoints))
    assert code == 0 and "50 endpoints imported" in out
    code, out, _ = run("endpoint", "list")
    assert "02:00:00:00:01:31" in out


def test_config_export_dry_run_import(env: dict[str, str], tmp_path: Path) -> None:
    assert run("init", "--demo")[0] == 0
    target = tmp_path / "conf.yaml"
    code, out, _ = run("config", "export", "-o", str(target))
    assert code == 0 and "configuration written to" in out
    code, stdout_text, _ = run("config", "export")
    assert stdout_text == target.read_text()
    assert "testing123" not in stdout_text and "alice-pass" not in stdout_text

    doc = yaml.safe_load(target.read_text())
    doc["clients"].append({"name": "sw9", "addresses": ["10.9.0.0/16"]})
    doc["users"] = [u for u in doc["users"] if u["name"] != "bob"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))

    code, out, _ = run("config", "import", str(changed), "--dry-run", "--prune")
    assert code == 0
    assert "+  - name: sw9" in out and "-  - name: bob" in out
    assert "dry run, nothing changed: clients: 1 created" in out
    assert "users: 0 created, 0 changed, 1 deleted" in out
    assert run("config", "export")[1] == stdout_text  # really nothing changed

    code, out, _ = run("config", "import", str(changed))  # keeps bob (no --prune)
    assert code == 0, out
    assert "create client sw9" in out and "delete user bob" not in out
    secret = out.split("generated secret for client sw9 (shown once): ")[1].split()[0]
    assert len(secret) >= 24
    assert "bob" in run("user", "list")[1]
    code, out, _ = run("config", "import", str(changed), "--prune")
    assert code == 0 and "delete user bob" in out and "generated" not in out

    broken = tmp_path / "broken.yaml"
    broken.write_text("clients:\n  - {name: x, addresses: [300.1.1.1]}\n")
    res = nac(env, "config", "import", str(broken))
    assert res.returncode == 1
    assert "broken.yaml: clients[0].addresses[0]: not an IP address or CIDR" in res.stderr
    assert "nac: error: nothing imported: 1 problem(s)" in res.stderr
