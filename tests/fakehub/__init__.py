"""The loopback fake Hugging Face Hub, as the tests use it.

The server lives in the package (:mod:`modelguard.demo.fakehub`) because ``modelguard demo``
serves its models with it; this module re-exports it and adds the pytest fixture.

``FakeHub`` and ``Fault`` import without pytest. The pytest fixture ``fake_hub`` (a started hub,
stopped after the test) is registered in tests/conftest.py, so a test just names it::

    from tests.fakehub import FakeHub, Fault

    def test_x(fake_hub: FakeHub) -> None:
        commit = fake_hub.add_repo("org/name", {"config.json": b"{}"})

It is also importable from here (lazily, so only test code pulls in pytest).
"""

from __future__ import annotations

from typing import Any

from modelguard.demo.fakehub import FakeFile, FakeHub, Fault, RecordedRequest, git_blob_sha1, lfs_pointer, sha256

__all__ = ["FakeFile", "FakeHub", "Fault", "RecordedRequest", "fake_hub", "git_blob_sha1", "lfs_pointer", "sha256"]


def __getattr__(name: str) -> Any:
    if name == "fake_hub":
        from tests.fakehub.fixture import fake_hub

        return fake_hub
    raise AttributeError(name)
