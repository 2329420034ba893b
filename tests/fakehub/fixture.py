"""pytest fixture: a started :class:`~tests.fakehub.FakeHub`, stopped after the test.

Use it with ``from tests.fakehub import fake_hub  # noqa: F401`` in a test module (or list
``tests.fakehub.fixture`` in ``pytest_plugins``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelguard.demo.fakehub import FakeHub


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub
