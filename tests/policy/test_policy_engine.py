"""evaluate() on the demo policy and variations of it, with an in-memory resolver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policy_helpers import DirectoryResolver, mab_ctx, make_ctx

from policy import Outcome, PolicySnapshot, ReasonCode, evaluate
from policy.model import Stage

Build = Callable[[Callable[[dict[str, Any]], None]], PolicySnapshot]


def authz(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = doc["policy_sets"][0]["authorization"]
    return rules


def test_employee_is_accepted_into_vlan_100(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, make_ctx(), resolver)
    assert d.outcome is Outcome.ACCEPT
    assert d.reason_code == ReasonCode.AUTHENTICATION_SUCCEEDED == 5200
    assert d.reason == "accepted by rule employees"
    assert d.profile is not None and d.profile.name == "employees-vlan100"
    assert d.profile.vlan == "100" and d.profile.session_timeout is None
    assert (d.policy_set, d.authentication_rule, d.authorization_rule) == (
        "default",
        "local-users",
        "employees",
    )
    assert d.identity is not None and d.identity.name == "alice"
    assert d.matched_rules == ("default", "default/authn/local-users", "default/authz/employees")
    assert resolver.calls == ["internal_users"]


def test_trace_tells_the_whole_story(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, make_ctx(), resolver)
    assert [(s.stage, s.name, s.matched) for s in d.trace] == [
        ("policy_set", "default", True),
        ("authentication", "mab", False),
        ("authentication", "local-users", True),
        ("identity", "internal_users", True),
        ("authorization", "employees", True),
        ("result", "employees-vlan100", True),
    ]
    assert d.trace[1].detail == "auth.method equals 'mab': no (auth.method: pap)"
    assert d.trace_lines() == [
        "policy_set default: match - protocol equals 'radius': yes (protocol: radius)",
        "authentication mab: no match - auth.method equals 'mab': no (auth.method: pap)",
        "authentication local-users: match - no condition: always matches",
        "identity internal_users: match - authenticated as alice from internal_users"
        " (groups: employees)",
        "authorization employees: match - user.groups contains 'employees': yes"
        " (user.groups: employees)",
        "result employees-vlan100: accept - accepted by rule employees",
        "decision: accept (5200 accepted by rule employees)",
    ]


def test_contractor_gets_vlan_200_and_a_session_timeout(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    d = evaluate(demo, make_ctx(username="carol", credentials="carol-pw"), resolver)
    assert d.outcome is Outcome.ACCEPT and d.authorization_rule == "contractors"
    assert d.profile is not None
    assert (d.profile.vlan, d.profile.session_timeout) == ("200", 3600)
    assert d.trace[4].detail == ("user.groups contains 'employees': no (user.groups: contractors)")


def test_mab_printer_gets_vlan_300(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, mab_ctx("00:11:22:33:44:55", profile="printer"), resolver)
    assert d.outcome is Outcome.ACCEPT
    assert (d.authentication_rule, d.authorization_rule) == ("mab", "known-printers")
    assert d.profile is not None and d.profile.vlan == "300"
    assert resolver.calls == ["endpoints"]


def test_mab_known_non_printer_falls_to_the_default_deny(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    d = evaluate(demo, mab_ctx("00:11:22:33:44:66", profile="camera"), resolver)
    assert d.outcome is Outcome.REJECT
    assert d.reason_code == ReasonCode.NO_AUTHORIZATION_RULE_MATCHED == 12020
    assert d.reason == "no rule matched"
    assert d.authorization_rule is None
    assert d.profile is not None and d.profile.name == "deny"
    assert "endpoint.profile equals 'printer': no (endpoint.profile: camera)" in (
        d.trace[-2].detail
    )


def test_unknown_mac_is_rejected_12012(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, mab_ctx("00:99:99:99:99:99", known=False), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12012, "unknown MAC")
    assert d.authentication_rule == "mab" and d.authorization_rule is None
    assert d.profile is None and d.identity is None
    assert d.trace[-2].stage == Stage.IDENTITY and not d.trace[-2].matched
    assert d.trace[-2].detail == "not_found: 12012 unknown MAC; reject"


def test_wrong_password_is_rejected_12011(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, make_ctx(credentials="guess"), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12011, "wrong password")
    assert d.trace_lines()[-1] == "decision: reject (12011 wrong password)"


def test_unknown_user_is_rejected_12010(demo: PolicySnapshot, resolver: DirectoryResolver):
    d = evaluate(demo, make_ctx(username="mallory"), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12010, "unknown user")


def test_disabled_user_uses_default_words_when_resolver_gives_none(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    d = evaluate(demo, make_ctx(username="dave", credentials="dave-pw"), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12013, "user disabled")


def test_authenticated_user_in_no_group_gets_no_rule_matched(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    d = evaluate(demo, make_ctx(username="gina", credentials="gina-pw"), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12020, "no rule matched")
    assert d.identity is not None and d.identity.name == "gina"
    assert d.matched_rules == ("default", "default/authn/local-users")


def test_monitor_rule_is_counted_but_not_applied(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        authz(doc).insert(
            0,
            {
                "name": "try-quarantine",
                "state": "monitor",
                "condition": {"attr": "nas.group", "op": "equals", "value": "switches"},
                "result": "deny",
            },
        )

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert d.outcome is Outcome.ACCEPT and d.authorization_rule == "employees"
    assert "default/authz/try-quarantine" in d.matched_rules
    step = next(s for s in d.trace if s.name == "try-quarantine")
    assert step.matched and step.monitor
    assert "[monitor: not applied]" in step.line()


def test_monitor_rule_that_does_not_match_is_not_counted(
    compile_with: Build, resolver: DirectoryResolver
):
    def edit(doc: dict[str, Any]) -> None:
        authz(doc).insert(
            0,
            {
                "name": "watch",
                "state": "monitor",
                "condition": {"attr": "nas.group", "op": "equals", "value": "routers"},
                "result": "deny",
            },
        )

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert "default/authz/watch" not in d.matched_rules
    assert any(s.name == "watch" and not s.matched and s.monitor for s in d.trace)


def test_disabled_rule_is_skipped_and_says_so(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        authz(doc)[0]["state"] = "disabled"

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert d.outcome is Outcome.REJECT and d.reason_code == 12020
    step = next(s for s in d.trace if s.name == "employees")
    assert (step.matched, step.detail) == (False, "disabled: skipped")
    assert "default/authz/employees" not in d.matched_rules


def test_reject_result_denies_by_rule(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        authz(doc)[0]["result"] = "deny"

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (
        Outcome.REJECT,
        ReasonCode.DENIED_BY_RULE,
        "denied by rule employees",
    )
    assert d.authorization_rule == "employees"


def test_continue_on_not_found_authorizes_without_identity(
    compile_with: Build, resolver: DirectoryResolver
):
    def edit(doc: dict[str, Any]) -> None:
        doc["results"]["guest"] = {"decision": "accept", "vlan": "guest", "session_timeout": 600}
        doc["policy_sets"][0]["authentication"][0]["if_not_found"] = "continue"
        authz(doc).append(
            {
                "name": "unknown-devices",
                "condition": {"attr": "endpoint.known", "op": "equals", "value": False},
                "result": "guest",
            }
        )

    d = evaluate(compile_with(edit), mab_ctx("00:99:99:99:99:99", known=False), resolver)
    assert d.outcome is Outcome.ACCEPT and d.authorization_rule == "unknown-devices"
    assert d.identity is None
    assert d.profile is not None and d.profile.vlan == "guest"
    identity_step = next(s for s in d.trace if s.stage == "identity")
    assert identity_step.detail == "not_found: 12012 unknown MAC; continue without identity"


def test_continue_on_failure_does_not_grant_the_claimed_identity(
    compile_with: Build, resolver: DirectoryResolver
):
    def edit(doc: dict[str, Any]) -> None:
        doc["policy_sets"][0]["authentication"][1]["if_failed"] = "continue"

    # alice with a wrong password must not be treated as a member of employees
    d = evaluate(compile_with(edit), make_ctx(credentials="guess"), resolver)
    assert (d.outcome, d.reason_code) == (Outcome.REJECT, 12020)
    assert d.identity is None


def test_identity_source_error_follows_if_error(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        doc["policy_sets"][0]["authentication"][1]["identity_source"] = "ldap"

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert (d.outcome, d.reason_code) == (Outcome.REJECT, ReasonCode.UNKNOWN_IDENTITY_SOURCE)
    assert d.reason == "unknown identity source ldap"


def test_policy_set_is_chosen_by_its_condition(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        doc["results"]["wifi-guest"] = {"decision": "accept", "vlan": "900"}
        doc["policy_sets"].insert(
            0,
            {
                "name": "wireless",
                "condition": {"attr": "nas_port_type", "op": "equals", "value": "Wireless-802.11"},
                "authentication": [{"name": "all", "identity_source": "internal_users"}],
                "authorization": [{"name": "everyone", "result": "wifi-guest"}],
                "default_result": "deny",
            },
        )

    snap = compile_with(edit)
    wired = evaluate(snap, make_ctx(nas_port_type="Ethernet"), resolver)
    wifi = evaluate(snap, make_ctx(nas_port_type="Wireless-802.11"), resolver)
    assert (wired.policy_set, wired.profile and wired.profile.vlan) == ("default", "100")
    assert (wifi.policy_set, wifi.profile and wifi.profile.vlan) == ("wireless", "900")
    assert wifi.matched_rules == ("wireless", "wireless/authn/all", "wireless/authz/everyone")
    assert not wired.trace[0].matched and wired.trace[0].name == "wireless"


def test_no_policy_set_matched(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        doc["policy_sets"][0]["condition"] = {"attr": "protocol", "op": "equals", "value": "tacacs"}

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12001, "no policy set matched")
    assert d.policy_set is None and resolver.calls == []


def test_monitor_and_disabled_policy_sets_are_passed_over(
    compile_with: Build, resolver: DirectoryResolver
):
    def edit(doc: dict[str, Any]) -> None:
        first = dict(doc["policy_sets"][0], name="trial", state="monitor")
        second = dict(doc["policy_sets"][0], name="old", state="disabled")
        doc["policy_sets"][:0] = [first, second]

    d = evaluate(compile_with(edit), make_ctx(), resolver)
    assert d.policy_set == "default"
    assert d.matched_rules[:2] == ("trial", "default")
    assert [(s.name, s.matched, s.monitor) for s in d.trace[:3]] == [
        ("trial", True, True),
        ("old", False, False),
        ("default", True, False),
    ]


def test_no_authentication_rule_matched(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        doc["policy_sets"][0]["authentication"][1]["condition"] = {
            "attr": "auth.method",
            "op": "in",
            "value": ["pap", "chap"],
        }

    d = evaluate(compile_with(edit), make_ctx(auth_method="eap-tls"), resolver)
    assert (d.outcome, d.reason_code) == (Outcome.REJECT, 12002)
    assert d.reason == "no authentication rule matched"
    assert d.authentication_rule is None and resolver.calls == []


def test_default_result_that_accepts(compile_with: Build, resolver: DirectoryResolver):
    def edit(doc: dict[str, Any]) -> None:
        doc["policy_sets"][0]["default_result"] = "printers-vlan300"

    d = evaluate(compile_with(edit), make_ctx(username="gina", credentials="gina-pw"), resolver)
    assert (d.outcome, d.reason_code) == (Outcome.ACCEPT, 5200)
    assert d.reason == "no rule matched; accepted by default result printers-vlan300"


def test_evaluation_does_not_depend_on_earlier_calls(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    ctx = make_ctx()
    first = evaluate(demo, ctx, resolver)
    evaluate(demo, make_ctx(username="carol", credentials="carol-pw"), resolver)
    again = evaluate(demo, ctx, resolver)
    assert first == again
