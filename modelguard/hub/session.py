"""How a request to the Hub goes out and how its failures come back: the client settings a user gives
(:func:`make_client`), the headers it sends (:func:`headers`), the mapping of every huggingface_hub /
httpx2 failure onto :mod:`modelguard.errors` (:func:`hub_errors`) and one retried JSON GET
(:func:`get_json`).

With :mod:`modelguard.hub.client` and :mod:`modelguard.hub.warm` (which imports it, with its settings:
:func:`~modelguard.hub.warm.hf`), the only modules that import huggingface_hub. Must not put the
token in a message or repr, send it anywhere but the endpoint, or import huggingface_hub at module
import (CLI start-up time). huggingface_hub's public API is used throughout (``huggingface_hub``,
``huggingface_hub.utils``, ``huggingface_hub.errors``, ``huggingface_hub.constants``); no private
module is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from modelguard.errors import AccessDeniedError, HubUnreachableError, IntegrityError, NotFoundError, UsageError
from modelguard.hub.metadata import moved_to, same_origin, validate_endpoint
from modelguard.hub.pace import Pace
from modelguard.hub.transport import (
    INVALID_CREDENTIALS,
    LOGIN_HINT,
    HubClient,
    Transient,
    retrying,
    server_wait,
    status_error,
)
from modelguard.hub.warm import hf
from modelguard.report.redact import register
from modelguard.spec import limits
from modelguard.spec.bounded import load_json
from modelguard.spec.ids import secret_problem
from modelguard.spec.limits import OverBudget

if TYPE_CHECKING:  # pragma: no cover
    import httpx2

DEFAULT_ENDPOINT = "https://huggingface.co"


def make_client(endpoint: str | None = None, token: str | None = None) -> HubClient:
    """A client for ``endpoint`` (else ``$HF_ENDPOINT`` read now, else huggingface.co).

    The token is ``token``, else huggingface_hub's standard sources (``HF_TOKEN``, the login file).
    A token that cannot be sent as written is a :class:`UsageError` naming where it came from.
    """
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    if token is None:
        token, source, fix = _stored_token()
    else:
        source, fix = "the token passed to modelguard (--token or token=)", "pass the token alone"
    problem = secret_problem(token) if token else None
    if problem:
        # Said without the value: a pasted secret must not reach the terminal or a CI log.
        raise UsageError(f"{source} {problem}, so it is not a Hub token; {fix}")
    register(token)  # from now on, never written or shown (modelguard.report.redact)
    return HubClient(endpoint=validate_endpoint(chosen), token=token or None)


def _stored_token() -> tuple[str | None, str, str]:
    """huggingface_hub's token (``HF_TOKEN``, else its login), where it came from and how to fix it."""
    token = hf().get_token()
    name = next((n for n in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if os.environ.get(n)), "")
    raw = os.environ.get(name, "").strip() if name else ""
    if token and raw.replace("\r", "").replace("\n", "") == token:
        # huggingface_hub deletes every line break in the variable; one inside the value is a paste
        # gone wrong (two lines, or the token and more), so the value is checked as it was set.
        return raw, name, f"set {name} to the token alone (printable ASCII, no spaces or line breaks)"
    from huggingface_hub import constants

    return token, f"the token saved by `hf auth login` in {constants.HF_TOKEN_PATH}", "run `hf auth login` again"


def headers(client: HubClient, *, authorized: bool = True) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    # token=False, never None: None would make huggingface_hub look for a token on its own.
    token: str | bool = client.token if (authorized and client.token) else False
    return build_hf_headers(token=token)


