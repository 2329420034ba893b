"""Fixtures shared by every test module, and the walls every test runs inside.

``fake_hub``: a started loopback fake Hugging Face Hub (see tests/fakehub), stopped after the test.
``althub``: the same for the second, independently written Hub (see tests/althub).

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

And the rule-trigger registry: every finding modelguard's own code makes raises the
``modelguard.finding`` audit event (:func:`modelguard.report.rules.finding`); a hook records the
rule ids made during each test. A test that ``tests/report/rule_triggers.py`` names as the trigger
of a rule fails unless running it produced a finding of that rule (findings a test builds by hand do
not count). ``MODELGUARD_RULE_TRACE=FILE`` appends every test's rules to FILE (JSON lines), to find
triggers for the table.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import modelguard
from tests.althub import AltHub
from tests.fakehub.fixture import fake_hub
from tests.report.rule_triggers import TRIGGERS

__all__ = ["TEST_TODAY", "althub", "fake_hub"]


@pytest.fixture
def althub() -> Iterator[AltHub]:
    with AltHub() as hub:
        yield hub

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


# --- the rule-trigger registry --------------------------------------------------------------------

_PACKAGE = os.path.dirname(os.path.abspath(modelguard.__file__)) + os.sep
_made: set[str] = set()
_made_lock = threading.Lock()
_RULES_OF_TRIGGER: dict[str, set[str]] = {}
for _rule, _test in TRIGGERS.items():
    _RULES_OF_TRIGGER.setdefault(_test, set()).add(_rule)
DESELECTED: set[str] = set()
"""node ids deselected in this session (-k, -m): tests/report/test_rules.py counts them as existing"""


def _record_finding(event: str, args: tuple[Any, ...]) -> None:
    if event != "modelguard.finding":
        return
    # This hook <- rules.finding() or an error's __init__ chain <- the code that made the finding or
    # raised the error: count modelguard's own only, never a finding or error a test builds by hand.
    frame = sys._getframe(2)
    while frame.f_code.co_name == "__init__" and frame.f_back is not None:
        frame = frame.f_back
    if frame.f_code.co_filename.startswith(_PACKAGE):
        with _made_lock:
            _made.add(str(args[0]))


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_record_finding)  # once per process; audit hooks cannot be removed


def pytest_deselected(items: list[pytest.Item]) -> None:
    DESELECTED.update(item.nodeid for item in items)


@pytest.fixture(autouse=True)
def _rule_triggers(request: pytest.FixtureRequest) -> Iterator[None]:
    with _made_lock:
        _made.clear()
    yield
    with _made_lock:
        made = set(_made)
    trace = os.environ.get("MODELGUARD_RULE_TRACE")
    if trace and made:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": request.node.nodeid, "rules": sorted(made)}) + "\n")
    # The far-future run (tests/test_clock.py) moves the calendar on purpose: a trigger of a dated rule
    # (deprecated, expired) then rightly makes another finding. The registry holds on the pinned day.
    expected = set() if os.environ.get("MODELGUARD_TEST_TODAY") else _RULES_OF_TRIGGER.get(request.node.nodeid, set())
    missing = sorted(expected - made)
    if missing:
        pytest.fail(f"{request.node.nodeid} is the registered trigger of {', '.join(missing)} "
                    "(tests/report/rule_triggers.py), but running it produced no such finding")
