"""The GitHub Action: action.yml's shape, and its script run locally with GitHub's variables set.

The action runs ``modelguard verify``; the summary/output plumbing is exercised here with real
``modelguard scan`` runs (same report formats, same exit codes), and the verify invocation is
checked argument by argument and through the real entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelguard.cli.action import ActionInputs, ActionResult, publish, render_summary, run_action, verify_args
from modelguard.errors import UsageError
from modelguard.models import Finding, Report, Severity, Verdict
from modelguard.report.sarif import to_sarif
from tests._schemas import ROOT, assert_valid_sarif

UNKNOWN_BYTES = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4  # unknown, hides an archive header: MG-S002


def _outputs(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT written with the ``name<<DELIMITER`` syntax, as the runner does."""
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        name, _, delimiter = lines[i].partition("<<")
        end = lines.index(delimiter, i + 1)
        out[name] = "\n".join(lines[i + 1:end])
        i = end + 1
    return out


def _github_env(tmp_path: Path, workspace: Path) -> dict[str, str]:
    return {
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
    }


# --- action.yml -------------------------------------------------------------------------------


def _action() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return doc


def test_action_declares_the_inputs_and_outputs() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"manifest", "lockfile", "fail-on", "sarif-file", "cache-dir", "remote"}
    assert {"sarif-file", "findings"} <= set(action["outputs"])
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.verify.outputs.{name} }}}}"


def test_action_passes_inputs_through_the_environment_only() -> None:
    steps = _action()["runs"]["steps"]
    install, verify = steps
    assert "github.action_path" in install["env"]["MODELGUARD_ACTION_PATH"]
    assert "pip install" in install["run"] and "$MODELGUARD_ACTION_PATH" in install["run"]
    assert verify["id"] == "verify" and "-m modelguard.cli.action" in verify["run"]
    for step in steps:
        assert "${{" not in step["run"], "expressions inside a shell line allow script injection"
    names = {
        "manifest": "MODELGUARD_MANIFEST", "lockfile": "MODELGUARD_LOCKFILE", "fail-on": "MODELGUARD_FAIL_ON",
        "sarif-file": "MODELGUARD_SARIF_FILE", "cache-dir": "MODELGUARD_CACHE_DIR", "remote": "MODELGUARD_REMOTE",
    }
    for given, env in names.items():
        assert verify["env"][env] == f"${{{{ inputs.{given} }}}}"


# --- inputs and the verify command line -------------------------------------------------------


def test_verify_command_line_from_every_input() -> None:
    inputs = ActionInputs.from_env({
        "MODELGUARD_MANIFEST": "ci/modelguard.toml", "MODELGUARD_LOCKFILE": "ci/modelguard.lock",
        "MODELGUARD_FAIL_ON": "high", "MODELGUARD_SARIF_FILE": "out/mg.sarif", "MODELGUARD_CACHE_DIR": "/cache",
        "MODELGUARD_REMOTE": "true",
    })
    assert inputs.sarif_file == "out/mg.sarif" and inputs.remote is True
    assert verify_args(inputs, "/ws/out/mg.sarif") == [
        "verify", "--format", "sarif", "--output", "/ws/out/mg.sarif",
        "--manifest", "ci/modelguard.toml", "--lockfile", "ci/modelguard.lock", "--cache-dir", "/cache",
        "--fail-on", "high", "--remote",
    ]


def test_empty_inputs_leave_modelguard_defaults() -> None:
    inputs = ActionInputs.from_env({"MODELGUARD_REMOTE": "false", "MODELGUARD_FAIL_ON": ""})
    assert inputs == ActionInputs()
    assert verify_args(inputs, "s.sarif") == ["verify", "--format", "sarif", "--output", "s.sarif"]


def test_remote_must_be_a_boolean() -> None:
    with pytest.raises(UsageError, match="remote"):
        ActionInputs.from_env({"MODELGUARD_REMOTE": "sometimes"})


# --- the script, run locally with GitHub's variables -------------------------------------------


def _scan(workspace: Path, tmp_path: Path, *targets: str) -> tuple[ActionResult, dict[str, str], str]:
    env = _github_env(tmp_path, workspace)
    sarif = str(workspace / "modelguard.sarif")
    result = run_action(["scan", "--format", "sarif", "--output", sarif, *targets], sarif_path=sarif,
                        workspace=str(workspace))
    publish(result, env, command="scan")
    return result, _outputs(Path(env["GITHUB_OUTPUT"])), Path(env["GITHUB_STEP_SUMMARY"]).read_text("utf-8")


