"""Partial downloads, kept across failures and kills so the next attempt continues instead of starting over.

Layout, inside the quarantine (same filesystem, never read by loaders)::

    quarantine/partial/<sha256>.part    the file's bytes at their offsets (holes where nothing landed yet)
    quarantine/partial/<sha256>.ranges  JSON: the size and which byte ranges of .part hold received bytes

Keyed by the locked SHA-256: the same bytes wherever they are locked, and a name that is a hex
digest and nothing else (a lockfile cannot steer it out of the folder). Only a fetch holding the
cache's writer lock touches this folder; within one run two files with the same digest do not
share a partial (the second gets a private one, :meth:`PartialStore.claim`).

Never trusted: a partial says only where bytes are. The download re-hashes every byte it keeps, in
order with the new ones, and the final size and SHA-256 must be the lock's as for a fresh download;
one that does not hash to the lock is thrown away and the file downloaded once more from byte 0
(MG-H151). The ranges record is written after the bytes it describes (``pwrite``, then an atomic
replace of the record), so a kill leaves a record that claims no more than was written; a record
that does not parse, disagrees with the locked size or the file, is ignored and its bytes dropped.

Age: a partial not written to for :data:`MAX_AGE` (7 days) is removed when the next fetch starts
(:meth:`PartialStore.sweep`), as is anything else in the folder that is not a partial.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelguard.spec import ids

MAX_AGE = 7 * 24 * 3600
"""seconds a partial download is kept without being written to (7 days)"""
SAVE_EVERY = 0.1
"""seconds between two saves of a ranges record while bytes land (a kill loses at most this much)"""
_RANGES_LIMIT = 64 << 10
"""bytes of a ranges record read at most: a real one lists a few ranges per connection"""


class Ranges:
    """Disjoint, sorted ``[start, end)`` byte ranges; adding merges touching neighbours."""

    def __init__(self, spans: list[tuple[int, int]] | None = None) -> None:
        self.spans: list[tuple[int, int]] = []
        for start, end in spans or ():
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged: list[tuple[int, int]] = []
        for a, b in self.spans:
            if b < start or a > end:
                merged.append((a, b))
            else:
                start, end = min(a, start), max(b, end)
        merged.append((start, end))
        self.spans = sorted(merged)

    @property
    def total(self) -> int:
        return sum(b - a for a, b in self.spans)

    def missing(self, size: int) -> list[tuple[int, int]]:
        """The ranges of ``[0, size)`` not covered."""
        out, at = [], 0
        for a, b in self.spans:
            if a > at:
                out.append((at, a))
            at = max(at, b)
        if at < size:
            out.append((at, size))
        return out


@dataclass
class Partial:
    """One partial download: its bytes file and what of it holds received bytes."""

    part: Path
    record: Path | None
    """None for a private partial of this run only (never resumed, removed with it)"""
    size: int
    done: Ranges
    _saved: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def resumed(self) -> int:
        """Bytes on disk when this attempt started."""
        return self.done.total

    def landed(self, start: int, end: int) -> None:
        """``[start, end)`` was written to :attr:`part`; saves the record at most every :data:`SAVE_EVERY`."""
        with self._lock:
            self.done.add(start, end)
            now = time.monotonic()
            if now - self._saved >= SAVE_EVERY:
                self._saved = now
                self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        if self.record is None:
            return
        tmp = self.record.with_name(f".{self.record.name}.{uuid.uuid4().hex[:8]}")
        # A new file (never through a link), then replaced by name (os.replace never follows one). No
        # fsync: a kill keeps the page cache, and after a power loss the final hash catches any lie.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps({"size": self.size, "done": self.done.spans}).encode("ascii"))
        os.replace(tmp, self.record)

    def reset(self, fd: int) -> None:
        """Forget every byte of the file open at ``fd`` (this partial's): it is downloaded again from byte 0."""
        with self._lock:
            self.done = Ranges()
            os.ftruncate(fd, 0)
            self._save_locked()

    def open(self) -> int:
        """The bytes file, open for reading and writing; never through a link (someone may have planted one)."""
        return os.open(self.part, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))

    def discard(self) -> None:
        """Remove the partial (after a failed check, or once its bytes became the downloaded file)."""
        for path in (self.part, self.record):
            if path is not None:
                path.unlink(missing_ok=True)


