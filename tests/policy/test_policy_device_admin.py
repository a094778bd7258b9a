"""TACACS+ device administration with the demo policy: evaluate_device_admin() and the
conditions device-admin rules use (protocol, groups, device, service, time of day)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import DirectoryResolver, demo_document, make_ctx, person, tacacs_ctx

from policy import (
    REASON_WORDS,
    AuthnResult,
    AuthnStatus,
    Identity,
    Outcome,
    PolicySnapshot,
    ReasonCode,
    compile_policy,
    evaluate,
    evaluate_device_admin,
)
from policy.model import AccessContext, NasInfo, Stage

Build = Callable[[Callable[[dict[str, Any]], None]], PolicySnapshot]
ADMIN = person("admin", "netadmins")
OPS = person("ops", "netops")
ALICE = person("alice", "employees")
HEAD = [
    "policy_set default: no match - protocol equals 'radius': no (protocol: tacacs)",
    "policy_set device-admin: match - protocol equals 'tacacs': yes (protocol: tacacs)",
]


def device_admin(doc: dict[str, Any]) -> dict[str, Any]:
    ps: dict[str, Any] = doc["policy_sets"][1]
    return ps


def test_reason_codes_are_stable_and_all_have_words():
    assert ReasonCode.DEVICE_ADMIN_AUTHORIZED == 5201
    assert ReasonCode.COMMAND_PERMITTED == 5202
    assert ReasonCode.COMMAND_DENIED == 12050
    assert ReasonCode.NO_SHELL_PROFILE == 12051
    assert ReasonCode.NO_COMMAND_SET == 12052
    assert ReasonCode.AUTHENTICATION_SUCCEEDED == 5200 and ReasonCode.EAP_FAILED == 12041
    assert set(REASON_WORDS) == set(ReasonCode)


# --- the demo: admin and ops ------------------------------------------------------------------


def test_admin_gets_a_priv_15_shell_with_every_command(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(username="admin"), ADMIN)
    assert (d.outcome, d.reason_code, d.reason) == (
        Outcome.ACCEPT,
        ReasonCode.DEVICE_ADMIN_AUTHORIZED,
        "accepted by rule netadmins",
    )
    assert (d.policy_set, d.authentication_rule, d.authorization_rule) == (
        "device-admin",
        None,
        "netadmins",
    )
    assert d.profile is not None and d.profile.name == "netadmins-shell"
    assert d.profile.shell_profile is not None and d.profile.shell_profile.priv_lvl == 15
    assert [a.argument() for a in d.profile.shell_profile.arguments()] == ["priv-lvl=15"]
    assert d.profile.command_set is not None and d.profile.command_set.name == "permit-all"
    assert d.identity is ADMIN and d.authn is None and d.command is None
    assert d.matched_rules == ("device-admin", "device-admin/authz/netadmins")
    assert d.trace_lines() == [
        *HEAD,
        "identity internal_users: match - authenticated earlier as admin from internal_users"
        " (groups: netadmins)",
        "authorization netadmins: match - user.groups contains 'netadmins': yes"
        " (user.groups: netadmins)",
        "result netadmins-shell: accept - accepted by rule netadmins",
        "decision: accept (5201 accepted by rule netadmins)",
    ]


@pytest.mark.parametrize("command", ["configure terminal", "reload", "write erase <cr>"])
def test_admin_commands_are_all_permitted(demo: PolicySnapshot, command: str):
    d = evaluate_device_admin(demo, tacacs_ctx(username="admin"), ADMIN, command=command)
    shown = command.removesuffix(" <cr>")
    assert (d.outcome, d.reason_code) == (Outcome.ACCEPT, ReasonCode.COMMAND_PERMITTED)
    assert d.reason == f"command permitted by command set permit-all: {shown}"
    assert d.command is not None and d.command.permitted and d.command.command == shown


def test_ops_gets_a_priv_1_shell_with_the_netops_command_set(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(), OPS)
    assert d.outcome is Outcome.ACCEPT and d.authorization_rule == "netops"
    assert d.profile is not None and d.profile.shell_profile is not None
    assert d.profile.shell_profile.priv_lvl == 1
    assert d.profile.command_set is not None and d.profile.command_set.name == "netops"


def test_ops_may_show(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(), OPS, command="show running-config <cr>")
    assert (d.outcome, d.reason_code) == (Outcome.ACCEPT, ReasonCode.COMMAND_PERMITTED)
    assert d.reason == (
        "command permitted by command set netops rule 1 (show .*): show running-config"
    )
    assert d.profile is not None and d.profile.name == "netops-shell"
    assert d.trace_lines()[-3:] == [
        "command netops: permit - 'show running-config': permit by rule 1 (show .*)",
        "result netops-shell: accept - command permitted by command set netops rule 1 (show .*):"
        " show running-config",
        "decision: accept (5202 command permitted by command set netops rule 1 (show .*):"
        " show running-config)",
    ]


def test_ops_may_not_configure(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(), OPS, command="configure terminal")
    assert (d.outcome, d.reason_code) == (Outcome.REJECT, ReasonCode.COMMAND_DENIED)
    assert d.reason == (
        "command denied by command set netops rule 3 (configure .*): configure terminal"
    )
    assert d.profile is None and d.authorization_rule == "netops" and d.identity is OPS
    assert d.command is not None and not d.command.permitted
    assert d.command.rule is not None and d.command.rule.number == 3
    assert d.trace_lines() == [
        *HEAD,
        "identity internal_users: match - authenticated earlier as ops from internal_users"
        " (groups: netops)",
        "authorization netadmins: no match - user.groups contains 'netadmins': no"
        " (user.groups: netops)",
        "authorization netops: match - user.groups contains 'netops': yes (user.groups: netops)",
        "command netops: deny - 'configure terminal': deny by rule 3 (configure .*)",
        "result reject: reject - 12050 command denied by command set netops rule 3"
        " (configure .*): configure terminal",
        "decision: reject (12050 command denied by command set netops rule 3 (configure .*):"
        " configure terminal)",
    ]


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("reload", "command denied by command set netops rule 4 (reload): reload"),
        ("reload in 5", "command denied by command set netops: reload in 5"),
        ("ping 192.0.2.1", None),
        (
            "show run | include x",
            "command denied by command set netops: include x (in show run | include x)",
        ),
    ],
)
def test_ops_commands(demo: PolicySnapshot, command: str, reason: str | None):
    d = evaluate_device_admin(demo, tacacs_ctx(), OPS, command=command)
    if reason is None:
        assert d.outcome is Outcome.ACCEPT
    else:
        assert (d.outcome, d.reason) == (Outcome.REJECT, reason)
        pipeline = "|" in command
        assert d.trace[-2].stage == Stage.COMMAND and not d.trace[-2].matched
        assert ("'include x': deny by default" in d.trace[-2].detail) is pipeline


def test_an_employee_is_no_device_admin(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(username="alice"), ALICE, command="show version")
    assert (d.outcome, d.reason_code, d.reason) == (Outcome.REJECT, 12020, "no rule matched")
    assert d.policy_set == "device-admin" and d.command is None
    assert d.profile is not None and d.profile.name == "deny"


def test_without_an_identity_no_group_rule_matches(demo: PolicySnapshot):
    d = evaluate_device_admin(demo, tacacs_ctx(), None)
    assert (d.outcome, d.reason_code) == (Outcome.REJECT, 12020)
    assert (
        d.trace[2].line()
        == "identity none: no match - no identity supplied: authorizing without one"
    )


def test_trace_off_decides_the_same(demo: PolicySnapshot):
    for who, command in (
        (ADMIN, None),
        (OPS, "configure terminal"),
        (OPS, "show x"),
        (ALICE, None),
    ):
        a = evaluate_device_admin(demo, tacacs_ctx(), who, command=command)
        b = evaluate_device_admin(demo, tacacs_ctx(), who, command=command, trace=False)
        assert b.trace == ()
        assert (a.outcome, a.reason_code, a.reason, a.profile, a.command, a.matched_rules) == (
            b.outcome,
            b.reason_code,
            b.reason,
            b.profile,
            b.command,
            b.matched_rules,
        )


# --- RADIUS and TACACS+ keep to their own policy sets ----------------------------------------


def test_radius_requests_never_reach_the_device_admin_set(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    d = evaluate(demo, make_ctx(username="admin", credentials="admin-pw"), resolver)
    assert (d.outcome, d.reason_code, d.policy_set) == (Outcome.REJECT, 12020, "default")
    assert d.profile is not None and d.profile.name == "deny"
    d = evaluate(demo, make_ctx(), resolver)
    assert (d.outcome, d.policy_set, d.authorization_rule) == (
        Outcome.ACCEPT,
        "default",
        "employees",
    )
    assert d.profile is not None and d.profile.shell_profile is None
    d = evaluate_device_admin(demo, make_ctx(), ADMIN)  # a RADIUS context: no device admin
    assert d.policy_set == "default" and d.outcome is Outcome.REJECT
    assert d.reason_code == ReasonCode.NO_AUTHORIZATION_RULE_MATCHED


def test_tacacs_login_authenticates_through_the_device_admin_set(
    demo: PolicySnapshot, resolver: DirectoryResolver
):
    ctx = tacacs_ctx(username="admin", credentials="admin-pw", auth_method="pap")
    d = evaluate(demo, ctx, resolver)
    assert (d.outcome, d.policy_set, d.authentication_rule, d.authorization_rule) == (
        Outcome.ACCEPT,
        "device-admin",
        "local-users",
        "netadmins",
    )
    assert d.profile is not None and d.profile.shell_profile is not None
    ctx = tacacs_ctx(username="alice", credentials="alice-pw")
    d = evaluate(demo, ctx, resolver)  # an employee: not a device administrator
    assert (d.outcome, d.policy_set, d.reason_code) == (Outcome.REJECT, "device-admin", 12020)


# --- results that do not grant a shell ---------------------------------------------------------


def test_an_accept_without_a_shell_profile_is_refused_12051(compile_with: Build):
    def edit(doc: dict[str, Any]) -> None:
        device_admin(doc)["authorization"][1]["result"] = "employees-vlan100"

    snap = compile_with(edit)
    d = evaluate_device_admin(snap, tacacs_ctx(), OPS, command="show version")
    assert (d.outcome, d.reason_code, d.reason) == (
        Outcome.REJECT,
        ReasonCode.NO_SHELL_PROFILE,
        "no shell profile in result employees-vlan100",
    )
    assert d.authorization_rule == "netops" and d.profile is None
    assert (
        d.trace_lines()[-1]
        == "decision: reject (12051 no shell profile in result employees-vlan100)"
    )


def test_a_command_without_a_command_set_is_refused_12052(compile_with: Build):
    def edit(doc: dict[str, Any]) -> None:
        del doc["results"]["netops-shell"]["command_set"]

    snap = compile_with(edit)
    assert evaluate_device_admin(snap, tacacs_ctx(), OPS).outcome is Outcome.ACCEPT
    d = evaluate_device_admin(snap, tacacs_ctx(), OPS, command="show  version")
    assert (d.outcome, d.reason_code, d.reason) == (
        Outcome.REJECT,
        ReasonCode.NO_COMMAND_SET,
        "no command set in result netops-shell: show version",
    )


def test_default_results_and_denying_rules(compile_with: Build):
    def edit(doc: dict[str, Any]) -> None:
        ps = device_admin(doc)
        ps["default_result"] = "netops-shell"
        ps["authorization"].insert(
            0,
            {
                "name": "no-contractors",
                "condition": {"attr": "user.groups", "op": "contains", "value": "contractors"},
                "result": "deny",
            },
        )

    snap = compile_with(edit)
    d = evaluate_device_admin(snap, tacacs_ctx(), ALICE)
    assert d.outcome is Outcome.ACCEPT and d.authorization_rule is None
    assert d.reason == "no rule matched; accepted by default result netops-shell"
    d = evaluate_device_admin(snap, tacacs_ctx(), person("bob", "contractors"))
    assert (d.outcome, d.reason_code, d.reason) == (
        Outcome.REJECT,
        12021,
        "denied by rule no-contractors",
    )


def test_no_policy_set_for_the_request(compile_with: Build):
    snap = compile_with(lambda doc: doc["policy_sets"].pop())
    d = evaluate_device_admin(snap, tacacs_ctx(), ADMIN, command="show version")
    assert (d.outcome, d.reason_code, d.policy_set) == (Outcome.REJECT, 12001, None)
    assert d.identity is ADMIN


# --- conditions for device-admin rules ------------------------------------------------------


def rule(condition: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The netops rule with `condition` added to its group test."""

    def edit(doc: dict[str, Any]) -> None:
        netops = device_admin(doc)["authorization"][1]
        netops["condition"] = {"all": [netops["condition"], condition]}

    return edit


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)  # 3 March 2025 is a Monday


