"""The JSON report (schema modelguard/report/v1) validates against lockfiles/report.schema.json;
--fail-on decides the exit code while the report still lists everything; files that could not
be scanned are listed with the reason in every format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode
from modelguard.models import FileResult, Finding, ModelStatus, Report, Severity, Verdict, VerifyOutcome
from modelguard.report.rules import finding
from modelguard.report.text import SCHEMA, to_json
from tests._schemas import assert_valid_report, assert_valid_sarif

UNKNOWN_BYTES = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4
"""Not a format modelguard knows, holding an archive header it did not scan: MG-S002, medium,
unscannable (fails closed; an unknown binary that hides nothing is informational, MG-S005)."""

EVIL_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
"""os.system("echo pwned") as a protocol-2 pickle, built from opcodes; never loaded."""


def _json_run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run([*args, "--format", "json"])
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert_valid_report(doc)
    assert doc["schema"] == SCHEMA
    s = doc["summary"]
    assert s["files"] == len(doc["files"]) == s["clean"] + s["suspicious"] + s["unscannable"] + s["malicious"]
    assert s["findings"] == len(doc["findings"])
    return code, doc


# --- real CLI runs ----------------------------------------------------------------------------


def test_clean_scan_report_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# model card\n")
    (tmp_path / "empty.bin").write_bytes(b"")
    code, doc = _json_run(["scan", str(tmp_path)], capsys)
    assert code == 0 and doc["ok"] is True and doc["findings"] == []
    assert {f["verdict"] for f in doc["files"]} == {"clean"}


def test_unscannable_scan_report_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "weights.bin").write_bytes(UNKNOWN_BYTES)
    code, doc = _json_run(["scan", str(tmp_path / "weights.bin")], capsys)
    assert code == 1 and doc["ok"] is False
    assert doc["files"][0]["verdict"] == "unscannable" and doc["files"][0]["size"] == len(UNKNOWN_BYTES)
    assert doc["findings"][0]["rule"] == "MG-S002" and doc["findings"][0]["path"].endswith("weights.bin")


def test_malicious_pickle_scan_report_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.pkl").write_bytes(EVIL_PICKLE)
    code, doc = _json_run(["scan", str(tmp_path)], capsys)
    # malicious once the pickle analyser is in; unscannable (fail closed) without it; never clean
    assert code == 1 and doc["files"][0]["verdict"] in ("malicious", "unscannable")


def test_lint_report_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "app.py"
    app.write_text('from openai import OpenAI\n\nOpenAI().chat.completions.create(model="gpt-4o", messages=[])\n')
    code = run(["lint", "--format", "json", str(app)])
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    assert_valid_report(doc)
    assert doc["command"] == "lint"
    assert any(f["rule"].startswith("MG-P2") for f in doc["findings"])


# --- constructed reports (every field the renderer can emit) ----------------------------------


def _full_report() -> Report:
    evil = Finding(rule="MG-S101", severity=Severity.CRITICAL, message="calls os.system on load",
                   location="archive/data.pkl@offset 57", detail="os.system('echo pwned')",
                   verdict=Verdict.MALICIOUS)
    quiet = Finding(rule="MG-S002", severity=Severity.MEDIUM, message="format not recognised",
                    verdict=Verdict.UNSCANNABLE, suppressed=True, suppression_reason="vendor blob (until 2099-01-01)")
    return Report(
        command="verify",
        fail_on=Severity.HIGH,
        files=(
            FileResult("evil.pt", "pytorch-zip", (evil,), size=1234, sha256="ab" * 32),
            FileResult("blob.bin", "unknown", (quiet,)),
            FileResult("config.json", "json"),
        ),
        findings=(finding("MG-P900", "suppression expired", location="policy.toml:4", model="embedder"),),
        checked=3,
        models=(VerifyOutcome(name="embedder", repo="acme/embedder", commit="c" * 40, status=ModelStatus.REJECTED,
                              exit_code=ExitCode.REJECTED, admitted=False, intact=False, rescanned=False),),
        extra={"hashing": "full sha256"},
    )


def test_constructed_report_with_every_field_validates() -> None:
    doc = json.loads(to_json(_full_report()))
    assert_valid_report(doc)
    assert doc["summary"] == {"files": 3, "clean": 2, "suspicious": 0, "unscannable": 0, "malicious": 1,
                              "findings": 3, "failing": 1}
    assert doc["findings"][2]["model"] == "embedder" and doc["findings"][2]["path"] == ""
    assert doc["models"] == [{"name": "embedder", "repo": "acme/embedder", "commit": "c" * 40, "admitted": False,
                              "intact": False, "rescanned": False, "rehashed": [],
                              "attested": False}]  # command-specific fields allowed
    assert doc["hashing"] == "full sha256"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(schema="modelguard/report/v2"),
        lambda d: d.pop("fail-on"),
        lambda d: d.update(command="deploy"),
        lambda d: d["summary"].update(files=-1),
        lambda d: d["summary"].pop("failing"),
        lambda d: d["files"][0].update(verdict="ok"),
        lambda d: d["files"][0].update(sha256="AB" * 32),
        lambda d: d["files"][0].update(owner="x"),
        lambda d: d["files"][0]["findings"][0].update(severity="severe"),
        lambda d: d["files"][0]["findings"][0].update(rule="S101"),
        lambda d: d["files"][0]["findings"][0].update(path="evil.pt"),  # nested findings are not flattened
        lambda d: d["files"][1]["findings"][0].pop("suppression-reason"),
        lambda d: d["findings"][0].pop("path"),
        lambda d: d["findings"][0].update(suppressed=False),
    ],
)
def test_schema_rejects_a_broken_report(breakage: Any) -> None:
    doc = json.loads(to_json(_full_report()))
    broken = copy.deepcopy(doc)
    breakage(broken)
    assert broken != doc
    with pytest.raises(AssertionError):
        assert_valid_report(broken)


# --- --fail-on: the report lists everything, the gate fails only at or above it ---------------


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [(Severity.INFO, ExitCode.REJECTED), (Severity.LOW, ExitCode.REJECTED), (Severity.MEDIUM, ExitCode.REJECTED),
     (Severity.HIGH, ExitCode.OK), (Severity.CRITICAL, ExitCode.OK)],
)
def test_exit_code_follows_fail_on(fail_on: Severity, expected: ExitCode) -> None:
    report = Report(command="scan", fail_on=fail_on, files=(
        FileResult("w.bin", "unknown", (finding("MG-S002", "format not recognised"),)),), checked=1)
    assert report.exit_code is expected
    assert len(report.all_findings()) == 1  # listed either way


def test_nothing_checked_is_no_verdict_whatever_fail_on() -> None:
    assert Report(command="verify", fail_on=Severity.CRITICAL).exit_code is ExitCode.NO_VERDICT


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 0), ("high", 0), ("medium", 1), ("low", 1), ("info", 1)])
def test_cli_gate_with_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str], fail_on: str, code: int) -> None:
    (tmp_path / "weights.bin").write_bytes(UNKNOWN_BYTES)
    got, doc = _json_run(["scan", "--fail-on", fail_on, str(tmp_path)], capsys)
    assert got == code
    assert doc["fail-on"] == fail_on and doc["ok"] is (code == 0)
    assert [f["rule"] for f in doc["findings"]] == ["MG-S002"]  # the report still lists it
    assert doc["summary"]["failing"] == (0 if code == 0 else 1)


# --- unscannable files are listed with the reason in every format -----------------------------


def test_unscannable_file_is_listed_with_reason_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("weights.bin").write_bytes(UNKNOWN_BYTES)
    Path("notes.txt").write_text("fine\n")

    assert run(["scan", "--format", "text", "."]) == 1
    text = capsys.readouterr().out
    assert "weights.bin:1:1: MG-S002 medium: format not recognised from its content" in text
    assert "1 unscannable" in text and "notes.txt" not in text  # clean files are listed with -v only
    assert run(["-v", "scan", "."]) == 1
    assert "CLEAN       notes.txt  (text)" in capsys.readouterr().out

    assert run(["scan", "--format", "json", "."]) == 1
    doc = json.loads(capsys.readouterr().out)
    [entry] = [f for f in doc["files"] if f["path"].endswith("weights.bin")]
    assert entry["verdict"] == "unscannable"
    assert entry["findings"][0]["message"].startswith("format not recognised from its content")

    assert run(["scan", "--format", "sarif", "."]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert_valid_sarif(sarif)
    [note] = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith(
        "weights.bin: not scanned (unknown): MG-S002 format not recognised from its content")
