"""Fixtures for the policy tests; the helpers they use live in policy_helpers.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from policy_helpers import DirectoryResolver, User, demo_document

from policy import PolicySnapshot, compile_policy


@pytest.fixture
def resolver() -> DirectoryResolver:
    return DirectoryResolver(
        users={
            "alice": User("alice-pw", frozenset({"employees"})),
            "carol": User("carol-pw", frozenset({"contractors"})),
            "dave": User("dave-pw", frozenset({"employees"}), enabled=False),
            "gina": User("gina-pw", frozenset()),
            "admin": User("admin-pw", frozenset({"netadmins"})),
            "ops": User("ops-pw", frozenset({"netops"})),
        },
        endpoints={
            "00:11:22:33:44:55": frozenset(),  # a printer
            "00:11:22:33:44:66": frozenset(),  # a camera
        },
    )


@pytest.fixture
def demo() -> PolicySnapshot:
    return compile_policy(demo_document())


@pytest.fixture
def compile_with() -> Callable[[Callable[[dict[str, Any]], None]], PolicySnapshot]:
    """Compile the demo after `edit` changed it in place."""

    def build(edit: Callable[[dict[str, Any]], None]) -> PolicySnapshot:
        doc = demo_document()
        edit(doc)
        return compile_policy(doc)

    return build
