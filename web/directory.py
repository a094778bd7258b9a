"""Shared by the directory pages and API (users, NAS clients, endpoints): form lists, field
errors from pydantic, generated RADIUS secrets."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError


def split_list(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (commas or whitespace)."""
    return [v for v in value.replace(",", " ").split() if v]


def new_secret() -> str:
    """A RADIUS shared secret (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def field_errors(exc: ValidationError) -> dict[str, str]:
    """{field: message} of a pydantic error (the first message per field; no input echoed)."""
    out: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ("",)
        field = str(loc[0])
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        out.setdefault(field, message)
    return out


def api_detail(fields: dict[str, str]) -> list[dict[str, Any]]:
    """FastAPI's 422 shape for errors found after parsing."""
    return [{"loc": ["body", f], "msg": m, "type": "value_error"} for f, m in fields.items()]
