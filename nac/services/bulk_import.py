"""Bulk import of network users and endpoints from CSV (console upload, API, ``nac ... import``).

All or nothing: every row is parsed and validated (with the same pydantic models as the API)
before anything is written; any bad row (its line number, column and reason) rejects the whole
file. A good file is written in ONE transaction that bumps the configuration version once and
adds one entry to the admin change log.

Users (header line required; columns in any order)::

    name,password,groups,enabled,description,enable_secret
    alice,s3cret,employees;vpn,yes,Alice Example,

``groups`` is a ``;``-separated list (groups not yet known are created); ``enabled`` is
yes/no/true/false/1/0 (blank: yes). Endpoints::

    mac,profile,group,description,blocked
    00:11:22:33:44:55,printer,floor-2,HP in room 201,no

A name or MAC already in the database is a row error, unless ``update`` is given: then the
existing object takes the values of the columns the file has (a blank ``password`` or
``enable_secret`` keeps the current one). An endpoint that profiling discovered (not registered)
becomes registered by an import without ``update``. Rows repeating a name or MAC of an earlier
row are errors either way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from nac.core.errors import NacError
from nac.core.secrets import PURPOSE_ENABLE_SECRET, PURPOSE_USER_PASSWORD, SecretBox
from nac.db import crud
from nac.db.models import (
    Endpoint,
    EndpointCreate,
    Group,
    User,
    UserCreate,
    UserGroup,
    check_name,
)
from nac.db.types import utcnow

Kind = Literal["users", "endpoints"]
USER_COLUMNS = ("name", "password", "groups", "enabled", "description", "enable_secret")
ENDPOINT_COLUMNS = ("mac", "profile", "group", "description", "blocked")
MAX_ROWS = 200_000
MAX_BYTES = 64 * 1024 * 1024
_CHUNK = 1000
_TRUE = frozenset({"yes", "y", "true", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "0", "off"})

# progress(phase, done, total): phase "validate" (rows checked) then "write" (rows written).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row: its physical line in the file (the header is line 1), the column ("" for
    the whole row) and why."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class ImportRejected(NacError):
    """The file has bad rows: nothing was imported. ``errors`` lists every one."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line)  # stable: columns stay in order
        first = str(self.errors[0]) if self.errors else "no rows"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"nothing imported: {first}{more}")


@dataclass(slots=True)
class ImportResult:
    kind: Kind
    rows: int = 0
    created: int = 0
    updated: int = 0
    groups_created: list[str] = field(default_factory=list)
    config_version: int = 0


@dataclass(slots=True)
class _Row:
    line: int
    values: dict[str, str]


@dataclass(slots=True)
class _UserRow:
    line: int
    user: UserCreate | None  # None: an update row without a password
    name: str
    values: dict[str, Any]  # the validated columns present in the file


@dataclass(slots=True)
class _EndpointRow:
    line: int
    mac: str
    values: dict[str, Any]


