"""The pre-commit hooks: each hook's entry runs as pre-commit runs it (entry + args + the staged
file names its ``files`` pattern selects) in a real temporary git repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._schemas import ROOT

UNKNOWN_BYTES = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4  # unknown, hides an archive header: MG-S002


def _hooks() -> dict[str, dict[str, Any]]:
    hooks: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return {h["id"]: h for h in hooks}


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None, "git is needed to run the pre-commit hook tests"
    proc = subprocess.run([git, *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    return root


def _stage(repo: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _git(repo, "add", "--", *files)


def _selected(hook: dict[str, Any], names: list[str]) -> list[str]:
    """The staged files pre-commit would pass: ``files`` matches, ``exclude`` does not."""
    files = re.compile(hook.get("files", ""))
    exclude = re.compile(hook["exclude"]) if hook.get("exclude") else None
    return [n for n in names if files.search(n) and not (exclude and exclude.search(n))]


def _run_hook(hook_id: str, repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    hook = _hooks()[hook_id]
    staged = _git(repo, "diff", "--cached", "--name-only").split()
    selected = _selected(hook, staged) if hook.get("pass_filenames", True) else []
    argv = [*shlex.split(hook["entry"]), *hook.get("args", []), *args, *selected]
    # pre-commit installs the package and puts its console scripts first on PATH; so do we
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
    return proc, selected


# --- the hook file ----------------------------------------------------------------------------


def test_hooks_are_declared() -> None:
    hooks = _hooks()
    assert set(hooks) == {"modelguard-lock-check", "modelguard-scan", "modelguard-lint"}
    assert hooks["modelguard-lock-check"]["entry"] == "modelguard lock --check"
    assert hooks["modelguard-lock-check"]["pass_filenames"] is False
    assert hooks["modelguard-scan"]["entry"] == "modelguard scan"
    assert hooks["modelguard-lint"]["entry"] == "modelguard lint"
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["name"] and hook["description"]


@pytest.mark.parametrize(
    ("name", "picked"),
    [("model.safetensors", True), ("weights/pytorch_model.bin", True), ("x/y/MODEL.PT", True),
     ("q4.gguf", True), ("clf.joblib", True), ("emb.npy", True), ("net.onnx", True), ("ckpt.tar.gz", True),
     ("app.py", False), ("README.md", False), ("config.json", False), ("model.safetensors.md", False)],
)
def test_scan_hook_picks_model_files(name: str, picked: bool) -> None:
    assert _selected(_hooks()["modelguard-scan"], [name]) == ([name] if picked else [])


@pytest.mark.parametrize(
    ("name", "picked"),
    [("app.py", True), ("web/src/client.ts", True), ("web/chat.tsx", True), ("deploy/values.yaml", True),
     ("config.json", True), ("pyproject.toml", True), (".env", True), ("svc/.env.production", True),
     ("model.bin", False), ("README.md", False), ("notes.environment", False)],
)
def test_lint_hook_picks_code_and_config(name: str, picked: bool) -> None:
    assert _selected(_hooks()["modelguard-lint"], [name]) == ([name] if picked else [])


# --- running the entries ----------------------------------------------------------------------


def test_scan_hook_rejects_an_unscannable_model_file(repo: Path) -> None:
    _stage(repo, {"models/weights.bin": UNKNOWN_BYTES, "README.md": b"# card\n", "train.py": b"print(1)\n"})
    proc, selected = _run_hook("modelguard-scan", repo)
    assert selected == ["models/weights.bin"]
    assert proc.returncode == 1, proc.stderr
    assert "MG-S002" in proc.stdout and "models/weights.bin" in proc.stdout


def test_scan_hook_decides_by_content_not_by_name(repo: Path) -> None:
    _stage(repo, {"vocab.bin": b"hello\nworld\n"})  # a model extension, but plain text: clean
    proc, selected = _run_hook("modelguard-scan", repo)
    assert selected == ["vocab.bin"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CLEAN" in proc.stdout and "(text)" in proc.stdout


def test_scan_hook_passes_args_before_file_names(repo: Path) -> None:
    _stage(repo, {"weights.bin": UNKNOWN_BYTES})
    proc, _ = _run_hook("modelguard-scan", repo, "--fail-on", "high")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # listed, below the gate
    assert "MG-S002" in proc.stdout


def test_lock_check_hook_fails_on_a_missing_lock_and_writes_nothing(repo: Path) -> None:
    """Needs ``modelguard lock`` (issue 3): exit 1 when the lock is missing or stale."""
    manifest = (
        '[policy]\nallowed-orgs = ["sentence-transformers"]\n\n'
        '[[hf-model]]\nname = "embedder"\nrepo = "sentence-transformers/all-MiniLM-L6-v2"\nrevision = "main"\n'
    )
    _stage(repo, {"modelguard.toml": manifest.encode()})
    proc, selected = _run_hook("modelguard-lock-check", repo)
    assert selected == []
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not (repo / "modelguard.lock").exists()


def test_lint_hook_flags_a_floating_model_alias(repo: Path) -> None:
    """Needs ``modelguard lint`` (issue 5): a floating alias in code is a finding (exit 1)."""
    code = b'from openai import OpenAI\n\nOpenAI().chat.completions.create(model="gpt-4o", messages=[])\n'
    _stage(repo, {"app.py": code, "weights.bin": UNKNOWN_BYTES})
    proc, selected = _run_hook("modelguard-lint", repo)
    assert selected == ["app.py"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "MG-P2" in proc.stdout and "gpt-4o" in proc.stdout


def test_lint_hook_passes_code_without_model_ids(repo: Path) -> None:
    """Needs ``modelguard lint`` (issue 5): code that names no model is clean (exit 0)."""
    _stage(repo, {"app.py": b"print('hello')\n"})
    proc, selected = _run_hook("modelguard-lint", repo)
    assert selected == ["app.py"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
