"""Fixtures shared by every test module, and the walls every test runs inside.

``fake_hub``: a started loopback fake Hugging Face Hub (see tests/fakehub), stopped after the test.

Autouse, for every test:

* ``$MODELGUARD_HOME`` points under the test's tmp_path: commands that default to it (the audit log
  of ``lock``, a fetch without --cache-dir) never write to the developer's home.
* The calendar is pinned: ``$MODELGUARD_TODAY`` is ``TEST_TODAY`` (or ``$MODELGUARD_TEST_TODAY``,
  which ``test_clock.py`` sets far in the future to prove no test depends on the day it runs). A test
  whose outcome depends on the date pins its own with the ``today`` fixture.
* The developer's Hub and provider settings are out of reach: ``HF_TOKEN``, ``HF_ENDPOINT``, the
  ``hf auth login`` token file and provider keys are removed, so a test sees only what it sets.
* Only loopback network: a connection to any other address fails at once (in this process; the
  subprocesses tests start are given loopback endpoints explicitly).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakehub.fixture import fake_hub

__all__ = ["TEST_TODAY", "fake_hub"]

TEST_TODAY = os.environ.get("MODELGUARD_TEST_TODAY", "2026-11-26")

_OUTSIDE_ENV = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_HOME",
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY", "MODELGUARD_SIGNING_KEY", "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def _walls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OUTSIDE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-hf-login-token"))
    monkeypatch.setenv("MODELGUARD_HOME", str(tmp_path / "modelguard-home"))
    monkeypatch.setenv("MODELGUARD_TODAY", TEST_TODAY)


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Pin the calendar for a test whose verdict depends on it: ``today("2026-11-26")``."""
    def pin(day: str) -> None:
        monkeypatch.setenv("MODELGUARD_TODAY", day)
    return pin


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and other families: not the network
    host = str(address[0]).split("%")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise OSError(f"tests may only use loopback network; refused a connection to {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise OSError(f"tests may only use loopback network; refused a connection to {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
