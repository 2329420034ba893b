"""Publishing into and out of the verified cache: admission, eviction, re-attestation and sealing.

**All or nothing.** :func:`admit` publishes in the one order a crash cannot turn into a loader
reading something unchecked: blobs first (each an atomic rename, invisible until linked), then the
record with the blobs' fingerprints (atomic; without its snapshot it serves nothing), then the
snapshot folder, built aside and renamed into place in one step, and the refs last, so a loader
that asks for a branch only ever gets a commit whose record and snapshot are both in place. Any
failure before the end (a full disk, a name the filesystem refuses) undoes what this admission
did; a crash (kill -9) leaves at worst a record without its snapshot or a snapshot whose ref still
names the previous commit, both reported by ``verify`` and repaired by the next ``fetch``.

**Sealed.** Admitted content is read-only down to the folders (blobs and records 0o444, every
folder from ``hub/`` down 0o555), so a tool pointed at the cache (huggingface_hub downloading with
``HF_HUB_CACHE`` set to it) fails instead of silently adding to it. modelguard opens exactly the
folders it changes, under the writer lock, and seals them again (:func:`opened`).

**Evictions are set aside first.** :func:`set_aside` moves a snapshot's refs, folder and record into
quarantine (renames on one filesystem); :meth:`SetAside.restore` puts them back and
:meth:`SetAside.purge` deletes them, so ``revoke`` can make its policy edit and its eviction one
action (:mod:`modelguard.flows.revoke`).

Call everything here under :func:`modelguard.store.cache.writer_lock`, except :func:`reattest`,
which takes it only when free. Never scans and never decides: callers pass what passed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelguard.errors import UnreadableError, UsageError
from modelguard.store.admission import AdmissionRecord, Fingerprint, stamped
from modelguard.store.atomic import replace_file
from modelguard.store.cache import (
    Layout,
    StagedFile,
    check_relpath,
    new_quarantine,
    read_record,
    remove_tree,
    write_json_atomic,
    writer_lock_if_free,
)

SEALED_DIR = 0o555
SEALED_FILE = 0o444
_OPEN_DIR = 0o755


def fingerprint_of(path: Path) -> Fingerprint:
    """The blob's :class:`Fingerprint` (``lstat``: a link is described, never followed)."""
    st = os.lstat(path)
    return Fingerprint(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_dev, st.st_ino)


# --- sealing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def opened(*folders: Path) -> Iterator[None]:
    """Create the missing ``folders`` and make all of them writable while the block runs; seal them after.

    Folders are opened in the order given (list parents first) and sealed in reverse, so a parent is
    never sealed while its child still needs changing. A folder that is a symlink is never touched.
    """
    done: list[Path] = []
    try:
        for folder in folders:
            if folder.is_symlink():
                continue
            if not folder.exists():
                folder.mkdir(mode=_OPEN_DIR)
            elif stat.S_IMODE(folder.stat().st_mode) != _OPEN_DIR:
                os.chmod(folder, _OPEN_DIR)
            done.append(folder)
        yield
    finally:
        for folder in reversed(done):
            with contextlib.suppress(OSError):
                if folder.is_dir() and not folder.is_symlink():
                    os.chmod(folder, SEALED_DIR)


def repo_folders(layout: Layout, repo: str) -> tuple[Path, ...]:
    """Every folder an admission or eviction of ``repo`` may change, parents first."""
    repo_dir = layout.repo_dir(repo)
    record_dir = layout.record(repo, "0" * 40).parent
    return (layout.hub, repo_dir, repo_dir / "blobs", repo_dir / "snapshots", repo_dir / "refs",
            layout.admissions, record_dir)


def seal_tree(folder: Path) -> None:
    """Make a freshly built tree read-only: files 0o444, folders 0o555 (links are left alone)."""
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, SEALED_FILE)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, SEALED_DIR)
    os.chmod(folder, SEALED_DIR)


@contextlib.contextmanager
def _opened_refs(layout: Layout, repo: str, revisions: Sequence[str]) -> Iterator[None]:
    """The ``refs/`` subfolders of ``revisions`` (``refs/pr/1``), opened like :func:`opened`."""
    refs = layout.repo_dir(repo) / "refs"
    nested: list[Path] = []
    for revision in revisions:
        parts = check_relpath(revision, "revision").split("/")[:-1]
        nested += [refs.joinpath(*parts[:i + 1]) for i in range(len(parts))]
    with opened(*dict.fromkeys(nested)):
        yield


