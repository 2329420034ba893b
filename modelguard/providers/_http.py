"""GET a provider metadata endpoint, mapping failures to modelguard errors.

Owns the only ``requests`` calls of the providers package. Each call makes one attempt; tries
again are :func:`modelguard.hub.transport.retrying`'s, the one retry policy modelguard has, so a
provider's ``Retry-After`` is honoured (up to :data:`~modelguard.hub.transport.MAX_SERVER_WAIT`)
exactly as the Hub's is. 401/403 -> AccessDeniedError, 404 -> None, a status in
:data:`~modelguard.hub.transport.RETRY_STATUSES` or a connection error -> retried, then
HubUnreachableError. A 200's body is read within the answer budgets (size, pace, JSON depth:
:mod:`modelguard.spec.limits`), an error's is never read. Messages name the provider and the HTTP
status, never the URL's query, a header, or the key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from modelguard.errors import AccessDeniedError, HubUnreachableError
from modelguard.hub.pace import Pace
from modelguard.hub.transport import RETRY_STATUSES, RetryPolicy, Transient, retrying, server_wait
from modelguard.spec import limits
from modelguard.spec.bounded import load_json
from modelguard.spec.limits import OverBudget

ATTEMPTS = 3
TIMEOUT = 15.0
RETRY = RetryPolicy(retries=ATTEMPTS - 1, first_wait=0.2)
"""Provider metadata is small and a lock waits on it: fewer, quicker tries than the Hub's downloads."""


def get_json(provider: str, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> Any:
    """The decoded JSON body, or None on 404."""
    return retrying(RETRY, lambda: _get_once(provider, url, headers, params))


def _get_once(provider: str, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None) -> Any:
    try:
        # stream=True: the body is read below within the answer budgets, never whole on trust.
        resp = requests.get(url, headers=dict(headers), params=params, timeout=TIMEOUT, allow_redirects=False,
                            stream=True)
    except requests.RequestException as e:
        raise Transient(f"{provider}: models API unreachable ({type(e).__name__}); try again later") from None
    with resp:
        if resp.status_code == 200:
            return _bounded_json(provider, resp)
        _refuse_status(provider, resp)
    return None


def _bounded_json(provider: str, resp: requests.Response) -> Any:
    """The body as JSON: at most ``ANSWER_BYTES``, at an answer's pace, nesting within ``JSON_DEPTH``."""
    what = f"{provider}: models API"
    cap = limits.active().answer_bytes
    pace = Pace.for_answer(what, time.monotonic())
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(chunk_size=None):
            size += len(chunk)
            if size > cap:
                raise HubUnreachableError(f"{what}: {limits.over(limits.BUDGETS.answer_bytes, 'the answer')}",
                                          rule=limits.BUDGETS.answer_bytes.rule)
            chunks.append(chunk)
            pace.arrived(len(chunk), time.monotonic())
    except requests.RequestException as e:
        raise Transient(f"{what}: the answer broke off ({type(e).__name__}); try again later") from None
    try:
        return load_json(b"".join(chunks), what=f"{what}'s answer")
    except OverBudget as e:
        raise HubUnreachableError(e.message, rule=e.rule) from None
    except ValueError:
        raise HubUnreachableError(f"{what} answered with a body that is not JSON") from None


def _refuse_status(provider: str, resp: requests.Response) -> None:
    """Raise for any answer but 200 and 404 (from the status and headers: an error body is never read)."""
    if resp.status_code == 404:
        return
    if resp.status_code in (401, 403):
        raise AccessDeniedError(
            f"{provider}: models API refused the API key (HTTP {resp.status_code}); "
            "check the key's value and its access"
        )
    if resp.status_code in RETRY_STATUSES:
        raise Transient(f"{provider}: models API unavailable (HTTP {resp.status_code}); try again later",
                        server_wait(resp.headers))
    raise HubUnreachableError(f"{provider}: models API answered HTTP {resp.status_code}; no verdict reached")
