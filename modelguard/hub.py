"""The network layer: the only module that imports huggingface_hub.

Owns three operations and the mapping of every Hub failure onto :mod:`modelguard.errors`:

* :func:`resolve` turns a branch, tag or commit into a commit the Hub confirms, and lists every
  file at that commit (one paginated tree listing, cross-checked with the model info).
* :func:`download` fetches one file at one commit into a folder the caller owns, hashing every
  byte while it is written, and checks the bytes against what the server announced.
* :func:`check_published`, :func:`check_locked` and :func:`remote_file_status` compare digests
  and listings with what the Hub publishes or the lock pins.

Everything a server says is validated before use (commit, paths, hashes, sizes, ETags, links);
a malformed answer is an :class:`~modelguard.errors.IntegrityError` with rule ``MG-H004``.

Must not: write outside the destination's folder, touch the user's Hugging Face cache, trust a
40-hex revision without asking the server, send the token anywhere but the endpoint, put the
token in a message or repr, or import huggingface_hub at module import (CLI start-up time).
Validation of server data lives in :mod:`modelguard.hubdata` (pure, no network).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote, urljoin

from modelguard.digest import Digests, HashingWriter
from modelguard.errors import (
    AccessDeniedError,
    HubUnreachableError,
    IntegrityError,
    NotFoundError,
    UnreadableError,
)
from modelguard.hubdata import (
    RemoteFile,
    RemoteSnapshot,
    check_commit,
    check_etag,
    check_layout,
    is_commit,
    parse_model_info,
    parse_tree_page,
    same_origin,
    validate_endpoint,
    validate_repo_id,
    validate_revision,
)
from modelguard.models import Finding, LockedFile, LockedHFModel
from modelguard.rules import finding

if TYPE_CHECKING:  # pragma: no cover
    import httpx2

__all__ = [
    "DEFAULT_ENDPOINT",
    "HubClient",
    "RemoteFile",
    "RemoteSnapshot",
    "check_locked",
    "check_published",
    "download",
    "make_client",
    "remote_file_status",
    "resolve",
]

DEFAULT_ENDPOINT = "https://huggingface.co"
_MAX_PAGES = 10_000  # 10 million files at the Hub's 1,000 per page: a listing that long is a loop
_MAX_RESTARTS = 3  # times a download body may restart from zero before it counts as truncated
_LOGIN_HINT = "log in with `huggingface-cli login` or set HF_TOKEN (or pass --token)"


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


def make_client(endpoint: str | None = None, token: str | None = None) -> HubClient:
    """A client for ``endpoint`` (else ``$HF_ENDPOINT`` read now, else huggingface.co).

    The token is ``token``, else huggingface_hub's standard sources (``HF_TOKEN``, the login file).
    """
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    if token is None:
        token = _hf().get_token()
    return HubClient(endpoint=validate_endpoint(chosen), token=token or None)


# --- huggingface_hub, imported lazily --------------------------------------------------------


def _hf() -> ModuleType:
    """huggingface_hub, imported on first use with telemetry off and Xet off (loopback Hubs lack it)."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    import huggingface_hub

    return huggingface_hub


def _headers(client: HubClient, *, authorized: bool = True) -> dict[str, str]:
    from huggingface_hub.utils._headers import build_hf_headers

    # token=False, never None: None would make huggingface_hub look for a token on its own.
    token: str | bool = client.token if (authorized and client.token) else False
    return build_hf_headers(token=token)


