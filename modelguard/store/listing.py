"""``modelguard list``: what the verified cache holds, admitted or not, with sizes.

One row per snapshot folder under ``hub/`` (``admitted`` when an admission record of that repo and
commit exists, else ``not admitted``; a record whose snapshot folder is gone is ``record only``),
the lock entry names the record was admitted for, the number of files and the bytes they take;
then what belongs to no snapshot (blobs nothing links to) and the partial downloads kept in
quarantine for the next fetch to resume, with their age and when they will be removed.

An inventory, not a verdict: "admitted" means a record exists. Whether the bytes are still the
admitted ones is what ``verify``, ``path`` and ``snapshot()`` decide, from the bytes. Reads only,
never follows a link out of the cache, never writes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from modelguard.errors import ModelguardError
from modelguard.store.admission import AdmissionRecord
from modelguard.store.cache import Layout, read_record, repo_folder
from modelguard.store.partial import MAX_AGE, PartialStore


@dataclass(frozen=True)
class CachedSnapshot:
    repo: str
    commit: str
    state: str
    """``admitted`` | ``not admitted`` | ``record only``"""
    names: tuple[str, ...]
    """the lock entries the admission record names"""
    files: int
    size: int
    """bytes of the blobs the snapshot's entries link to"""
    admitted_at: str = ""


@dataclass(frozen=True)
class PartialDownload:
    sha256: str
    size: int
    on_disk: int
    age: float
    """seconds since bytes last landed"""


@dataclass(frozen=True)
class CacheListing:
    root: Path
    snapshots: tuple[CachedSnapshot, ...]
    loose_blobs: int
    """blobs no snapshot links to"""
    loose_bytes: int
    partials: tuple[PartialDownload, ...]
    partial_max_age: float = MAX_AGE

    @property
    def size(self) -> int:
        return sum(s.size for s in self.snapshots) + self.loose_bytes + sum(p.on_disk for p in self.partials)


def list_cache(layout: Layout) -> CacheListing:
    """Everything under ``layout``'s root that ``modelguard list`` shows; see the module docstring."""
    snapshots: list[CachedSnapshot] = []
    loose_blobs = loose_bytes = 0
    seen_records: set[tuple[str, str]] = set()
    for repo_dir in _folders(layout.hub):
        repo = _repo_of(repo_dir.name)
        if repo is None:
            continue
        linked: set[str] = set()
        for snap in _folders(repo_dir / "snapshots"):
            record = _record(layout, repo, snap.name)
            seen_records.add((repo, snap.name))
            count, size, blobs = _snapshot_size(snap, repo_dir / "blobs")
            linked |= blobs
            snapshots.append(CachedSnapshot(
                repo, snap.name, "admitted" if record is not None else "not admitted",
                tuple(e.name for e in record.entries) if record is not None else (), count, size,
                record.admitted_at if record is not None else ""))
        for blob in _files(repo_dir / "blobs"):
            if blob.name not in linked:
                loose_blobs += 1
                loose_bytes += _size(blob)
    for repo_dir in _folders(layout.admissions):
        repo = _repo_of(repo_dir.name)
        for rec in _files(repo_dir):
            commit = rec.name.removesuffix(".json")
            if repo is not None and rec.suffix == ".json" and (repo, commit) not in seen_records:
                record = _record(layout, repo, commit)
                names = tuple(e.name for e in record.entries) if record is not None else ()
                snapshots.append(CachedSnapshot(repo, commit, "record only", names, 0, 0,
                                                record.admitted_at if record is not None else ""))
    partials = tuple(PartialDownload(d, size, on_disk, age)
                     for d, size, on_disk, age in PartialStore(layout.quarantine).listing())
    snapshots.sort(key=lambda s: (s.repo, s.commit))
    return CacheListing(layout.root, tuple(snapshots), loose_blobs, loose_bytes, partials)


def _repo_of(folder: str) -> str | None:
    """``models--org--name`` -> ``org/name``, or None for a name modelguard would not have made."""
    if not folder.startswith("models--") or folder.count("--") != 2:
        return None
    repo = folder.removeprefix("models--").replace("--", "/", 1)
    try:
        return repo if repo_folder(repo) == folder else None
    except ModelguardError:  # an invalid repo id in a folder name: not a snapshot modelguard made
        return None


def _record(layout: Layout, repo: str, commit: str) -> AdmissionRecord | None:
    try:
        return read_record(layout, repo, commit)
    except ModelguardError:  # an unreadable record, or a folder name that is no commit: not admitted
        return None


def _snapshot_size(snap: Path, blobs: Path) -> tuple[int, int, set[str]]:
    """(files, bytes, blob names) of one snapshot folder: links into ``blobs/`` count the blob once."""
    count = size = 0
    names: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(snap):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            count += 1
            if os.path.islink(path):
                target = os.path.normpath(os.path.join(dirpath, os.readlink(path)))
                if os.path.dirname(target) == os.fspath(blobs) and os.path.basename(target) not in names:
                    names.add(os.path.basename(target))
                    size += _size(Path(target))
            else:
                size += _size(Path(path))
    return count, size, names


def _folders(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if stat.S_ISDIR(os.lstat(p).st_mode))
    except OSError:
        return []


def _files(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if stat.S_ISREG(os.lstat(p).st_mode))
    except OSError:
        return []


def _size(path: Path) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0
