"""Integrity of admitted snapshots: is what a loader would read exactly what was locked and admitted?

A snapshot is checked as a whole against the lock entries that pin it (several entries may pin
the same ``repo@commit``): the admission record exists and agrees with the lock, every snapshot
entry is a relative link to a blob of this cache, no file is missing or extra, every blob has the
locked size and SHA-256 (re-hashed in parallel; or, with ``fast``, the size, mtime and inode
recorded at admission), and every ref names the locked commit.

Reads only; never repairs, downloads or scans. Findings, not exceptions, so verify can report
everything at once; :func:`modelguard.store.cache.admitted_snapshot` turns them into an exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from modelguard.errors import LockfileError, ModelguardError, UnreadableError
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec.bounded import read_capped
from modelguard.spec.limits import BUDGETS, OverBudget
from modelguard.spec.types import LockedFile, LockedHFModel
from modelguard.store.admission import AdmissionRecord, AdmittedFile
from modelguard.store.cache import Layout, check_commit, check_relpath, check_repo_id, read_record
from modelguard.store.digest import hash_file


@dataclass(frozen=True)
class Group:
    """Every lock entry that pins one ``repo@commit``: they share one snapshot folder."""

    repo: str
    commit: str
    models: tuple[LockedHFModel, ...]

    @property
    def files(self) -> dict[str, LockedFile]:
        out: dict[str, LockedFile] = {}
        for m in self.models:
            for f in m.files:
                seen = out.get(f.path)
                if seen is not None and (seen.sha256, seen.size) != (f.sha256, f.size):
                    raise LockfileError(
                        f"{self.repo}@{self.commit}: {f.path} is locked with two different hashes; re-run "
                        "`modelguard lock`"
                    )
                out[check_relpath(f.path)] = f
        return out

    @property
    def refs(self) -> list[str]:
        return sorted({m.requested_revision for m in self.models if m.requested_revision != self.commit})

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]


def group_models(models: Iterable[LockedHFModel]) -> list[Group]:
    groups: dict[tuple[str, str], list[LockedHFModel]] = {}
    for m in models:
        key = (check_repo_id(m.repo), check_commit(m.commit))
        groups.setdefault(key, []).append(m)
    return [Group(repo, commit, tuple(ms)) for (repo, commit), ms in groups.items()]


@dataclass
class SnapshotCheck:
    """What :func:`check_snapshot` found, per locked path and for the snapshot as a whole."""

    record: AdmissionRecord | None
    by_path: dict[str, list[Finding]] = field(default_factory=dict)
    general: list[Finding] = field(default_factory=list)

    @property
    def admitted(self) -> bool:
        return self.record is not None

    @property
    def intact(self) -> bool:
        """Admitted, and nothing but the --fast notice was found."""
        return self.admitted and not failing_integrity(self)

    def all(self) -> list[Finding]:
        return [*self.general, *(f for fs in self.by_path.values() for f in fs)]


def hash_workers() -> int:
    return min(8, os.cpu_count() or 1)


def _inside(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder and path != folder


def _snapshot_entries(snapshot: Path) -> dict[str, Path]:
    """Every non-directory entry under the snapshot (symlinked directories count as entries)."""
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(snapshot, followlinks=False):
        for d in list(dirnames):
            full = Path(dirpath) / d
            if full.is_symlink():
                out[full.relative_to(snapshot).as_posix()] = full
                dirnames.remove(d)
        for name in filenames:
            full = Path(dirpath) / name
            out[full.relative_to(snapshot).as_posix()] = full
    return out


def _blob_of(layout: Layout, repo: str, link: Path) -> Path | None:
    """The blob a snapshot entry points to, or None when it is not a link into this cache's blobs."""
    if not link.is_symlink():
        return None
    target = os.readlink(link)
    if os.path.isabs(target):
        return None
    blobs = os.path.realpath(layout.repo_dir(repo) / "blobs")
    resolved = os.path.realpath(link)
    if not _inside(resolved, blobs) or os.path.dirname(resolved) != blobs:
        return None
    return Path(resolved)


def _check_blob(blob: Path, locked: LockedFile, admitted: AdmittedFile | None, fast: bool) -> list[Finding]:
    try:
        st = os.stat(blob, follow_symlinks=False)
    except FileNotFoundError:
        return [finding("MG-H006", f"{locked.path}: its blob {blob.name} is missing from the cache")]
    if not os.path.isfile(blob) or os.path.islink(blob):
        return [finding("MG-H102", f"{locked.path}: blob {blob.name} is not a regular file")]
    if st.st_size != locked.size:
        return [finding("MG-H002", f"{locked.path}: {st.st_size} bytes in the cache, {locked.size} locked")]
    if fast:
        recorded = (admitted.mtime_ns, admitted.inode) if admitted is not None else (None, None)
        if (st.st_mtime_ns, st.st_ino) != recorded:
            return [finding("MG-H001", f"{locked.path}: modified after admission (mtime or inode changed)")]
        return []
    try:
        digests = hash_file(blob)
    except OSError as e:  # no verdict on bytes that cannot be read (permissions, I/O error): exit 3, named
        raise UnreadableError(f"cannot read {blob} ({locked.path} of the verified cache): {e.strerror or e}; "
                              "check its permissions") from None
    if digests.size != locked.size or digests.sha256 != locked.sha256:
        return [finding("MG-H001", f"{locked.path}: sha256 {digests.sha256} in the cache, {locked.sha256} locked")]
    return []