@contextlib.contextmanager
def _hub_errors(client: HubClient, what: str) -> Iterator[None]:
    """Translate huggingface_hub/httpx2 failures while doing ``what`` into modelguard errors.

    Messages are built here from the status and the error code only: never from the server's text
    or the exception's (which hold URLs and could, with a careless proxy, hold headers). ``from None``
    keeps the huggingface_hub exception, and anything in it, out of tracebacks.
    """
    import httpx2
    from huggingface_hub import errors as hf_errors

    try:
        yield
    except hf_errors.GatedRepoError:
        raise AccessDeniedError(
            f"{what}: the repo is gated and this token has no access; request access on the repo's Hub "
            f"page, then {_LOGIN_HINT}"
        ) from None
    except hf_errors.RevisionNotFoundError:
        raise NotFoundError(f"{what}: the revision does not exist on {client.endpoint}") from None
    except hf_errors.RemoteEntryNotFoundError:
        raise NotFoundError(f"{what}: the file does not exist at that commit on {client.endpoint}") from None
    except hf_errors.HfHubHTTPError as exc:
        raise _from_status(client, what, exc.response.status_code if exc.response is not None else 0) from None
    except httpx2.TooManyRedirects:
        raise IntegrityError(f"{what}: the server redirected in a loop", rule="MG-H009") from None
    except httpx2.TransportError as exc:
        raise HubUnreachableError(
            f"{what}: cannot reach {client.endpoint} ({type(exc).__name__}); check the network and --endpoint"
        ) from None


def _from_status(client: HubClient, what: str, status: int) -> Exception:
    if status in (401, 403):
        who = "with this token" if client.token else f"without a token; {_LOGIN_HINT}"
        return AccessDeniedError(f"{what}: access denied (HTTP {status}) {who}; for a gated repo, request access "
                                 "on its Hub page")
    if status == 404:
        return NotFoundError(f"{what}: not found on {client.endpoint} (HTTP 404); check the repo id (a private "
                             f"repo also answers 404 to a token without access)")
    return HubUnreachableError(f"{what}: {client.endpoint} answered HTTP {status}; try again later")


def _get_json(client: HubClient, url: str, what: str, params: dict[str, str] | None = None) -> tuple[Any, str | None]:
    """GET a Hub API URL with retries; return the decoded JSON and the absolute next-page link."""
    from huggingface_hub.utils._http import hf_raise_for_status, http_backoff

    with _hub_errors(client, what):
        response: httpx2.Response = http_backoff(
            "GET", url, params=params, headers=_headers(client), timeout=client.timeout,
            max_retries=client.retries, base_wait_time=client.retry_wait, max_wait_time=8,
        )
        hf_raise_for_status(response)
    final = str(response.url)
    if not same_origin(final, client.endpoint):
        raise IntegrityError(f"{what}: the API answer came from another host than {client.endpoint}",
                             rule="MG-H009")
    try:
        data = response.json()
    except ValueError:
        raise IntegrityError(f"{what}: the Hub's answer is not JSON", rule="MG-H004") from None
    link = response.links.get("next", {}).get("url")
    return data, (urljoin(final, link) if link else None)


# --- resolve ---------------------------------------------------------------------------------


def resolve(client: HubClient, repo: str, revision: str) -> RemoteSnapshot:
    """The commit ``revision`` points to, as confirmed by the Hub, and every file at that commit.

    A 40-hex revision is asked for too: the Hub must know the commit. Raises NotFoundError (the repo
    or revision does not exist), AccessDeniedError, HubUnreachableError, or IntegrityError (MG-H004 for
    malformed metadata, MG-H005 when the Hub answers for another commit than the one asked for).
    """
    validate_repo_id(repo)
    validate_revision(revision)
    what = f"{repo}@{revision}"
    info, _ = _get_json(
        client, f"{client.endpoint}/api/models/{repo}/revision/{quote(revision, safe='')}", what,
        params={"blobs": "true"},
    )
    commit, siblings = parse_model_info(info, what)
    if is_commit(revision) and commit != revision:
        raise IntegrityError(f"{what}: the Hub answered for commit {commit} instead", rule="MG-H005")
    files = _list_tree(client, repo, commit, what)
    snapshot = RemoteSnapshot(repo=repo, commit=commit, files=tuple(sorted(files.values(), key=lambda f: f.path)))
    if siblings is not None:
        _cross_check(snapshot, siblings, what)
    return snapshot


