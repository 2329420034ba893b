"""The trust checks lock, fetch, verify and ``snapshot()`` call: one function per call site.

A façade over :mod:`modelguard.trust.lock_signature`, :mod:`modelguard.trust.model_signature` and
:mod:`modelguard.trust.revocation`, so each command adds one line and every command checks the same
things. Must not: download, scan, or write anything but the audit log (that is :mod:`modelguard.store.audit`).
"""

from __future__ import annotations

import os
from pathlib import Path

from modelguard.errors import RevokedError
from modelguard.models import Finding
from modelguard.spec import filenames
from modelguard.spec.types import LockedHFModel, Policy

# The signature modules load cryptography (x509 above all: ~60 ms); they are imported when a signature
# is checked, so a fetch does not pay for them before its first byte (issue 15).
BUNDLE_FILE = filenames.MODEL_SIGNATURE
"""the publisher's signature bundle at the root of a repo (:data:`modelguard.trust.model_signature.BUNDLE_FILE`)"""

__all__ = [
    "BUNDLE_FILE",
    "locked_model_findings",
    "lockfile_findings",
    "refuse_if_revoked",
    "revocation_check",
    "signature_check",
]


def lockfile_findings(lockfile_path: str | os.PathLike[str], policy: Policy) -> list[Finding]:
    """verify: the lockfile signature findings (MG-L101..L107), anchored to the lockfile."""
    from modelguard.trust.lock_signature import verify_lockfile_signature

    return verify_lockfile_signature(lockfile_path, policy)


def revocation_check(policy: Policy, model: LockedHFModel) -> list[Finding]:
    """fetch, before any download: MG-P501/P502 for a revoked commit or file (critical, so always refused)."""
    if not policy.revoked:
        return []  # nothing revoked: the revocation module (list editing, eviction) is not imported by fetch
    from modelguard.trust.revocation import revocation_findings

    files = {f.path: f.sha256 for f in model.files}
    return revocation_findings(policy, model.repo, model.commit, files, model=model.name)


def signature_check(policy: Policy, model: LockedHFModel, bundle_path: Path | None) -> list[Finding]:
    """fetch / verify: MG-P510..P518 for the model's ``model.sig``.

    ``bundle_path`` holds the verified bytes of the locked ``model.sig`` (its quarantine copy, blob or
    snapshot entry); it must be given whenever the lock pins a ``model.sig``, and is ignored otherwise.
    """
    files = {f.path: f.sha256 for f in model.files}
    bundle: Path | None = None
    if BUNDLE_FILE in files:
        if bundle_path is None:
            raise ValueError("signature_check: the lock pins model.sig but no path to its bytes was given")
        bundle = bundle_path  # read there, within the signature budget
    if bundle is None and not policy.signers:
        return []  # no signature and no signer: nothing to check (verify_model_signature says the same)
    from modelguard.trust.model_signature import verify_model_signature

    return verify_model_signature(bundle, files, policy, repo=model.repo, model_name=model.name)


def locked_model_findings(policy: Policy, model: LockedHFModel, snapshot: Path | None) -> list[Finding]:
    """verify, per locked model: revocation and model signature.

    ``snapshot`` is the admitted snapshot folder, or None when it is not intact (integrity findings
    already fail the model): then only revocation is checked.
    """
    found = revocation_check(policy, model)
    if snapshot is None:
        return found
    return found + signature_check(policy, model, snapshot / BUNDLE_FILE)


def refuse_if_revoked(policy: Policy, model: LockedHFModel) -> None:
    """snapshot(): raise :class:`RevokedError` naming the reason."""
    found = revocation_check(policy, model)
    if found:
        raise RevokedError(f"{model.name}: {found[0].message}", rule=found[0].rule)
