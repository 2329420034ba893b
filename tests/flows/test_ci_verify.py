"""``verify`` in CI: its JSON and SARIF reports validate, SARIF results land on the lockfile
line of the model, and the GitHub Action's entry point runs it end to end.

Needs ``modelguard verify`` and the verified cache (issue 4) and their test helpers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelguard.cli import run
from tests._schemas import assert_valid_report, assert_valid_sarif

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """(project folder, cache root): one model, admitted, in a project with its lock and manifest."""
    # imported here, not at the top: until the verify branch is merged only these tests fail
    from tests.cache_helpers import admit_local, locked_model, write_project

    model = locked_model("tiny", "acme/tiny", FILES)
    proj = tmp_path / "proj"
    proj.mkdir()
    _, manifest = write_project(proj, [model])
    cache = tmp_path / "cache"
    admit_local(cache, model, FILES, manifest.policy)
    return proj, cache


def _tamper(cache: Path) -> None:
    from tests.cache_helpers import COMMIT

    snapshot = cache / "hub" / "models--acme--tiny" / "snapshots" / COMMIT / "weights.bin"
    blob = Path(os.path.realpath(snapshot))
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))


def _entry_line(lockfile: Path, name: str) -> int:
    lines = lockfile.read_text().splitlines()
    return next(i for i, ln in enumerate(lines, 1) if ln.strip() == f'name = "{name}"') - 1


@pytest.mark.parametrize("tampered", [False, True])
def test_verify_reports_validate(project: tuple[Path, Path], tampered: bool, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    proj, cache = project
    if tampered:
        _tamper(cache)
    monkeypatch.chdir(proj)
    base = ["verify", "--cache-dir", str(cache)]
    assert run([*base, "--format", "json"]) == (1 if tampered else 0)
    doc = json.loads(capsys.readouterr().out)
    assert_valid_report(doc)
    assert run([*base, "--format", "sarif"]) == (1 if tampered else 0)
    sarif = json.loads(capsys.readouterr().out)
    assert_valid_sarif(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == len(doc["findings"])
    if tampered:
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
        assert uris == {"modelguard.lock"}
        assert any("weights.bin" in r["message"]["text"] for r in results)
        lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}
        assert lines == {_entry_line(proj / "modelguard.lock", "tiny")}  # the [[hf-model]] line of "tiny"


@pytest.mark.parametrize(("tampered", "code"), [(False, 0), (True, 1)])
def test_action_entry_point_runs_verify(project: tuple[Path, Path], tmp_path: Path, tampered: bool,
                                        code: int) -> None:
    proj, cache = project
    if tampered:
        _tamper(cache)
    out, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_WORKSPACE": str(proj), "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
           "MODELGUARD_CACHE_DIR": str(cache), "MODELGUARD_REMOTE": "false", "MODELGUARD_SARIF_FILE": "mg.sarif"}
    proc = subprocess.run([sys.executable, "-m", "modelguard.cli.action"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr
    assert_valid_sarif(json.loads((proj / "mg.sarif").read_text()))
    text = out.read_text()
    assert f"{proj / 'mg.sarif'}\n" in text and f"\n{code}\n" in text
    first = summary.read_text().splitlines()[0]
    assert first == ("## ✅ modelguard verify: verified (exit 0)" if code == 0 else
                     "## ❌ modelguard verify: rejected: findings at or above fail-on (exit 1)")
