"""``modelguard push``: publish admitted snapshots to an OCI registry, one ModelPack artifact each.

For each selected ``repo@commit``: re-check it first exactly as ``verify`` does (admitted, every file
re-hashed against the lock, scans and policy passing now; a stale lock refuses everything), then
make sure the repository ``NAMESPACE/org--name`` holds every blob (``HEAD`` first; a cross-repository
mount from a repository this run already filled; else one upload, hashed while read), put the
manifest under the tag ``<commit>`` and the tag of each lock entry's name, and attach the admission
facts and, when ``<lockfile>.sig`` exists, the lockfile and its DSSE signature as referrers
(referrers API, or the tag schema when the registry lacks it). Each step is skipped when the
registry already holds its result, so a second push uploads nothing.

Must not: push a snapshot that is not admitted and intact, push bytes it did not hash (the registry
checks each blob's digest, and so does the upload), or put a credential anywhere but a header.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelguard import __version__
from modelguard.errors import (
    NothingToCheckError,
    NotLockedError,
    NoVerdictError,
    RejectedError,
    StaleLockError,
    UsageError,
)
from modelguard.mirror import modelpack
from modelguard.mirror.oci import OCI_INDEX, OCI_MANIFEST, RegistryClient
from modelguard.mirror.reference import MirrorLocation, parse_location, referrers_tag
from modelguard.models import FileResult, Report, Severity, VerifyOutcome, failing
from modelguard.spec.types import LockedHFModel, Lockfile, Manifest
from modelguard.store import audit
from modelguard.store.admission import blob_name
from modelguard.store.cache import Layout, cache_root, existing_cache_root
from modelguard.store.integrity import Group, group_models


@dataclass
class PushOutcome:
    """What happened to one ``repo@commit``."""

    repo: str
    commit: str
    names: list[str]
    status: str = "refused"
    """``pushed`` | ``up-to-date`` | ``refused`` | ``no-verdict`` | ``error`` (usage, exit 2)"""
    reference: str = ""
    digest: str = ""
    """the model manifest's digest: ``reference@digest`` pins the artifact immutably"""
    uploaded: int = 0
    mounted: int = 0
    present: int = 0
    referrers: list[str] = field(default_factory=list)
    exit_code: int = 1
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"repo": self.repo, "commit": self.commit, "names": self.names, "status": self.status,
                "reference": self.reference, "digest": self.digest, "uploaded": self.uploaded, "mounted": self.mounted,
                "present": self.present, "referrers": self.referrers, "exit-code": self.exit_code,
                "reason": self.reason}


def push(
    lockfile_path: str | os.PathLike[str],
    names: Sequence[str] = (),
    *,
    to: str | None = None,
    plain_http: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    fail_on: Severity | None = None,
    client: RegistryClient | None = None,
) -> list[PushOutcome]:
    """Push the admitted snapshots of ``names`` (default: every locked hf-model); see the module docstring."""
    from modelguard.flows.verify import load_inputs

    lockfile, manifest = load_inputs(lockfile_path, manifest_path)
    location = target_location(manifest, to, plain_http)
    selected = _select(lockfile, names)
    from modelguard.trust.freshness import stale_reasons  # the freshness check every entry point applies

    if stale_reasons(manifest, lockfile):
        raise StaleLockError(f"{lockfile_path} is stale for {manifest.path}; run `modelguard lock` and "
                             "`modelguard fetch`, then push", rule="MG-L001")
    root = existing_cache_root(cache_dir)
    layout = Layout(cache_root(root))
    audit.ensure_writable(layout.root)  # trust hook: an action that cannot be recorded does not happen
    rechecked = _recheck(replace(lockfile, hf_models=tuple(selected), provider_models=()), manifest, root, fail_on)
    _check_lock_signature(lockfile_path, manifest, rechecked)
    signature = Path(f"{os.fspath(lockfile_path)}.sig")
    signed = (Path(lockfile_path).read_bytes(), signature.read_bytes()) if signature.is_file() else None
    if client is None:
        from modelguard.mirror.auth import find_credentials

        client = RegistryClient(location, find_credentials(location.host))
    publisher = _Publisher(client, location, layout, manifest, signed)
    outcomes = []
    with client:
        for group in group_models(selected):
            o = publisher.run(group, rechecked)
            outcomes.append(o)
            audit.append(layout.root, {"command": "push", "action": o.status, "repo": o.repo, "commit": o.commit,
                                       "to": o.reference, "digest": o.digest, "uploaded": o.uploaded})
    return outcomes


def push_exit_code(outcomes: Sequence[PushOutcome]) -> int:
    """1 when a snapshot was refused, else the highest other code (2 usage, 3 no verdict), else 0."""
    codes = [o.exit_code for o in outcomes]
    if 1 in codes:
        return 1
    return max(codes, default=3)


