"""The hooks as people run them: the real ``pre-commit try-repo`` against a project that follows the README.

pre-commit clones a git repository holding this checkout's package and .pre-commit-hooks.yaml, builds
its own virtualenv for the hooks and installs modelguard into it (``pip install .``), then runs each
hook on the staged files. Tests use loopback only, so the install is offline: pip may not use an
index (PIP_NO_INDEX) and installs modelguard alone (PIP_NO_DEPS, no build isolation); modelguard's
dependencies reach the hook environment through PYTHONPATH from the environment running the tests.
The hook entries, file patterns and arguments are exactly the ones in .pre-commit-hooks.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.demo import artifacts
from tests._schemas import ROOT
from tests.fakehub import FakeHub

pytestmark = pytest.mark.slow

CLEAN = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (4, 4)})}
PLAIN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."  # a dict: clean as a pickle, but pickle family
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    assert git is not None, "git is needed to run the pre-commit tests"
    proc = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _hook_repository(dest: Path) -> Path:
    """A git repository with what `pip install .` of modelguard needs, as the checkout has it now."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "modelguard", dest / "modelguard", ignore=shutil.ignore_patterns("__pycache__"))
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "modelguard hooks")
    return dest


def _try_repo(project: Path, hooks: Path, home: Path, *hook_ids: str) -> subprocess.CompletedProcess[str]:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    assert pre_commit.exists(), "pre-commit is in the test extra: pip install -e '.[test]'"
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never",
           # offline install of modelguard into pre-commit's own virtualenv (see the module docstring)
           "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    results = []
    for hook in hook_ids:
        proc = subprocess.run([str(pre_commit), "try-repo", str(hooks), hook, "--verbose"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600)
        results.append(proc)
    return subprocess.CompletedProcess(args=list(hook_ids), returncode=max(p.returncode for p in results),
                                       stdout="".join(p.stdout for p in results),
                                       stderr="".join(p.stderr for p in results))


def test_hooks_in_a_readme_project_with_pre_commit_try_repo(tmp_path: Path, fake_hub: FakeHub,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = _hook_repository(tmp_path / "modelguard")
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    monkeypatch.chdir(project)
    # The README's quick start: init, add a Hub model and a provider model (each add locks).
    fake_hub.add_repo("google/tiny", CLEAN, lfs=["model.safetensors"])
    assert run(["init"]) == 0
    assert run(["add", "google/tiny", "--endpoint", fake_hub.endpoint]) == 0
    assert run(["add", "--provider", "openai", "gpt-4o", "--name", "chat"]) == 0
    (project / "app.py").write_text('MODEL = "gpt-4o-2024-08-06"  # the snapshot the lock pins\n', encoding="utf-8")
    (project / "heads").mkdir()
    (project / "heads" / "classifier.safetensors").write_bytes(artifacts.safetensors({"h": (2, 2)}))
    _git(project, "add", "-A")
    home = tmp_path / "pre-commit-home"

    ok = _try_repo(project, hooks, home, "modelguard-lock-check", "modelguard-scan", "modelguard-lint")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name in ("modelguard lock --check", "modelguard scan", "modelguard lint"):
        assert any(line.startswith(name) and line.endswith("Passed") for line in ok.stdout.splitlines()), ok.stdout
    # lint was handed app.py and the manifest (a .toml) and understood it: `model = "gpt-4o"` is the lock's business
    lint = ok.stdout.split("modelguard lint....", 1)[1]
    assert "OK: 2 files — 2 clean" in lint
    scan = ok.stdout.split("modelguard scan....", 1)[1].split("modelguard lint....", 1)[0]
    assert "policy: modelguard.toml\nOK: 1 file — 1 clean" in scan

    # A pickle checkpoint: clean as a pickle, refused by the policy `modelguard init` wrote (require-safetensors)
    (project / "heads" / "legacy.bin").write_bytes(PLAIN_PICKLE)
    (project / "serve.py").write_text('client.chat(model="gpt-4o")\n', encoding="utf-8")
    _git(project, "add", "-A")
    bad = _try_repo(project, hooks, home, "modelguard-scan", "modelguard-lint")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "modelguard.toml:10:1: MG-P010 high: heads/legacy.bin is pickle (pickle family) and " \
           "require-safetensors = true" in bad.stdout
    assert "policy: modelguard.toml" in bad.stdout
    assert "serve.py:1:" in bad.stdout and "MG-P201 medium: gpt-4o is a floating alias" in bad.stdout

    # The manifest changed and nobody locked: the lock check fails, and writes nothing.
    with (project / "modelguard.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[hf-model]]\nname = "more"\nrepo = "google/more"\n')
    lock = (project / "modelguard.lock").read_bytes()
    _git(project, "add", "-A")
    stale = _try_repo(project, hooks, home, "modelguard-lock-check")
    assert stale.returncode == 1 and "MG-L001" in stale.stdout + stale.stderr, stale.stdout
    assert (project / "modelguard.lock").read_bytes() == lock