def _read_record(layout: Layout, group: Group) -> tuple[AdmissionRecord | None, Finding | None]:
    """The admission record, or (None, MG-H140) for one over its budget: no fetch writes one, so it is
    not read and the snapshot is not admitted."""
    try:
        return read_record(layout, group.repo, group.commit), None
    except OverBudget as e:
        return None, finding(e.rule or "MG-H140", e.message)


def check_snapshot(
    layout: Layout, group: Group, *, fast: bool = False, pool: ThreadPoolExecutor | None = None
) -> SnapshotCheck:
    """Check one admitted snapshot against its lock entries; see the module docstring."""
    record, over = _read_record(layout, group)
    locked = group.files
    result = SnapshotCheck(record=record, by_path={p: [] for p in locked})
    if over is not None:
        result.general.append(over)
    if record is None:
        # Per file, so no file of a model that was never admitted reads as "clean" in a report.
        message = f"{group.repo}@{group.commit[:12]} is not admitted to the verified cache; run `modelguard fetch`"
        for path in locked:
            result.by_path[path].append(finding("MG-H101", message))
        if not locked:
            result.general.append(finding("MG-H101", message))
        return result
    admitted = record.by_path()
    for path, lf in locked.items():
        rec = admitted.get(path)
        if rec is None or (rec.size, rec.sha256) != (lf.size, lf.sha256):
            result.by_path[path].append(finding("MG-H104", f"{path}: admitted with other hashes than the lock"))

    snapshot = layout.snapshot(group.repo, group.commit)
    entries = _snapshot_entries(snapshot) if snapshot.is_dir() and not snapshot.is_symlink() else {}
    if snapshot.is_symlink():
        result.general.append(finding("MG-H102", f"snapshots/{group.commit} is a symlink, not a folder"))
    for rel in sorted(set(entries) - set(locked)):
        result.general.append(finding("MG-H007", f"{rel}: in the snapshot but not in the lock", location=rel))

    to_hash: list[tuple[str, Path]] = []
    for path in locked:
        entry = entries.get(path)
        if entry is None:
            result.by_path[path].append(finding("MG-H006", f"{path}: missing from the admitted snapshot"))
            continue
        blob = _blob_of(layout, group.repo, entry)
        if blob is None:
            result.by_path[path].append(finding(
                "MG-H102", f"{path}: not a relative link to a blob of this cache ({_describe(entry)})",
            ))
            continue
        expected_blob = rec.blob if (rec := admitted.get(path)) is not None else None
        if expected_blob is not None and blob.name != expected_blob:
            result.by_path[path].append(
                finding("MG-H102", f"{path}: links to blob {blob.name}, admitted {expected_blob}")
            )
            continue
        to_hash.append((path, blob))

    def run(item: tuple[str, Path]) -> tuple[str, list[Finding]]:
        path, blob = item
        return path, _check_blob(blob, locked[path], admitted.get(path), fast)

    # hashlib releases the GIL on large buffers, so threads hash several files on several cores.
    # Callers checking many snapshots pass one pool so files of different models hash together.
    own = pool is None
    executor = pool or ThreadPoolExecutor(max_workers=hash_workers())
    try:
        for path, found in executor.map(run, to_hash):
            result.by_path[path].extend(found)
    finally:
        if own:
            executor.shutdown()

    result.general.extend(_check_refs(layout, group))
    if fast:
        result.general.append(finding(
            "MG-H105", "size, mtime and inode trusted from the admission record; files were not re-hashed",
        ))
    return result


def _check_refs(layout: Layout, group: Group) -> list[Finding]:
    """MG-H103 for every ref of the group that does not name the locked commit (read within 4 KiB: a ref
    is 40 bytes, and a ref someone made a 10 GB file, a FIFO or a link to /dev/zero is not read whole)."""
    out = []
    for revision in group.refs:
        try:
            pointed = read_capped(layout.ref(group.repo, revision), BUDGETS.record_bytes, 4096).decode("utf-8")
        except FileNotFoundError:
            pointed = "(missing)"
        except (ModelguardError, UnicodeDecodeError):
            pointed = "(not a commit id)"
        if pointed != group.commit:
            out.append(finding("MG-H103", f"refs/{revision} names {pointed.strip()[:40]}, the lock pins "
                               f"{group.commit}"))
    return out


def _describe(entry: Path) -> str:
    if entry.is_symlink():
        return f"symlink to {os.readlink(entry)}"
    if entry.is_dir():
        return "a folder"
    return "a plain file"


def failing_integrity(check: SnapshotCheck) -> Sequence[Finding]:
    """Integrity findings that mean the snapshot must not be used (MG-H105 is information only)."""
    return [f for f in check.all() if f.rule != "MG-H105"]
