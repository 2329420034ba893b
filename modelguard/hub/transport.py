"""How modelguard talks to the Hub, as policy: client settings, retries, waits the server asks for,
and which error an HTTP status becomes. Pure: no network, no huggingface_hub (:mod:`modelguard.hub.client`
does the talking and is the only module that imports it).

Must not: put the token in a repr or a message, or wait as long as a server says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from modelguard.errors import (
    AccessDeniedError,
    HubUnreachableError,
    IntegrityError,
    ModelguardError,
    NotFoundError,
)

T = TypeVar("T")
_log = logging.getLogger("huggingface_hub.modelguard")
"""Under huggingface_hub's logger on purpose: retries show with its own, on ``-v`` only (see cli)."""

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
MAX_SERVER_WAIT = 30.0
"""seconds of Retry-After / RateLimit modelguard honours; a server asking for more gets no verdict"""
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
"""the Hub's X-Error-Message for a token it does not know (a fixed string, never echoed)"""
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN (or pass --token)"


@dataclass(frozen=True)
class HubClient:
    """Where and how to reach the Hub. The token never appears in the repr."""

    endpoint: str
    token: str | None = None
    timeout: float = 10.0
    """seconds to wait for a metadata answer"""
    retries: int = 4
    """retries after a 5xx, a 429 or a network error, with exponential backoff"""
    retry_wait: float = 0.5
    """seconds before the first retry; doubles each time, capped at 8"""

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


class ServerBusy(HubUnreachableError):
    """A 429 or 5xx whose server asked to wait ``wait`` seconds before the next try."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


def status_error(client: HubClient, what: str, status: int, wait: float | None = None) -> ModelguardError:
    """The error for an HTTP ``status`` the Hub answered while doing ``what`` (built from the status only).

    ``wait``: the seconds the server asked for (:func:`server_wait`), kept for :func:`retrying`.
    """
    if status in (401, 403):
        who = "to this token" if client.token else f"without a token ({LOGIN_HINT})"
        return AccessDeniedError(f"{what}: the Hub refused access (HTTP {status}) {who}; the repo is private or "
                                 "gated (request access on its Hub page), or does not exist")
    if status == 404:
        return NotFoundError(f"{what}: not found on {client.endpoint} (HTTP 404); check the repo id (a private "
                             f"repo also answers 404 to a token without access)")
    message = f"{what}: {client.endpoint} answered HTTP {status}; try again later"
    return ServerBusy(message, wait) if wait is not None else HubUnreachableError(message)


def pause(seconds: float, why: str) -> None:
    """Sleep before a retry, saying so the way huggingface_hub does (shown with ``-v``)."""
    _log.warning("Retrying in %.1fs (%s).", seconds, why)
    time.sleep(seconds)


def retrying(client: HubClient, call: Callable[[], T]) -> T:
    """``call()``, retried with the client's backoff after a network failure, a 429/5xx or a cut body.

    A server's own Retry-After is honoured up to :data:`MAX_SERVER_WAIT`; one asking for longer ends it.
    """
    wait = client.retry_wait
    for _ in range(client.retries):
        asked = 0.0
        try:
            return call()
        except ServerBusy as exc:
            if exc.wait > MAX_SERVER_WAIT:
                raise HubUnreachableError(f"{exc.message} (the server asks to wait {exc.wait:.0f} s)") from None
            asked, why = exc.wait, exc.message
        except HubUnreachableError as exc:
            why = exc.message
        except IntegrityError as exc:
            # A cut connection may be the network; a server that cuts every try is reported as truncating.
            if exc.rule != "MG-H008":
                raise
            why = exc.message
        pause(max(wait, asked), why)
        wait = min(8.0, wait * 2)
    return call()
