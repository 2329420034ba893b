"""``modelguard demo`` end to end: a fresh process, no network, nothing left outside its folder.

The demo's own checks decide its exit code; these tests check the outcome from the outside too
(which model was admitted, which refused with which rule) and that a model which does not get its
designed verdict makes the demo fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import huggingface_hub  # noqa: F401  (imported before an in-process demo scopes HF_HOME, as in a real process)
import pytest

from modelguard.cli import run
from modelguard.demo import run_demo, scenario
from modelguard.demo.scenario import ADMITTED, REFUSED

EXPECTED = {
    # name: (expected, got, rules shown in the result table)
    "classifier": ("admitted", "admitted", {"-"}),
    "legacy-classifier": ("refused", "refused", {"MG-S101"}),
    "sentiment": ("refused", "refused", {"MG-H003"}),
    # MG-S301 (custom code present) is information since issue 17: the policy's MG-P011 refuses it
    "custom-arch": ("refused", "refused", {"MG-P011", "MG-S311"}),
    "fast-llm": ("lock-refused", "lock-refused", {"MG-P001"}),
}


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """A user: empty HOME, TMPDIR and caches, a real-looking Hub token and endpoint that must not be used."""
    for d in ("home", "tmp", "xdg"):
        (tmp_path / d).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "MODELGUARD_"))}
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmp"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               HF_TOKEN="hf_demoSecretTokenThatMustNotLeak", HF_ENDPOINT="http://192.0.2.1:9",
               HF_HUB_OFFLINE="1")  # as after `eval "$(modelguard env)"`: the demo's own Hub must still work
    return env


def result_rows(out: str) -> dict[str, tuple[str, str, set[str]]]:
    table = out.split("== result", 1)[1]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\s+(\S+)\s+\S+/\S+\s+(\S+)\s+(\S+)\s+(.*?)\s*(<--.*)?$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3), set(m.group(4).split(", ")))
    return rows


@pytest.mark.slow
def test_demo_end_to_end_in_a_fresh_process(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "modelguard", "demo"], capture_output=True, text=True, env=env,
                          cwd=tmp_path / "home", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert result_rows(out) == EXPECTED
    assert "DEMO OK" in out and "expected outcome" in out
    # The exact user-facing lines of each refusal, as the CLI prints them.
    assert re.search(r"ADMITTED\s+classifier\s+acme-research/tiny-classifier@", out)
    assert re.search(r"modelguard.lock:\d+:1: MG-S101 critical: legacy-classifier:pytorch_model.bin: imports os.system",
                     out)
    assert re.search(r"REFUSED\s+legacy-classifier\s+\S+  \(pytorch_model.bin: MG-S101 imports os.system", out)
    # A byte flipped in transit: an integrity failure with both hashes, never a "MALICIOUS (unknown)" file.
    assert re.search(r"modelguard.lock:\d+:1: MG-H003 critical: sentiment:model.safetensors: .*announced SHA-256 "
                     r"[0-9a-f]{64}, the bytes received hash to [0-9a-f]{64}", out)
    assert "(unknown)" not in out and "1 integrity failure" in out
    assert "MG-P011 high: custom-arch:modeling_tiny.py: custom code modeling_tiny.py is refused" in out
    assert "org 'unvetted-lab' of unvetted-lab/fast-llm is not in allowed-orgs" in out
    assert "the Hub received 0 request(s) about unvetted-lab/fast-llm" in out
    assert re.search(r"OK: 2 files", out)  # the final verify of what was kept
    # The user's token and endpoint were never used; nothing was left outside the demo's folder.
    assert "hf_demoSecret" not in out + proc.stderr and "192.0.2.1" not in out
    for d in ("home", "tmp", "xdg"):
        assert list((tmp_path / d).iterdir()) == [], d


@pytest.mark.slow
def test_demo_keep_leaves_a_project_that_verifies(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    env = isolated_env(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "modelguard", "demo", "--keep", str(keep)], capture_output=True,
                          text=True, env=env, cwd=tmp_path / "home", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {p.name for p in keep.iterdir()} >= {"modelguard.toml", "modelguard.lock", "cache"}
    admitted = sorted(p.name for p in (keep / "cache" / "hub").iterdir())
    assert admitted == ["models--acme-research--tiny-classifier"]
    verify = subprocess.run([sys.executable, "-m", "modelguard", "verify", "--cache-dir", "cache"], cwd=keep,
                            capture_output=True, text=True, env=env, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_demo_keep_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    assert run(["demo", "--keep", str(tmp_path)]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["something"]


def test_demo_fails_when_a_model_does_not_get_its_designed_verdict(tmp_path: Path) -> None:
    """If modelguard let the pickle through, the demo must not say OK: pretend the clean model
    is the one that should be refused and check the demo reports a bug."""
    models = tuple(replace(m, expect=REFUSED, rules=frozenset({"MG-S101"})) if m.expect == ADMITTED else m
                   for m in scenario.MODELS)
    lines: list[str] = []
    code = run_demo(lines.append, keep=tmp_path / "work", models=models)
    out = "\n".join(lines)
    assert code == 1
    assert "DEMO FAILED" in out
    assert "classifier: expected refused (MG-S101), got admitted" in out
    assert "DEMO OK" not in out
