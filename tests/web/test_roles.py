"""Every route of the app is refused without a login and to a role below its own.

The table below names the lowest role of each route; a route missing from it (or listed
but gone) fails the test, so a new route cannot ship without its role being decided here.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from nac.db.models import ADMIN_ROLES, role_rank

from .conftest import Login

PUBLIC = None
ROUTE_ROLES: dict[tuple[str, str], str | None] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): "auditor",
    ("GET", "/"): "auditor",
    ("GET", "/log"): "auditor",
    ("GET", "/log/{id}"): "auditor",
    ("GET", "/log.csv"): "auditor",
    ("GET", "/dashboard"): "auditor",
    ("GET", "/static/{name}"): PUBLIC,
    ("GET", "/api/v1/dashboard"): "auditor",
    ("GET", "/api/v1/audit.csv"): "auditor",
    ("GET", "/account"): "auditor",
    ("POST", "/account/password"): "auditor",
    ("GET", "/tokens"): "admin",
    ("POST", "/tokens"): "admin",
    ("POST", "/tokens/{token_id}/revoke"): "admin",
    ("GET", "/api/v1/me"): "auditor",
    ("GET", "/metrics"): "auditor",
    ("GET", "/api/v1/audit"): "auditor",
    ("GET", "/api/v1/audit/{id}"): "auditor",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "admin",
    ("GET", "/api/v1/endpoints"): "auditor",
    ("POST", "/api/v1/endpoints"): "operator",
    ("DELETE", "/api/v1/endpoints/{mac}"): "operator",
    ("GET", "/api/v1/openapi.json"): "auditor",
    ("GET", "/policy"): "auditor",
    ("POST", "/policy/sets/{s}/rules"): "admin",
    ("POST", "/policy/sets/{s}/rules/{r}"): "admin",
    ("POST", "/policy/sets/{s}/rules/{r}/move"): "admin",
    ("POST", "/policy/sets/{s}/rules/{r}/state"): "admin",
    ("POST", "/policy/sets/{s}/rules/{r}/delete"): "admin",
    ("GET", "/policy/versions"): "auditor",
    ("GET", "/policy/versions/{n}"): "auditor",
    ("POST", "/policy/versions/{n}/rollback"): "admin",
    ("GET", "/policy/whatif"): "auditor",
    ("POST", "/policy/whatif"): "auditor",
    ("GET", "/api/v1/policy"): "auditor",
    ("PUT", "/api/v1/policy"): "admin",
    ("GET", "/api/v1/policy/versions"): "auditor",
    ("GET", "/api/v1/policy/versions/{n}"): "auditor",
    ("POST", "/api/v1/policy/rollback/{n}"): "admin",
    ("POST", "/api/v1/policy/whatif"): "auditor",
    ("GET", "/users"): "auditor",
    ("POST", "/users"): "admin",
    ("POST", "/users/{name}"): "admin",
    ("POST", "/users/{name}/delete"): "admin",
    ("GET", "/clients"): "auditor",
    ("POST", "/clients"): "admin",
    ("POST", "/clients/{name}/rotate-secret"): "admin",
    ("POST", "/clients/{name}/delete"): "admin",
    ("GET", "/endpoints"): "auditor",
    ("POST", "/endpoints"): "operator",
    ("POST", "/endpoints/{mac}"): "operator",
    ("POST", "/endpoints/{mac}/delete"): "operator",
    ("GET", "/api/v1/users"): "auditor",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/{name}"): "auditor",
    ("PATCH", "/api/v1/users/{name}"): "admin",
    ("DELETE", "/api/v1/users/{name}"): "admin",
    ("GET", "/api/v1/clients"): "auditor",
    ("POST", "/api/v1/clients"): "admin",
    ("GET", "/api/v1/clients/{name}"): "auditor",
    ("PATCH", "/api/v1/clients/{name}"): "admin",
    ("DELETE", "/api/v1/clients/{name}"): "admin",
    ("POST", "/api/v1/clients/{name}/rotate-secret"): "admin",
    ("GET", "/api/v1/endpoints/{mac}"): "auditor",
    ("PATCH", "/api/v1/endpoints/{mac}"): "operator",
    ("GET", "/import"): "operator",
    ("POST", "/import/users"): "admin",
    ("POST", "/import/endpoints"): "operator",
    ("POST", "/import/config"): "admin",
    ("POST", "/api/v1/users/import"): "admin",
    ("POST", "/api/v1/endpoints/import"): "operator",
    ("GET", "/api/v1/config/export"): "admin",
    ("POST", "/api/v1/config/import"): "admin",
    # Posture: the report route takes a posture enrollment token, never a console session or
    # an admin API token (tests/web/test_posture_api.py refuses those with 401).
    ("POST", "/api/v1/posture/reports"): PUBLIC,
    ("GET", "/api/v1/endpoints/{mac}/posture"): "auditor",
    ("POST", "/api/v1/posture/tokens"): "admin",
    ("GET", "/api/v1/posture/tokens"): "admin",
    ("DELETE", "/api/v1/posture/tokens/{token_id}"): "admin",
    ("GET", "/sessions"): "auditor",
    ("POST", "/sessions/{id}/reauthenticate"): "operator",
    ("POST", "/sessions/{id}/disconnect"): "operator",
    ("GET", "/api/v1/sessions"): "auditor",
    ("POST", "/api/v1/sessions/{id}/reauthenticate"): "operator",
    ("POST", "/api/v1/sessions/{id}/disconnect"): "operator",
    ("GET", "/groups"): "auditor",
    ("POST", "/groups"): "admin",
    ("POST", "/groups/{name}"): "admin",
    ("POST", "/groups/{name}/delete"): "admin",
    ("GET", "/api/v1/groups"): "auditor",
    ("POST", "/api/v1/groups"): "admin",
    ("GET", "/api/v1/groups/{name}"): "auditor",
    ("PATCH", "/api/v1/groups/{name}"): "admin",
    ("DELETE", "/api/v1/groups/{name}"): "admin",
    ("GET", "/tacacs"): "auditor",
    ("POST", "/tacacs/command-sets"): "admin",
    ("POST", "/tacacs/command-sets/{name}"): "admin",
    ("POST", "/tacacs/command-sets/{name}/delete"): "admin",
    ("POST", "/tacacs/shell-profiles"): "admin",
    ("POST", "/tacacs/shell-profiles/{name}"): "admin",
    ("POST", "/tacacs/shell-profiles/{name}/delete"): "admin",
    ("GET", "/api/v1/tacacs/command-sets"): "auditor",
    ("POST", "/api/v1/tacacs/command-sets"): "admin",
    ("GET", "/api/v1/tacacs/command-sets/{name}"): "auditor",
    ("PUT", "/api/v1/tacacs/command-sets/{name}"): "admin",
    ("DELETE", "/api/v1/tacacs/command-sets/{name}"): "admin",
    ("GET", "/api/v1/tacacs/shell-profiles"): "auditor",
    ("POST", "/api/v1/tacacs/shell-profiles"): "admin",
    ("GET", "/api/v1/tacacs/shell-profiles/{name}"): "auditor",
    ("PUT", "/api/v1/tacacs/shell-profiles/{name}"): "admin",
    ("DELETE", "/api/v1/tacacs/shell-profiles/{name}"): "admin",
    ("GET", "/admins"): "admin",
    ("POST", "/admins"): "admin",
    ("POST", "/admins/{name}/role"): "admin",
    ("POST", "/admins/{name}/disable"): "admin",
    ("POST", "/admins/{name}/enable"): "admin",
    ("POST", "/admins/{name}/reset-password"): "admin",
    ("GET", "/api/v1/admins"): "admin",
    ("POST", "/api/v1/admins"): "admin",
    ("GET", "/api/v1/admins/{name}"): "admin",
    ("PATCH", "/api/v1/admins/{name}"): "admin",
    ("POST", "/api/v1/admins/{name}/reset-password"): "admin",
    ("GET", "/changes"): "auditor",
    ("GET", "/changes/{id}"): "auditor",
    ("GET", "/api/v1/changes"): "auditor",
    ("GET", "/api/v1/changes/{id}"): "auditor",
    ("GET", "/endpoints/{mac}"): "auditor",
    ("POST", "/endpoints/{mac}/block"): "operator",
    ("POST", "/endpoints/{mac}/unblock"): "operator",
    ("POST", "/endpoints/{mac}/reauthenticate"): "operator",
    ("GET", "/users/{name}"): "auditor",
    ("GET", "/api/v1/endpoints/{mac}/detail"): "auditor",
    ("GET", "/api/v1/users/{name}/detail"): "auditor",
}
USER_FOR_ROLE = {"auditor": "audi", "operator": "oper", "admin": "root"}
PATH_VALUES = {
    "{id}": "1",
    "{token_id}": "999",
    "{mac}": "00:11:22:33:44:55",
    "{n}": "1",
    "{s}": "0",
    "{r}": "0",
    "{name}": "nobody",
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, routers included (FastAPI >= 0.16x keeps included
    routers as one entry of ``app.routes``; ``iter_route_contexts`` walks into them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    out: set[tuple[str, str]] = set()
    for route in contexts:
        original = getattr(route, "original_route", route)
        assert isinstance(original, APIRoute), f"unexpected route {route!r}: give it a role"
        assert route.methods and route.path, route
        for method in route.methods:
            out.add((method, route.path))
    return out


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    return path


def api_like(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics"


async def test_the_role_table_covers_every_route(app: FastAPI) -> None:
    assert app_routes(app) == set(ROUTE_ROLES)


async def test_every_route_refuses_the_unauthenticated(
    app: FastAPI, anon: httpx.AsyncClient
) -> None:
    for method, path in sorted(app_routes(app)):
        if ROUTE_ROLES[(method, path)] is PUBLIC:
            continue
        response = await anon.request(method, concrete(path))
        if api_like(path):
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/json")
        else:
            assert response.status_code == 303, (method, path, response.text)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        # A bearer token that does not exist is refused the same way on the API.
        bad = await anon.request(
            method, concrete(path), headers={"Authorization": "Bearer nac_nope"}
        )
        assert bad.status_code == (401 if api_like(path) else 303), (method, path)


async def test_every_route_refuses_a_lower_role(app: FastAPI, login: Login) -> None:
    """With a valid session and its CSRF token, a role below the route's gets 403; its own
    role or higher is let through (whatever the route then answers, never 401/403)."""
    clients = {role: await login(user) for role, user in USER_FOR_ROLE.items()}
    checked = 0
    for method, path in sorted(app_routes(app)):
        needed = ROUTE_ROLES[(method, path)]
        if needed is PUBLIC or path == "/logout":  # every role may; it would end the sessions
            continue
        for role in ADMIN_ROLES:
            response = await clients[role].request(method, concrete(path))
            if role_rank(role) < role_rank(needed):
                assert response.status_code == 403, (role, method, path, response.text)
                assert f"needs role {needed}" in response.text, (role, method, path)
                checked += 1
            else:
                assert response.status_code not in (401, 403), (role, method, path)
    assert checked >= 10


async def test_bearer_tokens_are_held_to_their_role(
    app: FastAPI, login: Login, anon: httpx.AsyncClient
) -> None:
    root = await login("root")
    tokens = {}
    for role in ADMIN_ROLES:
        created = await root.post("/api/v1/tokens", json={"name": f"t-{role}", "role": role})
        tokens[role] = created.json()["token"]
    for method, path in sorted(app_routes(app)):
        needed = ROUTE_ROLES[(method, path)]
        if needed is PUBLIC or not api_like(path):
            continue
        for role, token in tokens.items():
            response = await anon.request(
                method, concrete(path), headers={"Authorization": f"Bearer {token}"}
            )
            if role_rank(role) < role_rank(needed):
                assert response.status_code == 403, (role, method, path)
            else:
                assert response.status_code not in (401, 403), (role, method, path)
