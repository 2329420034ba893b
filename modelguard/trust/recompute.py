"""Recompute, don't remember: verdicts of admitted files come from their bytes, the scanner and the policy now.

``verify``, ``snapshot()`` and the loaders' cache check scan every admitted file again (scanning reads
only a file's structure, never its tensors, so it costs little next to hashing) and apply the policy
in force. The admission record is compared with the result, never used instead of it: when the
record was written by this scanner under this policy and still lists other findings than the
bytes give, the record itself is a finding (MG-H108: edited, or copied from another model).

Without a manifest (a deployed image that ships only the lockfile, or a loader pointed at the
cache) the policy in force is unknown: files are judged by the scanner and the default file
policy, at the stricter of the record's ``fail-on`` and ``medium`` (:func:`standalone_threshold`),
so a record cannot loosen the threshold it is judged at.

Reads the files it is given; never writes, downloads or loads what it scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelguard.models import FileResult, Finding, Severity
from modelguard.report.rules import finding
from modelguard.spec.types import LockedFile, Policy
from modelguard.store.admission import AdmissionRecord, AdmittedFile
from modelguard.trust.evaluate import scan_and_evaluate


def rescan(repo: str, files: Mapping[str, LockedFile], blobs: Mapping[str, Path], policy: Policy
           ) -> dict[str, FileResult]:
    """Scan + policy results (raw: suppressions are applied at decision time) of every file in ``blobs``."""
    return {path: scan_and_evaluate(blob, policy=policy, repo=repo, rel_path=path, display=path,
                                    size=files[path].size, sha256=files[path].sha256)
            for path, blob in sorted(blobs.items())}


def _shape(format_: str, findings: tuple[Finding, ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return format_, tuple(sorted((f.rule, f.severity.value) for f in findings))


def _stored_shape(stored: AdmittedFile) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    return None if stored.findings is None else _shape(stored.format, stored.findings)


def disagreements(record: AdmissionRecord | None, results: Mapping[str, FileResult], *, scanner: str,
                  policy_sha256: str) -> list[Finding]:
    """MG-H108 per file whose record lists other findings than its bytes give under the same scanner and
    policy (with another scanner or policy the two may rightly differ, and the fresh result decides)."""
    if record is None or not record.judged_by(scanner, policy_sha256):
        return []
    out = []
    for path, result in sorted(results.items()):
        stored = record.file(path)
        if stored is None:
            continue  # a file the record does not list: MG-H104 already says so
        fresh = _shape(result.format, result.findings)
        if _stored_shape(stored) != fresh or stored.verdict != result.verdict.value:
            listed = ", ".join(f"{r} {s}" for r, s in fresh[1]) or "no finding"
            said = "findings it cannot read" if stored.findings is None else (
                ", ".join(f"{f.rule} {f.severity.value}" for f in stored.findings) or "no finding")
            out.append(finding("MG-H108", f"{path}: the admission record says {stored.verdict} ({said}); its bytes "
                               f"scan {result.verdict.value} ({listed}) with the same scanner and policy",
                               path=path))
    return out


def standalone_threshold(record: AdmissionRecord | None) -> Severity:
    """The fail-on for a check without the manifest: the record's, but never laxer than ``medium``."""
    recorded = record.fail_on if record is not None else None
    return Severity.MEDIUM if recorded is None else min(recorded, Severity.MEDIUM)
