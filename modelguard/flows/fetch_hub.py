"""``fetch``'s Hub byte source: download a model's missing files side by side and check each against
the lock and what the Hub publishes, before the fetcher scans and admits them.

The files are downloaded over a bounded pool of connections (:mod:`modelguard.hub.pool`: pieces of
big files in parallel, cut transfers resumed, partial downloads of an earlier run continued from
quarantine). Once every connection is transferring (:attr:`~modelguard.hub.pool.Pool.flowing`), the
Hub is asked what it publishes at the locked commit (:func:`modelguard.hub.client.resolve`) while the
bytes flow, and the scanners the files will need are imported. A file's bytes
are asked for only when the Hub's answer for it agrees with the lock: its HEAD's ETag (the SHA-256
or git blob SHA-1 it publishes at the locked commit), else the listing's word; so a file whose
published hash is not the locked one is refused without a byte downloaded (MG-H003, MG-H006,
MG-H002). Nothing is admitted before the listing is in: a commit the Hub does not confirm refuses
the model (MG-H005), and every downloaded file must hash to the lock (MG-H001) and to what the Hub
publishes. A failing file is recorded and the others are still checked, so a refused model's
report names every bad file; each file is downloaded once.

Never passes a branch name to the Hub (only the locked commit), writes only into quarantine, and
talks to the Hub only through :mod:`modelguard.hub.client`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelguard.errors import (
    IntegrityError,
    ModelguardError,
    NotFoundError,
    NoVerdictError,
    RejectedError,
    UsageError,
)
from modelguard.hub.pool import DEFAULT_WORKERS, Done, Gate, Want
from modelguard.models import Finding, Format
from modelguard.spec.types import LockedFile
from modelguard.store.admission import blob_name
from modelguard.store.cache import StagedFile
from modelguard.store.integrity import Group
from modelguard.store.partial import Partial, PartialStore


@dataclass
class HubStaging:
    """What :func:`stage_from_hub` did: verified quarantine copies, the files that failed, and notes."""

    staged: list[StagedFile] = field(default_factory=list)
    failed: list[tuple[LockedFile, ModelguardError]] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)


def stage_from_hub(client: Any, group: Group, missing: list[LockedFile], quarantine: Path, partials: PartialStore,
                   *, workers: int = DEFAULT_WORKERS, progress: bool = False) -> HubStaging:
    """Download ``missing`` into ``quarantine`` and check them; see the module docstring.

    Raises what refuses the whole model (the locked commit not confirmed, the Hub unreachable for the
    file listing); per-file failures are in the result.
    """
    from modelguard.hub import client as hub

    listing: list[Any] = []
    trouble: list[ModelguardError] = []
    answered = threading.Event()
    flowing = threading.Event()  # every connection has its first piece (hub.pool.Pool.flowing)
    locked = {lf.path: lf for lf in missing}

    def ask() -> None:
        # Asked once every connection has its first piece: the listing is needed before admission, not
        # before the first byte, and its answer (thousands of files for a big repo) is not parsed while
        # the openers turn HEAD answers into transfers. A gate that needs it now sets ``flowing``.
        flowing.wait(timeout=PRELOAD_AFTER)
        try:
            remote = hub.resolve(client, group.repo, group.commit)
            if remote.commit != group.commit:
                raise IntegrityError(f"{group.repo}: the Hub resolved {group.commit} to {remote.commit}",
                                     rule="MG-H005")
            listing.append({rf.path: rf for rf in remote.files})
        except ModelguardError as e:  # raised in the caller's thread once the downloads are done
            trouble.append(e)
        finally:
            answered.set()

    def gate(path: str, etag: str) -> ModelguardError | None:
        """A file's bytes are asked for only when what the Hub publishes for it agrees with the lock: its
        HEAD's ETag (the LFS SHA-256 or git blob SHA-1 at the locked commit), else the listing's word."""
        lf = locked[path]
        if etag == blob_name(lf):
            return None  # the listing is still checked before anything is admitted
        flowing.set()  # the listing decides now: ask for it at once
        answered.wait()
        if trouble:
            return trouble[0]
        return _disagreement(lf, listing[0].get(path), group) or IntegrityError(
            f"{path}: the Hub announces ETag {etag} at {group.commit[:12]}, the lock pins {blob_name(lf)}",
            rule="MG-H003")

    asking = threading.Thread(target=ask, name="modelguard-resolve", daemon=True)
    asking.start()
    # While bytes flow the main thread only waits: import the scanners these files will most likely need.
    threading.Thread(target=_preload_scanners, args=([lf.path for lf in missing], flowing), name="modelguard-preload",
                     daemon=True).start()
    wanted = [(lf, Want(lf.path, lf.size, None, quarantine / f"{index:05d}.download", key=lf.sha256))
              for index, lf in enumerate(missing)]
    try:
        # The lock is checked after the download (check_locked), so the ETag's verdict (MG-H003) comes first.
        done = _download(client, group, [want for _, want in wanted], partials, workers=workers, progress=progress,
                         gate=gate, flowing=flowing)
    finally:
        asking.join()
    if trouble:
        for _, want in wanted:
            want.dest.unlink(missing_ok=True)
        raise trouble[0]
    published = listing[0]
    out = HubStaging()
    for lf, want in wanted:
        got = done.get(lf.path)
        if got is None:
            continue  # never started: the downloads stopped after a failure without verdict
        out.notes.extend(got.notes)
        try:
            _check(lf, published.get(lf.path), got, group)
        except (RejectedError, NoVerdictError, NotFoundError) as e:
            want.dest.unlink(missing_ok=True)  # refused bytes need no disk while the other files are checked
            out.failed.append((lf, e))
            continue
        out.staged.append(StagedFile(lf.path, blob_name(lf), want.dest))
    return out


PRELOAD_AFTER = 2.0
"""seconds the listing and the scanner preload wait for the transfers to start before they go ahead anyway"""

_LIKELY: dict[str, tuple[Format, ...]] = {
    ".safetensors": (Format.SAFETENSORS,), ".json": (Format.JSON,), ".py": (Format.PYTHON,),
    ".bin": (Format.ZIP, Format.PICKLE, Format.PYTORCH_LEGACY), ".pt": (Format.ZIP, Format.PICKLE),
    ".pth": (Format.ZIP, Format.PICKLE), ".pkl": (Format.PICKLE,), ".gguf": (Format.GGUF,), ".onnx": (Format.ONNX,),
    ".h5": (Format.HDF5,), ".model": (Format.SENTENCEPIECE,), ".jinja": (Format.JINJA,), ".npy": (Format.NUMPY,),
}
"""the formats a file name suggests: only to import their scanners early (the scan decides by content)"""


def _preload_scanners(paths: list[str], flowing: threading.Event) -> None:
    # Not before every connection has its first piece: until then these imports (tens of ms of CPU)
    # would hold the GIL against the HTTP client's start and the openers' HEAD -> GET, and every
    # transfer that starts later ends later.
    flowing.wait(timeout=PRELOAD_AFTER)
    from modelguard.scan import preload
    from modelguard.trust import evaluate  # what scan_and_evaluate needs beyond the scanners

    preload({fmt for p in paths for fmt in _LIKELY.get(os.path.splitext(p)[1].lower(), ())})
    evaluate.scanner_fingerprint()  # cached: the admission record names it


def _check(lf: LockedFile, rf: Any, got: Done, group: Group) -> None:
    """One downloaded file against what the Hub publishes and the lock pins; raises what is wrong."""
    from modelguard.hub import client as hub

    veto = _disagreement(lf, rf, group)
    if veto is not None:
        raise veto
    if got.error is not None:
        raise got.error
    assert got.digests is not None
    # Every byte once, hashed while written: it must be the locked file and what the Hub publishes.
    hub.check_locked(lf, got.digests, what=lf.path)
    hub.check_published(rf, got.digests, what=lf.path)


def _download(client: Any, group: Group, wanted: list[Want], partials: PartialStore, *, workers: int,
              progress: bool, gate: Gate, flowing: threading.Event) -> dict[str, Done]:
    """Download ``wanted`` side by side, continuing the partial downloads an earlier run left."""
    from modelguard.hub import client as hub
    from modelguard.hub.pool import Pool
    from modelguard.hub.progress import Bars

    partials.forget_claims()

    def claim(want: Want, size: int) -> Partial:
        assert want.key is not None
        return partials.claim(want.key, size)

    def head(path: str, size: int | None) -> tuple[str, str, int]:
        return hub.head_file(client, group.repo, group.commit, path, size)

    bars = Bars(sum(w.size or 0 for w in wanted), label=group.repo) if progress else None
    pool = Pool(client, group.repo, group.commit, claim=claim, workers=workers, progress=bars, head=head, gate=gate,
                flowing=flowing)
    try:
        return pool.run(wanted)
    finally:
        if bars is not None:
            bars.close()


def _disagreement(lf: LockedFile, rf: Any, group: Group) -> ModelguardError | None:
    """Why the Hub's listing refuses ``lf`` before any of its bytes are asked for (MG-H006, H002, H003)."""
    if rf is None:
        return NotFoundError(f"{lf.path} is not published at {group.repo}@{group.commit[:12]}")
    problem = _published_disagrees(lf, rf)
    return IntegrityError(problem[1], rule=problem[0]) if problem else None


