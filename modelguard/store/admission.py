"""The admission record: what was checked when a snapshot entered the verified cache.

One JSON document per admitted ``repo@commit`` (written by :func:`modelguard.store.cache.admit`): the
lock entries it serves, every file's size, SHA-256, published value and blob name, each file's
format and findings, the scanner fingerprint, the policy hash, the fail-on threshold, the
modelguard version and the time. ``fetch`` and ``verify`` read the findings back instead of
re-scanning only when scanner and policy are unchanged.

Pure: builds and reads dictionaries; never touches the disk.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelguard import __version__
from modelguard.errors import LockfileError
from modelguard.models import FileResult, Severity
from modelguard.report.rules import RULES, finding
from modelguard.spec.types import LockedFile, Policy

if TYPE_CHECKING:  # pragma: no cover
    from modelguard.store.integrity import Group

RECORD_VERSION = 1


def blob_name(f: LockedFile) -> str:
    """The Hub cache's name for a blob: the ETag the Hub serves for it (LFS sha256 or git blob sha1)."""
    if f.published == "lfs-sha256":
        return f.sha256
    if f.published == "git-blob-sha1" and f.git_blob_sha1:
        return f.git_blob_sha1
    raise LockfileError(
        f"{f.path}: unknown published kind {f.published!r} in the lockfile; re-run `modelguard lock`"
    )


def build_record(
    group: Group, results: Mapping[str, FileResult], policy: Policy, fail_on: Severity, scanner: str
) -> dict[str, Any]:
    """The record for ``group`` whose every file passed with ``results``."""
    files = []
    for path, lf in sorted(group.files.items()):
        r = results[path]
        files.append({
            "path": path, "size": lf.size, "sha256": lf.sha256, "published": lf.published,
            "git-blob-sha1": lf.git_blob_sha1, "blob": blob_name(lf), "format": r.format,
            "verdict": r.verdict.value,
            "findings": [
                {"rule": f.rule, "severity": f.severity.value, "message": f.message, "location": f.location}
                for f in r.findings
            ],
        })
    return {
        "record-version": RECORD_VERSION,
        "repo": group.repo,
        "commit": group.commit,
        "entries": [
            {"name": m.name, "requested-revision": m.requested_revision, "spec-sha256": m.spec_sha256}
            for m in group.models
        ],
        "files": files,
        "scanner": scanner,
        "policy-sha256": policy.sha256,
        "fail-on": fail_on.value,
        "modelguard-version": __version__,
        "admitted-at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def record_files(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    files = record.get("files")
    if not isinstance(files, list):
        return {}
    return {f["path"]: f for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)}


def results_from_record(record: Mapping[str, Any]) -> dict[str, FileResult] | None:
    """The stored scan + policy results, or None when anything in them is not understood
    (an unknown rule or severity): the caller then re-scans instead of trusting a partial list."""
    out: dict[str, FileResult] = {}
    for path, rec in record_files(record).items():
        found = []
        for f in rec.get("findings", []):
            if not isinstance(f, dict) or f.get("rule") not in RULES:
                return None
            try:
                severity = Severity.parse(str(f.get("severity")))
            except ValueError:
                return None
            found.append(finding(f["rule"], str(f.get("message", "")), location=str(f.get("location", "")),
                                 severity=severity))
        out[path] = FileResult(path, str(rec.get("format", "unknown")), tuple(found), rec.get("size"),
                               rec.get("sha256"))
    return out