def target_location(manifest: Manifest, to: str | None, plain_http: bool | None) -> MirrorLocation:
    """``--to`` (else the manifest's ``[mirror] url``); plain HTTP from the flag, else ``[mirror]`` for its URL."""
    mirror = manifest.mirror
    url = to or (mirror.url if mirror else None)
    if not url:
        raise UsageError("no registry to push to: pass --to oci://HOST/NAMESPACE or add [mirror] url to the manifest")
    if plain_http is None:
        plain_http = bool(mirror and mirror.plain_http and parse_location(mirror.url).host == parse_location(url).host)
    return parse_location(url, plain_http=plain_http)


def _select(lockfile: Lockfile, names: Sequence[str]) -> list[LockedHFModel]:
    if not names:
        if not lockfile.hf_models:
            raise NothingToCheckError("the lockfile locks no [[hf-model]], so there is nothing to push; add one to "
                                      "the manifest and run `modelguard lock`")
        return list(lockfile.hf_models)
    by_name = {m.name: m for m in lockfile.hf_models}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        names_list = ", ".join(sorted(by_name)) or "none"
        raise NotLockedError(f"{unknown[0]} is not the name of a locked [[hf-model]] (locked: {names_list[:300]})")
    return [by_name[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class _Rechecked:
    failing: dict[str, str]
    """model name -> why it may not be pushed"""
    results: dict[str, FileResult]
    """``name:path`` -> the file's result now"""
    report: Report


def _recheck(lockfile: Lockfile, manifest: Manifest, root: Path, fail_on: Severity | None) -> _Rechecked:
    """``verify`` on the selected models: full re-hash, scans and policy as they stand now."""
    from modelguard.flows.verify import verify_locked

    report = verify_locked(lockfile, manifest, cache_dir=root, fail_on=fail_on)
    failing: dict[str, str] = {}
    for m in report.models or ():
        if not isinstance(m, VerifyOutcome):
            continue
        if not m.admitted:
            failing[m.name] = "not admitted; run `modelguard fetch` first"
        elif not m.intact:
            failing[m.name] = "the verified cache no longer matches the lock; run `modelguard verify`"
    for f in report.failing():
        if f.model and f.model not in failing:
            failing[f.model] = f"{f.rule}: {f.message}"
    return _Rechecked(failing, {r.path: r for r in report.files}, report)


def _check_lock_signature(lockfile_path: str | os.PathLike[str], manifest: Manifest, rechecked: _Rechecked) -> None:
    """As ``verify`` does: a lockfile signature the policy requires, or one that does not verify, refuses
    every snapshot (a bad ``.sig`` is never attached for fleets to find)."""
    from modelguard.trust import checks as trust

    found = failing(trust.lockfile_findings(lockfile_path, manifest.policy), rechecked.report.fail_on)
    if found:
        for m in rechecked.report.models or ():
            rechecked.failing.setdefault(m.name, f"{found[0].rule}: {found[0].message}")


class _Publisher:
    def __init__(self, client: RegistryClient, location: MirrorLocation, layout: Layout, manifest: Manifest,
                 signed: tuple[bytes, bytes] | None) -> None:
        self.client = client
        self.location = location
        self.layout = layout
        self.manifest = manifest
        self.signed = signed
        self.known: dict[str, str] = {}
        """digest -> a repository this run saw holding it (a mount source)"""

    def run(self, group: Group, rechecked: _Rechecked) -> PushOutcome:
        out = PushOutcome(group.repo, group.commit, group.names)
        bad = [f"{name}: {rechecked.failing[name]}" for name in group.names if name in rechecked.failing]
        if bad:
            out.reason = bad[0]
            return out
        try:
            out.reference = self.location.reference(group.repo, group.commit)
            self._publish(group, rechecked, out)
        except (NoVerdictError, RejectedError, UsageError) as e:
            # One snapshot's failure (registry down, a repo name with no OCI form) does not stop the others.
            out.status = ("refused" if isinstance(e, RejectedError) else
                          "no-verdict" if isinstance(e, NoVerdictError) else "error")
            out.exit_code = int(e.exit_code)
            out.reason = f"{e.rule} {e.message}" if e.rule else e.message
        return out

    def _publish(self, group: Group, rechecked: _Rechecked, out: PushOutcome) -> None:
        repository = self.location.repository(group.repo)
        files = group.files
        first = group.models[0].name
        formats = {p: rechecked.results[f"{first}:{p}"].format for p in files if f"{first}:{p}" in rechecked.results}
        art = modelpack.model_artifact(group.repo, group.commit, group.models, files, formats)
        out.digest = art.digest
        sources = {"sha256:" + lf.sha256: self.layout.blob(group.repo, blob_name(lf)) for lf in files.values()}
        changed = self._blobs(repository, [art.config, *art.layers], sources, out)
        for tag in [group.commit, *sorted(group.names)]:
            if self.client.manifest_digest(repository, tag, OCI_MANIFEST, push=True) != art.digest:
                self.client.put_manifest(repository, tag, art.manifest, OCI_MANIFEST)
                changed = True
        facts = modelpack.blob(modelpack.canonical(self._facts(group, rechecked)), modelpack.ADMISSION_TYPE)
        changed |= self._referrer(repository, art, modelpack.ADMISSION_TYPE, [facts], out)
        if self.signed is not None:
            lock_blob = modelpack.blob(self.signed[0], modelpack.LOCKFILE_TYPE)
            dsse = modelpack.blob(self.signed[1], modelpack.DSSE_TYPE)
            changed |= self._referrer(repository, art, modelpack.SIGNATURE_TYPE, [lock_blob, dsse], out)
        out.status, out.exit_code = ("pushed" if changed else "up-to-date"), 0

    def _blobs(self, repository: str, blobs: Sequence[modelpack.Blob], files: dict[str, Path],
               out: PushOutcome) -> bool:
        changed = False
        for b in blobs:
            if self.client.blob_size(repository, b.digest, push=True) is not None:
                out.present += 1
            elif (source := self.known.get(b.digest)) and source != repository and \
                    self.client.mount_blob(repository, b.digest, source):
                out.mounted += 1
                changed = True
            else:
                self.client.upload_blob(repository, b.digest, b.data if b.data is not None else files[b.digest],
                                        b.size)
                out.uploaded += 1
                changed = True
            self.known.setdefault(b.digest, repository)
        return changed

    def _referrer(self, repository: str, subject: modelpack.Artifact, artifact_type: str,
                  layers: list[modelpack.Blob], out: PushOutcome) -> bool:
        art = modelpack.referrer(subject, artifact_type, layers)
        changed = self._blobs(repository, [art.config, *art.layers], {}, out)
        accepted = None
        if self.client.manifest_digest(repository, art.digest, OCI_MANIFEST, push=True) is None:
            accepted = self.client.put_manifest(repository, art.digest, art.manifest, OCI_MANIFEST).subject_accepted
            changed = True
        out.referrers.append(f"{artifact_type} {art.digest}")
        if accepted:
            return changed  # the registry indexes referrers itself (OCI-Subject)
        listed = {e["digest"] for e in self.client.referrers(repository, subject.digest)}
        if art.digest not in listed:
            self._add_to_tag_index(repository, subject.digest, modelpack.referrer_descriptor(art, artifact_type))
            changed = True
        return changed

    def _add_to_tag_index(self, repository: str, subject: str, descriptor: dict[str, Any]) -> None:
        """OCI 1.1 tag schema: the index at ``sha256-<hex>`` lists the subject's referrers."""
        tag = referrers_tag(subject)
        entries = [e for e in self.client.tag_schema_referrers(repository, subject) if e["digest"] !=
                   descriptor["digest"]]
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*entries, descriptor]}
        self.client.put_manifest(repository, tag, modelpack.canonical(index), OCI_INDEX)

    def _facts(self, group: Group, rechecked: _Rechecked) -> dict[str, Any]:
        """What the re-check just established (no clock: the same facts give the same blob)."""
        first = group.models[0].name
        files = []
        for path, lf in sorted(group.files.items()):
            r = rechecked.results.get(f"{first}:{path}")
            files.append({
                "path": path, "size": lf.size, "sha256": lf.sha256, "format": r.format if r else "unknown",
                "verdict": r.verdict.value if r else "unscannable",
                "findings": [{"rule": f.rule, "severity": f.severity.value, "message": f.message,
                              "suppressed": f.suppressed} for f in (r.findings if r else ())],
            })
        from modelguard.trust.evaluate import scanner_fingerprint

        policy = self.manifest.policy
        return {
            "schema": "modelguard/admission-facts/v1", "repo": group.repo, "commit": group.commit,
            "entries": [{"name": m.name, "requested-revision": m.requested_revision} for m in group.models],
            "files": files, "scanner": scanner_fingerprint(), "policy-sha256": policy.sha256,
            "fail-on": rechecked.report.fail_on.value, "modelguard-version": __version__,
            "checked": "admitted, every file re-hashed against the lock, scans and policy passing",
        }


def describe(outcome: PushOutcome) -> str:
    """One line per snapshot for the CLI."""
    label = ",".join(outcome.names)
    if outcome.status in ("pushed", "up-to-date"):
        return (f"{outcome.status.upper():<11} {label}  {outcome.repo}@{outcome.commit[:12]} -> {outcome.reference}"
                f"  {outcome.digest}  ({outcome.uploaded} uploaded, {outcome.mounted} mounted, {outcome.present} "
                "already there)")
    return f"{outcome.status.upper():<11} {label}  {outcome.repo}@{outcome.commit[:12]}  ({outcome.reason})"


__all__ = ["PushOutcome", "describe", "push", "push_exit_code", "target_location"]
