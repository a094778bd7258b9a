"""The admin change log (auditor): every change any admin made from the console, the API or
the command line, newest first, filtered by admin and object type, paged by id (keyset); each
entry opens to its before and after, field by field and as a unified diff of the JSON."""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from nac.db import crud
from nac.db.models import AdminChange
from nac.services.changes import OBJECT_TYPES
from web.deps import ConsoleDep, CurrentAuditor, SessionDep, page
from web.routes.api import _BEARER, ERRORS
from web.schemas import Problem

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
PAGE_MAX = 500


class ChangeEntry(BaseModel):
    id: int
    ts: datetime
    admin: str  # a console/API admin, or cli:USER
    action: str
    object_type: str
    object_key: str
    comment: str
    before: Any  # JSON, secrets masked ("***"); null: the object did not exist
    after: Any  # null: the object was deleted


class ChangePage(BaseModel):
    items: list[ChangeEntry]
    next_before: int | None  # pass as ?before= for the next (older) page; None: no more


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any
    changed: bool


class ChangeDetail(ChangeEntry):
    fields: list[FieldChange]  # top-level fields side by side (objects only)
    diff: list[str]  # unified diff of the pretty-printed JSON


class ChangeQuery(BaseModel):
    admin: str | None = None
    object_type: str | None = None
    before: int | None = None
    limit: int = 100

    def params(self, **change: Any) -> str:
        values = {**self.model_dump(), **change}
        if values["limit"] == 100:
            values.pop("limit")
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def change_query(
    admin: Annotated[str | None, Query(max_length=128, description="Only this admin")] = None,
    object_type: Annotated[
        str | None, Query(max_length=32, description=f"One of {', '.join(OBJECT_TYPES)}")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="Entries older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
) -> ChangeQuery:
    return ChangeQuery(
        admin=admin.strip() or None if admin else None,
        object_type=object_type.strip() or None if object_type else None,
        before=before,
        limit=limit,
    )


QueryDep = Annotated[ChangeQuery, Depends(change_query)]


def _entry(row: AdminChange) -> ChangeEntry:
    return ChangeEntry.model_validate(row, from_attributes=True)


async def _page_of(
    session: AsyncSession, query: ChangeQuery
) -> tuple[list[AdminChange], int | None]:
    rows = await crud.list_admin_changes(
        session,
        admin=query.admin,
        object_type=query.object_type,
        before_id=query.before,
        limit=query.limit,
    )
    more = len(rows) == query.limit and rows[-1].id is not None
    return rows, rows[-1].id if more else None


def _pretty(value: Any) -> list[str]:
    if value is None:
        return []
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def _fields(before: Any, after: Any) -> list[FieldChange]:
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return []
    old, new = before or {}, after or {}
    keys = list(dict.fromkeys([*old, *new]))
    return [
        FieldChange(
            field=k,
            before=old.get(k),
            after=new.get(k),
            changed=(k in old) != (k in new) or old.get(k) != new.get(k),
        )
        for k in keys
    ]


def detail(row: AdminChange) -> ChangeDetail:
    """An entry with its before/after field by field and as a unified diff."""
    diff = list(
        difflib.unified_diff(
            _pretty(row.before), _pretty(row.after), "before", "after", lineterm="", n=3
        )
    )
    return ChangeDetail(
        **_entry(row).model_dump(), fields=_fields(row.before, row.after), diff=diff
    )


async def _get(session: AsyncSession, id: int) -> AdminChange:
    rows = await crud.list_admin_changes(session, before_id=id + 1, limit=1)
    if not rows or rows[0].id != id:
        raise HTTPException(404, f"no change log entry {id}")
    return rows[0]


def shown(value: Any) -> str:
    """A field value in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- pages -------------------------------------------------------------------------------------


@router.get("/changes")
async def changes_page(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    query: QueryDep,
) -> Response:
    """Every change by any admin, newest first; ``before=ID`` pages to older ones."""
    rows, next_before = await _page_of(session, query)
    response: Response = page(
        console,
        request,
        "changes.html",
        {
            "rows": rows,
            "query": query,
            "object_types": OBJECT_TYPES,
            "next_params": query.params(before=next_before) if next_before else None,
            "first_params": query.params(before=None) if query.before else None,
        },
    )
    return response


@router.get("/changes/{id}")
async def change_page(
    _: CurrentAuditor,
    console: ConsoleDep,
    request: Request,
    session: SessionDep,
    id: Annotated[int, Path(ge=1, le=2**62)],
) -> Response:
    """One change: who, when, what, and the object before and after."""
    entry = detail(await _get(session, id))
    response: Response = page(console, request, "change.html", {"entry": entry, "shown": shown})
    return response


# --- API ---------------------------------------------------------------------------------------


@api.get("/changes", tags=["changes"])
async def change_list(_: CurrentAuditor, session: SessionDep, query: QueryDep) -> ChangePage:
    """The admin change log, newest first; page on with ``before=next_before``."""
    rows, next_before = await _page_of(session, query)
    return ChangePage(items=[_entry(r) for r in rows], next_before=next_before)


@api.get("/changes/{id}", tags=["changes"], responses={404: {"model": Problem}})
async def change_get(
    _: CurrentAuditor, session: SessionDep, id: Annotated[int, Path(ge=1, le=2**62)]
) -> ChangeDetail:
    """One entry with its before/after field by field and as a unified diff."""
    return detail(await _get(session, id))
