"""Posture types shared with the policy engine. Pure; the posture issue fills in the rest."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PostureState"]


class PostureState(StrEnum):
    UNKNOWN = "unknown"
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