def _list_tree(client: HubClient, repo: str, commit: str, what: str) -> dict[str, RemoteFile]:
    url: str | None = f"{client.endpoint}/api/models/{repo}/tree/{commit}"
    params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
    files: dict[str, RemoteFile] = {}
    folders: set[str] = set()
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        if url is None:
            check_layout(files, folders, what)
            return files
        if url in seen:
            raise IntegrityError(f"{what}: the tree listing loops back to a page it already sent", rule="MG-H004")
        seen.add(url)
        page, url = _get_json(client, url, f"{what} (file list)", params)
        params = None  # the next link already carries the query
        if url is not None and not same_origin(url, client.endpoint):
            # huggingface_hub would follow it with the Authorization header: refuse before any request.
            raise IntegrityError(f"{what}: the tree listing links to another host than {client.endpoint}",
                                 rule="MG-H004")
        parse_tree_page(page, files, folders, what)
    raise IntegrityError(f"{what}: the tree listing has more than {_MAX_PAGES} pages", rule="MG-H004")


def _cross_check(snapshot: RemoteSnapshot, siblings: dict[str, RemoteFile | None], what: str) -> None:
    """The model info and the tree listing describe the same commit: they must agree on every file."""
    listed = {f.path: f for f in snapshot.files}
    if set(siblings) != set(listed):
        only = sorted(set(siblings) ^ set(listed))
        raise IntegrityError(f"{what}: the Hub's model info and file list disagree on {len(only)} path(s), "
                             f"e.g. {only[0]!r}", rule="MG-H004")
    for path, sibling in siblings.items():
        if sibling is not None and sibling != listed[path]:
            raise IntegrityError(f"{what}: the Hub's model info and file list disagree about {path!r}",
                                 rule="MG-H004")


# --- download --------------------------------------------------------------------------------


class _Sink:
    """What huggingface_hub's ``http_get`` writes into: a file that hashes every byte as it lands.

    ``http_get`` may rewind to zero when a server ignores a Range request; that restarts the hashes.
    A server that keeps restarting, or sends more bytes than it announced, is stopped here, since
    ``http_get`` would otherwise retry it for as long as bytes keep coming.
    """

    def __init__(self, raw: BinaryIO, size: int, what: str) -> None:
        self._raw = raw
        self._size = size
        self._what = what
        self._writer = HashingWriter(raw, expected_size=size)
        self.restarts = 0

    def write(self, data: bytes) -> int:
        if self._writer.size + len(data) > self._size:
            raise IntegrityError(f"{self._what}: the server sent more than the {self._size} bytes it announced",
                                 rule="MG-H002")
        try:
            return self._writer.write(data)
        except OSError as exc:
            raise UnreadableError(f"{self._what}: cannot write the download: {exc.strerror}") from None

    def tell(self) -> int:
        return self._writer.size

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):  # pragma: no cover - http_get only rewinds to our start
            raise RuntimeError(f"unexpected seek({offset}, {whence}) on a download sink")
        self.restarts += 1
        if self.restarts > _MAX_RESTARTS:
            raise IntegrityError(f"{self._what}: the body was cut short {self.restarts} times", rule="MG-H008")
        self._raw.seek(0)
        self._writer = HashingWriter(self._raw, expected_size=self._size)
        return 0

    def truncate(self, size: int | None = None) -> int:
        return self._raw.truncate(size)

    def flush(self) -> None:
        self._raw.flush()

    def digests(self) -> Digests:
        return self._writer.digests()


def download(
    client: HubClient,
    repo: str,
    commit: str,
    path: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    progress: bool = False,
) -> Digests:
    """Download ``path`` at ``commit`` into ``dest`` (a path in a folder the caller owns).

    Writes a temporary file next to ``dest`` and renames it only when the bytes match the size
    and the hash (ETag) the server announced; on any failure nothing is left behind. Returns the
    size, SHA-256 and git blob SHA-1 of what was written. 5xx and network errors are retried.

    ``expected_size`` / ``expected_sha256`` (from the lock) are checked too: a size the Hub announces
    differently fails before any byte is fetched (MG-H002), other bytes fail with MG-H001 before the
    ETag check (MG-H003), so a fetch reports "differs from the lock" first.
    """
    validate_repo_id(repo)
    check_commit(commit, f"{repo}: requested commit")
    what = f"{repo}@{commit[:12]}:{path}"
    wait = client.retry_wait
    for attempt in range(client.retries + 1):
        try:
            return _download_once(client, repo, commit, path, Path(dest), expected_size, expected_sha256, progress,
                                  what)
        except HubUnreachableError:
            if attempt == client.retries:
                raise
        time.sleep(wait)
        wait = min(8.0, wait * 2)
    raise AssertionError("unreachable")  # pragma: no cover


