"""The typed admission record: one JSON shape, versioned, read forgivingly where that is safe."""

from __future__ import annotations

import json

from modelguard.models import FileResult, Severity
from modelguard.report.rules import finding
from modelguard.spec.types import Policy
from modelguard.store.admission import RECORD_VERSION, AdmissionRecord, Fingerprint, build_record, stamped
from modelguard.store.integrity import Group
from tests.cache_helpers import locked_model

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


def _record() -> AdmissionRecord:
    model = locked_model("tiny", "acme/tiny", FILES)
    odd = (finding("MG-S002", "odd", location="x"),)
    results = {lf.path: FileResult(lf.path, "text", odd if lf.path == "weights.bin" else (), lf.size, lf.sha256)
               for lf in model.files}
    built = build_record(Group(model.repo, model.commit, (model,)), results, Policy(), Severity.HIGH, "0.1.0+abc")
    return stamped(built, {f.path: Fingerprint(len(FILES[f.path]), 123, 124, 7, 456) for f in built.files})


def test_round_trip_through_json() -> None:
    record = _record()
    doc = json.loads(json.dumps(record.to_json()))
    assert doc["record-version"] == RECORD_VERSION and doc["fail-on"] == "high"
    assert {f["path"]: f["fingerprint"] for f in doc["files"]} == {
        p: {"size": len(d), "mtime-ns": 123, "ctime-ns": 124, "device": 7, "inode": 456} for p, d in FILES.items()}
    again = AdmissionRecord.from_json(doc)
    assert again is not None and again.to_json() == doc
    assert again.judged_by("0.1.0+abc", Policy().sha256, Severity.HIGH)
    assert not again.judged_by("0.1.0+abc", Policy().sha256, Severity.MEDIUM)
    results = again.results()
    assert results is not None and [f.rule for f in results["weights.bin"].findings] == ["MG-S002"]


def test_another_version_is_no_record() -> None:
    doc = _record().to_json()
    for version in (RECORD_VERSION + 1, "1", None):
        assert AdmissionRecord.from_json({**doc, "record-version": version}) is None
    assert AdmissionRecord.from_json([doc]) is None


def test_what_is_not_understood_is_never_trusted() -> None:
    doc = _record().to_json()
    unknown_rule = json.loads(json.dumps(doc))
    unknown_rule["files"][0]["findings"] = [{"rule": "MG-X999", "severity": "low", "message": "?", "location": ""}]
    record = AdmissionRecord.from_json(unknown_rule)
    assert record is not None and record.results() is None  # the caller re-scans
    bad_severity = json.loads(json.dumps(doc))
    bad_severity["fail-on"] = "dire"
    bad_severity["files"][1]["findings"] = [{"rule": "MG-S002", "severity": "dire", "message": "", "location": ""}]
    record = AdmissionRecord.from_json(bad_severity)
    assert record is not None and record.fail_on is None and record.results() is None
    odd_files = {**doc, "files": [{"path": "a", "size": True}, "not an entry", {"no": "path"}]}
    record = AdmissionRecord.from_json(odd_files)
    assert record is not None and [(f.path, f.size) for f in record.files] == [("a", None)]


def test_a_fingerprint_it_cannot_read_is_none_and_the_blob_is_rehashed() -> None:
    doc = _record().to_json()
    doc["files"][0]["fingerprint"] = {"size": 1, "mtime-ns": "1", "ctime-ns": 2, "device": 3, "inode": 4}
    doc["files"][1]["fingerprint"] = {"size": True, "mtime-ns": 1, "ctime-ns": 2, "device": 3, "inode": 4}
    record = AdmissionRecord.from_json(doc)
    assert record is not None and [f.fingerprint for f in record.files] == [None, None]
    old_shape = {**doc, "files": [{**f, "mtime-ns": 1, "inode": 2} for f in doc["files"]]}  # before ctime was kept
    for f in old_shape["files"]:
        f.pop("fingerprint")
    record = AdmissionRecord.from_json(old_shape)
    assert record is not None and all(f.fingerprint is None for f in record.files)


def test_reattestation_stamps_the_time_and_keeps_everything_else() -> None:
    record = _record()
    fresh = Fingerprint(9, 1, 2, 3, 4)
    again = stamped(record, {"config.txt": fresh}, attested=True)
    assert again.attested_at and again.file("config.txt").fingerprint == fresh
    assert again.file("weights.bin") == record.file("weights.bin")
    assert AdmissionRecord.from_json(again.to_json()) == again