# --- admission ----------------------------------------------------------------------------------


def place_blob(layout: Layout, repo: str, item: StagedFile) -> Path | None:
    """Move a verified quarantine copy into ``blobs/`` (atomic) read-only; the blob, or None if reused."""
    if item.staged is None:
        return None
    blob = layout.blob(repo, item.etag)
    os.chmod(item.staged, SEALED_FILE)
    os.replace(item.staged, blob)
    return blob


def _fingerprints(layout: Layout, repo: str, files: Sequence[StagedFile], record: AdmissionRecord
                  ) -> dict[str, Fingerprint]:
    """The blobs' fingerprints as admitted; a reused blob only when it is still the file that was re-hashed."""
    by_path = {item.path: item for item in files}
    out: dict[str, Fingerprint] = {}
    for entry in record.files:
        item = by_path.get(entry.path)
        if item is None:
            continue
        now = fingerprint_of(layout.blob(repo, item.etag))
        if item.staged is not None or item.fingerprint == now:
            out[entry.path] = now
    return out


def _build(layout: Layout, repo: str, commit: str, files: Sequence[StagedFile]) -> Path:
    """The snapshot folder, built (and sealed) beside its final name."""
    final = layout.snapshot(repo, commit)
    building = final.parent / f".building-{commit}-{uuid.uuid4().hex[:8]}"
    building.mkdir(mode=_OPEN_DIR)
    try:
        for item in files:
            link = building / check_relpath(item.path)
            link.parent.mkdir(parents=True, exist_ok=True, mode=_OPEN_DIR)
            # Relative links, as huggingface_hub makes them, so the cache can be moved as a whole.
            os.symlink(os.path.relpath(layout.blob(repo, item.etag), link.parent), link)
        seal_tree(building)
    except BaseException:
        remove_tree(building)
        raise
    return building


@dataclass
class _Undo:
    """What one admission changed so far, to put back when it cannot finish."""

    blobs: list[Path] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    refs: dict[Path, str | None] = field(default_factory=dict)

    def run(self) -> None:
        for ref, old in self.refs.items():
            with contextlib.suppress(OSError):
                if old is None:
                    ref.unlink(missing_ok=True)
                else:
                    replace_file(ref, old, mode=SEALED_FILE)
        for path in reversed(self.paths):
            with contextlib.suppress(OSError):
                remove_tree(path)
        for blob in self.blobs:
            with contextlib.suppress(OSError):
                blob.unlink(missing_ok=True)


def admit(layout: Layout, repo: str, commit: str, files: Sequence[StagedFile], refs: Sequence[str],
          record: AdmissionRecord) -> Path:
    """Admit one snapshot whose every file passed (see the module docstring for the order and why).

    Raises what the filesystem raised, after undoing this admission's changes: the snapshot is then
    not admitted (an earlier admission of the same commit is gone too: fail closed, fetch again).
    """
    undo = _Undo()
    final = layout.snapshot(repo, commit)
    record_path = layout.record(repo, commit)
    try:
        with opened(*repo_folders(layout, repo)), _opened_refs(layout, repo, refs):
            try:
                _publish(layout, repo, commit, files, refs, record, undo)
            except BaseException:
                undo.run()
                # What was replaced is gone: no record and no folder may speak for this commit now.
                with contextlib.suppress(OSError):
                    record_path.unlink(missing_ok=True)
                    if final.exists() and not final.is_symlink():
                        remove_tree(final)
                    _drop_if_empty(layout, repo)
                raise
    finally:
        _sweep_building(final.parent, commit)
        _sweep_temporaries(layout, repo)
    return final


