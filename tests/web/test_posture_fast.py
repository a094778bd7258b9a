"""The posture report's one-transaction hot path: the order of refusals (the sender is
authenticated before the body is judged) and the token's last_used stamped at most once a
minute (posture_service.TOUCH_EVERY)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from nac.db.engine import Database
from nac.db.models import PostureReport, PostureToken
from nac.services import posture_service

from .conftest import Login
from .test_posture_api import GOOD, MAC, enroll, post


async def test_a_bad_token_is_401_whatever_the_body(
    login: Login, anon: httpx.AsyncClient, database: Database
) -> None:
    token = await enroll(await login("root"))
    not_json = await post(anon, "nacp_nope", None, raw=b"{facts")
    assert not_json.status_code == 401
    assert not_json.headers["www-authenticate"].startswith("Bearer")
    too_big = b"x" * (64 * 1024 + 1)
    assert (await post(anon, "nacp_nope", None, raw=too_big)).status_code == 401
    assert (await post(anon, token, None, raw=too_big)).status_code == 413
    async with database.session() as session:
        assert (await session.execute(select(PostureReport))).first() is None
        row = (await session.execute(select(PostureToken))).scalar_one()
    assert row.last_used is None  # refused reports leave no trace


async def test_last_used_is_stamped_at_most_once_a_minute(
    login: Login, anon: httpx.AsyncClient, database: Database
) -> None:
    token = await enroll(await login("root"))
    assert (await post(anon, token, {"mac": MAC, "facts": GOOD})).status_code == 201
    async with database.session() as session:
        first = (await session.execute(select(PostureToken))).scalar_one().last_used
    assert first is not None
    second = await post(anon, token, {"mac": MAC, "facts": GOOD})
    assert second.status_code == 201
    async with database.session() as session:
        assert (await session.execute(select(PostureToken))).scalar_one().last_used == first
        assert len((await session.execute(select(PostureReport))).all()) == 2  # both kept
        old = first - posture_service.TOUCH_EVERY - timedelta(seconds=1)
        await session.execute(update(PostureToken).values(last_used=old))
        await session.commit()
    assert (await post(anon, token, {"mac": MAC, "facts": GOOD})).status_code == 201
    async with database.session() as session:
        again = (await session.execute(select(PostureToken))).scalar_one().last_used
    assert again is not None and again > first
