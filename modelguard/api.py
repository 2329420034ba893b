"""The public library surface: what Python code (model loaders, CI scripts, notebooks) calls.

* :func:`lock`, :func:`fetch`, :func:`verify`: the three CLI commands as library calls returning
  typed results (:class:`~modelguard.flows.lock.LockResult`, :class:`~modelguard.models.Report`).
  They are thin: the work lives in :mod:`modelguard.flows.lock`, :mod:`modelguard.flows.fetch` and
  :mod:`modelguard.flows.verify`, which the CLI calls too.
* :func:`snapshot`: the admitted snapshot folder of one lock entry, or an exception saying why not.
* :func:`hf_offline` / :func:`offline_env` and :func:`load_torch`, from :mod:`modelguard.flows.load`.

Fail closed: :func:`snapshot` and :func:`load_torch` never return something doubtful; they raise
a :class:`~modelguard.errors.ModelguardError` subclass naming the reason. Must not render
reports or print (the CLI does), and must not duplicate the checks of the modules it wires.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelguard.errors import (
    ConfigError,
    IntegrityError,
    ModelguardError,
    NotAdmittedError,
    NotLockedError,
    NoVerdictError,
    PolicyError,
    RevokedError,
    SignatureError,
    StaleLockError,
    UnsafeContentError,
    UsageError,
)
from modelguard.flows.load import TorchNotInstalledError, hf_offline, load_torch, offline_env
from modelguard.models import Finding, Report, Severity
from modelguard.spec.types import LockedHFModel, Lockfile, Manifest

if TYPE_CHECKING:
    from modelguard.flows.lock import LockResult

__all__ = [
    "TorchNotInstalledError",
    "fetch",
    "hf_offline",
    "load_torch",
    "lock",
    "offline_env",
    "snapshot",
    "verify",
]

DEFAULT_MANIFEST = "modelguard.toml"
DEFAULT_LOCKFILE = "modelguard.lock"
PathLike = str | os.PathLike[str]


# --- lock / fetch / verify ---------------------------------------------------------------------


def lock(
    manifest: PathLike = DEFAULT_MANIFEST,
    lockfile: PathLike | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    upgrade: Iterable[str] = (),
    online: bool = False,
) -> LockResult:
    """Resolve ``manifest`` into ``lockfile`` (default: ``modelguard.lock`` next to it).

    Raises :class:`PolicyError` before any request when an org is not allowed; writes the lockfile
    atomically, and only when its content changed. Same as ``modelguard lock``.
    """
    from modelguard.flows import lock as locker

    return locker.lock(os.fspath(manifest), os.fspath(lockfile) if lockfile is not None else None,
                       endpoint=endpoint, token=token, upgrade=upgrade, online=online)


def fetch(
    lockfile: PathLike = DEFAULT_LOCKFILE,
    *,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    fail_on: Severity | str | None = None,
    mirror: str | None = None,
    no_hub: bool = False,
) -> Report:
    """Download, check, scan and admit every locked model (same as ``modelguard fetch``).

    Per-model outcomes are in ``report.extra["models"]``; ``report.ok`` is False when a model was
    refused. Raises for what stops the whole run (stale lock, unreadable lockfile or manifest).
    ``mirror`` (``oci://HOST/NAMESPACE``) and ``no_hub`` override the manifest's ``[mirror]`` table.
    """
    from modelguard.flows.fetch import fetch as run_fetch

    return run_fetch(lockfile, cache_dir=cache_dir, endpoint=endpoint, token=token, manifest_path=manifest,
                     fail_on=_severity(fail_on), mirror_url=mirror, no_hub=no_hub)


def verify(
    lockfile: PathLike = DEFAULT_LOCKFILE,
    *,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    fast: bool = False,
    remote: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    fail_on: Severity | str | None = None,
    require_signature: bool = False,
) -> Report:
    """The CI gate as a call (same as ``modelguard verify``): ``report.ok`` is True only when every
    locked model is admitted, byte-identical and passes the policy and scans now."""
    from modelguard.flows.verify import verify as run_verify

    return run_verify(lockfile, cache_dir=cache_dir, fast=fast, remote=remote, manifest_path=manifest,
                      endpoint=endpoint, token=token, fail_on=_severity(fail_on),
                      require_signature=require_signature)


def _severity(value: Severity | str | None) -> Severity | None:
    if value is None or isinstance(value, Severity):
        return value
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise UsageError(f"fail_on: {e}") from None


# --- snapshot ----------------------------------------------------------------------------------


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
    """The admitted snapshot folder of one lock entry; pass it to ``from_pretrained``.

    ``name_or_repo`` is the entry's ``name`` or, when it is locked once, its repo id. Checks, in
    order: the entry is locked (:class:`NotLockedError`); without ``fetch``, a ``cache_dir`` given
    exists (:class:`UsageError`: a mistyped path); with ``fetch=True`` it is fetched first;
    when the manifest is next to the lockfile (or given), the lock is fresh for it
    (:class:`StaleLockError`), nothing is revoked (:class:`RevokedError`) and the policy and scans
    in force pass (:class:`PolicyError`, :class:`UnsafeContentError`, :class:`SignatureError` when
    the policy requires signatures); the snapshot was admitted
    (:class:`NotAdmittedError`); and every file on disk is the admitted one
    (:class:`IntegrityError`): size, mtime and inode as recorded at admission, or a full SHA-256
    re-hash with ``verify=True``.

    Without a manifest (a deployed image that ships only the lockfile) the policy in force cannot
    be re-applied: the admission record must show the snapshot passed the policy in force when it
    was admitted (``modelguard fetch`` evicts revoked snapshots from the cache it runs on).
    """
    from modelguard.spec.lockfile import read_lockfile
    from modelguard.store.cache import admitted_snapshot, existing_cache_root

    lock_path = Path(lockfile if lockfile is not None else DEFAULT_LOCKFILE)
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
            raise ConfigError(f"snapshot(fetch=True) needs the manifest's policy: no {DEFAULT_MANIFEST} next to "
                              f"{lock_path}; pass manifest=")
        _fetch_entry(subset, policy_manifest, entry, cache_dir=cache_dir, endpoint=endpoint, token=token)
    if policy_manifest is not None:
        from modelguard.flows.verify import verify_locked
        from modelguard.trust import checks as trust

        report = verify_locked(subset, policy_manifest, cache_dir=cache_dir, fast=not verify)
        signature = trust.lockfile_findings(lock_path, policy_manifest.policy)  # as `modelguard verify` does
        report = replace(report, findings=(*report.findings, *signature))
        if not report.ok:
            raise refusal(report, entry.name)
    else:
        _check_record(entry, cache_dir)
    # The last word is the cache's own check of this entry (cheap: verify_locked hashed already).
    return admitted_snapshot(cache_dir, entry, verify=verify and policy_manifest is None)


def find_entry(locked: Lockfile, name_or_repo: str, where: PathLike = DEFAULT_LOCKFILE) -> LockedHFModel:
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
                         "add it to modelguard.toml and run `modelguard lock`")


def _manifest_for(lock_path: Path, manifest: PathLike | None) -> Manifest | None:
    from modelguard.spec.manifest import load_manifest

    if manifest is not None:
        return load_manifest(os.fspath(manifest))
    beside = lock_path.with_name(DEFAULT_MANIFEST)
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
    for model in _models(report):
        if model.get("name") == entry.name and model.get("status") not in ("admitted", "already-admitted"):
            raise refusal(report, entry.name, reason=str(model.get("reason") or ""),
                          no_verdict=model.get("status") == "no-verdict")


def _models(report: Report) -> list[Mapping[str, Any]]:
    models = report.extra.get("models")
    return [m for m in models if isinstance(m, Mapping)] if isinstance(models, list) else []


# Which exception a failing finding becomes, most specific first: a revoked model is reported as
# revoked even when it is also unsafe, and a refusal by the scan or the policy wins over the stale
# lock it usually comes with (tightening the policy changes the manifest), so the reader learns
# the decision that matters rather than its bookkeeping.
_RULE_CLASSES: tuple[tuple[tuple[str, ...], type[ModelguardError]], ...] = (
    (("MG-P501", "MG-P502"), RevokedError),
    (("MG-L10", "MG-P51"), SignatureError),
    (("MG-S",), UnsafeContentError),
    (("MG-P",), PolicyError),
    (("MG-H101",), NotAdmittedError),
    (("MG-H",), IntegrityError),
    (("MG-L",), StaleLockError),
)


def refusal(report: Report, name: str, *, reason: str = "", no_verdict: bool = False) -> ModelguardError:
    """The exception for a model that a fetch or verify report did not let through."""
    failing = [f for f in report.failing() if f.model in (name, "")] or report.failing()
    if no_verdict or not failing:
        detail = reason or (failing[0].message if failing else "no verdict was reached")
        return NoVerdictError(f"{name}: {detail}", rule=failing[0].rule if failing else None)
    for prefixes, cls in _RULE_CLASSES:
        hits = [f for f in failing if f.rule.startswith(prefixes)]
        if hits:
            return cls(_describe(name, hits), rule=hits[0].rule)
    return IntegrityError(_describe(name, failing), rule=failing[0].rule)


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
    from modelguard.store.cache import Layout, cache_root, read_record

    record = read_record(Layout(cache_root(cache_dir)), entry.repo, entry.commit)
    if record is None:
        return  # admitted_snapshot raises NotAdmittedError with the fetch hint
    damaged = IntegrityError(f"{entry.name}: the admission record lists a failing or unreadable finding; "
                             "run `modelguard verify`", rule="MG-H104")
    try:
        fail_on = Severity.parse(str(record.get("fail-on", "")))
    except ValueError:
        raise damaged from None
    for f in record.get("files", []):
        for found in f.get("findings", []) if isinstance(f, dict) else [None]:
            try:
                severity = Severity.parse(str(found.get("severity"))) if isinstance(found, dict) else None
            except ValueError:
                severity = None  # unreadable: treated as failing
            if severity is None or fail_on <= severity:
                raise damaged
