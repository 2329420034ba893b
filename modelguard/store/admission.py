"""The admission record: what was checked when a snapshot entered the verified cache.

One JSON document per admitted ``repo@commit`` (written by :func:`modelguard.store.cache.admit`): the
lock entries it serves, every file's size, SHA-256, published value and blob name, each file's
format and findings, the scanner fingerprint, the policy hash, the fail-on threshold, the
modelguard version and the time. Every verdict is recomputed from the bytes (``verify`` and
``snapshot()`` re-scan; the stored findings are compared with the fresh ones, and a record that
disagrees is itself a finding, MG-H108); the per-file :class:`Fingerprint` only lets the fast paths
skip re-hashing bytes that provably did not change.

:class:`AdmissionRecord` is the typed record; :meth:`~AdmissionRecord.to_json` and
:meth:`~AdmissionRecord.from_json` are the only code that knows its JSON shape, versioned by
``record-version``. The reader is forgiving where being forgiving is safe: a record of another
version is no record (the snapshot is then not admitted), a file entry it cannot read is left out
(the integrity check then reports that file), and findings it does not understand make
:meth:`AdmissionRecord.results` None (the caller re-scans instead of trusting a partial list).

Pure: builds and reads data; never touches the disk. The record is never the authority for a
verdict (DESIGN.md §5): it only lets the common case skip work.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelguard import __version__
from modelguard.errors import LockfileError
from modelguard.models import FileResult, Finding, Severity
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


@dataclass(frozen=True)
class Fingerprint:
    """What ``lstat`` says about a blob: a speed-up for the fast paths, never proof of content.

    ``ctime`` is set by the kernel on every change of the file (content, mode, a ``utime`` call) and
    cannot be set back by an ordinary process, and ``(device, inode)`` changes when the file is
    replaced or copied, so an edit whose mtime was restored, a swapped file and a restored or copied
    cache all fail to match, and the caller re-hashes. What it cannot resist is a writer on this host
    who also rewrites the record after the edit (docs/trust.md, "What each command proves").
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    device: int
    inode: int

    def to_json(self) -> dict[str, int]:
        return {"size": self.size, "mtime-ns": self.mtime_ns, "ctime-ns": self.ctime_ns, "device": self.device,
                "inode": self.inode}

    @classmethod
    def from_json(cls, doc: object) -> Fingerprint | None:
        """The fingerprint in ``doc``, or None when any field is missing or not an integer (then: re-hash)."""
        if not isinstance(doc, Mapping):
            return None
        values = [_int(doc.get(k)) for k in ("size", "mtime-ns", "ctime-ns", "device", "inode")]
        if any(v is None for v in values):
            return None
        size, mtime_ns, ctime_ns, device, inode = (int(v) for v in values if v is not None)
        return cls(size, mtime_ns, ctime_ns, device, inode)


@dataclass(frozen=True)
class AdmittedEntry:
    """A lock entry the snapshot was admitted for."""

    name: str
    requested_revision: str
    spec_sha256: str


@dataclass(frozen=True)
class AdmittedFile:
    """One admitted file: what was locked, what the scan and the policy found, and its blob's identity."""

    path: str
    size: int | None
    sha256: str | None
    published: str
    git_blob_sha1: str | None
    blob: str | None
    format: str
    verdict: str
    findings: tuple[Finding, ...] | None
    """the scan and policy findings, raw (suppressions are applied at decision time); None when the
    record holds a finding this modelguard does not understand"""
    fingerprint: Fingerprint | None = None
    """the blob's stat identity when its bytes were last hashed and found to be the locked ones: what
    the fast paths (``verify --fast``, ``snapshot()``) compare to skip re-hashing; never a verdict"""

    def result(self) -> FileResult | None:
        if self.findings is None:
            return None
        return FileResult(self.path, self.format, self.findings, self.size, self.sha256)


