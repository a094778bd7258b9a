from __future__ import annotations

import io
import json
import logging

from nac.core.logging import is_secret_name, setup_logging


def test_json_lines_mask_secret_extras() -> None:
    stream = io.StringIO()
    handler = setup_logging("debug", "json", stream=stream)
    try:
        logging.getLogger("nac.test").info(
            "client %s added", "sw1", extra={"secret": "s3", "tacacs_key": "k", "user": "alice"}
        )
        record = json.loads(stream.getvalue())
        assert record["msg"] == "client sw1 added"
        assert record["level"] == "info"
        assert record["secret"] == "***" and record["tacacs_key"] == "***"
        assert record["user"] == "alice"
        assert "s3" not in stream.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)


def test_text_format_masks_too() -> None:
    stream = io.StringIO()
    handler = setup_logging("info", "text", stream=stream)
    try:
        logging.getLogger("nac.test").warning("x", extra={"password": "hunter2"})
        line = stream.getvalue()
        assert "WARNING nac.test: x password=***" in line
        assert "hunter2" not in line
    finally:
        logging.getLogger().removeHandler(handler)


def test_secret_names() -> None:
    for name in ("secret", "shared_secret", "password", "userPassword", "tacacs-key", "key"):
        assert is_secret_name(name), name
    for name in ("user", "nas", "keyword", "monkey"):
        assert not is_secret_name(name), name
