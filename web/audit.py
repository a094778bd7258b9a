"""The live log's query: filters from the query string, validated, keyset paging; repeats
collapsed; deep links; the CSV export's rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from nac.db import crud
from nac.db.crud import AUDIT_CONTEXT_SSID, AUDIT_PAGE_MAX, AUDIT_STREAMS
from nac.db.models import AuditLog, normalize_mac
from web.schemas import AuditSummary

MAX_RANGE = timedelta(days=31)
MAX_ID = 2**63 - 1  # audit ids are 64-bit
PAGE_SIZE = 50
STREAM_TITLES = {
    "radius": "RADIUS",
    "tacacs-authen": "TACACS+ authentication",
    "tacacs-author": "TACACS+ authorization",
    "tacacs-acct": "TACACS+ accounting",
    "coa": "CoA",
}
RESULTS = ("accept", "reject", "challenge", "drop", "start", "stop", "watchdog", "ack", "nak")
# The longest a text filter may be, by field (the column's width).
_TEXT_LIMITS = {
    "user": 253,
    "nas": 128,
    "ssid": 64,
    "result": 16,
    "protocol": 16,
    "policy_set": 128,
}


class QueryInvalid(ValueError):
    """Bad filter values: ``errors`` holds (field, message, value), every bad field once."""

    def __init__(self, errors: list[tuple[str, str, Any]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m, _ in errors))
        self.errors = errors

    def fields(self) -> dict[str, str]:
        return {name: message for name, message, _ in self.errors}

    def validation_error(self) -> RequestValidationError:
        return RequestValidationError(
            [
                {"type": "value_error", "loc": ("query", name), "msg": message, "input": value}
                for name, message, value in self.errors
            ]
        )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    user: str | None = None
    mac: str | None = None
    nas: str | None = None
    ssid: str | None = None
    result: str | None = None
    reason_code: int | None = None
    protocol: str | None = None
    stream: str | None = None
    policy_set: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    after_id: int | None = None
    limit: int = PAGE_SIZE
    collapse: bool = True  # the page only: consecutive repeats shown once

    def crud_filters(self) -> dict[str, Any]:
        return {
            "username": self.user,
            "mac": self.mac,
            "nas": self.nas,
            "ssid": self.ssid,
            "result": self.result,
            "reason_code": self.reason_code,
            "protocol": self.protocol,
            "stream": self.stream,
            "policy_set": self.policy_set,
            "since": self.since,
            "until": self.until,
            "before": self.before,
            "after": self.after_id,
            "limit": self.limit,
        }

    def filters(self) -> dict[str, str]:
        """The filters (no paging) as query string values, empty ones left out."""
        return {k: v for k, v in self.params().items() if k not in ("before", "after_id", "limit")}

    def params(self, **change: Any) -> dict[str, str]:
        """The query string of this query (with ``change``), empty values left out."""
        values = {
            "stream": self.stream,
            "user": self.user,
            "mac": self.mac,
            "nas": self.nas,
            "ssid": self.ssid,
            "result": self.result,
            "reason_code": self.reason_code,
            "protocol": self.protocol,
            "policy_set": self.policy_set,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "before": self.before,
            "after_id": self.after_id,
            "limit": self.limit if self.limit != PAGE_SIZE else None,
            "collapse": None if self.collapse else "0",
            **change,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def url(self, path: str = "/log", **change: Any) -> str:
        query = urlencode(self.params(**change))
        return f"{path}?{query}" if query else path


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _positive(
    name: str, value: str | None, errors: list[tuple[str, str, Any]], *, high: int | None = None
) -> int | None:
    value = _blank(value)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        errors.append((name, "must be a whole number, 1 or more", value[:40]))
        return None
    if high is not None and int(value) > high:
        errors.append((name, f"must be at most {high}", value))
        return None
    return int(value)


def _time(name: str, value: str | None, errors: list[tuple[str, str, Any]]) -> datetime | None:
    value = _blank(value)
    if value is None:
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        errors.append((name, "must be an ISO 8601 time, e.g. 2026-12-01T09:30", value))
        return None


def parse_audit_query(values: Mapping[str, str | None], *, now: datetime) -> AuditQuery:
    """The filters, checked (every bad field reported): a MAC address must parse; a time
    range is at most 31 days (``until`` defaults to ``now``); a stream is one of
    ``AUDIT_STREAMS``. Empty values (an HTML form's blank fields) mean "any"."""
    errors: list[tuple[str, str, Any]] = []
    text: dict[str, str | None] = {}
    for name, longest in _TEXT_LIMITS.items():
        value = _blank(values.get(name))
        if value is not None and len(value) > longest:
            errors.append((name, f"at most {longest} characters", value[:40]))
            value = None
        text[name] = value
    mac = _blank(values.get("mac"))
    if mac is not None:
        try:
            mac = normalize_mac(mac)
        except ValueError as exc:
            errors.append(("mac", str(exc), mac[:40]))
            mac = None
    code = _blank(values.get("reason_code"))
    if code is not None and (not code.isdigit() or len(code) > 7):
        errors.append(("reason_code", "must be a whole number, 0 or more", code[:40]))
        code = None
    stream = _blank(values.get("stream"))
    if stream is not None and stream not in AUDIT_STREAMS:
        errors.append(("stream", f"must be one of {', '.join(AUDIT_STREAMS)}", stream[:40]))
        stream = None
    start, end = (
        _time("since", values.get("since"), errors),
        _time("until", values.get("until"), errors),
    )
    if start is not None and end is not None and end <= start:
        errors.append(("until", "must be after since", values.get("until")))
    elif start is not None and (end or now) - start > MAX_RANGE:
        errors.append(("since", "the time range is at most 31 days", values.get("since")))
    before = _positive("before", values.get("before"), errors, high=MAX_ID)
    after = _positive("after_id", values.get("after_id"), errors, high=MAX_ID)
    limit = _positive("limit", values.get("limit"), errors, high=AUDIT_PAGE_MAX)
    if errors:
        raise QueryInvalid(errors)
    return AuditQuery(
        user=text["user"],
        mac=mac,
        nas=text["nas"],
        ssid=text["ssid"],
        result=text["result"],
        reason_code=int(code) if code is not None else None,
        protocol=text["protocol"],
        stream=stream,
        policy_set=text["policy_set"],
        since=start,
        until=end,
        before=before,
        after_id=after,
        limit=limit or PAGE_SIZE,
        collapse=_blank(values.get("collapse")) not in ("0", "no", "false"),
    )


def audit_query(
    user: Annotated[str | None, Query(max_length=253, description="User name")] = None,
    mac: Annotated[str | None, Query(max_length=32, description="MAC address")] = None,
    nas: Annotated[str | None, Query(max_length=128, description="NAS name or IP")] = None,
    ssid: Annotated[
        str | None, Query(max_length=64, description="SSID (RADIUS, from Called-Station-Id)")
    ] = None,
    result: Annotated[str | None, Query(max_length=16, description="accept, reject, ...")] = None,
    reason_code: Annotated[
        str | None, Query(max_length=7, description="Reason code (a number)")
    ] = None,
    protocol: Annotated[str | None, Query(max_length=16, description="radius, tacacs, coa")] = None,
    stream: Annotated[
        str | None, Query(max_length=16, description="One of: " + ", ".join(AUDIT_STREAMS))
    ] = None,
    policy_set: Annotated[str | None, Query(max_length=128, description="Policy set")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="From (ISO 8601, UTC if no zone)")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Until, exclusive (ISO 8601)")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Rows with a smaller id")
    ] = None,
    after_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Rows with a larger id (what is new)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX)] = PAGE_SIZE,
) -> AuditQuery:
    """The filters, checked: a MAC address must parse; a time range is at most 31 days.
    Empty values (an HTML form's blank fields) mean "any"."""
    values = {
        "user": user,
        "mac": mac,
        "nas": nas,
        "ssid": ssid,
        "result": result,
        "reason_code": reason_code,
        "protocol": protocol,
        "stream": stream,
        "policy_set": policy_set,
        "since": since,
        "until": until,
        "before": str(before) if before is not None else None,
        "after_id": str(after_id) if after_id is not None else None,
        "limit": str(limit),
    }
    try:
        return parse_audit_query(values, now=datetime.now(UTC))
    except QueryInvalid as exc:
        raise exc.validation_error() from None


