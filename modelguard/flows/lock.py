"""``modelguard lock`` as library calls: resolve a manifest into a lockfile, or check one offline.

:func:`lock` pins every ``[[hf-model]]`` to a commit and every selected file to a SHA-256:
LFS files to the SHA-256 the Hub publishes (no download), other files to the SHA-256 of bytes
downloaded into a private staging folder and checked against their published git blob SHA-1.
Order matters for safety: the manifest is validated and every org checked against the policy
before the first request, and the lockfile is written (atomically) only after every entry
resolved, so a refused or failed run writes nothing. Unchanged entries keep their pins and cost
no request; :func:`check` never touches the network or the disk beyond reading.

Talks to the Hub only through :mod:`modelguard.hub.client`; renders nothing (the CLI does).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelguard import __version__
from modelguard.errors import ConfigError, IntegrityError, LockfileError, PolicyError, StaleLockError, UsageError
from modelguard.spec import filenames, ids
from modelguard.spec.lockfile import LOCK_VERSION, read_lockfile, render_lockfile, write_lockfile
from modelguard.spec.manifest import load_manifest, selects, spec_sha256
from modelguard.spec.policy import check_org
from modelguard.spec.types import HFModelSpec, LockedFile, LockedHFModel, LockedProviderModel, Lockfile, Manifest
from modelguard.store import audit
from modelguard.trust import checks as trust
from modelguard.trust.freshness import stale_reasons  # the one freshness check every entry point applies

if TYPE_CHECKING:
    from modelguard.hub.client import HubClient, RemoteSnapshot

DEFAULT_MANIFEST = filenames.MANIFEST


@dataclass(frozen=True)
class LockResult:
    """What :func:`lock` did."""

    lockfile: Lockfile
    path: str
    written: bool
    """False when the lockfile on disk was already byte-identical (it was not touched)"""
    resolved: tuple[str, ...] = ()
    """entries resolved against the Hub in this run"""
    kept: tuple[str, ...] = ()
    """entries whose pins were kept from the existing lockfile (no request made)"""
    removed: tuple[str, ...] = ()
    """entries dropped because they left the manifest"""


def default_lockfile(manifest_path: str) -> str:
    """``modelguard.lock`` next to the manifest."""
    return filenames.lockfile_beside(manifest_path)


def lock(
    manifest_path: str = DEFAULT_MANIFEST,
    lockfile_path: str | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    upgrade: Iterable[str] = (),
    online: bool = False,
    client: HubClient | None = None,
) -> LockResult:
    """Resolve the manifest into the lockfile; write it only if its content changed.

    ``endpoint``/``token`` build the Hub client (see :func:`modelguard.hub.client.make_client`) when
    one is needed; pass ``client`` instead to choose timeouts and retries.
    """
    manifest = load_manifest(manifest_path)
    path = lockfile_path or default_lockfile(manifest_path)
    audit.ensure_writable(audit.cache_root())  # trust hook: fail closed before any request
    existing = _existing(path)
    names = {s.name for s in manifest.hf_models} | {s.name for s in manifest.provider_models}
    upgrade = tuple(upgrade)
    for name in upgrade:
        if name not in names:
            raise UsageError(f"--upgrade {name}: no entry named {name!r} in {manifest.path}")
    # 1. Policy before any request: a refused org must not even be asked about.
    checks = (check_org(manifest.policy, spec, manifest_path=manifest.path) for spec in manifest.hf_models)
    refusals = [f for f in checks if f is not None]
    if refusals:
        first = refusals[0]
        more = f" (and {len(refusals) - 1} more refused)" if len(refusals) > 1 else ""
        raise PolicyError(f"{first.location}: {first.message}{more}", rule=first.rule)

    # 2. Keep what did not change; resolve the rest.
    old = {m.name: m for m in existing.hf_models} if existing else {}
    kept: list[LockedHFModel] = []
    pending: list[HFModelSpec] = []
    for spec in manifest.hf_models:
        previous = old.get(spec.name)
        if previous is not None and previous.spec_sha256 == spec_sha256(spec) and spec.name not in upgrade:
            kept.append(previous)
        else:
            pending.append(spec)
    resolved = _resolve_all(pending, client or _client(endpoint, token)) if pending else []

    provider_models = _lock_providers(manifest, existing, upgrade=upgrade, online=online)
    removed = sorted(set(old) - names) + sorted(
        {m.name for m in (existing.provider_models if existing else ())} - names
    )

    # 3. Write once, at the end. An unchanged lock keeps its created-by, so it stays byte-identical.
    new = Lockfile(
        lock_version=LOCK_VERSION,
        created_by=existing.created_by if existing else f"modelguard {__version__}",
        manifest_sha256=manifest.sha256,
        policy_sha256=manifest.policy.sha256,
        hf_models=tuple(kept + resolved),
        provider_models=tuple(provider_models),
    )
    if existing is None or render_lockfile(new, validate=False) != render_lockfile(existing, validate=False):
        new = replace(new, created_by=f"modelguard {__version__}")
    for model in new.hf_models:  # trust hook: a revoked commit or file is never pinned
        trust.refuse_if_revoked(manifest.policy, model)
    written = write_lockfile(path, new)
    for event in audit.lock_events(new, path=path, resolved=[m.name for m in resolved], written=written):
        audit.append(audit.cache_root(), event)  # trust hook: every lock is on record
    return LockResult(
        lockfile=new,
        path=path,
        written=written,
        resolved=tuple(m.name for m in resolved),
        kept=tuple(m.name for m in kept),
        removed=tuple(removed),
    )


def check(manifest_path: str = DEFAULT_MANIFEST, lockfile_path: str | None = None) -> Lockfile:
    """Offline: the lockfile if it is fresh for the manifest; StaleLockError (exit 1) if not."""
    manifest = load_manifest(manifest_path)
    path = lockfile_path or default_lockfile(manifest_path)
    try:
        locked = read_lockfile(path)
    except LockfileError as e:
        if e.rule == "MG-L002":
            raise StaleLockError(f"{path}: no lockfile for {manifest.path}; run `modelguard lock`",
                                 rule="MG-L002") from None
        raise
    reasons = stale_reasons(manifest, locked)
    if reasons:
        raise StaleLockError(
            f"{path} is stale for {manifest.path} ({'; '.join(reasons)}); run `modelguard lock` and commit the result",
            rule="MG-L001",
        )
    return locked


def _existing(path: str) -> Lockfile | None:
    try:
        return read_lockfile(path)
    except LockfileError as e:
        if e.rule == "MG-L002":
            return None
        raise


# --- resolving against the Hub ----------------------------------------------------------------


def _client(endpoint: str | None, token: str | None) -> HubClient:
    from modelguard.hub import client as hub

    return hub.make_client(endpoint, token)


def _resolve_all(specs: Sequence[HFModelSpec], client: HubClient) -> list[LockedHFModel]:
    # Non-LFS files are downloaded to be hashed; they land in a folder only this run can see,
    # named by index (never by the server's path), and the folder goes away with the run.
    with tempfile.TemporaryDirectory(prefix="modelguard-lock-") as staging:
        return [_resolve(client, spec, Path(staging)) for spec in specs]


def _resolve(client: HubClient, spec: HFModelSpec, staging: Path) -> LockedHFModel:
    from modelguard.hub import client as hub

    snapshot = hub.resolve(client, spec.repo, spec.revision)
    _check_snapshot(spec, snapshot)
    selected = [f for f in snapshot.files if selects(spec, f.path)]
    if not selected:
        raise ConfigError(
            f"{spec.name!r} (line {spec.line}): include/exclude select no file of {spec.repo}@{snapshot.commit}; "
            "fix the globs"
        )
    files: list[LockedFile] = []
    for index, remote in enumerate(selected):
        if remote.lfs_sha256 is not None:
            # The Hub publishes the content SHA-256 of LFS files: pin it, download nothing and ask
            # nothing more (issue 7: no request per file; a 5,000-file repo locks in seconds). The
            # model info and the tree listing were already cross-checked by hub.resolve, and a
            # listing that lies cannot get bytes admitted: fetch checks every byte against this pin
            # AND the download headers (MG-H001/H002/H003), and admits nothing on a mismatch.
            files.append(LockedFile(remote.path, remote.size, remote.lfs_sha256, "lfs-sha256"))
            continue
        dest = staging / f"{spec.name}-{index}"
        digests = hub.download(client, spec.repo, snapshot.commit, remote.path, dest, expected_size=remote.size)
        dest.unlink(missing_ok=True)
        # hub.download checked the bytes against the server's ETag; this checks them against the
        # listing the lock is built from, so the two answers cannot disagree (MG-H002/MG-H003).
        hub.check_published(remote, digests, what=f"{spec.repo}@{snapshot.commit[:12]}:{remote.path}")
        files.append(LockedFile(remote.path, digests.size, digests.sha256, "git-blob-sha1", remote.blob_id))
    return LockedHFModel(
        name=spec.name,
        repo=spec.repo,
        requested_revision=spec.revision,
        commit=snapshot.commit,
        files=tuple(files),
        spec_sha256=spec_sha256(spec),
    )


def _check_snapshot(spec: HFModelSpec, snapshot: RemoteSnapshot) -> None:
    """Refuse Hub answers modelguard would never write into a lockfile (hostile or broken Hub).

    :mod:`modelguard.hub.client` validates every answer already; this is the lock's own gate, checked
    against the same rules the lockfile reader applies, so nothing it could not read back is written.
    """

    def refuse(problem: str) -> IntegrityError:
        return IntegrityError(f"{spec.repo}@{spec.revision}: the Hub answered {problem}; nothing was locked",
                              rule="MG-H004")

    if not ids.is_commit(snapshot.commit):
        raise refuse(f"a commit that is not 40 lowercase hex ({snapshot.commit[:60]!r})")
    if ids.is_commit(spec.revision) and snapshot.commit != spec.revision:
        raise IntegrityError(f"{spec.repo}: the Hub answered commit {snapshot.commit} for the pinned commit "
                             f"{spec.revision}; nothing was locked", rule="MG-H005")
    seen: set[str] = set()
    for f in snapshot.files:
        problem = ids.repo_path_problem(f.path)
        if problem:
            raise refuse(f"a file path that {problem} ({f.path[:100]!r})")
        if f.path in seen:
            raise refuse(f"the file {f.path!r} twice")
        seen.add(f.path)
        if isinstance(f.size, bool) or not isinstance(f.size, int) or f.size < 0:
            raise refuse(f"an invalid size for {f.path!r}")
        if f.lfs_sha256 is not None and not ids.is_sha256(f.lfs_sha256):
            raise refuse(f"an LFS SHA-256 for {f.path!r} that is not 64 lowercase hex")
        if f.lfs_sha256 is None and not ids.is_sha1(f.blob_id or ""):
            raise refuse(f"a git blob id for {f.path!r} that is not 40 lowercase hex")


def _lock_providers(
    manifest: Manifest, existing: Lockfile | None, *, upgrade: tuple[str, ...], online: bool
) -> list[LockedProviderModel]:
    from modelguard.providers import lock_provider_models

    # An entry named in --upgrade is resolved afresh: its old pin is not offered for keeping.
    previous = [pm for pm in (existing.provider_models if existing else ()) if pm.name not in upgrade]
    return lock_provider_models(manifest.provider_models, manifest.policy, previous, online=online)
