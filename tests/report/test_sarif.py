"""SARIF 2.1.0 output: valid against the official schema, every rule described, every result
anchored to a real repository file and line, fingerprints stable across runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelguard.cli import run
from modelguard.models import FileResult, Finding, Report, Severity, Verdict
from modelguard.report.rules import RULES, finding
from modelguard.report.sarif import SECURITY_SEVERITY, SarifAnchors, to_sarif
from modelguard.spec.types import HFModelSpec, Lockfile, Manifest, ProviderModelSpec
from tests._schemas import SARIF_SCHEMA_SHA256, assert_valid_sarif, sarif_schema_sha256, sarif_validator

UNKNOWN_BYTES = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4
"""Not any format modelguard knows, holding an archive header: fails closed with MG-S002 (medium,
unscannable)."""


def _sarif(report: Report, anchors: SarifAnchors | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(to_sarif(report, anchors=anchors))
    assert_valid_sarif(doc)
    return doc


def _location(result: dict[str, Any]) -> tuple[str, int]:
    loc = result["locations"][0]["physicalLocation"]
    return loc["artifactLocation"]["uri"], loc["region"]["startLine"]


# --- the schema itself ------------------------------------------------------------------------


def test_schema_is_the_pinned_official_file() -> None:
    assert sarif_schema_sha256() == SARIF_SCHEMA_SHA256
    schema = sarif_validator().schema
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"


def test_validator_rejects_a_result_without_message() -> None:
    report = Report(command="scan", fail_on=Severity.MEDIUM, findings=(finding("MG-S004", "cannot read"),),
                    checked=1)
    doc = json.loads(to_sarif(report))
    del doc["runs"][0]["results"][0]["message"]
    with pytest.raises(AssertionError, match="message"):
        assert_valid_sarif(doc)


# --- rules ------------------------------------------------------------------------------------


def test_every_rule_is_described_with_security_severity() -> None:
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, checked=1))
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "modelguard" and driver["version"] and driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    for described in driver["rules"]:
        rule = RULES[described["id"]]
        assert described["name"].isalnum()
        assert described["shortDescription"]["text"] == rule.title
        assert described["fullDescription"]["text"] == rule.help
        assert described["help"]["text"] == rule.help
        assert described["properties"]["security-severity"] == SECURITY_SEVERITY[rule.severity]
        assert "security" in described["properties"]["tags"]
        assert described["properties"]["problem.severity"] in ("error", "warning", "recommendation")


def test_security_severity_rises_with_severity() -> None:
    scores = [float(SECURITY_SEVERITY[s]) for s in Severity]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert all(0.0 <= s <= 10.0 for s in scores)
    assert SECURITY_SEVERITY[Severity.CRITICAL] == "9.5" and SECURITY_SEVERITY[Severity.HIGH] == "8.0"


def test_rule_index_points_at_the_rule() -> None:
    report = Report(command="verify", fail_on=Severity.MEDIUM, findings=(
        finding("MG-S003", "too deep", path="a.zip"), finding("MG-P900", "expired", location="p.toml:3")),
        checked=1)
    doc = _sarif(report)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    for result in doc["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


@pytest.mark.parametrize(
    ("severity", "fail_on", "level"),
    [
        (Severity.CRITICAL, Severity.MEDIUM, "error"),
        (Severity.MEDIUM, Severity.MEDIUM, "error"),
        (Severity.MEDIUM, Severity.HIGH, "warning"),
        (Severity.HIGH, Severity.CRITICAL, "warning"),
        (Severity.LOW, Severity.MEDIUM, "warning"),
        (Severity.INFO, Severity.MEDIUM, "note"),
        (Severity.INFO, Severity.INFO, "error"),
    ],
)
def test_level_follows_fail_on(severity: Severity, fail_on: Severity, level: str) -> None:
    f = finding("MG-S002", "format not recognised", path="w.bin", severity=severity)
    doc = _sarif(Report(command="scan", fail_on=fail_on, findings=(f,), checked=1))
    assert doc["runs"][0]["results"][0]["level"] == level


# --- anchoring --------------------------------------------------------------------------------


def _repo(root: Path) -> None:
    (root / "modelguard.toml").write_text("[policy]\n" + "\n" * 10 + "[[provider-model]]\nname = \"chat\"\n")
    (root / "modelguard.lock").write_text("lock-version = 1\n" + "\n" * 5 + "[[hf-model]]\nname = \"embedder\"\n")
    (root / "policy.toml").write_text("\n\n\n[[policy.suppress]]\n")
    (root / "src").mkdir()
    (root / "src" / "modeling_x.py").write_text("import os\n\nos.system('echo pwned')\n")


def test_each_kind_of_finding_is_anchored_to_a_real_file_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    verify = finding("MG-S002", "format not recognised", path="model.safetensors", model="embedder")
    manifest = finding("MG-P900", "provider model policy", model="chat")
    policy = finding("MG-P900", "suppression expired", location="policy.toml:4", model="embedder")
    code = finding("MG-S001", "calls os.system", location="line 3")
    report = Report(
        command="verify",
        fail_on=Severity.MEDIUM,
        files=(FileResult("src/modeling_x.py", "python", (code,)),),
        findings=(verify, manifest, policy),
        checked=3,
    )
    anchors = SarifAnchors.for_lock(
        Lockfile(lock_version=1, created_by="t", manifest_sha256="0" * 64, lines=(("embedder", 7),)),
        "modelguard.lock",
        manifest=Manifest(path="modelguard.toml", provider_models=(
            ProviderModelSpec(name="chat", provider="openai", model="gpt-4o", line=12),)),
    )
    results = _sarif(report, anchors)["runs"][0]["results"]
    assert [_location(r) for r in results] == [
        ("src/modeling_x.py", 3),
        ("modelguard.lock", 7),
        ("modelguard.toml", 12),
        ("policy.toml", 4),
    ]
    for r in results:
        uri, line = _location(r)
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert len((tmp_path / uri).read_text().splitlines()) >= line  # a real file, a real line
    assert results[1]["message"]["text"] == "format not recognised (in embedder:model.safetensors)"
    # The message is the finding's own words, never led by a path (tools group results by message).
    assert results[0]["message"]["text"] == "calls os.system"


def test_anchors_from_lockfile_and_manifest() -> None:
    anchors = SarifAnchors.for_lock(
        Lockfile(lock_version=1, created_by="t", manifest_sha256="0" * 64, lines=(("a", 5), ("b", 9))),
        "ci/modelguard.lock",
        manifest=Manifest(path="ci/modelguard.toml", hf_models=(HFModelSpec(name="a", repo="o/a", line=3),)),
        base_dir="/repo",
    )
    assert anchors.lines == {"a": 5, "b": 9} and anchors.manifest_lines == {"a": 3}
    assert anchors.lockfile_path == "ci/modelguard.lock" and anchors.manifest_path == "ci/modelguard.toml"


def test_file_outside_the_repository_gets_an_absolute_uri(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "elsewhere" / "w.bin"
    repo.mkdir()
    f = finding("MG-S002", "format not recognised", path=str(outside))
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, findings=(f,), checked=1),
                 SarifAnchors(base_dir=str(repo)))
    artifact = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact["uri"] == outside.as_uri() and "uriBaseId" not in artifact


def test_suppressed_finding_carries_an_external_suppression() -> None:
    f = Finding(rule="MG-S002", severity=Severity.MEDIUM, message="format not recognised", path="w.bin",
                verdict=Verdict.UNSCANNABLE, suppressed=True, suppression_reason="vendor blob (until 2099-01-01)")
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, findings=(f,), checked=1))
    result = doc["runs"][0]["results"][0]
    assert result["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "vendor blob (until 2099-01-01)"}
    ]


def test_fingerprint_depends_on_rule_path_location_and_model() -> None:
    base = finding("MG-S002", "x", path="a.bin", location="m@offset 1", model="m")
    variants = [
        base,
        finding("MG-S001", "x", path="a.bin", location="m@offset 1", model="m"),
        finding("MG-S002", "x", path="b.bin", location="m@offset 1", model="m"),
        finding("MG-S002", "x", path="a.bin", location="m@offset 2", model="m"),
        finding("MG-S002", "x", path="a.bin", location="m@offset 1", model="n"),
        finding("MG-S002", "other message", path="a.bin", location="m@offset 1", model="m"),
    ]
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, findings=tuple(variants), checked=1))
    prints = [r["partialFingerprints"]["modelguardFinding/v1"] for r in doc["runs"][0]["results"]]
    assert len(set(prints[:5])) == 5  # each identifying part changes it
    assert prints[5] == prints[0]  # the wording of a message does not


# --- the real CLI -----------------------------------------------------------------------------


def _scan_repo(root: Path) -> None:
    (root / "models").mkdir(parents=True)
    (root / "models" / "weights.bin").write_bytes(UNKNOWN_BYTES)
    (root / "README.md").write_text("# a model card\n")


def test_cli_scan_sarif_is_valid_and_lists_what_was_not_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _scan_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["scan", "--format", "sarif", "."]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert_valid_sarif(doc)
    run_ = doc["runs"][0]
    [result] = run_["results"]
    assert result["ruleId"] == "MG-S002" and result["level"] == "error"
    assert _location(result) == ("models/weights.bin", 1)
    assert result["message"]["text"].startswith("format not recognised from its content")  # the location names the file
    [note] = run_["invocations"][0]["toolExecutionNotifications"]
    assert "models/weights.bin" in note["message"]["text"] and "MG-S002" in note["message"]["text"]
    assert {a["location"]["uri"]: a["properties"]["verdict"] for a in run_["artifacts"]} == {
        "README.md": "clean", "models/weights.bin": "unscannable"}
    assert run_["properties"]["modelguard"]["summary"]["failing"] == 1


def test_cli_sarif_to_output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _scan_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(["scan", "--format", "sarif", "--output", "out.sarif", "--fail-on", "high", "models"]) == 0
    doc = json.loads((tmp_path / "out.sarif").read_text())
    assert_valid_sarif(doc)
    assert doc["runs"][0]["results"][0]["level"] == "warning"  # below --fail-on high: listed, not failing


def test_cli_sarif_is_identical_across_runs_in_different_folders(tmp_path: Path) -> None:
    docs = []
    for name in ("first", "second"):
        root = tmp_path / name / "checkout"
        _scan_repo(root)
        proc = subprocess.run([sys.executable, "-m", "modelguard", "scan", "--format", "sarif", "."],
                              cwd=root, capture_output=True, text=True)
        assert proc.returncode == 1, proc.stderr
        assert str(tmp_path) not in proc.stdout  # no absolute temp path leaks into the log
        docs.append(json.loads(proc.stdout))
    assert docs[0] == docs[1]
    assert docs[0]["runs"][0]["results"][0]["partialFingerprints"]["modelguardFinding/v1"]


def test_cli_lint_sarif_is_anchored_to_the_source_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Needs ``modelguard lint`` (issue 5): a floating alias on line 3 of app.py."""
    monkeypatch.chdir(tmp_path)
    Path("app.py").write_text('from openai import OpenAI\n\nOpenAI().chat.completions.create(model="gpt-4o")\n')
    code = run(["lint", "--format", "sarif", "app.py"])
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    assert_valid_sarif(doc)
    alias = [r for r in doc["runs"][0]["results"] if r["ruleId"].startswith("MG-P2")]
    assert alias and all(_location(r) == ("app.py", 3) for r in alias)


