"""Schemathesis over the console API's OpenAPI schema (/api/v1/openapi.json): every operation,
called with an admin Bearer token against a live server, must never answer 5xx and must
answer what the schema documents (status code, content type, body schema).

``NAC_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (default 8: the whole run stays
well under two minutes on CI). `test_the_harness_fails_on_a_server_error` shows the harness
failing on a route that answers 500.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as openapi_checks

from nac.core.config import Settings
from nac.db import crud
from nac.db.demo import seed_demo
from nac.db.engine import create_engines
from nac.db.migrate import upgrade_database
from nac.db.models import AdminCreate, ApiTokenCreate
from web.app import create_app

EXAMPLES = int(os.environ.get("NAC_SCHEMATHESIS_EXAMPLES", "8"))
FUZZ_ADMIN = "fuzzer"
WITHOUT_COA = ("POST /api/v1/sessions/{id}/reauthenticate", "POST /api/v1/sessions/{id}/disconnect")
CHECKS = [
    st_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@dataclass
class LiveServer:
    """uvicorn in a thread with its own event loop (the app's database connections live
    there), on 127.0.0.1 and a free port."""

    app: Any
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    port: int = 0

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[sock])),  # type: ignore[union-attr]
            daemon=True,
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=20)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def run_schemathesis(
    base_url: str,
    token: str,
    *,
    examples: int = EXAMPLES,
    skip: Callable[[Any], bool] = lambda case: False,
) -> tuple[int, dict[str, str]]:
    """Every operation of the schema at ``base_url``/api/v1/openapi.json, ``examples``
    generated cases each; returns (operations run, {operation: first failure})."""
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", headers=auth)
    failures: dict[str, str] = {}
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        count += 1

        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            if skip(case):
                return
            response = case.call(base_url=base_url, headers=auth, timeout=30)
            case.validate_response(response, checks=CHECKS, headers=auth)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # failed checks (a FailureGroup), errors
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    return count, failures


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, int]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    db = os.environ.get("NAC_TEST_DATABASE_URL")
    if db:
        from tests.interop.conftest import fresh_postgres_database

        db = fresh_postgres_database(db)
    else:
        db = f"sqlite:///{tmp / 'nac.db'}"
    settings = Settings(data_dir=tmp / "data", db=db, node_name="fuzz-node")
    upgrade_database(settings)

    async def seed() -> tuple[str, int]:
        from nac.core.secrets import SecretBox

        database = create_engines(settings)
        try:
            async with database.session() as s:
                await seed_demo(s, box=SecretBox.open(settings.data_dir))
            async with database.session() as s:
                admin = AdminCreate(name=FUZZ_ADMIN, role="admin", password="fuzzer-pass-1")
                await crud.create_admin(s, admin=admin)
            async with database.session() as s:
                info, secret = await crud.create_api_token(
                    s, admin_name=FUZZ_ADMIN, token=ApiTokenCreate(name="fuzz", role="admin")
                )
            return secret, info.id
        finally:
            await database.dispose()

    token, token_id = asyncio.run(seed())
    server = LiveServer(create_app(settings, db=create_engines(settings)))
    server.start()
    yield server, token, token_id
    server.stop()


def test_no_operation_answers_5xx_or_off_schema(live: tuple[LiveServer, str, int]) -> None:
    server, token, token_id = live

    def skip(case: Any) -> bool:
        # Calls that would lock the harness out: revoking its own token, changing its admin.
        params = case.path_parameters or {}
        if case.operation.label in WITHOUT_COA:
            return True
        return str(params.get("token_id")) == str(token_id) or params.get("name") == FUZZ_ADMIN

    started = time.monotonic()
    count, failures = run_schemathesis(server.url, token, skip=skip)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {count} operations, {EXAMPLES} examples each, {elapsed:.1f} s")
    assert count >= 20
    assert not failures, "\n\n".join(f"{op}:\n{text}" for op, text in failures.items())
    # This app runs without the CoA client (nac serve gives worker 0 one): those two answer
    # their documented 503, never anything worse.
    for label in WITHOUT_COA:
        method, path = label.split(" ", 1)
        response = httpx.request(
            method,
            server.url + path.replace("{id}", "1"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 503, response.text
        assert "dynamic authorization is not running" in response.json()["detail"]


def test_the_harness_fails_on_a_server_error() -> None:
    """The same harness against a tiny API with one route that raises: reported as a failure
    of that operation (not_a_server_error), the healthy route passes."""
    app = FastAPI(openapi_url="/api/v1/openapi.json")

    @app.get("/api/v1/fine")
    async def fine() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/api/v1/broken")
    async def broken(n: int = 0) -> dict[str, int]:
        raise RuntimeError("boom")

    server = LiveServer(app)
    server.start()
    try:
        count, failures = run_schemathesis(server.url, "unused", examples=3)
    finally:
        server.stop()
    assert count == 2
    assert list(failures) == ["GET /api/v1/broken"]
    assert "Server error" in failures["GET /api/v1/broken"]
