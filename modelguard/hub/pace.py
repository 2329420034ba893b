"""Slow is a fault: the pace of one transfer (an API answer or one file) held to its budgets.

A server that drips one byte every two seconds never trips a read timeout, and would hold a
fetch for a day and a half on one file. So every transfer gets a :class:`Pace`: each time bytes
arrive it checks the overall deadline and, once per window, that the window's average rate was at
least the minimum (``MODELGUARD_LIMIT_MIN_RATE`` over ``RATE_WINDOW``; a stall with no byte at all
is the read timeout's, which the client sets). A transfer that falls behind raises :class:`Stalled`,
which :func:`modelguard.hub.transport.retrying` tries again like any transient failure; if every try
stalls, the model gets no verdict (MG-H134, MG-H135) and the others proceed.

One :class:`Pace` per transfer and per try, so parallel or resumed downloads each keep their own.
Pure: the caller passes the clock (``time.monotonic()`` in the client, a number in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelguard.hub.transport import Transient
from modelguard.spec import limits


class Stalled(Transient):
    """A transfer slower than its budget allows: retried like any transient failure (the backoff decides the
    wait), then no verdict with the rule of the budget it missed (MG-H134, MG-H135)."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message, rule=rule)


@dataclass
class Pace:
    """The pace of one transfer since ``started``; :meth:`arrived` after every piece received."""

    what: str
    started: float
    deadline: float
    """seconds the whole transfer may take"""
    deadline_budget: limits.Budget = field(default=limits.BUDGETS.file_deadline)
    min_rate: float = field(default_factory=lambda: float(limits.active().min_rate))
    window: float = field(default_factory=lambda: float(limits.active().rate_window))
    received: int = 0
    _window_start: float = field(init=False)
    _window_received: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._window_start = self.started

    @classmethod
    def for_file(cls, what: str, now: float) -> Pace:
        return cls(what, now, float(limits.active().file_deadline), limits.BUDGETS.file_deadline)

    @classmethod
    def for_answer(cls, what: str, now: float) -> Pace:
        return cls(what, now, float(limits.active().answer_deadline), limits.BUDGETS.answer_deadline)

    def arrived(self, count: int, now: float) -> None:
        """``count`` more bytes at ``now``; raises :class:`Stalled` when the transfer is behind its budget."""
        self.received += count
        elapsed = now - self.started
        if elapsed > self.deadline:
            took = f"the transfer ({self.received} bytes in {elapsed:.0f} s)"
            raise Stalled(f"{self.what}: {limits.over(self.deadline_budget, took)}", rule=self.deadline_budget.rule)
        span = now - self._window_start
        if span >= self.window:
            rate = (self.received - self._window_received) / span
            if rate < self.min_rate:
                budget = limits.BUDGETS.min_rate
                raise Stalled(f"{self.what}: {rate:.0f} bytes/s over the last {span:.0f} s, below the minimum of "
                              f"{limits.show(budget)} ({budget.hatch()})", rule=budget.rule)
            self._window_start, self._window_received = now, self.received
