"""Handing the verified cache to loaders (``modelguard env``, ``hf_offline()``): check it first, whole.

A loader pointed at ``<cache>/hub`` can open any repo, snapshot or ref in it, so before the cache is
handed over everything in ``hub/`` must be accounted for and sound:

* nothing there that no admitted snapshot accounts for (:func:`modelguard.store.inventory.inventory`:
  a repo, snapshot, ref or blob another tool wrote or someone planted; a link where the layout has
  none);
* every admitted snapshot rechecked from its bytes against its record (:mod:`modelguard.flows.recheck`
  on the fast path: a blob is re-hashed when its fingerprint changed, every file is re-scanned), and
  judged by the manifest's policy when one is given, else by the scanner and the default file policy
  at the stricter of the record's fail-on and medium.

The check runs each time the cache is handed over. Between the check and the load, only a writer
who defeats the sealed (read-only) folders can change the cache; ``verify`` and the next hand-over
see what they did (docs/trust.md). Renders nothing; raises the refusal for the first failing finding.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelguard.errors import IntegrityError, LockfileError, ModelguardError
from modelguard.flows.recheck import recheck
from modelguard.models import Finding, failing
from modelguard.spec.types import LockedFile, LockedHFModel, Manifest
from modelguard.store.admission import AdmissionRecord
from modelguard.store.cache import Layout, cache_root
from modelguard.store.integrity import Group, failing_integrity
from modelguard.store.inventory import admitted_records, inventory
from modelguard.trust.evaluate import with_suppressions
from modelguard.trust.recompute import standalone_threshold

PathLike = str | os.PathLike[str]


def servable_findings(cache_dir: PathLike | None = None, *, manifest: Manifest | None = None) -> list[Finding]:
    """Every finding that forbids handing ``<cache>/hub`` to loaders (empty: serve it)."""
    from modelguard.spec.policy import DEFAULT_POLICY

    layout = Layout(cache_root(cache_dir))
    out = [s.finding(layout) for s in inventory(layout, hub_only=True)]
    policy = manifest.policy if manifest is not None else DEFAULT_POLICY
    for record in admitted_records(layout):
        group = _group(record)
        if group is None:
            out.append(_damaged(record))
            continue
        done = recheck(layout, group, policy, fast=True)
        out += failing_integrity(done.check)
        out += done.disagreements
        threshold = policy.fail_on if manifest is not None else standalone_threshold(record)
        for path, result in sorted(done.results.items()):
            judged = with_suppressions(policy, result, repo=record.repo) if manifest is not None else result
            out += [f.at(path=f"{record.repo}@{record.commit[:12]}:{path}") for f in failing(judged.findings,
                                                                                              threshold)]
    return out


def require_servable(cache_dir: PathLike | None = None, *, manifest: Manifest | None = None) -> Path:
    """The ``hub`` folder when it may be handed to loaders; else the refusal (the first failing finding's
    class from the rule table, e.g. :class:`~modelguard.errors.IntegrityError` for MG-H110)."""
    layout = Layout(cache_root(cache_dir))
    found = servable_findings(cache_dir, manifest=manifest)
    if found:
        raise _refusal(found, layout)
    return layout.hub


def _refusal(found: list[Finding], layout: Layout) -> ModelguardError:
    from modelguard.report.rules import RULES

    first = found[0]
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    where = f"{first.path}: " if first.path else ""
    cls = RULES[first.rule].error if first.rule in RULES else IntegrityError
    return cls(f"the verified cache at {layout.root} cannot be handed to loaders: {where}{first.message}{more}; "
               "run `modelguard verify` for details, `modelguard prune` to remove what was not admitted and "
               "`modelguard fetch` to re-admit", rule=first.rule)


def _group(record: AdmissionRecord) -> Group | None:
    """The record as lock entries (the only statement of what this snapshot should hold when no lock is
    given), or None when it lacks a size or hash for a file (a damaged record is never trusted)."""
    from modelguard.spec import ids
    from modelguard.store.admission import blob_name

    files = []
    for f in record.files:
        if f.size is None or f.sha256 is None or not ids.is_sha256(f.sha256):
            return None
        files.append(LockedFile(path=f.path, size=f.size, sha256=f.sha256, published=f.published,
                                git_blob_sha1=f.git_blob_sha1))
    revisions = sorted({e.requested_revision for e in record.entries if e.requested_revision} or {record.commit})
    models = tuple(LockedHFModel(name=record.repo, repo=record.repo, requested_revision=revision,
                                 commit=record.commit, files=tuple(files)) for revision in revisions)
    group = Group(record.repo, record.commit, models)
    try:  # what the record names must be names this cache could hold
        for lf in group.files.values():
            blob_name(lf)
        for revision in group.refs:
            if ids.revision_problem(revision):
                return None
    except LockfileError:
        return None
    return group


def _damaged(record: AdmissionRecord) -> Finding:
    from modelguard.report.rules import finding

    return finding("MG-H104", f"{record.repo}@{record.commit[:12]}: the admission record lacks a size or hash; "
                   "re-admit it with `modelguard fetch`")
