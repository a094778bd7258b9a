"""The live log's streams, filters (SSID, policy set, bounded time range), repeats collapsed,
CSV export, keyset paging both ways, rejects in red with a word, deep links, live polling."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import insert

from nac.db import crud
from nac.db.engine import Database
from nac.db.models import AuditLog
from nac.services.audit import CONTEXT_FIELDS

from .conftest import T0, Login, record

_AUDIT = AuditLog.__table__  # type: ignore[attr-defined]


def ids_in(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="\w+" data-id="(\d+)"', html)]


async def add(database: Database, *records: object) -> None:
    async with database.session() as session:
        await crud.add_audit_records(session, records=list(records))  # type: ignore[arg-type]


def context_with(ssid: str | None, ts: float = 0.0) -> str:
    """A stored RADIUS context (the writer's layout: the time, then CONTEXT_FIELDS)."""
    values: list[object] = [ts, *([None] * len(CONTEXT_FIELDS))]
    values[1 + CONTEXT_FIELDS.index("ssid")] = ssid
    return json.dumps(values, separators=(",", ":"))


async def api_ids(client: object, query: str) -> list[int]:
    response = await client.get(f"/api/v1/audit?{query}&limit=500")  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_the_ssid_position_is_the_writers() -> None:
    assert 1 + CONTEXT_FIELDS.index("ssid") == crud.AUDIT_CONTEXT_SSID


async def test_streams_split_radius_and_the_tacacs_kinds(login: Login, database: Database) -> None:
    await add(
        database,
        record(1, protocol="radius"),
        record(2, protocol="tacacs", method="pap"),
        record(3, protocol="tacacs", method="author", reason="command permitted: show run"),
        record(4, protocol="tacacs", method="acct", result="start", reason="accounting start"),
        record(5, protocol="tacacs", method="enable"),
        record(6, protocol="coa", method="disconnect", result="ack", reason="Disconnect-ACK"),
        record(7, protocol="tacacs", method=None),
    )
    client = await login("audi")
    assert await api_ids(client, "stream=radius") == [1]
    assert await api_ids(client, "stream=tacacs-authen") == [7, 5, 2]
    assert await api_ids(client, "stream=tacacs-author") == [3]
    assert await api_ids(client, "stream=tacacs-acct") == [4]
    assert await api_ids(client, "stream=coa") == [6]
    items = (await client.get("/api/v1/audit")).json()["items"]
    assert [i["stream"] for i in items] == [
        "tacacs-authen", "coa", "tacacs-authen", "tacacs-acct", "tacacs-author", "tacacs-authen",
        "radius",
    ]  # fmt: skip
    page = await client.get("/log?stream=tacacs-author")
    assert ids_in(page.text) == [3]
    tab = re.search(r'<a href="([^"]+)" class="current" aria-current="page">([^<]+)</a>', page.text)
    assert tab and tab.group(2) == "TACACS+ authorization"
    assert 'href="/log?stream=tacacs-acct"' in page.text  # the other tabs
    bad = await client.get("/api/v1/audit?stream=ldap")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "stream"]
    assert "tacacs-author" in bad.json()["detail"][0]["msg"]


async def test_ssid_and_policy_set_filters(login: Login, database: Database) -> None:
    rows = [
        {"ssid": "corp", "protocol": "radius", "policy_set": "wireless"},
        {"ssid": "guest", "protocol": "radius", "policy_set": "wireless"},
        {"ssid": "a_b%", "protocol": "radius", "policy_set": "wireless"},
        {"ssid": "axbz", "protocol": "radius", "policy_set": "wireless"},  # LIKE must not match
        {"ssid": "corp-5g", "protocol": "radius", "policy_set": "wireless"},
        {"ssid": None, "protocol": "radius", "policy_set": "wired"},
    ]
    async with database.session() as session:
        values = []
        for i, row in enumerate(rows, start=1):
            base = {f: getattr(record(i), f) for f in crud._AUDIT_FIELDS}
            base.update(protocol=row["protocol"], policy_set=row["policy_set"])
            base["context"] = context_with(row["ssid"])
            values.append(base)
        # A TACACS+ row whose context has "corp" at the same place: not an SSID.
        tac = {
            f: getattr(record(7, protocol="tacacs", policy_set="admin"), f)
            for f in crud._AUDIT_FIELDS
        }
        tac["context"] = json.dumps(["tacacs-login", 1, *(["corp"] * 12)])
        values.append(tac)
        await session.execute(insert(_AUDIT), values)
        await session.commit()
    client = await login("audi")
    assert await api_ids(client, "ssid=corp") == [1]
    assert await api_ids(client, "ssid=a_b%25") == [3]
    assert await api_ids(client, "ssid=nothing") == []
    assert await api_ids(client, "policy_set=wired") == [6]
    assert await api_ids(client, "policy_set=wireless&ssid=guest") == [2]
    items = (await client.get("/api/v1/audit?ssid=guest")).json()["items"]
    assert items[0]["ssid"] == "guest"
    page = await client.get("/log?ssid=corp")
    assert ids_in(page.text) == [1] and "<td>corp</td>" in page.text
    assert 'name="ssid" value="corp"' in page.text  # the form keeps the filter


