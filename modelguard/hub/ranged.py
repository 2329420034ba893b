"""One GET of a file's bytes ``[start, end)``: the whole file (200) or a piece of it (``Range``, 206).

The download pool (:mod:`modelguard.hub.pool`) fetches pieces of large files side by side and
continues cut or interrupted transfers where they stopped; each request is one call here. Every
answer is checked before a byte is kept: a whole-file GET must answer 200 with the announced length
and commit; a ``Range`` request must answer 206 with exactly the ``Content-Range`` asked for
(``bytes start-(end-1)/size``) and an unencoded body, else MG-H152 (the file is refused). A server
that answers a ``Range`` request with 200 (or 416) does not honour ranges: :class:`RangeIgnored`
tells the pool to download the whole file again from byte 0 (MG-H150), never to splice its bytes.

Bytes go to ``write(offset, data)`` in pieces of about 1 MiB as they arrive, and never past ``end``
(a longer body is refused at its first extra byte, MG-H002). A body cut short raises MG-H008 after
the bytes that did arrive were written, so the caller resumes at exactly the next byte.

Every request is held to the transfer budgets of issue 14, whatever it asks for (a whole file, one
piece of a big one, or the rest of a cut piece): connect and read timeouts
(:func:`~modelguard.hub.session.timeouts`), and its own :class:`~modelguard.hub.pace.Pace` (overall
deadline, minimum average rate per window) checked as each network read arrives, so a server that
drips bytes is :class:`~modelguard.hub.pace.Stalled` (MG-H134/H135), retried by the pool from the
next byte, then no verdict. An error answer is mapped from its status and headers, its body never read.

With :mod:`modelguard.hub.client` and :mod:`modelguard.hub.session`, the only modules that use
huggingface_hub (its public API only). Must not: send the token off the endpoint's origin, accept
bytes outside ``[start, end)``, or read an error answer's body.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from modelguard.errors import IntegrityError
from modelguard.hub.metadata import same_origin
from modelguard.hub.pace import Pace
from modelguard.hub.session import headers, hub_errors, raise_for_status, timeouts
from modelguard.hub.transport import HubClient
from modelguard.store.digest import CHUNK

FLUSH_EVERY = 0.1
"""seconds a received byte waits in memory at most before it is written"""
_CONTENT_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20})")


class RangeIgnored(Exception):
    """The server does not honour ``Range`` (it answered 200 or 416): download the file from byte 0."""


class Cancelled(Exception):
    """The pool stopped this transfer (another piece of the file failed, or the run is interrupted)."""


def get_range(client: HubClient, location: str, commit: str, what: str, *, size: int, start: int, end: int,
              ranged: bool, write: Callable[[int, bytes], None],
              cancelled: Callable[[], bool] = lambda: False) -> None:
    """GET ``[start, end)`` of the ``size``-byte file at ``location`` into ``write``; see the module docstring.

    ``ranged=False`` sends no ``Range`` header and needs ``start == 0`` and ``end == size``.
    """
    import httpx2
    from huggingface_hub.utils import http_stream_backoff

    if not ranged and (start, end) != (0, size):
        raise ValueError("a GET without Range is for the whole file")
    # The token goes to the Hub's own origin only; a CDN gets a signed URL and no Authorization.
    sent = headers(client, authorized=same_origin(location, client.endpoint))
    if ranged:
        sent["Range"] = f"bytes={start}-{end - 1}"
        sent["Accept-Encoding"] = "identity"  # a range of an encoded body is not a range of the file
    with hub_errors(client, what), http_stream_backoff(
        "GET", location, headers=sent, timeout=timeouts(client), max_retries=0,
        retry_on_exceptions=(), retry_on_status_codes=(),
    ) as response:
        if ranged and response.status_code in (200, 416):
            raise RangeIgnored(f"{what}: the server answered HTTP {response.status_code} to a Range request")
        raise_for_status(client, what, response)  # from the headers: an error's body is never read
        _check_answer(response.status_code, response.headers, commit, what, size=size, start=start, end=end,
                      ranged=ranged)
        at = start
        buffer = bytearray()
        flushed = time.monotonic()
        pace = Pace.for_file(what, flushed)  # this request's own: a piece or a resume is one transfer
        try:
            # Pieces as the network delivers them (a chunk size would wait for a whole chunk, and a
            # server dripping a byte at a time would never be timed).
            for piece in response.iter_bytes():
                pace.arrived(len(piece), time.monotonic())
                if cancelled():
                    raise Cancelled(what)
                if at + len(buffer) + len(piece) > end:
                    raise IntegrityError(f"{what}: the server sent more than the {end - start} bytes asked for",
                                         rule="MG-H002")
                buffer += piece
                # Written in about 1 MiB (what the hashing thread needs to keep up), and at least every
                # FLUSH_EVERY on a slow link, so a kill loses little of what already arrived.
                if len(buffer) >= CHUNK or time.monotonic() - flushed >= FLUSH_EVERY:
                    write(at, bytes(buffer))
                    at += len(buffer)
                    buffer.clear()
                    flushed = time.monotonic()
        except httpx2.RemoteProtocolError:
            pass  # headers arrived and then the body broke off: keep what came, then say it was cut
        finally:
            if buffer:
                write(at, bytes(buffer))
                at += len(buffer)
    if at < end:
        raise IntegrityError(f"{what}: the connection closed after {at - start} of the {end - start} bytes asked for",
                             rule="MG-H008")


def _check_answer(status: int, got: object, commit: str, what: str, *, size: int, start: int, end: int,
                  ranged: bool) -> None:
    """The answer's status and headers are the ones asked for, else refuse before keeping a byte."""
    from collections.abc import Mapping

    assert isinstance(got, Mapping)
    served = got.get("X-Repo-Commit")
    if served is not None and served != commit:
        raise IntegrityError(f"{what}: the download came from another commit", rule="MG-H005")
    encoding = str(got.get("Content-Encoding", "identity")).strip().lower()
    length = got.get("Content-Length")
    if not ranged:
        if status != 200:
            raise IntegrityError(f"{what}: the download answered HTTP {status}, not 200", rule="MG-H004")
        if length is not None and encoding == "identity" and str(length).strip() != str(size):
            raise IntegrityError(f"{what}: the download is {str(length).strip()[:20]} bytes, the Hub announced "
                                 f"{size}", rule="MG-H002")
        return
    if status != 206:
        raise IntegrityError(f"{what}: a Range request answered HTTP {status}, not 206", rule="MG-H152")
    found = _CONTENT_RANGE.fullmatch(str(got.get("Content-Range", "")).strip())
    if found is None or (int(found.group(1)), int(found.group(2)) + 1) != (start, end):
        raise IntegrityError(f"{what}: asked for bytes {start}-{end - 1}, the server sent "
                             f"{str(got.get('Content-Range', 'no Content-Range'))[:60]!r}", rule="MG-H152")
    if int(found.group(3)) != size:
        raise IntegrityError(f"{what}: the server's Content-Range says the file is {found.group(3)} bytes, the Hub "
                             f"announced {size}", rule="MG-H002")
    if encoding != "identity":
        raise IntegrityError(f"{what}: a Range request was answered with an encoded body", rule="MG-H152")
    if length is not None and str(length).strip() != str(end - start):
        raise IntegrityError(f"{what}: asked for {end - start} bytes, the answer announces "
                             f"{str(length).strip()[:20]}", rule="MG-H152")
