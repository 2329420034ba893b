"""The public library surface: what Python code (model loaders, CI scripts, notebooks) calls.

Every CLI command is one call here, and the CLI does nothing else but parse flags and render what
the call returns; Python users get exactly what the command line gets.

* :func:`lock` (and :func:`check_lock`), :func:`fetch`, :func:`verify`: the three commands of the flow,
  and :func:`scan_with_policy` for loose files under the project's policy,
  returning typed results (:class:`~modelguard.flows.lock.LockResult`, :class:`~modelguard.models.Report`
  whose ``models`` are :class:`~modelguard.models.FetchOutcome` / :class:`~modelguard.models.VerifyOutcome`).
* :func:`init`, :func:`add`, :func:`remove`: start and edit the manifest (then lock), like ``uv add``.
* :func:`sbom`: a CycloneDX ML-BOM of the lockfile.
* :func:`snapshot`: the admitted snapshot folder of one lock entry, or an exception saying why not (``path``).
* :func:`plan_fetch` (``fetch --dry-run``) and :func:`cache_contents` (``list``): what a fetch would
  download, and what the cache holds; neither is a verdict.
* :func:`hf_offline` / :func:`offline_env`, :func:`load_torch` and :func:`load_safetensors`, from
  :mod:`modelguard.flows.load`.
* :func:`revoke`, :func:`prune`, :func:`sign`, :func:`signer_entry`, :func:`audit_log`: the trust chores.
* :func:`sarif_anchors` and :func:`render`: a report as text, JSON or SARIF anchored to the lockfile.

Fail closed: :func:`snapshot` and the loaders never return something doubtful; they raise a
:class:`~modelguard.errors.ModelguardError` subclass naming the reason. Thin: the work lives in
:mod:`modelguard.flows` and the modules it wires; this module must not render on its own, print,
or duplicate a check.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelguard.models import Report, Severity, parse_fail_on
from modelguard.spec import filenames

if TYPE_CHECKING:
    from modelguard.flows.edit import Edited
    from modelguard.flows.load import (
        TorchNotInstalledError,
        closed_env,
        hf_offline,
        load_safetensors,
        load_torch,
        offline_env,
    )
    from modelguard.flows.lock import LockResult
    from modelguard.flows.plan import FetchPlan
    from modelguard.flows.prune import Pruned
    from modelguard.flows.revoke import Revoked
    from modelguard.mirror.push import PushOutcome
    from modelguard.report.sarif import SarifAnchors
    from modelguard.spec.types import Lockfile
    from modelguard.store.audit import AuditLog
    from modelguard.store.listing import CacheListing

__all__ = [
    "Signed",
    "TorchNotInstalledError",
    "add",
    "audit_log",
    "cache_contents",
    "check_lock",
    "closed_env",
    "fetch",
    "hf_offline",
    "init",
    "load_safetensors",
    "load_torch",
    "lock",
    "offline_env",
    "plan_fetch",
    "prune",
    "push",
    "remove",
    "render",
    "revoke",
    "sarif_anchors",
    "sbom",
    "scan_with_policy",
    "sign",
    "signer_entry",
    "snapshot",
    "verify",
]

_FROM_LOAD = frozenset({"TorchNotInstalledError", "closed_env", "hf_offline", "load_safetensors", "load_torch",
                        "offline_env"})


def __getattr__(name: str) -> object:
    """The loaders, from :mod:`modelguard.flows.load` on first use: ``modelguard scan`` starts without them."""
    if name in _FROM_LOAD:
        from modelguard.flows import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_MANIFEST = filenames.MANIFEST
DEFAULT_LOCKFILE = filenames.LOCKFILE
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

    Raises :class:`~modelguard.errors.PolicyError` before any request when an org is not allowed; writes
    the lockfile atomically, and only when its content changed. Same as ``modelguard lock``.
    """
    from modelguard.flows import lock as locker

    return locker.lock(os.fspath(manifest), os.fspath(lockfile) if lockfile is not None else None,
                       endpoint=endpoint, token=token, upgrade=upgrade, online=online)


def check_lock(manifest: PathLike = DEFAULT_MANIFEST, lockfile: PathLike | None = None) -> Lockfile:
    """Offline, writes nothing (same as ``modelguard lock --check``): the lockfile when it is fresh for
    ``manifest``; :class:`~modelguard.errors.StaleLockError` (exit 1) when it is stale or missing."""
    from modelguard.flows import lock as locker

    return locker.check(os.fspath(manifest), os.fspath(lockfile) if lockfile is not None else None)


