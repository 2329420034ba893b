"""The HEAD that starts every download: ``HEAD /{repo}/resolve/{commit}/{path}``, following redirects that
stay on the Hub's origin, stopping at the one that leaves it (the CDN's signed URL).

What the Hub's answer carries (DESIGN.md §4): ``X-Repo-Commit``; the file's hash as ``X-Linked-Etag``
(LFS) or ``ETag`` (git); its size as ``X-Linked-Size`` or ``Content-Length``; and where the bytes are
(the ``Location`` of a redirect off the Hub, else the URL answered). :func:`head` returns those raw;
:func:`modelguard.hub.client.head_file` validates each before use.

Why not ``huggingface_hub.get_hf_file_metadata``: it follows the same protocol, but lives in
``huggingface_hub.file_download``, whose import costs a quarter of a second of CPU (tqdm, filelock,
the cache machinery modelguard never uses) on the path between ``modelguard fetch`` and its first
byte. The request still goes through huggingface_hub's public HTTP layer (its session, headers,
error types), one attempt per call (:func:`modelguard.hub.transport.retrying` decides the next).

Must not: follow a redirect to another origin (the token stays on the Hub), or read a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urljoin

from modelguard.hub.metadata import same_origin
from modelguard.hub.session import headers, timeouts
from modelguard.hub.transport import HubClient

MAX_REDIRECTS = 5
"""redirects followed on the Hub's origin (a renamed repo redirects once)"""


@dataclass(frozen=True)
class Head:
    """What a HEAD on ``resolve`` answered, unvalidated."""

    commit: str | None
    etag: str | None
    location: str
    size: int | None


def resolve_url(endpoint: str, repo: str, commit: str, path: str) -> str:
    """``{endpoint}/{repo}/resolve/{commit}/{path}``, quoted as huggingface_hub quotes it."""
    return f"{endpoint}/{repo}/resolve/{quote(commit, safe='')}/{quote(path)}"


def head(client: HubClient, url: str) -> Head:
    """One HEAD (and the on-origin redirects after it); raises huggingface_hub's / httpx2's errors for the
    caller's :func:`~modelguard.hub.session.hub_errors` to map."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status, http_backoff

    sent = headers(client)
    sent["Accept-Encoding"] = "identity"  # the size must be the file's, not a compressed body's
    for _ in range(MAX_REDIRECTS + 1):
        response: httpx2.Response = http_backoff(
            "HEAD", url, headers=sent, timeout=timeouts(client), follow_redirects=False, max_retries=0,
            retry_on_exceptions=(), retry_on_status_codes=(),
        )
        hf_raise_for_status(response)
        target = urljoin(url, response.headers["Location"]) if response.has_redirect_location else None
        if target is None or not same_origin(target, client.endpoint):
            # Off the Hub (a CDN's signed URL): this very answer carries the file's metadata, and the
            # token must not follow it.
            got = response.headers
            etag = got.get("X-Linked-Etag") or got.get("ETag")
            size = got.get("X-Linked-Size") or (None if response.is_redirect else got.get("Content-Length"))
            return Head(commit=got.get("X-Repo-Commit"), etag=_etag(etag), location=target or str(response.url),
                        size=_int(size))
        url = target
    raise httpx2.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


def _int(raw: str | None) -> int | None:
    """A size header as a number (a negative one too: the caller refuses it), or None."""
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _etag(raw: str | None) -> str | None:
    """An ETag's value without the weak marker and quotes (validated by the caller: hex or refused)."""
    return raw.strip().removeprefix("W/").strip('"') if raw is not None else None
