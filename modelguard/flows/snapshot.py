"""``snapshot()``: the admitted snapshot folder of one lock entry, or the exception that says why not.

Wires the lockfile (:mod:`modelguard.spec`), the trust checks (:mod:`modelguard.trust`), an optional
fetch (:mod:`modelguard.flows.fetch`), the verify gate (:mod:`modelguard.flows.verify`) and the
cache's own check (:func:`modelguard.store.cache.admitted_snapshot`). Which exception a refusal
becomes is the rule table's decision (:attr:`modelguard.report.rules.Rule.error`,
:data:`~modelguard.report.rules.REFUSAL_ORDER`), never a guess from a rule id's prefix.

Fail closed: never returns a path it has doubts about. Must not render or print.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from modelguard.errors import (
    ConfigError,
    IntegrityError,
    ModelguardError,
    NotLockedError,
    NoVerdictError,
    StaleLockError,
    UsageError,
)
from modelguard.models import Finding, ModelStatus, Report, failing
from modelguard.spec import filenames
from modelguard.spec.types import LockedHFModel, Lockfile, Manifest

PathLike = str | os.PathLike[str]


def snapshot(
    name_or_repo: str,
    *,
    lockfile: PathLike | None = None,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    fetch: bool = False,
    verify: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
) -> Path:
    """See :func:`modelguard.api.snapshot`."""
    from modelguard.spec.lockfile import read_lockfile
    from modelguard.store.cache import admitted_snapshot, existing_cache_root

    lock_path = Path(lockfile if lockfile is not None else filenames.LOCKFILE)
    locked = read_lockfile(os.fspath(lock_path))
    if not fetch:
        existing_cache_root(cache_dir)  # only read: a mistyped cache_dir is a usage error, not "not admitted"
    entry = find_entry(locked, name_or_repo, lock_path)
    # Every entry pinning the same repo@commit shares the snapshot folder: fetch and check them together.
    subset = replace(locked, hf_models=tuple(m for m in locked.hf_models
                                             if (m.repo, m.commit) == (entry.repo, entry.commit)),
                     provider_models=())
    policy_manifest = _manifest_for(lock_path, manifest)
    if policy_manifest is not None:
        from modelguard.trust import checks as trust

        # First: a revocation is the decision that cannot be overridden, whatever else is true.
        trust.refuse_if_revoked(policy_manifest.policy, entry)
    if fetch:
        if policy_manifest is None:
            raise ConfigError(f"snapshot(fetch=True) needs the manifest's policy: no {filenames.MANIFEST} next to "
                              f"{lock_path}; pass manifest=")
        _fetch_entry(subset, policy_manifest, entry, cache_dir=cache_dir, endpoint=endpoint, token=token)
    if policy_manifest is not None:
        _verify_entry(subset, policy_manifest, entry, lock_path, cache_dir=cache_dir, verify=verify)
    else:
        _check_record(entry, cache_dir)
    # The last word is the cache's own check of this entry (cheap: verify_locked hashed already).
    return admitted_snapshot(cache_dir, entry, verify=verify and policy_manifest is None)


def find_entry(locked: Lockfile, name_or_repo: str, where: PathLike = filenames.LOCKFILE) -> LockedHFModel:
    """The ``[[hf-model]]`` entry named ``name_or_repo``, else the only one locking that repo."""
    by_name = [m for m in locked.hf_models if m.name == name_or_repo]
    if by_name:
        return by_name[0]
    by_repo = [m for m in locked.hf_models if m.repo == name_or_repo]
    if len(by_repo) == 1:
        return by_repo[0]
    if by_repo:
        names = ", ".join(sorted(m.name for m in by_repo))
        raise UsageError(f"{name_or_repo} is locked {len(by_repo)} times in {where} ({names}); ask for one by name")
    known = ", ".join(sorted(m.name for m in locked.hf_models)) or "none"
    raise NotLockedError(f"{name_or_repo!r} is not an [[hf-model]] name or repo in {where} (locked: {known}); "
                         f"add it to {filenames.MANIFEST} and run `modelguard lock`")


def _manifest_for(lock_path: Path, manifest: PathLike | None) -> Manifest | None:
    from modelguard.spec.manifest import load_manifest

    if manifest is not None:
        return load_manifest(os.fspath(manifest))
    beside = filenames.manifest_beside(lock_path)
    return load_manifest(os.fspath(beside)) if beside.is_file() else None


def _fetch_entry(subset: Lockfile, manifest: Manifest, entry: LockedHFModel, *, cache_dir: PathLike | None,
                 endpoint: str | None, token: str | None) -> None:
    from modelguard.flows.fetch import fetch_locked
    from modelguard.hub import client as hub

    if subset.manifest_sha256 != manifest.sha256:
        raise StaleLockError(f"the lockfile is stale for {manifest.path}; run `modelguard lock`, then fetch",
                             rule="MG-L001")
    report = fetch_locked(subset, manifest.policy, cache_dir=cache_dir,
                          client_factory=lambda: hub.make_client(endpoint, token))
    outcome = report.model(entry.name)
    if outcome is not None and not outcome.status.usable:
        raise refusal(report, entry.name, reason=outcome.reason, no_verdict=outcome.status is ModelStatus.NO_VERDICT)


def _verify_entry(subset: Lockfile, manifest: Manifest, entry: LockedHFModel, lock_path: Path, *,
                  cache_dir: PathLike | None, verify: bool) -> None:
    """The gate ``modelguard verify`` applies, for this entry's snapshot: raise when it does not pass."""
    from modelguard.flows.verify import verify_locked
    from modelguard.trust import checks as trust

    report = verify_locked(subset, manifest, cache_dir=cache_dir, fast=not verify)
    signature = trust.lockfile_findings(lock_path, manifest.policy)  # as `modelguard verify` does
    report = replace(report, findings=(*report.findings, *signature))
    if not report.ok:
        raise refusal(report, entry.name)