def fetch(
    lockfile: PathLike = DEFAULT_LOCKFILE,
    *,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    fail_on: Severity | str | None = None,
    progress: bool = False,
    mirror: str | None = None,
    no_hub: bool = False,
    plain_http: bool = False,
    names: Iterable[str] = (),
    frozen: bool = False,
    policy: PathLike | None = None,
    max_workers: int | None = None,
) -> Report:
    """Download, check, scan and admit every locked model (same as ``modelguard fetch``).

    ``report.models`` holds one :class:`~modelguard.models.FetchOutcome` per locked model (status,
    exit code, reason, per-file results, the snapshot folder when admitted); ``report.exit_code`` is
    the command's. Raises for what stops the whole run (stale lock, unreadable lockfile or manifest).
    ``mirror`` (``oci://HOST/NAMESPACE``), ``no_hub`` and ``plain_http`` override the manifest's
    ``[mirror]`` table. ``names``: only these lock entries (``fetch NAME...``). ``frozen``: from the
    lockfile alone, never re-locked, under the policy file ``policy`` (else the manifest's); the
    report's ``extra["policy"]`` names the policy enforced. ``max_workers``: connections at once.
    """
    from modelguard.flows.fetch import fetch as run_fetch

    return run_fetch(lockfile, cache_dir=cache_dir, endpoint=endpoint, token=token, manifest_path=manifest,
                     fail_on=parse_fail_on(fail_on, where="fail_on"), progress=progress, mirror_url=mirror,
                     no_hub=no_hub, plain_http=plain_http, names=tuple(names), frozen=frozen, policy_path=policy,
                     workers=max_workers)


def plan_fetch(
    lockfile: PathLike = DEFAULT_LOCKFILE,
    names: Iterable[str] = (),
    *,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    frozen: bool = False,
    policy: PathLike | None = None,
    mirror: str | None = None,
    endpoint: str | None = None,
) -> FetchPlan:
    """What :func:`fetch` would download and how much, offline, changing nothing (``fetch --dry-run``)."""
    from modelguard.flows.plan import plan_from_files

    return plan_from_files(lockfile, tuple(names), manifest_path=manifest, cache_dir=cache_dir, frozen=frozen,
                           policy_path=policy, mirror_url=mirror, endpoint=endpoint)


def cache_contents(cache_dir: PathLike | None = None) -> CacheListing:
    """What the verified cache holds, admitted or not, with sizes, and the partial downloads kept for
    resuming (same as ``modelguard list``). An inventory, not a verdict."""
    from modelguard.store.cache import Layout, existing_cache_root
    from modelguard.store.listing import list_cache

    return list_cache(Layout(existing_cache_root(cache_dir)))


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
    progress: bool = False,
    names: Iterable[str] = (),
    frozen: bool = False,
    policy: PathLike | None = None,
) -> Report:
    """The CI gate as a call (same as ``modelguard verify``): ``report.ok`` is True only when every
    locked model is admitted, byte-identical and passes the policy and scans now; ``report.models``
    holds one :class:`~modelguard.models.VerifyOutcome` per locked model. ``names``: only these lock
    entries; ``frozen`` / ``policy``: from the lockfile alone, as :func:`fetch` takes them."""
    from modelguard.flows.verify import verify as run_verify

    return run_verify(lockfile, cache_dir=cache_dir, fast=fast, remote=remote, manifest_path=manifest,
                      endpoint=endpoint, token=token, fail_on=parse_fail_on(fail_on, where="fail_on"),
                      require_signature=require_signature, progress=progress, names=tuple(names), frozen=frozen,
                      policy_path=policy)


def scan_with_policy(paths: Iterable[PathLike], *, manifest: PathLike | None = None,
                     fail_on: Severity | str | None = None, policy: bool = True) -> Report:
    """Scan files and folders under the project's policy (same as ``modelguard scan``).

    The policy is the one of ``manifest``, else of ``modelguard.toml`` in the working directory
    when there is one (``policy=False``: none); ``report.extra["policy"]`` says which was used.
    Raises :class:`~modelguard.errors.UsageError` for a missing path and
    :class:`~modelguard.errors.NothingToCheckError` when there is no file to scan.
    """
    from modelguard.flows.scan import scan as run_scan

    return run_scan(list(paths), manifest=manifest, fail_on=parse_fail_on(fail_on, where="fail_on"),
                    use_policy=policy)


# --- the manifest: init, add, remove ----------------------------------------------------------


def init(manifest: PathLike = DEFAULT_MANIFEST) -> Path:
    """Write a commented starting ``modelguard.toml`` (same as ``modelguard init``); never overwrites:
    :class:`~modelguard.errors.UsageError` when the file exists."""
    from modelguard.flows.edit import init as run_init

    return run_init(manifest)