# --- a page --------------------------------------------------------------------------------

# A page whose filters no index serves (reason code, NAS, SSID, stream, policy set, protocol,
# without a user or MAC) looks at most at this many ids below ``before``: a value no row has
# then costs one bounded scan per page, not the whole table; the page says how far it looked
# and ``next_before`` goes on from there.
SCAN_ROWS = 250_000


@dataclass(frozen=True, slots=True)
class AuditPageRows:
    rows: list[AuditLog]
    next_before: int | None  # None: no older rows match
    searched_from: int | None  # the lowest id looked at when the scan was bounded


def bounded_scan(query: AuditQuery) -> bool:
    """Whether the page's scan is bounded (``SCAN_ROWS``): only unindexed filters."""
    if query.user is not None or query.mac is not None:
        return False
    unindexed = (query.reason_code, query.nas, query.ssid, query.stream, query.policy_set)
    return any(v is not None for v in (*unindexed, query.protocol))


async def fetch_page(session: AsyncSession, query: AuditQuery) -> AuditPageRows:
    """The rows of a live-log page, newest first, and where the next (older) page starts."""
    filters = query.crud_filters()
    floor = None
    if bounded_scan(query):
        top = query.before or await crud.newest_audit_id(session) + 1
        floor = top - SCAN_ROWS
        if floor > 1:
            filters["after"] = max(floor - 1, query.after_id or 0)
        else:
            floor = None
    rows = await crud.page_audit(session, **filters)
    if len(rows) == query.limit:
        return AuditPageRows(rows, rows[-1].id, floor)
    if floor is not None and (query.after_id is None or floor > query.after_id + 1):
        return AuditPageRows(rows, floor, floor)
    return AuditPageRows(rows, None, floor)


