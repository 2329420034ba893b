"""Integrity of admitted snapshots: is what a loader would read exactly what was locked?

A snapshot is checked as a whole against the lock entries that pin it (several entries may pin
the same ``repo@commit``). The lock is the authority, the admission record only a log and a
speed-up: the record must exist and agree with the lock; no folder or file of the layout may be a
symlink (checked with ``lstat`` before anything is resolved, MG-H109); every snapshot entry is a
relative link whose target, read lexically, is the blob the lock names in this repo's ``blobs/``; no
file is missing or extra; every blob has the locked size and SHA-256; every ref names the locked
commit.

Hashing: the full check re-hashes every blob (in parallel). The fast check (``verify --fast``,
``snapshot()``) skips a blob only when its :class:`~modelguard.store.admission.Fingerprint` (size,
mtime, ctime, device, inode) equals the one recorded when its bytes were last found to be the
locked ones; on any difference it re-hashes that blob. Each blob hashed raises the audit event
``modelguard.rehash`` (:func:`sys.audit`, PEP 578) with ``(repo, commit, path)`` and is listed in
:attr:`SnapshotCheck.rehashed`; blobs that matched and did not change while hashed are offered for
re-attestation in :attr:`SnapshotCheck.fresh` (:func:`modelguard.store.publish.reattest`).

Reads only; never repairs, downloads or scans. Findings, not exceptions, so verify can report
everything at once.
"""

from __future__ import annotations

import os
import stat
import sys
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
from modelguard.store.admission import AdmissionRecord, Fingerprint, blob_name
from modelguard.store.cache import Layout, check_commit, check_relpath, check_repo_id, load_record
from modelguard.store.digest import hash_file
from modelguard.store.publish import fingerprint_of


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
    blobs: dict[str, Path] = field(default_factory=dict)
    """path -> the blob a loader would read, for every locked file whose link is sound (what callers scan)"""
    rehashed: list[str] = field(default_factory=list)
    """locked paths whose bytes were hashed by this check"""
    trusted: list[str] = field(default_factory=list)
    """locked paths skipped by the fast check because their fingerprint matched"""
    fresh: dict[str, Fingerprint] = field(default_factory=dict)
    """fingerprints of blobs just hashed and found to be the locked bytes (for re-attestation)"""

    @property
    def admitted(self) -> bool:
        return self.record is not None

    @property
    def intact(self) -> bool:
        """Admitted, and nothing but the fast-check notice was found."""
        return self.admitted and not failing_integrity(self)

    def all(self) -> list[Finding]:
        return [*self.general, *(f for fs in self.by_path.values() for f in fs)]


def hash_workers() -> int:
    return min(8, os.cpu_count() or 1)


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def layout_links(layout: Layout, repo: str, commit: str) -> list[Finding]:
    """MG-H109 for every folder or file of this snapshot's layout that is a symlink (checked before
    anything is resolved: a linked ``blobs/`` would make every lexical check below meaningless)."""
    repo_dir = layout.repo_dir(repo)
    record = layout.record(repo, commit)
    parts = [layout.hub, repo_dir, repo_dir / "blobs", repo_dir / "snapshots", layout.snapshot(repo, commit),
             repo_dir / "refs", layout.admissions, record.parent, record]
    return [finding("MG-H109", f"{p.relative_to(layout.root).as_posix()} is a symlink (to {os.readlink(p)}); the "
                    "cache layout has none there", location=p.relative_to(layout.root).as_posix())
            for p in parts if _is_link(p)]


def _snapshot_entries(snapshot: Path) -> tuple[dict[str, Path], list[str]]:
    """Every non-folder entry under the snapshot, and every folder in it that is a symlink."""
    out: dict[str, Path] = {}
    linked: list[str] = []
    for dirpath, dirnames, filenames in os.walk(snapshot, followlinks=False):
        for d in list(dirnames):
            full = Path(dirpath) / d
            if full.is_symlink():
                linked.append(full.relative_to(snapshot).as_posix())
                dirnames.remove(d)
        for name in filenames:
            full = Path(dirpath) / name
            out[full.relative_to(snapshot).as_posix()] = full
    return out, linked


def _blob_of(layout: Layout, repo: str, link: Path, expected: str) -> Path | str:
    """The blob a snapshot entry names, read lexically (never resolved), or why it is not the locked blob."""
    if not link.is_symlink():
        return "a plain file" if not link.is_dir() else "a folder"
    target = os.readlink(link)
    if os.path.isabs(target):
        return f"an absolute symlink to {target}"
    named = Path(os.path.normpath(link.parent / target))
    blob = layout.blob(repo, expected)
    if named.parent != blob.parent:
        return f"a symlink to {target}, outside this repo's blobs/"
    if named.name != expected:
        return f"a link to blob {named.name}, the lock names {expected}"
    return blob


