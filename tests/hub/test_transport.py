"""hubpolicy: the waits a server may ask for, the error each status becomes, the retry loop."""

from __future__ import annotations

import pytest

from modelguard.errors import AccessDeniedError, HubUnreachableError, IntegrityError, NotFoundError
from modelguard.hub.transport import HubClient, RetryPolicy, Transient, retrying, server_wait, status_error


@pytest.mark.parametrize(("headers", "wait"), [
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": " 3600 "}, 3600.0),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),           # dates are not honoured
    ({"RateLimit": '"api";r=0;t=55'}, 55.0),                              # the Hub's exhausted quota
    ({"RateLimit": '"api";r=12;t=55'}, None),                             # quota left: not why it failed
    ({"RateLimit": '"api";r=0;t=-1'}, None),
    ({"RateLimit": "garbage"}, None),
    ({}, None),
])
def test_server_wait(headers: dict[str, str], wait: float | None) -> None:
    assert server_wait(headers) == wait


@pytest.mark.parametrize(("status", "error"), [
    (401, AccessDeniedError), (403, AccessDeniedError), (404, NotFoundError), (500, Transient),
    (429, Transient), (408, Transient), (400, HubUnreachableError), (501, HubUnreachableError),
])
def test_status_error(status: int, error: type[Exception]) -> None:
    made = status_error(HubClient("http://127.0.0.1:1", "hf_secret_token"), "acme/x", status)
    assert type(made) is error and "hf_secret_token" not in made.message
    assert isinstance(made, HubUnreachableError) or status in (401, 403, 404)


def test_retrying_gives_up_after_the_retries_and_never_retries_a_lie() -> None:
    client = HubClient("http://127.0.0.1:1", retries=2, retry_wait=0.0)
    calls: list[int] = []

    def unreachable() -> int:
        calls.append(1)
        raise Transient("down")

    with pytest.raises(HubUnreachableError):
        retrying(client.retry, unreachable)
    assert len(calls) == 3

    def refused() -> int:  # a 400 or a 501: asking again gets the same answer
        calls.append(1)
        raise HubUnreachableError("HTTP 400")

    calls.clear()
    with pytest.raises(HubUnreachableError):
        retrying(client.retry, refused)
    assert len(calls) == 1

    def busy_for_an_hour() -> int:
        calls.append(1)
        raise Transient("HTTP 429", wait=3600)

    calls.clear()
    with pytest.raises(HubUnreachableError, match="asks to wait 3600 s"):
        retrying(client.retry, busy_for_an_hour)
    assert len(calls) == 1

    def lie() -> int:
        calls.append(1)
        raise IntegrityError("hash lie", rule="MG-H003")

    calls.clear()
    with pytest.raises(IntegrityError):
        retrying(client.retry, lie)
    assert len(calls) == 1


def test_backoff_doubles_and_is_capped() -> None:
    assert list(RetryPolicy(retries=6, first_wait=1.0, max_wait=8.0).waits()) == [1, 2, 4, 8, 8, 8]
    assert list(RetryPolicy(retries=0).waits()) == []
