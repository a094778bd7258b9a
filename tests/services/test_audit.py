"""nac.services.audit: items from the real request path are stored without secrets and read
back with a replayed trace that is the trace the live decision would have had."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

import nac.services.radius_service as radius_service
from nac.services.audit import (
    STORED_COLUMNS,
    AuditRenderer,
    redact,
    redact_packet,
    stored_row,
)
from nac.services.radius_service import RadiusService
from nac.services.snapshot import build_snapshot
from policy.engine import evaluate
from radius.constants import AttrType
from radius.crypto import hide_password
from radius.packet import encode_packet, encode_vsa, pull_attributes
from radius.server import RadiusServer

from .support import (
    AUTH,
    DICTIONARY,
    NAS_ADDR,
    PRINTER_MAC,
    SECRET,
    WALL,
    FakeStore,
    Recorder,
    access_request,
    config,
)

A = AttrType


class Live:
    """The service with the policy engine watched: every live (untraced) evaluation is
    repeated with its trace, so the replay can be compared with what really happened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = FakeStore(build_snapshot(config()))
        self.audit = Recorder()
        self.service = RadiusService(
            store=self.store,  # type: ignore[arg-type]
            audit=self.audit,  # type: ignore[arg-type]
            accounting=Recorder(),  # type: ignore[arg-type]
            dictionary=DICTIONARY,
            node="n1",
            token_bytes=lambda n: bytes(n),
            wall_clock=lambda: WALL,
        )
        self.server = RadiusServer(self.service.lookup_client)
        self.traces: list[list[str]] = []
        real = radius_service.evaluate

        def watched(policy: Any, ctx: Any, resolver: Any, *, trace: bool = True) -> Any:
            self.traces.append(evaluate(policy, ctx, resolver, trace=True).trace_lines())
            return real(policy, ctx, resolver, trace=trace)

        monkeypatch.setattr(radius_service, "evaluate", watched)
        self.port = 30000

    def decide(self, attrs: list[tuple[int, bytes]]) -> tuple[Any, ...]:
        self.port += 1
        event = self.server.receive_datagram(access_request(attrs), (NAS_ADDR[0], self.port), 1.0)
        assert self.service.handle_auth(event) is not None  # type: ignore[arg-type]
        return self.audit.items[-1]


def as_row(values: tuple[Any, ...]) -> SimpleNamespace:
    columns = dict(zip(STORED_COLUMNS, values, strict=True))
    return SimpleNamespace(id=7, request=None, reply=None, trace=None, **columns)


def pap(user: str, password: str) -> list[tuple[int, bytes]]:
    return [
        (A.UserName, user.encode()),
        (A.UserPassword, hide_password(password.encode(), SECRET, AUTH)),
    ]


MAB = [
    (A.UserName, PRINTER_MAC.replace(":", "").encode()),
    (A.CallingStationId, PRINTER_MAC.encode()),
    (A.ServiceType, (10).to_bytes(4, "big")),
]


@pytest.mark.parametrize(
    "attrs",
    [pap("alice", "alice-pass"), pap("alice", "nope"), pap("mallory", "x"), MAB],
    ids=["accept", "wrong-password", "unknown-user", "mab-printer"],
)
def test_replayed_trace_is_the_live_trace(
    monkeypatch: pytest.MonkeyPatch, attrs: list[tuple[int, bytes]]
) -> None:
    live = Live(monkeypatch)
    item = live.decide(attrs)
    renderer = AuditRenderer(DICTIONARY, lambda version: live.store.current.policy)
    for sqlite in (True, False):
        rendered = renderer.render(as_row(stored_row(item, sqlite=sqlite)))
        assert rendered["trace"] == live.traces[-1]
        assert not any("replay differs" in line for line in rendered["trace"])


def test_a_replay_that_disagrees_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Live(monkeypatch)
    row = as_row(stored_row(live.decide(pap("alice", "alice-pass")), sqlite=True))
    row.result, row.reason_code = "reject", 12011  # not what the policy gives for this context
    trace = AuditRenderer(DICTIONARY, lambda v: live.store.current.policy).trace(row)
    assert "replay differs from the stored decision (accept 5200)" in trace[-1]


def test_a_policy_version_that_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Live(monkeypatch)
    row = as_row(stored_row(live.decide(pap("alice", "alice-pass")), sqlite=True))
    renderer = AuditRenderer(DICTIONARY)
    assert renderer.versions_needed([row]) == {1}
    renderer.add_policy(1, None)
    assert renderer.versions_needed([row]) == set()
    assert renderer.trace(row) == [
        "trace not available: policy version 1 is not stored",
        "decision: accept (5200 accepted by rule employees)",
    ]


def test_unreadable_context_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Live(monkeypatch)
    row = as_row(stored_row(live.decide(pap("alice", "alice-pass")), sqlite=True))
    row.context = "[1.0, 2"
    assert AuditRenderer(DICTIONARY).trace(row)[0].startswith("trace not available")


def test_context_json_is_the_same_memoized_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Live(monkeypatch)
    item = live.decide(pap("alice", "alice-pass"))
    memo: dict[Any, str] = {}
    plain = stored_row(item, sqlite=True)
    assert stored_row(item, sqlite=True, contexts=memo) == plain
    assert stored_row(item, sqlite=True, contexts=memo) == plain  # from the memo
    assert len(memo) == 1
    context = json.loads(plain[-1])
    assert context[0] == WALL and context[1] == 1  # time, policy version


def test_redact_removes_every_secret_value() -> None:
    secret_values = {
        A.UserPassword: b"P" * 16,
        A.ChapPassword: b"C" * 17,
        A.TunnelPassword: b"T" * 19,
        A.MessageAuthenticator: b"M" * 16,
    }
    ms_chap2 = encode_vsa(311, 25, b"R" * 50)
    eap = bytes((2, 5, 0, 40, 4)) + b"E" * 35  # an EAP-MD5 response: header kept only
    attrs = [*secret_values.items(), (A.VendorSpecific, ms_chap2), (A.EapMessage, eap)]
    attrs.append((A.UserName, b"alice"))
    out = redact([(int(t), v) for t, v in attrs])
    for value in (*secret_values.values(), b"R" * 50, b"E" * 35):
        assert value not in out
    kept = pull_attributes(out, 0, len(out))
    assert [t for t, _ in kept] == [int(t) for t, _ in attrs]
    assert kept[-1] == (A.UserName, b"alice")
    assert kept[-2] == (A.EapMessage, eap[:5])
    names = dict(AuditRenderer(DICTIONARY).request(SimpleNamespace(request_raw=out)))
    assert names["User-Password"] == names["MS-CHAP2-Response"] == "<hidden>"


def test_redact_packet_matches_redact() -> None:
    attrs = [
        (int(A.UserName), b"alice"),
        (int(A.UserPassword), b"P" * 16),
        (int(A.VendorSpecific), encode_vsa(311, 11, b"C" * 16)),  # MS-CHAP-Challenge
        (int(A.VendorSpecific), encode_vsa(9, 1, b"cisco-avpair=x")),
        (int(A.EapMessage), bytes((2, 5, 0, 40, 4)) + b"E" * 35),
        (int(A.MessageAuthenticator), b"M" * 16),
        (int(A.NasIpAddress), b"\x7f\x00\x00\x01"),
    ]
    packet = encode_packet(1, 1, AUTH, attrs)
    assert redact_packet(packet) == redact(attrs)
    assert redact_packet(encode_packet(1, 1, AUTH, [])) == b""