# --- parsing -----------------------------------------------------------------------------------


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if len(data) > MAX_BYTES:
        raise ImportRejected([RowError(0, "", f"file larger than {MAX_BYTES // 2**20} MiB")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected([RowError(line, "", "not UTF-8 text")]) from None


def _read_rows(
    text: str, columns: Sequence[str], required: Sequence[str], errors: list[RowError]
) -> list[_Row]:
    """The data rows as {column: stripped value}; header and shape problems go to ``errors``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        errors.append(RowError(1, "", f"not CSV: {exc}"))
        return []
    if header is None:
        errors.append(RowError(1, "", f"empty file: a header line ({','.join(columns)}) first"))
        return []
    names = [h.strip().lower() for h in header]
    for n, name in enumerate(names):
        if name not in columns:
            errors.append(
                RowError(1, name or f"#{n + 1}", f"unknown column (known: {', '.join(columns)})")
            )
        elif name in names[:n]:
            errors.append(RowError(1, name, "column given twice"))
    for name in required:
        if name not in names:
            errors.append(RowError(1, name, "required column missing from the header"))
    if errors:
        return []
    rows: list[_Row] = []
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(line, "", f"not CSV: {exc}"))
            break
        if cells and any(c.strip() for c in cells):
            if len(cells) != len(names):
                errors.append(
                    RowError(line, "", f"{len(cells)} values, the header has {len(names)} columns")
                )
            else:
                rows.append(_Row(line, {k: v.strip() for k, v in zip(names, cells, strict=True)}))
            if len(rows) > MAX_ROWS:
                errors.append(RowError(line, "", f"more than {MAX_ROWS} rows"))
                break
        line = reader.line_num + 1
    if not rows and not errors:
        errors.append(RowError(2, "", "no data rows after the header"))
    return rows


def _bool(value: str, column: str, line: int, errors: list[RowError], default: bool) -> bool:
    low = value.lower()
    if not low:
        return default
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    errors.append(RowError(line, column, f"not yes/no/true/false/1/0: {value!r}"))
    return default


def _pydantic_errors(exc: ValidationError, line: int, errors: list[RowError]) -> None:
    seen = set()
    for error in exc.errors():
        loc = error.get("loc") or ("",)
        column = str(loc[0])
        if column in seen:
            continue
        seen.add(column)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(RowError(line, column, message))


def _groups(value: str, line: int, errors: list[RowError]) -> list[str]:
    out = []
    for name in (g.strip() for g in value.split(";")):
        if not name:
            continue
        try:
            out.append(check_name(name))
        except ValueError as exc:
            errors.append(RowError(line, "groups", str(exc)))
    return list(dict.fromkeys(out))


def parse_users(
    data: bytes | str, *, update: bool = False, progress: Progress | None = None
) -> list[_UserRow]:
    """Parse and validate a users CSV; raises `ImportRejected` listing every bad row."""
    rows, errors = _parse_users(data, update=update, progress=progress)
    if errors:
        raise ImportRejected(errors)
    return rows


def _parse_users(
    data: bytes | str, *, update: bool, progress: Progress | None
) -> tuple[list[_UserRow], list[RowError]]:
    errors: list[RowError] = []
    rows = _read_rows(
        _decode(data), USER_COLUMNS, ("name",) if update else ("name", "password"), errors
    )
    out: list[_UserRow] = []
    first: dict[str, int] = {}
    for n, row in enumerate(rows):
        v = row.values
        row_errors: list[RowError] = []
        present: dict[str, Any] = {}
        if "groups" in v:
            present["groups"] = _groups(v["groups"], row.line, row_errors)
        if "enabled" in v:
            present["enabled"] = _bool(v["enabled"], "enabled", row.line, row_errors, True)
        if "description" in v:
            present["description"] = v["description"]
        user: UserCreate | None = None
        try:
            user = UserCreate(
                name=v.get("name", ""),
                password=v.get("password", "") or ("-" if update else ""),
                groups=present.get("groups", []),
                enabled=present.get("enabled", True),
                description=present.get("description", ""),
                enable_secret=v.get("enable_secret") or None,
            )
        except ValidationError as exc:
            _pydantic_errors(exc, row.line, row_errors)
        name = v.get("name", "")
        if name in first:
            row_errors.append(RowError(row.line, "name", f"duplicate of line {first[name]}"))
        else:
            first[name] = row.line
        if row_errors or user is None:
            errors.extend(row_errors)
        else:
            if v.get("password"):
                present["password"] = v["password"]
            if v.get("enable_secret"):
                present["enable_secret"] = v["enable_secret"]
            # An update row without a password cannot create a user (checked against the
            # database when writing).
            out.append(_UserRow(row.line, user if v.get("password") else None, name, present))
        if progress and (n + 1) % _CHUNK == 0:
            progress("validate", n + 1, len(rows))
    if progress:
        progress("validate", len(rows), len(rows))
    return out, errors


def parse_endpoints(data: bytes | str, *, progress: Progress | None = None) -> list[_EndpointRow]:
    """Parse and validate an endpoints CSV; raises `ImportRejected` listing every bad row."""
    rows, errors = _parse_endpoints(data, progress=progress)
    if errors:
        raise ImportRejected(errors)
    return rows


def _parse_endpoints(
    data: bytes | str, *, progress: Progress | None
) -> tuple[list[_EndpointRow], list[RowError]]:
    errors: list[RowError] = []
    rows = _read_rows(_decode(data), ENDPOINT_COLUMNS, ("mac",), errors)
    out: list[_EndpointRow] = []
    first: dict[str, int] = {}
    for n, row in enumerate(rows):
        v = row.values
        row_errors: list[RowError] = []
        blocked = _bool(v.get("blocked", ""), "blocked", row.line, row_errors, False)
        endpoint: EndpointCreate | None = None
        try:
            endpoint = EndpointCreate(
                mac=v.get("mac", ""),
                profile=v.get("profile") or None,
                group=v.get("group") or None,
                description=v.get("description", ""),
            )
        except ValidationError as exc:
            _pydantic_errors(exc, row.line, row_errors)
        if endpoint is not None:
            if endpoint.mac in first:
                row_errors.append(
                    RowError(row.line, "mac", f"duplicate of line {first[endpoint.mac]}")
                )
            else:
                first[endpoint.mac] = row.line
        if row_errors or endpoint is None:
            errors.extend(row_errors)
        else:
            values: dict[str, Any] = {
                k: getattr(endpoint, k) for k in ("profile", "group", "description") if k in v
            }
            if "blocked" in v:
                values["blocked"] = blocked
            out.append(_EndpointRow(row.line, endpoint.mac, values))
        if progress and (n + 1) % _CHUNK == 0:
            progress("validate", n + 1, len(rows))
    if progress:
        progress("validate", len(rows), len(rows))
    return out, errors


# --- writing -----------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def import_users(
    session: AsyncSession,
    data: bytes | str,
    *,
    box: SecretBox,
    admin: str,
    source: str = "users.csv",
    update: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the whole users CSV, then create (and with ``update`` change) the users in one
    transaction. Raises `ImportRejected` (nothing written) on any bad row."""
    rows, errors = _parse_users(data, update=update, progress=progress)
    if errors and any(e.line <= 1 for e in errors):
        raise ImportRejected(errors)  # no usable header or file: nothing to check further
    result = ImportResult("users", rows=len(rows))
    await crud.end_read(session)
    async with crud.config_change(session) as version:
        result.config_version = version
        existing = {
            name: uid for uid, name in (await session.execute(select(col(User.id), col(User.name))))
        }
        for row in rows:
            if row.name in existing and not update:
                errors.append(
                    RowError(
                        row.line, "name", f"user {row.name!r} already exists (--update changes it)"
                    )
                )
            elif row.name not in existing and row.user is None:
                errors.append(RowError(row.line, "password", "required for a new user"))
        if errors:
            raise ImportRejected(errors)
        group_ids = await _ensure_groups(
            session, {g for row in rows for g in row.values.get("groups", ())}, result
        )
        now = utcnow()
        new = [row for row in rows if row.name not in existing]
        changed = [row for row in rows if row.name in existing]
        done = 0
        for chunk in _chunks(new):
            records = []
            for row in chunk:
                assert row.user is not None
                records.append(
                    {
                        "name": row.name,
                        "enabled": row.user.enabled,
                        "description": row.user.description,
                        "password_enc": box.encrypt(
                            row.user.password, purpose=PURPOSE_USER_PASSWORD
                        ),
                        "enable_secret_enc": (
                            box.encrypt(row.user.enable_secret, purpose=PURPOSE_ENABLE_SECRET)
                            if row.user.enable_secret
                            else None
                        ),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            await session.execute(insert(User), records)
            done += len(chunk)
            if progress:
                progress("write", done, len(rows))
        if new:
            ids = {
                name: uid
                for uid, name in await session.execute(select(col(User.id), col(User.name)))
            }
            links = [
                {"user_id": ids[row.name], "group_id": group_ids[g]}
                for row in new
                for g in row.values.get("groups", ())
            ]
            for chunk in _chunks(links, 5000):
                await session.execute(insert(UserGroup), list(chunk))
        for row in changed:
            uid = existing[row.name]
            values: dict[str, Any] = {"updated_at": now}
            for key in ("enabled", "description"):
                if key in row.values:
                    values[key] = row.values[key]
            if "password" in row.values:
                values["password_enc"] = box.encrypt(
                    row.values["password"], purpose=PURPOSE_USER_PASSWORD
                )
            if "enable_secret" in row.values:
                values["enable_secret_enc"] = box.encrypt(
                    row.values["enable_secret"], purpose=PURPOSE_ENABLE_SECRET
                )
            await session.execute(sql_update(User).where(col(User.id) == uid).values(**values))
            if "groups" in row.values:
                await session.execute(delete(UserGroup).where(col(UserGroup.user_id) == uid))
                links = [{"user_id": uid, "group_id": group_ids[g]} for g in row.values["groups"]]
                if links:
                    await session.execute(insert(UserGroup), links)
            done += 1
            if progress and done % _CHUNK == 0:
                progress("write", done, len(rows))
        if progress:
            progress("write", len(rows), len(rows))
        result.created, result.updated = len(new), len(changed)
        await _log_import(
            session,
            result,
            admin=admin,
            source=source,
            update=update,
            groups_created=result.groups_created,
        )
    return result


async def _log_import(
    session: AsyncSession,
    result: ImportResult,
    *,
    admin: str,
    source: str,
    update: bool,
    **more: Any,
) -> None:
    """The import's one admin change log entry (object key: the file), in its transaction."""
    counts = {"rows": result.rows, "created": result.created, "updated": result.updated}
    await crud.record_admin_change(
        session,
        admin=admin,
        action="import",
        object_type=result.kind.removesuffix("s"),
        object_key=source[:253],
        after=counts | more,
        comment=f"CSV import of {result.rows} {result.kind}" + (" (--update)" if update else ""),
        commit=False,
    )


async def _ensure_groups(
    session: AsyncSession, names: set[str], result: ImportResult
) -> dict[str, int]:
    """{name: id} of ``names``, creating the missing groups."""
    query = select(col(Group.id), col(Group.name))
    known: dict[str, int] = {n: gid for gid, n in await session.execute(query) if gid is not None}
    missing = sorted(names - set(known))
    if missing:
        await session.execute(insert(Group), [{"name": n, "description": ""} for n in missing])
        result.groups_created = missing
        known = {n: gid for gid, n in await session.execute(query) if gid is not None}
    return known


async def import_endpoints(
    session: AsyncSession,
    data: bytes | str,
    *,
    admin: str,
    source: str = "endpoints.csv",
    update: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the whole endpoints CSV, then register the endpoints in one transaction.
    Raises `ImportRejected` (nothing written) on any bad row."""
    rows, errors = _parse_endpoints(data, progress=progress)
    if errors and any(e.line <= 1 for e in errors):
        raise ImportRejected(errors)
    result = ImportResult("endpoints", rows=len(rows))
    await crud.end_read(session)
    async with crud.config_change(session) as version:
        result.config_version = version
        existing = {
            mac: (eid, registered)
            for eid, mac, registered in await session.execute(
                select(col(Endpoint.id), col(Endpoint.mac), col(Endpoint.registered))
            )
        }
        errors += [
            RowError(row.line, "mac", f"endpoint {row.mac} already exists (--update changes it)")
            for row in rows
            if row.mac in existing and existing[row.mac][1] and not update
        ]
        if errors:
            raise ImportRejected(errors)
        new = [row for row in rows if row.mac not in existing]
        changed = [row for row in rows if row.mac in existing]
        now = utcnow()
        done = 0
        # Every column's default once (building a table model per row costs ~0.3 ms).
        template = Endpoint(mac=rows[0].mac, first_seen=now).model_dump(exclude={"id"})
        for chunk in _chunks(new):
            records = [
                {
                    **template,
                    "signals": {},
                    "posture_failed": [],
                    "mac": row.mac,
                    "registered": True,
                    **row.values,
                }
                for row in chunk
            ]
            await session.execute(insert(Endpoint), records)
            done += len(chunk)
            if progress:
                progress("write", done, len(rows))
        for row in changed:
            eid = existing[row.mac][0]
            await session.execute(
                sql_update(Endpoint)
                .where(col(Endpoint.id) == eid)
                .values(registered=True, **row.values)
            )
            done += 1
            if progress and done % _CHUNK == 0:
                progress("write", done, len(rows))
        if progress:
            progress("write", len(rows), len(rows))
        result.created, result.updated = len(new), len(changed)
        await _log_import(session, result, admin=admin, source=source, update=update)
    return result