def _download_once(client: HubClient, repo: str, commit: str, path: str, dest: Path,
                   expected_size: int | None, expected_sha256: str | None, progress: bool, what: str) -> Digests:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils.tqdm import silent_tqdm

    url = hf_hub_url(repo, path, revision=commit, endpoint=client.endpoint)
    with _hub_errors(client, what):
        meta = get_hf_file_metadata(url, token=client.token or False, timeout=client.timeout,
                                    endpoint=client.endpoint, retry_on_errors=False)
    served_commit = check_commit(meta.commit_hash, f"{what}: X-Repo-Commit")
    if served_commit != commit:
        raise IntegrityError(f"{what}: the Hub served commit {served_commit}, not the requested one",
                             rule="MG-H005")
    etag = check_etag(meta.etag, what)
    size = meta.size if meta.size is not None else expected_size
    if size is None or size < 0:
        raise IntegrityError(f"{what}: the Hub announced no valid size", rule="MG-H004")
    if expected_size is not None and size != expected_size:
        raise IntegrityError(f"{what}: the Hub announces {size} bytes, expected {expected_size}", rule="MG-H002")
    location = _check_redirect(client, url, meta.location, etag, what)
    # The token goes to the Hub's own origin only; a CDN gets a signed URL and no Authorization.
    headers = _headers(client, authorized=same_origin(location, client.endpoint))

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            sink = _Sink(raw, size, what)
            with _hub_errors(client, what), _truncation(sink, what):
                http_get(location, cast(BinaryIO, sink), headers=headers, displayed_filename=path,
                         tqdm_class=None if progress else silent_tqdm)
            raw.flush()
            os.fsync(raw.fileno())
        got = sink.digests()
        if got.size != size:
            # The body ended cleanly at another length than announced (a cut connection is MG-H008 above).
            raise IntegrityError(f"{what}: the server sent {got.size} bytes, it announced {size}", rule="MG-H002")
        if expected_sha256 is not None and got.sha256 != expected_sha256:
            raise IntegrityError(f"{what}: SHA-256 {got.sha256} differs from the locked {expected_sha256}",
                                 rule="MG-H001")
        _check_etag_matches(etag, got, what)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return got


@contextlib.contextmanager
def _truncation(sink: _Sink, what: str) -> Iterator[None]:
    """A connection that dies after bytes arrived is a truncated body (MG-H008), not an outage."""
    import httpx2

    try:
        yield
    except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
        if sink.tell() == 0:
            raise
        raise IntegrityError(f"{what}: the connection closed after {sink.tell()} bytes ({type(exc).__name__})",
                             rule="MG-H008") from None


def _check_redirect(client: HubClient, url: str, location: str, etag: str, what: str) -> str:
    """Where the bytes may come from: the Hub itself, or (LFS content only) an http(s) CDN."""
    if location == url or same_origin(location, client.endpoint):
        return location
    scheme = location.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise IntegrityError(f"{what}: redirected to a {scheme!r} URL", rule="MG-H009")
    if client.endpoint.startswith("https:") and scheme != "https":
        raise IntegrityError(f"{what}: redirected from https to plain http", rule="MG-H009")
    if len(etag) != 64:
        # Git-stored files are served by the Hub itself; only LFS/Xet content lives on a CDN.
        raise IntegrityError(f"{what}: a git-stored file was redirected to another host", rule="MG-H009")
    return location