def test_verify_shaped_report_is_anchored_to_lockfile_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shapes verify emits: per-file results named ``model:path`` and loose findings whose
    path is ``modelguard.lock:LINE``; with or without anchors they land on the lockfile line."""
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    in_file = finding("MG-S002", "format not recognised", model="embedder")
    loose = finding("MG-S004", "snapshot missing", model="embedder", path="modelguard.lock:7")
    report = Report(command="verify", fail_on=Severity.MEDIUM,
                    files=(FileResult("embedder:model.safetensors", "unknown", (in_file,)),),
                    findings=(loose,), checked=2)
    anchors = SarifAnchors.for_lock(
        Lockfile(lock_version=1, created_by="t", manifest_sha256="0" * 64, lines=(("embedder", 7),)),
        "modelguard.lock")
    for given in (anchors, None):
        results = _sarif(report, given)["runs"][0]["results"]
        first_line = 7 if given is not None else 1  # without anchors: the lockfile at the root
        assert [_location(r) for r in results] == [("modelguard.lock", first_line), ("modelguard.lock", 7)]
        assert "embedder:model.safetensors" in results[0]["message"]["text"]


def test_finding_with_nothing_to_anchor_falls_back_to_the_root_lockfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    report = Report(command="verify", fail_on=Severity.MEDIUM, findings=(finding("MG-S004", "x"),), checked=1)
    assert _location(_sarif(report)["runs"][0]["results"][0]) == ("modelguard.lock", 1)


def test_fingerprint_is_the_same_for_absolute_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rel = finding("MG-S002", "x", path="models/w.bin", location="models/w.bin!data.pkl")
    full = str(tmp_path / "models" / "w.bin")
    absolute = finding("MG-S002", "x", path=full, location=full + "!data.pkl")
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, findings=(rel, absolute), checked=1))
    a, b = doc["runs"][0]["results"]
    assert a["partialFingerprints"] == b["partialFingerprints"]
    assert _location(a) == _location(b) == ("models/w.bin", 1)


def test_log_names_its_category() -> None:
    # A category per command, so code scanning keeps scan's and verify's alerts apart; upload-sarif keeps
    # an id already in the log, so a category of one's own is given to modelguard (--sarif-category).
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, checked=1))
    assert doc["runs"][0]["automationDetails"] == {"id": "modelguard/scan/"}
    doc = json.loads(to_sarif(Report(command="verify", fail_on=Severity.MEDIUM, checked=1), category="models/prod/"))
    assert doc["runs"][0]["automationDetails"] == {"id": "models/prod/"}


def test_model_file_names_are_not_read_as_uri_schemes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = Report(command="verify", fail_on=Severity.MEDIUM, checked=1, files=(
        FileResult("embedder:model.bin", "unknown", (finding("MG-S002", "x", model="embedder"),)),))
    doc = _sarif(report)
    [artifact] = doc["runs"][0]["artifacts"]
    assert artifact["location"]["uri"] == "embedder%3Amodel.bin"
    [note] = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "locations" not in note  # not a repository file: named in the text only
    assert note["message"]["text"].startswith("embedder:model.bin: not scanned")


# --- what code-scanning services and SARIF readers need -----------------------------------------


def test_every_rule_links_to_its_section_of_the_rules_reference() -> None:
    from modelguard.report.links import project_url

    driver = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, checked=1))["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == project_url() == "https://github.com/modelguard/modelguard"
    for rule in driver["rules"]:
        assert rule["helpUri"] == f"{project_url()}/blob/main/docs/rules.md#{rule['id'].lower()}"


@pytest.mark.parametrize(("checked", "failing", "code", "successful"),
                         [(1, False, 0, True), (1, True, 1, True), (0, False, 3, False)])
def test_invocation_carries_the_exit_code(checked: int, failing: bool, code: int, successful: bool) -> None:
    found = (finding("MG-S002", "format not recognised", path="w.bin"),) if failing else ()
    doc = _sarif(Report(command="scan", fail_on=Severity.MEDIUM, findings=found, checked=checked))
    invocation = doc["runs"][0]["invocations"][0]
    # A run that reached a verdict succeeded, findings or not; "no verdict" (3) did not.
    assert invocation["exitCode"] == code and invocation["executionSuccessful"] is successful


def test_binary_findings_carry_the_byte_offset_when_it_is_known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    evil = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded
    Path("evil.pkl").write_bytes(evil)
    import zipfile

    with zipfile.ZipFile("evil.pt", "w") as z:
        z.writestr("archive/data.pkl", evil)
    assert run(["scan", "-f", "sarif", "evil.pkl", "evil.pt"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert_valid_sarif(doc)
    regions = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]:
               r["locations"][0]["physicalLocation"]["region"] for r in doc["runs"][0]["results"]
               if r["ruleId"] == "MG-S101"}
    assert regions["evil.pkl"] == {"startLine": 1, "byteOffset": 2}  # the GLOBAL opcode, in the file itself
    assert regions["evil.pt"] == {"startLine": 1}  # inside a compressed member: no offset into the file
    text = [r["message"]["text"] for r in doc["runs"][0]["results"] if r["ruleId"] == "MG-S101"]
    assert all(not t.startswith("evil.") for t in text) and "[archive/data.pkl@offset 2]" in text[1]


def test_sarif_tools_reads_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sarif-tools, as people post-process SARIF: every result has its location, line, rule and a
    description that is the finding's words (it groups results by them), not a path."""
    _scan_repo(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "modeling_x.py").write_text("import os\n\nos.system('echo pwned')\n")
    monkeypatch.chdir(tmp_path)
    assert run(["scan", "-f", "sarif", "-o", "scan.sarif", "models", "src"]) == 1
    sarif_tool = Path(sys.executable).with_name("sarif")
    assert sarif_tool.exists(), "sarif-tools is in the test extra: pip install -e '.[test]'"
    out = tmp_path / "issues.csv"
    proc = subprocess.run([str(sarif_tool), "csv", "--output", str(out), "scan.sarif"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import csv

    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    got = {(r["Location"], r["Line"], r["Code"]) for r in rows}
    assert ("models/weights.bin", "1", "MG-S002") in got and ("src/modeling_x.py", "3", "MG-S302") in got
    for r in rows:
        assert not r["Description"].startswith((r["Location"], "models/", "src/")), r
    summary = subprocess.run([str(sarif_tool), "summary", "scan.sarif"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert summary.returncode == 0 and "MG-S002" in summary.stdout, summary.stdout + summary.stderr
