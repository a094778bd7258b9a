"""The console's scripts in a real browser against a real `nac serve --demo`: the dashboard
draws its SVG charts from the API, the live log shows a new reject without a reload (and
stops when paused), collapsed into "x N" when it repeats the top row."""

from __future__ import annotations

import re

import pytest

from tests.interop.conftest import NacServer
from tests.interop.test_web_console import (
    CHROMIUM,
    CHROMIUM_ARGS,
    base,
    console_server,
    playwright_or_skip,
    reject,
)

pytestmark = pytest.mark.interop
__all__ = ["console_server"]  # the module fixture, shared


def test_dashboard_charts_and_live_log_in_a_browser(console_server: NacServer) -> None:
    sync_playwright = playwright_or_skip()
    reject(console_server, "dave")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base(console_server)}/login")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", "admin-pass")
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))  # the landing page
            chart = page.locator('#rate-charts .chart[data-protocol="radius"] svg')
            chart.wait_for(timeout=20_000)  # generous: CI runs two suites side by side
            assert page.locator('#rate-charts rect[data-result="reject"]').count() >= 1
            assert page.locator("#top-rejects tr.reject").count() >= 1
            assert "lab-switch" in page.locator("#nas-health").inner_text()

            page.goto(f"{base(console_server)}/log?stream=radius")
            newest = int(page.locator("#log tbody tr").first.get_attribute("data-id") or 0)
            reject(console_server, "erin")  # arrives while the page is open
            row = page.locator("#log tbody tr.reject", has_text="erin").first
            row.wait_for(timeout=20_000)  # polled every 2 s, no reload
            assert int(row.get_attribute("data-id") or 0) > newest
            assert "REJECT" in row.inner_text()
            reject(console_server, "erin")  # the same again: counted on the top row
            page.wait_for_function(
                "() => document.querySelector('#log tbody tr').dataset.repeats === '2'",
                timeout=20_000,
            )
            assert "\u00d7\u00a02" in page.locator("#log tbody tr").first.inner_text()
            page.click("#live-toggle")  # pause: nothing more arrives
            assert page.locator("#live-toggle").inner_text() == "Resume"
            count = page.locator("#log tbody tr").count()
            reject(console_server, "frank")
            page.wait_for_timeout(4500)
            assert page.locator("#log tbody tr").count() == count
            assert not errors, errors
        finally:
            browser.close()
