"""The verified cache: where it lives, its layout, its writer lock, quarantine and reading records.

Layout under the cache root (DESIGN.md §5)::

    hub/models--{org}--{name}/blobs/{etag}                 read-only bytes (LFS: sha256, else git blob sha1)
    hub/models--{org}--{name}/snapshots/{commit}/{path}    relative symlinks into blobs/
    hub/models--{org}--{name}/refs/{revision}              the commit a branch/tag name was locked to
    admissions/models--{org}--{name}/{commit}.json         the admission record (a log and a speed-up)
    quarantine/*                                           staging and set-aside evictions; never read by loaders
    .lock, audit.log, audit.log.lock                       the writer lock and the audit log

``hub/`` is a Hugging Face cache: with ``HF_HUB_CACHE=<root>/hub HF_HUB_OFFLINE=1`` loaders resolve
it offline. Nothing else belongs anywhere in the root (:data:`ROOT_ENTRIES`, :data:`REPO_ENTRIES`);
:mod:`modelguard.store.inventory` reports whatever does. How bytes get in and out (admission,
eviction, re-attestation, read-only sealing) is :mod:`modelguard.store.publish`; whether an admitted
snapshot is still what was locked is :mod:`modelguard.store.integrity`.

This module never talks to the network and never scans.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelguard.errors import LockfileError, UnreadableError, UsageError
from modelguard.spec import filenames, ids
from modelguard.store.admission import AdmissionRecord, Fingerprint
from modelguard.store.atomic import replace_file

_log = logging.getLogger("modelguard")

ROOT_ENTRIES = frozenset({"hub", "quarantine", "admissions", ".lock", filenames.AUDIT_LOG,
                          filenames.AUDIT_LOG + ".lock"})
"""Everything that may sit in the cache root; anything else is not modelguard's (inventory: MG-H110)."""
REPO_ENTRIES = ("blobs", "snapshots", "refs")
"""The folders of one repo in ``hub/`` (huggingface_hub's own ``.no_exist`` is not admitted content)."""


# --- where the cache lives ------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``--cache-dir``, else ``$MODELGUARD_HOME``, else ``$XDG_CACHE_HOME/modelguard``, else ``~/.cache/modelguard``."""
    if cache_dir:
        return Path(cache_dir).expanduser().absolute()
    home = os.environ.get("MODELGUARD_HOME")
    if home:
        return Path(home).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return (Path(xdg).expanduser() / "modelguard").absolute()
    return (Path.home() / ".cache" / "modelguard").absolute()


def existing_cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """:func:`cache_root` for a command that only reads the cache: a folder named explicitly must exist.

    A mistyped ``--cache-dir`` is a usage error, never a new empty cache nor "not admitted". The
    default location may be absent (nothing fetched on this machine yet); callers report that.
    """
    root = cache_root(cache_dir)
    if cache_dir and not root.is_dir():
        raise UsageError(f"no verified cache at {root} (given as --cache-dir / cache_dir=); check the path, or run "
                         f"`modelguard fetch --cache-dir {root}` to create it")
    return root


# --- validation of names that become paths ----------------------------------------------------
# The lockfile is input like any other: a repo id, commit, revision or file path taken from it
# must not be able to name a place outside the cache.


def check_repo_id(repo: str) -> str:
    problem = ids.repo_id_problem(repo)
    if problem:
        raise LockfileError(f"invalid repo id {repo!r} in the lockfile: it {problem}")
    return repo


def check_commit(commit: str) -> str:
    if not ids.is_commit(commit):
        raise LockfileError(f"invalid commit {commit!r} in the lockfile; expected 40 lowercase hex digits")
    return commit


def check_relpath(path: str, what: str = "file path") -> str:
    """A repo-relative POSIX path (:func:`modelguard.spec.ids.repo_path_problem`)."""
    problem = ids.repo_path_problem(path)
    if problem:
        raise LockfileError(f"invalid {what} {path!r} in the lockfile: it {problem}; it must stay inside the repo")
    return path


def check_etag(etag: str) -> str:
    if not ids.is_blob_name(etag):
        raise LockfileError(f"invalid blob name {etag!r}; expected a hex sha1 or sha256")
    return etag


def repo_folder(repo: str) -> str:
    org, name = check_repo_id(repo).split("/", 1)
    return f"models--{org}--{name}"


def repo_of_folder(folder: str) -> str | None:
    """The repo id a ``models--{org}--{name}`` folder holds, or None when the name is no such folder."""
    if not folder.startswith("models--"):
        return None
    org, sep, name = folder[len("models--"):].partition("--")
    repo = f"{org}/{name}"
    return repo if sep and ids.is_repo_id(repo) and repo_folder(repo) == folder else None


