"""What a rule is: its id, severity, verdict, title, help and the exception a failing finding becomes.

:mod:`modelguard.report.rules` holds the table of every rule and :func:`~modelguard.report.rules.finding`;
this module holds the shape of one entry and the order in which refusals are decided, so the table
stays a table. Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from modelguard.errors import (
    IntegrityError,
    NotAdmittedError,
    PolicyError,
    RejectedError,
    RevokedError,
    SignatureError,
    StaleLockError,
    UnsafeContentError,
)
from modelguard.models import Severity, Verdict


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    verdict: Verdict
    title: str
    help: str
    error: type[RejectedError] = RejectedError
    """what a failing finding of this rule makes ``snapshot()`` raise (set per section by :func:`raises`)"""


def raises(error: type[RejectedError], rules: list[Rule]) -> list[Rule]:
    """The rules of one section, each raising ``error`` unless it names its own class."""
    return [r if r.error is not RejectedError else replace(r, error=error) for r in rules]


# Which exception a model's failing findings become, most specific first: a revoked model is reported
# as revoked even when it is also unsafe, and a refusal by the scan or the policy wins over the stale
# lock it usually comes with (tightening the policy changes the manifest), so the reader learns the
# decision that matters rather than its bookkeeping.
REFUSAL_ORDER: tuple[type[RejectedError], ...] = (
    RevokedError, SignatureError, UnsafeContentError, PolicyError, NotAdmittedError, IntegrityError, StaleLockError,
)