@contextlib.contextmanager
def hub_errors(client: HubClient, what: str) -> Iterator[None]:
    """Translate huggingface_hub/httpx2 failures while doing ``what`` into modelguard errors.

    Messages are built here from the status and the error code only: never from the server's text
    or the exception's (which hold URLs and could, with a careless proxy, hold headers). ``from None``
    keeps the huggingface_hub exception, and anything in it, out of tracebacks.
    """
    import httpx2
    from huggingface_hub import errors as hf_errors

    try:
        yield
    except hf_errors.OfflineModeIsEnabled:
        raise HubUnreachableError(f"{what}: HF_HUB_OFFLINE is set; unset it to let modelguard reach the Hub") from None
    except hf_errors.GatedRepoError:
        raise AccessDeniedError(
            f"{what}: the repo is gated and this token has no access; request access on the repo's Hub "
            f"page, then {LOGIN_HINT}"
        ) from None
    except hf_errors.RevisionNotFoundError:
        raise NotFoundError(f"{what}: the revision does not exist on {client.endpoint}") from None
    except hf_errors.RemoteEntryNotFoundError:
        raise NotFoundError(f"{what}: the file does not exist at that commit on {client.endpoint}") from None
    except hf_errors.HfHubHTTPError as exc:
        response = exc.response
        if response is not None and response.headers.get("X-Error-Message") == INVALID_CREDENTIALS:
            raise AccessDeniedError(f"{what}: the Hub rejected the token as invalid or expired; create a new one, "
                                    "then pass it with --token or HF_TOKEN") from None
        if response is None:
            raise Transient(f"{what}: {client.endpoint} sent no answer; try again later") from None
        raise status_error(client, what, response.status_code, server_wait(response.headers)) from None
    except httpx2.TooManyRedirects:
        raise IntegrityError(f"{what}: the server redirected in a loop", rule="MG-H009") from None
    except httpx2.DecodingError:
        raise IntegrityError(f"{what}: the answer does not decode as its Content-Encoding says", rule="MG-H004") \
            from None
    except httpx2.TransportError as exc:
        raise Transient(
            f"{what}: cannot reach {client.endpoint} ({type(exc).__name__}); check the network and --endpoint"
        ) from None


@dataclass(frozen=True)
class Answer:
    """One API answer, read within its budgets: where it came from, its bytes, its next-page link."""

    url: str
    body: bytes
    next_link: str | None


def get_json(client: HubClient, url: str, what: str, params: dict[str, str] | None = None) -> tuple[Any, str | None]:
    """GET a Hub API URL (retried by :func:`~modelguard.hub.transport.retrying`); return the decoded JSON
    and the absolute next-page link."""
    answer = retrying(client.retry, lambda: get_once(client, url, what, params))
    final = answer.url
    if not same_origin(final, client.endpoint):
        raise IntegrityError(f"{what}: the API answer came from another host than {client.endpoint}",
                             rule="MG-H009")
    if (moved := moved_to(url, final)) is not None:
        # A renamed or transferred repo: the Hub redirects its old name. Pinning the new owner's
        # files under the old name would slip them past the org policy.
        raise NotFoundError(f"{what}: the Hub redirects this repo to {moved} (renamed or transferred); "
                            "put the new name in the manifest so the policy checks its org")
    try:
        data = load_json(answer.body, what=f"{what}: the Hub's answer")
    except OverBudget as e:  # nested deeper than any answer: never handed to the parser (MG-H133)
        raise IntegrityError(e.message, rule=e.rule) from None
    except ValueError:  # not JSON, or not UTF-8
        raise IntegrityError(f"{what}: the Hub's answer is not JSON", rule="MG-H004") from None
    if client.token and b"\\" in answer.body:
        # An escaped token ("\u0068f_...") is not in the raw bytes: look again at the decoded strings.
        refuse_echo(client, what, json.dumps(data, ensure_ascii=False))
    link = answer.next_link
    return data, (urljoin(final, link) if link else None)


