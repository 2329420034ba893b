"""What the Hub says, validated and compared: commits, paths, hashes, sizes, ETags, listings. Pure, no network.

A hostile or broken Hub must not get a path, hash or size into a lockfile or onto a disk, so every
field is checked before anything else sees it, and a bad one raises
:class:`~modelguard.errors.IntegrityError` with rule ``MG-H004`` and one line naming the field.
User input (endpoint, repo id, revision) that cannot be valid raises :class:`~modelguard.errors.UsageError`.
:func:`check_published` and :func:`check_locked` compare downloaded digests with the Hub's listing
and with the lock (MG-H001/H002/H003); both are re-exported by :mod:`modelguard.hub.client`.
:class:`CappedSink` is what a download streams into: hashed while written, capped at the announced size.

Must not import huggingface_hub or do I/O: :mod:`modelguard.hub.client` does the talking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

from modelguard.errors import IntegrityError, UsageError
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec import ids, limits
from modelguard.spec.types import LockedFile, LockedHFModel
from modelguard.store.digest import Digests, HashingWriter

_MAX_SIZE = 1 << 53  # 8 PiB: past this a "size" is a lie, and JSON numbers stop being exact


@dataclass(frozen=True)
class RemoteFile:
    """One file at a commit, as the Hub lists it. ``blob_id`` is the git blob SHA-1 (for an LFS
    file, the SHA-1 of its pointer); ``lfs_sha256`` is the published content SHA-256 of LFS/Xet files."""

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None


@dataclass(frozen=True)
class RemoteSnapshot:
    """A commit the Hub confirmed and every file at it, sorted by path."""

    repo: str
    commit: str
    files: tuple[RemoteFile, ...]


def _hostile(what: str, text: str) -> IntegrityError:
    return IntegrityError(f"{what}: {text}", rule="MG-H004")


def _show(value: object) -> str:
    """A short, printable rendering of a hostile value (no control characters reach the terminal)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- user input ------------------------------------------------------------------------------


