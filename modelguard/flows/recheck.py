"""One admitted snapshot, rechecked from its bytes: what ``verify``, ``snapshot()`` and the loaders' cache
check share.

1. Integrity (:func:`modelguard.store.integrity.check_snapshot`): layout links, record vs lock, links
   read lexically, every blob re-hashed, or, on the fast path, re-hashed only when its fingerprint
   changed.
2. A fresh scan and the policy in force, on the blobs that passed (:func:`modelguard.trust.recompute.rescan`).
3. The record compared with that result (MG-H108 when it disagrees).
4. Re-attestation: blobs just hashed and found to be the locked bytes get fresh fingerprints in the
   record, so the next fast check of a copied or restored cache hashes nothing
   (:func:`modelguard.store.publish.reattest`; best effort, never waits, never fails a check).

Renders nothing and raises nothing of its own: callers turn the result into a report or an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from modelguard.models import FileResult, Finding
from modelguard.spec.types import Policy
from modelguard.store import publish
from modelguard.store.admission import Fingerprint
from modelguard.store.cache import Layout, writer_lock_if_free
from modelguard.store.integrity import Group, SnapshotCheck, check_snapshot
from modelguard.trust.evaluate import scanner_fingerprint
from modelguard.trust.recompute import disagreements, rescan


@dataclass(frozen=True)
class Recheck:
    group: Group
    check: SnapshotCheck
    results: dict[str, FileResult] = field(default_factory=dict)
    """fresh scan + policy results of the files that passed integrity (raw: no suppression applied)"""
    disagreements: tuple[Finding, ...] = ()
    """MG-H108: what the record says and the bytes do not"""
    attested: bool = False
    """fresh fingerprints were recorded for the blobs this check hashed"""

    @property
    def sound(self) -> bool:
        """Admitted, intact and the record agrees with the bytes (the verdict of the scan aside)."""
        return self.check.intact and not self.disagreements


def finish(layout: Layout, group: Group, check: SnapshotCheck, policy: Policy, *, reattest: bool = True,
           scanner: str | None = None) -> Recheck:
    """Steps 2-4 for a snapshot whose integrity was checked (``verify`` checks many at once)."""
    if not check.admitted:
        return Recheck(group, check)
    results = rescan(group.repo, group.files, check.blobs, policy)
    found = disagreements(check.record, results, scanner=scanner or scanner_fingerprint(),
                          policy_sha256=policy.sha256)
    done = Recheck(group, check, results, tuple(found))
    return attest(layout, [done])[0] if reattest else done


def changed_fingerprints(done: Recheck) -> dict[str, Fingerprint]:
    """Fingerprints to record: blobs just hashed and found locked, whose recorded fingerprint differs."""
    record = done.check.record
    if record is None or not done.sound:
        return {}
    return {p: fp for p, fp in done.check.fresh.items() if (f := record.file(p)) is not None and f.fingerprint != fp}


def attest(layout: Layout, rechecks: Sequence[Recheck]) -> list[Recheck]:
    """Re-attest every sound snapshot whose blobs were just hashed, under one hold of the writer lock
    (taken only if free: a running fetch wins, and the next full check tries again)."""
    todo = [(done, changed) for done in rechecks if (changed := changed_fingerprints(done))]
    if not todo:
        return list(rechecks)
    attested: set[int] = set()
    with writer_lock_if_free(layout) as free:
        if free:
            for done, changed in todo:
                if done.check.record is not None and publish.reattest(layout, done.check.record, changed, held=True):
                    attested.add(id(done))
    return [replace(done, attested=True) if id(done) in attested else done for done in rechecks]


def recheck(layout: Layout, group: Group, policy: Policy, *, fast: bool, reattest: bool = True,
            pool: ThreadPoolExecutor | None = None) -> Recheck:
    """All four steps for one snapshot."""
    check = check_snapshot(layout, group, fast=fast, pool=pool)
    return finish(layout, group, check, policy, reattest=reattest)