def add(target: str, *, manifest: PathLike = DEFAULT_MANIFEST, lockfile: PathLike | None = None,
        name: str | None = None, provider: str | None = None, include: Iterable[str] = (),
        exclude: Iterable[str] = (), lock: bool = True, online: bool = False, endpoint: str | None = None,
        token: str | None = None) -> Edited:
    """Append a model to the manifest and lock it (same as ``modelguard add``).

    ``target`` is ``ORG/NAME[@REVISION]``, or with ``provider`` a provider's model ID. The entry is
    named ``name`` (default: the repo's or model's last part); comments and layout of the file are
    kept. When the lock fails the manifest is restored and the error raised.
    """
    from modelguard.flows.edit import add as run_add

    return run_add(target, manifest=manifest, lockfile=lockfile, name=name, provider=provider,
                   include=tuple(include), exclude=tuple(exclude), lock=lock, online=online, endpoint=endpoint,
                   token=token)


def remove(name: str, *, manifest: PathLike = DEFAULT_MANIFEST, lockfile: PathLike | None = None,
           lock: bool = True) -> Edited:
    """Drop the entry ``name`` from the manifest and lock (same as ``modelguard remove``); offline."""
    from modelguard.flows.edit import remove as run_remove

    return run_remove(name, manifest=manifest, lockfile=lockfile, lock=lock)


def sbom(lockfile: PathLike = DEFAULT_LOCKFILE, *, manifest: PathLike | None = None,
         cache_dir: PathLike | None = None, verify: bool = True, fast: bool = False,
         endpoint: str | None = None) -> str:
    """The lockfile as a CycloneDX 1.6 ML-BOM, JSON text (same as ``modelguard sbom``).

    With ``verify`` (and a verified cache), the locked models are verified offline now and the
    verdicts, and the licence and base models of intact model cards, go into the BOM; nothing is written.
    """
    from modelguard.flows.sbom import sbom as run_sbom

    return run_sbom(lockfile, manifest=manifest, cache_dir=cache_dir, verify=verify, fast=fast, hub_url=endpoint)


def push(
    lockfile: PathLike = DEFAULT_LOCKFILE,
    names: Iterable[str] = (),
    *,
    to: str | None = None,
    plain_http: bool | None = None,
    manifest: PathLike | None = None,
    cache_dir: PathLike | None = None,
    fail_on: Severity | str | None = None,
) -> list[PushOutcome]:
    """Publish admitted snapshots to an OCI registry (same as ``modelguard push``): each is re-checked as
    ``verify`` does, then pushed as a ModelPack artifact; one :class:`~modelguard.mirror.push.PushOutcome`
    per ``repo@commit`` (:func:`~modelguard.mirror.push.push_exit_code` gives the command's exit code)."""
    from modelguard.mirror.push import push as run_push

    return run_push(lockfile, tuple(names), to=to, plain_http=plain_http, cache_dir=cache_dir,
                    manifest_path=manifest, fail_on=parse_fail_on(fail_on, where="fail_on"))


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
    order: the entry is locked (:class:`~modelguard.errors.NotLockedError`); without ``fetch``, a
    ``cache_dir`` given exists (:class:`~modelguard.errors.UsageError`: a mistyped path); when the
    manifest is next to the lockfile (or given), nothing is revoked
    (:class:`~modelguard.errors.RevokedError`), the lock is fresh for it by content
    (:class:`~modelguard.errors.StaleLockError`) and signed as the policy requires
    (:class:`~modelguard.errors.SignatureError`), all before anything is fetched or handed out; with
    ``fetch=True`` it is fetched; then the snapshot was admitted
    (:class:`~modelguard.errors.NotAdmittedError`), its layout holds no symlink and every file on
    disk is the locked bytes (:class:`~modelguard.errors.IntegrityError`: a file is re-hashed when
    its size, mtime, ctime, device or inode changed since its bytes were last hashed, every file
    with ``verify=True``), and a fresh scan under the policy in force passes
    (:class:`~modelguard.errors.PolicyError`, :class:`~modelguard.errors.UnsafeContentError`). The
    admission record is compared with that scan, never trusted instead of it. A copied cache is
    re-hashed once and re-attested, then served without re-hashing.

    Without a manifest (a deployed image that ships only the lockfile) the policy in force cannot
    be re-applied: the files are judged by the scanner and the default file policy at the stricter
    of the record's fail-on and ``medium`` (``modelguard fetch`` evicts revoked snapshots from the
    cache it runs on).
    """
    from modelguard.flows.snapshot import snapshot as run_snapshot

    return run_snapshot(name_or_repo, lockfile=lockfile, manifest=manifest, cache_dir=cache_dir, fetch=fetch,
                        verify=verify, endpoint=endpoint, token=token)


# --- trust chores: revoke, sign, the audit log -------------------------------------------------


def revoke(target: str, reason: str, *, manifest: PathLike = DEFAULT_MANIFEST, policy: PathLike | None = None,
           cache_dir: PathLike | None = None) -> Revoked:
    """Revoke ``org/name@<commit>`` or ``sha256:<hex>`` (same as ``modelguard revoke``).

    Appends ``[[policy.revoked]]`` to ``policy`` (default: the manifest's ``policy-file``, else its
    ``[policy]``), atomically, then evicts every admitted snapshot the target covers from the
    verified cache; each step is written to the audit log, which must be writable before anything
    changes. From then on fetch, verify and :func:`snapshot` refuse the model wherever the policy
    applies. Returns what was done (:class:`~modelguard.flows.revoke.Revoked`).
    """
    from modelguard.flows.revoke import revoke as run_revoke

    return run_revoke(target, reason, manifest=manifest, policy=policy, cache_dir=cache_dir)


def prune(cache_dir: PathLike | None = None, *, dry_run: bool = False) -> Pruned:
    """Remove from the verified cache everything no admitted snapshot accounts for (same as ``modelguard
    prune``): what ``verify`` reports as MG-H110 / MG-H109, and quarantine leftovers. ``dry_run``: list
    it, change nothing. Under the writer lock; the audit line is written before anything is removed."""
    from modelguard.flows.prune import prune as run_prune
    from modelguard.store.cache import existing_cache_root

    return run_prune(existing_cache_root(cache_dir), dry_run=dry_run)


@dataclass(frozen=True)
class Signed:
    """What :func:`sign` wrote."""

    signature: Path
    """``<lockfile>.sig``"""
    keyid: str
    """the SHA-256 of the signing key's public half, as ``[[policy.signers]]`` names it"""
    algorithm: str


