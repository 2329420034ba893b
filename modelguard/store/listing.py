"""``modelguard list``: what the verified cache holds, admitted or not, with sizes.

Built on the cache's inventory (:mod:`modelguard.store.inventory`, which decides what is admitted at
all): one row per admitted snapshot (the lock entry names its record was admitted for, its files
and the bytes of their blobs), one per snapshot folder without a record (``not admitted``) and per
record without its folder (``record only``); then blobs no admitted snapshot names (``loose``),
anything else the inventory finds (``stray``: refs, links, files another tool wrote) and the partial
downloads kept in quarantine for the next fetch to resume, with their age and when they go.

An inventory, not a verdict: whether an admitted snapshot's bytes are still the admitted ones is what
``verify``, ``path`` and ``snapshot()`` decide, from the bytes. Reads only, never follows a link out
of the cache, never writes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from modelguard.store.cache import Layout, repo_of_folder
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
    others: tuple[tuple[str, str, int], ...] = ()
    """(kind, path under the root, bytes) of every other stray the inventory found"""

    @property
    def size(self) -> int:
        return (sum(s.size for s in self.snapshots) + self.loose_bytes + sum(p.on_disk for p in self.partials)
                + sum(size for *_, size in self.others))


def list_cache(layout: Layout) -> CacheListing:
    """Everything under ``layout``'s root that ``modelguard list`` shows; see the module docstring."""
    from modelguard.store.inventory import admitted_records, inventory

    snapshots: list[CachedSnapshot] = []
    for record in admitted_records(layout):
        size = sum(_size(layout.blob(record.repo, f.blob)) for f in record.files if f.blob)
        snapshots.append(CachedSnapshot(record.repo, record.commit, "admitted", tuple(e.name for e in record.entries),
                                        len(record.files), size, record.admitted_at))
    loose_blobs = loose_bytes = 0
    others: list[tuple[str, str, int]] = []
    for stray in inventory(layout):
        if stray.kind == "repo":  # no admitted snapshot at all: each of its snapshot folders, and its blobs
            repo = repo_of_folder(stray.path.name) or stray.path.name
            linked: set[str] = set()
            for snap in _folders(stray.path / "snapshots"):
                count, size, names = _snapshot_size(snap, stray.path / "blobs")
                linked |= names
                snapshots.append(CachedSnapshot(repo, snap.name, "not admitted", (), count, size))
            blobs = [b for b in _files(stray.path / "blobs") if b.name not in linked]
            loose_blobs += len(blobs)
            loose_bytes += sum(_size(b) for b in blobs)
        elif stray.kind == "snapshot":
            repo_dir = stray.path.parent.parent
            count, size, _ = _snapshot_size(stray.path, repo_dir / "blobs")
            snapshots.append(CachedSnapshot(repo_of_folder(repo_dir.name) or repo_dir.name, stray.path.name,
                                            "not admitted", (), count, size))
        elif stray.kind == "blob":
            loose_blobs += 1
            loose_bytes += _size(stray.path)
        elif stray.kind == "record":
            snapshots.append(CachedSnapshot(repo_of_folder(stray.path.parent.name) or stray.path.parent.name,
                                            stray.path.name.removesuffix(".json"), "record only", (), 0, 0))
        else:
            others.append((stray.kind, stray.rel(layout), _size(stray.path)))
    partials = tuple(PartialDownload(d, size, on_disk, age)
                     for d, size, on_disk, age in PartialStore(layout.quarantine).listing())
    snapshots.sort(key=lambda s: (s.repo, s.commit))
    return CacheListing(layout.root, tuple(snapshots), loose_blobs, loose_bytes, partials, others=tuple(others))


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