OFFICE = {
    "attr": "time",
    "op": "time_window",
    "value": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"},
}


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (at(4, 8), True),  # Tuesday 08:00, the first minute
        (at(4, 17, 59), True),
        (at(4, 18), False),  # the window is half-open
        (at(4, 7, 59), False),
        (at(8, 12), False),  # Saturday
        (at(9, 12), False),  # Sunday
    ],
)
def test_ops_only_in_office_hours_utc(compile_with: Build, now: datetime, allowed: bool):
    snap = compile_with(rule(OFFICE))
    d = evaluate_device_admin(snap, tacacs_ctx(now=now), OPS)
    assert (d.outcome is Outcome.ACCEPT) is allowed
    assert d.authorization_rule == ("netops" if allowed else None)


def test_office_hours_words_and_time_zones(compile_with: Build):
    snap = compile_with(rule(OFFICE))
    d = evaluate_device_admin(snap, tacacs_ctx(now=at(4, 19, 5)), OPS)
    assert d.trace[-2].detail == (
        "all of [user.groups contains 'netops': yes (user.groups: netops);"
        " time within mon,tue,wed,thu,fri 08:00-18:00 UTC: no (time: tue 19:05 UTC)]: no"
    )
    berlin = {**OFFICE, "value": {**OFFICE["value"], "tz": "Europe/Berlin"}}
    snap = compile_with(rule(berlin))
    assert evaluate_device_admin(snap, tacacs_ctx(now=at(4, 16, 59)), OPS).outcome is Outcome.ACCEPT
    assert evaluate_device_admin(snap, tacacs_ctx(now=at(4, 17)), OPS).outcome is Outcome.REJECT