async def test_time_range_is_bounded_and_errors_name_the_field(
    login: Login, audit_rows: int
) -> None:
    client = await login("audi")
    start = T0.replace(tzinfo=None).isoformat()
    too_far = (T0 + timedelta(days=31, seconds=1)).replace(tzinfo=None).isoformat()
    api = await client.get(f"/api/v1/audit?since={start}&until={too_far}")
    assert api.status_code == 422
    assert api.json()["detail"] == [
        {
            "loc": ["query", "since"],
            "msg": "the time range is at most 31 days",
            "type": "value_error",
        }
    ]
    ok = (T0 + timedelta(days=31)).replace(tzinfo=None).isoformat()
    assert (await client.get(f"/api/v1/audit?since={start}&until={ok}")).status_code == 200
    # The page shows the form again with the bad field marked and the values kept.
    page = await client.get(f"/log?since={start}&until={too_far}&user=user1&mac=zz")
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "since: the time range is at most 31 days" in page.text
    assert re.search(r'<label class="invalid">From \(UTC\) <input name="since" value="'
                     + re.escape(start), page.text)  # fmt: skip
    assert "mac: " in page.text and 'name="user" value="user1"' in page.text  # every error
    assert "Traceback" not in page.text and ids_in(page.text) == []
    csv_bad = await client.get(f"/log.csv?since={start}&until={too_far}")
    assert csv_bad.status_code == 422 and "since:" in csv_bad.text
    api_csv_bad = await client.get("/api/v1/audit.csv?reason_code=x")
    assert api_csv_bad.status_code == 422
    assert api_csv_bad.json()["detail"][0]["loc"] == ["query", "reason_code"]


async def test_repeats_collapse_with_a_count(login: Login, database: Database) -> None:
    alike = {"username": "bob", "mac": "00:11:22:33:44:55", "nas_name": "sw1", "result": "reject",
             "protocol": "radius"}  # fmt: skip
    await add(
        database,
        record(1, username="amy", result="accept"),
        *(record(i, **alike, reason_code=12011, reason="wrong password") for i in (2, 3, 4)),
        record(5, **alike, reason_code=12010, reason="unknown user"),  # another reason
        record(6, **alike, reason_code=12010, reason="unknown user"),
        record(7, username="amy", result="accept"),
    )
    client = await login("audi")
    page = await client.get("/log")
    lines = re.findall(r'<tr class="(\w+)" data-id="(\d+)" data-repeats="(\d+)"', page.text)
    assert lines == [("accept", "7", "1"), ("reject", "6", "2"), ("reject", "4", "3"),
                     ("accept", "1", "1")]  # fmt: skip
    assert "7 decisions in 4 lines (repeats collapsed)" in page.text
    link = re.search(r'<a class="repeats" href="([^"]+)" title="3 alike[^"]*">&times;&nbsp;3</a>',
                     page.text)  # fmt: skip
    assert link, page.text
    shown = await client.get(link.group(1).replace("&amp;", "&"))
    assert ids_in(shown.text) == [4, 3, 2]  # exactly the three, not collapsed
    every = await client.get("/log?collapse=0")
    assert ids_in(every.text) == [7, 6, 5, 4, 3, 2, 1] and 'class="repeats"' not in every.text
    assert 'href="/log?collapse=0"' in page.text  # the switch


