"""Fixtures shared by every test module.

``fake_hub``: a started loopback fake Hugging Face Hub (see tests/fakehub), stopped after the test.
``_private_modelguard_home`` (autouse): commands that default to ``$MODELGUARD_HOME`` (the audit log of
``lock``, a fetch without --cache-dir) write under the test's tmp_path, never the developer's home.
"""

from pathlib import Path

import pytest

from tests.fakehub.fixture import fake_hub

__all__ = ["fake_hub"]


@pytest.fixture(autouse=True)
def _private_modelguard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_HOME", str(tmp_path / "modelguard-home"))
