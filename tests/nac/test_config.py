from __future__ import annotations

from pathlib import Path

import pytest

from nac.core.config import Settings, load_settings
from nac.core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NAC_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings(config_file=None, overrides={})
    assert s.data_dir == Path("nac-data")
    assert (s.radius_auth_port, s.radius_acct_port, s.tacacs_port, s.web_port) == (
        1812,
        1813,
        49,
        8080,
    )
    assert s.bind == "0.0.0.0"
    assert s.demo is False and s.log_format == "text" and s.log_level == "info"
    assert s.node_name
    assert s.dup_cache_seconds == 10.0
    assert s.database_urls() == ("sqlite:///nac-data/nac.db", "sqlite+aiosqlite:///nac-data/nac.db")


def test_precedence_cli_env_toml_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "nac.toml"
    cfg.write_text(
        'radius_auth_port = 11812\nradius_acct_port = 11813\ntacacs_port = 1049\nbind = "::"\n'
    )
    monkeypatch.setenv("NAC_RADIUS_ACCT_PORT", "21813")
    monkeypatch.setenv("NAC_TACACS_PORT", "2049")
    s = load_settings(config_file=cfg, overrides={"tacacs_port": 3049, "web_port": None})
    assert s.radius_auth_port == 11812  # TOML beats default
    assert s.radius_acct_port == 21813  # env beats TOML
    assert s.tacacs_port == 3049  # CLI beats env
    assert s.web_port == 8080  # None override = not given
    assert s.bind == "::"


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "nac.toml"
    cfg.write_text('log_format = "json"\ndemo = true\n')
    monkeypatch.setenv("NAC_CONFIG", str(cfg))
    monkeypatch.setenv("NAC_DATA_DIR", str(tmp_path / "d"))
    s = load_settings(config_file=None, overrides={})
    assert s.log_format == "json" and s.demo is True
    assert s.data_dir == tmp_path / "d"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("radius_auth_port = 70000\n", "radius_auth_port: must be 1-65535 (from config file"),
        ('bind = "example.com"\n', "bind: must be an IP address"),
        ('log_format = "xml"\n', "log_format: "),
        ("radius_auth_prot = 1\n", "unknown setting 'radius_auth_prot'"),
        ("radius_auth_port = \n", "cannot read config file"),
        ('db = "mysql://x/y"\n', "db: unsupported database 'mysql'"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=cfg, overrides={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read config file .*x\.toml: "):
        load_settings(config_file=tmp_path / "x.toml", overrides={})


def test_bad_env_names_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAC_WEB_PORT", "70000")
    with pytest.raises(
        ConfigError,
        match=r"web_port: must be 1-65535, or 0 for none \(from environment NAC_WEB_PORT\)",
    ):
        load_settings(config_file=None, overrides={})


def test_database_urls() -> None:
    pg = Settings(db="postgresql://u:pw@db.example:5432/nac")
    assert pg.database_urls() == (
        "postgresql+psycopg://u:pw@db.example:5432/nac",
        "postgresql+psycopg://u:pw@db.example:5432/nac",
    )
    assert Settings(db="postgresql+psycopg://h/n").database_urls()[1] == "postgresql+psycopg://h/n"
    assert Settings(db="sqlite:////var/lib/nac/nac.db").database_urls() == (
        "sqlite:////var/lib/nac/nac.db",
        "sqlite+aiosqlite:////var/lib/nac/nac.db",
    )
    assert Settings(data_dir=Path("/srv/n")).database_urls()[0] == "sqlite:////srv/n/nac.db"


def test_repr_hides_database_password() -> None:
    s = Settings(db="postgresql://nac:hunter2@db/nac")
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    assert "hunter2" not in s.redacted_database_url()


def test_deploy_example_config_loads_and_names_every_setting() -> None:
    """deploy/nac.toml is a working file, and it mentions every setting (set or commented)."""
    example = Path(__file__).parents[2] / "deploy" / "nac.toml"
    s = load_settings(config_file=example, overrides={})
    assert s.data_dir == Path("/var/lib/nac") and s.workers == 2 and s.log_format == "json"
    text = example.read_text()
    missing = [name for name in Settings.model_fields if f"{name} =" not in text]
    assert missing == []
