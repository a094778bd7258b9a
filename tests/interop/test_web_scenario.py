"""The long browser scenario against a real `nac serve --demo` (Playwright driving Debian's
chromium): log in, add an authorization rule through the policy page's form, move it above
the employees rule with the reorder buttons, run "what if" for alice and see it match; then the
real `radtest` gets the new VLAN in its Access-Accept, the decision appears in the live log and
its record's trace names the rule; finally log out and a protected page sends to the login."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop.conftest import SECRET, NacServer, make_server, require_tool
from tests.interop.test_web_console import CHROMIUM, CHROMIUM_ARGS, base, playwright_or_skip

pytestmark = pytest.mark.interop

RULE = "alice-lab"
CONDITION = '{"attr": "user.name", "op": "equals", "value": "alice"}'
RESULT = "contractors-vlan200"  # the demo's VLAN 200 result (alice is otherwise VLAN 100)


@pytest.fixture(scope="module")
def scenario_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NacServer]:
    require_tool("radtest")
    server = make_server(tmp_path_factory.mktemp("scenario"))  # its own: the policy changes
    server.start("--demo")
    yield server
    server.stop()


def radtest(server: NacServer, user: str, password: str) -> tuple[str, dict[str, str]]:
    """Run FreeRADIUS's radtest (PAP); the reply code and its attributes."""
    tool = require_tool("radtest")
    res = subprocess.run(
        [tool, user, password, f"127.0.0.1:{server.auth_port}", "0", SECRET],
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = res.stdout + res.stderr
    code = re.search(r"Received (Access-\w+)", out)
    attrs = dict(re.findall(r"^\s+([\w-]+)(?::\d+)? = \"?([^\"\n]*)\"?$", out, re.M))
    return (code.group(1) if code else "none"), attrs


def rule_order(page: Any) -> list[str]:
    rows = page.locator("#set-0 table.authorization tbody tr[data-rule]")
    return [rows.nth(i).get_attribute("data-rule") for i in range(rows.count())]


def test_rule_added_reordered_whatif_radtest_live_log_logout(
    scenario_server: NacServer,
) -> None:
    web = base(scenario_server)
    code, attrs = radtest(scenario_server, "alice", "alice-pass")
    before_vlan = attrs.get("Tunnel-Private-Group-Id")
    assert code == "Access-Accept" and before_vlan in ("100", "666"), (code, attrs)

    with playwright_or_skip()() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{web}/login")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", "admin-pass")
            page.click("button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))

            # The rule, through the form (added last).
            page.goto(f"{web}/policy")
            order = rule_order(page)
            assert order[0] == "employees" and RULE not in order
            new = page.locator("#set-0 details", has_text="New authorization rule")
            new.locator("summary").click()
            new.locator("input[name=name]").fill(RULE)
            new.locator("textarea[name=condition]").fill(CONDITION)
            new.locator("input[name=result]").fill(RESULT)
            new.locator("button[type=submit]").click()
            page.wait_for_load_state()
            assert rule_order(page)[-1] == RULE, rule_order(page)

            # Up with the reorder control until it is above employees.
            while rule_order(page).index(RULE) > 0:
                at = rule_order(page).index(RULE)
                row = page.locator(f'#set-0 tr[data-rule="{RULE}"]')
                row.locator('button[title="Move up"]').click()
                page.wait_for_function(
                    "([rule, at]) => [...document.querySelectorAll("
                    "'#set-0 table.authorization tbody tr[data-rule]')]"
                    ".findIndex(r => r.dataset.rule === rule) === at - 1",
                    arg=[RULE, at],
                )
            assert rule_order(page)[:2] == [RULE, "employees"]

            # What if: alice now matches the new rule.
            page.goto(f"{web}/policy/whatif")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=groups]", "employees")
            page.click("form.filters button[type=submit]")
            answer = page.locator("#answer")
            answer.wait_for()
            assert "accept" in answer.locator("h2").inner_text()
            assert RULE in answer.inner_text() and RESULT in answer.inner_text()

            # The real radtest: the workers picked up the new policy version.
            deadline = time.monotonic() + 10
            while True:
                code, attrs = radtest(scenario_server, "alice", "alice-pass")
                if attrs.get("Tunnel-Private-Group-Id") == "200" or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert code == "Access-Accept", (code, attrs)
            assert attrs.get("Tunnel-Private-Group-Id") == "200", attrs
            assert attrs.get("Tunnel-Type") == "VLAN" and attrs.get("Session-Timeout") == "3600"

            # The decision in the live log, its rule named; the record's trace says why.
            page.goto(f"{web}/log?user=alice")
            row = page.locator("#log tbody tr.accept", has_text=RULE).first
            row.wait_for(timeout=20_000)
            assert "alice" in row.inner_text()
            row.locator("td a").first.click()
            page.wait_for_url(re.compile(r"/log/\d+$"))
            trace = page.locator("ol.trace").inner_text()
            assert RULE in trace, trace
            assert "200" in page.locator("body").inner_text()  # the reply's VLAN
            # The deep link to the user's page.
            page.locator("a", has_text="alice").first.click()
            page.wait_for_url(re.compile(r"/users/alice$"))
            assert "employees" in page.locator("#user").inner_text()

            # Log out: a protected page sends back to the login.
            page.click("header form button[type=submit]")
            page.wait_for_url(re.compile(r"/login"))
            page.goto(f"{web}/policy")
            assert re.search(r"/login\?next=%2Fpolicy$|/login\?next=/policy$", page.url), page.url
            assert page.locator("input[name=password]").count() == 1
            assert not errors, errors
        finally:
            browser.close()
