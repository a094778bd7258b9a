"""nac-agent's collectors: the parsers of nft, iptables, lsblk and os-release output, and the
facts gathered with stubbed commands and a fake root."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from nac.agent import (
    collect_facts,
    iptables_firewall,
    lsblk_encrypted,
    main,
    nft_firewall,
    os_release,
)

NFT_EMPTY = json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}]})
NFT_ACCEPT_NO_RULES = json.dumps(
    {
        "nftables": [
            {"table": {"family": "inet", "name": "filter"}},
            {"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input",
                       "policy": "accept"}},
            {"chain": {"family": "inet", "table": "filter", "name": "output", "hook": "output",
                       "policy": "accept"}},
            {"rule": {"family": "inet", "table": "filter", "chain": "output", "expr": []}},
        ]
    }
)  # fmt: skip
NFT_INPUT_RULE = json.dumps(
    {
        "nftables": [
            {"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input",
                       "policy": "accept"}},
            {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": []}},
        ]
    }
)  # fmt: skip
NFT_DROP = json.dumps(
    {"nftables": [{"chain": {"family": "ip", "table": "t", "name": "in", "hook": "input",
                             "policy": "drop"}}]}
)  # fmt: skip


def test_nft() -> None:
    assert nft_firewall(NFT_EMPTY) is False
    assert nft_firewall(NFT_ACCEPT_NO_RULES) is False  # rules only on output
    assert nft_firewall(NFT_INPUT_RULE) is True
    assert nft_firewall(NFT_DROP) is True


def test_iptables() -> None:
    assert iptables_firewall("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n") is False
    assert iptables_firewall("-P INPUT DROP\n") is True
    assert iptables_firewall("-P INPUT ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n") is True


def test_lsblk() -> None:
    plain = {"blockdevices": [{"name": "sda", "type": "disk", "mountpoint": None,
             "children": [{"name": "sda1", "type": "part", "mountpoint": "/"}]}]}  # fmt: skip
    root = {"name": "root", "type": "crypt", "mountpoint": "/"}
    luks = {"blockdevices": [{"name": "sda", "type": "disk", "mountpoint": None,
            "children": [{"name": "sda2", "type": "part", "children": [root]}]}]}  # fmt: skip
    data_only = {"blockdevices": [{"name": "sda1", "type": "part", "mountpoint": "/"},
                 {"name": "sdb", "type": "disk", "children": [{"name": "d", "type": "crypt",
                  "mountpoint": "/data"}]}]}  # fmt: skip
    container = {"blockdevices": [{"name": "vda", "type": "disk", "mountpoint": None}]}
    assert lsblk_encrypted(json.dumps(plain)) is False
    assert lsblk_encrypted(json.dumps(luks)) is True
    assert lsblk_encrypted(json.dumps(data_only)) is False  # / is not on the crypt device
    assert lsblk_encrypted(json.dumps(container)) is False


def test_os_release() -> None:
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n# c\n'
    assert os_release(text) == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "VERSION_ID": "12",
        "ID": "debian",
    }


def test_collect_with_stubbed_commands(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('VERSION_ID="22.04"\nID=ubuntu\nPRETTY_NAME="U"\n')
    proc = tmp_path / "proc/4242"
    proc.mkdir(parents=True)
    (proc / "comm").write_text("clamd\n")
    clam = tmp_path / "var/lib/clamav"
    clam.mkdir(parents=True)
    (clam / "daily.cld").write_text("x")
    now = (clam / "daily.cld").stat().st_mtime + 3 * 86400
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text("")
    os.utime(status, (now - 10 * 86400, now - 10 * 86400))

    def run(argv: Sequence[str]) -> str | None:
        return {"nft": NFT_DROP, "lsblk": json.dumps({"blockdevices": []})}.get(argv[0])

    facts = collect_facts(run=run, root=tmp_path, now=now)
    assert facts["os.version"] == "22.04" and facts["os.distribution"] == "ubuntu"
    assert facts["firewall.enabled"] is True and facts["disk.encrypted"] is False
    assert facts["av.running"] is True and facts["av.signature_age_days"] == 3.0
    assert facts["patch.age_days"] == 10.0
    assert "screen_lock.enabled" not in facts

    def nothing(argv: Sequence[str]) -> str | None:
        return None

    bare = collect_facts(run=nothing, root=tmp_path / "empty", now=now)
    assert "firewall.enabled" not in bare and "disk.encrypted" not in bare  # unknown, not false
    assert "av.running" not in bare


def test_facts_command_merges_overrides(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    overrides = tmp_path / "f.json"
    overrides.write_text(json.dumps({"firewall.enabled": False, "mdm.id": "x"}))
    assert main(["facts", "--facts", str(overrides)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["firewall.enabled"] is False and printed["mdm.id"] == "x"
    assert main(["report", "--server", "http://127.0.0.1:9", "--mac", "aa:bb:cc:dd:ee:ff"]) == 1
    assert "a token is required" in capsys.readouterr().err
