"""The one error family of `policy`: a policy document that cannot be compiled."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PolicyError", "type_name"]


class PolicyError(ValueError):
    """A policy document is wrong at `path` (e.g. ``policy_sets[0].authorization[2].condition.op``).

    Raised only by compilation; a compiled snapshot never raises while evaluating.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def type_name(value: object) -> str:
    """How a wrong value is named in an error message ("a string", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
