"""``verify``: the CI pre-deploy gate. Proves, offline, that what would be deployed is what was locked.

Checks, each reported as a finding: the lock is fresh for the manifest; every locked snapshot is
admitted; every admitted file has the locked size and SHA-256 (re-hashed in parallel, or with
``fast`` the size/mtime/inode recorded at admission, which the report says); no file is missing or
extra; no snapshot entry points outside the cache; refs name the locked commits; scan verdicts
and the policy pass *now* (files are re-scanned when the scanner or the policy changed since
admission); provider models pass their checks. With ``remote`` it also asks the Hub whether each
locked commit still exists and still publishes the locked hashes.

Never writes to the cache, never downloads model bytes, never loads what it scans.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelguard.errors import ConfigError, ExitCode, NothingToCheckError
from modelguard.models import FileResult, Finding, ModelStatus, Report, Severity, VerifyOutcome, failing
from modelguard.report.rules import finding
from modelguard.spec import filenames
from modelguard.spec.types import HFModelSpec, LockedHFModel, Lockfile, Manifest, Policy
from modelguard.store import audit
from modelguard.store.cache import Layout, cache_root, existing_cache_root
from modelguard.store.digest import hashing_progress
from modelguard.store.integrity import Group, SnapshotCheck, check_snapshot, group_models, hash_workers
from modelguard.trust import checks as trust
from modelguard.trust.evaluate import (
    model_findings,
    scan_and_evaluate,
    scanner_fingerprint,
    suppressed_findings,
    with_suppressions,
)


def load_inputs(
    lockfile_path: str | os.PathLike[str], manifest_path: str | os.PathLike[str] | None = None
) -> tuple[Lockfile, Manifest]:
    """Read the lockfile and the manifest it was made from (next to it unless given)."""
    from modelguard.spec.lockfile import read_lockfile
    from modelguard.spec.manifest import load_manifest

    lock_path = Path(lockfile_path)
    lockfile = read_lockfile(str(lock_path))
    found = Path(manifest_path) if manifest_path is not None else filenames.manifest_beside(lock_path)
    if not found.is_file():
        raise ConfigError(
            f"no manifest at {found}: the policy and the freshness check need it; pass --manifest"
        )
    return lockfile, load_manifest(str(found))


def _scan_results(
    layout: Layout, group: Group, check: SnapshotCheck, policy: Policy
) -> tuple[dict[str, FileResult], bool]:
    """Scan + policy results for the admitted files that passed the integrity checks: the stored
    ones when scanner and policy are those of the admission, else a fresh scan of the admitted
    bytes. Files that failed integrity are not scanned (their integrity finding is their verdict).
    Returns (results, rescanned)."""
    if not check.admitted:
        return {}, False
    sound = [path for path, found in check.by_path.items() if not found]
    record = check.record
    if record is not None and record.judged_by(scanner_fingerprint(), policy.sha256):
        stored = record.results()
        if stored is not None and all(path in stored for path in sound):
            return {path: stored[path] for path in sound}, False
    snapshot = layout.snapshot(group.repo, group.commit)
    files = group.files
    results = {
        path: scan_and_evaluate(snapshot / path, policy=policy, repo=group.repo, rel_path=path, display=path,
                                size=files[path].size, sha256=files[path].sha256)
        for path in sound
    }
    return results, True


def _remote_findings(model: LockedHFModel, spec: HFModelSpec | None, client: Any) -> list[Finding]:
    """Does the Hub still serve the locked commit with the locked hashes (and no new file the manifest
    would select)? Access and network failures raise: --remote without an answer is no verdict."""
    from modelguard.hub import client as hub
    from modelguard.spec.manifest import selects

    selected = (lambda path: selects(spec, path)) if spec is not None else None
    return hub.remote_file_status(client, model, selected=selected)


def verify_locked(
    lockfile: Lockfile,
    manifest: Manifest,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    fast: bool = False,
    remote: bool = False,
    client_factory: Callable[[], Any] | None = None,
    fail_on: Severity | None = None,
    lockfile_name: str = filenames.LOCKFILE,
    progress: bool = False,
) -> Report:
    """Verify ``lockfile`` against the verified cache and ``manifest``; see the module docstring."""
    if not lockfile.hf_models and not lockfile.provider_models:
        raise NothingToCheckError("the lockfile locks nothing, so nothing can be verified; add a [[hf-model]] or "
                                  "[[provider-model]] to the manifest and run `modelguard lock`")
    policy = manifest.policy
    threshold = fail_on or policy.fail_on
    layout = Layout(cache_root(cache_dir))
    loose: list[Finding] = []
    files: list[FileResult] = []
    models: list[VerifyOutcome] = []
    checked = 1  # the lockfile itself

    if manifest.sha256 and lockfile.manifest_sha256 != manifest.sha256:
        loose.append(finding(
            "MG-L001", f"the lockfile does not match {manifest.path}; run `modelguard lock`",
            location=manifest.path,
        ))

    specs: dict[str, HFModelSpec] = {s.name: s for s in manifest.hf_models}
    client: Any = None
    groups = group_models(lockfile.hf_models)
    # Snapshots are checked side by side and their files hashed in one shared pool, so one large
    # model does not leave the other cores idle. (Two pools: a snapshot waits on its hashes.)
    to_hash = 0 if fast else sum(lf.size for g in groups for lf in g.files.values())
    with hashing_progress(to_hash, enabled=progress), \
            ThreadPoolExecutor(max_workers=hash_workers()) as hashing, \
            ThreadPoolExecutor(max_workers=max(1, min(4, len(groups)))) as snapshots:
        checks = list(snapshots.map(lambda g: check_snapshot(layout, g, fast=fast, pool=hashing), groups))
    for group, check in zip(groups, checks, strict=True):
        results, rescanned = _scan_results(layout, group, check, policy)
        results = {path: with_suppressions(policy, r, repo=group.repo) for path, r in results.items()}
        group_findings = list(check.general)
        if remote and client is None:
            if client_factory is None:
                raise ConfigError("verify --remote needs a Hub client")
            client = client_factory()
        for m in group.models:
            anchor = _anchor(lockfile_name, lockfile, m.name)
            found = model_findings(policy, m, spec=specs.get(m.name), manifest_path=manifest.path)
            # trust hook: revocation (MG-P501/P502) and the model's signature (MG-P510..P518)
            found += trust.locked_model_findings(
                policy, m, layout.snapshot(group.repo, group.commit) if check.intact else None)
            if remote:
                found += _remote_findings(m, specs.get(m.name), client)
            found = suppressed_findings(policy, found, repo=m.repo, model=m.name)
            about = [f.at(model=m.name, path=f.path or anchor) for f in [*group_findings, *found]]
            loose.extend(about)
            mine = []
            for lf in m.files:
                r = results.get(lf.path)
                per_file = (*check.by_path.get(lf.path, []), *(r.findings if r else ()))
                mine.append(FileResult(lf.path, r.format if r else "unknown",
                                       tuple(f.at(model=m.name) for f in per_file), lf.size, lf.sha256))
            files.extend(replace(r, path=f"{m.name}:{r.path}") for r in mine)
            checked += len(mine)
            models.append(_outcome(m, check, rescanned, mine, about, threshold,
                                   layout.snapshot(group.repo, group.commit)))

    loose.extend(_provider_findings(lockfile, policy, remote))
    checked += len(lockfile.provider_models)
    return Report(
        command="verify", fail_on=threshold, files=tuple(files), findings=tuple(loose), checked=checked,
        models=tuple(models),
        extra={"hashing": "size+mtime+inode trusted from admission (--fast)" if fast else "full sha256"},
    )


def _outcome(model: LockedHFModel, check: SnapshotCheck, rescanned: bool, files: Sequence[FileResult],
             about: Sequence[Finding], threshold: Severity, snapshot: Path) -> VerifyOutcome:
    """The model passes when no finding about it (its files' or its own) fails at ``threshold``; the
    findings say why it did not (no ``reason``: the audit log's verify records carry the rule ids)."""
    failed = failing([*(f for r in files for f in r.findings), *about], threshold)
    return VerifyOutcome(
        name=model.name, repo=model.repo, commit=model.commit,
        status=ModelStatus.REJECTED if failed else ModelStatus.OK,
        exit_code=ExitCode.REJECTED if failed else ExitCode.OK,
        files=tuple(files), findings=tuple(about), snapshot=None if failed or not check.intact else snapshot,
        admitted=check.admitted, intact=check.intact, rescanned=rescanned)


def _anchor(lockfile_name: str, lockfile: Lockfile, name: str) -> str:
    line = lockfile.line_of(name)
    return f"{lockfile_name}:{line}" if line else lockfile_name


def _provider_findings(lockfile: Lockfile, policy: Policy, remote: bool) -> Sequence[Finding]:
    if not lockfile.provider_models:
        return []
    from modelguard.providers import check_locked_provider_models

    return check_locked_provider_models(lockfile.provider_models, policy, remote=remote)


def verify(
    lockfile_path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    fast: bool = False,
    remote: bool = False,
    manifest_path: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    fail_on: Severity | None = None,
    require_signature: bool = False,
    progress: bool = False,
    names: Sequence[str] = (),
    frozen: bool = False,
    policy_path: str | os.PathLike[str] | None = None,
) -> Report:
    """Library entry point: read the lockfile and manifest, then :func:`verify_locked`.

    ``require_signature`` tightens the policy for this run as ``require-signature = true`` does
    (a missing lockfile signature is a finding); it can never loosen what the policy requires.
    ``names``: only these lock entries (:mod:`modelguard.flows.select`); ``frozen``: the lockfile alone,
    under ``policy_path`` or the manifest's policy, freshness not checked (:mod:`modelguard.flows.frozen`).
    """
    from modelguard.flows import frozen as chosen
    from modelguard.flows.select import select

    inputs = chosen.read(lockfile_path, manifest_path, frozen=frozen, policy_path=policy_path)
    lockfile = select(inputs.lockfile, names, where=lockfile_path)
    manifest = inputs.manifest
    if require_signature and not manifest.policy.require_signature:
        manifest = replace(manifest, policy=replace(manifest.policy, require_signature=True))
    # Locked hf-models are read from the cache: a --cache-dir that does not exist is a mistyped path,
    # refused, never created for the audit log. (Provider models need no cache: it only holds the log.)
    root = existing_cache_root(cache_dir) if lockfile.hf_models else cache_root(cache_dir)
    audit.ensure_writable(root)  # trust hook: fail closed before any work

    def factory() -> Any:
        from modelguard.hub import client as hub

        return hub.make_client(endpoint or os.environ.get("HF_ENDPOINT") or None, token)

    report = verify_locked(lockfile, manifest, cache_dir=cache_dir, fast=fast, remote=remote,
                           client_factory=factory, fail_on=fail_on, lockfile_name=os.fspath(lockfile_path),
                           progress=progress)
    # trust hook: the lockfile signature (MG-L101..L107), then one audit line per model
    report = replace(report, findings=(*inputs.notes, *report.findings,
                                       *trust.lockfile_findings(lockfile_path, manifest.policy)),
                     extra={**report.extra, "policy": chosen.shown(inputs)})
    audit.append_report(cache_root(cache_dir), report, policy_sha256=manifest.policy.sha256,
                        lockfile=os.fspath(lockfile_path))
    return report
