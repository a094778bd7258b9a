"""The live log as CSV: ``GET /log.csv`` (the page's filters) and ``GET /api/v1/audit.csv``,
streamed newest first in keyset batches, at most ``CSV_MAX_ROWS`` rows (the cap is stated in
the ``X-Row-Limit`` header and, when reached, in a last line)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from nac.db import crud
from nac.db.types import utcnow
from web.audit import (
    CSV_COLUMNS,
    AuditQuery,
    QueryInvalid,
    audit_query,
    csv_row,
    parse_audit_query,
)
from web.deps import Console, ConsoleDep, CurrentAuditor
from web.routes.api import _BEARER, ERRORS

CSV_MAX_ROWS = 100_000
BATCH = crud.AUDIT_PAGE_MAX

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", responses=ERRORS, dependencies=[Depends(_BEARER)])
AuditQueryDep = Annotated[AuditQuery, Depends(audit_query)]
MaxRows = Annotated[
    int, Query(ge=1, le=CSV_MAX_ROWS, description=f"At most this many rows ({CSV_MAX_ROWS:,} max)")
]


async def csv_lines(console: Console, query: AuditQuery, max_rows: int) -> AsyncIterator[str]:
    """The header, then the matching rows newest first (one short read transaction per
    batch of ``BATCH``), then a ``# truncated`` line if rows beyond ``max_rows`` match."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield take()
    filters: dict[str, Any] = query.crud_filters()
    before, sent = query.before, 0
    while sent < max_rows:
        size = min(BATCH, max_rows - sent)
        async with console.db.session() as session:
            rows = await crud.page_audit(session, **{**filters, "before": before, "limit": size})
        for row in rows:
            writer.writerow(csv_row(row))
        sent += len(rows)
        if rows:
            yield take()
        if len(rows) < size:
            return
        before = rows[-1].id
    async with console.db.session() as session:
        more = await crud.page_audit(session, **{**filters, "before": before, "limit": 1})
    if more:
        yield (
            f"# truncated: the first {max_rows:,} matching rows (newest first) of more; "
            f"narrow the filters or page with before={before}\r\n"
        )


def _response(console: Console, query: AuditQuery, max_rows: int) -> StreamingResponse:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        csv_lines(console, query, max_rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="nac-audit-{stamp}.csv"',
            "X-Row-Limit": str(max_rows),
            "Cache-Control": "no-store",
        },
    )


@api.get(
    "/audit.csv",
    tags=["audit"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "The matching decisions as CSV, newest first; X-Row-Limit states "
            "the row cap, and a last line starting '# truncated' says it was reached",
        },
        422: {"description": "A filter value is invalid (the field is named)"},
    },
)
async def audit_csv(
    _: CurrentAuditor, console: ConsoleDep, query: AuditQueryDep, max_rows: MaxRows = CSV_MAX_ROWS
) -> StreamingResponse:
    """The decisions the filters match (those of ``/api/v1/audit``), as CSV."""
    return _response(console, query, max_rows)


@pages.get("/log.csv")
async def log_csv(_: CurrentAuditor, console: ConsoleDep, request: Request) -> StreamingResponse:
    """The live log's current filters, as CSV (the page's "CSV export" link)."""
    raw = dict(request.query_params)
    try:
        query = parse_audit_query(raw, now=utcnow())
    except QueryInvalid as exc:
        raise exc.validation_error() from None
    return _response(console, query, CSV_MAX_ROWS)
