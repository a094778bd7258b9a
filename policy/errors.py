"""The one error family of `policy`: a policy document that cannot be compiled."""

from __future__ import annotations

__all__ = ["PolicyError"]


class PolicyError(ValueError):
    """A policy document is wrong at `path` (e.g. ``policy_sets[0].authorization[2].condition.op``).

    Raised only by compilation; a compiled snapshot never raises while evaluating.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
