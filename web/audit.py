"""The live log's query: filters from the query string, validated, and keyset paging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from nac.db.models import AuditLog, normalize_mac
from web.schemas import AuditSummary

MAX_RANGE = timedelta(days=31)
PAGE_SIZE = 50


def _invalid(name: str, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
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
    result: str | None = None
    reason_code: int | None = None
    protocol: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = PAGE_SIZE

    def crud_filters(self) -> dict[str, Any]:
        return {
            "username": self.user,
            "mac": self.mac,
            "nas": self.nas,
            "result": self.result,
            "reason_code": self.reason_code,
            "protocol": self.protocol,
            "since": self.since,
            "until": self.until,
            "before": self.before,
            "limit": self.limit,
        }

    def params(self, **change: Any) -> dict[str, str]:
        """The query string of this query (with ``change``), empty values left out."""
        values = {
            "user": self.user,
            "mac": self.mac,
            "nas": self.nas,
            "result": self.result,
            "reason_code": self.reason_code,
            "protocol": self.protocol,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "before": self.before,
            "limit": self.limit if self.limit != PAGE_SIZE else None,
            **change,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def _time(name: str, value: str | None) -> datetime | None:
    value = _blank(value)
    if value is None:
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        raise _invalid(name, "must be an ISO 8601 time, e.g. 2026-12-01T09:30", value) from None


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def audit_query(
    user: Annotated[str | None, Query(max_length=253, description="User name")] = None,
    mac: Annotated[str | None, Query(max_length=32, description="MAC address")] = None,
    nas: Annotated[str | None, Query(max_length=128, description="NAS name or IP")] = None,
    result: Annotated[str | None, Query(max_length=16, description="accept, reject, ...")] = None,
    reason_code: Annotated[
        str | None, Query(max_length=7, description="Reason code (a number)")
    ] = None,
    protocol: Annotated[str | None, Query(max_length=16, description="radius, tacacs")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="From (ISO 8601, UTC if no zone)")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Until, exclusive (ISO 8601)")
    ] = None,
    before: Annotated[int | None, Query(ge=1, description="Rows with a smaller id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> AuditQuery:
    """The filters, checked: a MAC address must parse; a time range is at most 31 days.
    Empty values (an HTML form's blank fields) mean "any"."""
    mac = _blank(mac)
    if mac is not None:
        try:
            mac = normalize_mac(mac)
        except ValueError as exc:
            raise _invalid("mac", str(exc), mac) from None
    code = _blank(reason_code)
    if code is not None and not code.isdigit():
        raise _invalid("reason_code", "must be a whole number, 0 or more", code)
    start, end = _time("since", since), _time("until", until)
    if start is not None and end is not None and end <= start:
        raise _invalid("until", "must be after since", until)
    if start is not None and (end or datetime.now(UTC)) - start > MAX_RANGE:
        raise _invalid("since", "the time range is at most 31 days", since)
    return AuditQuery(
        user=_blank(user),
        mac=mac,
        nas=_blank(nas),
        result=_blank(result),
        reason_code=int(code) if code is not None else None,
        protocol=_blank(protocol),
        since=start,
        until=end,
        before=before,
        limit=limit,
    )


def summary(row: AuditLog) -> AuditSummary:
    return AuditSummary.model_validate(row, from_attributes=True)