def _publish(layout: Layout, repo: str, commit: str, files: Sequence[StagedFile], refs: Sequence[str],
             record: AdmissionRecord, undo: _Undo) -> None:
    for item in files:
        existed = layout.blob(repo, item.etag).exists()
        blob = place_blob(layout, repo, item)
        if blob is not None and not existed:
            undo.blobs.append(blob)
    final_record = stamped(record, _fingerprints(layout, repo, files, record))
    final = layout.snapshot(repo, commit)
    building = _build(layout, repo, commit, files)
    undo.paths.append(building)
    # 1. The record first: on its own it makes nothing loadable.
    write_json_atomic(layout.record(repo, commit), final_record.to_json())
    # 2. The snapshot in one rename (an earlier folder for this commit is set aside first).
    if final.exists() or final.is_symlink():
        old = final.parent / f".old-{commit}-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
        undo.paths.append(old)
    os.rename(building, final)
    undo.paths.append(final)
    # 3. The refs last. huggingface_hub reads a ref with f.read(): no trailing newline.
    for revision in refs:
        if revision == commit:
            continue
        ref = layout.ref(repo, revision)
        try:
            undo.refs[ref] = ref.read_text(encoding="utf-8")
        except FileNotFoundError:
            undo.refs[ref] = None
        replace_file(ref, commit, mode=SEALED_FILE)
    undo.paths.remove(final)  # published: nothing of it is undone from here on


def _sweep_temporaries(layout: Layout, repo: str) -> None:
    """Remove the temporary files of atomic writes a crash cut short (``.{name}.*.tmp``) in the repo's
    refs and records folders: only the writer holding the lock could have been writing them."""
    refs = layout.repo_dir(repo) / "refs"
    for folder in (refs, layout.record(repo, "0" * 40).parent):
        if not folder.is_dir() or folder.is_symlink():
            continue
        leftovers = [p for p in folder.rglob(".*.tmp") if p.is_file() and not p.is_symlink()]
        for leftover in leftovers:
            with contextlib.suppress(OSError), opened(leftover.parent):
                leftover.unlink()


def _drop_if_empty(layout: Layout, repo: str) -> None:
    """Remove the repo's folders when no snapshot is left in them (a first admission that failed)."""
    repo_dir = layout.repo_dir(repo)
    snapshots = repo_dir / "snapshots"
    if snapshots.is_dir() and not any(snapshots.iterdir()):
        remove_unused_blobs(repo_dir)
        remove_tree(repo_dir)
    record_dir = layout.record(repo, "0" * 40).parent
    if record_dir.is_dir() and not any(record_dir.iterdir()):
        record_dir.rmdir()


def _sweep_building(snapshots: Path, commit: str) -> None:
    """Remove a crashed or failed admission's half-built and set-aside folders of ``commit``."""
    if not snapshots.is_dir():
        return
    for leftover in snapshots.glob(f".*-{commit}-*"):
        if leftover.name.startswith((".building-", ".old-")):
            with contextlib.suppress(OSError), opened(snapshots):
                remove_tree(leftover)


# --- eviction -----------------------------------------------------------------------------------


@dataclass
class SetAside:
    """An admitted snapshot moved into quarantine: :meth:`restore` undoes, :meth:`purge` finishes."""

    layout: Layout
    repo: str
    commit: str
    holding: Path
    moved: list[tuple[Path, Path]] = field(default_factory=list)
    """(original place, place in holding), in the order they were moved"""

    def restore(self) -> None:
        with opened(*repo_folders(self.layout, self.repo)), self._refs_opened():
            for original, held in reversed(self.moved):
                original.parent.mkdir(parents=True, exist_ok=True)
                os.rename(held, original)
                if original.is_dir() and not original.is_symlink():
                    os.chmod(original, SEALED_DIR)
        remove_tree(self.holding)

    def purge(self) -> None:
        remove_tree(self.holding)
        repo_dir = self.layout.repo_dir(self.repo)
        with opened(*repo_folders(self.layout, self.repo)):
            remove_unused_blobs(repo_dir)
            snapshots = repo_dir / "snapshots"
            if not any(snapshots.iterdir()):
                remove_tree(repo_dir)
            record_dir = self.layout.record(self.repo, self.commit).parent
            if not any(record_dir.iterdir()):
                record_dir.rmdir()

    def _refs_opened(self) -> contextlib.AbstractContextManager[None]:
        refs = self.layout.repo_dir(self.repo) / "refs"
        names = [original.relative_to(refs).as_posix() for original, _ in self.moved
                 if original.is_relative_to(refs)]
        return _opened_refs(self.layout, self.repo, names)


