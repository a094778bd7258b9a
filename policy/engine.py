"""`evaluate(snapshot, ctx, resolver) -> Decision`: the whole policy decision, pure and synchronous.

0. An endpoint blocked by an admin is rejected (12060) before any policy set or rule.
1. The first enabled policy set whose condition matches is used (monitor sets are counted and
   passed over); none: reject 12001.
2. Its first enabled authentication rule that matches names the identity source; the resolver
   checks the credentials. Not found / failed / error: the rule's ``if_not_found`` / ``if_failed``
   / ``if_error`` says reject (with the resolver's code and words) or continue without identity.
3. Its authorization rules in order: the first enabled match applies its result; monitor matches
   are recorded and passed over; disabled rules are skipped. No match: the default result.

`evaluate_device_admin(snapshot, ctx, identity, command=...)` decides a TACACS+ authorization
request (RFC 8907 6) with the same policy sets and authorization rules: the user authenticated in
an earlier session, so the caller supplies the identity and step 2 is skipped. An accepting result
must carry a shell profile; a command is then checked against the result's command set.

The engine keeps no state. Trace words are rendered when someone reads them, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Final, TypeVar

from policy.commands import authorize_command, normalize_command
from policy.conditions import AllOf, AnyOf, Condition, Leaf, Not
from policy.model import (
    REASON_WORDS,
    AccessContext,
    AuthnResult,
    AuthnStatus,
    AuthorizationProfile,
    CommandVerdict,
    Decision,
    Identity,
    IdentityResolver,
    Outcome,
    ReasonCode,
    Stage,
    TraceStep,
)
from policy.rules import (
    AuthenticationRule,
    AuthorizationRule,
    FailAction,
    PolicySet,
    PolicySnapshot,
    RuleState,
)

__all__ = ["evaluate", "evaluate_device_admin", "uses_time"]

_Ruled = TypeVar("_Ruled", PolicySet, AuthorizationRule)

_ENABLED: Final = RuleState.ENABLED
_DISABLED: Final = RuleState.DISABLED
_MONITOR: Final = RuleState.MONITOR
_ACCEPT: Final = Outcome.ACCEPT
_REJECT: Final = Outcome.REJECT
_OK: Final = AuthnStatus.OK
_POLICY_SET: Final = Stage.POLICY_SET.value
_AUTHENTICATION: Final = Stage.AUTHENTICATION.value
_IDENTITY: Final = Stage.IDENTITY.value
_AUTHORIZATION: Final = Stage.AUTHORIZATION.value
_RESULT: Final = Stage.RESULT.value
_COMMAND: Final = Stage.COMMAND.value
_ENDPOINT: Final = Stage.ENDPOINT.value
_BLOCKED: Final = "blocked by an admin: rejected before any rule"
# Conditions whose answer moves with the clock: ``time`` and ``posture.grace`` (it expires).
_CLOCK_ATTRIBUTES: Final = frozenset({"time", "posture.grace"})
_ALWAYS: Final = "no condition: always matches"
_SKIPPED: Final = "disabled: skipped"


def _words(condition: Condition, ctx: AccessContext, identity: Identity | None) -> partial[str]:
    return partial(condition.explain, ctx, identity)


def evaluate(
    snapshot: PolicySnapshot,
    ctx: AccessContext,
    resolver: IdentityResolver,
    *,
    trace: bool = True,
) -> Decision:
    """Decide one access request. Never raises for a snapshot and a resolver that keep the rules.

    ``trace=False`` builds no trace (the request path): the decision is the same, and the
    audit reader replays it with its trace from the recorded context and identity answer
    (``Decision.authn``), so nobody pays for words that nobody reads.
    """
    steps: list[TraceStep] | None = [] if trace else None
    hits: list[str] = []
    why: str | Callable[[], str]

    endpoint = ctx.endpoint
    if endpoint is not None and endpoint.blocked:
        if steps is not None:
            steps.append(TraceStep(_ENDPOINT, endpoint.mac, True, _BLOCKED))
        return _reject(ReasonCode.ENDPOINT_BLOCKED, None, None, None, None, None, steps, hits)

    # 1. policy set
    chosen: PolicySet | None = None
    for ps in snapshot.policy_sets:
        state = ps.state
        if state is _DISABLED:
            if steps is not None:
                steps.append(TraceStep(_POLICY_SET, ps.name, False, _SKIPPED))
            continue
        cond = ps.condition
        matched = True if cond is None else cond.test(ctx, None)
        if steps is not None:
            why = _ALWAYS if cond is None else _words(cond, ctx, None)
            steps.append(TraceStep(_POLICY_SET, ps.name, matched, why, state is _MONITOR))
        if matched:
            hits.append(ps.key)
            if state is _ENABLED:
                chosen = ps
                break
    if chosen is None:
        return _reject(ReasonCode.NO_POLICY_SET_MATCHED, None, None, None, None, None, steps, hits)

    # 2. authentication
    authn: AuthenticationRule | None = None
    for rule in chosen.authentication:
        state = rule.state
        if state is _DISABLED:
            if steps is not None:
                steps.append(TraceStep(_AUTHENTICATION, rule.name, False, _SKIPPED))
            continue
        cond = rule.condition
        matched = True if cond is None else cond.test(ctx, None)
        if steps is not None:
            why = _ALWAYS if cond is None else _words(cond, ctx, None)
            steps.append(TraceStep(_AUTHENTICATION, rule.name, matched, why, state is _MONITOR))
        if matched:
            hits.append(rule.key)
            if state is _ENABLED:
                authn = rule
                break
    if authn is None:
        code = ReasonCode.NO_AUTHENTICATION_RULE_MATCHED
        return _reject(code, chosen.name, None, None, None, None, steps, hits)

    result = resolver.authenticate(authn.identity_source, ctx)
    identity = result.identity
    if result.status is _OK:
        if steps is not None:
            why = partial(_ok_words, result)
            steps.append(TraceStep(_IDENTITY, authn.identity_source, True, why))
    else:
        action = _action(authn, result.status)
        if steps is not None:
            why = partial(_fail_words, result, action)
            steps.append(TraceStep(_IDENTITY, authn.identity_source, False, why))
        if action is FailAction.REJECT:
            code = result.reason_code
            reason = result.reason or REASON_WORDS.get(code, code.name.lower())
            return _reject(
                code, chosen.name, authn.name, None, identity, result, steps, hits, reason
            )
        identity = None

    # 3. authorization
    for az in chosen.authorization:
        state = az.state
        if state is _DISABLED:
            if steps is not None:
                steps.append(TraceStep(_AUTHORIZATION, az.name, False, _SKIPPED))
            continue
        cond = az.condition
        matched = True if cond is None else cond.test(ctx, identity)
        if steps is not None:
            why = _ALWAYS if cond is None else _words(cond, ctx, identity)
            steps.append(TraceStep(_AUTHORIZATION, az.name, matched, why, state is _MONITOR))
        if state is _MONITOR:
            if matched:
                hits.append(az.key)
            continue
        if matched:
            hits.append(az.key)
            profile = az.profile
            if profile.decision is _ACCEPT:
                reason = f"accepted by rule {az.name}"
                code = ReasonCode.AUTHENTICATION_SUCCEEDED
            else:
                reason = f"denied by rule {az.name}"
                code = ReasonCode.DENIED_BY_RULE
            return _decide(
                profile, code, reason, chosen.name, authn.name, az.name, result, steps, hits
            )

    profile = chosen.default_profile
    if profile.decision is _ACCEPT:
        reason = f"no rule matched; accepted by default result {profile.name}"
        code = ReasonCode.AUTHENTICATION_SUCCEEDED
    else:
        code = ReasonCode.NO_AUTHORIZATION_RULE_MATCHED
        reason = REASON_WORDS[code]
    return _decide(profile, code, reason, chosen.name, authn.name, None, result, steps, hits)


def evaluate_device_admin(
    snapshot: PolicySnapshot,
    ctx: AccessContext,
    identity: Identity | None,
    *,
    command: str | None = None,
    trace: bool = True,
) -> Decision:
    """Decide a TACACS+ authorization request for `identity`, authenticated in an earlier session
    (None: authorize without one, so rules on the user cannot match). Never raises.

    1. The policy set as `evaluate` chooses it; none: reject 12001.
    2. No authentication: the identity step records what the caller supplied.
    3. The authorization rules as `evaluate` walks them. A rejecting result rejects (12021, or
       12020 for the default); an accepting one without a shell profile rejects 12051.
    4. Without `command`: accept 5201 with the profile (its `shell_profile` and `command_set`).
       With `command` (``cmd`` and ``cmd-arg`` joined by spaces): the result's command set decides
       (`policy.commands.authorize_command`): accept 5202 or reject 12050, the verdict in
       `Decision.command`; a result without a command set rejects 12052.

    `Decision.authentication_rule` and `Decision.authn` are None; `Decision.identity` is
    `identity`, which with the context is all a replay needs.
    """
    steps: list[TraceStep] | None = [] if trace else None
    hits: list[str] = []
    endpoint = ctx.endpoint
    if endpoint is not None and endpoint.blocked:
        if steps is not None:
            steps.append(TraceStep(_ENDPOINT, endpoint.mac, True, _BLOCKED))
        code = ReasonCode.ENDPOINT_BLOCKED
        return _reject(code, None, None, None, identity, None, steps, hits)
    chosen = _first_match(snapshot.policy_sets, _POLICY_SET, ctx, None, steps, hits)
    if chosen is None:
        code = ReasonCode.NO_POLICY_SET_MATCHED
        return _reject(code, None, None, None, identity, None, steps, hits)
    if steps is not None:
        source = identity.source if identity is not None else "none"
        why = partial(_supplied_words, identity)
        steps.append(TraceStep(_IDENTITY, source, identity is not None, why))

    az = _first_match(chosen.authorization, _AUTHORIZATION, ctx, identity, steps, hits)
    if az is not None:
        profile = az.profile
        rule_name: str | None = az.name
        accepted = f"accepted by rule {az.name}"
    else:
        profile = chosen.default_profile
        rule_name = None
        accepted = f"no rule matched; accepted by default result {profile.name}"
    name = chosen.name
    if profile.decision is not _ACCEPT:
        if az is not None:
            code, reason = ReasonCode.DENIED_BY_RULE, f"denied by rule {az.name}"
        else:
            code = ReasonCode.NO_AUTHORIZATION_RULE_MATCHED
            reason = REASON_WORDS[code]
        return _admin(profile, _REJECT, code, reason, name, rule_name, identity, None, steps, hits)
    if profile.shell_profile is None:
        code = ReasonCode.NO_SHELL_PROFILE
        reason = f"no shell profile in result {profile.name}"
        return _reject(code, name, None, rule_name, identity, None, steps, hits, reason)
    if command is None:
        code = ReasonCode.DEVICE_ADMIN_AUTHORIZED
        return _admin(
            profile, _ACCEPT, code, accepted, name, rule_name, identity, None, steps, hits
        )

    command_set = profile.command_set
    if command_set is None:
        code = ReasonCode.NO_COMMAND_SET
        reason = f"no command set in result {profile.name}: {normalize_command(command)}"
        return _reject(code, name, None, rule_name, identity, None, steps, hits, reason)
    verdict = authorize_command(command_set, command)
    if steps is not None:
        why = partial(_command_words, verdict)
        steps.append(TraceStep(_COMMAND, command_set.name, verdict.permitted, why))
    if verdict.permitted:
        code = ReasonCode.COMMAND_PERMITTED
        return _admin(
            profile, _ACCEPT, code, verdict.reason, name, rule_name, identity, verdict, steps, hits
        )
    code = ReasonCode.COMMAND_DENIED
    return _reject(
        code, name, None, rule_name, identity, None, steps, hits, verdict.reason, verdict
    )


def _admin(
    profile: AuthorizationProfile,
    outcome: Outcome,
    code: ReasonCode,
    reason: str,
    policy_set: str,
    authorization_rule: str | None,
    identity: Identity | None,
    verdict: CommandVerdict | None,
    steps: list[TraceStep] | None,
    hits: list[str],
) -> Decision:
    if steps is None:
        trace: tuple[TraceStep, ...] = ()
    else:
        steps.append(TraceStep(_RESULT, profile.name, outcome is _ACCEPT, reason))
        trace = tuple(steps)
    return Decision(
        outcome,
        code,
        reason,
        policy_set,
        None,
        authorization_rule,
        profile,
        identity,
        trace,
        tuple(hits),
        None,
        verdict,
    )


def _supplied_words(identity: Identity | None) -> str:
    if identity is None:
        return "no identity supplied: authorizing without one"
    groups = ", ".join(sorted(identity.groups)) or "none"
    return f"authenticated earlier as {identity.name} from {identity.source} (groups: {groups})"


def _command_words(verdict: CommandVerdict) -> str:
    if not verdict.segments:
        return verdict.reason
    parts = []
    for seg in verdict.segments:
        by = "default" if seg.rule is None else seg.rule.describe()
        parts.append(f"{seg.command!r}: {'permit' if seg.permitted else 'deny'} by {by}")
    return "; ".join(parts)


# `evaluate` keeps this loop inline (twice): two calls cost about 0.1 us on the RADIUS request
# path. tests/policy/test_policy_device_admin.py holds both walks to the same choices.


def _first_match(
    items: Sequence[_Ruled],
    stage: str,
    ctx: AccessContext,
    identity: Identity | None,
    steps: list[TraceStep] | None,
    hits: list[str],
) -> _Ruled | None:
    """The first enabled policy set or authorization rule whose condition matches (monitor
    ones counted, passed over)."""
    for item in items:
        state = item.state
        if state is _DISABLED:
            if steps is not None:
                steps.append(TraceStep(stage, item.name, False, _SKIPPED))
            continue
        cond = item.condition
        matched = True if cond is None else cond.test(ctx, identity)
        if steps is not None:
            why = _ALWAYS if cond is None else _words(cond, ctx, identity)
            steps.append(TraceStep(stage, item.name, matched, why, state is _MONITOR))
        if matched:
            hits.append(item.key)
            if state is _ENABLED:
                return item
    return None


def _action(rule: AuthenticationRule, status: AuthnStatus) -> FailAction:
    if status is AuthnStatus.NOT_FOUND:
        return rule.if_not_found
    if status is AuthnStatus.ERROR:
        return rule.if_error
    return rule.if_failed  # failed, disabled, unsupported


def _ok_words(result: AuthnResult) -> str:
    identity = result.identity
    if identity is None:
        return f"authenticated ({int(result.reason_code)} {result.reason})"
    groups = ", ".join(sorted(identity.groups)) or "none"
    return f"authenticated as {identity.name} from {identity.source} (groups: {groups})"


def _fail_words(result: AuthnResult, action: FailAction) -> str:
    reason = result.reason or REASON_WORDS.get(result.reason_code, "")
    then = "reject" if action is FailAction.REJECT else "continue without identity"
    return f"{result.status.value}: {int(result.reason_code)} {reason}; {then}"


def _decide(
    profile: AuthorizationProfile,
    code: ReasonCode,
    reason: str,
    policy_set: str,
    authentication_rule: str,
    authorization_rule: str | None,
    authn: AuthnResult,
    steps: list[TraceStep] | None,
    hits: list[str],
) -> Decision:
    outcome = profile.decision
    identity = authn.identity if authn.status is _OK else None
    if steps is None:
        trace: tuple[TraceStep, ...] = ()
    else:
        steps.append(TraceStep(_RESULT, profile.name, outcome is _ACCEPT, reason))
        trace = tuple(steps)
    return Decision(
        outcome,
        code,
        reason,
        policy_set,
        authentication_rule,
        authorization_rule,
        profile,
        identity,
        trace,
        tuple(hits),
        authn,
    )


def _reject(
    code: ReasonCode,
    policy_set: str | None,
    authentication_rule: str | None,
    authorization_rule: str | None,
    identity: Identity | None,
    authn: AuthnResult | None,
    steps: list[TraceStep] | None,
    hits: list[str],
    reason: str | None = None,
    command: CommandVerdict | None = None,
) -> Decision:
    words = REASON_WORDS[code] if reason is None else reason
    if steps is None:
        trace: tuple[TraceStep, ...] = ()
    else:
        steps.append(TraceStep(_RESULT, "reject", False, f"{int(code)} {words}"))
        trace = tuple(steps)
    return Decision(
        _REJECT,
        code,
        words,
        policy_set,
        authentication_rule,
        authorization_rule,
        None,
        identity,
        trace,
        tuple(hits),
        authn,
        command,
    )


def uses_time(snapshot: PolicySnapshot, *, endpoints: bool = True) -> bool:
    """True when some condition reads the clock (``time``, or ``posture.grace``, which expires):
    only then can the same request get a different decision under the same snapshot (callers
    may memoize otherwise). ``endpoints=False``: the caller's requests never carry an endpoint
    (TACACS+), so ``posture.grace`` cannot move with the clock for them."""
    clock = _CLOCK_ATTRIBUTES if endpoints else frozenset({"time"})

    def walk(cond: Condition | None) -> bool:
        if cond is None:
            return False
        if isinstance(cond, Leaf):
            return cond.attr in clock
        if isinstance(cond, AllOf | AnyOf):
            return any(walk(c) for c in cond.children)
        if isinstance(cond, Not):
            return walk(cond.child)
        return True  # a kind this walk does not know: assume the worst

    for ps in snapshot.policy_sets:
        conditions = [ps.condition]
        conditions += [r.condition for r in ps.authentication]
        conditions += [r.condition for r in ps.authorization]
        if any(walk(c) for c in conditions):
            return True
    return False
