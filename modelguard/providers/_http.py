"""GET a provider metadata endpoint with bounded retries, mapping failures to modelguard errors.

Owns the only ``requests`` calls of the providers package. 401/403 -> AccessDeniedError,
404 -> None, 429/5xx/connection errors after retries -> HubUnreachableError. Messages name the
provider and the HTTP status, never the URL's query, a header, or the key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from modelguard.errors import AccessDeniedError, HubUnreachableError

ATTEMPTS = 3
TIMEOUT = 15.0
_BACKOFF = 0.2


def get_json(provider: str, url: str, headers: Mapping[str, str], params: Mapping[str, str] | None = None) -> Any:
    """The decoded JSON body, or None on 404."""
    last = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(_BACKOFF * (2 ** (attempt - 1)))
        try:
            resp = requests.get(url, headers=dict(headers), params=params, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as e:
            last = type(e).__name__
            continue
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
        if resp.status_code == 429 or resp.status_code >= 500:
            last = f"HTTP {resp.status_code}"
            continue
        raise HubUnreachableError(f"{provider}: models API answered HTTP {resp.status_code}; no verdict reached")
    raise HubUnreachableError(f"{provider}: models API unavailable after {ATTEMPTS} attempts ({last}); try again later")