def test_findings_give_outputs_summary_and_the_exit_code(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "models").mkdir(parents=True)
    (ws / "models" / "weights.bin").write_bytes(UNKNOWN_BYTES)
    (ws / "models" / "README.md").write_text("card\n")
    result, outputs, summary = _scan(ws, tmp_path, "models")
    assert result.exit_code == 1
    assert outputs == {"sarif-file": str(ws / "modelguard.sarif"), "findings": "1", "failing": "1", "exit-code": "1"}
    assert_valid_sarif(json.loads((ws / "modelguard.sarif").read_text()))
    assert summary.startswith("## ❌ modelguard scan: rejected: findings at or above fail-on (exit 1)")
    assert "2 file(s): 1 clean" in summary and "1 unscannable" in summary
    assert "| MG-S002 | medium | `models/weights.bin:1` |" in summary
    assert "**Not scanned:**" in summary and "models/weights.bin: not scanned (unknown): MG-S002" in summary


def test_clean_run_is_verified(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.txt").write_text("fine\n")
    result, outputs, summary = _scan(ws, tmp_path, "config.txt")
    assert result.exit_code == 0 and outputs["findings"] == "0" and outputs["exit-code"] == "0"
    assert summary.startswith("## ✅ modelguard scan: verified (exit 0)")
    assert "| rule |" not in summary


def test_findings_below_fail_on_pass_but_are_counted(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "weights.bin").write_bytes(UNKNOWN_BYTES)
    env = _github_env(tmp_path, ws)
    sarif = str(ws / "modelguard.sarif")
    result = run_action(["scan", "--fail-on", "high", "--format", "sarif", "--output", sarif, "."],
                        sarif_path=sarif, workspace=str(ws))
    publish(result, env)
    outputs = _outputs(Path(env["GITHUB_OUTPUT"]))
    assert (result.exit_code, outputs["findings"], outputs["failing"]) == (0, "1", "0")


def test_no_verdict_writes_no_sarif_and_says_why(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "empty").mkdir(parents=True)
    (ws / "modelguard.sarif").write_text("{}")  # left over from an earlier step: must not be reported
    result, outputs, summary = _scan(ws, tmp_path, "empty")
    assert result.exit_code == 3
    assert outputs == {"sarif-file": "", "findings": "", "failing": "", "exit-code": "3"}  # not "0"
    assert not (ws / "modelguard.sarif").exists()
    assert summary.startswith("## ❌ modelguard scan: no verdict reached")
    assert "No report was written." in summary and "nothing to scan" in summary


def test_summary_marks_suppressed_findings_and_escapes_markdown(tmp_path: Path) -> None:
    f = Finding(rule="MG-S002", severity=Severity.HIGH, message="a | b `c`", path="w.bin",
                verdict=Verdict.UNSCANNABLE, suppressed=True, suppression_reason="reviewed (until 2099-01-01)")
    sarif = tmp_path / "r.sarif"
    sarif.write_text(to_sarif(Report(command="verify", fail_on=Severity.MEDIUM, findings=(f,), checked=1),
                              anchors=None))
    summary = render_summary(ActionResult(0, str(sarif), 1, 0, 1, ""))
    assert "1 finding(s), 0 failing, 1 suppressed." in summary
    [row] = [ln for ln in summary.splitlines() if ln.startswith("| MG-S002")]
    assert "high (suppressed)" in row and "a \\| b 'c'" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # the message did not add a column


def test_entry_point_runs_verify_with_github_variables(tmp_path: Path) -> None:
    """``python -m modelguard.cli.action`` as action.yml runs it. With no lockfile, verify is a
    usage error (exit 2) and nothing is reported as verified."""
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**os.environ, **_github_env(tmp_path, ws), "MODELGUARD_LOCKFILE": "missing.lock",
           "MODELGUARD_FAIL_ON": "high", "MODELGUARD_REMOTE": "false"}
    proc = subprocess.run([sys.executable, "-m", "modelguard.cli.action"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _outputs(tmp_path / "github_output")["exit-code"] == "2"
    summary = (tmp_path / "step_summary.md").read_text("utf-8")
    assert summary.startswith("## ❌ modelguard verify: usage or configuration error (exit 2)")


def test_every_exit_code_has_a_summary_line(tmp_path: Path) -> None:
    from modelguard.errors import ExitCode

    headlines = {render_summary(ActionResult(int(c), "", None, None, 0, "")).splitlines()[0] for c in ExitCode}
    assert len(headlines) == len(ExitCode)
    assert not any("unexpected exit code" in h for h in headlines)