async def test_csv_export_streams_the_filtered_rows(
    login: Login, audit_rows: int, database: Database
) -> None:
    await add(database, record(121, username='=HYPERLINK("http://x")', result="reject"))
    client = await login("audi")
    response = await client.get("/api/v1/audit.csv?result=reject")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="nac-audit-')
    assert response.headers["x-row-limit"] == "100000"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["id", "time_utc", "node", "stream"] and "ssid" in rows[0]
    assert [int(r[0]) for r in rows[1:]] == [121, *range(120, 0, -5)]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["user"] == '\'=HYPERLINK("http://x")'  # no formula for a spreadsheet
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["time_utc"] == "2026-12-01T09:02:00.000000Z" and second["result"] == "reject"
    assert second["reason_code"] == "2" and second["latency_ms"] == "1.234"
    assert second["user"] == "user0" and second["stream"] == "tacacs-authen"
    # The page's link gives the same rows; a cap cuts and says so.
    page = await client.get("/log?result=reject")
    href = re.search(r'<a href="(/log\.csv[^"]*)" download>', page.text)
    assert href and href.group(1) == "/log.csv?result=reject"
    same = await client.get(href.group(1))
    assert same.status_code == 200 and same.text.splitlines()[1:] == response.text.splitlines()[1:]
    capped = await client.get("/api/v1/audit.csv?user=user1&max_rows=3")
    lines = capped.text.splitlines()
    assert capped.headers["x-row-limit"] == "3" and len(lines) == 5
    assert [int(line.split(",")[0]) for line in lines[1:4]] == [117, 113, 109]
    assert lines[4].startswith("# truncated: the first 3 matching rows")
    exact = await client.get("/api/v1/audit.csv?user=user1&max_rows=30")
    assert len(exact.text.splitlines()) == 31  # 30 rows exist: no truncation line
    assert (await client.get("/api/v1/audit.csv?max_rows=100001")).status_code == 422


async def test_csv_export_pages_through_many_rows(login: Login, database: Database) -> None:
    await add(database, *(record(i) for i in range(1, 1203)))
    client = await login("audi")
    response = await client.get("/log.csv")
    ids = [int(line.split(",")[0]) for line in response.text.splitlines()[1:]]
    assert ids == list(range(1202, 0, -1))  # three batches, no row twice or lost


async def test_keyset_paging_both_ways(login: Login, audit_rows: int, database: Database) -> None:
    client = await login("audi")
    first = (await client.get("/api/v1/audit?user=user2&limit=10")).json()
    assert [i["id"] for i in first["items"]] == list(range(118, 78, -4))
    assert first["next_before"] == 82
    second = (await client.get("/api/v1/audit?user=user2&limit=10&before=82")).json()
    assert [i["id"] for i in second["items"]] == list(range(78, 38, -4))
    page = await client.get("/log?user=user2&limit=10&before=82")
    assert ids_in(page.text) == list(range(78, 38, -4))
    assert 'rel="next" href="/log?user=user2&amp;before=42&amp;limit=10"' in page.text
    assert '<a href="/log?user=user2&amp;limit=10">Newest</a>' in page.text
    # What is new since a row: only later ones, newest first.
    await add(database, record(121), record(122), record(126))
    assert await api_ids(client, "after_id=118") == [123, 122, 121, 120, 119]
    assert await api_ids(client, "after_id=120&user=user2") == [123, 122]
    assert await api_ids(client, "after_id=123") == []
    assert (await client.get("/api/v1/audit?after_id=0")).status_code == 422


async def test_rejects_are_red_with_an_icon_and_a_word(login: Login, audit_rows: int) -> None:
    client = await login("audi")
    page = await client.get("/log")
    row = re.search(r'<tr class="reject" data-id="120".*?</tr>', page.text, re.S)
    assert row, page.text
    assert (
        '<td class="verdict result-reject"><span aria-hidden="true">&#10006;</span> REJECT</td>'
        in row.group(0)
    )
    accept = re.search(r'<tr class="accept" data-id="119".*?</tr>', page.text, re.S)
    assert (
        accept and "REJECT" not in accept.group(0) and "&#10004;</span> accept" in accept.group(0)
    )
    assert "tr.reject td" in page.text and "#a00000" in page.text