def _check_etag_matches(etag: str, got: Digests, what: str) -> None:
    published = got.sha256 if len(etag) == 64 else got.git_blob_sha1
    if published != etag:
        kind = "SHA-256" if len(etag) == 64 else "git blob SHA-1"
        raise IntegrityError(f"{what}: the bytes do not match the {kind} the Hub announced ({etag})",
                             rule="MG-H003")


# --- comparisons -----------------------------------------------------------------------------


def check_published(file: RemoteFile, got: Digests, *, what: str = "") -> None:
    """Raise unless ``got`` (downloaded bytes) matches what the Hub lists for ``file``."""
    label = what or file.path
    if got.size != file.size:
        raise IntegrityError(f"{label}: {got.size} bytes, the Hub lists {file.size}", rule="MG-H002")
    if file.lfs_sha256 is not None:
        if got.sha256 != file.lfs_sha256:
            raise IntegrityError(f"{label}: SHA-256 {got.sha256} differs from the published {file.lfs_sha256}",
                                 rule="MG-H003")
    elif got.git_blob_sha1 != file.blob_id:
        raise IntegrityError(f"{label}: git blob SHA-1 {got.git_blob_sha1} differs from the published "
                             f"{file.blob_id}", rule="MG-H003")


def check_locked(locked: LockedFile, got: Digests, *, what: str = "") -> None:
    """Raise unless ``got`` is exactly the locked file: size, SHA-256 and, if pinned, git blob SHA-1."""
    label = what or locked.path
    if got.size != locked.size:
        raise IntegrityError(f"{label}: {got.size} bytes, the lock pins {locked.size}", rule="MG-H002")
    if got.sha256 != locked.sha256:
        raise IntegrityError(f"{label}: SHA-256 {got.sha256} differs from the locked {locked.sha256}",
                             rule="MG-H001")
    if locked.git_blob_sha1 is not None and got.git_blob_sha1 != locked.git_blob_sha1:
        raise IntegrityError(f"{label}: git blob SHA-1 differs from the locked {locked.git_blob_sha1}",
                             rule="MG-H001")


def remote_file_status(
    client: HubClient,
    model: LockedHFModel,
    *,
    selected: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """For ``verify --remote``: does the Hub still have the locked commit and publish the locked hashes?

    Returns one finding per difference (MG-H005 commit gone, MG-H006 file gone, MG-H002 size,
    MG-H003 published hash, MG-H007 a file at the commit the lock lacks, when ``selected`` says
    which paths the manifest's include/exclude keep). Access and network failures still raise.
    """
    where = f"{model.repo}@{model.commit}"
    try:
        snapshot = resolve(client, model.repo, model.commit)
    except NotFoundError as exc:
        return [finding("MG-H005", f"{where}: the Hub no longer has the locked commit ({exc.message})",
                        model=model.name)]
    except IntegrityError as exc:
        if exc.rule != "MG-H005":
            raise
        return [finding("MG-H005", exc.message, model=model.name)]
    remote = {f.path: f for f in snapshot.files}
    out: list[Finding] = []
    for locked in model.files:
        file = remote.get(locked.path)
        if file is None:
            out.append(finding("MG-H006", f"{where}: the Hub no longer lists this file", path=locked.path,
                               model=model.name))
        elif file.size != locked.size:
            out.append(finding("MG-H002", f"{where}: the Hub lists {file.size} bytes, the lock pins {locked.size}",
                               path=locked.path, model=model.name))
        elif not _publishes_locked(file, locked):
            out.append(finding("MG-H003", f"{where}: the Hub publishes another hash than the locked one",
                               path=locked.path, model=model.name))
    if selected is not None:
        pinned = {f.path for f in model.files}
        for path in sorted(p for p in remote if p not in pinned and selected(p)):
            out.append(finding("MG-H007", f"{where}: the Hub lists a file the lock does not pin", path=path,
                               model=model.name))
    return out


def _publishes_locked(file: RemoteFile, locked: LockedFile) -> bool:
    if locked.published == "lfs-sha256":
        return file.lfs_sha256 == locked.sha256
    return file.lfs_sha256 is None and file.blob_id == locked.git_blob_sha1
