"""``fetch``: the one door into the verified cache.

For every locked ``repo@commit`` that is not admitted and intact: check the org policy (before any
network), ask the Hub what it publishes at the locked commit, download each missing file into a
private quarantine folder (hashing while writing), require size + SHA-256 to equal the lock and the
published value to agree, scan every file and apply the policy, and admit the snapshot only when
every file passed. A refused model leaves nothing in the verified cache, its report names every
file that failed (each downloaded once), and the other models proceed: whatever goes wrong inside
one model's fetch (a hostile answer, a stalled transfer, a full disk, even a bug in modelguard) is
that model's outcome, never the run's.

The whole run holds the cache's writer lock, so a crashed run's quarantine is swept safely at the
start of the next one and two fetches on one cache serialise instead of interleaving.

Never passes a branch name to the Hub (only the locked commit), never writes outside the cache
root, never loads what it scans. Talks to the Hub only through :mod:`modelguard.hub.client`.

Mirrors (issue 16): with a :class:`~modelguard.mirror.source.MirrorSource`, files are asked of the
mirror first, by locked digest, into the same quarantine; they then meet exactly the checks Hub
bytes meet. A file the mirror lacks (or a mirror that does not answer) comes from the Hub only
when the mirror's fallback is ``hub``; with ``none`` the Hub is never contacted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelguard.errors import (
    ExitCode,
    ModelguardError,
    NotFoundError,
    NothingToCheckError,
    NoVerdictError,
    RejectedError,
)
from modelguard.flows import on_record
from modelguard.flows.fetch_hub import fetch_workers, stage_from_hub
from modelguard.flows.fetch_outcome import GroupOutcome, default_rule, fetch_report, isolated, set_status
from modelguard.flows.recheck import changed_fingerprints, finish
from modelguard.hub.pool import DEFAULT_WORKERS
from modelguard.models import ModelStatus, Report, Severity, failing
from modelguard.report.rules import finding
from modelguard.report.text import refusal_reason
from modelguard.spec import filenames
from modelguard.spec.limits import PATH_MAX
from modelguard.spec.policy import describe, policy_findings
from modelguard.spec.types import LockedFile, Lockfile, Policy
from modelguard.store import audit, publish
from modelguard.store.admission import blob_name, build_record
from modelguard.store.cache import (
    Layout,
    StagedFile,
    cache_root,
    discard,
    new_quarantine,
    sweep_quarantine,
    writer_lock,
)
from modelguard.store.digest import hash_file
from modelguard.store.integrity import Group, check_snapshot, group_models
from modelguard.store.partial import PartialStore
from modelguard.trust import checks as trust
from modelguard.trust.evaluate import model_findings, scan_and_evaluate, scanner_fingerprint, with_suppressions

if TYPE_CHECKING:  # pragma: no cover
    from modelguard.mirror.source import MirrorSource

class _Fetcher:
    def __init__(self, layout: Layout, policy: Policy, fail_on: Severity,
                 client_factory: Callable[[], Any], progress: bool = False, mirror: MirrorSource | None = None,
                 workers: int = DEFAULT_WORKERS) -> None:
        self.progress = progress
        self.workers = workers
        self.partials = PartialStore(layout.quarantine)
        self.mirror = mirror
        self.layout = layout
        self.policy = policy
        self.fail_on = fail_on
        self._client_factory = client_factory
        self._client: Any = None

    @functools.cached_property
    def scanner(self) -> str:
        # Asked for only where a record is judged or written: a first fetch reads the scanner's
        # sources while the bytes download (the preload thread), not before the first request.
        return scanner_fingerprint()

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def run(self, group: Group) -> GroupOutcome:
        """One ``repo@commit``, whatever happens: its failure is its outcome, never the run's
        (:func:`~modelguard.flows.fetch_outcome.isolated`); quarantine is discarded in every case."""
        out = GroupOutcome(group)
        isolated(out, lambda: self._run(group, out))
        return out

    def _run(self, group: Group, out: GroupOutcome) -> None:
        org_findings = [f for m in group.models for f in model_findings(self.policy, m)]
        out.findings.extend(org_findings)
        revoked = [f for m in group.models for f in trust.revocation_check(self.policy, m)]  # trust hook
        if revoked:
            out.findings.extend(revoked)
            out.refuse(refusal_reason(revoked))
            self._evict_revoked(group)
            return
        # An org outside the allowlist is refused whatever --fail-on says: no byte is downloaded.
        if org_findings:
            out.refuse(refusal_reason(org_findings))
            self._evict_if_admitted(group)
            return

        # Re-hashed, not trusted from fingerprints: fetch is the door, and reading local bytes is far
        # cheaper than the download it saves. Re-scanned too: the verdict comes from the bytes, and a
        # record that disagrees with them (MG-H108) is replaced by re-admitting the snapshot.
        check = check_snapshot(self.layout, group)
        existing = finish(self.layout, group, check, self.policy, reattest=False,
                          scanner=self.scanner if check.admitted else None)
        rec = existing.check.record
        if existing.sound and rec is not None and rec.judged_by(self.scanner, self.policy.sha256, self.fail_on):
            out.results = existing.results
            out.status = ModelStatus.ALREADY_ADMITTED
            # A copied or restored cache, made fast again (fetch holds the writer lock already).
            publish.reattest(self.layout, rec, changed_fingerprints(existing), held=True)
            return

        self._check_storable(group)
        quarantine = new_quarantine(self.layout, f"{group.repo}@{group.commit[:12]}")
        try:
            self._check_and_admit(group, quarantine, out)
        finally:
            # A refused model's downloads go now, not at the end of the run (large models, small disks).
            discard(quarantine)

    def _check_and_admit(self, group: Group, quarantine: Path, out: GroupOutcome) -> None:
        staged, failures = self._stage(group, quarantine, out)
        files = group.files
        results = {
            item.path: scan_and_evaluate(
                item.staged or self.layout.blob(group.repo, item.etag), policy=self.policy, repo=group.repo,
                rel_path=item.path, display=item.path, size=files[item.path].size, sha256=files[item.path].sha256,
            )
            for item in staged
        }
        # Suppressions apply to the decision and the report; the admission record keeps raw findings.
        shown = {path: with_suppressions(self.policy, r, repo=group.repo) for path, r in results.items()}
        out.results.update(shown)  # beside the files that failed staging, whose results say why
        if failures:
            self._refuse_for_files(out, failures, sum(1 for r in shown.values() if failing(r.findings, self.fail_on)))
            return
        bad = [f.at(path=path) for path, r in sorted(shown.items()) for f in failing(r.findings, self.fail_on)]
        if bad:
            out.refuse(refusal_reason(bad))
            self._evict_if_admitted(group)
            return
        # trust hook: the model's signature, checked on the verified quarantine bytes before admission
        bundle = next((item for item in staged if item.path == trust.BUNDLE_FILE), None)
        bundle_path = (bundle.staged or self.layout.blob(group.repo, bundle.etag)) if bundle else None
        signature = [f for m in group.models for f in trust.signature_check(self.policy, m, bundle_path)]
        out.findings.extend(signature)
        if failing(signature, self.fail_on):
            out.refuse(refusal_reason(failing(signature, self.fail_on)))
            self._evict_if_admitted(group)
            return
        on_record.admit(self.layout, group, staged, build_record(group, results, self.policy, self.fail_on,
                                                                 self.scanner))
        out.status = ModelStatus.ADMITTED

    def _check_storable(self, group: Group) -> None:
        """Every locked path must fit under this cache's snapshot folder (PATH_MAX), before any download."""
        base = len(os.fsencode(self.layout.snapshot(group.repo, group.commit))) + 1
        for path in group.files:
            if base + len(path.encode("utf-8", "surrogatepass")) > PATH_MAX:
                raise NoVerdictError(f"{path}: its path under {self.layout.root} would be longer than {PATH_MAX} "
                                     "bytes, which no filesystem path may be; use a shorter --cache-dir",
                                     rule="MG-H137")

    @staticmethod
    def _refuse_for_files(out: GroupOutcome, failures: Sequence[ModelguardError], scan_failures: int) -> None:
        """A model some of whose files failed staging: refused when one was rejected or failed the scan,
        else no verdict; the reason is the first failure's, with how many more files failed."""
        rejected = [e for e in failures if isinstance(e, (RejectedError, NotFoundError))]
        set_status(out, rejected[0] if rejected else failures[0])
        if not rejected and scan_failures:
            out.status, out.exit_code = ModelStatus.REFUSED, ExitCode.REJECTED
        more = len(failures) + scan_failures - 1
        if more:
            out.reason += f" (and {more} more failing file{'s' if more > 1 else ''})"

    def _evict_if_admitted(self, group: Group) -> None:
        """A model refused now must not stay usable from an earlier admission."""
        on_record.evict(self.layout, group.repo, group.commit, {"command": "fetch"})  # trust hook

    def _evict_revoked(self, group: Group) -> None:
        """The revoked snapshot goes, and so does every other cached snapshot holding a revoked file of it.

        A revocation pushed in a shared policy is thus applied here as `modelguard revoke` applies it
        on the machine where it runs: the same bytes under another repo are no longer served either.
        """
        from modelguard.trust.revocation import Target, snapshots_holding

        self._evict_if_admitted(group)
        digests = {f.sha256 for m in group.models for f in m.files}
        for entry in self.policy.revoked:
            if entry.sha256 and entry.sha256 in digests:
                for hit in snapshots_holding(self.layout.root, Target(sha256=entry.sha256)):
                    on_record.evict(self.layout, hit.repo, hit.commit, {"command": "fetch", "target": entry.target,
                                                                        "reason": entry.reason})

    def _reusable_blob(self, group: Group, lf: LockedFile) -> StagedFile | None:
        """The blob already in the cache when its bytes are the locked ones (re-hashed), else None."""
        blob = self.layout.blob(group.repo, blob_name(lf))
        if not blob.is_file() or blob.is_symlink():
            return None
        before = publish.fingerprint_of(blob)
        d = hash_file(blob)
        if d.size != lf.size or d.sha256 != lf.sha256:
            return None
        return StagedFile(lf.path, blob_name(lf), None, fingerprint=before)

    def _fail_file(self, out: GroupOutcome, lf: LockedFile, error: ModelguardError) -> None:
        # Never scanned: a failure of the model about this file, not a verdict of an undetected format.
        out.findings.append(finding(default_rule(error), error.message, path=lf.path))

    def _stage(
        self, group: Group, quarantine: Path, out: GroupOutcome
    ) -> tuple[list[StagedFile], list[ModelguardError]]:
        """Reuse intact blobs, download the rest into quarantine and check every byte.

        A file that fails is recorded on its result and the next one is still checked, so a refused
        model's report names every bad file; each file is downloaded once. A failure that gives no
        verdict (Hub down, disk full) stops the downloads: the rest would fail alike.
        """
        staged: list[StagedFile] = []
        missing = []
        for _, lf in sorted(group.files.items()):
            reused = self._reusable_blob(group, lf)
            if reused is not None:
                staged.append(reused)
            else:
                missing.append(lf)
        if not missing:
            return staged, []
        failures: list[ModelguardError] = []
        if self.mirror is not None:
            missing = self._stage_from_mirror(group, quarantine, out, missing, staged, failures)
            if not missing:
                return staged, failures

        # Side by side over the pool's connections, cut transfers resumed, each request held to its
        # pace (modelguard.hub.ranged); a failing file is recorded and the others still checked.
        got = stage_from_hub(self.client(), group, missing, quarantine, self.partials, workers=self.workers,
                             progress=self.progress)
        staged.extend(got.staged)
        out.findings.extend(got.notes)
        for lf, error in got.failed:
            self._fail_file(out, lf, error)
            failures.append(error)
        return staged, failures

    def _stage_from_mirror(self, group: Group, quarantine: Path, out: GroupOutcome, missing: list[LockedFile],
                           staged: list[StagedFile], failures: list[ModelguardError]) -> list[LockedFile]:
        """Stage what the mirror serves (checked against the lock as it lands); return what the Hub must
        serve (see :meth:`modelguard.mirror.source.MirrorSource.stage`)."""
        assert self.mirror is not None
        got = self.mirror.stage(group.repo, missing, quarantine, workers=self.workers)
        staged.extend(StagedFile(lf.path, blob_name(lf), path) for lf, path in got.staged)
        out.findings.extend(got.notes)
        for lf, error in got.failed:
            self._fail_file(out, lf, error)
            failures.append(error)
        return got.for_hub


