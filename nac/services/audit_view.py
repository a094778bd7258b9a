"""Audit records for readers outside the protocol layer (the web console): a renderer built
with the shipped RADIUS dictionary, and rows rendered with their replayed trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nac.db.models import AuditLog
from nac.services.audit import AuditRenderer, load_policies
from radius.dictionary import default_dictionary


def audit_renderer() -> AuditRenderer:
    """A renderer for stored audit rows (keep one: it caches the compiled policy versions)."""
    return AuditRenderer(default_dictionary())


async def render_audit(
    renderer: AuditRenderer, session: AsyncSession, rows: Sequence[AuditLog]
) -> list[dict[str, Any]]:
    """Each row as `AuditRenderer.render` gives it: attributes in words (secrets masked) and
    the trace replayed against the policy version that decided it."""
    await load_policies(renderer, session, rows)
    return [renderer.render(row) for row in rows]
