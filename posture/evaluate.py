"""`evaluate(facts, requirements, now, previous_score) -> PostureResult`.

Each check is run on the reported facts (`posture.checks.run_check`): passed, failed, unknown
(the fact was not reported) or skipped (its ``when`` did not hold). The state: non-compliant
when a check of weight above 0 failed, else unknown when one's fact was unknown, else
compliant. The risk score follows Portnox's published rule (docs.portnox.com, "How is the risk
score calculated"): a failed check scores its weight, an unknown one a third of it, the
evaluation scores the highest of them, and the previous score is blended in as
``new = 0.95 * calculated + 0.05 * previous``, rounded to a whole number 0-100.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from posture.checks import run_check
from posture.model import (
    CheckOutcome,
    FailedCheck,
    PostureRequirements,
    PostureResult,
    PostureState,
)

__all__ = ["SMOOTHING", "evaluate", "smooth"]

SMOOTHING: Final = 0.05  # the previous score's share of the new one


def smooth(calculated: float, previous: int | None) -> int:
    """The new score from the calculated one and the previous score (None: no history)."""
    value = calculated if previous is None else (1 - SMOOTHING) * calculated + SMOOTHING * previous
    return max(0, min(100, int(value + 0.5)))  # round half up


def evaluate(
    facts: Mapping[str, object],
    requirements: PostureRequirements,
    now: datetime,
    previous_score: int | None = None,
) -> PostureResult:
    """Evaluate reported `facts` against `requirements` at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("evaluate: now must be timezone-aware")
    results = tuple(run_check(check, facts, now) for check in requirements.checks)
    failed: list[FailedCheck] = []
    unknown: list[FailedCheck] = []
    risk = 0.0
    for r in results:
        if r.outcome is CheckOutcome.FAILED:
            failed.append(FailedCheck(r.check.id, r.check.fact, r.check.weight, r.words))
        elif r.outcome is CheckOutcome.UNKNOWN:
            unknown.append(FailedCheck(r.check.id, r.check.fact, r.check.weight, r.words))
        risk = max(risk, r.risk)
    if any(f.weight > 0 for f in failed):
        state = PostureState.NON_COMPLIANT
    elif unknown:
        state = PostureState.UNKNOWN
    else:
        state = PostureState.COMPLIANT
    return PostureResult(
        state=state,
        score=smooth(risk, previous_score),
        raw_score=smooth(risk, None),
        failed=tuple(failed),
        unknown=tuple(unknown),
        results=results,
    )
