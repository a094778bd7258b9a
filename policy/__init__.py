"""The policy engine: pure, synchronous; typed context in, Decision with its reasons out.

`compile_policy(document)` once per policy change (PolicyError on mistakes), then
`evaluate(snapshot, ctx, resolver)` per request: no I/O, no clock, no state. TACACS+ device
administration: `evaluate_device_admin(snapshot, ctx, identity, command=...)` for authorization
requests of a user authenticated earlier, `authorize_command(command_set, line)` for one command.
"""

from policy.commands import authorize_command, normalize_command
from policy.compile import compile_policy
from policy.engine import evaluate, evaluate_device_admin
from policy.errors import PolicyError
from policy.mac import normalize_mac
from policy.model import (
    REASON_WORDS,
    AccessContext,
    AuthnResult,
    AuthnStatus,
    AuthorizationProfile,
    CommandAction,
    CommandRule,
    CommandSet,
    CommandVerdict,
    Decision,
    EndpointInfo,
    Identity,
    IdentityResolver,
    NasInfo,
    Outcome,
    ReasonCode,
    SegmentVerdict,
    ShellAttribute,
    ShellProfile,
    TraceStep,
)
from policy.rules import PolicySnapshot

__all__ = [
    "REASON_WORDS",
    "AccessContext",
    "AuthnResult",
    "AuthnStatus",
    "AuthorizationProfile",
    "CommandAction",
    "CommandRule",
    "CommandSet",
    "CommandVerdict",
    "Decision",
    "EndpointInfo",
    "Identity",
    "IdentityResolver",
    "NasInfo",
    "Outcome",
    "PolicyError",
    "PolicySnapshot",
    "ReasonCode",
    "SegmentVerdict",
    "ShellAttribute",
    "ShellProfile",
    "TraceStep",
    "authorize_command",
    "compile_policy",
    "evaluate",
    "evaluate_device_admin",
    "normalize_command",
    "normalize_mac",
]
