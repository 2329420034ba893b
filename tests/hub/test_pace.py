"""modelguard.hub.pace: a transfer's deadline and minimum rate, with the clock passed in (no wall clock)."""

from __future__ import annotations

import pytest

from modelguard.hub.pace import Pace, Stalled
from modelguard.spec.limits import BUDGETS


def test_a_steady_transfer_passes_every_window() -> None:
    pace = Pace("f", 0.0, deadline=100.0, min_rate=10.0, window=5.0)
    for second in range(1, 100):
        pace.arrived(20, float(second))
    assert pace.received == 1980


def test_one_byte_every_two_seconds_stalls_at_the_end_of_the_first_window() -> None:
    pace = Pace("acme/tiny@abc:model.bin", 0.0, deadline=1e9, min_rate=4096.0, window=60.0)
    with pytest.raises(Stalled) as e:
        for tick in range(1, 100):
            pace.arrived(1, 2.0 * tick)
    assert tick == 30 and e.value.rule == "MG-H134"
    assert "model.bin" in e.value.message and "lower MODELGUARD_LIMIT_MIN_RATE" in e.value.message


def test_a_burst_then_silence_is_judged_per_window() -> None:
    pace = Pace("f", 0.0, deadline=1e9, min_rate=100.0, window=10.0)
    pace.arrived(10_000, 1.0)
    pace.arrived(0, 10.0)   # first window: 10,000 bytes in 10 s, fine
    with pytest.raises(Stalled):
        pace.arrived(1, 25.0)  # the next window: 1 byte in 15 s


def test_the_overall_deadline() -> None:
    pace = Pace.for_answer("acme/tiny (file list)", 0.0)
    pace.min_rate = 0.0
    pace.arrived(1, 299.0)
    with pytest.raises(Stalled) as e:
        pace.arrived(1, 301.0)
    assert e.value.rule == BUDGETS.answer_deadline.rule == "MG-H135"
    assert "MODELGUARD_LIMIT_ANSWER_DEADLINE" in e.value.message and e.value.exit_code == 3


def test_budgets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_MIN_RATE", "1")
    monkeypatch.setenv("MODELGUARD_LIMIT_RATE_WINDOW", "2")
    monkeypatch.setenv("MODELGUARD_LIMIT_FILE_DEADLINE", "3")
    pace = Pace.for_file("f", 0.0)
    assert (pace.min_rate, pace.window, pace.deadline) == (1.0, 2.0, 3.0)