def _published_disagrees(lf: LockedFile, rf: Any) -> tuple[str, str] | None:
    """(rule, message) when what the Hub publishes now is not what was locked."""
    if rf.size != lf.size:
        return "MG-H002", f"{lf.path}: the Hub publishes {rf.size} bytes, the lock pins {lf.size}"
    if lf.published == "lfs-sha256" or rf.lfs_sha256 is not None:
        if rf.lfs_sha256 != lf.sha256:
            return "MG-H003", f"{lf.path}: the Hub publishes LFS sha256 {rf.lfs_sha256}, the lock pins {lf.sha256}"
    elif rf.blob_id != lf.git_blob_sha1:
        return "MG-H003", f"{lf.path}: the Hub publishes git blob {rf.blob_id}, the lock pins {lf.git_blob_sha1}"
    return None


def fetch_workers(given: int | None, configured: int | None) -> int:
    """Connections at once: ``--max-workers``, else ``$MODELGUARD_MAX_WORKERS``, else ``[fetch] max-workers``,
    else :data:`~modelguard.hub.pool.DEFAULT_WORKERS`; a value outside 1..64 is a usage error."""
    from modelguard.spec.manifest import MAX_WORKERS

    env = os.environ.get("MODELGUARD_MAX_WORKERS", "").strip()
    if given is None and env:
        if not env.isdigit():
            raise UsageError(f"MODELGUARD_MAX_WORKERS={env[:20]!r} is not a number of connections; set it to 1..."
                             f"{MAX_WORKERS} or unset it")
        given = int(env)
    workers = given if given is not None else (configured or DEFAULT_WORKERS)
    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"{workers} connections at once: use 1 to {MAX_WORKERS} (--max-workers, "
                         "MODELGUARD_MAX_WORKERS or [fetch] max-workers)")
    return workers
