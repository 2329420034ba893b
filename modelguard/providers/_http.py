"""GET a provider metadata endpoint, mapping failures to modelguard errors.

Owns the only ``requests`` calls of the providers package. Each call makes one attempt; tries
again are :func:`modelguard.hub.transport.retrying`'s, the one retry policy modelguard has, so a
provider's ``Retry-After`` is honoured (up to :data:`~modelguard.hub.transport.MAX_SERVER_WAIT`)
exactly as the Hub's is. 401/403 -> AccessDeniedError, 404 -> None, a status in
:data:`~modelguard.hub.transport.RETRY_STATUSES` or a connection error -> retried, then
HubUnreachableError. Messages name the provider and the HTTP status, never the URL's query, a
header, or the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from modelguard.errors import AccessDeniedError, HubUnreachableError
from modelguard.hub.transport import RETRY_STATUSES, RetryPolicy, Transient, retrying, server_wait

ATTEMPTS = 3
TIMEOUT = 15.0
RETRY = RetryPolicy(retries=ATTEMPTS - 1, first_wait=0.2)
"""Provider metadata is small and a lock waits on it: fewer, quicker tries than the Hub's downloads."""


def get_json(provider: str, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> Any:
    """The decoded JSON body, or None on 404."""
    return retrying(RETRY, lambda: _get_once(provider, url, headers, params))


def _get_once(provider: str, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None) -> Any:
    try:
        resp = requests.get(url, headers=dict(headers), params=params, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as e:
        raise Transient(f"{provider}: models API unreachable ({type(e).__name__}); try again later") from None
    if resp.status_code == 200:
        try:
            return resp.json()
        except ValueError:
            raise HubUnreachableError(f"{provider}: models API answered with a body that is not JSON") from None
    if resp.status_code == 404:
        return None
    if resp.status_code in (401, 403):
        raise AccessDeniedError(
            f"{provider}: models API refused the API key (HTTP {resp.status_code}); "
            "check the key's value and its access"
        )
    if resp.status_code in RETRY_STATUSES:
        raise Transient(f"{provider}: models API unavailable (HTTP {resp.status_code}); try again later",
                        server_wait(resp.headers))
    raise HubUnreachableError(f"{provider}: models API answered HTTP {resp.status_code}; no verdict reached")
