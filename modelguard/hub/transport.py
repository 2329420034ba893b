"""How modelguard talks over HTTP, as policy: client settings, the one retry policy, waits a server
asks for, and which error an HTTP status becomes. Pure: no network, no huggingface_hub
(:mod:`modelguard.hub.client` does the talking and is the only module that imports it).

:func:`retrying` is the only retry loop modelguard has: the Hub client (metadata and downloads) and
the provider clients (:mod:`modelguard.providers._http`) each make one attempt per call and let it
decide, with their own :class:`RetryPolicy`. It retries a :class:`Transient` failure (a network
error, or an HTTP status in :data:`RETRY_STATUSES`) and a cut body (MG-H008), honours a server's
``Retry-After`` / exhausted ``RateLimit`` up to :data:`MAX_SERVER_WAIT`, and never retries anything
else (a 4xx, a hash that lies). A transfer that stalls or falls behind its pace
(:class:`modelguard.hub.pace.Stalled`) is a :class:`Transient` failure like a network error.

Must not: put the token in a repr or a message, or wait as long as a server says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from modelguard.errors import (
    AccessDeniedError,
    HubUnreachableError,
    IntegrityError,
    ModelguardError,
    NotFoundError,
)
from modelguard.spec import limits

T = TypeVar("T")
_log = logging.getLogger("huggingface_hub.modelguard")
"""Under huggingface_hub's logger on purpose: retries show with its own, on ``-v`` only (see cli)."""

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
"""HTTP statuses that say "try again": a timeout, a rate limit, a server or gateway failure"""
MAX_SERVER_WAIT = 30.0
"""seconds of Retry-After / RateLimit modelguard honours; a server asking for more gets no verdict"""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try again (see :func:`retrying`)."""

    retries: int = 4
    """tries after the first one"""
    first_wait: float = 0.5
    """seconds before the first retry; doubles each time, capped at ``max_wait``"""
    max_wait: float = 8.0
    max_server_wait: float = MAX_SERVER_WAIT

    def waits(self) -> Iterator[float]:
        """The backoff before each retry, in order (one per retry)."""
        wait = self.first_wait
        for _ in range(self.retries):
            yield wait
            wait = min(self.max_wait, wait * 2)
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
"""the Hub's X-Error-Message for a token it does not know (a fixed string, never echoed)"""
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN (or pass --token)"


@dataclass(frozen=True)
class HubClient:
    """Where and how to reach the Hub. The token never appears in the repr.

    Timeouts and retries default to the budgets in force (:mod:`modelguard.spec.limits`,
    ``MODELGUARD_LIMIT_*``); the pace of each transfer (minimum rate, deadline) is
    :class:`modelguard.hub.pace.Pace`'s.
    """

    endpoint: str
    token: str | None = None
    timeout: float = field(default_factory=lambda: float(limits.active().read_timeout))
    """seconds to wait while no byte of an answer arrives (a stall)"""
    retries: int = field(default_factory=lambda: limits.active().retries)
    """retries after a 5xx, a 429, a network error or a stalled transfer, with exponential backoff"""
    retry_wait: float = 0.5
    """seconds before the first retry; doubles each time, capped at 8"""
    connect_timeout: float = field(default_factory=lambda: float(limits.active().connect_timeout))
    """seconds to wait for a connection"""

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(retries=self.retries, first_wait=self.retry_wait)

    def __repr__(self) -> str:
        token = "<set>" if self.token else None
        return f"HubClient(endpoint={self.endpoint!r}, token={token}, timeout={self.timeout}, retries={self.retries})"

    __str__ = __repr__


def server_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``Retry-After: N``, else an exhausted ``RateLimit: "x";r=0;t=N``."""
    after = headers.get("Retry-After", "").strip()
    if after.isdigit():
        return float(after)
    limit = dict(p.strip().partition("=")[::2] for p in headers.get("RateLimit", "").split(";")[1:])
    if limit.get("r") == "0" and limit.get("t", "").isdigit():
        return float(limit["t"])
    return None


class Transient(HubUnreachableError):
    """A failure worth another try: a network error, or an HTTP status in :data:`RETRY_STATUSES`.

    ``wait``: the seconds the server asked for (:func:`server_wait`), 0 when it did not say.
    """

    def __init__(self, message: str, wait: float | None = None, *, rule: str | None = None) -> None:
        super().__init__(message, rule=rule)
        self.wait = wait or 0.0


def status_error(client: HubClient, what: str, status: int, wait: float | None = None) -> ModelguardError:
    """The error for an HTTP ``status`` the Hub answered while doing ``what`` (built from the status only).

    ``wait``: the seconds the server asked for (:func:`server_wait`), kept for :func:`retrying` on a
    :class:`Transient` status.
    """
    if status in (401, 403):
        who = "to this token" if client.token else f"without a token ({LOGIN_HINT})"
        return AccessDeniedError(f"{what}: the Hub refused access (HTTP {status}) {who}; the repo is private or "
                                 "gated (request access on its Hub page), or does not exist")
    if status == 404:
        return NotFoundError(f"{what}: not found on {client.endpoint} (HTTP 404); check the repo id (a private "
                             f"repo also answers 404 to a token without access)")
    message = f"{what}: {client.endpoint} answered HTTP {status}; try again later"
    return Transient(message, wait) if status in RETRY_STATUSES else HubUnreachableError(message)


def pause(seconds: float, why: str) -> None:
    """Sleep before a retry, saying so the way huggingface_hub does (shown with ``-v``)."""
    _log.warning("Retrying in %.1fs (%s).", seconds, why)
    time.sleep(seconds)


def retrying(policy: RetryPolicy, call: Callable[[], T]) -> T:
    """``call()``, tried again with ``policy``'s backoff after a :class:`Transient` failure or a cut body.

    A server's own wait is honoured up to ``policy.max_server_wait``; one asking for longer ends it
    (no verdict). The last try's error is the one raised.
    """
    for backoff in policy.waits():
        try:
            return call()
        except Transient as exc:
            if exc.wait > policy.max_server_wait:
                raise HubUnreachableError(f"{exc.message} (the server asks to wait {exc.wait:.0f} s)",
                                          rule=exc.rule) from None
            wait, why = max(backoff, exc.wait), exc.message
        except IntegrityError as exc:
            # A cut connection may be the network; a server that cuts every try is reported as truncating.
            if exc.rule != "MG-H008":
                raise
            wait, why = backoff, exc.message
        pause(wait, why)
    return call()
