"""crud for console admins and API tokens, and the live log's keyset page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nac.core.errors import AlreadyExistsError, NotFoundError
from nac.core.passwords import verify_password
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import AdminCreate, AdminUpdate, ApiTokenCreate
from nac.db.records import AuditRecordIn


async def test_admins_and_tokens(database: Database) -> None:
    async with database.session() as s:
        admin = await crud.create_admin(
            s, admin=AdminCreate(name="ops", role="operator", password="ops-pass-1")
        )
        assert admin.password_hash.startswith("$argon2id$") and "ops-pass-1" not in repr(admin)
        with pytest.raises(AlreadyExistsError):
            await crud.create_admin(
                s, admin=AdminCreate(name="ops", role="auditor", password="other-pass")
            )
        with pytest.raises(ValueError, match="cannot create a token with role admin"):
            await crud.create_api_token(
                s, admin_name="ops", token=ApiTokenCreate(name="t", role="admin")
            )
        info, secret = await crud.create_api_token(
            s, admin_name="ops", token=ApiTokenCreate(name="t", role="auditor")
        )
        found = await crud.find_api_token(s, token=secret)
        assert found is not None and found[1].name == "ops" and found[0].token_hash != secret
        assert await crud.find_api_token(s, token=secret + "x") is None
        assert (await crud.revoke_api_token(s, token_id=info.id)).revoked
        with pytest.raises(NotFoundError):
            await crud.revoke_api_token(s, token_id=999)
        await crud.update_admin(s, name="ops", update=AdminUpdate(password="new-pass-12"))
        assert verify_password((await crud.get_admin(s, name="ops")).password_hash, "new-pass-12")
        assert await crud.count_admins(s) == 1


async def test_page_audit_keyset_and_time_range(database: Database) -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    records = [
        AuditRecordIn(ts=t0 + timedelta(seconds=i), protocol="radius", result="accept")
        for i in range(10)
    ]
    async with database.session() as s:
        await crud.add_audit_records(s, records=records)
        page = await crud.page_audit(s, limit=4)
        assert [r.id for r in page] == [10, 9, 8, 7]
        assert [r.id for r in await crud.page_audit(s, limit=4, before=7)] == [6, 5, 4, 3]
        window = await crud.page_audit(
            s, since=t0 + timedelta(seconds=2), until=t0 + timedelta(seconds=5)
        )
        assert [r.id for r in window] == [5, 4, 3]  # until is exclusive
        with pytest.raises(NotFoundError):
            await crud.get_audit(s, id=99)
