"""The verified cache: where it lives, its lock, quarantine, admission and admission records.

Layout under the cache root (DESIGN.md §5)::

    hub/models--{org}--{name}/blobs/{etag}                 read-only bytes (LFS: sha256, else git blob sha1)
    hub/models--{org}--{name}/snapshots/{commit}/{path}    relative symlinks into blobs/
    hub/models--{org}--{name}/refs/{revision}              the commit a branch/tag name was locked to
    admissions/models--{org}--{name}/{commit}.json         what was checked when the snapshot was admitted
    quarantine/run-*/                                      per-run staging, same filesystem; never read by loaders
    .lock                                                  one writer at a time (filelock)

``hub/`` is a Hugging Face cache: with ``HF_HUB_CACHE=<root>/hub HF_HUB_OFFLINE=1`` loaders resolve
only admitted snapshots. Admission is the only way in: blobs are moved with ``os.replace`` (atomic
per file), the snapshot folder is built beside its final name and renamed into place, the record
is written last (atomically). A crash leaves the admitted part untouched; leftovers are swept from
quarantine by the next writer under the lock.

This module never talks to the network and never scans; it moves and checks bytes it is told about.
Integrity checks of admitted snapshots live in :mod:`modelguard.store.integrity`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelguard.errors import IntegrityError, LockfileError, NotAdmittedError, UnreadableError, UsageError
from modelguard.spec import ids
from modelguard.spec.types import LockedHFModel
from modelguard.store.admission import AdmissionRecord, stamped
from modelguard.store.atomic import replace_file

_log = logging.getLogger("modelguard")



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
        lock.acquire(timeout=0)
    except Timeout:
        _log.warning("modelguard: waiting for another modelguard process to finish with %s", layout.root)
        lock.acquire()
    try:
        yield
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
            _remove_tree(child)
    partials.sweep()


def new_quarantine(layout: Layout, label: str) -> Path:
    """A fresh private folder in quarantine for one model of this run."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:80]
    path = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=layout.quarantine))
    path.chmod(0o700)
    return path


def discard(path: Path) -> None:
    """Remove one quarantine folder (and whatever is left in it)."""
    _remove_tree(path)


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    # Admitted blobs are 0o444 and quarantine folders may be read-only after a crash: make them
    # writable before deleting (only ever inside the cache root).
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    os.chmod(path, 0o700)
    shutil.rmtree(path)


# --- admission ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedFile:
    """A file that passed every check, waiting in quarantine (or already a blob) for admission."""

    path: str
    """path inside the repo"""
    etag: str
    """blob name: the LFS sha256, or the git blob sha1 for regular files"""
    staged: Path | None
    """the quarantine copy to move into blobs/, or None when the blob is already in the cache"""


def write_json_atomic(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text)


def place_blob(layout: Layout, repo: str, item: StagedFile) -> Path:
    """Move a verified quarantine copy into ``blobs/`` (atomic) and make it read-only."""
    blob = layout.blob(repo, item.etag)
    if item.staged is None:
        return blob
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(item.staged, 0o444)
    os.replace(item.staged, blob)
    return blob


