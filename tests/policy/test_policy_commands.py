"""TACACS+ command sets: compilation (with field paths) and authorize_command()."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_helpers import demo_document

from policy import PolicyError, PolicySnapshot, compile_policy
from policy.commands import MAX_COMMAND, authorize_command, normalize_command, split_pipeline
from policy.model import CommandAction, CommandSet, ShellAttribute

Edit = Callable[[dict[str, Any]], None]


def error_of(edit: Edit) -> PolicyError:
    doc = demo_document()
    edit(doc)
    with pytest.raises(PolicyError) as info:
        compile_policy(doc)
    return info.value


def netops(doc: dict[str, Any]) -> dict[str, Any]:
    cs: dict[str, Any] = doc["command_sets"]["netops"]
    return cs


def command_set(rules: list[tuple[str, str]], **extra: Any) -> CommandSet:
    doc = demo_document()
    doc["command_sets"]["t"] = {
        "rules": [{"action": a, "pattern": p} for a, p in rules],
        **extra,
    }
    return compile_policy(doc).command_sets["t"]


# --- compiling --------------------------------------------------------------------------------


def test_demo_command_sets_and_shell_profiles_compile(demo: PolicySnapshot):
    ops = demo.command_sets["netops"]
    assert [(r.number, r.action, r.pattern) for r in ops.rules] == [
        (1, CommandAction.PERMIT, "show .*"),
        (2, CommandAction.PERMIT, "ping .*"),
        (3, CommandAction.DENY, "configure .*"),
        (4, CommandAction.DENY, "reload"),
    ]
    assert ops.default is CommandAction.DENY and not ops.case_insensitive
    everything = demo.command_sets["permit-all"]
    assert everything.rules == () and everything.default is CommandAction.PERMIT
    assert demo.shell_profiles["priv-15"].priv_lvl == 15
    assert demo.shell_profiles["priv-1"].priv_lvl == 1
    admin = demo.results["netadmins-shell"]
    assert admin.shell_profile is demo.shell_profiles["priv-15"]
    assert admin.command_set is everything
    assert demo.results["employees-vlan100"].shell_profile is None


def test_describe_lists_shell_profiles_and_command_sets(demo: PolicySnapshot):
    lines = demo.describe()
    assert "  netops-shell: accept, shell profile priv-1, command set netops" in lines
    i = lines.index("shell profiles:")
    assert lines[i + 1 : i + 3] == ["  priv-15: priv-lvl 15", "  priv-1: priv-lvl 1"]
    j = lines.index("command sets:")
    assert lines[j + 1 : j + 3] == [
        "  permit-all: default permit",
        "  netops: permit show .*; permit ping .*; deny configure .*; deny reload; default deny",
    ]


def test_a_document_without_device_admin_sections_describes_as_before():
    doc = demo_document()
    for key in ("shell_profiles", "command_sets"):
        del doc[key]
    for name in ("netadmins-shell", "netops-shell"):
        del doc["results"][name]
    doc["policy_sets"].pop()
    snap = compile_policy(doc)
    assert snap.shell_profiles == {} and snap.command_sets == {}
    lines = snap.describe()
    assert lines[-1] == "  deny: reject"
    assert "shell profiles:" not in lines and "command sets:" not in lines


def test_invalid_pattern_names_the_rule_path():
    def edit(doc: dict[str, Any]) -> None:
        netops(doc)["rules"][2]["pattern"] = "configure ("

    err = error_of(edit)
    assert err.path == "command_sets.netops.rules[2].pattern"
    assert str(err) == (
        "command_sets.netops.rules[2].pattern: invalid regular expression 'configure (':"
        " missing ), unterminated subpattern at position 10"
    )


@pytest.mark.parametrize("pattern", ["(a+)+", "show (\\S+ )*", "(x*){2,9}", "(a{1,3})*"])
def test_nested_unbounded_repetition_is_refused(pattern: str):
    def edit(doc: dict[str, Any]) -> None:
        netops(doc)["rules"][0]["pattern"] = pattern

    err = error_of(edit)
    assert err.path == "command_sets.netops.rules[0].pattern"
    assert err.message.startswith(f"nested unbounded repetition in {pattern!r}")


@pytest.mark.parametrize(
    "pattern", ["show( \\S+)*+", "(?>a+)+", "(\\d{1,3}\\.){3}\\d{1,3}", "interface (Gi|Te)\\S+"]
)
def test_safe_repetition_compiles(pattern: str):
    cs = command_set([("permit", pattern)])
    assert cs.rules[0].regex.pattern == pattern


@pytest.mark.parametrize(
    ("edit_rule", "path", "message"),
    [
        (
            lambda r: r.update(action="allow"),
            "command_sets.netops.rules[1].action",
            "expected one of 'permit', 'deny', got 'allow'",
        ),
        (lambda r: r.pop("action"), "command_sets.netops.rules[1].action", "required"),
        (lambda r: r.pop("pattern"), "command_sets.netops.rules[1].pattern", "required"),
        (
            lambda r: r.update(pattern=7),
            "command_sets.netops.rules[1].pattern",
            "expected a string, got a number",
        ),
        (
            lambda r: r.update(pattern=""),
            "command_sets.netops.rules[1].pattern",
            "must not be empty",
        ),
        (
            lambda r: r.update(pattern="x" * 257),
            "command_sets.netops.rules[1].pattern",
            "longer than 256 bytes",
        ),
        (
            lambda r: r.update(pattern="ping .* "),
            "command_sets.netops.rules[1].pattern",
            "leading or trailing blanks never match (commands are normalised)",
        ),
        (
            lambda r: r.update(regex="x"),
            "command_sets.netops.rules[1].regex",
            "unknown key (use action, description, pattern)",
        ),
    ],
)
def test_rule_mistakes_name_their_field(
    edit_rule: Callable[[dict[str, Any]], object], path: str, message: str
):
    err = error_of(lambda doc: edit_rule(netops(doc)["rules"][1]))
    assert (err.path, err.message) == (path, message)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: netops(d).update(default="allow"),
            "command_sets.netops.default",
            "expected one of 'permit', 'deny', got 'allow'",
        ),
        (
            lambda d: netops(d).update(case_insensitive="yes"),
            "command_sets.netops.case_insensitive",
            "expected true or false, got 'yes'",
        ),
        (
            lambda d: netops(d).update(rules={"a": 1}),
            "command_sets.netops.rules",
            "expected a list, got an object",
        ),
        (
            lambda d: netops(d).update(permit_all=True),
            "command_sets.netops.permit_all",
            "unknown key (use case_insensitive, default, description, rules)",
        ),
        (
            lambda d: netops(d).update(rules=[{"action": "deny", "pattern": "x"}] * 1001),
            "command_sets.netops.rules",
            "more than 1000 rules",
        ),
        (
            lambda d: d.update(command_sets=[]),
            "command_sets",
            "expected an object of named entries, got a list",
        ),
        (
            lambda d: d["command_sets"].update({"a/b": {}}),
            "command_sets.a/b",
            "invalid name 'a/b' (printable, no '/', no outer blanks)",
        ),
    ],
)
def test_command_set_mistakes_name_their_field(edit: Edit, path: str, message: str):
    err = error_of(edit)
    assert (err.path, err.message) == (path, message)


def shell(doc: dict[str, Any]) -> dict[str, Any]:
    sp: dict[str, Any] = doc["shell_profiles"]["priv-1"]
    return sp


def custom(attribute: str, value: str = "x", **extra: Any) -> list[dict[str, Any]]:
    return [{"attribute": attribute, "value": value, **extra}]


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: shell(d).update(priv_lvl=16),
            "shell_profiles.priv-1.priv_lvl",
            "expected 0..15, got 16",
        ),
        (
            lambda d: shell(d).update(priv_lvl=True),
            "shell_profiles.priv-1.priv_lvl",
            "expected a whole number, got a boolean",
        ),
        (lambda d: shell(d).pop("priv_lvl"), "shell_profiles.priv-1.priv_lvl", "required"),
        (
            lambda d: shell(d).update(idle_timeout=-1),
            "shell_profiles.priv-1.idle_timeout",
            "expected 0..4294967295 minutes, got -1",
        ),
        (
            lambda d: shell(d).update(timeout="60"),
            "shell_profiles.priv-1.timeout",
            "expected a whole number minutes, got a string",
        ),
        (
            lambda d: shell(d).update(autocmd="show\nversion"),
            "shell_profiles.priv-1.autocmd",
            "must be printable text, got 'show\\nversion'",
        ),
        (
            lambda d: shell(d).update(vlan="100"),
            "shell_profiles.priv-1.vlan",
            "unknown key (use autocmd, custom, description, idle_timeout, priv_lvl, timeout)",
        ),
        (
            lambda d: shell(d).update(custom=custom("priv-lvl", "15")),
            "shell_profiles.priv-1.custom[0].attribute",
            "'priv-lvl' is reserved: set it with priv_lvl",
        ),
        (
            lambda d: shell(d).update(custom=custom("cmd")),
            "shell_profiles.priv-1.custom[0].attribute",
            "'cmd' is reserved: it belongs to the request",
        ),
        (
            lambda d: shell(d).update(custom=custom("a=b")),
            "shell_profiles.priv-1.custom[0].attribute",
            "not an argument name: 'a=b'",
        ),
        (
            lambda d: shell(d).update(custom=custom("shell:roles", "r" * 250)),
            "shell_profiles.priv-1.custom[0]",
            "the argument shell:roles=... is longer than 255 bytes",
        ),
        (
            lambda d: shell(d).update(custom=custom("x", mandatory="no")),
            "shell_profiles.priv-1.custom[0].mandatory",
            "expected true or false, got 'no'",
        ),
    ],
)
def test_shell_profile_mistakes_name_their_field(edit: Edit, path: str, message: str):
    err = error_of(edit)
    assert (err.path, err.message) == (path, message)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: d["results"]["netops-shell"].update(shell_profile="nope"),
            "results.netops-shell.shell_profile",
            "unknown shell profile 'nope' (known: priv-15, priv-1)",
        ),
        (
            lambda d: d["results"]["netops-shell"].update(command_set="netop"),
            "results.netops-shell.command_set",
            "unknown command set 'netop' (known: permit-all, netops)",
        ),
        (
            lambda d: d["results"]["netops-shell"].pop("shell_profile"),
            "results.netops-shell.command_set",
            "needs a shell_profile too (command sets apply to shell sessions)",
        ),
        (
            lambda d: d["results"]["netops-shell"].update(shell_profile=["priv-1"]),
            "results.netops-shell.shell_profile",
            "expected a shell profile name, got a list",
        ),
        (
            lambda d: d["results"]["deny"].update(shell_profile="priv-1"),
            "results.deny.shell_profile",
            "unknown key (use decision, description, reply_message)",
        ),
        (
            lambda d: d.pop("shell_profiles"),
            "results.netadmins-shell.shell_profile",
            "unknown shell profile 'priv-15' (known: none defined)",
        ),
    ],
)
def test_result_references_are_checked(edit: Edit, path: str, message: str):
    err = error_of(edit)
    assert (err.path, err.message) == (path, message)


def test_shell_profile_arguments_in_rfc_order():
    doc = demo_document()
    doc["shell_profiles"]["full"] = {
        "priv_lvl": 7,
        "timeout": 480,
        "idle_timeout": 0,
        "autocmd": "show clock",
        "custom": [
            {"attribute": "shell:roles", "value": '"network-admin"', "mandatory": False},
            {"attribute": "noescape", "value": "true"},
        ],
    }
    p = compile_policy(doc).shell_profiles["full"]
    assert p.custom == (
        ShellAttribute("shell:roles", '"network-admin"', False),
        ShellAttribute("noescape", "true", True),
    )
    assert [a.argument() for a in p.arguments()] == [
        "priv-lvl=7",
        "timeout=480",
        "idletime=0",
        "autocmd=show clock",
        'shell:roles*"network-admin"',
        "noescape=true",
    ]
    assert p.summary() == (
        "priv-lvl 7, timeout 480 min, idle timeout 0 min, autocmd 'show clock',"
        " shell:roles*'\"network-admin\"', noescape='true'"
    )


# --- authorize_command ------------------------------------------------------------------------


def test_permitted_by_rule_reads_as_documented(demo: PolicySnapshot):
    v = authorize_command(demo.command_sets["netops"], "show running-config")
    assert v.permitted and v.command_set == "netops" and v.command == "show running-config"
    assert v.rule is not None and (v.rule.number, v.rule.pattern) == (1, "show .*")
    assert (
        v.reason == "command permitted by command set netops rule 1 (show .*): show running-config"
    )


def test_denied_by_rule_and_by_default(demo: PolicySnapshot):
    ops = demo.command_sets["netops"]
    v = authorize_command(ops, "configure terminal")
    assert not v.permitted and v.rule is not None and v.rule.number == 3
    assert v.reason == (
        "command denied by command set netops rule 3 (configure .*): configure terminal"
    )
    v = authorize_command(ops, "reload")
    assert not v.permitted and v.rule is not None and v.rule.pattern == "reload"
    assert v.reason == "command denied by command set netops rule 4 (reload): reload"
    v = authorize_command(ops, "reload in 5")  # `reload` is anchored: the default decides
    assert not v.permitted and v.rule is None
    assert v.reason == "command denied by command set netops: reload in 5"


@pytest.mark.parametrize(
    "command", ["no show x", "xshow run", "ping", "show", "shows run", "do show run"]
)
def test_patterns_are_anchored_at_both_ends(demo: PolicySnapshot, command: str):
    v = authorize_command(demo.command_sets["netops"], command)
    assert not v.permitted and v.rule is None
    assert v.reason == f"command denied by command set netops: {command}"


def test_whitespace_is_collapsed_and_a_trailing_cr_dropped(demo: PolicySnapshot):
    v = authorize_command(demo.command_sets["netops"], "  show \t  running-config   <cr> ")
    assert v.permitted and v.command == "show running-config"
    assert v.reason.endswith(": show running-config")
    assert normalize_command("show <cr> version <cr>") == "show <cr> version"
    assert normalize_command("<cr>") == ""
    assert normalize_command("show run <CR>") == "show run <CR>"


def test_each_segment_of_a_pipeline_needs_a_permit(demo: PolicySnapshot):
    ops = demo.command_sets["netops"]
    v = authorize_command(ops, "show run | include x <cr>")
    assert not v.permitted
    assert [(s.command, s.permitted) for s in v.segments] == [
        ("show run", True),
        ("include x", False),
    ]
    assert v.rule is None
    assert v.reason == "command denied by command set netops: include x (in show run | include x)"

    with_include = command_set([("permit", "show .*"), ("permit", "include .*")])
    v = authorize_command(with_include, "show run | include x")
    assert v.permitted and v.rule is not None and v.rule.number == 1
    assert v.reason == (
        "command permitted by command set t rule 1 (show .*), rule 2 (include .*):"
        " show run | include x"
    )
    v = authorize_command(ops, "configure terminal | show run")
    assert v.reason == (
        "command denied by command set netops rule 3 (configure .*): configure terminal"
        " (in configure terminal | show run)"
    )
    assert split_pipeline("show run|include x||") == ("show run", "include x", "", "")


def test_permit_all_permits_everything_by_default(demo: PolicySnapshot):
    everything = demo.command_sets["permit-all"]
    v = authorize_command(everything, "configure terminal | tee x")
    assert v.permitted and v.rule is None
    assert v.reason == "command permitted by command set permit-all: configure terminal | tee x"


def test_default_permit_with_deny_rules_and_mixed_words():
    cs = command_set([("deny", "reload.*"), ("permit", "show .*")], default="permit")
    assert not authorize_command(cs, "reload in 5").permitted
    v = authorize_command(cs, "show run | include x")
    assert v.permitted
    assert (
        v.reason
        == "command permitted by command set t rule 2 (show .*), default: show run | include x"
    )


def test_case_is_significant_unless_the_set_says_otherwise():
    strict = command_set([("permit", "show .*")])
    assert not authorize_command(strict, "SHOW run").permitted
    relaxed = command_set([("permit", "show .*")], case_insensitive=True)
    assert authorize_command(relaxed, "SHOW run").permitted


def test_empty_and_overlong_command_lines_are_denied(demo: PolicySnapshot):
    ops = demo.command_sets["netops"]
    v = authorize_command(ops, "   <cr>")
    assert not v.permitted and v.reason == "command denied by command set netops: ''"
    v = authorize_command(ops, "show " + "x" * MAX_COMMAND)
    assert not v.permitted and v.segments == ()
    assert v.reason == f"command denied by command set netops: longer than {MAX_COMMAND} characters"
    everything = demo.command_sets["permit-all"]
    assert not authorize_command(everything, "show " + "x" * MAX_COMMAND).permitted


# --- properties -------------------------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters + string.digits + "-_./:", min_size=1, max_size=8)
blanks = st.text(alphabet=" \t", min_size=1, max_size=3)
command_words = st.lists(words, min_size=1, max_size=6)
pipelines = st.lists(command_words, min_size=1, max_size=4)


def _spaced(draw: st.DrawFn, parts: list[str]) -> str:
    out = draw(st.sampled_from(["", " ", "\t "]))
    for part in parts:
        out += part + draw(blanks)
    return out


@st.composite
def messy(draw: st.DrawFn) -> tuple[list[list[str]], str]:
    """A pipeline and one way a device might have spelled it (extra blanks, a <cr>)."""
    segments = draw(pipelines)
    line = _spaced(draw, [" | ".join(" ".join(ws) for ws in segments)])
    text = line.replace(" ", draw(st.sampled_from([" ", "  ", " \t"])))
    if draw(st.booleans()):
        text += " <cr>"
    return segments, text


@given(messy())
def test_normalisation_is_blank_insensitive_and_idempotent(case: tuple[list[list[str]], str]):
    segments, text = case
    canonical = " | ".join(" ".join(ws) for ws in segments)
    assert normalize_command(text) == canonical
    assert normalize_command(canonical) == canonical
    assert split_pipeline(canonical) == tuple(" ".join(ws) for ws in segments)


NETOPS = compile_policy(demo_document()).command_sets["netops"]


@given(messy())
def test_a_pipeline_is_permitted_iff_every_segment_alone_is(case: tuple[list[list[str]], str]):
    segments, text = case
    whole = authorize_command(NETOPS, text)
    alone = [authorize_command(NETOPS, " ".join(ws)) for ws in segments]
    assert whole.permitted == all(v.permitted for v in alone)
    assert [s.permitted for s in whole.segments] == [v.permitted for v in alone]
    if not whole.permitted:
        first = next(v for v in alone if not v.permitted)
        assert whole.reason.startswith(first.reason)


@given(command_words, st.sampled_from(["show", "ping", "configure", "reload", "no", "do"]))
def test_netops_permits_exactly_show_and_ping_commands(ws: list[str], verb: str):
    command = " ".join([verb, *ws])
    assert authorize_command(NETOPS, command).permitted == (verb in ("show", "ping"))


@given(st.text(min_size=1, max_size=12).filter(lambda s: "|" not in s), st.text(max_size=12))
def test_a_literal_pattern_permits_only_itself(literal: str, other: str):
    target = normalize_command(literal)
    if not target:
        return
    rule = command_set([("permit", re.escape(target))]).rules[0]
    cs = CommandSet("lit", (rule,), CommandAction.DENY)
    assert authorize_command(cs, literal).permitted
    assert authorize_command(cs, other).permitted == (normalize_command(other) == target)
