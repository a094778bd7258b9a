"""Logging setup: text or JSON lines on stderr, with secrets masked (belt and braces).

Code never logs a secret on purpose; `SecretMaskFilter` also replaces the value of any
``extra`` field whose name looks like a secret (``secret``, ``password``, ``key``, ...).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

MASK = "***"
_SECRET_WORDS = frozenset({"secret", "password", "passwd", "key", "token", "psk"})
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_HANDLER_NAME = "nac"


def is_secret_name(name: str) -> bool:
    """True for field names such as ``secret``, ``tacacs_key``, ``user-password``, ``apiKey``."""
    words = re.split(r"[_\-\s.]+|(?<=[a-z])(?=[A-Z])", name)
    return any(word.lower() in _SECRET_WORDS for word in words)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record (everything not a standard LogRecord attribute)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class SecretMaskFilter(logging.Filter):
    """Masks the value of every ``extra`` field whose name looks like a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in extra_fields(record):
            if is_secret_name(name):
                setattr(record, name, MASK)
        return True


class TextFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.123Z INFO nac.x: message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        line = f"{ts}Z {record.levelname} {record.name}: {record.getMessage()}"
        extras = extra_fields(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(
    level: str = "info", fmt: Literal["text", "json"] = "text", *, stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger once (calling again replaces nac's handler). Returns it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretMaskFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic narrates every plugin and revision at INFO; keep that for --log-level debug.
    quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    logging.getLogger("alembic").setLevel(quiet)
    return handler