def fetch_locked(
    lockfile: Lockfile,
    policy: Policy,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    client_factory: Callable[[], Any],
    fail_on: Severity | None = None,
    progress: bool = False,
    mirror: MirrorSource | None = None,
    manifest_path: str = filenames.MANIFEST,
    workers: int = DEFAULT_WORKERS,
) -> Report:
    """Fetch every locked hf-model of ``lockfile`` into the verified cache; see the module docstring.

    ``workers``: connections a model's files (and pieces of big files) are downloaded over at once."""
    if not lockfile.hf_models:
        raise NothingToCheckError("the lockfile locks no [[hf-model]], so there is nothing to fetch; add one to the "
                                  "manifest and run `modelguard lock`")
    threshold = fail_on or policy.fail_on
    layout = Layout(cache_root(cache_dir))
    groups = group_models(lockfile.hf_models)
    fetcher = _Fetcher(layout, policy, threshold, client_factory, progress, mirror, workers)
    outcomes: list[GroupOutcome] = []
    audit.ensure_writable(layout.root)  # trust hook: fail closed before any download
    with writer_lock(layout):
        sweep_quarantine(layout)
        try:
            for group in groups:
                outcomes.append(fetcher.run(group))
        finally:
            # Quarantine is per run: whatever happened, nothing staged outlives it.
            sweep_quarantine(layout)
    report = fetch_report(outcomes, threshold, lockfile, layout)
    report = replace(report, findings=(*policy_findings(policy), *report.findings),
                     extra={"cache": str(layout.root), "policy": describe(policy, manifest_path)})
    audit.append_report(layout.root, report, policy_sha256=policy.sha256)  # trust hook
    return report