def sign(lockfile: PathLike = DEFAULT_LOCKFILE, *, key: PathLike | bytes | None = None,
         password: str | None = None) -> Signed:
    """Sign ``lockfile`` (same as ``modelguard sign``): a DSSE envelope over its exact bytes, written
    atomically to ``<lockfile>.sig``. ``key``: a PEM private key (path or bytes), else
    ``$MODELGUARD_SIGNING_KEY``. The key is never printed or stored."""
    from modelguard.trust import lock_signature as signing

    out = signing.sign_lockfile(lockfile, key, password=password)
    public = signing.load_private_key(key, password=password).public_key()
    return Signed(signature=out, keyid=signing.keyid(public), algorithm=str(signing.algorithm_of(public)))


def signer_entry(key: PathLike | None = None, *, scope: str = "lockfile") -> str:
    """The ``[[policy.signers]]`` TOML that trusts ``key`` (same as ``modelguard sign --show-public``).

    ``key`` is a PEM private or public key file (a teammate's public key works), else
    ``$MODELGUARD_SIGNING_KEY``; ``scope`` is ``lockfile``, ``"*"``, an org or ``org/name``.
    """
    from modelguard.trust import lock_signature as signing

    signing.signer_scope(scope)  # a bad scope is reported before any key is read
    return signing.signer_entry(signing.public_key_for(key), scope=scope)


def audit_log(cache_dir: PathLike | None = None, *, since: _dt.datetime | None = None,
              model: str | None = None) -> AuditLog:
    """The verified cache's audit log (same as ``modelguard log``): records at or after ``since``
    about ``model`` (a name or an ``org/name`` repo), and every malformed line, reported, never
    skipped. Raises :class:`~modelguard.errors.NothingToCheckError` when nothing was recorded yet."""
    from modelguard.store import audit
    from modelguard.store.cache import existing_cache_root

    return audit.read_log(existing_cache_root(cache_dir), since=since, model=model)


# --- reports -----------------------------------------------------------------------------------


def sarif_anchors(lockfile: PathLike = DEFAULT_LOCKFILE, *, manifest: PathLike | None = None, frozen: bool = False,
                  policy: PathLike | None = None) -> SarifAnchors:
    """Where the findings of a ``verify`` or ``fetch`` point, in text and SARIF: each model's lockfile
    line (and manifest line; ``frozen`` / ``policy`` as :func:`fetch` takes them: maybe no manifest)."""
    from modelguard.flows.frozen import read
    from modelguard.report.sarif import SarifAnchors

    inputs = read(lockfile, manifest, frozen=frozen, policy_path=policy)
    return SarifAnchors.for_lock(inputs.lockfile, os.fspath(lockfile), manifest=inputs.manifest)


def render(report: Report, fmt: str = "text", *, verbose: bool = False, quiet: bool = False,
           anchors: SarifAnchors | None = None, category: str = "") -> str:
    """``report`` as ``text``, ``json`` (schema ``modelguard/report/v1``) or ``sarif`` (2.1.0).

    ``anchors`` (:func:`sarif_anchors`) say where findings point in text and SARIF alike: each model's
    lockfile line. ``category`` is the SARIF run's ``automationDetails`` category (default
    ``modelguard/<command>``)."""
    from modelguard.report.text import render as run_render

    return run_render(report, fmt, verbose=verbose, quiet=quiet, anchors=anchors, category=category)
