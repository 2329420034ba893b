"""The calendar is read in one place, and no test depends on the day the suite runs.

``test_date_sensitive_tests_hold_far_in_the_future`` re-runs every test module whose verdicts
involve dates (provider lifecycle, catalog staleness, suppression expiry, revocation) with the
suite's default day moved to 2199: a test that relied on "today" being near the catalog's date
fails there, so it must pin its own day with the ``today`` fixture.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelguard import clock
from modelguard.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATE_SENSITIVE = [
    "tests/providers", "tests/trust/test_suppress.py", "tests/trust/test_suppress_integration.py",
    "tests/trust/test_revocation.py", "tests/flows/test_verify.py", "tests/test_clock.py",
]


def test_today_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_ENV, "2031-02-03")
    assert clock.today() == dt.date(2031, 2, 3)


def test_without_the_variable_today_is_the_utc_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.TODAY_ENV)
    before = dt.datetime.now(dt.timezone.utc).date()
    assert before <= clock.today() <= dt.datetime.now(dt.timezone.utc).date()


def test_a_bad_date_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_ENV, "next tuesday")
    with pytest.raises(ConfigError, match="MODELGUARD_TODAY='next tuesday' is not an ISO date"):
        clock.today()


def test_the_calendar_is_read_only_in_clock() -> None:
    offenders = []
    for path in (ROOT / "modelguard").rglob("*.py"):
        if path.name == "clock.py":
            continue
        text = path.read_text()
        for needle in ("date.today()", ".now(", "utcnow("):
            if needle in text and not (needle == ".now(" and _only_records(text)):
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def _only_records(text: str) -> bool:
    """``datetime.now`` is allowed where it stamps a record (audit time, admitted-at), not a decision."""
    lines = [line for line in text.splitlines() if ".now(" in line]
    return all("isoformat(timespec=" in line for line in lines)


@pytest.mark.slow
def test_date_sensitive_tests_hold_far_in_the_future() -> None:
    if os.environ.get("MODELGUARD_TEST_TODAY"):
        pytest.skip("already the far-future run")  # the inner run must not start itself again
    env = {**os.environ, "MODELGUARD_TEST_TODAY": "2199-01-01"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *DATE_SENSITIVE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
