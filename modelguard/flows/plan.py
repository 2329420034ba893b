"""``fetch --dry-run``: what a fetch would download, and how much, without downloading or changing anything.

Per locked model, from the lock, the policy and the verified cache (no network): refused before any
request (org not allowed, revoked), admitted and intact on the fast check (size, mtime, inode as
admitted: nothing to download; ``fetch`` still re-hashes it), or to fetch: per file, a blob already
in the cache with the locked size (re-hashed by ``fetch`` before reuse), a partial download an
earlier run left (only the rest is downloaded), or the whole file.

An estimate, stated as one: ``fetch`` decides from the bytes. Reads only; never creates the cache,
never takes the writer lock, never contacts the Hub or a mirror.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelguard.spec.types import LockedFile, Lockfile, Policy
from modelguard.store.admission import blob_name
from modelguard.store.cache import Layout, cache_root
from modelguard.store.integrity import Group, check_snapshot, group_models
from modelguard.store.partial import PartialStore


@dataclass(frozen=True)
class FilePlan:
    path: str
    size: int
    action: str
    """``download`` | ``resume`` | ``reuse`` (a blob in the cache) | ``admitted``"""
    to_download: int
    """bytes a fetch would ask the network for"""


@dataclass(frozen=True)
class ModelPlan:
    names: tuple[str, ...]
    repo: str
    commit: str
    action: str
    """``fetch`` | ``admitted`` (nothing to download) | ``refused`` (before any request)"""
    reason: str
    files: tuple[FilePlan, ...]

    @property
    def to_download(self) -> int:
        return sum(f.to_download for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class FetchPlan:
    models: tuple[ModelPlan, ...]
    source: str
    """where bytes would come from: the Hub endpoint, or the mirror"""

    @property
    def to_download(self) -> int:
        return sum(m.to_download for m in self.models)

    @property
    def files_to_download(self) -> int:
        return sum(1 for m in self.models for f in m.files if f.to_download)


def plan(lockfile: Lockfile, policy: Policy, *, cache_dir: str | os.PathLike[str] | None = None,
         source: str = "") -> FetchPlan:
    """What :func:`modelguard.flows.fetch.fetch_locked` would download for ``lockfile``; see the module docstring."""
    layout = Layout(cache_root(cache_dir))
    partials = PartialStore(layout.quarantine)
    models = [_group_plan(layout, partials, group, policy) for group in group_models(lockfile.hf_models)]
    return FetchPlan(models=tuple(models), source=source)


def _group_plan(layout: Layout, partials: PartialStore, group: Group, policy: Policy) -> ModelPlan:
    from modelguard.trust import checks as trust
    from modelguard.trust.evaluate import model_findings

    names = tuple(m.name for m in group.models)
    refused = [f for m in group.models for f in (*trust.revocation_check(policy, m), *model_findings(policy, m))]
    if refused:
        files = tuple(FilePlan(lf.path, lf.size, "refused", 0) for lf in _files(group))
        return ModelPlan(names, group.repo, group.commit, "refused",
                         f"{refused[0].rule}: {refused[0].message}; nothing would be downloaded", files)
    check = check_snapshot(layout, group, fast=True) if layout.root.is_dir() else None
    if check is not None and check.intact:
        files = tuple(FilePlan(lf.path, lf.size, "admitted", 0) for lf in _files(group))
        return ModelPlan(names, group.repo, group.commit, "admitted",
                         "admitted and intact (fetch re-hashes it; nothing to download)", files)
    planned = []
    for lf in _files(group):
        blob = layout.blob(group.repo, blob_name(lf))
        if blob.is_file() and not blob.is_symlink() and blob.stat().st_size == lf.size:
            planned.append(FilePlan(lf.path, lf.size, "reuse", 0))
            continue
        kept = partials.resumable(lf.sha256, lf.size)
        if kept:
            planned.append(FilePlan(lf.path, lf.size, "resume", lf.size - kept))
        else:
            planned.append(FilePlan(lf.path, lf.size, "download", lf.size))
    return ModelPlan(names, group.repo, group.commit, "fetch", "", tuple(planned))


def _files(group: Group) -> list[LockedFile]:
    return [group.files[p] for p in sorted(group.files)]


def plan_from_files(lockfile_path: str | os.PathLike[str], names: tuple[str, ...] = (), *,
                    manifest_path: str | os.PathLike[str] | None = None,
                    cache_dir: str | os.PathLike[str] | None = None, frozen: bool = False,
                    policy_path: str | os.PathLike[str] | None = None, mirror_url: str | None = None,
                    endpoint: str | None = None) -> FetchPlan:
    """Read the inputs exactly as ``fetch`` reads them (a stale lock is refused as ``fetch`` refuses it),
    then :func:`plan`."""
    from modelguard.flows import frozen as chosen
    from modelguard.flows.select import select

    inputs = chosen.read(lockfile_path, manifest_path, frozen=frozen, policy_path=policy_path)
    chosen.require(lockfile_path, inputs)  # what fetch would refuse first (stale, unsigned), the dry run refuses
    lockfile = select(inputs.lockfile, names, where=lockfile_path, providers=False)
    mirror = mirror_url or (inputs.manifest.mirror.url if inputs.manifest.mirror is not None else "")
    source = mirror or endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return plan(lockfile, inputs.manifest.policy, cache_dir=cache_dir, source=source)
