"""Is this lockfile the one to act on? Freshness against the manifest and the signature the policy asks for.

One check for every entry point: ``lock --check``, ``fetch``, ``verify`` and ``snapshot()`` call
:func:`stale_reasons` / :func:`lock_findings`, and ``fetch`` and ``snapshot()`` refuse with
:func:`require_lock` before any download, admission or path is handed out.

Freshness compares content, not only ``manifest-sha256`` (which the lockfile itself carries, so an
edit can keep it): every manifest entry must be locked under its name with its own repo and
revision (provider, model and platform for provider models) and its ``spec-sha256``, every locked
file must be one the entry's include/exclude globs select, and no entry may be locked that the
manifest does not ask for. Two entries whose names were swapped in the lockfile fail all of these.

The signature is checked on the very bytes the lockfile was parsed from (``body``), never by
reading the file again. Pure apart from reading ``<lockfile>.sig``; never downloads or writes.
"""

from __future__ import annotations

import os

from modelguard.errors import SignatureError, StaleLockError
from modelguard.models import Finding, Severity, failing
from modelguard.report.rules import finding
from modelguard.spec.types import Lockfile, Manifest, Policy


def stale_reasons(manifest: Manifest, locked: Lockfile) -> list[str]:
    """Why ``locked`` does not match ``manifest`` (empty when it is fresh)."""
    from modelguard.spec.manifest import selects, spec_sha256

    reasons: list[str] = []
    # Each kind of entry is hashed by the code that pins it: a changed hash means "re-resolve".
    wanted = {s.name: spec_sha256(s) for s in manifest.hf_models}
    if manifest.provider_models:  # the provider stack is imported only for a manifest that has some
        from modelguard.providers.resolve import spec_sha256 as provider_spec_sha256

        wanted |= {s.name: provider_spec_sha256(s) for s in manifest.provider_models}
    have = {m.name: m.spec_sha256 for m in locked.hf_models} | {m.name: m.spec_sha256 for m in locked.provider_models}
    if added := sorted(set(wanted) - set(have)):
        reasons.append("not locked: " + ", ".join(added))
    if dropped := sorted(set(have) - set(wanted)):
        reasons.append("no longer in the manifest: " + ", ".join(dropped))
    changed = {n for n in set(wanted) & set(have) if have[n] and have[n] != wanted[n]}
    # The entry's content, recomputed from the manifest: spec-sha256 is written in the lockfile too.
    specs = {s.name: s for s in manifest.hf_models}
    for m in locked.hf_models:
        spec = specs.get(m.name)
        if spec is not None and ((m.repo, m.requested_revision) != (spec.repo, spec.revision)
                                 or not all(selects(spec, f.path) for f in m.files)):
            changed.add(m.name)
    providers = {s.name: s for s in manifest.provider_models}
    for p in locked.provider_models:
        pspec = providers.get(p.name)
        if pspec is not None and (p.provider, p.requested) != (pspec.provider, pspec.model):
            changed.add(p.name)
    if changed:
        reasons.append("changed: " + ", ".join(sorted(changed)))
    if not reasons and locked.manifest_sha256 != manifest.sha256:
        reasons.append("manifest-sha256 differs")
    return reasons


def lock_findings(lock_path: str | os.PathLike[str], body: bytes, locked: Lockfile, manifest: Manifest
                  ) -> list[Finding]:
    """MG-L001 when ``locked`` is stale for ``manifest``, then the signature findings (MG-L101..L107)."""
    out: list[Finding] = []
    reasons = stale_reasons(manifest, locked)
    if reasons:
        out.append(finding("MG-L001", f"{os.fspath(lock_path)} is stale for {manifest.path} ({'; '.join(reasons)}); "
                           "run `modelguard lock`", location=manifest.path))
    return out + signature_findings(lock_path, body, manifest.policy)


def signature_findings(lock_path: str | os.PathLike[str], body: bytes, policy: Policy) -> list[Finding]:
    """The signature findings (MG-L101..L107, MG-L025) of the lockfile whose bytes are ``body``, under
    ``policy`` (``--frozen`` checks these alone: the lock is acted on as it is, but signed as the policy
    requires). ``<lockfile>.sig`` is read within its budget (issue 14)."""
    if not policy.signers and not policy.require_signature:
        return []  # nothing to check or require (check_lockfile_signature says the same): no .sig read
    # cryptography (~60 ms) is imported only when a signature is checked: a fetch without signers
    # does not pay for it before its first byte (issue 15)
    from modelguard.spec.limits import OverBudget
    from modelguard.trust.lock_signature import check_lockfile_signature, envelope_over_budget, read_envelope

    try:
        envelope = read_envelope(lock_path)
    except OverBudget as e:
        return [envelope_over_budget(lock_path, e)]
    return check_lockfile_signature(body, envelope, policy, where=os.fspath(lock_path))


def require_lock(lock_path: str | os.PathLike[str], body: bytes, locked: Lockfile, manifest: Manifest,
                 fail_on: Severity | None = None, *, fresh: bool = True) -> None:
    """Raise unless the lockfile is fresh and its signature passes (before any download or admission).

    :class:`StaleLockError` (MG-L001) for a stale lock; :class:`SignatureError` for a signature that is
    missing where the policy requires one, changed since signing, or not from a trusted key.
    ``fresh=False`` (``--frozen``): the signature alone.
    """
    threshold = fail_on or manifest.policy.fail_on
    found = (lock_findings(lock_path, body, locked, manifest) if fresh
             else signature_findings(lock_path, body, manifest.policy))
    for f in found:
        if f.rule == "MG-L001":
            raise StaleLockError(f"{f.message}, then try again", rule="MG-L001")
    bad = failing(found, min(threshold, Severity.HIGH))  # a bad signature refuses whatever fail-on says
    if bad:
        raise SignatureError(f"{bad[0].path or os.fspath(lock_path)}: {bad[0].message}; nothing was fetched or "
                             "handed out", rule=bad[0].rule)