def test_weekends_only(compile_with: Build):
    weekend = {
        "attr": "time",
        "op": "time_window",
        "value": {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"},
    }
    snap = compile_with(rule(weekend))
    assert evaluate_device_admin(snap, tacacs_ctx(now=at(8, 0)), OPS).outcome is Outcome.ACCEPT
    assert evaluate_device_admin(snap, tacacs_ctx(now=at(9, 23, 59)), OPS).outcome is Outcome.ACCEPT
    assert evaluate_device_admin(snap, tacacs_ctx(now=at(10, 0)), OPS).outcome is Outcome.REJECT


@pytest.mark.parametrize(
    ("condition", "ctx", "matched", "words"),
    [
        (
            {"attr": "tacacs.service", "op": "equals", "value": "shell"},
            tacacs_ctx(tacacs_service="ppp"),
            False,
            "tacacs.service equals 'shell': no (tacacs.service: ppp)",
        ),
        (
            {"attr": "tacacs.service", "op": "in", "value": ["shell", "exec"]},
            tacacs_ctx(),
            True,
            "tacacs.service in ['shell', 'exec']: yes (tacacs.service: shell)",
        ),
        (
            {"attr": "tacacs.service", "op": "exists"},
            tacacs_ctx(tacacs_service=None),
            False,
            "tacacs.service exists: no (tacacs.service: absent)",
        ),
        (
            {"attr": "nas.group", "op": "equals", "value": "switches"},
            tacacs_ctx(),
            True,
            "nas.group equals 'switches': yes (nas.group: switches)",
        ),
        (
            {"attr": "nas.location", "op": "equals", "value": "branch"},
            tacacs_ctx(),
            False,
            "nas.location equals 'branch': no (nas.location: hq)",
        ),
        (
            {"attr": "nas.name", "op": "starts_with", "value": "core-"},
            tacacs_ctx(nas=NasInfo("core-1", "10.0.0.1")),
            True,
            "nas.name starts_with 'core-': yes (nas.name: core-1)",
        ),
        (
            {"attr": "user.name", "op": "equals", "value": "ops"},
            tacacs_ctx(),
            True,
            "user.name equals 'ops': yes (user.name: ops)",
        ),
        (
            {"attr": "auth.method", "op": "in", "value": ["pap", "chap"]},
            tacacs_ctx(),
            False,
            "auth.method in ['pap', 'chap']: no (auth.method: ascii)",
        ),
    ],
)
def test_device_admin_conditions(
    compile_with: Build,
    condition: dict[str, Any],
    ctx: AccessContext,
    matched: bool,
    words: str,
):
    snap = compile_with(rule(condition))
    d = evaluate_device_admin(snap, ctx, OPS)
    assert (d.authorization_rule == "netops") is matched
    step = next(s for s in d.trace if s.name == "netops")
    assert step.matched is matched
    assert step.detail == (
        "all of [user.groups contains 'netops': yes (user.groups: netops);"
        f" {words}]: {'yes' if matched else 'no'}"
    )


# --- properties -------------------------------------------------------------------------------

GROUPS = st.frozensets(st.sampled_from(["netadmins", "netops", "employees", "contractors"]))
DEMO = compile_policy(demo_document())


class _Answer:
    def __init__(self, identity: Identity) -> None:
        self.result = AuthnResult(
            AuthnStatus.OK, ReasonCode.AUTHENTICATION_SUCCEEDED, "ok", identity
        )

    def authenticate(self, source: str, ctx: AccessContext) -> AuthnResult:
        return self.result


@given(GROUPS, st.sampled_from(["radius", "tacacs"]))
def test_device_admin_chooses_the_sets_and_rules_evaluate_chooses(
    groups: frozenset[str], protocol: str
):
    who = Identity("someone", "internal_users", groups, {})
    ctx = make_ctx(protocol=protocol, username="someone")
    a = evaluate(DEMO, ctx, _Answer(who))
    b = evaluate_device_admin(DEMO, ctx, who)
    assert (a.policy_set, a.authorization_rule) == (b.policy_set, b.authorization_rule)
    assert [k for k in a.matched_rules if "/authn/" not in k] == list(b.matched_rules)
    a_steps = [s.line() for s in a.trace if s.stage in (Stage.POLICY_SET, Stage.AUTHORIZATION)]
    b_steps = [s.line() for s in b.trace if s.stage in (Stage.POLICY_SET, Stage.AUTHORIZATION)]
    assert a_steps == b_steps


@given(GROUPS, st.text(max_size=40))
def test_a_shell_is_granted_only_to_netadmins_and_netops(groups: frozenset[str], command: str):
    who = Identity("someone", "internal_users", groups, {})
    d = evaluate_device_admin(DEMO, tacacs_ctx(), who, command=command)
    if "netadmins" in groups:
        assert d.outcome is Outcome.ACCEPT and d.authorization_rule == "netadmins"
    elif "netops" in groups:
        assert d.command is not None and d.authorization_rule == "netops"
        assert (d.outcome is Outcome.ACCEPT) is d.command.permitted
    else:
        assert d.outcome is Outcome.REJECT and d.reason_code == 12020 and d.command is None


def test_uses_time_finds_clock_conditions_at_any_depth() -> None:
    from nac.db.defaults import demo_policy
    from policy.compile import compile_policy
    from policy.engine import uses_time

    sources = {"internal_users", "endpoints"}
    doc = demo_policy()
    # posture.grace expires: time-dependent, but not for requests without endpoints (TACACS+)
    assert uses_time(compile_policy(doc, identity_sources=sources)) is True
    assert uses_time(compile_policy(doc, identity_sources=sources), endpoints=False) is False
    rule = doc["policy_sets"][1]["authorization"][1]
    rule["condition"] = {
        "all": [
            rule["condition"],
            {
                "not": {
                    "attr": "time",
                    "op": "time_window",
                    "value": {"start": "00:00", "end": "06:00"},
                }
            },
        ]
    }
    assert uses_time(compile_policy(doc, identity_sources=sources), endpoints=False) is True