@dataclass(frozen=True)
class Layout:
    """Paths inside one cache root."""

    root: Path

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def admissions(self) -> Path:
        return self.root / "admissions"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def repo_dir(self, repo: str) -> Path:
        return self.hub / repo_folder(repo)

    def blob(self, repo: str, etag: str) -> Path:
        return self.repo_dir(repo) / "blobs" / check_etag(etag)

    def snapshot(self, repo: str, commit: str) -> Path:
        return self.repo_dir(repo) / "snapshots" / check_commit(commit)

    def ref(self, repo: str, revision: str) -> Path:
        return self.repo_dir(repo) / "refs" / check_relpath(revision, "revision")

    def record(self, repo: str, commit: str) -> Path:
        return self.admissions / repo_folder(repo) / f"{check_commit(commit)}.json"

    def create(self) -> None:
        for d in (self.hub, self.quarantine, self.admissions):
            d.mkdir(parents=True, exist_ok=True)


# --- the writer lock and quarantine -----------------------------------------------------------


@contextlib.contextmanager
def writer_lock(layout: Layout) -> Iterator[None]:
    """Hold the cache's writer lock: one fetch (or eviction) at a time per cache root.

    The lock is held for a whole fetch run, so the quarantine of a crashed run can be swept
    safely at the start of the next one (no live run can own it).
    """
    from filelock import FileLock, Timeout

    try:
        layout.create()
    except OSError as e:
        raise UnreadableError(f"cannot create the verified cache at {layout.root}: {e.strerror or e}") from None
    lock = FileLock(str(layout.lock_path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            _log.warning("modelguard: waiting for another modelguard process to finish with %s", layout.root)
            lock.acquire()
    except OSError as e:  # a lock file that is a folder, or one nobody may open: no verdict, not a crash
        raise UnreadableError(f"cannot take the writer lock {layout.lock_path}: {e.strerror or e}; remove it if it "
                              "is not a file, or fix its permissions") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def writer_lock_if_free(layout: Layout) -> Iterator[bool]:
    """Hold the writer lock if nobody else does and the cache can be written; yields whether it is held.

    For best-effort writes (re-attestation) that must never wait for a fetch nor fail a read-only check.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(layout.lock_path))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def sweep_quarantine(layout: Layout) -> None:
    """Remove everything left in quarantine (call only under :func:`writer_lock`) but the partial
    downloads a later fetch resumes, which go once they are older than their stated age
    (:class:`~modelguard.store.partial.PartialStore`)."""
    from modelguard.store.partial import PartialStore

    if not layout.quarantine.is_dir():
        return
    partials = PartialStore(layout.quarantine)
    for child in layout.quarantine.iterdir():
        if child != partials.folder or child.is_symlink():
            remove_tree(child)
    partials.sweep()


def new_quarantine(layout: Layout, label: str) -> Path:
    """A fresh private folder in quarantine for one model of this run."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:80]
    path = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=layout.quarantine))
    path.chmod(0o700)
    return path


def discard(path: Path) -> None:
    """Remove one quarantine folder (and whatever is left in it)."""
    remove_tree(path)


def remove_tree(path: Path) -> None:
    """Remove a file, a link or a folder tree, read-only parts included (only ever inside the cache root;
    the caller makes the parent writable)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    # Admitted folders are sealed (0o555) and quarantine folders may be read-only after a crash: make
    # them writable before deleting. Never follows a link (os.walk does not descend into one).
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    shutil.rmtree(path)


# --- staging and records ---------------------------------------------------------------------


@dataclass(frozen=True)
class StagedFile:
    """A file that passed every check, waiting in quarantine (or already a blob) for admission."""

    path: str
    """path inside the repo"""
    etag: str
    """blob name: the LFS sha256, or the git blob sha1 for regular files"""
    staged: Path | None
    """the quarantine copy to move into blobs/, or None when the blob is already in the cache"""
    fingerprint: Fingerprint | None = None
    """for a blob already in the cache: its fingerprint from just before it was re-hashed (admission
    records it only if the blob is still exactly that file)"""


def write_json_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(doc, indent=2, sort_keys=True) + "\n", mode=0o444)


def read_record(layout: Layout, repo: str, commit: str) -> AdmissionRecord | None:
    """The admission record of ``repo@commit``, or None when there is none (not admitted).

    A record that does not parse, or is a link (the layout check reports it, MG-H109), not a regular
    file, or larger or deeper than its budgets, is treated as absent: the snapshot is then not
    admitted. Unreadable: :class:`UnreadableError`. :func:`load_record` says why a record is over budget.
    """
    from modelguard.spec.limits import OverBudget

    try:
        return load_record(layout, repo, commit)
    except OverBudget:
        return None


def load_record(layout: Layout, repo: str, commit: str) -> AdmissionRecord | None:
    """:func:`read_record`, except that a record larger or deeper than the ``RECORD_BYTES`` / ``JSON_DEPTH``
    budgets raises :class:`~modelguard.spec.limits.OverBudget` (MG-H140): it is never parsed."""
    from modelguard.spec import bounded, limits

    path = layout.record(repo, commit)
    try:
        raw = bounded.read_capped(path, limits.BUDGETS.record_bytes, limits.active().record_bytes,
                                  what=f"admission record {path}", follow=False)
        doc = bounded.load_json(raw, limits.BUDGETS.record_bytes, what=f"admission record {path}")
    except (FileNotFoundError, UsageError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    record = AdmissionRecord.from_json(doc)
    if record is not None and (record.repo, record.commit) != (repo, commit):
        return None  # a record moved here from another snapshot speaks for that one, not for this
    return record
