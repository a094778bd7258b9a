"""The policy engine: pure, synchronous; typed context in, Decision with its reasons out.

`compile_policy(document)` once per policy change (PolicyError on mistakes), then
`evaluate(snapshot, ctx, resolver)` per request: no I/O, no clock, no state.
"""

from policy.compile import compile_policy
from policy.engine import evaluate
from policy.errors import PolicyError
from policy.mac import normalize_mac
from policy.model import (
    REASON_WORDS,
    AccessContext,
    AuthnResult,
    AuthnStatus,
    AuthorizationProfile,
    Decision,
    EndpointInfo,
    Identity,
    IdentityResolver,
    NasInfo,
    Outcome,
    ReasonCode,
    TraceStep,
)
from policy.rules import PolicySnapshot

__all__ = [
    "REASON_WORDS",
    "AccessContext",
    "AuthnResult",
    "AuthnStatus",
    "AuthorizationProfile",
    "Decision",
    "EndpointInfo",
    "Identity",
    "IdentityResolver",
    "NasInfo",
    "Outcome",
    "PolicyError",
    "PolicySnapshot",
    "ReasonCode",
    "TraceStep",
    "compile_policy",
    "evaluate",
    "normalize_mac",
]
