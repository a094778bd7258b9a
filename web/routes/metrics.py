"""``/metrics`` for Prometheus (text exposition), auditor role: scrape it with an API token
(``authorization: {credentials: TOKEN}`` in the scrape config) or a console session.

The numbers are those of the process serving the console (worker 0 with ``--workers N``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from web.deps import CurrentAuditor

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(_: CurrentAuditor, request: Request) -> Response:
    source = getattr(request.app.state, "metrics", None)
    if source is None:
        raise HTTPException(status_code=503, detail="metrics are not collected in this process")
    body, content_type = await source.render()
    return Response(content=body, media_type=content_type)
