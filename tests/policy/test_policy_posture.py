"""Posture and endpoint facts as policy conditions, the blocked endpoint, the posture section
of the document, and the demo's posture quarantine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from policy_helpers import NOON, DirectoryResolver, User, make_ctx

from nac.db.defaults import demo_policy
from policy import EndpointInfo, PolicyError, ReasonCode, compile_policy, evaluate
from policy.conditions import compile_condition
from policy.engine import uses_time
from posture.checks import compile_requirements

MAC = "aa:bb:cc:00:11:22"
POSTURE = compile_requirements(demo_policy()["posture"])


def ep(**kw: Any) -> EndpointInfo:
    return EndpointInfo(mac=MAC, known=False, **kw)


def ctx(endpoint: EndpointInfo | None = None, posture: str = "unknown", **kw: Any):
    return make_ctx(mac=MAC if endpoint else None, endpoint=endpoint, posture=posture, **kw)


def leaf(attr: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"attr": attr, "op": op}
    if value is not None:
        out["value"] = value
    return out


REPORTED = {"posture_at": NOON - timedelta(minutes=1)}


@pytest.mark.parametrize(
    ("cond", "endpoint", "expected"),
    [
        (leaf("posture.score", "at_least", 50), ep(posture_score=80, **REPORTED), True),
        (leaf("posture.score", "at_least", 80), ep(posture_score=80, **REPORTED), True),
        (leaf("posture.score", "greater_than", 80), ep(posture_score=80, **REPORTED), False),
        (leaf("posture.score", "less_than", 20), ep(posture_score=4, **REPORTED), True),
        (leaf("posture.score", "at_most", 3), ep(posture_score=4, **REPORTED), False),
        (leaf("posture.score", "equals", 4), ep(posture_score=4, **REPORTED), True),
        (leaf("posture.score", "not_equals", 4), ep(posture_score=4, **REPORTED), False),
        (leaf("posture.score", "less_than", 20), ep(posture_score=0), False),  # no report
        (leaf("posture.score", "less_than", 20), None, False),
        (leaf("posture.score", "exists", True), ep(**REPORTED), True),
        (leaf("posture.score", "exists", False), None, True),
        (
            leaf("posture.failed", "contains", "firewall"),
            ep(posture_failed=frozenset({"firewall"})),
            True,
        ),
        (leaf("posture.failed", "contains", "firewall"), ep(), False),
        (
            leaf("posture.failed", "in", ["a", "firewall"]),
            ep(posture_failed=frozenset({"firewall"})),
            True,
        ),
        (leaf("posture.failed", "exists", True), ep(), False),
        (leaf("endpoint.blocked", "equals", True), ep(blocked=True), True),
        (leaf("endpoint.blocked", "equals", True), None, False),
        (leaf("endpoint.randomized", "equals", True), ep(randomized=True), True),
        (leaf("endpoint.randomized", "not_equals", True), ep(randomized=False), True),
        (leaf("endpoint.vendor", "starts_with", "Cisco"), ep(vendor="Cisco Systems, Inc"), True),
        (leaf("endpoint.vendor", "exists", True), ep(), False),
    ],
)
def test_posture_and_endpoint_attributes(
    cond: dict[str, Any], endpoint: Any, expected: bool
) -> None:
    compiled = compile_condition(cond)
    assert compiled.test(ctx(endpoint), None) is expected


@pytest.mark.parametrize(
    ("first_seen", "posture", "expected"),
    [
        (None, "unknown", True),  # not recorded yet: the grace period starts now
        (NOON - timedelta(minutes=59), "unknown", True),
        (NOON - timedelta(minutes=60), "unknown", False),
        (NOON - timedelta(days=3), "unknown", False),
        (NOON - timedelta(minutes=1), "compliant", False),
        (NOON - timedelta(minutes=1), "non_compliant", False),
    ],
)
def test_grace_period(first_seen: Any, posture: str, expected: bool) -> None:
    cond = compile_condition(leaf("posture.grace", "equals", True), posture=POSTURE)
    endpoint = ep(first_seen=first_seen) if first_seen else None
    assert cond.test(ctx(endpoint, posture), None) is expected


def test_no_grace_period_without_a_posture_section() -> None:
    cond = compile_condition(leaf("posture.grace", "equals", True))
    assert cond.test(ctx(None), None) is False


def test_posture_words_name_the_failed_checks() -> None:
    cond = compile_condition(leaf("posture.state", "equals", "non_compliant"), posture=POSTURE)
    endpoint = ep(
        posture_score=80, posture_failed=frozenset({"firewall", "disk-encryption"}), **REPORTED
    )
    words = cond.explain(ctx(endpoint, "non_compliant"), None)
    assert words == (
        "posture.state equals 'non_compliant': yes (posture.state: non_compliant; posture:"
        " non_compliant, score 80; failed checks: disk-encryption (requires disk.encrypted"
        " true), firewall (requires firewall.enabled true))"
    )
    grace = compile_condition(leaf("posture.grace", "equals", False), posture=POSTURE)
    old = ep(first_seen=NOON - timedelta(hours=2))
    assert grace.explain(ctx(old), None).endswith(
        "posture: unknown, no posture report; first seen 7200s ago: past the 3600s grace period)"
    )


@pytest.mark.parametrize(
    ("cond", "path", "words"),
    [
        (leaf("posture.score", "at_least", "50"), "condition.value", "expected a number"),
        (leaf("posture.score", "at_least", True), "condition.value", "expected a number"),
        (leaf("posture.score", "contains", "5"), "condition.op", "does not apply"),
        (leaf("user.name", "at_least", 5), "condition.op", "does not apply"),
        (leaf("posture.grace", "equals", "yes"), "condition.value", "true or false"),
        (leaf("posture.failed", "at_most", 1), "condition.op", "does not apply"),
        (leaf("posture.scor", "at_least", 1), "condition.attr", "did you mean 'posture.score'"),
    ],
)
def test_compile_errors(cond: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        compile_condition(cond)
    assert info.value.path == path and words in info.value.message


def test_the_posture_section_compiles_into_the_snapshot_and_errors_name_the_field() -> None:
    snapshot = compile_policy(demo_policy())
    assert [c.id for c in snapshot.posture.checks] == [
        "firewall",
        "disk-encryption",
        "av-signatures",
    ]
    assert snapshot.posture.grace_seconds == 3600
    doc = demo_policy()
    doc["posture"]["requirements"][2]["value"] = "seven"
    with pytest.raises(PolicyError) as info:
        compile_policy(doc)
    assert info.value.path == "posture.requirements[2].value"
    assert (
        compile_policy({k: v for k, v in demo_policy().items() if k != "posture"}).posture.checks
        == ()
    )


def test_grace_makes_the_policy_time_dependent() -> None:
    assert uses_time(compile_policy(demo_policy())) is True


# --- the demo ----------------------------------------------------------------------------

ALICE = DirectoryResolver(users={"alice": User("alice-pw", frozenset({"employees"}))})


def decide(endpoint: EndpointInfo | None, posture: str = "unknown"):
    return evaluate(compile_policy(demo_policy()), ctx(endpoint, posture), ALICE)


def test_demo_alice_without_a_report_is_in_grace_and_gets_vlan_100() -> None:
    d = decide(None)
    assert d.profile is not None and d.profile.vlan == "100" and d.authorization_rule == "employees"
    fresh = decide(ep(first_seen=NOON - timedelta(minutes=5)))
    assert fresh.profile is not None and fresh.profile.vlan == "100"


def test_demo_non_compliant_employee_is_quarantined_and_the_trace_names_the_check() -> None:
    endpoint = ep(posture_score=80, posture_failed=frozenset({"firewall"}), **REPORTED)
    d = decide(endpoint, "non_compliant")
    assert d.profile is not None
    assert (d.profile.vlan, d.profile.filter_id) == ("666", "quarantine")
    assert d.authorization_rule == "employees-quarantine"
    assert any("firewall (requires firewall.enabled true)" in line for line in d.trace_lines())


def test_demo_unknown_past_grace_is_quarantined_and_compliant_gets_vlan_100() -> None:
    old = NOON - timedelta(hours=2)
    d = decide(ep(first_seen=old))
    assert d.profile is not None and d.profile.vlan == "666"
    ok = decide(ep(first_seen=old, **REPORTED), "compliant")
    assert ok.profile is not None and ok.profile.vlan == "100"


def test_a_blocked_endpoint_is_rejected_before_any_rule() -> None:
    d = decide(ep(blocked=True), "compliant")
    assert d.reason_code is ReasonCode.ENDPOINT_BLOCKED
    assert d.reason == "endpoint blocked by an admin"
    assert d.policy_set is None and d.matched_rules == ()
    assert (
        d.trace_lines()[0]
        == f"endpoint {MAC}: match - blocked by an admin: rejected before any rule"
    )
    assert d.trace_lines()[-1] == "decision: reject (12060 endpoint blocked by an admin)"
    quiet = evaluate(compile_policy(demo_policy()), ctx(ep(blocked=True)), ALICE, trace=False)
    assert quiet.reason_code is ReasonCode.ENDPOINT_BLOCKED and quiet.trace == ()
