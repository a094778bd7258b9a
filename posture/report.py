"""The posture report schema: what nac-agent (or an MDM integration) posts.

    {"mac": "aa:bb:cc:dd:ee:ff",
     "facts": {"os.family": "linux", "os.version": "12", "firewall.enabled": true,
               "disk.encrypted": false, "av.running": true, "av.signature_age_days": 3,
               "patch.age_days": 12, "screen_lock.enabled": true, "site.asset_tag": "A-1234"},
     "collected_at": "2026-01-05T09:30:00+00:00",
     "agent": {"name": "nac-agent", "version": "0.1"}}

``facts`` is required: an object of fact keys (lowercase words joined by dots) to a string, a
number or a boolean; a ``null`` value says "not known" and is dropped. The documented keys
(`posture.model.FACT_TYPES`) must have their type: booleans for ``*.enabled``, ``*.encrypted``,
``av.running``; numbers >= 0 for ``*_age_days``; strings for ``os.*``. ``mac`` is the endpoint
the report is about. ``collected_at``, when present, is an ISO 8601 timestamp. Every other
top-level field is kept as it came (``extra``). A wrong report raises `PostureError` whose path
names the field, e.g. ``facts.firewall.enabled: expected true or false, got a string``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from posture.checks import FACT_KEY, MAX_FACT_KEY, fact_type, type_name
from posture.model import FactType, FactValue, PostureError

__all__ = ["MAX_FACTS", "MAX_TEXT", "PostureReport", "parse_report"]

MAX_FACTS: Final = 256
MAX_TEXT: Final = 1024
MAX_EXTRA: Final = 64


@dataclass(frozen=True, slots=True)
class PostureReport:
    facts: Mapping[str, FactValue]
    mac: str | None = None
    collected_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown top-level fields, kept


def _fact(key: str, value: object, path: str) -> FactValue:
    kind = fact_type(key)
    if kind is FactType.BOOL:
        if not isinstance(value, bool):
            raise PostureError(path, f"expected true or false, got {type_name(value)}")
        return value
    if kind is FactType.NUMBER:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise PostureError(path, f"expected a number of days, got {type_name(value)}")
        if not math.isfinite(value) or value < 0:
            raise PostureError(path, f"expected a number >= 0, got {value!r}")
        return value
    if kind is FactType.TEXT and not isinstance(value, str):
        raise PostureError(path, f"expected a string, got {type_name(value)}")
    if isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise PostureError(path, f"longer than {MAX_TEXT} characters")
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    raise PostureError(path, f"expected a string, a number or a boolean, got {type_name(value)}")


def parse_report(data: object) -> PostureReport:
    """Validate a decoded JSON report or raise `PostureError` naming the field at fault."""
    if not isinstance(data, Mapping):
        raise PostureError("", f"a report is a JSON object, got {type_name(data)}")
    if "facts" not in data:
        raise PostureError("facts", "required")
    raw = data["facts"]
    if not isinstance(raw, Mapping):
        raise PostureError("facts", f"expected an object of facts, got {type_name(raw)}")
    if len(raw) > MAX_FACTS:
        raise PostureError("facts", f"more than {MAX_FACTS} facts")
    facts: dict[str, FactValue] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > MAX_FACT_KEY or FACT_KEY.fullmatch(key) is None:
            raise PostureError(
                f"facts.{key}",
                "not a fact key (lowercase words joined by dots, e.g. disk.encrypted)",
            )
        if value is None:
            continue
        facts[key] = _fact(key, value, f"facts.{key}")
    mac = data.get("mac")
    if mac is not None and (not isinstance(mac, str) or len(mac) > 64):
        raise PostureError("mac", f"expected a MAC address string, got {type_name(mac)}")
    collected = None
    if data.get("collected_at") is not None:
        text = data["collected_at"]
        try:
            if not isinstance(text, str):
                raise ValueError
            collected = datetime.fromisoformat(text)
        except ValueError:
            raise PostureError(
                "collected_at", f"expected an ISO 8601 timestamp, got {text!r}"
            ) from None
        if collected.tzinfo is None:
            collected = collected.replace(tzinfo=UTC)
    extra = {k: v for k, v in data.items() if k not in ("facts", "mac", "collected_at")}
    if len(extra) > MAX_EXTRA:
        raise PostureError("", f"more than {MAX_EXTRA} top-level fields")
    return PostureReport(facts=facts, mac=mac, collected_at=collected, extra=extra)
