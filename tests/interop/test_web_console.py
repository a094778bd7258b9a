"""The web console served by a real `nac serve --demo`: logged in over HTTP, and in a real
browser (Playwright driving Debian's chromium; `playwright install` is not used)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.interop.conftest import NacServer, make_server, radclient, require_tool

pytestmark = pytest.mark.interop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    require_tool("radclient")
    server = make_server(tmp_path_factory.mktemp("console"))
    server.start("--demo")
    yield server
    server.stop()


def base(server: NacServer) -> str:
    return f"http://127.0.0.1:{server.web_port}"


def reject(server: NacServer, user: str) -> None:
    reply = radclient(
        server.auth_port, "auth", f"User-Name = {user}\nUser-Password = not-the-password\n"
    )
    assert reply.code == "Access-Reject", reply.raw


def wait_for(check, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def playwright_or_skip() -> Any:
    """Playwright's ``sync_playwright`` for the Debian chromium; the test is skipped without
    them (and fails on CI)."""
    if not os.path.exists(CHROMIUM):
        message = "chromium is not installed (Debian package chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    return sync_playwright


def log_in(client: httpx.Client, name: str, password: str) -> int:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    data = {"name": name, "password": password, "csrf_token": csrf.group(1)}
    return client.post("/login", data=data).status_code


def test_console_listens_on_its_port_and_logs_it(console_server: NacServer) -> None:
    assert f"port {console_server.web_port} (web console)" in console_server.log()
    response = httpx.get(f"{base(console_server)}/log", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_reject_over_http_api_with_the_replayed_trace(console_server: NacServer) -> None:
    reject(console_server, "bob")
    with httpx.Client(base_url=base(console_server)) as client:
        assert log_in(client, "admin", "admin-pass") == 303

        def found() -> list[dict[str, object]]:
            return client.get("/api/v1/audit?user=bob&result=reject").json()["items"]

        items = wait_for(found)
        assert items, "the reject did not reach the audit log"
        record = client.get(f"/api/v1/audit/{items[0]['id']}").json()
    assert record["reason"] == "wrong password"
    names = [name for name, _ in record["request"]]
    assert "User-Name" in names and "User-Password" in names
    assert "not-the-password" not in str(record)  # the secret is masked
    assert any("wrong password" in line for line in record["trace"]), record["trace"]


def test_browser_sees_the_reject_in_red_and_why(console_server: NacServer) -> None:
    sync_playwright = playwright_or_skip()
    reject(console_server, "alice")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base(console_server)}/log")
            assert "/login" in page.url  # sent to log in first
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", "admin-pass")
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/log$"))

            row = page.locator("tr.reject", has_text="alice").first
            for _ in range(50):
                if row.count():
                    break
                page.wait_for_timeout(100)
                page.reload()
            assert row.count(), page.content()
            color = row.locator("td").first.evaluate("e => getComputedStyle(e).color")
            assert color == "rgb(160, 0, 0)", color  # red

            row.locator("a").first.click()
            page.wait_for_url(re.compile(r"/log/\d+$"))
            body = page.locator("main").inner_text()
            assert "wrong password" in body
            assert "Why: the decision replayed" in body and "User-Name" in body
            assert "not-the-password" not in page.content()
        finally:
            browser.close()


def test_first_start_prints_a_one_time_admin_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = make_server(tmp_path)
    server.start()
    try:
        match = re.search(
            r"console admin 'admin' created with the one-time password (\S+)", server.log()
        )
        assert match, server.log()
        with httpx.Client(base_url=base(server)) as client:
            assert log_in(client, "admin", "admin-pass") == 401  # never the demo's
            assert log_in(client, "admin", match.group(1)) == 303
    finally:
        assert server.stop() == 0
    server.start()  # printed once only
    try:
        assert server.log().count("one-time password") == 1
    finally:
        server.stop()


def test_web_port_0_serves_no_console(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = make_server(tmp_path)
    port = server.web_port
    server.web_port = 0
    server.start()
    try:
        assert "web console" not in server.log()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/login")
    finally:
        assert server.stop() == 0


def test_metrics_for_prometheus_count_the_decisions(console_server: NacServer) -> None:
    """/metrics: refused without credentials (401, for a scraper), and with a console session
    the text exposition counts this server's rejects by NAS and reason code."""
    from prometheus_client.parser import text_string_to_metric_families

    assert httpx.get(f"{base(console_server)}/metrics").status_code == 401
    reject(console_server, "bob")
    with httpx.Client(base_url=base(console_server)) as client:
        assert log_in(client, "admin", "admin-pass") == 303

        def rejects() -> float:
            text = client.get("/metrics").text
            for family in text_string_to_metric_families(text):
                if family.name == "nac_decisions":
                    return sum(
                        s.value
                        for s in family.samples
                        if s.name == "nac_decisions_total"
                        and s.labels.get("result") == "reject"
                        and s.labels.get("reason") == "12011"
                        and s.labels.get("nas") == "lab-switch"
                    )
            return 0.0

        assert wait_for(rejects) >= 1
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "nac_writer_queue_depth" in response.text
    assert "nac_decision_latency_seconds_bucket" in response.text