def _check_blob(repo: str, commit: str, blob: Path, locked: LockedFile, recorded: Fingerprint | None,
                fast: bool, out: SnapshotCheck) -> list[Finding]:
    try:
        st = os.lstat(blob)
    except FileNotFoundError:
        return [finding("MG-H006", f"{locked.path}: its blob {blob.name} is missing from the cache")]
    if stat.S_ISLNK(st.st_mode):
        return [finding("MG-H109", f"{locked.path}: blob {blob.name} is a symlink (to {os.readlink(blob)})")]
    if not stat.S_ISREG(st.st_mode):
        return [finding("MG-H102", f"{locked.path}: blob {blob.name} is not a regular file")]
    if st.st_size != locked.size:
        return [finding("MG-H002", f"{locked.path}: {st.st_size} bytes in the cache, {locked.size} locked")]
    before = Fingerprint(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino)
    if fast and recorded == before:
        out.trusted.append(locked.path)
        return []
    sys.audit("modelguard.rehash", repo, commit, locked.path)
    out.rehashed.append(locked.path)
    try:
        digests = hash_file(blob)
    except OSError as e:  # no verdict on bytes that cannot be read (permissions, I/O error): exit 3, named
        raise UnreadableError(f"cannot read {blob} ({locked.path} of the verified cache): {e.strerror or e}; "
                              "check its permissions") from None
    if digests.size != locked.size or digests.sha256 != locked.sha256:
        return [finding("MG-H001", f"{locked.path}: sha256 {digests.sha256} in the cache, {locked.sha256} locked")]
    if fingerprint_of(blob) == before:  # unchanged while it was read: these bytes are the locked ones
        out.fresh[locked.path] = before
    return []


def _read_record(layout: Layout, group: Group) -> tuple[AdmissionRecord | None, Finding | None]:
    """The admission record, or (None, MG-H140) for one over its budget: no fetch writes one, so it is
    not read and the snapshot is not admitted."""
    try:
        return load_record(layout, group.repo, group.commit), None
    except OverBudget as e:
        return None, finding(e.rule or "MG-H140", e.message)


def check_snapshot(
    layout: Layout, group: Group, *, fast: bool = False, pool: ThreadPoolExecutor | None = None
) -> SnapshotCheck:
    """Check one admitted snapshot against its lock entries; see the module docstring."""
    locked = group.files
    links = layout_links(layout, group.repo, group.commit)
    snapshot = layout.snapshot(group.repo, group.commit)
    record, over = _read_record(layout, group) if not links else (None, None)
    incomplete = record is not None and not snapshot.is_dir()
    if incomplete:
        record = None  # the record is written first: without its folder, the admission never completed
    result = SnapshotCheck(record=record, by_path={p: [] for p in locked})
    result.general.extend([over] if over is not None else [])
    if links:
        # Nothing under a linked folder is this cache's: every file fails, none reads as clean.
        result.general.extend(links)
        for path in locked:
            result.by_path[path].append(finding("MG-H109", f"{path}: the cache layout above it holds a symlink"))
        return result
    if record is None:
        # Per file, so no file of a model that was never admitted reads as "clean" in a report.
        message = (f"{group.repo}@{group.commit[:12]} is not admitted to the verified cache"
                   + (" (its admission did not complete: a record without its snapshot)" if incomplete else "")
                   + "; run `modelguard fetch`")
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

    entries, linked = _snapshot_entries(snapshot)
    for rel in linked:
        result.general.append(finding("MG-H109", f"{rel}: a folder of the snapshot is a symlink", location=rel))
    for rel in sorted(set(entries) - set(locked)):
        result.general.append(finding("MG-H007", f"{rel}: in the snapshot but not in the lock", location=rel))

    to_hash: list[tuple[str, Path]] = []
    for path, lf in locked.items():
        entry = entries.get(path)
        if entry is None:
            under_link = any(path.startswith(rel + "/") for rel in linked)
            result.by_path[path].append(finding("MG-H109", f"{path}: under a folder that is a symlink") if under_link
                                        else finding("MG-H006", f"{path}: missing from the admitted snapshot"))
            continue
        blob = _blob_of(layout, group.repo, entry, blob_name(lf))
        if isinstance(blob, str):
            result.by_path[path].append(finding("MG-H102", f"{path}: not a relative link to its blob ({blob})"))
            continue
        to_hash.append((path, blob))

    def run(item: tuple[str, Path]) -> tuple[str, list[Finding]]:
        path, blob = item
        rec = admitted.get(path)
        return path, _check_blob(group.repo, group.commit, blob, locked[path],
                                 rec.fingerprint if rec is not None else None, fast, result)

    # hashlib releases the GIL on large buffers, so threads hash several files on several cores.
    # Callers checking many snapshots pass one pool so files of different models hash together.
    own = pool is None
    executor = pool or ThreadPoolExecutor(max_workers=hash_workers())
    try:
        for path, found in executor.map(run, to_hash):
            result.by_path[path].extend(found)
            if not found:
                result.blobs[path] = dict(to_hash)[path]
    finally:
        if own:
            executor.shutdown()
    result.general.extend(_ref_findings(layout, group))
    if fast and result.trusted:
        result.general.append(finding(
            "MG-H105", f"{len(result.trusted)} file(s) not re-hashed: size, mtime, ctime, device and inode match "
            f"what was recorded when their bytes were last hashed; {len(result.rehashed)} re-hashed",
        ))
    return result


def _ref_findings(layout: Layout, group: Group) -> list[Finding]:
    out = []
    for revision in group.refs:
        ref = layout.ref(group.repo, revision)
        if _is_link(ref):
            out.append(finding("MG-H109", f"refs/{revision} is a symlink"))
            continue
        try:
            # Within 4 KiB: a ref is 40 bytes, and one made a huge file or a device is not read whole.
            pointed = read_capped(ref, BUDGETS.record_bytes, 4096).decode("utf-8")
        except FileNotFoundError:
            pointed = "(missing)"
        except (ModelguardError, UnicodeDecodeError):
            pointed = "(not a commit id)"
        if pointed != group.commit:
            out.append(finding("MG-H103", f"refs/{revision} names {pointed.strip()[:40]}, the lock pins "
                               f"{group.commit}"))
    return out


def failing_integrity(check: SnapshotCheck) -> Sequence[Finding]:
    """Integrity findings that mean the snapshot must not be used (MG-H105 is information only)."""
    return [f for f in check.all() if f.rule != "MG-H105"]
