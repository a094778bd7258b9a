"""Property tests: compile or PolicyError, nothing else; compiled conditions never raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import demo_document, make_ctx

from policy import EndpointInfo, Identity, NasInfo, PolicyError, compile_policy, normalize_mac
from policy.conditions import ATTRIBUTES, OPERATORS, Condition, compile_condition
from policy.model import AccessContext

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
attr_names = st.sampled_from(
    [a for a in ATTRIBUTES if "<" not in a] + ["radius.NAS-Port-Type", "radius.", "bogus"]
)
plausible_values = st.one_of(
    json_values,
    st.sampled_from(
        ["pap", "mab", "employees", "00:11:22", "10.0.0.0/8", "::/0", "a.*", "(", "[z-a]"]
    ),
    st.lists(
        st.sampled_from(["00-11-22-33-44-55", "0011.2233", "fe80::/10", "x", "radius"]), max_size=3
    ),
    st.fixed_dictionaries(
        {
            "start": st.sampled_from(["08:00", "22:00", "24:00", "7:00"]),
            "end": st.sampled_from(["06:00", "18:00", "24:00", "x"]),
        },
        optional={
            "days": st.lists(st.sampled_from(["mon", "sun", "Fri", "xyz"]), max_size=3),
            "tz": st.sampled_from(
                ["UTC", "Europe/Berlin", "Nowhere/Land", "", "../etc/passwd", "Europe"]
            ),
        },
    ),
)
leaves = st.fixed_dictionaries(
    {
        "attr": attr_names | st.text(max_size=6),
        "op": st.sampled_from([*OPERATORS, "equal"]) | json_scalars,
    },
    optional={"value": plausible_values, "case_insensitive": st.booleans() | json_scalars},
)
conditions = st.recursive(
    leaves | json_values,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=8,
)

small_text = st.text(alphabet="aAeE:.-0123456789", max_size=5)
string_values = {
    "equals": small_text,
    "not_equals": small_text,
    "contains": small_text,
    "starts_with": small_text,
    "ends_with": small_text,
    "in": st.lists(small_text, min_size=1, max_size=3),
    "matches": st.sampled_from(["a.*", "[0-9]+", "(?i)E", ".*:.*", ""]),
    "mac_in": st.lists(
        st.sampled_from(["00-11-22-33-44-55", "0011.2233", "00:11:22", "aabbccddeeff"]), min_size=1
    ),
    "ip_in_cidr": st.lists(
        st.sampled_from(["10.0.0.0/8", "::/0", "fe80::/10", "0.0.0.0/0"]), min_size=1
    ),
    "exists": st.booleans(),
}
group_ops = ["equals", "in", "contains", "matches", "starts_with", "ends_with", "exists"]


@st.composite
def valid_leaves(draw: st.DrawFn) -> dict[str, Any]:
    attr = draw(
        st.sampled_from(
            ["auth.method", "user.name", "endpoint.mac", "nas.ip", "ssid", "calling_station_id",
             "endpoint.profile", "radius.Cisco-AVPair", "user.groups", "endpoint.known", "time"]
        )
    )  # fmt: skip
    if attr == "endpoint.known":
        return {
            "attr": attr,
            "op": draw(st.sampled_from(["equals", "not_equals"])),
            "value": draw(st.booleans()),
        }
    if attr == "time":
        window = {
            "start": draw(st.sampled_from(["00:00", "08:00", "22:00"])),
            "end": draw(st.sampled_from(["06:00", "18:00", "24:00"])),
            "days": draw(st.lists(st.sampled_from(["mon", "tue", "sat", "sun"]), min_size=1)),
            "tz": draw(
                st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/St_Johns"])
            ),
        }
        return {"attr": attr, "op": "time_window", "value": window}
    ops = group_ops if attr == "user.groups" else list(string_values)
    op = draw(st.sampled_from(ops))
    leaf = {"attr": attr, "op": op, "value": draw(string_values[op])}
    if op in ("equals", "not_equals", "in", "contains", "starts_with", "ends_with", "matches"):
        leaf["case_insensitive"] = draw(st.booleans())
    return leaf


valid_conditions = st.recursive(
    valid_leaves(),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=8,
)

texts = (
    st.none()
    | st.text(max_size=20)
    | st.sampled_from(["00-11-22-33-44-55", "10.1.2.3", "2001:db8::1"])
)
contexts = st.builds(
    lambda now, method, user, mac, known, profile, ip, ssid, attrs: make_ctx(
        now=now,
        auth_method=method,
        username=user,
        mac=mac,
        endpoint=EndpointInfo(mac or "", known, profile) if known is not None else None,
        nas=NasInfo("sw", ip),
        ssid=ssid,
        calling_station_id=mac,
        attributes=attrs,
    ),
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d + timedelta(0)),
    st.sampled_from(["pap", "mab", "eap-tls"]),
    texts,
    texts,
    st.none() | st.booleans(),
    texts,
    st.text(max_size=20) | st.sampled_from(["10.1.2.3", "fe80::1"]),
    texts,
    st.dictionaries(
        st.sampled_from(["NAS-Port-Type", "Cisco-AVPair"]),
        st.lists(st.text(max_size=8), max_size=3).map(tuple),
    ),
)
identities = st.none() | st.builds(
    lambda name, groups: Identity(name, "src", frozenset(groups), {}),
    st.text(max_size=8),
    st.lists(st.sampled_from(["employees", "vpn", "Employees"]), max_size=3),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(conditions)
def test_condition_documents_compile_or_raise_policy_error(document: Any):
    try:
        compiled = compile_condition(document)
    except PolicyError as err:
        assert err.path.startswith("condition")
        return
    assert isinstance(compiled, Condition)
    assert isinstance(compiled.describe(), str)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(valid_conditions, contexts, identities)
def test_well_formed_conditions_compile_and_never_raise_when_evaluated(
    document: Any, ctx: AccessContext, identity: Identity | None
):
    compiled = compile_condition(document)
    matched = compiled.test(ctx, identity)
    assert isinstance(matched, bool)
    again, words = compiled.evaluate(ctx, identity)
    assert again is matched
    assert (
        words.endswith(": yes" if matched else ": no")
        or (": yes (" if matched else ": no (") in words
    )
    assert compile_condition({"not": document}).test(ctx, identity) is not matched


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            out += _paths(v, (*prefix, n))
    return out


DEMO_PATHS = _paths(demo_document())[1:]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DEMO_PATHS), json_values | conditions)
def test_mutated_documents_compile_or_raise_policy_error(path: tuple[Any, ...], replacement: Any):
    doc: Any = demo_document()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    try:
        compile_policy(doc)
    except PolicyError as err:
        assert isinstance(err.path, str) and err.message


@given(
    st.binary(min_size=6, max_size=6),
    st.sampled_from(["{}:{}:{}:{}:{}:{}", "{}-{}-{}-{}-{}-{}", "cisco", "bare"]),
    st.booleans(),
)
def test_normalize_mac_round_trips_every_spelling(raw: bytes, form: str, upper: bool):
    octets = [f"{b:02x}" for b in raw]
    canonical = ":".join(octets)
    h = "".join(octets)
    if form == "cisco":
        text = f"{h[0:4]}.{h[4:8]}.{h[8:12]}"
    elif form == "bare":
        text = h
    else:
        text = form.format(*octets)
    assert normalize_mac(text.upper() if upper else text) == canonical
    assert normalize_mac(canonical) == canonical
