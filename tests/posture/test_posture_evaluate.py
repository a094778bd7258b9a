"""Posture evaluation: checks on reported facts, the state, the Portnox-style risk score with
smoothing, and the words of each failed check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from posture.checks import compile_requirements, parse_version
from posture.evaluate import evaluate, smooth
from posture.model import PostureError, PostureState
from posture.report import parse_report

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

DEMO: dict[str, Any] = {
    "grace_seconds": 3600,
    "requirements": [
        {"id": "firewall", "fact": "firewall.enabled", "op": "is_true", "weight": 80},
        {"id": "disk-encryption", "fact": "disk.encrypted", "op": "is_true", "weight": 70},
        {
            "id": "av-signatures",
            "fact": "av.signature_age_days",
            "op": "at_most",
            "value": 7,
            "weight": 50,
            "when": {"fact": "av.running", "op": "reported"},
        },
    ],
}
GOOD = {"firewall.enabled": True, "disk.encrypted": True}


def run(facts: dict[str, Any], doc: dict[str, Any] | None = None, previous: int | None = None):
    return evaluate(facts, compile_requirements(doc or DEMO), NOW, previous)


def test_compliant_when_every_check_passes() -> None:
    result = run(GOOD)
    assert result.state is PostureState.COMPLIANT
    assert (result.score, result.failed, result.unknown) == (0, (), ())
    assert result.summary() == "compliant, score 0"


def test_a_failed_check_is_non_compliant_with_its_weight_and_words() -> None:
    result = run({**GOOD, "firewall.enabled": False})
    assert result.state is PostureState.NON_COMPLIANT
    assert result.failed_ids == ("firewall",)
    assert result.failed[0].words == "firewall.enabled is false (required true)"
    assert result.score == 80


def test_the_score_is_the_highest_failed_weight_not_a_sum() -> None:
    result = run({"firewall.enabled": False, "disk.encrypted": False})
    assert result.failed_ids == ("firewall", "disk-encryption")
    assert result.score == 80


def test_an_unknown_fact_scores_a_third_of_its_weight_and_leaves_the_state_unknown() -> None:
    result = run({"firewall.enabled": True})
    assert result.state is PostureState.UNKNOWN
    assert [u.id for u in result.unknown] == ["disk-encryption"]
    assert result.unknown[0].words == "disk.encrypted not reported (required true)"
    assert result.score == 23  # 70 / 3 = 23.3


def test_a_failure_outranks_unknown_facts() -> None:
    result = run({"firewall.enabled": False})
    assert result.state is PostureState.NON_COMPLIANT
    assert result.score == 80


def test_the_when_precondition_skips_the_check_unless_reported() -> None:
    assert run({**GOOD, "av.signature_age_days": 30}).state is PostureState.COMPLIANT
    stale = run({**GOOD, "av.running": True, "av.signature_age_days": 12})
    assert stale.state is PostureState.NON_COMPLIANT
    assert stale.failed[0].words == "av.signature_age_days is 12 (required at most 7)"
    assert stale.score == 50
    fresh = run({**GOOD, "av.running": False, "av.signature_age_days": 7})
    assert fresh.state is PostureState.COMPLIANT  # reported, even false: the check applies
    missing = run({**GOOD, "av.running": True})
    assert missing.state is PostureState.UNKNOWN
    assert round(missing.score) == 17


def test_smoothing_follows_the_portnox_formula() -> None:
    # new = 0.95 * calculated + 0.05 * old
    assert smooth(80, None) == 80
    assert smooth(80, 0) == 76
    assert smooth(0, 80) == 4
    assert smooth(100, 100) == 100
    assert run({"firewall.enabled": False, "disk.encrypted": True}, previous=20).score == 77
    assert run(GOOD, previous=80).score == 4
    assert run(GOOD, previous=80).raw_score == 0


def test_a_zero_weight_failure_is_listed_but_not_non_compliant() -> None:
    doc = {
        "requirements": [
            {"id": "lock", "fact": "screen_lock.enabled", "op": "is_true", "weight": 0}
        ]
    }
    result = run({"screen_lock.enabled": False}, doc)
    assert result.state is PostureState.COMPLIANT
    assert result.failed_ids == ("lock",)


def test_no_requirements_means_compliant() -> None:
    result = evaluate({}, compile_requirements(None), NOW, None)
    assert result.state is PostureState.COMPLIANT


@pytest.mark.parametrize(
    ("check", "facts", "state", "words"),
    [
        (
            {"fact": "os.version", "op": "at_least", "value": "22.04"},
            {"os.version": "20.04"},
            PostureState.NON_COMPLIANT,
            "os.version is 20.04 (required at least 22.04)",
        ),
        (
            {"fact": "os.version", "op": "at_least", "value": "22.04"},
            {"os.version": "22.10"},
            PostureState.COMPLIANT,
            "",
        ),
        (
            {"fact": "os.version", "op": "at_least", "value": "6.1"},
            {"os.version": "6.1.0-18-amd64"},
            PostureState.COMPLIANT,
            "",
        ),
        (
            {"fact": "os.version", "op": "at_least", "value": "12"},
            {"os.version": "bookworm/sid"},
            PostureState.UNKNOWN,
            "os.version is bookworm/sid, which cannot be checked (required at least 12)",
        ),
        (
            {"fact": "os.family", "op": "equals", "value": "linux"},
            {"os.family": "windows"},
            PostureState.NON_COMPLIANT,
            "os.family is 'windows' (required 'linux')",
        ),
        (
            {"fact": "os.name", "op": "matches", "value": "Debian.*"},
            {"os.name": "Ubuntu 24.04"},
            PostureState.NON_COMPLIANT,
            "os.name is 'Ubuntu 24.04' (required matching 'Debian.*')",
        ),
        (
            {"fact": "patch.age_days", "op": "at_most", "value": 30},
            {"patch.age_days": 45.5},
            PostureState.NON_COMPLIANT,
            "patch.age_days is 45.5 (required at most 30)",
        ),
        (
            {"fact": "patch.installed_at", "op": "max_age_days", "value": 30},
            {"patch.installed_at": (NOW - timedelta(days=40)).isoformat()},
            PostureState.NON_COMPLIANT,
            f"patch.installed_at is 40 days old ({(NOW - timedelta(days=40)).isoformat()})"
            " (required at most 30 days old)",
        ),
        (
            {"fact": "patch.installed_at", "op": "max_age_days", "value": 30},
            {"patch.installed_at": "2026-01-01"},
            PostureState.COMPLIANT,
            "",
        ),
        (
            {"fact": "site.tier", "op": "equals", "value": 3},
            {"site.tier": 3.0},
            PostureState.COMPLIANT,
            "",
        ),
        (
            {"fact": "mdm.enrolled", "op": "is_true"},
            {"mdm.enrolled": "yes"},
            PostureState.UNKNOWN,
            "mdm.enrolled is 'yes', which cannot be checked (required true)",
        ),
        (
            {"fact": "edr.agent", "op": "reported"},
            {"edr.agent": "crowdstrike"},
            PostureState.COMPLIANT,
            "",
        ),
    ],
)
def test_operators(
    check: dict[str, Any], facts: dict[str, Any], state: PostureState, words: str
) -> None:
    doc = {"requirements": [{"id": "c", "weight": 60, **check}]}
    result = run(facts, doc)
    assert result.state is state
    shown = [f.words for f in result.failed] + [u.words for u in result.unknown]
    assert shown == ([words] if words else [])


def test_versions() -> None:
    assert parse_version("10.0.19045") == (10, 0, 19045)
    assert parse_version("v2.1-rc1") == (2, 1)
    assert parse_version("bookworm") is None


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (
            {
                "requirements": [
                    {"id": "a", "fact": "firewall.enabled", "op": "is_ture", "weight": 1}
                ]
            },
            "posture.requirements[0].op",
        ),
        (
            {
                "requirements": [
                    {
                        "id": "a",
                        "fact": "firewall.enabled",
                        "op": "at_most",
                        "value": 1,
                        "weight": 1,
                    }
                ]
            },
            "posture.requirements[0].op",
        ),
        (
            {
                "requirements": [
                    {
                        "id": "a",
                        "fact": "av.signature_age_days",
                        "op": "at_most",
                        "value": "7",
                        "weight": 1,
                    }
                ]
            },
            "posture.requirements[0].value",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "os.version", "op": "at_least", "value": "x", "weight": 1}
                ]
            },
            "posture.requirements[0].value",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "os.version", "op": "at_least", "value": 22, "weight": 1}
                ]
            },
            "posture.requirements[0].value",
        ),
        (
            {"requirements": [{"id": "a", "fact": "Firewall", "op": "is_true", "weight": 1}]},
            "posture.requirements[0].fact",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "firewall.enabled", "op": "is_true", "weight": 101}
                ]
            },
            "posture.requirements[0].weight",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "firewall.enabled", "op": "is_true", "weight": True}
                ]
            },
            "posture.requirements[0].weight",
        ),
        (
            {
                "requirements": [
                    {
                        "id": "a",
                        "fact": "firewall.enabled",
                        "op": "is_true",
                        "value": True,
                        "weight": 1,
                    }
                ]
            },
            "posture.requirements[0].value",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "os.name", "op": "matches", "value": "(", "weight": 1}
                ]
            },
            "posture.requirements[0].value",
        ),
        (
            {
                "requirements": [
                    {
                        "id": "a",
                        "fact": "patch.age_days",
                        "op": "max_age_days",
                        "value": 3,
                        "weight": 1,
                    }
                ]
            },
            "posture.requirements[0].op",
        ),
        (
            {
                "requirements": [
                    {
                        "id": "a",
                        "fact": "x.y",
                        "op": "reported",
                        "weight": 1,
                        "when": {"fact": "av.running", "op": "bogus"},
                    }
                ]
            },
            "posture.requirements[0].when.op",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "x.y", "op": "reported", "weight": 1, "colour": 1}
                ]
            },
            "posture.requirements[0].colour",
        ),
        (
            {
                "requirements": [
                    {"id": "a", "fact": "x.y", "op": "reported", "weight": 1},
                    {"id": "a", "fact": "x.z", "op": "reported", "weight": 1},
                ]
            },
            "posture.requirements[1].id",
        ),
        ({"grace_seconds": -1}, "posture.grace_seconds"),
        ({"grace_seconds": "1h"}, "posture.grace_seconds"),
        ({"requirements": {}}, "posture.requirements"),
        (
            {"requirements": [{"fact": "x.y", "op": "reported", "weight": 1}]},
            "posture.requirements[0].id",
        ),
    ],
)
def test_requirement_mistakes_name_the_field(doc: dict[str, Any], path: str) -> None:
    with pytest.raises(PostureError) as info:
        compile_requirements(doc)
    assert info.value.path == path, str(info.value)


# --- the report schema ---------------------------------------------------------------------


def test_a_report_keeps_unknown_fields_and_custom_facts() -> None:
    report = parse_report(
        {
            "mac": "AA-BB-CC-00-11-22",
            "facts": {"firewall.enabled": True, "site.asset_tag": "A-1", "av.running": None},
            "collected_at": "2026-01-05T09:00:00Z",
            "agent": {"name": "nac-agent", "version": "1"},
            "vendor_blob": [1, 2, 3],
        }
    )
    assert report.facts == {"firewall.enabled": True, "site.asset_tag": "A-1"}
    assert report.mac == "AA-BB-CC-00-11-22"
    assert report.collected_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert report.extra == {
        "agent": {"name": "nac-agent", "version": "1"},
        "vendor_blob": [1, 2, 3],
    }


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], ""),
        ({}, "facts"),
        ({"facts": []}, "facts"),
        ({"facts": {"firewall.enabled": "true"}}, "facts.firewall.enabled"),
        ({"facts": {"disk.encrypted": 1}}, "facts.disk.encrypted"),
        ({"facts": {"av.signature_age_days": -1}}, "facts.av.signature_age_days"),
        ({"facts": {"patch.age_days": True}}, "facts.patch.age_days"),
        ({"facts": {"os.version": 12}}, "facts.os.version"),
        ({"facts": {"custom.list": [1]}}, "facts.custom.list"),
        ({"facts": {"Bad Key": 1}}, "facts.Bad Key"),
        ({"facts": {}, "mac": 12}, "mac"),
        ({"facts": {}, "collected_at": "yesterday"}, "collected_at"),
    ],
)
def test_malformed_reports_name_the_field(data: Any, path: str) -> None:
    with pytest.raises(PostureError) as info:
        parse_report(data)
    assert info.value.path == path, str(info.value)


def test_evaluate_refuses_a_naive_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate({}, compile_requirements(DEMO), datetime(2026, 1, 1), None)