def admit(
    layout: Layout,
    repo: str,
    commit: str,
    files: Sequence[StagedFile],
    refs: Sequence[str],
    record: AdmissionRecord,
) -> Path:
    """Admit one snapshot whose every file passed. Call only under :func:`writer_lock`.

    Order matters: blobs first (each atomic), then the snapshot folder (built aside, renamed into
    place), then refs, then the record. A crash at any point leaves either the old state or a
    snapshot without a record, which :mod:`modelguard.store.integrity` treats as not admitted.
    """
    for item in files:
        place_blob(layout, repo, item)
    # The identity each blob was admitted with: what `verify --fast` and snapshot() compare.
    identity = {}
    for entry in record.files:
        st = os.stat(layout.blob(repo, entry.blob or ""), follow_symlinks=False)
        identity[entry.path] = (st.st_mtime_ns, st.st_ino)
    final_record = stamped(record, identity)
    final = layout.snapshot(repo, commit)
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(".*-*"):  # a crashed admission's half-built or old folders
        if leftover.name.startswith((".building-", ".old-")):
            _remove_tree(leftover)
    # The old record goes first: a crash from here on leaves a snapshot without a record (not admitted).
    layout.record(repo, commit).unlink(missing_ok=True)
    building = final.parent / f".building-{commit}-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    for item in files:
        link = building / check_relpath(item.path)
        link.parent.mkdir(parents=True, exist_ok=True)
        target = layout.blob(repo, item.etag)
        # Relative links, as huggingface_hub makes them, so the cache can be moved as a whole.
        os.symlink(os.path.relpath(target, link.parent), link)
    if final.exists() or final.is_symlink():
        old = final.parent / f".old-{commit}-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
        os.rename(building, final)
        _remove_tree(old)
    else:
        os.rename(building, final)
    for revision in refs:
        if revision != commit:
            # huggingface_hub reads the ref with f.read(): no trailing newline.
            _write_text_atomic(layout.ref(repo, revision), commit)
    write_json_atomic(layout.record(repo, commit), final_record.to_json())
    return final


def evict(layout: Layout, repo: str, commit: str) -> None:
    """Remove an admitted snapshot, its refs and record; blobs no other snapshot uses go too."""
    record = layout.record(repo, commit)
    record.unlink(missing_ok=True)
    repo_dir = layout.repo_dir(repo)
    refs = repo_dir / "refs"
    if refs.is_dir():
        for ref in refs.rglob("*"):
            if ref.is_file() and ref.read_text(encoding="utf-8", errors="replace").strip() == commit:
                ref.unlink()
    _remove_tree(layout.snapshot(repo, commit))
    _remove_unused_blobs(repo_dir)
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir() or not any(snapshots.iterdir()):
        _remove_tree(repo_dir)
    with contextlib.suppress(OSError):
        record.parent.rmdir()  # only when empty


def _remove_unused_blobs(repo_dir: Path) -> None:
    blobs = repo_dir / "blobs"
    if not blobs.is_dir():
        return
    used: set[str] = set()
    snapshots = repo_dir / "snapshots"
    if snapshots.is_dir():
        for dirpath, _, names in os.walk(snapshots):
            for name in names:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    used.add(os.path.basename(os.readlink(p)))
    for blob in blobs.iterdir():
        if blob.name not in used:
            blob.unlink(missing_ok=True)


def read_record(layout: Layout, repo: str, commit: str) -> AdmissionRecord | None:
    """The admission record of ``repo@commit``, or None when there is none (not admitted).

    A record that does not parse is treated as absent: the snapshot is then not admitted.
    """
    path = layout.record(repo, commit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UnreadableError(f"cannot read admission record {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return AdmissionRecord.from_json(doc)


def admitted_snapshot(
    root: str | os.PathLike[str] | None, locked: LockedHFModel, *, verify: bool = False
) -> Path:
    """The admitted snapshot folder of one lock entry, or an exception — never a doubtful path.

    Checks the admission record and every file's size, mtime and inode as admitted (cheap); with
    ``verify=True`` every file is re-hashed. Raises :class:`NotAdmittedError` when the snapshot was
    never admitted and :class:`IntegrityError` when what is on disk is not what was admitted.
    """
    from modelguard.store.integrity import Group, check_snapshot, failing_integrity

    layout = Layout(cache_root(root))
    check = check_snapshot(layout, Group(locked.repo, locked.commit, (locked,)), fast=not verify)
    if not check.admitted:
        raise NotAdmittedError(
            f"{locked.name} ({locked.repo}@{locked.commit[:12]}) is not admitted; run `modelguard fetch`",
            rule="MG-H101",
        )
    bad = failing_integrity(check)
    if bad:
        raise IntegrityError(
            f"{locked.name}: the verified cache no longer matches the lock ({bad[0].rule}: {bad[0].message}); "
            "run `modelguard verify` for details and `modelguard fetch` to re-admit",
            rule=bad[0].rule,
        )
    return layout.snapshot(locked.repo, locked.commit)