def set_aside(layout: Layout, repo: str, commit: str) -> SetAside:
    """Move the refs naming ``commit``, its snapshot folder and its record into quarantine, in that order
    (the reverse of admission), so a crash half-way leaves nothing loadable that was not admitted."""
    aside = SetAside(layout, repo, commit, new_quarantine(layout, f"evicted-{repo}@{commit[:12]}"))
    repo_dir = layout.repo_dir(repo)
    refs = repo_dir / "refs"
    pointing = []
    if refs.is_dir() and not refs.is_symlink():
        for ref in sorted(refs.rglob("*")):
            if ref.is_file() and not ref.is_symlink() and _read(ref).strip() == commit:
                pointing.append(ref)
    try:
        with opened(*repo_folders(layout, repo)), \
                _opened_refs(layout, repo, [r.relative_to(refs).as_posix() for r in pointing]):
            targets = [*pointing, layout.snapshot(repo, commit), layout.record(repo, commit)]
            for index, original in enumerate(targets):
                if not (original.exists() or original.is_symlink()):
                    continue
                held = aside.holding / f"{index:04d}"
                if original.is_dir() and not original.is_symlink():
                    os.chmod(original, _OPEN_DIR)  # moving a folder to another parent rewrites its '..'
                os.rename(original, held)
                aside.moved.append((original, held))
    except BaseException:
        aside.restore()
        raise
    return aside


def evict(layout: Layout, repo: str, commit: str) -> None:
    """Remove an admitted snapshot, its refs and record; blobs no other snapshot uses go too."""
    set_aside(layout, repo, commit).purge()


def remove_unused_blobs(repo_dir: Path) -> None:
    """Delete blobs no snapshot folder of the repo links to (call with ``blobs/`` opened)."""
    blobs = repo_dir / "blobs"
    if not blobs.is_dir() or blobs.is_symlink():
        return
    used: set[str] = set()
    snapshots = repo_dir / "snapshots"
    if snapshots.is_dir() and not snapshots.is_symlink():
        for dirpath, _, names in os.walk(snapshots):
            for name in names:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    used.add(os.path.basename(os.readlink(p)))
    for blob in blobs.iterdir():
        if blob.name not in used:
            remove_tree(blob)


def _read(path: Path) -> str:
    """A ref's text, within 4 KiB (a ref is 40 bytes; one made a huge file or a device is not read whole)."""
    from modelguard.errors import ModelguardError
    from modelguard.spec.bounded import read_capped
    from modelguard.spec.limits import BUDGETS

    try:
        return read_capped(path, BUDGETS.record_bytes, 4096).decode("utf-8", errors="replace")
    except (OSError, ModelguardError):
        return ""


# --- re-attestation -----------------------------------------------------------------------------


def reattest(layout: Layout, expected: AdmissionRecord, fingerprints: Mapping[str, Fingerprint], *,
             held: bool = False) -> bool:
    """Record fresh fingerprints for blobs a full check just found to be the locked bytes.

    This is what makes a copied or restored cache (tar, ``cp -a``, ``rsync -a``, an image layer) fast
    again after one full check. Best effort and never waiting: False when another writer holds the
    cache, the cache cannot be written (a read-only image) or the record changed since it was read.
    ``held``: the caller holds the writer lock already (fetch).
    """
    if not fingerprints or not layout.admissions.is_dir():
        return False
    try:
        if held:
            return _write_attested(layout, expected, fingerprints)
        with writer_lock_if_free(layout) as free:
            return free and _write_attested(layout, expected, fingerprints)
    except (OSError, UnreadableError, UsageError):  # a read-only or full disk: the next full check retries
        return False


def _write_attested(layout: Layout, expected: AdmissionRecord, fingerprints: Mapping[str, Fingerprint]) -> bool:
    current = read_record(layout, expected.repo, expected.commit)
    if current != expected:
        return False  # re-admitted (or removed) since the check: its fingerprints are not ours
    path = layout.record(expected.repo, expected.commit)
    with opened(path.parent):
        write_json_atomic(path, stamped(current, fingerprints, attested=True).to_json())
    return True
