"""The inventory of the verified cache: everything in it that is not part of an admitted snapshot.

Admitted content is exactly: for each snapshot folder ``hub/models--{org}--{name}/snapshots/{commit}``
that has an admission record of that repo and commit, the folder itself, the blobs its record names,
the refs its record's lock entries asked for that name that commit, and the record. Beside them the
root may hold only :data:`~modelguard.store.cache.ROOT_ENTRIES` (quarantine's contents are staging,
never served, and swept by the next writer). Everything else is a :class:`Stray`: a repo, snapshot,
ref, blob, record or file that another tool wrote (huggingface_hub downloading with ``HF_HUB_CACHE``
pointed here leaves ``.locks/``, new repos, snapshots and refs) or that someone planted. Links where
the layout has none are strays too (a linked ``blobs/`` or ``hub/``).

Whether an admitted snapshot's bytes are still the locked ones is not decided here (that is
:mod:`modelguard.store.integrity`); the inventory only says what is admitted at all. Reads only,
never follows a link; :mod:`modelguard.flows.prune` removes what it lists.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec import ids
from modelguard.store.admission import AdmissionRecord
from modelguard.store.cache import REPO_ENTRIES, ROOT_ENTRIES, Layout, read_record, repo_of_folder


@dataclass(frozen=True)
class Stray:
    """One thing in the cache that no admitted snapshot accounts for."""

    kind: str
    """repo | snapshot | ref | blob | record | link | file"""
    path: Path
    why: str

    def rel(self, layout: Layout) -> str:
        return self.path.relative_to(layout.root).as_posix()

    def finding(self, layout: Layout) -> Finding:
        rule = "MG-H109" if self.kind == "link" else "MG-H110"
        return finding(rule, f"{self.rel(layout)}: {self.why}", location=self.rel(layout))


def _mode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def _is_dir(path: Path) -> bool:
    mode = _mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def inventory(layout: Layout, *, hub_only: bool = False) -> list[Stray]:
    """Every :class:`Stray` in the cache (only those under ``hub/`` with ``hub_only``), in path order."""
    out: list[Stray] = []
    if not hub_only:
        for entry in _listing(layout.root):
            if entry.name not in ROOT_ENTRIES:
                out.append(_odd(entry, "not a part of the verified cache"))
    for name in ("hub", "admissions", "quarantine"):
        path = layout.root / name
        mode = _mode(path)
        if mode is not None and stat.S_ISLNK(mode) and (not hub_only or name == "hub"):
            out.append(Stray("link", path, f"is a symlink (to {os.readlink(path)}); the cache layout has none"))
    admitted: dict[str, dict[str, AdmissionRecord]] = {}
    if _is_dir(layout.hub):
        for entry in _listing(layout.hub):
            if not _cache_version_marker(entry):
                out.extend(_repo(layout, entry, admitted))
    if not hub_only and _is_dir(layout.admissions):
        out.extend(_records(layout, admitted))
    return sorted(out, key=lambda s: s.path)


def _cache_version_marker(entry: Path) -> bool:
    """``hub/version.txt``: the cache-format marker transformers writes into the cache it is given (a
    number, no model content; refusing it would make every transformers import "tamper" with the cache)."""
    mode = _mode(entry)
    if entry.name != "version.txt" or mode is None or not stat.S_ISREG(mode) or entry.stat().st_size > 16:
        return False
    return entry.read_bytes().strip().isdigit()


def _odd(entry: Path, why: str) -> Stray:
    mode = _mode(entry)
    if mode is not None and stat.S_ISLNK(mode):
        return Stray("link", entry, f"is a symlink (to {os.readlink(entry)}); {why}")
    return Stray("file", entry, why)


def _repo(layout: Layout, repo_dir: Path, admitted: dict[str, dict[str, AdmissionRecord]]) -> Iterator[Stray]:
    repo = repo_of_folder(repo_dir.name)
    if repo is None or not _is_dir(repo_dir):
        yield _odd(repo_dir, "not a model repo folder modelguard admitted (models--{org}--{name})")
        return
    records = _admitted_snapshots(layout, repo, repo_dir)
    admitted[repo] = records
    if not records:
        yield Stray("repo", repo_dir, f"{repo} has no admitted snapshot")
        return
    for entry in _listing(repo_dir):
        if entry.name not in REPO_ENTRIES:
            yield _odd(entry, "not a part of an admitted repo")
        elif not _is_dir(entry):
            yield _odd(entry, "must be a folder")
    yield from _snapshots(repo_dir / "snapshots", records)
    yield from _refs(repo_dir / "refs", records)
    yield from _blobs(repo_dir / "blobs", records)


def _admitted_snapshots(layout: Layout, repo: str, repo_dir: Path) -> dict[str, AdmissionRecord]:
    """commit -> record, for every real snapshot folder of the repo with a record of that repo and commit."""
    out: dict[str, AdmissionRecord] = {}
    snapshots = repo_dir / "snapshots"
    if not _is_dir(snapshots) or not _is_dir(layout.admissions):
        return out
    for snap in _listing(snapshots):
        if ids.is_commit(snap.name) and _is_dir(snap) and not _is_linked(layout.record(repo, snap.name).parent):
            record = read_record(layout, repo, snap.name)
            if record is not None:
                out[snap.name] = record
    return out


def _is_linked(path: Path) -> bool:
    mode = _mode(path)
    return mode is not None and stat.S_ISLNK(mode)


def _snapshots(snapshots: Path, records: dict[str, AdmissionRecord]) -> Iterator[Stray]:
    for snap in _listing(snapshots):
        if snap.name in records:
            continue
        if _is_linked(snap):
            yield Stray("link", snap, f"is a symlink (to {os.readlink(snap)}); the cache layout has none")
        else:
            yield Stray("snapshot" if _is_dir(snap) else "file", snap, "a snapshot without an admission record")


def _refs(refs: Path, records: dict[str, AdmissionRecord]) -> Iterator[Stray]:
    if not _is_dir(refs):
        return
    wanted = {(e.requested_revision, commit) for commit, r in records.items() for e in r.entries}
    for dirpath, dirnames, filenames in os.walk(refs):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if _is_linked(path):
                yield Stray("link", path, f"is a symlink (to {os.readlink(path)}); the cache layout has none")
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if name in dirnames:
                continue
            revision = path.relative_to(refs).as_posix()
            try:
                commit = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                commit = ""
            if (revision, commit) not in wanted:
                yield Stray("ref", path, f"refs/{revision} -> {commit.strip()[:40] or '(empty)'} is not a ref "
                            "an admitted snapshot was locked with")


def _blobs(blobs: Path, records: dict[str, AdmissionRecord]) -> Iterator[Stray]:
    named = {f.blob for r in records.values() for f in r.files if f.blob}
    for blob in _listing(blobs):
        if _is_linked(blob):
            yield Stray("link", blob, f"is a symlink (to {os.readlink(blob)}); the cache layout has none")
        elif blob.name not in named:
            yield Stray("blob", blob, "a blob no admitted snapshot's record names")


def _records(layout: Layout, admitted: dict[str, dict[str, AdmissionRecord]]) -> Iterator[Stray]:
    for folder in _listing(layout.admissions):
        repo = repo_of_folder(folder.name)
        if repo is None or not _is_dir(folder):
            yield _odd(folder, "not a folder of admission records")
            continue
        for record in _listing(folder):
            commit = record.name.removesuffix(".json")
            if commit not in admitted.get(repo, {}) or record.name != f"{commit}.json":
                yield Stray("record", record, "an admission record without its admitted snapshot") \
                    if not _is_linked(record) else _odd(record, "not an admission record")


def admitted_records(layout: Layout) -> list[AdmissionRecord]:
    """The record of every admitted snapshot in the cache (folder and record both in place), by repo."""
    out: list[AdmissionRecord] = []
    if not _is_dir(layout.hub):
        return out
    for repo_dir in _listing(layout.hub):
        repo = repo_of_folder(repo_dir.name)
        if repo is not None and _is_dir(repo_dir):
            out.extend(record for _, record in sorted(_admitted_snapshots(layout, repo, repo_dir).items()))
    return out
