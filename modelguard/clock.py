"""The one place modelguard reads the calendar.

Provider lifecycle (deprecated, retired), catalog staleness, suppression expiry and the date of a
revocation all depend on "today". Reading it here, and only here, makes every such decision
reproducible: ``MODELGUARD_TODAY=YYYY-MM-DD`` replays a gate as it would have run on that day (an
audit, a bisect, a test that must not change verdict when the calendar moves). Without it, today is
the UTC date, so two machines in different time zones agree on a deprecation window.

Timestamps that are only records (the audit log's ``time``, an admission's ``admitted-at``) are not
decisions and keep the real clock.
"""

from __future__ import annotations

import datetime as _dt
import os

from modelguard.errors import ConfigError

TODAY_ENV = "MODELGUARD_TODAY"


def today() -> _dt.date:
    """``$MODELGUARD_TODAY`` when set (an ISO date), else the current UTC date."""
    value = os.environ.get(TODAY_ENV, "").strip()
    if not value:
        return _dt.datetime.now(_dt.timezone.utc).date()
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{TODAY_ENV}={value!r} is not an ISO date (YYYY-MM-DD); set it to one or unset it") from None
