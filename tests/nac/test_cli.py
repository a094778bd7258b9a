from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nac.cli import app, main
from nac.core.config import Settings
from nac.db.defaults import default_policy

NAC = str(Path(sys.executable).with_name("nac"))


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """NAC_DATA_DIR / NAC_DB pointing at the test database, for CliRunner and subprocesses."""
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


def test_init_user_client_policy_flow(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run("init", "--demo")
    assert code == 0 and "demo data loaded" in out
    code, out, _ = run("init", "--demo")  # idempotent, says so
    assert code == 0 and "not empty" in out

    code, out, _ = run(
        "user", "add", "carol", "--password-stdin", "-g", "employees", input="c-pass\n"
    )
    assert code == 0 and "user carol added (enabled; employees)" in out
    code, out, _ = run("user", "list")
    assert "carol" in out and "alice" in out
    assert "c-pass" not in out and "alice-pass" not in out

    code, out, _ = run("client", "add", "sw9", "-a", "10.9.0.0/16", "--vendor", "cisco")
    assert code == 0
    generated = out.split("shown once, store it on the NAS): ")[1].strip()
    assert len(generated) >= 20
    code, out, _ = run("client", "list")
    assert "sw9" in out and "10.9.0.0/16" in out and "cisco" in out
    assert generated not in out and "testing123" not in out

    code, out, _ = run("endpoint", "add", "AA:BB:CC:DD:EE:01", "--profile", "phone")
    assert code == 0 and "aa:bb:cc:dd:ee:01" in out
    code, out, _ = run("endpoint", "list")
    assert "00:11:22:33:44:55" in out and "phone" in out

    code, out, _ = run("policy", "show")
    assert code == 0
    assert "policy version 1 by demo" in out
    assert "employees: if all of [user.groups contains 'employees'; any of [" in out
    assert "quarantine-vlan666 (accept, vlan 666, filter-id quarantine)" in out

    good = tmp_path / "p.json"
    good.write_text(json.dumps(default_policy()))
    code, out, _ = run("policy", "load", str(good), "--comment", "lockdown")
    assert code == 0 and "policy version 2 stored" in out
    code, out, _ = run("policy", "versions")
    assert "lockdown" in out

    code, out, _ = run("check")
    assert code == 0
    assert "radius auth udp 0.0.0.0:1812" in out and "radius acct udp 0.0.0.0:1813" in out
    assert "warning: client lab-switch: shared secret is shorter than 12 characters" in out

    code, out, _ = run("sessions", "--all")
    assert code == 0 and out.startswith("STATUS")
    code, out, _ = run("audit", "tail", "-n", "5")
    assert code == 0


def test_errors_are_one_line(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nac: error: ") and err.count("\n") == 1 and "nac init" in err

    assert main(["init"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"results": {}, "policy_sets": [{"name": "x", "default_result": "nope"}]})
    )
    assert main(["policy", "load", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"nac: error: {bad}: policy_sets[0].") and err.count("\n") == 1

    assert main(["client", "add", "sw", "-a", "999.1.1.1", "--secret", "x" * 16]) == 1
    assert (
        capsys.readouterr().err == "nac: error: addresses: not an IP address or CIDR: '999.1.1.1'\n"
    )

    assert main(["user", "add", "dave", "--password", "p"]) == 0
    assert main(["user", "add", "dave", "--password", "p"]) == 1
    assert capsys.readouterr().err.endswith("nac: error: user 'dave' already exists\n")

    assert main(["serve", "--radius-auth-port", "70000"]) == 1
    assert capsys.readouterr().err == (
        "nac: error: radius_auth_port: must be 1-65535 (from command line)\n"
    )


def test_real_subprocess(env: dict[str, str]) -> None:
    def nac(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NAC, *args], env=env, input=input, capture_output=True, text=True, timeout=60
        )

    res = nac("user", "list")  # before init: one line, exit 1, no traceback
    assert res.returncode == 1
    assert res.stderr.startswith("nac: error: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr + res.stdout

    assert nac("init").returncode == 0
    res = nac(
        "user", "add", "erin", "--password-stdin", "--group", "staff", input="erin-secret-pw\n"
    )
    assert res.returncode == 0, res.stderr
    res = nac(
        "client",
        "add",
        "ap1",
        "--address",
        "192.0.2.0/24",
        "--secret-stdin",
        input="shared-secret-xyz\n",
    )
    assert res.returncode == 0, res.stderr
    res = nac("user", "list")
    assert res.returncode == 0 and "erin" in res.stdout and "staff" in res.stdout
    assert "erin-secret-pw" not in res.stdout
    res = nac("client", "list")
    assert res.returncode == 0 and "ap1" in res.stdout
    assert "shared-secret-xyz" not in res.stdout + res.stderr

    res = nac("--config", "/nonexistent.toml", "check")  # usage error (option before command)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = nac("check", "--config", "/nonexistent.toml")
    assert res.returncode == 1
    assert (
        res.stderr
        == "nac: error: cannot read config file /nonexistent.toml: No such file or directory\n"
    )