def get_once(client: HubClient, url: str, what: str, params: dict[str, str] | None) -> Answer:
    """One GET, its body read within the answer budgets: a non-2xx answer raises (a :class:`Transient` one
    is worth another try), so does an answer that is too large, too slow or that echoes the token."""
    from huggingface_hub.utils import http_stream_backoff

    with hub_errors(client, what), http_stream_backoff(
        # One attempt: modelguard's retrying() decides about the next (huggingface_hub would sleep for as
        # long as Retry-After asks, an hour if the server says so). Kept for its session hygiene: it
        # closes huggingface_hub's shared client after a connection error.
        "GET", url, params=params, headers=headers(client), timeout=timeouts(client),
        max_retries=0, retry_on_status_codes=(), retry_on_exceptions=(),
    ) as response:
        raise_for_status(client, what, response)
        body = read_answer(client, response, what)
        link = response.links.get("next", {}).get("url")
        refuse_echo(client, what, link or "", str(response.url))
        return Answer(str(response.url), body, link)


def read_answer(client: HubClient, response: httpx2.Response, what: str) -> bytes:
    """The body of an API answer, at most ``ANSWER_BYTES`` (decoded: a gzip bomb counts what it expands to),
    at the pace of :meth:`Pace.for_answer`; one that holds the client's token is refused (MG-H139)."""
    cap = limits.active().answer_bytes
    too_large = f"{what}: " + limits.over(limits.BUDGETS.answer_bytes, "the answer")
    announced = response.headers.get("Content-Length", "")
    if announced.strip().isdigit() and response.headers.get("Content-Encoding", "identity") == "identity" \
            and int(announced) > cap:
        raise IntegrityError(too_large, rule=limits.BUDGETS.answer_bytes.rule)
    pace = Pace.for_answer(what, time.monotonic())
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise IntegrityError(too_large, rule=limits.BUDGETS.answer_bytes.rule)
        chunks.append(chunk)
        pace.arrived(len(chunk), time.monotonic())
    body = b"".join(chunks)
    refuse_echo(client, what, body)
    return body


def refuse_echo(client: HubClient, what: str, *parts: str | bytes) -> None:
    """MG-H139 when any of ``parts`` (what a server sent) holds the token modelguard sent it.

    The Hub never repeats a token; a server that does is not the Hub, and whatever carries the token
    (a file name, a link) would carry it into a lockfile, a record or a report. Nothing is used.
    """
    if not client.token:
        return
    token = client.token
    if any((token.encode() if isinstance(part, bytes) else token) in part for part in parts):  # type: ignore[operator]
        raise IntegrityError(f"{what}: the server's answer contains the token modelguard sent it, so it is not "
                             "the Hub; nothing from it was used; revoke the token and check --endpoint",
                             rule="MG-H139")


def raise_for_status(client: HubClient, what: str, response: httpx2.Response) -> None:
    """huggingface_hub's error mapping, from the status and headers alone.

    ``hf_raise_for_status`` reads the whole body of an error answer for its message, and a hostile
    server's 500 can stream forever; modelguard's messages never quote a body anyway.
    """
    status = response.status_code
    if status < 400:
        return
    code, message = response.headers.get("X-Error-Code"), response.headers.get("X-Error-Message")
    if message == INVALID_CREDENTIALS:
        raise AccessDeniedError(f"{what}: the Hub rejected the token as invalid or expired; create a new one, "
                                "then pass it with --token or HF_TOKEN")
    if code == "GatedRepo":
        raise AccessDeniedError(f"{what}: the repo is gated and this token has no access; request access on the "
                                f"repo's Hub page, then {LOGIN_HINT}")
    if code == "RevisionNotFound":
        raise NotFoundError(f"{what}: the revision does not exist on {client.endpoint}")
    if code == "EntryNotFound":
        raise NotFoundError(f"{what}: the file does not exist at that commit on {client.endpoint}")
    raise status_error(client, what, status, server_wait(response.headers))


def timeouts(client: HubClient) -> httpx2.Timeout:
    """httpx2's timeouts for one request: connect, and (read, write, pool) the client's stall timeout."""
    import httpx2

    return httpx2.Timeout(client.timeout, connect=client.connect_timeout)
