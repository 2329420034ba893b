"""The trust checks lock, fetch, verify and ``snapshot()`` call: one function per call site.

A façade over :mod:`modelguard.signing`, :mod:`modelguard.model_signature` and
:mod:`modelguard.revocation`, so each command adds one line and every command checks the same
things. Must not: download, scan, or write anything but the audit log (that is :mod:`modelguard.audit`).
"""

from __future__ import annotations

import os
from pathlib import Path

from modelguard.errors import RevokedError, UnreadableError
from modelguard.model_signature import BUNDLE_FILE, verify_model_signature
from modelguard.models import Finding, LockedHFModel, Policy
from modelguard.revocation import revocation_findings
from modelguard.signing import verify_lockfile_signature

__all__ = ["locked_model_findings", "lockfile_findings", "refuse_if_revoked"]


def lockfile_findings(lockfile_path: str | os.PathLike[str], policy: Policy) -> list[Finding]:
    """verify: the lockfile signature findings (MG-L101..L107), anchored to the lockfile."""
    return verify_lockfile_signature(lockfile_path, policy)


def locked_model_findings(policy: Policy, model: LockedHFModel, snapshot: Path | None) -> list[Finding]:
    """fetch / verify, per locked model: revocation (MG-P501/P502) and model signature (MG-P510..P518).

    ``snapshot`` is the folder holding the model's verified bytes (the admitted snapshot, or the
    quarantine folder after hashing); the model's ``model.sig`` is read from there, only if the
    lock pins one. ``None`` when the bytes are not available: only revocation is checked.
    """
    files = {f.path: f.sha256 for f in model.files}
    found = revocation_findings(policy, model.repo, model.commit, files, model=model.name)
    if snapshot is None:
        return found
    bundle: bytes | None = None
    if BUNDLE_FILE in files:
        path = snapshot / BUNDLE_FILE
        try:
            bundle = path.read_bytes()
        except OSError as e:
            raise UnreadableError(f"cannot read {path}: {e.strerror or e}") from None
    return found + verify_model_signature(bundle, files, policy, repo=model.repo, model_name=model.name)


def refuse_if_revoked(policy: Policy, model: LockedHFModel) -> None:
    """snapshot() / fetch before download: raise :class:`RevokedError` naming the reason."""
    found = revocation_findings(policy, model.repo, model.commit, {f.path: f.sha256 for f in model.files},
                                model=model.name)
    if found:
        raise RevokedError(f"{model.name}: {found[0].message}", rule=found[0].rule)