@dataclass(frozen=True)
class AdmissionRecord:
    repo: str
    commit: str
    entries: tuple[AdmittedEntry, ...]
    files: tuple[AdmittedFile, ...]
    scanner: str
    policy_sha256: str
    fail_on: Severity | None
    """None when the stored value is not a severity (a damaged record)"""
    modelguard_version: str
    admitted_at: str
    attested_at: str = ""
    """when the fingerprints were last refreshed after a full check (re-attestation), if ever"""

    def file(self, path: str) -> AdmittedFile | None:
        return self.by_path().get(path)

    def by_path(self) -> dict[str, AdmittedFile]:
        return {f.path: f for f in self.files}

    def judged_by(self, scanner: str, policy_sha256: str, fail_on: Severity | None = None) -> bool:
        """The stored verdicts were reached by this scanner and policy (and threshold, when given)."""
        same = (self.scanner, self.policy_sha256) == (scanner, policy_sha256)
        return same and (fail_on is None or self.fail_on is fail_on)

    def results(self) -> dict[str, FileResult] | None:
        """The stored scan + policy results by path, or None when any is not understood."""
        out: dict[str, FileResult] = {}
        for f in self.files:
            r = f.result()
            if r is None:
                return None
            out[f.path] = r
        return out

    # --- the JSON shape ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "record-version": RECORD_VERSION,
            "repo": self.repo,
            "commit": self.commit,
            "entries": [{"name": e.name, "requested-revision": e.requested_revision, "spec-sha256": e.spec_sha256}
                        for e in self.entries],
            "files": [_file_json(f) for f in self.files],
            "scanner": self.scanner,
            "policy-sha256": self.policy_sha256,
            "fail-on": self.fail_on.value if self.fail_on is not None else "",
            "modelguard-version": self.modelguard_version,
            "admitted-at": self.admitted_at,
            **({"attested-at": self.attested_at} if self.attested_at else {}),
        }

    @classmethod
    def from_json(cls, doc: object) -> AdmissionRecord | None:
        """The record in ``doc``, or None when it is not a record of :data:`RECORD_VERSION`."""
        if not isinstance(doc, Mapping) or doc.get("record-version") != RECORD_VERSION:
            return None
        entries = doc.get("entries")
        files = doc.get("files")
        return cls(
            repo=_text(doc.get("repo")),
            commit=_text(doc.get("commit")),
            entries=tuple(AdmittedEntry(_text(e.get("name")), _text(e.get("requested-revision")),
                                        _text(e.get("spec-sha256")))
                          for e in (entries if isinstance(entries, list) else []) if isinstance(e, Mapping)),
            files=tuple(_read_file(f) for f in (files if isinstance(files, list) else [])
                        if isinstance(f, Mapping) and isinstance(f.get("path"), str)),
            scanner=_text(doc.get("scanner")),
            policy_sha256=_text(doc.get("policy-sha256")),
            fail_on=_severity(doc.get("fail-on")),
            modelguard_version=_text(doc.get("modelguard-version")),
            admitted_at=_text(doc.get("admitted-at")),
            attested_at=_text(doc.get("attested-at")),
        )


def _file_json(f: AdmittedFile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": f.path, "size": f.size, "sha256": f.sha256, "published": f.published,
        "git-blob-sha1": f.git_blob_sha1, "blob": f.blob, "format": f.format, "verdict": f.verdict,
        "findings": [{"rule": x.rule, "severity": x.severity.value, "message": x.message, "location": x.location}
                     for x in f.findings or ()],
    }
    if f.fingerprint is not None:
        out["fingerprint"] = f.fingerprint.to_json()
    return out


def _read_file(doc: Mapping[str, Any]) -> AdmittedFile:
    return AdmittedFile(
        path=str(doc["path"]), size=_int(doc.get("size")), sha256=_optional_text(doc.get("sha256")),
        published=_text(doc.get("published")), git_blob_sha1=_optional_text(doc.get("git-blob-sha1")),
        blob=_optional_text(doc.get("blob")), format=str(doc.get("format", "unknown")),
        verdict=_text(doc.get("verdict")), findings=_read_findings(doc.get("findings", [])),
        fingerprint=Fingerprint.from_json(doc.get("fingerprint")),
    )


def _read_findings(raw: object) -> tuple[Finding, ...] | None:
    if not isinstance(raw, list):
        return None
    found = []
    for f in raw:
        if not isinstance(f, Mapping) or f.get("rule") not in RULES:
            return None
        severity = _severity(f.get("severity"))
        if severity is None:
            return None
        found.append(finding(f["rule"], str(f.get("message", "")), location=str(f.get("location", "")),
                             severity=severity))
    return tuple(found)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if type(value) is int else None  # bool is an int in Python; a JSON true is not a size


def _severity(value: object) -> Severity | None:
    try:
        return Severity.parse(str(value))
    except ValueError:
        return None


def build_record(
    group: Group, results: Mapping[str, FileResult], policy: Policy, fail_on: Severity, scanner: str
) -> AdmissionRecord:
    """The record for ``group`` whose every file passed with ``results`` (stamped by ``admit``)."""
    files = []
    for path, lf in sorted(group.files.items()):
        r = results[path]
        files.append(AdmittedFile(
            path=path, size=lf.size, sha256=lf.sha256, published=lf.published, git_blob_sha1=lf.git_blob_sha1,
            blob=blob_name(lf), format=r.format, verdict=r.verdict.value, findings=r.findings,
        ))
    return AdmissionRecord(
        repo=group.repo,
        commit=group.commit,
        entries=tuple(AdmittedEntry(m.name, m.requested_revision, m.spec_sha256) for m in group.models),
        files=tuple(files),
        scanner=scanner,
        policy_sha256=policy.sha256,
        fail_on=fail_on,
        modelguard_version=__version__,
        admitted_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def stamped(record: AdmissionRecord, fingerprints: Mapping[str, Fingerprint], *, attested: bool = False
            ) -> AdmissionRecord:
    """``record`` with the fingerprints of the blobs whose bytes were just found to be the locked ones.

    Files not in ``fingerprints`` keep what they had. ``attested`` marks a refresh after a full check
    (re-attestation of a copied or restored cache) rather than the admission itself.
    """
    files = tuple(replace(f, fingerprint=fingerprints[f.path]) if f.path in fingerprints else f
                  for f in record.files)
    if not attested:
        return replace(record, files=files)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return replace(record, files=files, attested_at=now)
