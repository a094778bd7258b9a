"""Profiling rules in the database: the built-in seed (``profile_rules.json``) and keyword-only
crud. Rules are runtime data for the profiler (it reloads them every few seconds), not part
of the configuration snapshot, so they do not bump the configuration version."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.db.models import ProfileRule
from posture.profiling import RuleError, compile_rule

__all__ = [
    "ENABLED_RULES_SQL",
    "RULE_FIELDS",
    "add_profile_rule",
    "builtin_rules",
    "delete_profile_rule",
    "list_profile_rules",
    "seed_profile_rules",
]


@cache
def _builtin_json() -> str:
    return resources.files("nac.db").joinpath("profile_rules.json").read_text("utf-8")


def builtin_rules() -> list[dict[str, Any]]:
    """The built-in rule set (a fresh copy), each checked."""
    rules: list[dict[str, Any]] = json.loads(_builtin_json())["rules"]
    for rule in rules:
        compile_rule(
            **{k: rule[k] for k in ("name", "signal", "match", "pattern", "profile")},
            weight=int(rule["weight"]),
        )
    return rules


async def seed_profile_rules(session: AsyncSession) -> int:
    """Insert the built-in rules that are missing (by name), builtin=True, in one transaction.
    A built-in rule an admin deleted stays disabled (delete keeps built-ins as disabled rows),
    so re-seeding never brings it back. Returns how many were added."""
    rules = builtin_rules()
    try:
        have = set((await session.execute(select(col(ProfileRule.name)))).scalars())
        added = 0
        for rule in rules:
            if rule["name"] in have:
                continue
            session.add(ProfileRule(**rule, builtin=True, enabled=True))
            added += 1
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return added


RULE_FIELDS = ("name", "signal", "match", "pattern", "profile", "weight")
# list_profile_rules(enabled_only=True) as one plain statement, in its order, for readers that
# bypass the ORM (nac.db.engine.StateProbe.rows)
ENABLED_RULES_SQL = (
    f"SELECT {', '.join(RULE_FIELDS)} FROM profile_rules "  # noqa: S608 - constants
    "WHERE enabled ORDER BY profile, name"
)


async def list_profile_rules(
    session: AsyncSession, *, enabled_only: bool = False
) -> list[ProfileRule]:
    stmt = select(ProfileRule).order_by(col(ProfileRule.profile), col(ProfileRule.name))
    if enabled_only:
        stmt = stmt.where(col(ProfileRule.enabled).is_(True))
    return list((await session.execute(stmt)).scalars())


async def add_profile_rule(
    session: AsyncSession,
    *,
    name: str,
    signal: str,
    match: str,
    pattern: str,
    profile: str,
    weight: int,
) -> ProfileRule:
    """Add an admin rule (checked: RuleError names the field at fault)."""
    checked = compile_rule(
        name=name, signal=signal, match=match, pattern=pattern, profile=profile, weight=weight
    )
    if len(checked.name) > 128 or len(pattern) > 512 or len(checked.profile) > 64:
        raise RuleError("name, pattern or profile too long (128, 512, 64 characters)")
    try:
        existing = (
            (
                await session.execute(
                    select(ProfileRule).where(col(ProfileRule.name) == checked.name)
                )
            )
            .scalars()
            .first()
        )
        if existing is not None:
            raise AlreadyExistsError(f"profile rule {checked.name} already exists")
        row = ProfileRule(
            name=checked.name,
            signal=checked.signal,
            match=checked.match,
            pattern=checked.pattern,
            profile=checked.profile,
            weight=checked.weight,
            builtin=False,
            enabled=True,
        )
        session.add(row)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return row


async def delete_profile_rule(session: AsyncSession, *, name: str) -> ProfileRule:
    """Delete an admin rule; a built-in one is disabled instead (so the seed does not bring it
    back). Returns the row as it was left (a deleted row is detached)."""
    try:
        row = (
            (await session.execute(select(ProfileRule).where(col(ProfileRule.name) == name)))
            .scalars()
            .first()
        )
        if row is None:
            raise NotFoundError(f"profile rule {name} does not exist")
        if row.builtin:
            row.enabled = False
        else:
            await session.delete(row)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return row
