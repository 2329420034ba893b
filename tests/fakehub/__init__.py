"""A loopback fake of the Hugging Face Hub for tests and the offline demo.

``FakeHub`` and ``Fault`` import without pytest. The pytest fixture ``fake_hub`` (a started hub,
stopped after the test) is registered in tests/conftest.py, so a test just names it::

    from tests.fakehub import FakeHub, Fault

    def test_x(fake_hub: FakeHub) -> None:
        commit = fake_hub.add_repo("org/name", {"config.json": b"{}"})

It is also importable from here (lazily, so only test code pulls in pytest).
"""

from __future__ import annotations

from typing import Any

from tests.fakehub.model import FakeFile, Fault, git_blob_sha1, lfs_pointer, sha256
from tests.fakehub.server import FakeHub
from tests.fakehub.transport import RecordedRequest

__all__ = ["FakeFile", "FakeHub", "Fault", "RecordedRequest", "fake_hub", "git_blob_sha1", "lfs_pointer", "sha256"]


def __getattr__(name: str) -> Any:
    if name == "fake_hub":
        from tests.fakehub.fixture import fake_hub

        return fake_hub
    raise AttributeError(name)
