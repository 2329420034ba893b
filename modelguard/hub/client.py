"""The network layer's operations (with :mod:`modelguard.hub.session`, the only modules that import
huggingface_hub, and only its public API).

Owns three operations:

* :func:`resolve` turns a branch, tag or commit into a commit the Hub confirms, and lists every
  file at that commit (one paginated tree listing, cross-checked with the model info).
* :func:`download` fetches one file at one commit into a folder the caller owns, hashing every
  byte while it is written, and checks the bytes against what the server announced.
* :func:`check_published`, :func:`check_locked` and :func:`remote_file_status` compare digests
  and listings with what the Hub publishes or the lock pins.

Everything a server says is validated before use (commit, paths, hashes, sizes, ETags, links);
a malformed answer is an :class:`~modelguard.errors.IntegrityError` with rule ``MG-H004``.

Xet (decided for issue 15): modelguard downloads over the Hub's HTTP ``resolve`` path (which the Hub
keeps serving for Xet-backed repos, redirecting to its Xet bridge) and never through the Xet protocol
(hf-xet): hf-xet reconstructs a file from content-defined chunks fetched from a separate CAS host
and writes it itself, so modelguard could not hash the bytes as they land, keep them in its own
quarantine, resume them, or keep the token on the Hub's origin. modelguard's own HEAD and GET
(:mod:`modelguard.hub.head`, :mod:`modelguard.hub.ranged`) ignore the Xet headers, and
``HF_HUB_DISABLE_XET=1`` is set for huggingface_hub itself (:func:`modelguard.hub.warm.hf`);
parallel connections and pieces of big files (:mod:`modelguard.hub.pool`) give the throughput Xet's
chunked transfers would. The fake Hubs do not speak Xet, so only the HTTP path is measured
(``bench/RESULTS.md``).

Must not: write outside the destination's folder, touch the user's Hugging Face cache, trust a
40-hex revision without asking the server, send the token anywhere but the endpoint, put the
token in a message or repr, or import huggingface_hub at module import (CLI start-up time).
Validation of server data lives in :mod:`modelguard.hub.metadata`; client settings, retries, the waits
a server may ask for and the error each status becomes in :mod:`modelguard.hub.transport` (both pure);
making a client, the headers sent and the mapping of every huggingface_hub failure onto
:mod:`modelguard.errors` in :mod:`modelguard.hub.session`. ``make_client`` and ``DEFAULT_ENDPOINT``
are re-exported here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from modelguard.errors import (
    IntegrityError,
    NotFoundError,
    UnreadableError,
)
from modelguard.hub.metadata import (
    RemoteFile,
    RemoteSnapshot,
    check_commit,
    check_etag,
    check_layout,
    check_locked,
    check_path,
    check_published,
    check_redirect,
    compare_with_lock,
    cross_check,
    is_commit,
    next_page,
    parse_model_info,
    parse_tree_page,
    validate_repo_id,
    validate_revision,
)
from modelguard.hub.pool import DEFAULT_WORKERS, Pool, Want
from modelguard.hub.progress import Bars
from modelguard.hub.session import DEFAULT_ENDPOINT, get_json, hub_errors, make_client, refuse_echo
from modelguard.hub.transport import HubClient, retrying
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec import limits
from modelguard.spec.types import LockedHFModel
from modelguard.store.digest import Digests
from modelguard.store.partial import Partial, Ranges

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "DEFAULT_ENDPOINT",
    "HubClient",
    "RemoteFile",
    "RemoteSnapshot",
    "check_locked",
    "check_published",
    "download",
    "head_file",
    "make_client",
    "remote_file_status",
    "resolve",
]

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
    info, _ = get_json(
        client, f"{client.endpoint}/api/models/{repo}/revision/{quote(revision, safe='')}", what,
        params={"blobs": "true"},
    )
    commit, siblings = parse_model_info(info, what)
    if is_commit(revision) and commit != revision:
        raise IntegrityError(f"{what}: the Hub answered for commit {commit} instead", rule="MG-H005")
    try:
        files = _list_tree(client, repo, commit, what)
    except NotFoundError:
        # A Hub (or mirror) without the tree route: the model info at the same commit lists every
        # file too (not paginated), validated the same way. Only when it gave full metadata for all.
        complete = [f for f in (siblings or {}).values() if f is not None]
        if not siblings or len(complete) != len(siblings):
            raise
        files = {f.path: f for f in complete}
        check_layout(files, set(), what)
    snapshot = RemoteSnapshot(repo=repo, commit=commit, files=tuple(sorted(files.values(), key=lambda f: f.path)))
    if siblings is not None:
        cross_check(snapshot, siblings, what)
    return snapshot


def _list_tree(client: HubClient, repo: str, commit: str, what: str) -> dict[str, RemoteFile]:
    url: str | None = f"{client.endpoint}/api/models/{repo}/tree/{commit}"
    params: dict[str, str] | None = {"recursive": "true", "expand": "false"}
    files: dict[str, RemoteFile] = {}
    folders: set[str] = set()
    seen: set[str] = set()
    pages = limits.active().pages  # a million files at the Hub's 1,000 a page: a listing longer is a loop
    for _ in range(pages):
        if url is None:
            check_layout(files, folders, what)
            return files
        if url in seen:
            raise IntegrityError(f"{what}: the tree listing loops back to a page it already sent", rule="MG-H004")
        seen.add(url)
        page, url = get_json(client, url, f"{what} (file list)", params)
        params = None  # the next link already carries the query
        if url is not None:
            url = next_page(client.endpoint, url, what)
        parse_tree_page(page, files, folders, what)
    if url is None:
        check_layout(files, folders, what)
        return files
    raise IntegrityError(f"{what}: {limits.over(limits.BUDGETS.pages, f'a tree listing of more than {pages} pages')}",
                         rule=limits.BUDGETS.pages.rule)


# --- download --------------------------------------------------------------------------------


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
    workers: int = DEFAULT_WORKERS,
) -> Digests:
    """Download ``path`` at ``commit`` into ``dest`` (a path in a folder the caller owns).

    Writes a temporary file next to ``dest`` and renames it only when the bytes match the size
    and the hash (ETag) the server announced; on any failure nothing is left behind. Returns the
    size, SHA-256 and git blob SHA-1 of what was written. 5xx and network errors are retried, and a
    cut transfer continues where it stopped (:mod:`modelguard.hub.pool`; a file larger than one
    piece comes over up to ``workers`` connections).

    ``expected_size`` / ``expected_sha256`` (from the lock) are checked too: a size the Hub announces
    differently fails before any byte is fetched (MG-H002), other bytes fail with MG-H001 before the
    ETag check (MG-H003), so a fetch reports "differs from the lock" first.
    """
    validate_repo_id(repo)
    check_commit(commit, f"{repo}: requested commit")
    check_path(path, f"{repo}: requested file")
    what = f"{repo}@{commit[:12]}:{path}"
    dest = Path(dest)
    made: list[Path] = []

    def claim(want: Want, size: int) -> Partial:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        except OSError as exc:
            raise UnreadableError(f"{what}: cannot write into {dest.parent}: {exc.strerror}") from None
        os.close(fd)
        made.append(Path(name))
        return Partial(Path(name), None, size, Ranges())

    bars = Bars(expected_size or 0, label=path) if progress else None
    pool = Pool(client, repo, commit, head=lambda p, size: head_file(client, repo, commit, p, size), claim=claim,
                workers=workers, progress=bars)
    try:
        done = pool.run([Want(path, expected_size, expected_sha256, dest)]).get(path)
    finally:
        for leftover in made:
            leftover.unlink(missing_ok=True)  # renamed to dest on success; nothing left behind otherwise
        if bars is not None:
            bars.close()
    if done is None or done.error is not None or done.digests is None:
        raise done.error if done is not None and done.error is not None else \
            UnreadableError(f"{what}: the download did not complete; fetch again")
    return done.digests


def head_file(client: HubClient, repo: str, commit: str, path: str, expected_size: int | None
              ) -> tuple[str, str, int]:
    """HEAD on ``resolve`` (retried): the ETag, where the bytes are and their size, each checked."""
    what = f"{repo}@{commit[:12]}:{path}"
    return retrying(client.retry, lambda: _head(client, repo, commit, path, expected_size, what))


def _head(client: HubClient, repo: str, commit: str, path: str, expected_size: int | None,
          what: str) -> tuple[str, str, int]:
    """HEAD on ``resolve``: the ETag, where the bytes are and their size, each checked."""
    from modelguard.hub.head import head, resolve_url

    url = resolve_url(client.endpoint, repo, commit, path)
    with hub_errors(client, what):
        meta = head(client, url)
    refuse_echo(client, what, meta.location, meta.etag or "", meta.commit or "")
    served_commit = check_commit(meta.commit, f"{what}: X-Repo-Commit")
    if served_commit != commit:
        raise IntegrityError(f"{what}: the Hub served commit {served_commit}, not the requested one",
                             rule="MG-H005")
    etag = check_etag(meta.etag, what)
    location = check_redirect(client.endpoint, url, meta.location, etag, what)
    size = meta.size if meta.size is not None else expected_size
    if size is None or size < 0:
        raise IntegrityError(f"{what}: the Hub announced no valid size", rule="MG-H004")
    if expected_size is not None and size != expected_size:
        raise IntegrityError(f"{what}: the Hub announces {size} bytes, expected {expected_size}", rule="MG-H002")
    return etag, location, size


# --- verify --remote --------------------------------------------------------------------------


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
    return compare_with_lock(snapshot, model, selected)
