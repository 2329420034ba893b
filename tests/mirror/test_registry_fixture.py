"""The registry fixture never hides a gap: without the binary it fails under CI and skips (saying how to
install it) elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mirror.registry import registry_binary


def test_missing_binary_fails_under_ci_and_skips_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker-registry here
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the registry tests"):
        registry_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y docker-registry"):
        registry_binary()