def validate_endpoint(endpoint: str) -> str:
    # The value is never echoed: a mistyped endpoint may carry credentials.
    parts = urlsplit(endpoint.strip())
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise UsageError("invalid Hub endpoint: the port is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("invalid Hub endpoint: use http(s)://host[:port] (from --endpoint or HF_ENDPOINT)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("invalid Hub endpoint: no credentials, query or fragment allowed; pass --token instead")
    return endpoint.strip().rstrip("/")


def validate_repo_id(repo: str) -> str:
    problem = ids.repo_id_problem(repo)
    if problem:
        raise UsageError(f"invalid repo id {_show(repo)}: it {problem}")
    return repo


def validate_revision(revision: str) -> str:
    if ids.revision_problem(revision):
        raise UsageError(f"invalid revision {_show(revision)}: use a branch, a tag or a 40-hex commit")
    return revision


def same_origin(url: str, other: str) -> bool:
    """Same scheme, host and port (the boundary Authorization must not cross)."""
    a, b = urlsplit(url), urlsplit(other)
    ports = {"http": 80, "https": 443}
    try:
        port_a = a.port or ports.get(a.scheme, 0)
        port_b = b.port or ports.get(b.scheme, 0)
    except ValueError:
        return False
    return (a.scheme, (a.hostname or "").lower(), port_a) == (b.scheme, (b.hostname or "").lower(), port_b)


# --- single fields ---------------------------------------------------------------------------


is_commit = ids.is_commit


def check_commit(value: object, what: str) -> str:
    if not isinstance(value, str) or not ids.is_commit(value):
        raise _hostile(what, f"commit {_show(value)} is not 40 lowercase hex")
    return value


def check_etag(value: object, what: str) -> str:
    """An ETag is the git blob SHA-1 (40 hex) or the LFS SHA-256 (64 hex), nothing else.

    huggingface_hub names cache files after it: anything else could be a path (``../../x``).
    """
    if not isinstance(value, str) or not ids.is_blob_name(value):
        raise _hostile(what, f"ETag {_show(value)} is not a 40- or 64-hex hash")
    return value


def _sha256(value: object, what: str) -> str:
    if not isinstance(value, str) or not ids.is_sha256(value):
        raise _hostile(what, f"SHA-256 {_show(value)} is not 64 lowercase hex")
    return value


def _size(value: object, what: str) -> int:
    # bool is an int in Python; a JSON true is not a size.
    if type(value) is not int or not 0 <= value < _MAX_SIZE:
        raise _hostile(what, f"size {_show(value)} is not a non-negative integer")
    return value


def check_path(value: object, what: str) -> str:
    """A repo path as :func:`modelguard.spec.ids.repo_path_problem` accepts it."""
    if not isinstance(value, str):
        raise _hostile(what, f"path {_show(value)} is not a string")
    storable = ids.storable_path_problem(value)  # first: a name too long for a disk has its own rule
    if storable:
        raise IntegrityError(f"{what}: path {_show(value)} {storable[1]}; exclude it in the manifest", rule=storable[0])
    problem = ids.repo_path_problem(value)
    if problem:
        raise _hostile(what, f"path {_show(value)} {problem}")
    return value


# --- listings --------------------------------------------------------------------------------


def parse_model_info(data: object, what: str) -> tuple[str, dict[str, RemoteFile | None] | None]:
    """``GET /api/models/{repo}/revision/{rev}?blobs=true`` -> (commit, siblings by path).

    A sibling is ``None`` when the Hub gave only its name; siblings are ``None`` when absent.
    """
    if not isinstance(data, dict):
        raise _hostile(what, "the model info is not a JSON object")
    commit = check_commit(data.get("sha"), f"{what}: model info")
    raw = data.get("siblings")
    if raw is None:
        return commit, None
    if not isinstance(raw, list):
        raise _hostile(what, "the model info's 'siblings' is not a list")
    _within_files_budget(len(raw), what)
    siblings: dict[str, RemoteFile | None] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise _hostile(what, "a model info sibling is not a JSON object")
        path = check_path(entry.get("rfilename"), what)
        if path in siblings:
            raise _hostile(what, f"path {_show(path)} is listed twice")
        siblings[path] = None
        if "size" in entry and "blobId" in entry:
            lfs = entry.get("lfs")
            siblings[path] = _remote_file(path, entry["size"], entry["blobId"], lfs, "sha256", what)
    return commit, siblings


def parse_tree_page(page: object, files: dict[str, RemoteFile], folders: set[str], what: str) -> None:
    """One page of ``GET /api/models/{repo}/tree/{commit}?recursive=true``, added to ``files``/``folders``."""
    if not isinstance(page, list):
        raise _hostile(what, "a tree listing page is not a JSON list")
    for entry in page:
        if not isinstance(entry, dict):
            raise _hostile(what, "a tree entry is not a JSON object")
        path = check_path(entry.get("path"), what)
        if path in files or path in folders:
            raise _hostile(what, f"path {_show(path)} is listed twice")
        kind = entry.get("type")
        if kind == "directory":
            folders.add(path)
        elif kind == "file":
            files[path] = _remote_file(path, entry.get("size"), entry.get("oid"), entry.get("lfs"), "oid", what)
        else:
            raise _hostile(what, f"tree entry {_show(path)} has unknown type {_show(kind)}")
    _within_files_budget(len(files) + len(folders), what)


def _within_files_budget(count: int, what: str) -> None:
    if count > limits.active().files:
        raise IntegrityError(f"{what}: {limits.over(limits.BUDGETS.files, f'a listing of {count} files and folders')}",
                             rule=limits.BUDGETS.files.rule)


def agree(sibling: RemoteFile, listed: RemoteFile) -> bool:
    """The model info's and the tree's entries for one path tell the same story.

    Compared on what both must carry: the size, the LFS SHA-256 when both list one, the git blob id
    when neither is LFS. (The tree is what modelguard uses; this only catches a Hub that says two things.)
    """
    if sibling.size != listed.size:
        return False
    if sibling.lfs_sha256 is not None and listed.lfs_sha256 is not None:
        return sibling.lfs_sha256 == listed.lfs_sha256
    if sibling.lfs_sha256 is None and listed.lfs_sha256 is None:
        return sibling.blob_id == listed.blob_id
    return True


def check_layout(files: dict[str, RemoteFile], folders: set[str], what: str) -> None:
    """Paths that cannot all exist on one disk: a file under a file, or two names one filesystem folds together.

    Case-insensitive (macOS, Windows) and normalising (macOS) filesystems would let one file
    silently replace another; the Hub's own repos never need both spellings.
    """
    for path in files:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in files:
                raise _hostile(what, f"path {_show(path)} is under {_show(parent)}, which is a file")
            parent = parent.rpartition("/")[0]
    folded: dict[str, str] = {}
    for path in sorted([*files, *folders]):
        key = ids.fold(path)
        if key in folded:
            raise IntegrityError(f"{what}: paths {_show(folded[key])} and {_show(path)} differ only by case or "
                                 "Unicode normalisation, so they are one file on macOS and Windows; exclude one "
                                 "in the manifest", rule="MG-H138")
        folded[key] = path


def _remote_file(path: str, size: object, blob_id: object, lfs: object, sha_key: str, what: str) -> RemoteFile:
    where = f"{what}: {_show(path)}"
    checked_size = _size(size, where)
    if not isinstance(blob_id, str) or not ids.is_sha1(blob_id):
        raise _hostile(where, f"blob id {_show(blob_id)} is not 40 lowercase hex")
    lfs_sha256 = None
    if lfs is not None:
        if not isinstance(lfs, dict):
            raise _hostile(where, "the LFS metadata is not a JSON object")
        lfs_sha256 = _sha256(lfs.get(sha_key), where)
        if _size(lfs.get("size"), where) != checked_size:
            raise _hostile(where, "the LFS size differs from the file size")
    return RemoteFile(path=path, size=checked_size, blob_id=blob_id, lfs_sha256=lfs_sha256)


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
    elif got.git_blob_sha1 is None:
        raise IntegrityError(f"{label}: the Hub lists a git file but served it as an LFS file", rule="MG-H003")
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


def publishes_locked(file: RemoteFile, locked: LockedFile) -> bool:
    """Does the Hub still publish, for ``file``, the value the lock checked (LFS SHA-256 or git blob SHA-1)?"""
    if locked.published == "lfs-sha256":
        return file.lfs_sha256 == locked.sha256
    return file.lfs_sha256 is None and file.blob_id == locked.git_blob_sha1


def check_redirect(endpoint: str, url: str, location: str, etag: str, what: str) -> str:
    """Where the bytes may come from: the Hub itself, or (LFS content only) an http(s) CDN."""
    if location == url or same_origin(location, endpoint):
        return location
    scheme = location.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise IntegrityError(f"{what}: redirected to a {scheme!r} URL", rule="MG-H009")
    if endpoint.startswith("https:") and scheme != "https":
        raise IntegrityError(f"{what}: redirected from https to plain http", rule="MG-H009")
    if len(etag) != 64:
        # Git-stored files are served by the Hub itself; only LFS/Xet content lives on a CDN.
        raise IntegrityError(f"{what}: a git-stored file was redirected to another host", rule="MG-H009")
    return location


def check_etag_matches(etag: str, got: Digests, what: str) -> None:
    """The downloaded bytes against the ETag the Hub sent for them (MG-H003)."""
    published = got.sha256 if len(etag) == 64 else got.git_blob_sha1
    if published != etag:
        kind = "SHA-256" if len(etag) == 64 else "git blob SHA-1"
        raise IntegrityError(f"{what}: the Hub announced {kind} {etag}, the bytes received hash to {published}",
                             rule="MG-H003")


def compare_with_lock(snapshot: RemoteSnapshot, model: LockedHFModel,
                      selected: Callable[[str], bool] | None = None) -> list[Finding]:
    """What the Hub lists at the locked commit against what the lock pins: one finding per difference."""
    where = f"{model.repo}@{model.commit}"
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
        elif not publishes_locked(file, locked):
            out.append(finding("MG-H003", f"{where}: the Hub publishes another hash than the locked one",
                               path=locked.path, model=model.name))
    if selected is not None:
        pinned = {f.path for f in model.files}
        for path in sorted(p for p in remote if p not in pinned and selected(p)):
            out.append(finding("MG-H007", f"{where}: the Hub lists a file the lock does not pin", path=path,
                               model=model.name))
    return out


# --- listings and bodies, as modelguard.hub.client receives them ---------------------------------------


def next_page(endpoint: str, link: str, what: str) -> str:
    """A pagination link, kept on the endpoint. huggingface_hub would follow any host with the token."""
    if same_origin(link, endpoint):
        return link
    parts = urlsplit(link)
    if same_origin(link, "https://huggingface.co") and parts.path.startswith("/api/"):
        # A mirror passing the Hub's own links through: same route, asked of the mirror.
        return urlunsplit(urlsplit(endpoint)[:2] + parts[2:])
    raise IntegrityError(f"{what}: the tree listing links to another host than {endpoint}", rule="MG-H004")


def moved_to(requested: str, final: str) -> str | None:
    """The repo an API redirect led to (``/api/models/{org}/{name}/...``), if not the one asked for."""
    def repo(url: str) -> list[str]:
        return unquote(urlsplit(url).path).split("/")[3:5]

    asked, got = repo(requested), repo(final)
    return None if got == asked else _show("/".join(got))


def cross_check(snapshot: RemoteSnapshot, siblings: dict[str, RemoteFile | None], what: str) -> None:
    """The model info and the tree listing describe the same commit: they must agree on every file."""
    listed = {f.path: f for f in snapshot.files}
    # The tree is authoritative; the model info may list fewer files (it is not paginated), never others.
    unlisted = sorted(set(siblings) - set(listed))
    if unlisted:
        raise IntegrityError(f"{what}: the Hub's model info lists {len(unlisted)} file(s) its file list lacks, "
                             f"e.g. {unlisted[0]!r}", rule="MG-H004")
    for path, sibling in siblings.items():
        if sibling is not None and not agree(sibling, listed[path]):
            raise IntegrityError(f"{what}: the Hub's model info and file list disagree about {path!r}",
                                 rule="MG-H004")


class CappedSink:
    """The temporary file a download streams into: every byte is hashed as it lands, and a server
    that sends more than it announced is stopped at the first extra byte."""

    def __init__(self, raw: BinaryIO, size: int, what: str, *, git_sha1: bool = True) -> None:
        """``git_sha1=False`` skips the git blob SHA-1 (LFS files: the Hub publishes their
        SHA-256 only, and the SHA-1 is a third of the hashing CPU of a download)."""
        self._size = size
        self._what = what
        self._writer = HashingWriter(raw, expected_size=size if git_sha1 else None, background=True)

    def write(self, data: bytes) -> None:
        if self._writer.size + len(data) > self._size:
            raise IntegrityError(f"{self._what}: the server sent more than the {self._size} bytes it announced",
                                 rule="MG-H002")
        self._writer.write(data)

    def digests(self) -> Digests:
        return self._writer.digests()

    def close(self) -> None:
        """Stop the hashing thread (a download that failed half way never asks for digests)."""
        self._writer.close()