# --- what the rows show --------------------------------------------------------------------


def stream_of(row: AuditLog) -> str | None:
    """The live-log stream a row belongs to (``crud.AUDIT_STREAMS``), None for others."""
    if row.protocol == "tacacs":
        return {"author": "tacacs-author", "acct": "tacacs-acct"}.get(
            row.method or "", "tacacs-authen"
        )
    return row.protocol if row.protocol in ("radius", "coa") else None


def ssid_of(row: AuditLog) -> str | None:
    """The SSID a RADIUS decision saw (its stored context), None when there was none."""
    if row.protocol != "radius" or not row.context:
        return None
    try:
        context = json.loads(row.context)
        value = context[AUDIT_CONTEXT_SSID]
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def summary(row: AuditLog) -> AuditSummary:
    out = AuditSummary.model_validate(row, from_attributes=True)
    out.ssid = ssid_of(row)
    out.stream = stream_of(row)
    return out


def user_href(name: str) -> str:
    """The user's page (web.routes.detail_pages)."""
    return f"/users/{quote(name, safe='')}"


def endpoint_href(mac: str) -> str:
    """The endpoint's page (web.routes.detail_pages)."""
    return f"/endpoints/{quote(mac, safe=':')}"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the live log: a row, standing for ``repeats`` consecutive alike rows
    (the oldest of them ``oldest``)."""

    row: AuditLog
    repeats: int = 1
    oldest: AuditLog | None = None

    @property
    def first(self) -> AuditLog:
        return self.oldest or self.row


def repeat_key(row: AuditLog) -> tuple[Any, ...]:
    """Rows alike enough to show once: same user, MAC, NAS, result and reason."""
    return (
        row.protocol,
        row.username,
        row.mac,
        row.nas_name or row.nas_ip,
        row.result,
        row.reason_code,
        row.reason,
    )


def collapse(rows: Iterable[AuditLog]) -> list[LogLine]:
    """Consecutive alike rows (``repeat_key``) as one line with their count; the newest
    row stands for them (``rows`` newest first)."""
    lines: list[LogLine] = []
    key: tuple[Any, ...] | None = None
    for row in rows:
        k = repeat_key(row)
        if lines and k == key:
            lines[-1] = replace(lines[-1], repeats=lines[-1].repeats + 1, oldest=row)
        else:
            lines.append(LogLine(row))
            key = k
    return lines


def repeats_url(query: AuditQuery, line: LogLine) -> str:
    """The log showing just the rows a collapsed line stands for, not collapsed."""
    row = line.row
    change: dict[str, Any] = {
        "user": row.username,
        "mac": row.mac,
        "result": row.result,
        "reason_code": row.reason_code,
        "before": (row.id or 0) + 1,
        "after_id": (line.first.id or 1) - 1 or None,
        "limit": None,
        "collapse": "0",
    }
    return query.url(**change)


# --- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS: Sequence[str] = (
    "id",
    "time_utc",
    "node",
    "stream",
    "protocol",
    "nas_name",
    "nas_ip",
    "user",
    "mac",
    "ssid",
    "method",
    "result",
    "reason_code",
    "reason",
    "policy_set",
    "authentication_rule",
    "authorization_rule",
    "profile",
    "latency_ms",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | None) -> str:
    """Text as a CSV cell a spreadsheet will not run: a leading = + - @ (a user name is
    chosen by whoever is on the wire) gets a ' in front, as OWASP advises."""
    if not value:
        return ""
    return f"'{value}" if value.startswith(_FORMULA) else value


def csv_row(row: AuditLog) -> list[str]:
    return [
        str(row.id),
        row.ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        _cell(row.node),
        stream_of(row) or "",
        _cell(row.protocol),
        _cell(row.nas_name),
        _cell(row.nas_ip),
        _cell(row.username),
        _cell(row.mac),
        _cell(ssid_of(row)),
        _cell(row.method),
        _cell(row.result),
        str(row.reason_code),
        _cell(row.reason),
        _cell(row.policy_set),
        _cell(row.authentication_rule),
        _cell(row.authorization_rule),
        _cell(row.profile),
        f"{row.latency_us / 1000:.3f}",
    ]
