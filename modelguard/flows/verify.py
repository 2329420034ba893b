"""``verify``: the CI pre-deploy gate. Proves, offline, that what would be deployed is what was locked.

Recompute, don't remember: every verdict comes from the bytes on disk, the lock (and its signature)
and the scanner and policy in force now. Checks, each reported as a finding: the lock is fresh for
the manifest by content and signed as the policy requires (:mod:`modelguard.trust.freshness`); every
locked snapshot is admitted and its layout holds no symlink; every file has the locked size and
SHA-256 (re-hashed in parallel; with ``fast`` only the blobs whose fingerprint changed since their
bytes were last hashed, which the report says); no file is missing or extra; refs name the locked
commits; every file is scanned again and the policy applied now, and an admission record that
disagrees with what the bytes give is itself a finding (:mod:`modelguard.flows.recheck`); nothing in
the cache is there that no admitted snapshot accounts for (:mod:`modelguard.store.inventory`);
provider models pass their checks. With ``remote`` it also asks the Hub whether each locked commit
still exists and still publishes the locked hashes.

Writes only fresh fingerprints into admission records (re-attestation, best effort) and the audit
log; never downloads model bytes, never loads what it scans.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelguard.errors import ConfigError, ExitCode, NothingToCheckError
from modelguard.flows.recheck import Recheck, attest, finish
from modelguard.models import FileResult, Finding, ModelStatus, Report, Severity, VerifyOutcome, failing
from modelguard.spec import filenames
from modelguard.spec.policy import describe, policy_findings
from modelguard.spec.types import HFModelSpec, LockedHFModel, Lockfile, Manifest, Policy
from modelguard.store import audit
from modelguard.store.cache import Layout, cache_root, existing_cache_root
from modelguard.store.digest import hashing_progress
from modelguard.store.integrity import check_snapshot, group_models, hash_workers
from modelguard.store.inventory import inventory
from modelguard.trust import checks as trust
from modelguard.trust.evaluate import model_findings, scanner_fingerprint, suppressed_findings, with_suppressions


@dataclass(frozen=True)
class Inputs:
    """The lockfile (and the exact bytes it was parsed from, for its signature) and its manifest."""

    lockfile: Lockfile
    manifest: Manifest
    body: bytes
    path: Path


def read_inputs(lockfile_path: str | os.PathLike[str], manifest_path: str | os.PathLike[str] | None = None
                ) -> Inputs:
    """Read the lockfile once and the manifest it was made from (next to it unless given)."""
    from modelguard.spec.lockfile import read_lockfile_body
    from modelguard.spec.manifest import load_manifest

    lock_path = Path(lockfile_path)
    # within LOCK_BYTES, missing or unreadable: the lockfile's own error; the body is what the signature is checked on
    lockfile, body = read_lockfile_body(str(lock_path))
    return Inputs(lockfile, load_manifest(str(manifest_for(lock_path, manifest_path))), body, lock_path)


def manifest_for(lock_path: Path, manifest_path: str | os.PathLike[str] | None) -> Path:
    """The manifest a lockfile was made from: ``manifest_path``, else the one beside it; ConfigError when absent."""
    found = Path(manifest_path) if manifest_path is not None else filenames.manifest_beside(lock_path)
    if not found.is_file():
        raise ConfigError(
            f"no manifest at {found}: the policy and the freshness check need it; pass --manifest"
        )
    return found


def load_inputs(
    lockfile_path: str | os.PathLike[str], manifest_path: str | os.PathLike[str] | None = None
) -> tuple[Lockfile, Manifest]:
    """Read the lockfile and the manifest it was made from (next to it unless given)."""
    inputs = read_inputs(lockfile_path, manifest_path)
    return inputs.lockfile, inputs.manifest


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
    whole_cache: bool = True,
) -> Report:
    """Verify ``lockfile``'s models against the verified cache and ``manifest``'s policy; see the module
    docstring. Freshness and signature are :func:`verify`'s (``snapshot()`` checks a subset of the lock).
    ``whole_cache`` adds the inventory of everything else in the cache (``snapshot()`` needs only its own)."""
    if not lockfile.hf_models and not lockfile.provider_models:
        raise NothingToCheckError("the lockfile locks nothing, so nothing can be verified; add a [[hf-model]] or "
                                  "[[provider-model]] to the manifest and run `modelguard lock`")
    policy = manifest.policy
    threshold = fail_on or policy.fail_on
    layout = Layout(cache_root(cache_dir))
    loose: list[Finding] = policy_findings(policy)
    files: list[FileResult] = []
    models: list[VerifyOutcome] = []
    checked = 1  # the lockfile itself
    specs: dict[str, HFModelSpec] = {s.name: s for s in manifest.hf_models}
    client: Any = None
    scanner = scanner_fingerprint()
    groups = group_models(lockfile.hf_models)
    # Snapshots are checked side by side and their files hashed in one shared pool, so one large
    # model does not leave the other cores idle. (Two pools: a snapshot waits on its hashes.)
    to_hash = 0 if fast else sum(lf.size for g in groups for lf in g.files.values())
    with hashing_progress(to_hash, enabled=progress), \
            ThreadPoolExecutor(max_workers=hash_workers()) as hashing, \
            ThreadPoolExecutor(max_workers=max(1, min(4, len(groups)))) as snapshots:
        rechecks = list(snapshots.map(
            lambda g: finish(layout, g, check_snapshot(layout, g, fast=fast, pool=hashing), policy, scanner=scanner,
                             reattest=False),
            groups))
    rechecks = attest(layout, rechecks)  # one hold of the writer lock for every snapshot to re-attest
    for recheck in rechecks:
        group, check = recheck.group, recheck.check
        results = {path: with_suppressions(policy, r, repo=group.repo) for path, r in recheck.results.items()}
        group_findings = [*check.general, *recheck.disagreements]
        if remote and client is None:
            if client_factory is None:
                raise ConfigError("verify --remote needs a Hub client")
            client = client_factory()
        for m in group.models:
            anchor = _anchor(lockfile_name, lockfile, m.name)
            found = model_findings(policy, m, spec=specs.get(m.name), manifest_path=manifest.path)
            # trust hook: revocation (MG-P501/P502) and the model's signature (MG-P510..P518)
            found += trust.locked_model_findings(
                policy, m, layout.snapshot(group.repo, group.commit) if recheck.sound else None)
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
            models.append(_outcome(m, recheck, mine, about, threshold, layout.snapshot(group.repo, group.commit)))

    if whole_cache:
        loose.extend(s.finding(layout) for s in inventory(layout))
    loose.extend(_provider_findings(lockfile, policy, remote))
    checked += len(lockfile.provider_models)
    mode = "only files whose fingerprint changed (--fast)" if fast else "full sha256"
    return Report(
        command="verify", fail_on=threshold, files=tuple(files), findings=tuple(loose), checked=checked,
        models=tuple(models),
        extra={"hashing": mode, "cache": str(layout.root), "policy": describe(policy, manifest.path)},
    )


def _outcome(model: LockedHFModel, recheck: Recheck, files: Sequence[FileResult], about: Sequence[Finding],
             threshold: Severity, snapshot: Path) -> VerifyOutcome:
    """The model passes when no finding about it (its files' or its own) fails at ``threshold``; the
    findings say why it did not (no ``reason``: the audit log's verify records carry the rule ids)."""
    check = recheck.check
    failed = failing([*(f for r in files for f in r.findings), *about], threshold)
    own = {lf.path for lf in model.files}
    return VerifyOutcome(
        name=model.name, repo=model.repo, commit=model.commit,
        status=ModelStatus.REJECTED if failed else ModelStatus.OK,
        exit_code=ExitCode.REJECTED if failed else ExitCode.OK,
        files=tuple(files), findings=tuple(about), snapshot=None if failed or not recheck.sound else snapshot,
        admitted=check.admitted, intact=check.intact, rescanned=bool(recheck.results),
        rehashed=tuple(sorted(p for p in check.rehashed if p in own)), attested=recheck.attested)


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

    # The one freshness + signature check every entry point applies (MG-L001, MG-L101..L107; with
    # --frozen the signature only), on the bytes that were parsed; reported with everything else
    # (verify downloads and admits nothing).
    gate = chosen.gate(lockfile_path, inputs, manifest.policy)
    report = verify_locked(lockfile, manifest, cache_dir=cache_dir, fast=fast, remote=remote,
                           client_factory=factory, fail_on=fail_on, lockfile_name=os.fspath(lockfile_path),
                           progress=progress)
    report = replace(report, findings=(*inputs.notes, *gate, *report.findings),
                     extra={**report.extra, "policy": chosen.shown(inputs)})
    audit.append_report(cache_root(cache_dir), report, policy_sha256=manifest.policy.sha256,
                        lockfile=os.fspath(lockfile_path))
    return report
