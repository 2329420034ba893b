"""Builders for tests of the verified cache: tiny locked models and a local admission path.

``admit_local`` runs the same admission the fetcher runs after a download (quarantine copy ->
scan + policy -> :func:`modelguard.store.cache.admit`), so verify and cache tests need no Hub.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modelguard.models import Severity
from modelguard.spec.policy import DEFAULT_POLICY
from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile, Manifest, Policy
from modelguard.store.admission import blob_name, build_record
from modelguard.store.cache import Layout, StagedFile, new_quarantine, sweep_quarantine, writer_lock
from modelguard.store.digest import git_blob_sha1
from modelguard.store.integrity import Group
from modelguard.store.publish import admit
from modelguard.trust.evaluate import scan_and_evaluate, scanner_fingerprint

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def locked_file(path: str, data: bytes, *, lfs: bool | None = None) -> LockedFile:
    if lfs is None:
        lfs = not path.endswith((".json", ".txt", ".md", ".py"))
    sha = hashlib.sha256(data).hexdigest()
    if lfs:
        return LockedFile(path=path, size=len(data), sha256=sha, published="lfs-sha256")
    return LockedFile(path=path, size=len(data), sha256=sha, published="git-blob-sha1",
                      git_blob_sha1=git_blob_sha1(data))


def locked_model(name: str, repo: str, files: dict[str, bytes], *, commit: str = COMMIT,
                 revision: str = "main") -> LockedHFModel:
    return LockedHFModel(name=name, repo=repo, requested_revision=revision, commit=commit,
                         files=tuple(locked_file(p, d) for p, d in sorted(files.items())))


def allow_all(**kw: object) -> Policy:
    from dataclasses import replace

    from modelguard.spec.policy import policy_sha256

    p = replace(DEFAULT_POLICY, **{"allowed_orgs": ("*",), **kw})  # type: ignore[arg-type]
    return replace(p, sha256=policy_sha256(p))


def admit_local(root: Path, model: LockedHFModel, contents: dict[str, bytes],
                policy: Policy | None = None) -> Path:
    """Admit ``model`` with the given file contents, as the fetcher does after downloading them."""
    policy = policy or allow_all()
    layout = Layout(root)
    group = Group(model.repo, model.commit, (model,))
    with writer_lock(layout):
        q = new_quarantine(layout, "test")
        staged, results = [], {}
        for lf in model.files:
            dest = q / hashlib.sha256(lf.path.encode()).hexdigest()
            dest.write_bytes(contents[lf.path])
            results[lf.path] = scan_and_evaluate(dest, policy=policy, repo=model.repo, rel_path=lf.path,
                                                 display=lf.path, size=lf.size, sha256=lf.sha256)
            staged.append(StagedFile(lf.path, blob_name(lf), dest))
        snapshot = admit(layout, model.repo, model.commit, staged, group.refs,
                         build_record(group, results, policy, Severity.MEDIUM, scanner_fingerprint()))
        sweep_quarantine(layout)
        return snapshot


def write_project(folder: Path, models: list[LockedHFModel], policy_body: str = 'allowed-orgs = ["*"]',
                  *, stale: bool = False) -> tuple[Path, Manifest]:
    """Write modelguard.toml for ``models`` and a lockfile pinning them; returns (lockfile path, manifest)."""
    from dataclasses import replace

    from modelguard.spec.lockfile import write_lockfile
    from modelguard.spec.manifest import parse_manifest, spec_sha256

    entries = "".join(
        f'\n[[hf-model]]\nname = "{m.name}"\nrepo = "{m.repo}"\nrevision = "{m.requested_revision}"\n'
        for m in models
    )
    text = f"[policy]\n{policy_body}\n{entries}"
    manifest_path = folder / "modelguard.toml"
    manifest_path.write_text(text)
    manifest = parse_manifest(text, source=str(manifest_path))
    specs = {s.name: s for s in manifest.hf_models}
    locked = tuple(replace(m, spec_sha256=spec_sha256(specs[m.name])) for m in models)
    lock = Lockfile(lock_version=1, created_by="modelguard 0.1.0",
                    manifest_sha256=("0" * 64) if stale else manifest.sha256,
                    policy_sha256=manifest.policy.sha256, hf_models=locked)
    lock_path = folder / "modelguard.lock"
    write_lockfile(str(lock_path), lock)
    return lock_path, manifest


def publish(hub: Any, name: str, repo: str, files: dict[str, bytes], *, revision: str = "main",
            **kw: Any) -> LockedHFModel:
    """Create ``repo`` on the fake Hub and return the lock entry the locker would write for it."""
    commit = hub.add_repo(repo, files, branch=revision, **kw)
    locked = []
    for path in sorted(files):
        f = hub.file(repo, commit, path)
        if f.lfs:
            locked.append(LockedFile(path=path, size=f.size, sha256=f.sha256, published="lfs-sha256"))
        else:
            locked.append(LockedFile(path=path, size=f.size, sha256=f.sha256, published="git-blob-sha1",
                                     git_blob_sha1=f.blob_id))
    return LockedHFModel(name=name, repo=repo, requested_revision=revision, commit=commit, files=tuple(locked))


def only_partials(root: Path) -> bool:
    """The quarantine of the cache at ``root`` holds nothing but resumable partial downloads (a .part with
    its .ranges record): what a transfer the network failed leaves for the next fetch to continue (issue 15)."""
    q = root / "quarantine"
    if not q.exists():
        return True
    if {p.name for p in q.iterdir()} - {"partial"}:
        return False
    names = [p.name for p in (q / "partial").iterdir()]
    return all(n.endswith((".part", ".ranges")) for n in names) and len(names) % 2 == 0


def quick_client(endpoint: str) -> Any:
    """The real Hub client with few, short retries (5xx tests would otherwise wait seconds)."""
    from modelguard.hub.client import HubClient

    return HubClient(endpoint=endpoint, token=None, timeout=10.0, retries=1, retry_wait=0.01)