def refusal(report: Report, name: str, *, reason: str = "", no_verdict: bool = False) -> ModelguardError:
    """The exception for a model that a fetch or verify report did not let through: the class the rule
    table gives the most decisive failing finding (:data:`~modelguard.report.rules.REFUSAL_ORDER`)."""
    from modelguard.report.rules import REFUSAL_ORDER, RULES

    found = report.failing()
    found = [f for f in found if f.model in (name, "")] or found
    if no_verdict or not found:
        detail = reason or (found[0].message if found else "no verdict was reached")
        return NoVerdictError(f"{name}: {detail}", rule=found[0].rule if found else None)
    for cls in REFUSAL_ORDER:
        hits = [f for f in found if f.rule in RULES and RULES[f.rule].error is cls]
        if hits:
            return cls(_describe(name, hits), rule=hits[0].rule)
    return IntegrityError(_describe(name, found), rule=found[0].rule)  # a rule the table does not know


def _describe(name: str, findings: list[Finding]) -> str:
    first = findings[0]
    where = f" in {first.path.split(':', 1)[-1]}" if ":" in first.path else ""
    more = f" (+{len(findings) - 1} more; run `modelguard verify` for all)" if len(findings) > 1 else ""
    return f"{name}: {first.rule}{where}: {first.message}{more}"


def _check_record(entry: LockedHFModel, cache_dir: PathLike | None) -> None:
    """Without a manifest: the admission record must hold no finding that failed at its fail-on.

    The policy in force cannot be re-applied here (it lives in the manifest); the record proves the
    snapshot passed the policy in force when it was admitted, and the integrity check that follows
    proves the files are still the ones admitted.
    """
    from modelguard.errors import NotAdmittedError
    from modelguard.spec.limits import OverBudget
    from modelguard.store.cache import Layout, cache_root, read_record

    try:
        record = read_record(Layout(cache_root(cache_dir)), entry.repo, entry.commit)
    except OverBudget as e:
        raise NotAdmittedError(f"{entry.name}: {e.message}; run `modelguard fetch` to re-admit it", rule=e.rule) \
            from None
    if record is None:
        return  # admitted_snapshot raises NotAdmittedError with the fetch hint
    damaged = IntegrityError(f"{entry.name}: the admission record lists a failing or unreadable finding; "
                             "run `modelguard verify`", rule="MG-H104")
    if record.fail_on is None:
        raise damaged
    for f in record.files:
        if f.findings is None or failing(f.findings, record.fail_on):
            raise damaged
