"""What the Hub says, validated: commits, paths, hashes, sizes, ETags, listings. Pure, no network.

A hostile or broken Hub must not get a path, hash or size into a lockfile or onto a disk, so every
field is checked before anything else sees it, and a bad one raises
:class:`~modelguard.errors.IntegrityError` with rule ``MG-H004`` and one line naming the field.
User input (endpoint, repo id, revision) that cannot be valid raises :class:`~modelguard.errors.UsageError`.

Must not import huggingface_hub or do I/O: :mod:`modelguard.hub` does the talking.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelguard.errors import IntegrityError, UsageError

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_MAX_SIZE = 1 << 53  # 8 PiB: past this a "size" is a lie, and JSON numbers stop being exact
_MAX_PATH = 1024


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
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid Hub endpoint {_show(endpoint)}: use http(s)://host[:port]")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("invalid Hub endpoint: no credentials, query or fragment allowed; pass --token instead")
    return endpoint.strip().rstrip("/")


def validate_repo_id(repo: str) -> str:
    parts = repo.split("/")
    if not (1 <= len(parts) <= 2 and all(_REPO_PART.fullmatch(p) for p in parts)) or ".." in repo or "--" in repo:
        raise UsageError(f"invalid repo id {_show(repo)}: use 'org/name' (letters, digits, '.', '_', '-')")
    return repo


def validate_revision(revision: str) -> str:
    if not revision or len(revision) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in revision):
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


def is_commit(value: object) -> bool:
    return isinstance(value, str) and _COMMIT.fullmatch(value) is not None


def check_commit(value: object, what: str) -> str:
    if not isinstance(value, str) or not _COMMIT.fullmatch(value):
        raise _hostile(what, f"commit {_show(value)} is not 40 lowercase hex")
    return value


def check_etag(value: object, what: str) -> str:
    """An ETag is the git blob SHA-1 (40 hex) or the LFS SHA-256 (64 hex), nothing else.

    huggingface_hub names cache files after it: anything else could be a path (``../../x``).
    """
    if not isinstance(value, str) or not (_COMMIT.fullmatch(value) or _SHA256.fullmatch(value)):
        raise _hostile(what, f"ETag {_show(value)} is not a 40- or 64-hex hash")
    return value


def _sha256(value: object, what: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise _hostile(what, f"SHA-256 {_show(value)} is not 64 lowercase hex")
    return value


def _size(value: object, what: str) -> int:
    # bool is an int in Python; a JSON true is not a size.
    if type(value) is not int or not 0 <= value < _MAX_SIZE:
        raise _hostile(what, f"size {_show(value)} is not a non-negative integer")
    return value


def check_path(value: object, what: str) -> str:
    """A repo path: relative POSIX, no '..', '.', empty segment, backslash, NUL or control character."""
    if not isinstance(value, str) or not value:
        raise _hostile(what, f"path {_show(value)} is not a non-empty string")
    if len(value) > _MAX_PATH:
        raise _hostile(what, f"path {_show(value)} is longer than {_MAX_PATH} characters")
    if value.startswith("/"):
        raise _hostile(what, f"path {_show(value)} is absolute")
    if "\\" in value:
        raise _hostile(what, f"path {_show(value)} contains a backslash")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _hostile(what, f"path {_show(value)} contains NUL or a control character")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise _hostile(what, f"path {_show(value)} has an empty, '.' or '..' segment")
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
        key = unicodedata.normalize("NFC", path).casefold()
        if key in folded:
            raise _hostile(what, f"paths {_show(folded[key])} and {_show(path)} collide on case-insensitive disks")
        folded[key] = path


def _remote_file(path: str, size: object, blob_id: object, lfs: object, sha_key: str, what: str) -> RemoteFile:
    where = f"{what}: {_show(path)}"
    checked_size = _size(size, where)
    if not isinstance(blob_id, str) or not _COMMIT.fullmatch(blob_id):
        raise _hostile(where, f"blob id {_show(blob_id)} is not 40 lowercase hex")
    lfs_sha256 = None
    if lfs is not None:
        if not isinstance(lfs, dict):
            raise _hostile(where, "the LFS metadata is not a JSON object")
        lfs_sha256 = _sha256(lfs.get(sha_key), where)
        if _size(lfs.get("size"), where) != checked_size:
            raise _hostile(where, "the LFS size differs from the file size")
    return RemoteFile(path=path, size=checked_size, blob_id=blob_id, lfs_sha256=lfs_sha256)