def fetch(
    lockfile_path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    fail_on: Severity | None = None,
    progress: bool = False,
    mirror_url: str | None = None,
    no_hub: bool = False,
    plain_http: bool = False,
    names: Sequence[str] = (),
    frozen: bool = False,
    policy_path: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> Report:
    """Library entry point: read the lockfile and the manifest's policy, then :func:`fetch_locked`.

    ``mirror_url`` / ``no_hub`` / ``plain_http`` override the manifest's ``[mirror]`` table. ``names``:
    only these lock entries (:mod:`modelguard.flows.select`). ``frozen``: the lockfile alone, under
    ``policy_path`` or the manifest's policy (:mod:`modelguard.flows.frozen`). ``workers``: connections
    at once (else ``$MODELGUARD_MAX_WORKERS``, the manifest's ``[fetch] max-workers``, 8).
    """
    from modelguard.flows import frozen as chosen
    from modelguard.flows.select import select

    if not no_hub:
        from modelguard.hub.warm import warm_up

        warm_up()  # the HTTP client is made while the lock is read and the cache checked
    inputs = chosen.read(lockfile_path, manifest_path, frozen=frozen, policy_path=policy_path)
    lockfile, manifest = inputs.lockfile, inputs.manifest
    # Before any request: the lock must be fresh for the manifest by content (lock --check's test; not
    # with --frozen, which acts on the lock as it is) and signed as the policy requires; a stale or
    # unsigned lock would admit what nobody reviewed. A revoked model is then refused per model in
    # _Fetcher._run, before any request, and evicted with every cached snapshot holding a revoked file
    # of it; the other models still proceed.
    chosen.require(lockfile_path, inputs, fail_on)
    lockfile = select(lockfile, names, where=lockfile_path, providers=False)
    workers = fetch_workers(workers, manifest.max_workers)
    mirror = None
    if manifest.mirror is not None or mirror_url or no_hub:  # requests is imported only for a mirror
        from modelguard.mirror.source import settings

        mirror = settings(manifest.mirror, mirror_url, no_hub=no_hub, plain_http=plain_http)

    def factory() -> Any:
        from modelguard.hub import client as hub

        if mirror is not None and not mirror.hub_fallback:  # pragma: no cover - _stage never asks then
            raise AssertionError("the Hub was asked for although the mirror's fallback is none")
        return hub.make_client(endpoint or os.environ.get("HF_ENDPOINT") or None, token)

    source = None
    if mirror is not None:
        from modelguard.mirror.source import MirrorSource

        source = MirrorSource.open(mirror)
    try:
        report = fetch_locked(lockfile, manifest.policy, cache_dir=cache_dir, client_factory=factory,
                              fail_on=fail_on, progress=progress, mirror=source, manifest_path=manifest.path,
                              workers=workers)
    finally:
        if source is not None:
            source.close()
    return replace(report, findings=(*inputs.notes, *report.findings),
                   extra={**report.extra, "policy": chosen.shown(inputs)})