async def test_rows_link_to_the_record_user_and_endpoint(login: Login, audit_rows: int) -> None:
    client = await login("oper")
    await client.post("/api/v1/endpoints", json={"mac": "00:11:22:33:44:0a"})
    page = await client.get("/log?mac=00:11:22:33:44:0a")
    row = re.search(r'<tr class="reject" data-id="10".*?</tr>', page.text, re.S)
    assert row, page.text
    text = row.group(0)
    first_link = re.search(r'<a href="([^"]+)"', text)
    assert first_link and first_link.group(1) == "/log/10"  # the first link opens the record
    assert '<a class="user" href="/users/user2">user2</a>' in text  # web.routes.detail_pages
    endpoint = re.search(r'<a class="endpoint" href="([^"]+)">00:11:22:33:44:0a</a>', text)
    assert endpoint and endpoint.group(1) == "/endpoints/00:11:22:33:44:0a"
    assert (
        'href="/log?user=user2&amp;mac=00%3A11%3A22%3A33%3A44%3A0a" title="only this user"' in text
    )
    target = await client.get(endpoint.group(1))
    assert target.status_code == 200 and "Endpoint <code>00:11:22:33:44:0a</code>" in target.text
    assert (await client.get("/users/user2")).status_code == 404  # not in the identity store
    record_page = await client.get("/log/10")
    assert "TACACS+ authentication" in record_page.text and "node-a" in record_page.text
    assert 'href="/users/user2"' in record_page.text
    assert 'href="/endpoints/00:11:22:33:44:0a"' in record_page.text


async def test_the_newest_page_polls_for_new_rows(login: Login, audit_rows: int) -> None:
    client = await login("audi")
    page = await client.get("/log?result=reject")
    table = re.search(r'<table id="log"([^>]*)>', page.text)
    assert table, page.text
    assert 'data-live="1" data-after="120" data-filters="result=reject"' in table.group(1)
    assert '<script src="/static/live_log.js" defer></script>' in page.text
    assert 'id="live-toggle"' in page.text  # pausable
    older = await client.get("/log?before=50")
    assert "data-live" not in older.text and "live_log.js" not in older.text
    script = await client.get("/static/live_log.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/api/v1/audit?" in script.text and "after_id" in script.text
    assert (await client.get("/static/..%2Fapp.py")).status_code == 404
    assert (await client.get("/static/nothing.js")).status_code == 404


async def test_record_page_masks_secrets_and_shows_node_and_time(
    login: Login, database: Database
) -> None:
    await add(
        database,
        record(
            1,
            node="node-b",
            latency_us=2500,
            request=[["User-Name", "carol"], ["User-Password", "*** (masked)"]],
        ),
    )
    client = await login("audi")
    page = await client.get("/log/1")
    assert "node-b" in page.text and "2.500 ms" in page.text and "*** (masked)" in page.text


async def test_openapi_documents_the_new_filters_and_csv(login: Login) -> None:
    client = await login("audi")
    schema = (await client.get("/api/v1/openapi.json")).json()
    params = {p["name"] for p in schema["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"stream", "ssid", "policy_set", "after_id", "since", "until"} <= params
    csv_op = schema["paths"]["/api/v1/audit.csv"]["get"]
    assert "text/csv" in csv_op["responses"]["200"]["content"]
    assert "max_rows" in {p["name"] for p in csv_op["parameters"]}
    assert "/log.csv" not in schema["paths"]


async def test_unindexed_filters_search_a_bounded_range_per_page(
    login: Login, audit_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.audit.SCAN_ROWS", 30)
    client = await login("audi")
    pages, before = [], None
    while True:
        query = "reason_code=2" + (f"&before={before}" if before else "")
        page = (await client.get(f"/api/v1/audit?{query}")).json()
        pages.append(([i["id"] for i in page["items"]], page["searched_from"]))
        before = page["next_before"]
        if before is None:
            break
    assert pages == [
        ([120, 115, 110, 105, 100, 95], 91),
        ([90, 85, 80, 75, 70, 65], 61),
        ([60, 55, 50, 45, 40, 35], 31),
        ([30, 25, 20, 15, 10, 5], None),  # the rest is under the bound: searched whole
    ]
    none = await client.get("/log?reason_code=99")
    assert ids_in(none.text) == [] and "went back to decision 91" in none.text
    assert 'href="/log?reason_code=99&amp;before=91">search older decisions</a>' in none.text
    # A user or MAC filter has an index: not bounded.
    user = (await client.get("/api/v1/audit?user=user1&reason_code=2")).json()
    assert [i["id"] for i in user["items"]] == [105, 85, 65, 45, 25, 5]
    assert user["searched_from"] is None and user["next_before"] is None
