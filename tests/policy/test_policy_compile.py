"""compile_policy: what compiles, and for what does not, the exact path and message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_helpers import demo_document

from policy import Outcome, PolicyError, compile_policy
from policy.rules import FailAction, RuleState

Edit = Callable[[dict[str, Any]], None]


def error_of(edit: Edit, **kwargs: Any) -> PolicyError:
    doc = demo_document()
    edit(doc)
    with pytest.raises(PolicyError) as info:
        compile_policy(doc, **kwargs)
    return info.value


def set0(doc: dict[str, Any]) -> dict[str, Any]:
    ps: dict[str, Any] = doc["policy_sets"][0]
    return ps


def authz(doc: dict[str, Any], n: int) -> dict[str, Any]:
    rule: dict[str, Any] = set0(doc)["authorization"][n]
    return rule


def test_demo_compiles_to_the_expected_structure():
    snap = compile_policy(demo_document())
    assert [ps.name for ps in snap.policy_sets] == ["default", "device-admin"]
    ps = snap.policy_sets[0]
    assert ps.condition is not None and ps.state is RuleState.ENABLED
    assert ps.condition.describe() == "protocol equals 'radius'"
    assert [r.name for r in ps.authentication] == ["mab", "local-users"]
    assert ps.authentication[0].identity_source == "endpoints"
    assert ps.authentication[0].if_not_found is FailAction.REJECT
    assert ps.authentication[0].key == "default/authn/mab"
    assert [r.key for r in ps.authorization] == [
        "default/authz/employees",
        "default/authz/contractors",
        "default/authz/known-printers",
    ]
    assert ps.authorization[1].profile.session_timeout == 3600
    assert ps.default_profile.decision is Outcome.REJECT
    assert snap.results["printers-vlan300"].vlan == "300"


def test_describe_lists_sets_rules_conditions_and_results():
    lines = compile_policy(demo_document()).describe()
    assert lines[0] == "policy set 1. default: Wired and wireless network access"
    assert "    1. mab: if auth.method equals 'mab' -> identity source endpoints" in lines[3]
    assert lines[4].startswith("    2. local-users: always -> identity source internal_users")
    assert (
        "    3. known-printers: if all of [auth.method equals 'mab'; endpoint.profile equals"
        " 'printer'] -> printers-vlan300 (accept, vlan 300)"
    ) in lines
    assert "    default: deny (reject)" in lines
    assert "  contractors-vlan200: accept, vlan 200, session timeout 3600s" in lines


def test_snapshot_keeps_a_private_copy_of_the_document_and_unknown_sections():
    doc = demo_document()
    doc["device_admin"] = {"shell_profiles": {}}
    snap = compile_policy(doc)
    doc["results"]["deny"]["decision"] = "accept"
    assert snap.document["results"]["deny"]["decision"] == "reject"
    assert snap.document["device_admin"] == {"shell_profiles": {}}


def test_full_result_fields_compile():
    doc = demo_document()
    doc["results"]["full"] = {
        "decision": "accept",
        "description": "everything",
        "vlan": "corp-data",
        "filter_id": "corp",
        "acl": "permit-all",
        "vendor_role": "employee",
        "session_timeout": 28800,
        "idle_timeout": 900,
        "reauth": True,
        "redirect_url": "https://portal.example/login",
        "reply_message": "welcome",
        "custom": [{"attribute": "Cisco-AVPair", "value": "shell:priv-lvl=15"}],
    }
    p = compile_policy(doc).results["full"]
    assert (p.vlan, p.filter_id, p.acl, p.vendor_role) == (
        "corp-data",
        "corp",
        "permit-all",
        "employee",
    )
    assert (p.session_timeout, p.idle_timeout, p.reauth) == (28800, 900, True)
    assert p.custom == (("Cisco-AVPair", "shell:priv-lvl=15"),)
    assert "reauthenticate at timeout" in p.summary()


def test_known_identity_sources_and_attribute_names_are_checked_when_given():
    compile_policy(demo_document(), identity_sources={"endpoints", "internal_users"})
    with pytest.raises(PolicyError) as info:
        compile_policy(demo_document(), identity_sources={"internal_users"})
    assert info.value.path == "policy_sets[0].authentication[0].identity_source"
    assert "unknown identity source 'endpoints'" in info.value.message

    def edit(doc: dict[str, Any]) -> None:
        authz(doc, 0)["condition"] = {"attr": "radius.Nas-Port-Typ", "op": "exists"}

    err = error_of(edit, attribute_names={"NAS-Port-Type"})
    assert err.path == "policy_sets[0].authorization[0].condition.attr"


def _set(path: list[Any], value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _delete(path: list[Any]) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


AZ = ["policy_sets", 0, "authorization"]
AN = ["policy_sets", 0, "authentication"]
LEAF = {"attr": "auth.method", "op": "equals", "value": "mab"}

BAD: list[tuple[str, Edit, str, str]] = [
    (
        "unknown operator",
        _set([*AZ, 2, "condition", "all", 0, "op"], "equal"),
        "policy_sets[0].authorization[2].condition.all[0].op",
        "unknown operator 'equal' (did you mean 'equals'?)",
    ),
    (
        "unknown attribute",
        _set([*AZ, 0, "condition", "attr"], "user.group"),
        "policy_sets[0].authorization[0].condition.attr",
        "unknown attribute 'user.group' (did you mean 'user.groups'?)",
    ),
    (
        "missing result",
        _set([*AZ, 1, "result"], "contractor-vlan200"),
        "policy_sets[0].authorization[1].result",
        "unknown result 'contractor-vlan200'",
    ),
    (
        "missing default result",
        _set(["policy_sets", 0, "default_result"], "nope"),
        "policy_sets[0].default_result",
        "unknown result 'nope'",
    ),
    (
        "duplicate rule name",
        _set([*AZ, 1, "name"], "employees"),
        "policy_sets[0].authorization[1].name",
        "duplicate name 'employees' (first used at policy_sets[0].authorization[0])",
    ),
    (
        "duplicate authentication rule name",
        _set([*AN, 1, "name"], "mab"),
        "policy_sets[0].authentication[1].name",
        "duplicate name 'mab'",
    ),
    (
        "vlan as a number",
        _set(["results", "employees-vlan100", "vlan"], 100),
        "results.employees-vlan100.vlan",
        "expected a string",
    ),
    (
        "vlan out of range",
        _set(["results", "employees-vlan100", "vlan"], "4095"),
        "results.employees-vlan100.vlan",
        "VLAN id must be 1..4094, got '4095'",
    ),
    (
        "vlan name with blanks",
        _set(["results", "employees-vlan100", "vlan"], "corp data"),
        "results.employees-vlan100.vlan",
        "invalid VLAN name",
    ),
    (
        "negative session timeout",
        _set(["results", "contractors-vlan200", "session_timeout"], -5),
        "results.contractors-vlan200.session_timeout",
        "expected 1..4294967295 seconds, got -5",
    ),
    (
        "boolean session timeout",
        _set(["results", "contractors-vlan200", "session_timeout"], True),
        "results.contractors-vlan200.session_timeout",
        "expected a whole number of seconds, got a boolean",
    ),
    (
        "bad decision",
        _set(["results", "deny", "decision"], "drop"),
        "results.deny.decision",
        "expected one of 'accept', 'reject', got 'drop'",
    ),
    (
        "vlan on a reject",
        _set(["results", "deny", "vlan"], "10"),
        "results.deny.vlan",
        "unknown key",
    ),
    (
        "invalid regex",
        _set([*AZ, 0, "condition"], {"attr": "user.name", "op": "matches", "value": "a(b"}),
        "policy_sets[0].authorization[0].condition.value",
        "invalid regular expression 'a(b'",
    ),
    (
        "bad CIDR",
        _set(
            [*AZ, 0, "condition"],
            {"attr": "nas.ip", "op": "ip_in_cidr", "value": ["10.0.0.0/8", "10.0.0.0/33"]},
        ),
        "policy_sets[0].authorization[0].condition.value[1]",
        "not a CIDR network: '10.0.0.0/33'",
    ),
    (
        "bad MAC",
        _set([*AZ, 0, "condition"], {"attr": "endpoint.mac", "op": "mac_in", "value": ["00:11"]}),
        "policy_sets[0].authorization[0].condition.value[0]",
        "not a MAC address or prefix: '00:11'",
    ),
    (
        "bad time zone",
        _set(
            [*AZ, 0, "condition"],
            {
                "attr": "time",
                "op": "time_window",
                "value": {"start": "08:00", "end": "17:00", "tz": "Mars/Olympus"},
            },
        ),
        "policy_sets[0].authorization[0].condition.value.tz",
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        "bad time",
        _set(
            [*AZ, 0, "condition"],
            {"attr": "time", "op": "time_window", "value": {"start": "8am", "end": "17:00"}},
        ),
        "policy_sets[0].authorization[0].condition.value.start",
        "expected a time as HH:MM, got '8am'",
    ),
    (
        "bad day",
        _set(
            [*AZ, 0, "condition"],
            {
                "attr": "time",
                "op": "time_window",
                "value": {"days": ["mon", "funday"], "start": "08:00", "end": "17:00"},
            },
        ),
        "policy_sets[0].authorization[0].condition.value.days[1]",
        "unknown day 'funday'",
    ),
    (
        "operator that does not fit the attribute",
        _set([*AZ, 0, "condition"], {"attr": "user.groups", "op": "mac_in", "value": ["00:11:22"]}),
        "policy_sets[0].authorization[0].condition.op",
        "operator 'mac_in' does not apply to user.groups",
    ),
    (
        "two kinds in one node",
        _set([*AZ, 0, "condition"], {"all": [LEAF], "any": [LEAF]}),
        "policy_sets[0].authorization[0].condition",
        "expected exactly one of 'all', 'any', 'not' or a leaf with 'attr'",
    ),
    (
        "empty all",
        _set([*AZ, 0, "condition"], {"all": []}),
        "policy_sets[0].authorization[0].condition.all",
        "must not be empty",
    ),
    (
        "missing value",
        _set([*AZ, 0, "condition"], {"attr": "ssid", "op": "equals"}),
        "policy_sets[0].authorization[0].condition.value",
        "required",
    ),
    (
        "in with a string",
        _set([*AZ, 0, "condition"], {"attr": "ssid", "op": "in", "value": "corp"}),
        "policy_sets[0].authorization[0].condition.value",
        "expected a list of strings, got a string",
    ),
    (
        "typo in a leaf key",
        _set(
            [*AZ, 0, "condition"],
            {"attr": "ssid", "op": "equals", "value": "x", "case_insensitve": True},
        ),
        "policy_sets[0].authorization[0].condition.case_insensitve",
        "unknown key (did you mean 'case_insensitive'?)",
    ),
    (
        "posture state typo",
        _set(
            [*AZ, 0, "condition"], {"attr": "posture.state", "op": "equals", "value": "compliant!"}
        ),
        "policy_sets[0].authorization[0].condition.value",
        "'compliant!' is not one of compliant, non_compliant, unknown",
    ),
    (
        "bad rule state",
        _set([*AZ, 0, "state"], "paused"),
        "policy_sets[0].authorization[0].state",
        "expected one of 'enabled', 'disabled', 'monitor', got 'paused'",
    ),
    (
        "bad if_not_found",
        _set([*AN, 0, "if_not_found"], "drop"),
        "policy_sets[0].authentication[0].if_not_found",
        "expected one of 'reject', 'continue', got 'drop'",
    ),
    (
        "no identity source",
        _delete([*AN, 0, "identity_source"]),
        "policy_sets[0].authentication[0].identity_source",
        "required",
    ),
    (
        "no policy sets",
        _delete(["policy_sets"]),
        "policy_sets",
        "required",
    ),
    (
        "rule name with a slash",
        _set([*AZ, 0, "name"], "a/b"),
        "policy_sets[0].authorization[0].name",
        "invalid name 'a/b'",
    ),
    (
        "typo in a rule key",
        _set([*AZ, 0, "reslut"], "deny"),
        "policy_sets[0].authorization[0].reslut",
        "unknown key",
    ),
    (
        "custom attribute without a value",
        _set(["results", "employees-vlan100", "custom"], [{"attribute": "Filter-Id"}]),
        "results.employees-vlan100.custom[0].value",
        "required",
    ),
    (
        "redirect that is not a URL",
        _set(["results", "employees-vlan100", "redirect_url"], "portal"),
        "results.employees-vlan100.redirect_url",
        "expected an http(s) URL",
    ),
    (
        "condition on a password attribute",
        _set([*AZ, 0, "condition"], {"attr": "radius.User-Password", "op": "exists"}),
        "policy_sets[0].authorization[0].condition.attr",
        "User-Password carries credentials and cannot be used in conditions",
    ),
    (
        "authentication list empty",
        _set([*AN], []),
        "policy_sets[0].authentication",
        "needs at least one rule",
    ),
]


@pytest.mark.parametrize(("edit", "path", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_documents_name_the_exact_field(edit: Edit, path: str, message: str):
    err = error_of(edit)
    assert err.path == path
    assert err.message.startswith(message), err.message
    assert str(err) == f"{path}: {err.message}"


def test_document_that_is_not_an_object():
    with pytest.raises(PolicyError):
        compile_policy([])  # type: ignore[arg-type]


def test_deep_nesting_is_a_policy_error_not_a_recursion_error():
    cond: dict[str, Any] = LEAF
    for _ in range(200):
        cond = {"not": cond}
    err = error_of(_set([*AZ, 0, "condition"], cond))
    assert err.path.startswith("policy_sets[0].authorization[0].condition.not.not")
    assert "deeper than 32" in err.message
