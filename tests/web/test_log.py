"""The live log and the record page, as HTML and as JSON; errors as pages and as JSON."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from .conftest import T0, Login, new_client


async def test_log_newest_first_with_keyset_pages(login: Login, audit_rows: int) -> None:
    client = await login("audi")
    first = await client.get("/log")
    assert first.status_code == 200
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', first.text)]
    assert ids == list(range(120, 70, -1))  # 50 newest, newest first
    link = re.search(r'rel="next" href="/log\?([^"]+)"', first.text)
    assert link and link.group(1) == "before=71"
    second = await client.get("/log?before=71")
    ids2 = [int(i) for i in re.findall(r'data-id="(\d+)"', second.text)]
    assert ids2 == list(range(70, 20, -1))
    third = await client.get("/log?before=21")
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', third.text)] == list(range(20, 0, -1))
    assert 'rel="next"' not in third.text


async def test_rejects_are_red_and_link_to_their_record(login: Login, audit_rows: int) -> None:
    client = await login("audi")
    page = await client.get("/log?result=reject")
    rows = re.findall(r'<tr class="(\w+)" data-id="(\d+)"', page.text)
    assert rows and all(cls == "reject" for cls, _ in rows)
    assert "tr.reject td" in page.text and "#a00000" in page.text  # the red
    assert 'href="/log/120"' in page.text


async def test_filters(login: Login, audit_rows: int) -> None:
    client = await login("audi")

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/api/v1/audit?{query}&limit=500")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids("user=user1") == list(range(117, 0, -4))
    assert await ids("mac=00-11-22-33-44-0A") == [10]
    assert await ids("nas=sw2") == list(range(120, 0, -3))
    assert await ids("nas=10.0.0.1") == list(range(120, 0, -1))
    assert await ids("result=reject&reason_code=2") == list(range(120, 0, -5))
    assert await ids("protocol=radius") == list(range(119, 0, -2))
    since = (T0.replace(second=10)).isoformat()
    until = (T0.replace(second=13)).isoformat().replace("+00:00", "")  # naive: UTC
    assert await ids(f"since={since.replace('+', '%2B')}&until={until}") == [12, 11, 10]
    # The HTML filter form sends empty fields: they mean "any".
    html = await client.get("/log?user=&mac=&nas=&result=reject&reason_code=&since=&until=")
    assert html.status_code == 200
    assert len(re.findall(r'<tr class="reject"', html.text)) == 24


async def test_bad_query_values_name_the_field(login: Login, anon: httpx.AsyncClient) -> None:
    client = await login("audi")
    for query, field in [
        ("before=abc", "before"),
        ("before=0", "before"),
        ("limit=100000", "limit"),
        ("mac=not-a-mac", "mac"),
        ("since=yesterday", "since"),
        ("since=2026-01-01T00:00&until=2026-03-01T00:00", "since"),
        ("since=2026-01-02T00:00&until=2026-01-01T00:00", "until"),
        ("reason_code=-1", "reason_code"),
    ]:
        api = await client.get(f"/api/v1/audit?{query}")
        assert api.status_code == 422, (query, api.text)
        assert api.json()["detail"][0]["loc"] == ["query", field], (query, api.json())
        page = await client.get(f"/log?{query}")
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
        assert f"{field}:" in page.text, (query, page.text)
        assert "Traceback" not in page.text


async def test_record_page_shows_attributes_trace_latency_node(
    login: Login, audit_rows: int
) -> None:
    client = await login("audi")
    page = await client.get("/log/10")
    assert page.status_code == 200
    text = page.text
    assert "2 wrong password" in text and "result-reject" in text
    assert "User-Name" in text and "*** (masked)" in text and "Reply-Message" in text
    assert "authentication internal: step 10" in text
    assert "1.234 ms" in text and "node-a" in text


async def test_audit_json_matches_the_page(login: Login, audit_rows: int) -> None:
    client = await login("audi")
    record = (await client.get("/api/v1/audit/10")).json()
    assert record["id"] == 10 and record["result"] == "reject" and record["node"] == "node-a"
    assert record["request"] == [["User-Name", "user2"], ["User-Password", "*** (masked)"]]
    assert record["trace"][-1] == "authentication internal: step 10"
    assert record["latency_us"] == 1234
    page = (await client.get("/api/v1/audit?limit=2")).json()
    assert [i["id"] for i in page["items"]] == [120, 119] and page["next_before"] == 119


async def test_openapi_documents_the_audit_api(login: Login) -> None:
    client = await login("audi")
    schema = (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/audit" in schema["paths"] and "/api/v1/audit/{id}" in schema["paths"]
    params = {p["name"] for p in schema["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"user", "mac", "nas", "result", "reason_code", "protocol", "since", "until"} <= params
    assert "AuditRecord" in schema["components"]["schemas"]
    assert "/log" not in schema["paths"]  # pages are not API


async def test_not_found_is_a_page_or_json(login: Login) -> None:
    client = await login("audi")
    page = await client.get("/log/999")
    assert page.status_code == 404 and "<h1>404 Not found</h1>" in page.text
    unknown = await client.get("/no/such/page")
    assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
    api = await client.get("/api/v1/audit/999")
    assert api.status_code == 404 and api.json() == {"detail": "audit record 999 does not exist"}
    assert (await client.get("/api/v1/nothing")).json() == {"detail": "Not Found"}


async def test_server_error_is_a_page_or_json_without_a_trace(app: FastAPI, login: Login) -> None:
    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/boom", boom)
    async with new_client(app, raise_errors=False) as client:
        api = await client.get("/api/v1/boom")
        assert api.status_code == 500 and api.json() == {
            "detail": "internal error (logged on the server)"
        }
        page = await client.get("/boom")
        assert page.status_code == 500 and "<h1>500 Server error</h1>" in page.text
        assert "secret internals" not in page.text and "Traceback" not in page.text


async def test_endpoints_operator_acts_auditor_reads(login: Login) -> None:
    oper, audi = await login("oper"), await login("audi")
    created = await oper.post("/api/v1/endpoints", json={"mac": "AA-BB-CC-00-00-01"})
    assert created.status_code == 201 and created.json()["mac"] == "aa:bb:cc:00:00:01"
    again = await oper.post("/api/v1/endpoints", json={"mac": "aa:bb:cc:00:00:01"})
    assert again.status_code == 409
    bad = await oper.post("/api/v1/endpoints", json={"mac": "zz"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "mac"]
    assert "input" not in bad.json()["detail"][0]  # inputs (maybe secrets) not echoed whole
    assert [e["mac"] for e in (await audi.get("/api/v1/endpoints")).json()] == ["aa:bb:cc:00:00:01"]
    assert (await audi.delete("/api/v1/endpoints/aa:bb:cc:00:00:01")).status_code == 403
    assert (await oper.delete("/api/v1/endpoints/aa:bb:cc:00:00:01")).status_code == 204
    assert (await oper.delete("/api/v1/endpoints/aa:bb:cc:00:00:01")).status_code == 404
