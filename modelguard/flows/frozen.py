"""Deploy from the lock alone: what ``fetch --frozen`` and ``verify --frozen`` act on, and under which policy.

A deployment machine often has ``modelguard.lock`` (and ``modelguard.lock.sig``) but no manifest. With
``--frozen`` (as ``uv sync --frozen``) the lockfile is the whole truth about *what*: nothing is
resolved or re-locked, the manifest's freshness is not checked, and only what the lock pins is
fetched (a name it does not pin is refused, :mod:`modelguard.flows.select`).

*Which policy* is never implicit. In order: the policy file given with ``--policy FILE`` (the org's
shared ``policy-file``), else the policy of the manifest when one is given or lies beside the
lockfile; with neither, the command stops (exit 2) rather than guess. The lock records the hash of
the policy it was made under (``policy-sha256``, covered by the lock's signature); a machine that
enforces another one gets MG-L040 (low) in its report, so ``fail-on = "low"`` turns "only the locked
policy" into a hard rule. Every fetch and verify report names the policy it enforced
(:func:`shown`), frozen or not. The lock's signature is checked under the enforced policy before
any download (:func:`require_signature`), exactly as ``verify`` checks it.

Reads the lockfile, the policy file and the manifest; never the network, never the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from modelguard.errors import ConfigError, UsageError
from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.spec import filenames
from modelguard.spec.types import Lockfile, Manifest, Policy

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Inputs:
    """What a fetch or verify acts on: the lockfile (and the bytes it was parsed from, for its signature),
    the manifest (a stand-in holding only the policy when ``--frozen`` runs without one) and the notes
    about how they were chosen."""

    lockfile: Lockfile
    manifest: Manifest
    body: bytes
    frozen: bool = False
    notes: tuple[Finding, ...] = ()
    """MG-L040 / MG-L041: findings about the inputs themselves"""


def read(lockfile_path: PathLike, manifest_path: PathLike | None = None, *, frozen: bool = False,
         policy_path: PathLike | None = None) -> Inputs:
    """The inputs of a fetch or verify: the lockfile and manifest as usual, or, with ``frozen``, the
    lockfile alone under an explicit policy (see the module docstring)."""
    from modelguard.spec.lockfile import read_lockfile_body

    if policy_path is not None and not frozen:
        raise UsageError("--policy applies with --frozen only: without it the policy is the manifest's; add --frozen "
                         "to enforce a policy file on the lockfile alone")
    found = _manifest(lockfile_path, manifest_path)  # read once, used by both paths
    lockfile, body = read_lockfile_body(os.fspath(lockfile_path))
    if not frozen:
        if found is None:  # its absence is the error here (manifest_for raises, as verify's read does)
            from modelguard.flows.verify import manifest_for
            from modelguard.spec.manifest import load_manifest

            found = load_manifest(os.fspath(manifest_for(Path(lockfile_path), manifest_path)))
        return Inputs(lockfile, found, body)
    notes: list[Finding] = []
    if policy_path is not None:
        from modelguard.spec.policy import load_policy_file

        policy = load_policy_file(os.fspath(policy_path))
    elif found is not None:
        policy = found.policy
    else:
        raise ConfigError(f"--frozen needs the policy this machine enforces, and there is no {filenames.MANIFEST} "
                          f"beside {os.fspath(lockfile_path)}: pass --policy FILE (the org's policy file) or "
                          "--manifest FILE")
    if found is not None:
        from modelguard.trust.freshness import stale_reasons

        if stale_reasons(found, lockfile):
            notes.append(finding("MG-L041", f"{os.fspath(lockfile_path)} is stale for {found.path}; --frozen acts "
                                 "on the lock as it is (run `modelguard lock` where the manifest is edited)",
                                 location=os.fspath(lockfile_path)))
    if policy.sha256 != lockfile.policy_sha256:
        notes.append(finding("MG-L040", f"the policy enforced here ({_source(policy, found)}, sha256 "
                             f"{policy.sha256[:12]}) is not the one the lock was made under (policy-sha256 "
                             f"{lockfile.policy_sha256[:12]})", location=os.fspath(lockfile_path)))
    stand_in = Manifest(path=found.path if found is not None else _source(policy, None), policy=policy,
                        hf_models=found.hf_models if found is not None else (),
                        provider_models=found.provider_models if found is not None else (),
                        mirror=found.mirror if found is not None else None,
                        max_workers=found.max_workers if found is not None else None)
    return Inputs(lockfile, stand_in, body, frozen=True, notes=tuple(notes))


def _manifest(lockfile_path: PathLike, manifest_path: PathLike | None) -> Manifest | None:
    from modelguard.spec.manifest import load_manifest

    if manifest_path is not None:
        return load_manifest(os.fspath(manifest_path))
    beside = filenames.manifest_beside(Path(lockfile_path))
    return load_manifest(os.fspath(beside)) if beside.is_file() else None


def _source(policy: Policy, manifest: Manifest | None) -> str:
    if policy.source and (manifest is None or policy.source != manifest.path):
        return policy.source
    return f"[policy] of {manifest.path}" if manifest is not None else (policy.source or "the default policy")


def shown(inputs: Inputs) -> dict[str, object]:
    """The policy a report says it enforced: where it came from, its hash, and the lock's."""
    from modelguard.spec.policy import describe

    policy, manifest = inputs.manifest.policy, inputs.manifest
    shown: dict[str, object] = dict(describe(policy, manifest.path))
    if inputs.frozen:  # a --policy file or the manifest's [policy]: said as such, never "policy-file of"
        shown["source"] = policy.source or f"[policy] of {manifest.path}"
    return {**shown, "locked-sha256": inputs.lockfile.policy_sha256, "frozen": inputs.frozen}


def gate(lockfile_path: PathLike, inputs: Inputs, policy: Policy) -> list[Finding]:
    """The lock's findings under ``policy``: freshness against the manifest and the signature
    (:func:`modelguard.trust.freshness.lock_findings`); with ``--frozen`` the signature only."""
    from modelguard.trust.freshness import lock_findings, signature_findings

    if inputs.frozen:
        return signature_findings(lockfile_path, inputs.body, policy)
    return lock_findings(lockfile_path, inputs.body, inputs.lockfile, replace(inputs.manifest, policy=policy))


def require(lockfile_path: PathLike, inputs: Inputs, fail_on: Severity | None = None) -> None:
    """Raise before any download unless the lock passes :func:`gate` (StaleLockError, SignatureError)."""
    from modelguard.trust.freshness import require_lock

    require_lock(lockfile_path, inputs.body, inputs.lockfile, inputs.manifest, fail_on, fresh=not inputs.frozen)