class PartialStore:
    """The partial downloads of one cache root (see the module docstring)."""

    def __init__(self, quarantine: Path) -> None:
        self.folder = quarantine / "partial"
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, sha256: str, size: int, *, resume: bool = True) -> Partial:
        """The partial for a file of ``size`` bytes locked at ``sha256``: the one an earlier attempt left
        (when its record is sound), else an empty one. A digest claimed twice in one run gets a private,
        empty partial the second time. ``resume=False``: always a private one."""
        if not ids.is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock:
            shared = resume and sha256 not in self._claimed
            if shared:
                self._claimed.add(sha256)
        if not shared:
            part = self.folder / f"{sha256}.{uuid.uuid4().hex[:12]}.part"
            _fresh(part)
            return Partial(part, None, size, Ranges())
        part, record = self.folder / f"{sha256}.part", self.folder / f"{sha256}.ranges"
        done = _read_ranges(record, part, size)
        if done is None:
            record.unlink(missing_ok=True)
            done = Ranges()
            _fresh(part)  # whatever was there is not trusted, and a link is removed, never followed
        return Partial(part, record, size, done)

    def forget_claims(self) -> None:
        """A new model starts: each digest may be claimed (resumed) once more."""
        with self._lock:
            self._claimed.clear()

    def sweep(self, *, max_age: float = MAX_AGE, now: float | None = None) -> None:
        """Remove partials not written to for ``max_age`` seconds, private ones of dead runs, and strays."""
        if not self.folder.is_dir():
            return
        now = time.time() if now is None else now
        for entry in self.folder.iterdir():
            name = entry.name
            digest, dot, kind = name.partition(".")
            keep = (not entry.is_symlink() and entry.is_file() and ids.is_sha256(digest) and dot
                    and kind in ("part", "ranges") and now - _mtime(entry) < max_age)
            if not keep:
                _remove(entry)
        for entry in self.folder.iterdir():
            digest, _, kind = entry.name.partition(".")
            twin = self.folder / f"{digest}.{'ranges' if kind == 'part' else 'part'}"
            if not twin.exists():
                entry.unlink(missing_ok=True)  # half of a pair is no partial
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty

    def listing(self) -> Iterator[tuple[str, int, int, float]]:
        """(sha256, size, bytes on disk, seconds since last written) of each resumable partial."""
        if not self.folder.is_dir():
            return
        for record in sorted(self.folder.glob("*.ranges")):
            digest = record.name.partition(".")[0]
            part = self.folder / f"{digest}.part"
            size = _recorded_size(record)
            if size is None or not ids.is_sha256(digest):
                continue
            done = _read_ranges(record, part, size)
            if done is not None:
                yield digest, size, done.total, time.time() - _mtime(part)

    def resumable(self, sha256: str, size: int) -> int:
        """Bytes a download of this file would not fetch again (0 when there is no sound partial)."""
        if not ids.is_sha256(sha256):
            return 0
        done = _read_ranges(self.folder / f"{sha256}.ranges", self.folder / f"{sha256}.part", size)
        return done.total if done is not None else 0


def _fresh(path: Path) -> None:
    """An empty regular file at ``path``, made anew (whatever was there, a link included, is removed)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _load(record: Path) -> object:
    """The record's JSON, read within :data:`_RANGES_LIMIT` and the JSON depth budget, never through a
    link (:mod:`modelguard.spec.bounded`); None for anything else (the partial is then not resumed)."""
    from modelguard.errors import ModelguardError
    from modelguard.spec import limits
    from modelguard.spec.bounded import load_json, read_capped

    try:
        raw = read_capped(record, limits.BUDGETS.record_bytes, _RANGES_LIMIT, follow=False)
        return load_json(raw, limits.BUDGETS.record_bytes, what=record.name)
    except (OSError, ModelguardError, ValueError):  # OverBudget is a ModelguardError
        return None


def _recorded_size(record: Path) -> int | None:
    doc = _load(record)
    size = doc.get("size") if isinstance(doc, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def _read_ranges(record: Path, part: Path, size: int) -> Ranges | None:
    """The ranges a sound record lists, or None: a record for another size, ranges out of order or out of
    bounds, or a bytes file that is not a regular file as long as they claim."""
    doc = _load(record)
    if not isinstance(doc, dict) or doc.get("size") != size or not isinstance(doc.get("done"), list):
        return None
    spans: list[tuple[int, int]] = []
    at = 0
    for item in doc["done"]:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in item)):
            return None
        start, end = item
        if not at <= start < end <= size:
            return None
        spans.append((start, end))
        at = end
    try:
        st = os.lstat(part)
    except OSError:
        return None
    import stat

    if not stat.S_ISREG(st.st_mode) or (spans and st.st_size < spans[-1][1]):
        return None
    return Ranges(spans)
