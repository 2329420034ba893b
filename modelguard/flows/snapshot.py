"""``snapshot()``: the admitted snapshot folder of one lock entry, or the exception that says why not.

Wires the lockfile (:mod:`modelguard.spec`), the trust checks (:mod:`modelguard.trust`: revocation,
then freshness and signature, before anything is fetched or handed out), an optional fetch
(:mod:`modelguard.flows.fetch`) and the verify gate for this one snapshot
(:mod:`modelguard.flows.verify`: integrity on the fast path, a fresh scan under the policy in force,
the record compared with the bytes, re-attestation). Without a manifest the same recheck runs under
the default file policy (:func:`_standalone`). Which exception a refusal
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
    NotAdmittedError,
    NoVerdictError,
)
from modelguard.flows.select import find_entry
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
    from modelguard.store.cache import Layout, cache_root, existing_cache_root

    lock_path = Path(lockfile if lockfile is not None else filenames.LOCKFILE)
    locked, policy_manifest, body = _inputs(lock_path, manifest)
    if not fetch:
        existing_cache_root(cache_dir)  # only read: a mistyped cache_dir is a usage error, not "not admitted"
    entry = find_entry(locked, name_or_repo, lock_path)
    # Every entry pinning the same repo@commit shares the snapshot folder: fetch and check them together.
    subset = replace(locked, hf_models=tuple(m for m in locked.hf_models
                                             if (m.repo, m.commit) == (entry.repo, entry.commit)),
                     provider_models=())
    if policy_manifest is not None:
        from modelguard.trust import checks as trust
        from modelguard.trust.freshness import require_lock

        # First: a revocation is the decision that cannot be overridden, whatever else is true.
        trust.refuse_if_revoked(policy_manifest.policy, entry)
        # Then the checks `lock --check` and `verify` make: fresh by content, signed as the policy requires.
        require_lock(lock_path, body, locked, policy_manifest)
    if fetch:
        if policy_manifest is None:
            raise ConfigError(f"snapshot(fetch=True) needs the manifest's policy: no {filenames.MANIFEST} next to "
                              f"{lock_path}; pass manifest=")
        _fetch_entry(subset, policy_manifest, entry, cache_dir=cache_dir, endpoint=endpoint, token=token)
    if policy_manifest is not None:
        _verify_entry(subset, policy_manifest, entry, cache_dir=cache_dir, verify=verify)
    else:
        _standalone(subset, entry, cache_dir, verify=verify)
    return Layout(cache_root(cache_dir)).snapshot(entry.repo, entry.commit)


def _inputs(lock_path: Path, manifest: PathLike | None) -> tuple[Lockfile, Manifest | None, bytes]:
    """The lockfile (read once: its bytes are what the signature is checked on) and the manifest, when
    one is given or lies next to the lockfile."""
    from modelguard.flows.verify import read_inputs
    from modelguard.spec.lockfile import read_lockfile

    if manifest is not None or filenames.manifest_beside(lock_path).is_file():
        inputs = read_inputs(lock_path, manifest)
        return inputs.lockfile, inputs.manifest, inputs.body
    return read_lockfile(os.fspath(lock_path)), None, b""


def _fetch_entry(subset: Lockfile, manifest: Manifest, entry: LockedHFModel, *, cache_dir: PathLike | None,
                 endpoint: str | None, token: str | None) -> None:
    from modelguard.flows.fetch import fetch_locked
    from modelguard.hub import client as hub

    report = fetch_locked(subset, manifest.policy, cache_dir=cache_dir,
                          client_factory=lambda: hub.make_client(endpoint, token))
    outcome = report.model(entry.name)
    if outcome is not None and not outcome.status.usable:
        raise refusal(report, entry.name, reason=outcome.reason, no_verdict=outcome.status is ModelStatus.NO_VERDICT)


def _verify_entry(subset: Lockfile, manifest: Manifest, entry: LockedHFModel, *, cache_dir: PathLike | None,
                  verify: bool) -> None:
    """The gate ``modelguard verify`` applies, for this entry's snapshot: raise when it does not pass.

    Integrity on the fast path unless ``verify`` (a blob is re-hashed when its fingerprint changed),
    a fresh scan under the policy in force, the record compared with the bytes, re-attestation.
    """
    from modelguard.flows.verify import verify_locked

    report = verify_locked(subset, manifest, cache_dir=cache_dir, fast=not verify, whole_cache=False)
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


def _standalone(subset: Lockfile, entry: LockedHFModel, cache_dir: PathLike | None, *, verify: bool) -> None:
    """Without a manifest (a deployed image that ships only the lockfile): the same recheck from the
    bytes, judged by the scanner and the default file policy at the stricter of the record's fail-on and
    medium (:func:`modelguard.trust.recompute.standalone_threshold`). A record that lists a finding
    failing at its own fail-on is refused too: it says the snapshot should never have been admitted."""
    from modelguard.flows.recheck import recheck
    from modelguard.spec.policy import DEFAULT_POLICY
    from modelguard.store.cache import Layout, cache_root
    from modelguard.store.integrity import Group
    from modelguard.trust.recompute import standalone_threshold

    layout = Layout(cache_root(cache_dir))
    group = Group(entry.repo, entry.commit, subset.hf_models)
    done = recheck(layout, group, DEFAULT_POLICY, fast=not verify)
    check = done.check
    if not check.admitted:
        links = [f for f in check.general if f.rule == "MG-H109"]
        if links:
            raise IntegrityError(f"{entry.name}: {links[0].message}", rule="MG-H109")
        raise NotAdmittedError(f"{entry.name} ({entry.repo}@{entry.commit[:12]}) is not admitted; run "
                               "`modelguard fetch`", rule="MG-H101")
    record = check.record
    threshold = standalone_threshold(record)
    files = tuple(done.results.values())
    findings = (*check.all(), *done.disagreements)
    report = Report(command="verify", fail_on=threshold, files=files, findings=tuple(f.at(model=entry.name)
                    for f in findings), checked=max(1, len(files)))
    if not report.ok:
        raise refusal(report, entry.name)
    if record is None or record.fail_on is None or any(
            f.findings is None or failing(f.findings, record.fail_on) for f in record.files):
        raise IntegrityError(f"{entry.name}: the admission record lists a failing or unreadable finding; "
                             "run `modelguard verify`", rule="MG-H104")
